// Shared helpers for device tests: a deterministic clock that fires timers at their exact
// deadlines, and an IRQ line recorder.
import type { Clock } from "../../src/machine/clock.ts";

/** Advance a deterministic clock to `target` ns, firing each timer at its own deadline. */
export function runUntil(clock: Clock, target: number): void {
  for (;;) {
    const d = clock.nextDeadline();
    if (d > target) break;
    clock.advanceTo(d);
    clock.runTimers();
  }
  clock.advanceTo(target);
  clock.runTimers();
}

/** Records IRQ line levels and counts rising edges per line. */
export class IrqRecorder {
  readonly level: boolean[] = new Array<boolean>(16).fill(false);
  readonly rising: number[] = new Array<number>(16).fill(0);
  readonly setIrq = (irq: number, level: boolean): void => {
    if (level && !this.level[irq]) this.rising[irq]++;
    this.level[irq] = level;
  };
}

export const NS_PER_MS = 1_000_000;
