// Handlers for arithmetic/logic opcodes: ALU forms, groups 1-4, IMUL, double shifts, bit tests,
// bit scans, BCD, CMPXCHG/XADD, SETcc/CMOVcc.
import type { CPU } from "../cpu.ts";
import type { Insn } from "../insn.ts";
import { EAX, EBX, ECX, EDX, EFLAGS_CF, EFLAGS_ZF, R_EFLAGS } from "../state.ts";
import {
  ALU_CMP,
  aaa,
  aad,
  aam,
  alu,
  bitScan,
  daa,
  das,
  dec,
  div1,
  imul2,
  inc,
  maskOf,
  mul1,
  neg,
  setLogicFlags,
  shift,
  shiftDouble,
} from "./alu.ts";
import { getReg, opBits, readE, readLin, readLinW, setReg, writeLin } from "./operand.ts";

/** Apply ALU op to the r/m destination with `src`; CMP writes nothing. */
function aluToE(c: CPU, i: Insn, op: number, src: number, bits: number): void {
  if (i.mod === 3) {
    const v = alu(c, op, getReg(c, i.rm, bits), src, bits);
    if (op !== ALU_CMP) setReg(c, i.rm, bits, v);
  } else if (op === ALU_CMP) {
    alu(c, op, readLin(c, c.eaR(i, bits >> 3), bits), src, bits);
  } else {
    const lin = c.eaW(i, bits >> 3);
    const v = alu(c, op, readLinW(c, lin, bits), src, bits);
    writeLin(c, lin, bits, v);
  }
}

// 00-3F: op = (opcode >> 3) & 7, form = opcode & 7.
export function aluEbGb(c: CPU, i: Insn): void {
  aluToE(c, i, (i.op >> 3) & 7, c.getReg8(i.reg), 8);
}
export function aluEvGv(c: CPU, i: Insn): void {
  const bits = opBits(i);
  aluToE(c, i, (i.op >> 3) & 7, getReg(c, i.reg, bits), bits);
}
export function aluGbEb(c: CPU, i: Insn): void {
  const op = (i.op >> 3) & 7;
  const v = alu(c, op, c.getReg8(i.reg), readE(c, i, 8), 8);
  if (op !== ALU_CMP) c.setReg8(i.reg, v);
}
export function aluGvEv(c: CPU, i: Insn): void {
  const op = (i.op >> 3) & 7;
  const bits = opBits(i);
  const v = alu(c, op, getReg(c, i.reg, bits), readE(c, i, bits), bits);
  if (op !== ALU_CMP) setReg(c, i.reg, bits, v);
}
export function aluALIb(c: CPU, i: Insn): void {
  const op = (i.op >> 3) & 7;
  const v = alu(c, op, c.getReg8(0), i.imm, 8);
  if (op !== ALU_CMP) c.setReg8(0, v);
}
export function aluAXIz(c: CPU, i: Insn): void {
  const op = (i.op >> 3) & 7;
  const bits = opBits(i);
  const v = alu(c, op, getReg(c, EAX, bits), i.imm, bits);
  if (op !== ALU_CMP) setReg(c, EAX, bits, v);
}
// 80/82 (Eb, Ib), 81 (Ev, Iz), 83 (Ev, Ibs): op from ModRM.reg.
export function grp1Eb(c: CPU, i: Insn): void {
  aluToE(c, i, i.reg, i.imm, 8);
}
export function grp1Ev(c: CPU, i: Insn): void {
  aluToE(c, i, i.reg, i.imm, opBits(i));
}

export function testEbGb(c: CPU, i: Insn): void {
  setLogicFlags(c, readE(c, i, 8) & c.getReg8(i.reg), 8);
}
export function testEvGv(c: CPU, i: Insn): void {
  const bits = opBits(i);
  setLogicFlags(c, readE(c, i, bits) & getReg(c, i.reg, bits) & maskOf(bits), bits);
}
export function testALIb(c: CPU, i: Insn): void {
  setLogicFlags(c, c.getReg8(0) & i.imm, 8);
}
export function testAXIz(c: CPU, i: Insn): void {
  const bits = opBits(i);
  setLogicFlags(c, getReg(c, EAX, bits) & i.imm & maskOf(bits), bits);
}

