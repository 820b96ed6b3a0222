// Specialized handlers for the interpreter's hottest instruction forms (by the instruction mix of
// the bench guest's boot and kernel paths): with a 32-bit operand size, MOV, the six ALU operations
// that need no carry in (ADD OR AND SUB XOR CMP) in their Ev,Gv / Gv,Ev / Ev,Imm forms, TEST, MOVZX
// and LEA, each for a register or a memory operand; SHL/SHR/SAR of a register by a nonzero
// immediate; IMUL r32, r32; ADC/SBB of two registers; CMOVcc; Jcc by condition; and 16-bit MOV to
// and from memory. decode() swaps the generic handler it chose for one of these (specialize()); the
// generic handlers in arith-ops.ts, data-ops.ts and control-ops.ts keep every other form. Same
// semantics, same order of memory accesses and faults: what the generic path decides at each
// execution (operand size, register or memory, which operation, which condition) is decided once,
// at decode time. Measured on the CLI's bundle, the XZ decompressor on the interpreter: 26.2 -> 30.8
// guest MIPS (medians of 8 alternating pairs).
// Flags are lazy, as everywhere (cpu.ts): ADD/SUB/CMP record their operands and result, the logic
// operations their result with CF = OF = 0 (AF undefined, cleared).
import type { CPU } from "../cpu.ts";
import { type Handler, IF_AD32, IF_LOCK, IF_OP32, type Insn } from "../insn.ts";
import { FOP_ADC, FOP_ADD, FOP_SBB, FOP_SUB, R_EIP, R_SEGBASE } from "../state.ts";
import { imul2, setLazy, setLogicFlags, setResultFlags } from "./alu.ts";
import * as A from "./arith-ops.ts";
import * as C from "./control-ops.ts";
import * as D from "./data-ops.ts";

function addEvGvR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.rm];
  const b = r[i.reg];
  const res = (a + b) | 0;
  setLazy(c, FOP_ADD, a, b, res, 32);
  r[i.rm] = res;
}

function addEvGvM(c: CPU, i: Insn): void {
  const lin = c.eaW(i, 4);
  const a = c.rdw32(lin);
  const r = c.r;
  const b = r[i.reg];
  const res = (a + b) | 0;
  setLazy(c, FOP_ADD, a, b, res, 32);
  c.wr32(lin, res);
}

function addGvEvR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.reg];
  const b = r[i.rm];
  const res = (a + b) | 0;
  setLazy(c, FOP_ADD, a, b, res, 32);
  r[i.reg] = res;
}

function addGvEvM(c: CPU, i: Insn): void {
  const b = c.rd32(c.eaR(i, 4));
  const r = c.r;
  const a = r[i.reg];
  const res = (a + b) | 0;
  setLazy(c, FOP_ADD, a, b, res, 32);
  r[i.reg] = res;
}

function addEvIR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.rm];
  const b = i.imm;
  const res = (a + b) | 0;
  setLazy(c, FOP_ADD, a, b, res, 32);
  r[i.rm] = res;
}

function addEvIM(c: CPU, i: Insn): void {
  const lin = c.eaW(i, 4);
  const a = c.rdw32(lin);
  const b = i.imm;
  const res = (a + b) | 0;
  setLazy(c, FOP_ADD, a, b, res, 32);
  c.wr32(lin, res);
}

function orEvGvR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.rm];
  const b = r[i.reg];
  const res = a | b;
  setLogicFlags(c, res, 32);
  r[i.rm] = res;
}

function orEvGvM(c: CPU, i: Insn): void {
  const lin = c.eaW(i, 4);
  const a = c.rdw32(lin);
  const r = c.r;
  const b = r[i.reg];
  const res = a | b;
  setLogicFlags(c, res, 32);
  c.wr32(lin, res);
}

function orGvEvR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.reg];
  const b = r[i.rm];
  const res = a | b;
  setLogicFlags(c, res, 32);
  r[i.reg] = res;
}

function orGvEvM(c: CPU, i: Insn): void {
  const b = c.rd32(c.eaR(i, 4));
  const r = c.r;
  const a = r[i.reg];
  const res = a | b;
  setLogicFlags(c, res, 32);
  r[i.reg] = res;
}

function orEvIR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.rm];
  const b = i.imm;
  const res = a | b;
  setLogicFlags(c, res, 32);
  r[i.rm] = res;
}

