// Operand access shared by the instruction handlers: ModRM register/memory operands by width.
import type { CPU } from "../cpu.ts";
import { IF_OP32, type Insn } from "../insn.ts";

export function opBits(i: Insn): number {
  return (i.flags & IF_OP32) !== 0 ? 32 : 16;
}

export function getReg(c: CPU, n: number, bits: number): number {
  return bits === 32 ? c.r[n] : bits === 16 ? c.r16[n << 1] : c.getReg8(n);
}

export function setReg(c: CPU, n: number, bits: number, v: number): void {
  if (bits === 32) c.r[n] = v;
  else if (bits === 16) c.r16[n << 1] = v;
  else c.setReg8(n, v);
}

export function readLin(c: CPU, lin: number, bits: number): number {
  return bits === 32 ? c.rd32(lin) : bits === 16 ? c.rd16(lin) : c.rd8(lin);
}

export function readLinW(c: CPU, lin: number, bits: number): number {
  return bits === 32 ? c.rdw32(lin) : bits === 16 ? c.rdw16(lin) : c.rdw8(lin);
}

export function writeLin(c: CPU, lin: number, bits: number, v: number): void {
  if (bits === 32) c.wr32(lin, v);
  else if (bits === 16) c.wr16(lin, v);
  else c.wr8(lin, v);
}

/** Read the r/m operand. */
export function readE(c: CPU, i: Insn, bits: number): number {
  if (i.mod === 3) return getReg(c, i.rm, bits);
  return readLin(c, c.eaR(i, bits >> 3), bits);
}

/** Write the r/m operand. */
export function writeE(c: CPU, i: Insn, bits: number, v: number): void {
  if (i.mod === 3) setReg(c, i.rm, bits, v);
  else writeLin(c, c.eaW(i, bits >> 3), bits, v);
}
