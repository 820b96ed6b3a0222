// Handlers for data movement: MOV forms, XCHG, LEA, stack, segment registers, sign/zero
// extension, flag transfers, string instructions, port I/O, XLAT, BSWAP.
import { type CPU, EV_INHIBIT } from "../cpu.ts";
import { IF_AD32, IF_OP32, IF_REP, IF_REPNE, type Insn } from "../insn.ts";
import {
  CS,
  EAX,
  EBP,
  EBX,
  ECX,
  EDI,
  EDX,
  EFLAGS_AC,
  EFLAGS_ARITH,
  EFLAGS_CF,
  EFLAGS_DF,
  EFLAGS_ID,
  EFLAGS_IF,
  EFLAGS_IOPL,
  EFLAGS_NT,
  EFLAGS_TF,
  ES,
  ESI,
  ESP,
  EXC_GP,
  EXC_UD,
  FS,
  GS,
  R_CPL,
  R_EFLAGS,
  R_INHIBIT_IRQ,
  R_SEL,
  SS,
  TLB_IO,
} from "../state.ts";
import { checkIoPermission, isIoplOk, loadSeg } from "../system.ts";
import { ALU_CMP, alu } from "./alu.ts";
import { getReg, opBits, readE, readLin, readLinW, setReg, writeE, writeLin } from "./operand.ts";

export function movEbGb(c: CPU, i: Insn): void {
  if (i.mod === 3) c.setReg8(i.rm, c.getReg8(i.reg));
  else c.wr8(c.eaW(i, 1), c.getReg8(i.reg));
}
export function movEvGv(c: CPU, i: Insn): void {
  if (i.flags & IF_OP32) {
    if (i.mod === 3) c.r[i.rm] = c.r[i.reg];
    else c.wr32(c.eaW(i, 4), c.r[i.reg]);
  } else if (i.mod === 3) c.r16[i.rm << 1] = c.r16[i.reg << 1];
  else c.wr16(c.eaW(i, 2), c.r16[i.reg << 1]);
}
export function movGbEb(c: CPU, i: Insn): void {
  c.setReg8(i.reg, readE(c, i, 8));
}
export function movGvEv(c: CPU, i: Insn): void {
  if (i.flags & IF_OP32) c.r[i.reg] = i.mod === 3 ? c.r[i.rm] : c.rd32(c.eaR(i, 4));
  else c.r16[i.reg << 1] = i.mod === 3 ? c.r16[i.rm << 1] : c.rd16(c.eaR(i, 2));
}
export function movEbIb(c: CPU, i: Insn): void {
  writeE(c, i, 8, i.imm);
}
export function movEvIz(c: CPU, i: Insn): void {
  writeE(c, i, opBits(i), i.imm);
}
export function movRegIb(c: CPU, i: Insn): void {
  c.setReg8(i.op & 7, i.imm);
}
export function movRegIz(c: CPU, i: Insn): void {
  setReg(c, i.op & 7, opBits(i), i.imm);
}
// A0-A3: moffs forms (the offset is in i.disp; seg default DS).
export function movALOb(c: CPU, i: Insn): void {
  c.setReg8(0, c.rd8(c.eaR(i, 1)));
}
export function movAXOv(c: CPU, i: Insn): void {
  const bits = opBits(i);
  setReg(c, EAX, bits, readLin(c, c.eaR(i, bits >> 3), bits));
}
export function movObAL(c: CPU, i: Insn): void {
  c.wr8(c.eaW(i, 1), c.getReg8(0));
}
export function movOvAX(c: CPU, i: Insn): void {
  const bits = opBits(i);
  writeLin(c, c.eaW(i, bits >> 3), bits, getReg(c, EAX, bits));
}