function orEvIM(c: CPU, i: Insn): void {
  const lin = c.eaW(i, 4);
  const a = c.rdw32(lin);
  const b = i.imm;
  const res = a | b;
  setLogicFlags(c, res, 32);
  c.wr32(lin, res);
}

function andEvGvR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.rm];
  const b = r[i.reg];
  const res = a & b;
  setLogicFlags(c, res, 32);
  r[i.rm] = res;
}

function andEvGvM(c: CPU, i: Insn): void {
  const lin = c.eaW(i, 4);
  const a = c.rdw32(lin);
  const r = c.r;
  const b = r[i.reg];
  const res = a & b;
  setLogicFlags(c, res, 32);
  c.wr32(lin, res);
}

function andGvEvR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.reg];
  const b = r[i.rm];
  const res = a & b;
  setLogicFlags(c, res, 32);
  r[i.reg] = res;
}

function andGvEvM(c: CPU, i: Insn): void {
  const b = c.rd32(c.eaR(i, 4));
  const r = c.r;
  const a = r[i.reg];
  const res = a & b;
  setLogicFlags(c, res, 32);
  r[i.reg] = res;
}

function andEvIR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.rm];
  const b = i.imm;
  const res = a & b;
  setLogicFlags(c, res, 32);
  r[i.rm] = res;
}

function andEvIM(c: CPU, i: Insn): void {
  const lin = c.eaW(i, 4);
  const a = c.rdw32(lin);
  const b = i.imm;
  const res = a & b;
  setLogicFlags(c, res, 32);
  c.wr32(lin, res);
}

function subEvGvR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.rm];
  const b = r[i.reg];
  const res = (a - b) | 0;
  setLazy(c, FOP_SUB, a, b, res, 32);
  r[i.rm] = res;
}

function subEvGvM(c: CPU, i: Insn): void {
  const lin = c.eaW(i, 4);
  const a = c.rdw32(lin);
  const r = c.r;
  const b = r[i.reg];
  const res = (a - b) | 0;
  setLazy(c, FOP_SUB, a, b, res, 32);
  c.wr32(lin, res);
}

function subGvEvR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.reg];
  const b = r[i.rm];
  const res = (a - b) | 0;
  setLazy(c, FOP_SUB, a, b, res, 32);
  r[i.reg] = res;
}

function subGvEvM(c: CPU, i: Insn): void {
  const b = c.rd32(c.eaR(i, 4));
  const r = c.r;
  const a = r[i.reg];
  const res = (a - b) | 0;
  setLazy(c, FOP_SUB, a, b, res, 32);
  r[i.reg] = res;
}

function subEvIR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.rm];
  const b = i.imm;
  const res = (a - b) | 0;
  setLazy(c, FOP_SUB, a, b, res, 32);
  r[i.rm] = res;
}

function subEvIM(c: CPU, i: Insn): void {
  const lin = c.eaW(i, 4);
  const a = c.rdw32(lin);
  const b = i.imm;
  const res = (a - b) | 0;
  setLazy(c, FOP_SUB, a, b, res, 32);
  c.wr32(lin, res);
}

function xorEvGvR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.rm];
  const b = r[i.reg];
  const res = a ^ b;
  setLogicFlags(c, res, 32);
  r[i.rm] = res;
}

function xorEvGvM(c: CPU, i: Insn): void {
  const lin = c.eaW(i, 4);
  const a = c.rdw32(lin);
  const r = c.r;
  const b = r[i.reg];
  const res = a ^ b;
  setLogicFlags(c, res, 32);
  c.wr32(lin, res);
}

function xorGvEvR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.reg];
  const b = r[i.rm];
  const res = a ^ b;
  setLogicFlags(c, res, 32);
  r[i.reg] = res;
}

function xorGvEvM(c: CPU, i: Insn): void {
  const b = c.rd32(c.eaR(i, 4));
  const r = c.r;
  const a = r[i.reg];
  const res = a ^ b;
  setLogicFlags(c, res, 32);
  r[i.reg] = res;
}

function xorEvIR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.rm];
  const b = i.imm;
  const res = a ^ b;
  setLogicFlags(c, res, 32);
  r[i.rm] = res;
}

function xorEvIM(c: CPU, i: Insn): void {
  const lin = c.eaW(i, 4);
  const a = c.rdw32(lin);
  const b = i.imm;
  const res = a ^ b;
  setLogicFlags(c, res, 32);
  c.wr32(lin, res);
}