export function incReg(c: CPU, i: Insn): void {
  const n = i.op & 7;
  const bits = opBits(i);
  setReg(c, n, bits, inc(c, getReg(c, n, bits), bits));
}
export function decReg(c: CPU, i: Insn): void {
  const n = i.op & 7;
  const bits = opBits(i);
  setReg(c, n, bits, dec(c, getReg(c, n, bits), bits));
}

/** Read-modify-write of the r/m operand with a unary function. */
function rmwE(c: CPU, i: Insn, bits: number, f: (c: CPU, v: number, bits: number) => number): void {
  if (i.mod === 3) setReg(c, i.rm, bits, f(c, getReg(c, i.rm, bits), bits));
  else {
    const lin = c.eaW(i, bits >> 3);
    const v = f(c, readLinW(c, lin, bits), bits);
    writeLin(c, lin, bits, v);
  }
}

// FE: INC/DEC Eb. FF /0 /1 handled here too.
export function incE8(c: CPU, i: Insn): void {
  rmwE(c, i, 8, inc);
}
export function decE8(c: CPU, i: Insn): void {
  rmwE(c, i, 8, dec);
}
export function incEv(c: CPU, i: Insn): void {
  rmwE(c, i, opBits(i), inc);
}
export function decEv(c: CPU, i: Insn): void {
  rmwE(c, i, opBits(i), dec);
}

// Group 2: shifts and rotates. Count: 1 (D0/D1), CL (D2/D3), imm8 (C0/C1); masked to 5 bits (286+).
function grp2(c: CPU, i: Insn, bits: number, count: number): void {
  count &= 0x1f;
  if (i.mod === 3) {
    if (count !== 0) setReg(c, i.rm, bits, shift(c, i.reg, getReg(c, i.rm, bits), count, bits));
    return;
  }
  // A zero count changes nothing but still makes the read-modify-write access checks: a memory
  // operand behind a read-only segment or page faults as a write (observed on the host CPU).
  const lin = c.eaW(i, bits >> 3);
  const v = readLinW(c, lin, bits);
  if (count !== 0) writeLin(c, lin, bits, shift(c, i.reg, v, count, bits));
}
export function grp2EbIb(c: CPU, i: Insn): void {
  grp2(c, i, 8, i.imm);
}
export function grp2EvIb(c: CPU, i: Insn): void {
  grp2(c, i, opBits(i), i.imm);
}
export function grp2Eb1(c: CPU, i: Insn): void {
  grp2(c, i, 8, 1);
}
export function grp2Ev1(c: CPU, i: Insn): void {
  grp2(c, i, opBits(i), 1);
}
export function grp2EbCL(c: CPU, i: Insn): void {
  grp2(c, i, 8, c.r[ECX]);
}
export function grp2EvCL(c: CPU, i: Insn): void {
  grp2(c, i, opBits(i), c.r[ECX]);
}

// Group 3: TEST/NOT/NEG/MUL/IMUL/DIV/IDIV.
function grp3(c: CPU, i: Insn, bits: number): void {
  switch (i.reg) {
    case 0:
    case 1:
      setLogicFlags(c, readE(c, i, bits) & i.imm & maskOf(bits), bits);
      return;
    case 2:
      rmwE(c, i, bits, not);
      return;
    case 3:
      rmwE(c, i, bits, neg);
      return;
    case 4:
      mul1(c, readE(c, i, bits), bits, false);
      return;
    case 5:
      mul1(c, readE(c, i, bits), bits, true);
      return;
    case 6:
      div1(c, readE(c, i, bits), bits, false);
      return;
    default:
      div1(c, readE(c, i, bits), bits, true);
  }
}
function not(_c: CPU, v: number, bits: number): number {
  return ~v & maskOf(bits);
}
export function grp3Eb(c: CPU, i: Insn): void {
  grp3(c, i, 8);
}
export function grp3Ev(c: CPU, i: Insn): void {
  grp3(c, i, opBits(i));
}