export function movEwSw(c: CPU, i: Insn): void {
  if (i.reg > 5) c.raise(EXC_UD);
  const sel = c.r[R_SEL + i.reg];
  // To a register with 32-bit operand size the upper half is zeroed on P6 parts.
  if (i.mod === 3) setReg(c, i.rm, opBits(i), sel);
  else c.wr16(c.eaW(i, 2), sel);
}
export function movSwEw(c: CPU, i: Insn): void {
  if (i.reg === CS || i.reg > 5) c.raise(EXC_UD);
  loadSeg(c, i.reg, readE(c, i, 16));
  if (i.reg === SS) inhibitIrq(c);
}

/** The interrupt shadow after MOV SS / POP SS / STI (SDM Vol. 3A, 6.8.3). */
export function inhibitIrq(c: CPU): void {
  c.r[R_INHIBIT_IRQ] = 1;
  c.events |= EV_INHIBIT;
}

export function lea(c: CPU, i: Insn): void {
  setReg(c, i.reg, opBits(i), c.eaOffset(i));
}

export function xchgEbGb(c: CPU, i: Insn): void {
  const g = c.getReg8(i.reg);
  if (i.mod === 3) {
    c.setReg8(i.reg, c.getReg8(i.rm));
    c.setReg8(i.rm, g);
  } else {
    const lin = c.eaW(i, 1);
    const v = c.rdw8(lin);
    c.wr8(lin, g);
    c.setReg8(i.reg, v);
  }
}
export function xchgEvGv(c: CPU, i: Insn): void {
  const bits = opBits(i);
  const g = getReg(c, i.reg, bits);
  if (i.mod === 3) {
    setReg(c, i.reg, bits, getReg(c, i.rm, bits));
    setReg(c, i.rm, bits, g);
  } else {
    const lin = c.eaW(i, bits >> 3);
    const v = readLinW(c, lin, bits);
    writeLin(c, lin, bits, g);
    setReg(c, i.reg, bits, v);
  }
}
export function xchgAxReg(c: CPU, i: Insn): void {
  const bits = opBits(i);
  const n = i.op & 7;
  const t = getReg(c, n, bits);
  setReg(c, n, bits, getReg(c, EAX, bits));
  setReg(c, EAX, bits, t);
}
export function nop(_c: CPU, _i: Insn): void {}

export function movzxb(c: CPU, i: Insn): void {
  setReg(c, i.reg, opBits(i), readE(c, i, 8));
}
export function movzxw(c: CPU, i: Insn): void {
  setReg(c, i.reg, opBits(i), readE(c, i, 16));
}
export function movsxb(c: CPU, i: Insn): void {
  setReg(c, i.reg, opBits(i), (readE(c, i, 8) << 24) >> 24);
}
export function movsxw(c: CPU, i: Insn): void {
  setReg(c, i.reg, opBits(i), (readE(c, i, 16) << 16) >> 16);
}

export function cbw(c: CPU, i: Insn): void {
  if (i.flags & IF_OP32) c.r[EAX] = (c.r[EAX] << 16) >> 16;
  else c.r16[0] = (c.r[EAX] << 24) >> 24;
}
export function cwd(c: CPU, i: Insn): void {
  if (i.flags & IF_OP32) c.r[EDX] = c.r[EAX] >> 31;
  else c.r16[EDX << 1] = (c.r[EAX] << 16) >> 31;
}

// ---------------------------------------------------------------- stack