function cmpEvGvR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.rm];
  const b = r[i.reg];
  const res = (a - b) | 0;
  setLazy(c, FOP_SUB, a, b, res, 32);
}

function cmpEvGvM(c: CPU, i: Insn): void {
  const a = c.rd32(c.eaR(i, 4));
  const r = c.r;
  const b = r[i.reg];
  const res = (a - b) | 0;
  setLazy(c, FOP_SUB, a, b, res, 32);
}

function cmpGvEvR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.reg];
  const b = r[i.rm];
  const res = (a - b) | 0;
  setLazy(c, FOP_SUB, a, b, res, 32);
}

function cmpGvEvM(c: CPU, i: Insn): void {
  const b = c.rd32(c.eaR(i, 4));
  const r = c.r;
  const a = r[i.reg];
  const res = (a - b) | 0;
  setLazy(c, FOP_SUB, a, b, res, 32);
}

function cmpEvIR(c: CPU, i: Insn): void {
  const r = c.r;
  const a = r[i.rm];
  const b = i.imm;
  const res = (a - b) | 0;
  setLazy(c, FOP_SUB, a, b, res, 32);
}

function cmpEvIM(c: CPU, i: Insn): void {
  const a = c.rd32(c.eaR(i, 4));
  const b = i.imm;
  const res = (a - b) | 0;
  setLazy(c, FOP_SUB, a, b, res, 32);
}

function testEvGvR(c: CPU, i: Insn): void {
  const r = c.r;
  setLogicFlags(c, r[i.rm] & r[i.reg], 32);
}
function testEvGvM(c: CPU, i: Insn): void {
  const v = c.rd32(c.eaR(i, 4));
  const r = c.r;
  setLogicFlags(c, v & r[i.reg], 32);
}
function movEvGvR(c: CPU, i: Insn): void {
  const r = c.r;
  r[i.rm] = r[i.reg];
}
function movEvGvM(c: CPU, i: Insn): void {
  c.wr32(c.eaW(i, 4), c.r[i.reg]);
}
function movGvEvR(c: CPU, i: Insn): void {
  const r = c.r;
  r[i.reg] = r[i.rm];
}
function movGvEvM(c: CPU, i: Insn): void {
  c.r[i.reg] = c.rd32(c.eaR(i, 4));
}
// MOV to and from [base + disp] with a 32-bit address size (frames, structures: the commonest
// memory operand), its effective address without eaOffset()'s tests for an index and the address
// size. The same checks in the same order as eaR()/eaW() and rd32()/wr32().
function movGvEvMBase(c: CPU, i: Insn): void {
  const r = c.r;
  const off = (r[i.base] + i.disp) | 0;
  const seg = i.seg;
  if (c.segFlat[seg] === 0) c.checkSeg(seg, off, 4, false);
  r[i.reg] = c.rd32((r[R_SEGBASE + seg] + off) | 0);
}
function movEvGvMBase(c: CPU, i: Insn): void {
  const r = c.r;
  const off = (r[i.base] + i.disp) | 0;
  const seg = i.seg;
  if (c.segFlat[seg] === 0) c.checkSeg(seg, off, 4, true);
  c.wr32((r[R_SEGBASE + seg] + off) | 0, r[i.reg]);
}
function movzxbR(c: CPU, i: Insn): void {
  c.r[i.reg] = c.getReg8(i.rm);
}
function movzxbM(c: CPU, i: Insn): void {
  c.r[i.reg] = c.rd8(c.eaR(i, 1));
}
function movzxwR(c: CPU, i: Insn): void {
  const r = c.r;
  r[i.reg] = r[i.rm] & 0xffff;
}
function movzxwM(c: CPU, i: Insn): void {
  c.r[i.reg] = c.rd16(c.eaR(i, 2));
}
function lea32(c: CPU, i: Insn): void {
  c.r[i.reg] = c.eaOffset(i);
}

