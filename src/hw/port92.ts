// System control port A (0x92, "fast A20 and reset"), as on PS/2 machines and the PIIX3.
// Bit 1 gates A20 (the same gate as the keyboard controller's output port); writing bit 0 as 1
// resets the CPU. Reference: IBM PS/2 Technical Reference, "System Control Port A".

import type { IoBus } from "../machine/ioport.ts";

export const PORT92_FAST_RESET = 0x01;
export const PORT92_A20 = 0x02;

export class Port92 {
  onReset: (() => void) | null = null;
  onA20: ((enabled: boolean) => void) | null = null;
  private value: number;

  /** `a20` is the gate's state at power-on (kept in step with the i8042's output port). */
  constructor(io?: IoBus, a20 = true) {
    this.value = a20 ? PORT92_A20 : 0;
    if (io) this.registerPorts(io);
  }

  registerPorts(io: IoBus): void {
    io.register(0x92, 1, { read8: () => this.read(), write8: (_p, v) => this.write(v) });
  }

  get a20(): boolean {
    return (this.value & PORT92_A20) !== 0;
  }

  read(): number {
    return this.value;
  }

  write(v: number): void {
    const old = this.value;
    // Bit 0 is a trigger, it reads back as 0.
    this.value = v & ~PORT92_FAST_RESET & 0xff;
    if ((old ^ this.value) & PORT92_A20) this.onA20?.(this.a20);
    if (v & PORT92_FAST_RESET) this.onReset?.();
  }
}