export function pushReg(c: CPU, i: Insn): void {
  if (i.flags & IF_OP32) c.push32(c.r[i.op & 7]);
  else c.push16(c.r16[(i.op & 7) << 1]);
}
export function popReg(c: CPU, i: Insn): void {
  if (i.flags & IF_OP32) c.r[i.op & 7] = c.pop32();
  else c.r16[(i.op & 7) << 1] = c.pop16();
}
export function pushImm(c: CPU, i: Insn): void {
  if (i.flags & IF_OP32) c.push32(i.imm);
  else c.push16(i.imm);
}
export function pushEv(c: CPU, i: Insn): void {
  if (i.flags & IF_OP32) c.push32(readE(c, i, 32));
  else c.push16(readE(c, i, 16));
}
/** POP Ev: ESP is incremented before the destination address is computed (SDM Vol. 2B, POP). */
export function popEv(c: CPU, i: Insn): void {
  const bits = opBits(i);
  const oldEsp = c.r[ESP];
  const v = bits === 32 ? c.pop32() : c.pop16();
  try {
    writeE(c, i, bits, v);
  } catch (e) {
    c.r[ESP] = oldEsp;
    throw e;
  }
}
/** The segment register of PUSH/POP Sreg opcode `op` (06/07 ES ... 1E/1F DS, 0F A0/A1 FS, 0F A8/A9 GS). */
export function pushPopSeg(op: number): number {
  return op >= 0x100 ? ((op & 8) === 0 ? FS : GS) : (op >> 3) & 3;
}

/** PUSH ES/CS/SS/DS/FS/GS: seg encoded in the opcode. A 32-bit push writes 16 bits on P6 parts. */
export function pushSeg(c: CPU, i: Insn): void {
  const seg = pushPopSeg(i.op);
  const sel = c.r[R_SEL + seg];
  if (i.flags & IF_OP32) {
    const sp = (c.sp - 4) & (c.ss32 ? -1 : 0xffff);
    c.wr16(c.segWrite(SS, sp, 4), sel);
    c.setSp(sp);
  } else c.push16(sel);
}
export function popSeg(c: CPU, i: Insn): void {
  const seg = pushPopSeg(i.op);
  const sp = c.sp;
  const size = i.flags & IF_OP32 ? 4 : 2;
  const sel = c.rd16(c.segRead(SS, sp, size));
  loadSeg(c, seg, sel);
  c.setSp(sp + size);
  if (seg === SS) inhibitIrq(c);
}

// PUSHA/POPA fault as a whole: a #SS or #PF on any of the eight accesses leaves ESP and the
// registers as they were (stores already done may remain, as on the host CPU).
export function pusha(c: CPU, i: Insn): void {
  const r = c.r;
  const sp = r[ESP];
  try {
    if (i.flags & IF_OP32) {
      for (let k = 0; k < 8; k++) c.push32(k === ESP ? sp : r[k]);
    } else for (let k = 0; k < 8; k++) c.push16(k === ESP ? sp : r[k]);
  } catch (e) {
    r[ESP] = sp;
    throw e;
  }
}
export function popa(c: CPU, i: Insn): void {
  const r = c.r;
  const sp = r[ESP];
  try {
    if (i.flags & IF_OP32) {
      const di = c.pop32();
      const si = c.pop32();
      const bp = c.pop32();
      c.pop32();
      const bx = c.pop32();
      const dx = c.pop32();
      const cx = c.pop32();
      const ax = c.pop32();
      r[EDI] = di;
      r[ESI] = si;
      r[EBP] = bp;
      r[EBX] = bx;
      r[EDX] = dx;
      r[ECX] = cx;
      r[EAX] = ax;
    } else {
      const di = c.pop16();
      const si = c.pop16();
      const bp = c.pop16();
      c.pop16();
      const bx = c.pop16();
      const dx = c.pop16();
      const cx = c.pop16();
      const ax = c.pop16();
      c.setReg16(EDI, di);
      c.setReg16(ESI, si);
      c.setReg16(EBP, bp);
      c.setReg16(EBX, bx);
      c.setReg16(EDX, dx);
      c.setReg16(ECX, cx);
      c.setReg16(EAX, ax);
    }
  } catch (e) {
    r[ESP] = sp;
    throw e;
  }
}

// ---------------------------------------------------------------- flags

export function pushf(c: CPU, i: Insn): void {
  if (c.v86 && (c.r[R_EFLAGS] & EFLAGS_IOPL) !== EFLAGS_IOPL) c.raise(EXC_GP, 0);
  // VM and RF are pushed as 0 (SDM Vol. 2B, PUSHF).
  const f = c.getEflags() & ~0x30000;
  if (i.flags & IF_OP32) c.push32(f);
  else c.push16(f);
}