// ADC/SBB of two registers (the kernel's multi-precision loops): the carry in read, as alu() does.
function withCarry(c: CPU, a: number, b: number, sbb: boolean): number {
  const cf = c.getCF();
  const res = sbb ? (a - b - cf) | 0 : (a + b + cf) | 0;
  setLazy(c, cf === 0 ? (sbb ? FOP_SUB : FOP_ADD) : sbb ? FOP_SBB : FOP_ADC, a, b, res, 32);
  return res;
}
function adcEvGvR(c: CPU, i: Insn): void {
  const r = c.r;
  r[i.rm] = withCarry(c, r[i.rm], r[i.reg], false);
}
function sbbEvGvR(c: CPU, i: Insn): void {
  const r = c.r;
  r[i.rm] = withCarry(c, r[i.rm], r[i.reg], true);
}
function adcGvEvR(c: CPU, i: Insn): void {
  const r = c.r;
  r[i.reg] = withCarry(c, r[i.reg], r[i.rm], false);
}
function sbbGvEvR(c: CPU, i: Insn): void {
  const r = c.r;
  r[i.reg] = withCarry(c, r[i.reg], r[i.rm], true);
}

/** CMOVcc r32, r/m32: the source read (and its fault raised) whatever the condition. */
function cmovccR32(c: CPU, i: Insn): void {
  const r = c.r;
  const v = r[i.rm];
  if (c.cond(i.op & 0xf)) r[i.reg] = v;
}
function cmovccM32(c: CPU, i: Insn): void {
  const v = c.rd32(c.eaR(i, 4));
  if (c.cond(i.op & 0xf)) c.r[i.reg] = v;
}

/** IMUL r32, r32 (0F AF): the generic handler's operand decoding skipped. */
function imulGvEvR(c: CPU, i: Insn): void {
  const r = c.r;
  r[i.reg] = imul2(c, r[i.reg], r[i.rm], 32);
}

