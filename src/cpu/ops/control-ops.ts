// Handlers for control transfer: JMP/CALL/RET (near and far), Jcc, LOOP/JCXZ, INT/INTO/INT3/IRET,
// ENTER/LEAVE, BOUND, HLT.
import { type CPU, EV_HALT, EXIT_HLT } from "../cpu.ts";
import { IF_AD32, IF_OP32, type Insn } from "../insn.ts";
import {
  CS,
  EBP,
  ECX,
  EFLAGS_IOPL,
  EFLAGS_OF,
  ESP,
  EXC_BR,
  EXC_GP,
  R_CPL,
  R_EFLAGS,
  R_EIP,
  R_SEL,
  SS,
} from "../state.ts";
import { deliverInterrupt, farCall, farJump, farReturn, iret } from "../system.ts";
import { opBits, readE, readLin } from "./operand.ts";

export function setEip(c: CPU, i: Insn, target: number): void {
  // Near transfers with 16-bit operand size truncate EIP to 16 bits; CS limit is checked.
  const eip = i.flags & IF_OP32 ? target | 0 : target & 0xffff;
  if (eip >>> 0 > c.r[32 + CS] >>> 0) c.raise(EXC_GP, 0);
  c.r[R_EIP] = eip;
}

export function jmpRel(c: CPU, i: Insn): void {
  setEip(c, i, c.r[R_EIP] + i.imm);
}
export function jccRel(c: CPU, i: Insn): void {
  if (c.cond(i.op & 0xf)) setEip(c, i, c.r[R_EIP] + i.imm);
}
export function callRel(c: CPU, i: Insn): void {
  const ret = c.r[R_EIP];
  const target = ret + i.imm;
  if (i.flags & IF_OP32) {
    if (target >>> 0 > c.r[32 + CS] >>> 0) c.raise(EXC_GP, 0);
    c.push32(ret);
  } else {
    if ((target & 0xffff) > c.r[32 + CS] >>> 0) c.raise(EXC_GP, 0);
    c.push16(ret);
  }
  setEip(c, i, target);
}
export function retNear(c: CPU, i: Insn): void {
  const sp = c.sp;
  const bits = opBits(i);
  const target = readLin(c, c.segRead(SS, sp, bits >> 3), bits);
  setEip(c, i, target);
  c.setSp(sp + (bits >> 3) + i.imm);
}
export function jmpEv(c: CPU, i: Insn): void {
  setEip(c, i, readE(c, i, opBits(i)));
}
export function callEv(c: CPU, i: Insn): void {
  const bits = opBits(i);
  const target = readE(c, i, bits);
  const ret = c.r[R_EIP];
  if ((bits === 32 ? target >>> 0 : target & 0xffff) > c.r[32 + CS] >>> 0) c.raise(EXC_GP, 0);
  if (bits === 32) c.push32(ret);
  else c.push16(ret);
  setEip(c, i, target);
}

export function jmpFarAp(c: CPU, i: Insn): void {
  farJump(c, i.imm2, i.imm, (i.flags & IF_OP32) !== 0);
}
export function callFarAp(c: CPU, i: Insn): void {
  farCall(c, i.imm2, i.imm, (i.flags & IF_OP32) !== 0, c.r[R_EIP]);
}
function farPtr(c: CPU, i: Insn): { off: number; sel: number } {
  const bits = opBits(i);
  const lin = c.eaR(i, (bits >> 3) + 2);
  return { off: readLin(c, lin, bits), sel: c.rd16((lin + (bits >> 3)) | 0) };
}
export function jmpFarEp(c: CPU, i: Insn): void {
  const p = farPtr(c, i);
  farJump(c, p.sel, p.off, (i.flags & IF_OP32) !== 0);
}
export function callFarEp(c: CPU, i: Insn): void {
  const p = farPtr(c, i);
  farCall(c, p.sel, p.off, (i.flags & IF_OP32) !== 0, c.r[R_EIP]);
}
export function retFar(c: CPU, i: Insn): void {
  farReturn(c, (i.flags & IF_OP32) !== 0, i.op === 0xca ? i.imm : 0);
}
export function iretOp(c: CPU, i: Insn): void {
  iret(c, (i.flags & IF_OP32) !== 0);
}

