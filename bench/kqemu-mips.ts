import { KqemuEngine } from "../src/accel/kqemu/engine.ts";
import {
  CR0_PE,
  CS,
  DS,
  EAX,
  EBX,
  ECX,
  EDX,
  ES,
  ESP,
  FS,
  GS,
  R_CPL,
  R_CR0,
  R_EIP,
  SS,
} from "../src/cpu/state.ts";
import { hex, makeFlatCpu as makeFlat } from "./lib/flat-cpu.ts";

const W: Record<string, string> = {
  "alu loop": "b900000010 01c8 31c2 49 75f9",
  "load/store loop": "b900000010 be00001000 8b06 83c001 8906 49 75f6",
  "call/push loop": "b900000010 50 5b e804000000 49 75f6 cc c3",
};
for (const [name, code] of Object.entries(W)) {
  for (const jit of (process.env.MODES ?? "0,1").split(",").map((x) => x === "1")) {
    const c = makeFlat();
    c.ram.set(hex(code), 0x1000);
    c.r[R_EIP] = 0x1000;
    c.r[ESP] = 0x80000;
    c.trapExceptions = true;
    const eng = new KqemuEngine(c, "user");
    const run = (n: number) => (jit ? eng.run(n) : c.run(n));
    run(2_000_000);
    const N = 50_000_000;
    const t0 = performance.now();
    run(N);
    const ms = performance.now() - t0;
    console.log(
      `${name.padEnd(18)} ${jit ? "jit " : "intp"} ${(c.lastRun / ms / 1000).toFixed(1).padStart(7)} MIPS eax=${(c.r[EAX] >>> 0).toString(16)} ebx=${c.r[EBX]} ecx=${c.r[ECX]} edx=${(c.r[EDX] >>> 0).toString(16)} fl=${c.getEflags().toString(16)}`,
    );
    if (jit) console.log(eng.infoLines().join("\n"));
  }
}