export function popf(c: CPU, i: Insn): void {
  const r = c.r;
  if (c.v86 && (r[R_EFLAGS] & EFLAGS_IOPL) !== EFLAGS_IOPL) c.raise(EXC_GP, 0);
  const op32 = (i.flags & IF_OP32) !== 0;
  popfValue(c, op32 ? c.pop32() : c.pop16(), op32);
}

/** EFLAGS from the value POPF popped (`op32`: POPFD), also for compiled code's POPF. */
export function popfValue(c: CPU, v: number, op32: boolean): void {
  // Changeable bits depend on CPL and IOPL (SDM Vol. 2B, POPF): IOPL only at CPL 0, IF when CPL <= IOPL.
  let mask = EFLAGS_ARITH | EFLAGS_TF | EFLAGS_DF | (1 << 11) | EFLAGS_NT | EFLAGS_AC | EFLAGS_ID;
  if (!c.protectedMode || c.r[R_CPL] === 0) mask |= EFLAGS_IOPL | EFLAGS_IF;
  else if (isIoplOk(c) || c.v86) mask |= EFLAGS_IF;
  if (c.v86) mask &= ~EFLAGS_IOPL;
  if (!op32) mask &= 0xffff;
  c.setEflags((v & mask) | (c.getEflags() & ~mask));
}

export function sahf(c: CPU): void {
  c.setArithFlags(EFLAGS_ARITH & 0xff, c.getReg8(4));
}
export function lahf(c: CPU): void {
  c.setReg8(4, c.getEflags() & 0xff);
}
export function cmc(c: CPU): void {
  c.setCF(c.getCF() ^ 1);
}
export function clc(c: CPU): void {
  c.setCF(0);
}
export function stc(c: CPU): void {
  c.setCF(1);
}
export function cld(c: CPU): void {
  c.r[R_EFLAGS] &= ~EFLAGS_DF;
}
export function std(c: CPU): void {
  c.r[R_EFLAGS] |= EFLAGS_DF;
}
export function cli(c: CPU): void {
  if (c.protectedMode && !isIoplOk(c)) c.raise(EXC_GP, 0);
  c.r[R_EFLAGS] &= ~EFLAGS_IF;
}
export function sti(c: CPU): void {
  if (c.protectedMode && !isIoplOk(c)) c.raise(EXC_GP, 0);
  if ((c.r[R_EFLAGS] & EFLAGS_IF) === 0) {
    c.r[R_EFLAGS] |= EFLAGS_IF;
    inhibitIrq(c);
    c.checkIrq();
  }
}

// ---------------------------------------------------------------- misc

export function xlat(c: CPU, i: Insn): void {
  const base = i.flags & IF_AD32 ? c.r[3] : c.r[3] & 0xffff;
  const off = (base + c.getReg8(0)) & (i.flags & IF_AD32 ? -1 : 0xffff);
  c.setReg8(0, c.rd8(c.segRead(i.seg, off, 1)));
}

export function bswap(c: CPU, i: Insn): void {
  const n = i.op & 7;
  const v = c.r[n];
  if (i.flags & IF_OP32) c.r[n] = (v >>> 24) | ((v >>> 8) & 0xff00) | ((v & 0xff00) << 8) | (v << 24);
  else c.r16[n << 1] = 0; // BSWAP with 16-bit operand is undefined; P6 parts clear the low word
}

/** LES/LDS/LSS/LFS/LGS Gv, Mp. */
export function loadFarPtr(c: CPU, i: Insn): void {
  const seg = i.op === 0xc4 ? ES : i.op === 0xc5 ? 3 : i.op === 0x1b2 ? SS : i.op === 0x1b4 ? 4 : 5;
  const bits = opBits(i);
  const lin = c.eaR(i, (bits >> 3) + 2);
  const off = readLin(c, lin, bits);
  const sel = c.rd16((lin + (bits >> 3)) | 0);
  loadSeg(c, seg, sel);
  setReg(c, i.reg, bits, off);
  if (seg === SS) inhibitIrq(c);
}

