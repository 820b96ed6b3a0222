// A decoded instruction. The decoder fills one of these once per instruction address and the
// interpreter re-executes it from the per-page cache until the page is written to.
import type { CPU } from "./cpu.ts";

export type Handler = (c: CPU, i: Insn) => void;

/** Prefix/state bits in Insn.flags. */
export const IF_OP32 = 1; // operand size is 32 bits
export const IF_AD32 = 2; // address size is 32 bits
export const IF_LOCK = 4;
export const IF_REP = 8; // F3 (REP/REPE)
export const IF_REPNE = 16; // F2
export const IF_SEGOVR = 32; // an explicit segment override was given

export class Insn {
  h: Handler = undefHandler;
  /** Length in bytes. */
  len = 0;
  /** Decode mode key (bit 0: CS.D) the instruction was decoded for. */
  mode = -1;
  flags = 0;
  /** Primary opcode (0x000-0x0ff, 0x100-0x1ff for 0F xx). */
  op = 0;
  /** ModRM fields; mod = 3 means register operand. */
  mod = 0;
  reg = 0;
  rm = 0;
  /** Effective address parts: base/index register (-1 none), scale shift, displacement. */
  base = -1;
  index = -1;
  scale = 0;
  disp = 0;
  /** Segment for the memory operand (default or override). */
  seg = 0;
  imm = 0;
  imm2 = 0;
  /**
   * The decoded instruction that followed this one the last time it fell through (see CPU.run()):
   * valid while CPU.fetchEpoch is unchanged. Only instructions kept in the decode cache link.
   */
  link: Insn | null = null;
  /**
   * The decoded instruction execution last went on to when it did not fall through (a branch
   * taken, a call, a return), in the same linear page, and its EIP (-1: none): valid while
   * CPU.fetchEpoch is what it was when the link was made (tlinkEpoch). Unlike `link`, nothing
   * clears it when code is written: the epoch, which every code write bumps, does.
   */
  tlink: Insn | null = null;
  tlinkEip = -1;
  tlinkEpoch = -1;
}

export function undefHandler(c: CPU, _i: Insn): void {
  c.undefinedOpcode();
}
