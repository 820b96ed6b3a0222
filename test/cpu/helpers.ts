// Test helpers: a CPU with RAM only, and quick ways to enter flat protected mode.
import { nullBus } from "../../src/cpu/bus.ts";
import { CPU } from "../../src/cpu/cpu.ts";
import { CR0_PE, CS, DS, ES, FS, GS, R_CPL, R_CR0, R_EIP, SS } from "../../src/cpu/state.ts";
import type { InterruptController } from "../../src/machine/irq.ts";
import { GuestMemory } from "../../src/machine/memory.ts";

export function makeCpu(ramMiB = 4): CPU {
  const mem = new GuestMemory(ramMiB << 20);
  return new CPU(mem, nullBus(ramMiB << 20));
}

/** Put the CPU in flat 32-bit protected mode at `cpl` (descriptor caches set directly, no GDT). */
export function flat32(c: CPU, cpl = 0): void {
  c.r[R_CR0] |= CR0_PE;
  const dpl = cpl << 5;
  c.setSegCache(CS, 0x08 | cpl, 0, -1, 0xc09b | dpl);
  for (const s of [DS, ES, SS, FS, GS]) c.setSegCache(s, 0x10 | cpl, 0, -1, 0xc093 | dpl);
  c.r[R_CPL] = cpl;
  c.updateCpl();
  c.modeChanged();
  c.flushTlb(true);
}

/** Real mode with all segments 0 and code at `addr`. */
export function real16(c: CPU, addr: number): void {
  c.reset();
  for (const s of [CS, DS, ES, SS, FS, GS]) c.loadSegReal(s, 0);
  c.r[R_EIP] = addr;
}

export function load(c: CPU, addr: number, bytes: number[] | Uint8Array): void {
  c.ram.set(bytes, addr);
  c.notifyRamWrite(addr, bytes.length);
}

export function hex(s: string): number[] {
  return s
    .replace(/\s+/g, "")
    .match(/../g)!
    .map((b) => Number.parseInt(b, 16));
}

/** An 8259-like controller reduced to a queue of vectors (tests of external interrupts). */
export class FakeIntc implements InterruptController {
  readonly pending: number[] = [];
  acks = 0;
  hasInterrupt(): boolean {
    return this.pending.length > 0;
  }
  acknowledge(): number {
    this.acks++;
    return this.pending.shift() ?? 0x27;
  }
}