// ---------------------------------------------------------------- port I/O

export function inALIb(c: CPU, i: Insn): void {
  checkIoPermission(c, i.imm, 1);
  c.setReg8(0, c.bus.in8(i.imm));
}
export function inAXIb(c: CPU, i: Insn): void {
  const bits = opBits(i);
  checkIoPermission(c, i.imm, bits >> 3);
  setReg(c, EAX, bits, bits === 32 ? c.bus.in32(i.imm) : c.bus.in16(i.imm));
}
export function outIbAL(c: CPU, i: Insn): void {
  checkIoPermission(c, i.imm, 1);
  c.bus.out8(i.imm, c.getReg8(0));
}
export function outIbAX(c: CPU, i: Insn): void {
  const bits = opBits(i);
  checkIoPermission(c, i.imm, bits >> 3);
  if (bits === 32) c.bus.out32(i.imm, c.r[EAX]);
  else c.bus.out16(i.imm, c.r16[0]);
}
export function inALDX(c: CPU): void {
  const port = c.r16[EDX << 1];
  checkIoPermission(c, port, 1);
  c.setReg8(0, c.bus.in8(port));
}
export function inAXDX(c: CPU, i: Insn): void {
  const bits = opBits(i);
  const port = c.r16[EDX << 1];
  checkIoPermission(c, port, bits >> 3);
  setReg(c, EAX, bits, bits === 32 ? c.bus.in32(port) : c.bus.in16(port));
}
export function outDXAL(c: CPU): void {
  const port = c.r16[EDX << 1];
  checkIoPermission(c, port, 1);
  c.bus.out8(port, c.getReg8(0));
}
export function outDXAX(c: CPU, i: Insn): void {
  const bits = opBits(i);
  const port = c.r16[EDX << 1];
  checkIoPermission(c, port, bits >> 3);
  if (bits === 32) c.bus.out32(port, c.r[EAX]);
  else c.bus.out16(port, c.r16[0]);
}

// ---------------------------------------------------------------- string instructions

/** Iterations per execution of a REP instruction before re-executing it (bounds interrupt latency). */
const REP_CHUNK = 0x4000;

const STR_MOVS = 0;
const STR_CMPS = 1;
const STR_STOS = 2;
const STR_LODS = 3;
const STR_SCAS = 4;
const STR_INS = 5;
const STR_OUTS = 6;

