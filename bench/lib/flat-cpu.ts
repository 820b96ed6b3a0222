// A bare CPU for the dev benchmarks (bench/interp-mips.ts, bench/kqemu-mips.ts, bench/user-run.ts):
// protected mode, flat 4 GiB CPL-3 segments, no paging, a bus with nothing on it.
import { nullBus } from "../../src/cpu/bus.ts";
import { CPU } from "../../src/cpu/cpu.ts";
import { CR0_PE, CS, DS, ES, FS, GS, R_CPL, R_CR0, SS } from "../../src/cpu/state.ts";
import { GuestMemory } from "../../src/machine/memory.ts";

export function makeFlatCpu(ramBytes = 16 << 20): CPU {
  const c = new CPU(new GuestMemory(ramBytes), nullBus(ramBytes));
  c.r[R_CR0] |= CR0_PE;
  c.setSegCache(CS, 0x1b, 0, -1, 0xc0fb);
  for (const s of [DS, ES, SS, FS, GS]) c.setSegCache(s, 0x23, 0, -1, 0xc0f3);
  c.r[R_CPL] = 3;
  c.updateCpl();
  c.modeChanged();
  return c;
}

/** Bytes from hex text ("b8 01000000"; spaces ignored). */
export function hex(s: string): number[] {
  return (s.replace(/\s+/g, "").match(/../g) ?? []).map((b) => Number.parseInt(b, 16));
}
