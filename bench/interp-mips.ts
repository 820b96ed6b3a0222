// Interpreter speed on CPU-bound guest loops (flat 32-bit, CPL 3): guest MIPS per workload.
import { ESP, R_EIP } from "../src/cpu/state.ts";
import { hex, makeFlatCpu as makeFlat } from "./lib/flat-cpu.ts";

const WORKLOADS: Record<string, string> = {
  // ecx = big; L: add eax,ecx; xor edx,eax; dec ecx; jnz L
  "alu loop": "b900000001 01c8 31c2 49 75f9",
  // esi=0x100000; L: mov eax,[esi]; add eax,1; mov [esi],eax; dec ecx; jnz L
  "load/store loop": "b900000001 be00001000 8b06 83c001 8906 49 75f6",
  // L: push eax; pop ebx; call f; dec ecx; jnz L; f: ret
  "call/push loop": "b900000001 50 5b e804000000 49 75f6 cc c3",
};

for (const [name, code] of Object.entries(WORKLOADS)) {
  const c = makeFlat();
  c.ram.set(hex(code), 0x1000);
  c.r[R_EIP] = 0x1000;
  c.r[ESP] = 0x80000;
  c.trapExceptions = true;
  // Warm up, then measure.
  c.run(2_000_000);
  const N = 30_000_000;
  const t0 = performance.now();
  c.run(N);
  const ms = performance.now() - t0;
  console.log(
    `${name.padEnd(18)} ${(c.lastRun / ms / 1000).toFixed(1).padStart(7)} MIPS  (${c.lastRun} insns in ${ms.toFixed(0)} ms)`,
  );
}