function stringOp(c: CPU, i: Insn, kind: number, bits: number): void {
  const r = c.r;
  const ad32 = (i.flags & IF_AD32) !== 0;
  const amask = ad32 ? -1 : 0xffff;
  const size = bits >> 3;
  const delta = (r[R_EFLAGS] & EFLAGS_DF) !== 0 ? -size : size;
  const rep = (i.flags & (IF_REP | IF_REPNE)) !== 0;
  const srcSeg = i.seg; // DS or override
  if (kind === STR_INS || kind === STR_OUTS) checkIoPermission(c, r[EDX] & 0xffff, size);
  let count = rep ? (ad32 ? r[ECX] >>> 0 : r[ECX] & 0xffff) : 1;
  if (count === 0) return;
  let n = count > REP_CHUNK ? REP_CHUNK : count;
  const cmp = kind === STR_CMPS || kind === STR_SCAS;
  const wantZ = (i.flags & IF_REP) !== 0 ? 1 : 0;
  let si = r[ESI] & amask;
  let di = r[EDI] & amask;
  // REP MOVS/STOS through flat segments, either direction: a page at a time where that cannot be
  // told apart from element-by-element execution (bulkString()). The Linux bzImage's startup_32
  // moves the compressed kernel up with STD; REP MOVSL (~7 MB, 137 ms element by element).
  const bulk =
    rep &&
    ad32 &&
    (kind === STR_STOS || (kind === STR_MOVS && c.segFlat[srcSeg] === 1)) &&
    c.segFlat[ES] === 1;
  try {
    while (n > 0) {
      if (bulk && n > 1) {
        const k = bulkString(c, kind, size, delta < 0, si, di, n);
        if (k > 0) {
          if (kind === STR_MOVS) si = (si + k * delta) | 0;
          di = (di + k * delta) | 0;
          n -= k;
          count -= k;
          continue;
        }
      }
      switch (kind) {
        case STR_MOVS: {
          const v = readLin(c, c.segRead(srcSeg, si, size), bits);
          writeLin(c, c.segWrite(ES, di, size), bits, v);
          si = (si + delta) & amask;
          di = (di + delta) & amask;
          break;
        }
        case STR_CMPS: {
          const a = readLin(c, c.segRead(srcSeg, si, size), bits);
          const b = readLin(c, c.segRead(ES, di, size), bits);
          alu(c, ALU_CMP, a, b, bits);
          si = (si + delta) & amask;
          di = (di + delta) & amask;
          break;
        }
        case STR_STOS:
          writeLin(c, c.segWrite(ES, di, size), bits, r[EAX]);
          di = (di + delta) & amask;
          break;
        case STR_LODS:
          setReg(c, EAX, bits, readLin(c, c.segRead(srcSeg, si, size), bits));
          si = (si + delta) & amask;
          break;
        case STR_SCAS: {
          const b = readLin(c, c.segRead(ES, di, size), bits);
          alu(c, ALU_CMP, getReg(c, EAX, bits), b, bits);
          di = (di + delta) & amask;
          break;
        }
        case STR_INS: {
          const lin = c.segWrite(ES, di, size);
          c.tlbLookup(lin, true, r[R_CPL] === 3); // check the page before the port read has side effects
          const port = r[EDX] & 0xffff;
          const v = bits === 8 ? c.bus.in8(port) : bits === 16 ? c.bus.in16(port) : c.bus.in32(port);
          writeLin(c, lin, bits, v);
          di = (di + delta) & amask;
          break;
        }
        default: {
          const v = readLin(c, c.segRead(srcSeg, si, size), bits);
          const port = r[EDX] & 0xffff;
          if (bits === 8) c.bus.out8(port, v);
          else if (bits === 16) c.bus.out16(port, v);
          else c.bus.out32(port, v);
          si = (si + delta) & amask;
        }
      }
      n--;
      count--;
      if (cmp && rep && c.getZF() !== wantZ) break;
    }
  } finally {
    // Registers reflect completed iterations even when one faults (SDM Vol. 2B, REP).
    if (ad32) {
      r[ESI] = si;
      r[EDI] = di;
      if (rep) r[ECX] = count;
    } else {
      c.r16[ESI << 1] = si;
      c.r16[EDI << 1] = di;
      if (rep) c.r16[ECX << 1] = count;
    }
  }
  if (rep && count !== 0 && !(cmp && c.getZF() !== wantZ)) {
    // Not finished: run the instruction again (interrupts may be taken in between).
    r[8] = c.eipStart;
  }
}

/**
 * Up to `n` iterations of a REP MOVS/STOS (element `size`, flat segments, 32-bit addresses; `down`:
 * EFLAGS.DF set, addresses descending) as one block copy or fill, within the current page of the
 * destination (and source): both pages are translated first, in the order the first element's
 * accesses would be, so a fault is raised exactly as by that element, before anything is written.
 * Returns the iterations done; 0 when the element-by-element loop must take the next one (an
 * element across the page's end, MMIO, the VGA hole, or a MOVS whose destination overlaps the
 * source where element-by-element execution would read what it has just written: ahead of the
 * source going up, below it going down).
 */