export function imulGvEvIz(c: CPU, i: Insn): void {
  const bits = opBits(i);
  setReg(c, i.reg, bits, imul2(c, readE(c, i, bits), i.imm, bits));
}
export function imulGvEv(c: CPU, i: Insn): void {
  const bits = opBits(i);
  setReg(c, i.reg, bits, imul2(c, getReg(c, i.reg, bits), readE(c, i, bits), bits));
}

// SHLD/SHRD
function shd(c: CPU, i: Insn, left: boolean, count: number): void {
  const bits = opBits(i);
  count &= 0x1f;
  const src = getReg(c, i.reg, bits);
  if (i.mod === 3) {
    if (count !== 0) setReg(c, i.rm, bits, shiftDouble(c, left, getReg(c, i.rm, bits), src, count, bits));
    return;
  }
  // As for group 2, a zero count still checks the operand for writing.
  const lin = c.eaW(i, bits >> 3);
  const v = readLinW(c, lin, bits);
  if (count !== 0) writeLin(c, lin, bits, shiftDouble(c, left, v, src, count, bits));
}
export function shldIb(c: CPU, i: Insn): void {
  shd(c, i, true, i.imm);
}
export function shldCL(c: CPU, i: Insn): void {
  shd(c, i, true, c.r[ECX]);
}
export function shrdIb(c: CPU, i: Insn): void {
  shd(c, i, false, i.imm);
}
export function shrdCL(c: CPU, i: Insn): void {
  shd(c, i, false, c.r[ECX]);
}

// BT/BTS/BTR/BTC. With a register bit offset and a memory operand the offset is signed and may address
// outside the operand (SDM Vol. 2A, BT).
function bitOp(c: CPU, i: Insn, op: number, offset: number, fromReg: boolean): void {
  const bits = opBits(i);
  c.materializeFlags();
  const r = c.r;
  if (i.mod === 3) {
    const bit = offset & (bits - 1);
    const v = getReg(c, i.rm, bits);
    r[R_EFLAGS] = (r[R_EFLAGS] & ~EFLAGS_CF) | ((v >>> bit) & 1);
    if (op !== 0) setReg(c, i.rm, bits, bitApply(op, v, bit));
    return;
  }
  let disp = 0;
  let bit = offset & (bits - 1);
  if (fromReg) {
    const signed = bits === 16 ? (offset << 16) >> 16 : offset | 0;
    disp = Math.floor(signed / bits) * (bits >> 3);
    bit = signed - Math.floor(signed / bits) * bits;
  }
  const off = (c.eaOffset(i) + disp) & ((i.flags & 2) !== 0 ? -1 : 0xffff);
  if (op === 0) {
    const lin = c.segRead(i.seg, off, bits >> 3);
    const v = readLin(c, lin, bits);
    r[R_EFLAGS] = (r[R_EFLAGS] & ~EFLAGS_CF) | ((v >>> bit) & 1);
  } else {
    const lin = c.segWrite(i.seg, off, bits >> 3);
    const v = readLinW(c, lin, bits);
    writeLin(c, lin, bits, bitApply(op, v, bit));
    r[R_EFLAGS] = (r[R_EFLAGS] & ~EFLAGS_CF) | ((v >>> bit) & 1);
  }
}
function bitApply(op: number, v: number, bit: number): number {
  return op === 1 ? v | (1 << bit) : op === 2 ? v & ~(1 << bit) : v ^ (1 << bit);
}
export function btEvGv(c: CPU, i: Insn): void {
  bitOp(c, i, 0, getReg(c, i.reg, opBits(i)), true);
}
export function btsEvGv(c: CPU, i: Insn): void {
  bitOp(c, i, 1, getReg(c, i.reg, opBits(i)), true);
}
export function btrEvGv(c: CPU, i: Insn): void {
  bitOp(c, i, 2, getReg(c, i.reg, opBits(i)), true);
}
export function btcEvGv(c: CPU, i: Insn): void {
  bitOp(c, i, 3, getReg(c, i.reg, opBits(i)), true);
}
/** 0F BA /4../7 */
export function grp8(c: CPU, i: Insn): void {
  bitOp(c, i, i.reg - 4, i.imm, false);
}

