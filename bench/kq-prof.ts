import { KqemuEngine } from "../src/accel/kqemu/engine.ts";
import { nullBus } from "../src/cpu/bus.ts";
import { CPU } from "../src/cpu/cpu.ts";
import { CR0_PE, CS, DS, ES, ESP, FS, GS, R_CPL, R_CR0, R_EIP, SS } from "../src/cpu/state.ts";
import { GuestMemory } from "../src/machine/memory.ts";
const hex = (s: string) =>
  s
    .replace(/\s+/g, "")
    .match(/../g)!
    .map((b) => Number.parseInt(b, 16));
const mem = new GuestMemory(16 << 20);
const c = new CPU(mem, nullBus(16 << 20));
c.r[R_CR0] |= CR0_PE;
c.setSegCache(CS, 0x1b, 0, -1, 0xc0fb);
for (const s of [DS, ES, SS, FS, GS]) c.setSegCache(s, 0x23, 0, -1, 0xc0f3);
c.r[R_CPL] = 3;
c.updateCpl();
c.modeChanged();
c.ram.set(hex("b900000010 50 5b e804000000 49 75f6 cc c3"), 0x1000);
c.r[R_EIP] = 0x1000;
c.r[ESP] = 0x80000;
c.trapExceptions = true;
const e = new KqemuEngine(c, "user");
const t0 = performance.now();
e.run(30_000_000);
console.log((c.lastRun / (performance.now() - t0) / 1000).toFixed(1), "MIPS");
console.log(e.infoLines().join("\n"));