function joRel(c: CPU, i: Insn): void {
  if (c.getOF() !== 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}
function jnoRel(c: CPU, i: Insn): void {
  if (c.getOF() === 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}

function jbRel(c: CPU, i: Insn): void {
  if (c.getCF() !== 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}
function jnbRel(c: CPU, i: Insn): void {
  if (c.getCF() === 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}

function jzRel(c: CPU, i: Insn): void {
  if (c.getZF() !== 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}
function jnzRel(c: CPU, i: Insn): void {
  if (c.getZF() === 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}

function jbeRel(c: CPU, i: Insn): void {
  if ((c.getCF() | c.getZF()) !== 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}
function jnbeRel(c: CPU, i: Insn): void {
  if ((c.getCF() | c.getZF()) === 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}

function jsRel(c: CPU, i: Insn): void {
  if (c.getSF() !== 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}
function jnsRel(c: CPU, i: Insn): void {
  if (c.getSF() === 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}

function jpRel(c: CPU, i: Insn): void {
  if (c.getPF() !== 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}
function jnpRel(c: CPU, i: Insn): void {
  if (c.getPF() === 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}

function jlRel(c: CPU, i: Insn): void {
  if ((c.getSF() ^ c.getOF()) !== 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}
function jnlRel(c: CPU, i: Insn): void {
  if ((c.getSF() ^ c.getOF()) === 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}

function jleRel(c: CPU, i: Insn): void {
  if (((c.getSF() ^ c.getOF()) | c.getZF()) !== 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}
function jnleRel(c: CPU, i: Insn): void {
  if (((c.getSF() ^ c.getOF()) | c.getZF()) === 0) C.setEip(c, i, c.r[R_EIP] + i.imm);
}

// Shifts of a 32-bit register by an immediate count (masked to 1-31: a zero count keeps the generic
// handler, which leaves the flags alone). AF after a shift is undefined: cleared, as shift() does.
function shlR(c: CPU, i: Insn): void {
  const r = c.r;
  const n = i.imm & 31;
  const a = r[i.rm];
  const res = a << n;
  const cf = (a >>> (32 - n)) & 1;
  setResultFlags(c, res, 32, cf | ((((res >>> 31) ^ cf) & 1) << 11));
  r[i.rm] = res;
}
function shrR(c: CPU, i: Insn): void {
  const r = c.r;
  const n = i.imm & 31;
  const a = r[i.rm];
  const res = (a >>> n) | 0;
  setResultFlags(c, res, 32, ((a >>> (n - 1)) & 1) | (((a >>> 31) & 1) << 11));
  r[i.rm] = res;
}
function sarR(c: CPU, i: Insn): void {
  const r = c.r;
  const n = i.imm & 31;
  const a = r[i.rm];
  const res = a >> n;
  setResultFlags(c, res, 32, (a >> (n - 1)) & 1);
  r[i.rm] = res;
}

function movEwGwM(c: CPU, i: Insn): void {
  c.wr16(c.eaW(i, 2), c.r16[i.reg << 1]);
}
function movGwEwM(c: CPU, i: Insn): void {
  c.r16[i.reg << 1] = c.rd16(c.eaR(i, 2));
}

// By condition (the opcode's low nibble).
const JCC: Handler[] = [
  joRel,
  jnoRel,
  jbRel,
  jnbRel,
  jzRel,
  jnzRel,
  jbeRel,
  jnbeRel,
  jsRel,
  jnsRel,
  jpRel,
  jnpRel,
  jlRel,
  jnlRel,
  jleRel,
  jnleRel,
];
// By ModRM.reg: ROL ROR RCL RCR SHL SHR SAL SAR.
const SHIFT_IMM_R: (Handler | null)[] = [null, null, null, null, shlR, shrR, shlR, sarR];
// By ALU operation (the opcode's bits 5-3, or ModRM.reg in 81/83); null: no specialized form.
const ALU_EVGVR: (Handler | null)[] = [
  addEvGvR,
  orEvGvR,
  adcEvGvR,
  sbbEvGvR,
  andEvGvR,
  subEvGvR,
  xorEvGvR,
  cmpEvGvR,
];
const ALU_EVGVM: (Handler | null)[] = [addEvGvM, orEvGvM, null, null, andEvGvM, subEvGvM, xorEvGvM, cmpEvGvM];
const ALU_GVEVR: (Handler | null)[] = [
  addGvEvR,
  orGvEvR,
  adcGvEvR,
  sbbGvEvR,
  andGvEvR,
  subGvEvR,
  xorGvEvR,
  cmpGvEvR,
];
const ALU_GVEVM: (Handler | null)[] = [addGvEvM, orGvEvM, null, null, andGvEvM, subGvEvM, xorGvEvM, cmpGvEvM];
const ALU_EVIR: (Handler | null)[] = [addEvIR, orEvIR, null, null, andEvIR, subEvIR, xorEvIR, cmpEvIR];
const ALU_EVIM: (Handler | null)[] = [addEvIM, orEvIM, null, null, andEvIM, subEvIM, xorEvIM, cmpEvIM];

/**
 * Swap the generic handler decode() chose for `i` for its specialized form, when it has one; not
 * with a LOCK prefix (a locked form keeps the generic handler, which checks it).
 */
export function specialize(i: Insn): void {
  if ((i.flags & IF_LOCK) !== 0) return;
  const h = i.h;
  const reg = i.mod === 3;
  let s: Handler | null = null;
  if ((i.flags & IF_OP32) === 0) {
    if (h === D.movEvGv && !reg) i.h = movEwGwM;
    else if (h === D.movGvEv && !reg) i.h = movGwEwM;
    return;
  }
  if (h === D.movEvGv) s = reg ? movEvGvR : movEvGvM;
  else if (h === D.movGvEv) s = reg ? movGvEvR : movGvEvM;
  else if (h === A.aluEvGv) s = (reg ? ALU_EVGVR : ALU_EVGVM)[(i.op >> 3) & 7];
  else if (h === C.jccRel) s = JCC[i.op & 0xf];
  else if (h === A.grp1Ev) s = (reg ? ALU_EVIR : ALU_EVIM)[i.reg];
  else if (h === D.lea) s = lea32;
  else if (h === A.grp2EvIb) s = reg && (i.imm & 31) !== 0 ? SHIFT_IMM_R[i.reg] : null;
  else if (h === D.movzxw) s = reg ? movzxwR : movzxwM;
  else if (h === A.aluGvEv) s = (reg ? ALU_GVEVR : ALU_GVEVM)[(i.op >> 3) & 7];
  else if (h === A.testEvGv) s = reg ? testEvGvR : testEvGvM;
  else if (h === D.movzxb) s = reg ? movzxbR : movzxbM;
  else if (h === A.imulGvEv && reg) s = imulGvEvR;
  else if (h === A.cmovcc) s = reg ? cmovccR32 : cmovccM32;
  if (s !== null) i.h = s;
  if ((s === movGvEvM || s === movEvGvM) && i.base >= 0 && i.index < 0 && (i.flags & IF_AD32) !== 0)
    i.h = s === movGvEvM ? movGvEvMBase : movEvGvMBase;
}