// LOOP/LOOPE/LOOPNE/JCXZ use the address size for the counter.
function counter(c: CPU, i: Insn): number {
  return i.flags & IF_AD32 ? c.r[ECX] : c.r[ECX] & 0xffff;
}
function decCounter(c: CPU, i: Insn): number {
  if (i.flags & IF_AD32) return --c.r[ECX];
  return --c.r16[ECX << 1];
}
export function loop(c: CPU, i: Insn): void {
  if (decCounter(c, i) !== 0) setEip(c, i, c.r[R_EIP] + i.imm);
}
export function loope(c: CPU, i: Insn): void {
  if (decCounter(c, i) !== 0 && c.getZF()) setEip(c, i, c.r[R_EIP] + i.imm);
}
export function loopne(c: CPU, i: Insn): void {
  if (decCounter(c, i) !== 0 && !c.getZF()) setEip(c, i, c.r[R_EIP] + i.imm);
}
export function jcxz(c: CPU, i: Insn): void {
  if (counter(c, i) === 0) setEip(c, i, c.r[R_EIP] + i.imm);
}

// Software interrupts: in v8086 mode INT n is IOPL-sensitive (SDM Vol. 3A, 20.3.3 without VME).
export function intIb(c: CPU, i: Insn): void {
  if (c.v86 && (c.r[R_EFLAGS] & EFLAGS_IOPL) !== EFLAGS_IOPL) c.raise(EXC_GP, 0);
  c.onInterrupt?.(i.imm, -1, false);
  deliverInterrupt(c, i.imm, true, -1, c.r[R_EIP]);
}
export function int3(c: CPU): void {
  c.onInterrupt?.(3, -1, false);
  deliverInterrupt(c, 3, true, -1, c.r[R_EIP]);
}
export function into(c: CPU): void {
  if (c.getOF()) {
    c.onInterrupt?.(4, -1, false);
    deliverInterrupt(c, 4, true, -1, c.r[R_EIP]);
  }
}
/** INT1 / ICEBP (F1): a #DB delivered like a hardware exception (no DPL check). */
export function int1(c: CPU): void {
  deliverInterrupt(c, 1, false, -1, c.r[R_EIP]);
}

export function hlt(c: CPU): void {
  if (c.protectedMode && c.r[R_CPL] !== 0) c.raise(EXC_GP, 0);
  c.halted = true;
  c.events |= EV_HALT; // leave the instruction loop; run() reports EXIT_HLT unless woken
  void EXIT_HLT;
}

/** ENTER imm16, imm8 (SDM Vol. 2A, ENTER). */
export function enter(c: CPU, i: Insn): void {
  const r = c.r;
  const bits = opBits(i);
  const size = bits >> 3;
  const level = i.imm2 & 31;
  const ssMask = c.ss32 ? -1 : 0xffff;
  const oldEsp = r[ESP];
  try {
    if (bits === 32) c.push32(r[EBP]);
    else c.push16(r[EBP]);
    const frame = c.sp;
    let bp = c.ss32 ? r[EBP] : r[EBP] & 0xffff;
    for (let k = 1; k < level; k++) {
      bp = (bp - size) & ssMask;
      const v = readLin(c, c.segRead(SS, bp, size), bits);
      if (bits === 32) c.push32(v);
      else c.push16(v);
    }
    if (level > 0) {
      if (bits === 32) c.push32(frame);
      else c.push16(frame);
    }
    const newSp = (c.sp - i.imm) & ssMask;
    // The final stack pointer is probed for a write of the operand size before anything is
    // committed (nothing is written there): a #SS or #PF at the new top of stack faults ENTER
    // (SDM Vol. 2A, ENTER exceptions; observed on the host CPU, CR2 = the new ESP).
    const top = c.segWrite(SS, newSp, size);
    if (bits === 32) c.rdw32(top);
    else c.rdw16(top);
    if (bits === 32) r[EBP] = frame;
    else c.r16[EBP << 1] = frame;
    c.setSp(newSp);
  } catch (e) {
    r[ESP] = oldEsp;
    throw e;
  }
}

export function leave(c: CPU, i: Insn): void {
  const r = c.r;
  const bp = c.ss32 ? r[EBP] : r[EBP] & 0xffff;
  const bits = opBits(i);
  const v = readLin(c, c.segRead(SS, bp, bits >> 3), bits);
  c.setSp(bp + (bits >> 3));
  if (bits === 32) r[EBP] = v;
  else c.r16[EBP << 1] = v;
}

export function bound(c: CPU, i: Insn): void {
  const bits = opBits(i);
  const lin = c.eaR(i, (bits >> 3) * 2);
  let lo = readLin(c, lin, bits);
  let hi = readLin(c, (lin + (bits >> 3)) | 0, bits);
  let v = bits === 32 ? c.r[i.reg] : c.r16[i.reg << 1];
  if (bits === 16) {
    lo = (lo << 16) >> 16;
    hi = (hi << 16) >> 16;
    v = (v << 16) >> 16;
  }
  if (v < lo || v > hi) c.raise(EXC_BR);
}

export { EFLAGS_OF, R_SEL };