function bulkString(
  c: CPU,
  kind: number,
  size: number,
  down: boolean,
  si: number,
  di: number,
  n: number,
): number {
  let k = elementsInPage(di, size, down);
  if (kind === STR_MOVS) k = Math.min(k, elementsInPage(si, size, down));
  if (k > n) k = n;
  if (k < 2) return 0;
  const user = c.r[R_CPL] === 3;
  let sp = 0;
  // The TLB entry when it grants the access (as the fast paths check it), else a walk.
  const tlb = c.tlb;
  if (kind === STR_MOVS) {
    const t = tlb[si >>> 12];
    const e = (t & (c.rNeed | TLB_IO)) === c.rNeed ? t : c.tlbLookup(si, false, user);
    if ((e & TLB_IO) !== 0) return 0;
    sp = (e & ~0xfff) | (si & 0xfff);
  }
  const t = tlb[di >>> 12];
  const e = (t & (c.wNeed | TLB_IO)) === c.wNeed ? t : c.tlbLookup(di, true, user);
  if ((e & TLB_IO) !== 0) return 0;
  let dp = (e & ~0xfff) | (di & 0xfff);
  const bytes = k * size;
  // Going down, the range starts at the last element.
  if (down) {
    dp -= bytes - size;
    if (kind === STR_MOVS) sp -= bytes - size;
  }
  if (!plainRam(c, dp, bytes) || (kind === STR_MOVS && !plainRam(c, sp, bytes))) return 0;
  const ram = c.ram;
  if (kind === STR_MOVS) {
    if (down ? sp > dp && sp < dp + bytes : dp > sp && dp < sp + bytes) return 0;
    ram.copyWithin(dp, sp, sp + bytes);
  } else {
    const v = c.r[EAX];
    if (size === 1) ram.fill(v & 0xff, dp, dp + bytes);
    else if (size === 4 && (dp & 3) === 0) c.ram32.fill(v, dp >>> 2, (dp + bytes) >>> 2);
    else for (let j = 0; j < bytes; j++) ram[dp + j] = v >>> (8 * (j % size));
  }
  c.notifyRamWrite(dp, bytes);
  return k;
}

/**
 * Elements of `size` bytes that fit in the page of `addr` from the one at `addr` on, in the
 * direction of the copy (descending when `down`); 0 when that first one crosses the page's end.
 */
function elementsInPage(addr: number, size: number, down: boolean): number {
  const off = addr & 0xfff;
  if (!down) return ((0x1000 - off) / size) | 0;
  return off + size <= 0x1000 ? ((off / size) | 0) + 1 : 0;
}

/** Whether [p, p+bytes) (within one page) is ordinary RAM: below the VGA hole or above 1 MiB. */
function plainRam(c: CPU, p: number, bytes: number): boolean {
  const a = p >>> 0;
  return a < 0xa0000 || (a >= 0x100000 && a + bytes <= c.ramSize);
}

export function movs(c: CPU, i: Insn): void {
  stringOp(c, i, STR_MOVS, (i.op & 1) === 0 ? 8 : opBits(i));
}
export function cmps(c: CPU, i: Insn): void {
  stringOp(c, i, STR_CMPS, (i.op & 1) === 0 ? 8 : opBits(i));
}
export function stos(c: CPU, i: Insn): void {
  stringOp(c, i, STR_STOS, (i.op & 1) === 0 ? 8 : opBits(i));
}
export function lods(c: CPU, i: Insn): void {
  stringOp(c, i, STR_LODS, (i.op & 1) === 0 ? 8 : opBits(i));
}
export function scas(c: CPU, i: Insn): void {
  stringOp(c, i, STR_SCAS, (i.op & 1) === 0 ? 8 : opBits(i));
}
export function ins(c: CPU, i: Insn): void {
  stringOp(c, i, STR_INS, (i.op & 1) === 0 ? 8 : opBits(i));
}
export function outs(c: CPU, i: Insn): void {
  stringOp(c, i, STR_OUTS, (i.op & 1) === 0 ? 8 : opBits(i));
}

export { EFLAGS_CF };
