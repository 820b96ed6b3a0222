// x87 FPU escape opcodes (D8-DF) and WAIT. Placeholder until the x87 unit lands: the device-not-
// available rules are honoured, every x87 instruction raises #UD and CPUID reports no FPU.
import type { CPU } from "./cpu.ts";
import type { Insn } from "./insn.ts";
import { CR0_EM, CR0_MP, CR0_TS, EXC_NM, EXC_UD, R_CR0 } from "./state.ts";

export function x87Escape(c: CPU, _i: Insn): void {
  const cr0 = c.r[R_CR0];
  if ((cr0 & (CR0_EM | CR0_TS)) !== 0) c.raise(EXC_NM);
  c.raise(EXC_UD);
}

export function fwait(c: CPU, _i: Insn): void {
  const cr0 = c.r[R_CR0];
  if ((cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) c.raise(EXC_NM);
}
