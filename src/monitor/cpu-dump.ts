// CPU state dump in QEMU's `info registers` / `-d cpu` layout (x86_cpu_dump_state).
import type { CPU } from "../cpu/cpu.ts";
import {
  EFLAGS_AF,
  EFLAGS_CF,
  EFLAGS_DF,
  EFLAGS_OF,
  EFLAGS_PF,
  EFLAGS_SF,
  EFLAGS_ZF,
  R_A20_MASK,
  R_CPL,
  R_CR0,
  R_CR2,
  R_CR3,
  R_CR4,
  R_EIP,
  R_GDTR_BASE,
  R_GDTR_LIMIT,
  R_IDTR_BASE,
  R_IDTR_LIMIT,
  R_INHIBIT_IRQ,
  R_SEGATTR,
  R_SEGBASE,
  R_SEGLIMIT,
  R_SEL,
} from "../cpu/state.ts";

const h8 = (v: number) => (v >>> 0).toString(16).padStart(8, "0");
const h4 = (v: number) => (v & 0xffff).toString(16).padStart(4, "0");

export function dumpCpu(c: CPU): string {
  const r = c.r;
  const fl = c.getEflags();
  const flag = (bit: number, ch: string) => ((fl & bit) !== 0 ? ch : "-");
  const flags =
    flag(EFLAGS_DF, "D") +
    flag(EFLAGS_OF, "O") +
    flag(EFLAGS_SF, "S") +
    flag(EFLAGS_ZF, "Z") +
    flag(EFLAGS_AF, "A") +
    flag(EFLAGS_PF, "P") +
    flag(EFLAGS_CF, "C");
  const lines: string[] = [];
  lines.push(`EAX=${h8(r[0])} EBX=${h8(r[3])} ECX=${h8(r[1])} EDX=${h8(r[2])}`);
  lines.push(`ESI=${h8(r[6])} EDI=${h8(r[7])} EBP=${h8(r[5])} ESP=${h8(r[4])}`);
  lines.push(
    `EIP=${h8(r[R_EIP])} EFL=${h8(fl)} [${flags}] CPL=${r[R_CPL]} II=${r[R_INHIBIT_IRQ] ? 1 : 0} A20=${r[R_A20_MASK] === -1 ? 1 : 0} SMM=0 HLT=${c.halted ? 1 : 0}`,
  );
  const names = ["ES ", "CS ", "SS ", "DS ", "FS ", "GS ", "LDT", "TR "];
  for (let s = 0; s < 8; s++) {
    lines.push(
      `${names[s]}=${h4(r[R_SEL + s])} ${h8(r[R_SEGBASE + s])} ${h8(r[R_SEGLIMIT + s])} ${h8((r[R_SEGATTR + s] & 0xf0ff) << 8)}`,
    );
  }
  lines.push(`GDT=     ${h8(r[R_GDTR_BASE])} ${h8(r[R_GDTR_LIMIT])}`);
  lines.push(`IDT=     ${h8(r[R_IDTR_BASE])} ${h8(r[R_IDTR_LIMIT])}`);
  lines.push(`CR0=${h8(r[R_CR0])} CR2=${h8(r[R_CR2])} CR3=${h8(r[R_CR3])} CR4=${h8(r[R_CR4])}`);
  lines.push(`DR0=${h8(c.dr[0])} DR1=${h8(c.dr[1])} DR2=${h8(c.dr[2])} DR3=${h8(c.dr[3])}`);
  lines.push(`DR6=${h8(c.dr[6])} DR7=${h8(c.dr[7])}`);
  lines.push("EFER=0000000000000000");
  return `${lines.join("\n")}\n`;
}