export function bsf(c: CPU, i: Insn): void {
  const bits = opBits(i);
  const n = bitScan(c, readE(c, i, bits), bits, false);
  if (n >= 0) setReg(c, i.reg, bits, n);
}
export function bsr(c: CPU, i: Insn): void {
  const bits = opBits(i);
  const n = bitScan(c, readE(c, i, bits), bits, true);
  if (n >= 0) setReg(c, i.reg, bits, n);
}

export function opDaa(c: CPU): void {
  daa(c);
}
export function opDas(c: CPU): void {
  das(c);
}
export function opAaa(c: CPU): void {
  aaa(c, false);
}
export function opAas(c: CPU): void {
  aaa(c, true);
}
export function opAam(c: CPU, i: Insn): void {
  aam(c, i.imm);
}
export function opAad(c: CPU, i: Insn): void {
  aad(c, i.imm);
}

// CMPXCHG: compare accumulator with dest; the destination is always written on hardware (locked RMW).
export function cmpxchg(c: CPU, i: Insn): void {
  const bits = i.op === 0x1b0 ? 8 : opBits(i);
  const acc = getReg(c, EAX, bits);
  const src = getReg(c, i.reg, bits);
  if (i.mod === 3) {
    const d = getReg(c, i.rm, bits);
    alu(c, ALU_CMP, acc, d, bits);
    if (((acc ^ d) & maskOf(bits)) === 0) setReg(c, i.rm, bits, src);
    else setReg(c, EAX, bits, d);
    return;
  }
  const lin = c.eaW(i, bits >> 3);
  const d = readLinW(c, lin, bits);
  if (((acc ^ d) & maskOf(bits)) === 0) writeLin(c, lin, bits, src);
  else {
    writeLin(c, lin, bits, d);
    setReg(c, EAX, bits, d);
  }
  alu(c, ALU_CMP, acc, d, bits);
}

export function xadd(c: CPU, i: Insn): void {
  const bits = i.op === 0x1c0 ? 8 : opBits(i);
  const src = getReg(c, i.reg, bits);
  if (i.mod === 3) {
    const d = getReg(c, i.rm, bits);
    const sum = alu(c, 0, d, src, bits);
    setReg(c, i.reg, bits, d);
    setReg(c, i.rm, bits, sum);
    return;
  }
  const lin = c.eaW(i, bits >> 3);
  const d = readLinW(c, lin, bits);
  const sum = (d + src) & maskOf(bits);
  writeLin(c, lin, bits, sum);
  alu(c, 0, d, src, bits);
  setReg(c, i.reg, bits, d);
}

/** CMPXCHG8B m64 (0F C7 /1). */
export function cmpxchg8b(c: CPU, i: Insn): void {
  const r = c.r;
  const lin = c.eaW(i, 8);
  const lo = c.rdw32(lin);
  const hi = c.rdw32((lin + 4) | 0);
  c.materializeFlags();
  if (lo === r[EAX] && hi === r[EDX]) {
    c.wr32(lin, r[EBX]);
    c.wr32((lin + 4) | 0, r[ECX]);
    r[R_EFLAGS] |= EFLAGS_ZF;
  } else {
    c.wr32(lin, lo);
    c.wr32((lin + 4) | 0, hi);
    r[EAX] = lo;
    r[EDX] = hi;
    r[R_EFLAGS] &= ~EFLAGS_ZF;
  }
}

export function setcc(c: CPU, i: Insn): void {
  const v = c.cond(i.op & 0xf) ? 1 : 0;
  if (i.mod === 3) c.setReg8(i.rm, v);
  else c.wr8(c.eaW(i, 1), v);
}

/** CMOVcc: the source is read (and may fault) even when the condition is false. */
export function cmovcc(c: CPU, i: Insn): void {
  const bits = opBits(i);
  const v = readE(c, i, bits);
  if (c.cond(i.op & 0xf)) setReg(c, i.reg, bits, v);
  else if (bits === 32) c.r[i.reg] = c.r[i.reg]; // 32-bit CMOV writes the register either way
}

export function salc(c: CPU): void {
  c.setReg8(0, c.getCF() ? 0xff : 0);
}
