// Protected-mode system architecture: segment loads with their checks, interrupt/exception
// delivery (real mode, protected mode, virtual-8086), far JMP/CALL/RET through gates, IRET and
// hardware task switches. References are to the Intel SDM Vol. 3A chapters 5-7 and 20.
import type { CPU } from "./cpu.ts";
import {
  ATTR_DB,
  ATTR_P,
  CR0_TS,
  CS,
  DS,
  EFLAGS_IF,
  EFLAGS_IOPL,
  EFLAGS_NT,
  EFLAGS_RF,
  EFLAGS_TF,
  EFLAGS_VM,
  ES,
  ESP,
  EXC_GP,
  EXC_NP,
  EXC_SS,
  EXC_TS,
  FS,
  GS,
  LDTR,
  R_CPL,
  R_CR0,
  R_CR3,
  R_EFLAGS,
  R_EIP,
  R_GDTR_BASE,
  R_GDTR_LIMIT,
  R_IDTR_BASE,
  R_IDTR_LIMIT,
  R_SEGATTR,
  R_SEGBASE,
  R_SEGLIMIT,
  R_SEGRAW,
  R_SEGRAWCPL,
  R_SEL,
  SS,
  TR,
} from "./state.ts";

/** Placeholder type kept for the CPU's `sys` field (system hooks are plain functions here). */
export type System = Record<string, never>;

/** A descriptor read from a table: the two dwords. */
export interface Desc {
  lo: number;
  hi: number;
}

const desc: Desc = { lo: 0, hi: 0 };
// Scratch descriptors of the code and stack segments a control transfer loads (interrupt delivery,
// IRET, far RET): allocated once, since a system call goes through two of these transfers. Each is
// read afresh before use; no transfer nests in another while using them (a fault unwinds it first).
const codeDesc: Desc = { lo: 0, hi: 0 };
const stackDesc: Desc = { lo: 0, hi: 0 };
/** probeDesc()'s result (LAR, LSL, VERR, VERW). */
const probeScratch: Desc = { lo: 0, hi: 0 };

export function descBase(d: Desc): number {
  return (d.lo >>> 16) | ((d.hi & 0xff) << 16) | (d.hi & 0xff000000) | 0;
}

export function descLimit(d: Desc): number {
  let limit = (d.lo & 0xffff) | (d.hi & 0xf0000);
  if ((d.hi & 0x800000) !== 0) limit = (limit << 12) | 0xfff;
  return limit | 0;
}

export function descAttr(d: Desc): number {
  return (d.hi >>> 8) & 0xf0ff;
}

/**
 * Read the descriptor for `sel` from the GDT or LDT into the shared `desc` object.
 * Returns false when the selector's index is outside the table limit.
 */
export function readDesc(c: CPU, sel: number, out: Desc = desc): boolean {
  const r = c.r;
  let base: number;
  let limit: number;
  if ((sel & 4) !== 0) {
    if ((r[R_SEGATTR + LDTR] & ATTR_P) === 0) return false;
    base = r[R_SEGBASE + LDTR];
    limit = r[R_SEGLIMIT + LDTR] >>> 0;
  } else {
    base = r[R_GDTR_BASE];
    limit = r[R_GDTR_LIMIT] >>> 0;
  }
  const idx = sel & ~7;
  if (idx + 7 > limit) return false;
  out.lo = c.readLinear32Sup(base + idx);
  out.hi = c.readLinear32Sup(base + idx + 4);
  return true;
}

/** Set the accessed bit of a code/data descriptor in memory (SDM Vol. 3A, 3.4.5.1). */
function setAccessed(c: CPU, sel: number, d: Desc): void {
  if ((d.hi & 0x100) !== 0) return;
  const base = (sel & 4) !== 0 ? c.r[R_SEGBASE + LDTR] : c.r[R_GDTR_BASE];
  d.hi |= 0x100;
  c.writeLinear32Sup(base + (sel & ~7) + 4, d.hi);
}

function loadCache(c: CPU, seg: number, sel: number, d: Desc): void {
  c.setSegCache(seg, sel, descBase(d), descLimit(d), descAttr(d));
}

/** MOV/POP/LxS to a data or stack segment register (SDM Vol. 3A, 5.4.1; Vol. 2 MOV). */
export function loadSeg(c: CPU, seg: number, sel: number): void {
  sel &= 0xffff;
  if (!c.protectedMode || c.v86) {
    c.loadSegReal(seg, sel);
    return;
  }
  const r = c.r;
  const cpl = r[R_CPL];
  const rpl = sel & 3;
  if ((sel & ~3) === 0) {
    // Null selector: allowed for data segments (marks the register unusable), #GP(0) for SS.
    if (seg === SS) c.raise(EXC_GP, 0);
    c.setSegCache(seg, sel, 0, 0, 0);
    return;
  }
  const d = desc;
  if (!readDesc(c, sel, d)) c.raise(EXC_GP, sel & ~3);
  const attr = descAttr(d);
  const dpl = (attr >> 5) & 3;
  const type = attr & 0xf;
  if (seg === SS) {
    // Writable data segment with RPL = DPL = CPL.
    if ((attr & 0x10) === 0 || (type & 0xa) !== 0x2 || rpl !== cpl || dpl !== cpl) c.raise(EXC_GP, sel & ~3);
    if ((attr & ATTR_P) === 0) c.raise(EXC_SS, sel & ~3);
  } else {
    // Data or readable code; for data and non-conforming code, max(CPL, RPL) <= DPL.
    if ((attr & 0x10) === 0 || (type & 0xa) === 0x8) c.raise(EXC_GP, sel & ~3);
    const conformingCode = (type & 0xc) === 0xc;
    if (!conformingCode && (rpl > dpl || cpl > dpl)) c.raise(EXC_GP, sel & ~3);
    if ((attr & ATTR_P) === 0) c.raise(EXC_NP, sel & ~3);
  }
  setAccessed(c, sel, d);
  loadCache(c, seg, sel, d);
  if (seg !== SS && (sel & 4) === 0) {
    // What compiled code compares a reload of the same selector with (R_SEGRAW in state.ts).
    r[R_SEGRAW + 2 * seg] = d.lo;
    r[R_SEGRAW + 2 * seg + 1] = d.hi;
    r[R_SEGRAWCPL + seg] = cpl + 1;
  }
}

const DATA_SEGS = [ES, DS, FS, GS] as const;

/** After a privilege drop (RET/IRET to outer level), null data segments the new CPL may not use. */
function clearSegsForCpl(c: CPU): void {
  const r = c.r;
  const cpl = r[R_CPL];
  for (let k = 0; k < DATA_SEGS.length; k++) {
    const seg = DATA_SEGS[k];
    const attr = r[R_SEGATTR + seg];
    const type = attr & 0xf;
    const dpl = (attr >> 5) & 3;
    const dataOrNonConf = (attr & 0x10) !== 0 && (type & 0xc) !== 0xc;
    if ((attr & ATTR_P) === 0 || (dataOrNonConf && dpl < cpl)) {
      r[R_SEL + seg] = 0;
      r[R_SEGATTR + seg] = 0;
      c.segChanged(seg);
    }
  }
}

function setCpl(c: CPU, cpl: number): void {
  c.r[R_CPL] = cpl;
  c.updateCpl();
}

/** Load CS for a far transfer to a code segment; d holds its descriptor. */
function loadCs(c: CPU, sel: number, d: Desc, cpl: number): void {
  setAccessed(c, sel, d);
  c.setSegCache(CS, (sel & ~3) | cpl, descBase(d), descLimit(d), descAttr(d));
  setCpl(c, cpl);
}

function checkEip(c: CPU, eip: number): void {
  if (eip >>> 0 > c.r[R_SEGLIMIT + CS] >>> 0) c.raise(EXC_GP, 0);
}

// ---------------------------------------------------------------- stack helpers for transfers

/** Push onto a stack given explicitly (used while switching stacks), returns new SP. */
function pushTo(c: CPU, ssBase: number, ssMask: number, sp: number, v: number, size: number): number {
  sp = (sp - size) & ssMask;
  const lin = (ssBase + sp) | 0;
  if (size === 4) c.writeLinear32Sup(lin, v);
  else c.writeLinear16Sup(lin, v);
  return sp;
}

function setEspMasked(c: CPU, sp: number, mask: number): void {
  if (mask === -1) c.r[ESP] = sp;
  else c.r[ESP] = (c.r[ESP] & ~0xffff) | (sp & 0xffff);
}

// ---------------------------------------------------------------- interrupts and exceptions

function hasErrorCode(vector: number): boolean {
  return vector === 8 || (vector >= 10 && vector <= 14) || vector === 17;
}

/**
 * Deliver interrupt/exception `vector`. `software` is true for INT n / INT3 / INTO (privilege checked
 * against the gate's DPL). `error` is the error code or -1. `eip` is the return address to push.
 */
export function deliverInterrupt(
  c: CPU,
  vector: number,
  software: boolean,
  error: number,
  eip: number,
): void {
  const r = c.r;
  const pushError = !software && error >= 0 && hasErrorCode(vector);
  // A delivery discards a pending single-step trap: the handler starts with TF clear and the trap
  // resumes after IRET restores TF (SDM Vol. 3B, 17.3.1.4).
  c.stepping = false;
  if (!c.protectedMode) {
    // Real mode: IVT at IDTR.base, 4-byte entries (SDM Vol. 3A, 20.1.4).
    const off = vector * 4;
    if (off + 3 > r[R_IDTR_LIMIT] >>> 0) c.raise(EXC_GP, 0);
    const ent = c.readLinear32Sup(r[R_IDTR_BASE] + off);
    const flags = c.getEflags();
    c.push16(flags);
    c.push16(r[R_SEL + CS]);
    c.push16(eip);
    c.loadSegReal(CS, ent >>> 16);
    r[R_EIP] = ent & 0xffff;
    c.setEflags(flags & ~(EFLAGS_IF | EFLAGS_TF | EFLAGS_RF | (1 << 18)));
    return;
  }
  // Protected mode (and v8086): IDT gate (SDM Vol. 3A, 6.12).
  const ext = software ? 0 : 1;
  const off = vector * 8;
  if (off + 7 > r[R_IDTR_LIMIT] >>> 0) c.raise(EXC_GP, off + 2 + ext);
  const glo = c.readLinear32Sup(r[R_IDTR_BASE] + off);
  const ghi = c.readLinear32Sup(r[R_IDTR_BASE] + off + 4);
  const gtype = (ghi >>> 8) & 0x1f;
  const gdpl = (ghi >>> 13) & 3;
  if (gtype !== 0x05 && gtype !== 0x06 && gtype !== 0x07 && gtype !== 0x0e && gtype !== 0x0f)
    c.raise(EXC_GP, off + 2 + ext);
  if (software && gdpl < r[R_CPL]) c.raise(EXC_GP, off + 2);
  if ((ghi & 0x8000) === 0) c.raise(EXC_NP, off + 2 + ext);

  if (gtype === 0x05) {
    // Task gate: switch tasks; the error code goes on the new task's stack.
    taskSwitch(c, glo >>> 16, TS_CALL, eip);
    if (pushError) {
      if ((r[R_SEGATTR + CS] & ATTR_DB) !== 0) c.push32(error);
      else c.push16(error);
    }
    return;
  }
  const gate32 = (gtype & 8) !== 0;
  const trap = (gtype & 1) !== 0;
  const sel = glo >>> 16;
  const offset = gate32 ? (glo & 0xffff) | (ghi & 0xffff0000) : glo & 0xffff;
  if ((sel & ~3) === 0) c.raise(EXC_GP, ext);
  const d = codeDesc;
  if (!readDesc(c, sel, d)) c.raise(EXC_GP, (sel & ~3) + ext);
  const attr = descAttr(d);
  const dpl = (attr >> 5) & 3;
  if ((attr & 0x18) !== 0x18 || dpl > r[R_CPL]) c.raise(EXC_GP, (sel & ~3) + ext);
  if ((attr & ATTR_P) === 0) c.raise(EXC_NP, (sel & ~3) + ext);
  const conforming = (attr & 4) !== 0;
  const oldFlags = c.getEflags();
  const v86 = (oldFlags & EFLAGS_VM) !== 0;
  const oldCs = r[R_SEL + CS];
  const size = gate32 ? 4 : 2;

  if (!conforming && dpl < r[R_CPL]) {
    // Inter-privilege: new stack from the TSS.
    if (v86 && dpl !== 0) c.raise(EXC_GP, (sel & ~3) + ext);
    tssStack(c, dpl, ext);
    const newSs = tssSs;
    const newEsp = tssEsp;
    const sd = stackDesc;
    if ((newSs & ~3) === 0) c.raise(EXC_TS, ext);
    if (!readDesc(c, newSs, sd)) c.raise(EXC_TS, (newSs & ~3) + ext);
    const sattr = descAttr(sd);
    if ((newSs & 3) !== dpl || ((sattr >> 5) & 3) !== dpl || (sattr & 0x1a) !== 0x12)
      c.raise(EXC_TS, (newSs & ~3) + ext);
    if ((sattr & ATTR_P) === 0) c.raise(EXC_SS, (newSs & ~3) + ext);
    const ssBase = descBase(sd);
    const ssMask = (sattr & ATTR_DB) !== 0 ? -1 : 0xffff;
    let sp = newEsp & ssMask;
    const oldSs = r[R_SEL + SS];
    const oldEsp = r[ESP];
    if (v86) {
      sp = pushTo(c, ssBase, ssMask, sp, r[R_SEL + GS], size);
      sp = pushTo(c, ssBase, ssMask, sp, r[R_SEL + FS], size);
      sp = pushTo(c, ssBase, ssMask, sp, r[R_SEL + DS], size);
      sp = pushTo(c, ssBase, ssMask, sp, r[R_SEL + ES], size);
    }
    sp = pushTo(c, ssBase, ssMask, sp, oldSs, size);
    sp = pushTo(c, ssBase, ssMask, sp, oldEsp, size);
    sp = pushTo(c, ssBase, ssMask, sp, oldFlags, size);
    sp = pushTo(c, ssBase, ssMask, sp, oldCs, size);
    sp = pushTo(c, ssBase, ssMask, sp, eip, size);
    if (pushError) sp = pushTo(c, ssBase, ssMask, sp, error, size);
    // Commit.
    if (v86) {
      for (const s of [ES, DS, FS, GS]) c.setSegCache(s, 0, 0, 0, 0);
    }
    setAccessed(c, newSs, sd);
    c.setEflags(oldFlags & ~(EFLAGS_VM | EFLAGS_TF | EFLAGS_RF | EFLAGS_NT | (trap ? 0 : EFLAGS_IF)));
    c.setSegCache(SS, (newSs & ~3) | dpl, ssBase, descLimit(sd), sattr);
    setEspMasked(c, sp, ssMask);
    loadCs(c, sel, d, dpl);
  } else {
    if (v86) c.raise(EXC_GP, (sel & ~3) + ext);
    // Same privilege (or conforming): push on the current stack.
    const ssMask = c.ss32 ? -1 : 0xffff;
    const ssBase = r[R_SEGBASE + SS];
    let sp = r[ESP] & ssMask;
    sp = pushTo(c, ssBase, ssMask, sp, oldFlags, size);
    sp = pushTo(c, ssBase, ssMask, sp, oldCs, size);
    sp = pushTo(c, ssBase, ssMask, sp, eip, size);
    if (pushError) sp = pushTo(c, ssBase, ssMask, sp, error, size);
    c.setEflags(oldFlags & ~(EFLAGS_TF | EFLAGS_RF | EFLAGS_NT | (trap ? 0 : EFLAGS_IF)));
    setEspMasked(c, sp, ssMask);
    loadCs(c, sel, d, r[R_CPL]);
  }
  checkEip(c, offset);
  r[R_EIP] = offset;
}

/** What tssStack() read: the SS and ESP for the new privilege level. */
let tssSs = 0;
let tssEsp = 0;

/** Stack for privilege level `dpl` from the current TSS (SDM Vol. 3A, 7.2.1), into tssSs/tssEsp. */
function tssStack(c: CPU, dpl: number, ext: number): void {
  const r = c.r;
  const type = r[R_SEGATTR + TR] & 0xf;
  const base = r[R_SEGBASE + TR];
  const limit = r[R_SEGLIMIT + TR] >>> 0;
  if ((type & 8) !== 0) {
    const off = 4 + dpl * 8;
    if (off + 5 > limit) c.raise(EXC_TS, (r[R_SEL + TR] & ~3) + ext);
    tssEsp = c.readLinear32Sup(base + off);
    tssSs = c.readLinear16Sup(base + off + 4);
    return;
  }
  const off = 2 + dpl * 4;
  if (off + 3 > limit) c.raise(EXC_TS, (r[R_SEL + TR] & ~3) + ext);
  tssEsp = c.readLinear16Sup(base + off);
  tssSs = c.readLinear16Sup(base + off + 2);
}

// ---------------------------------------------------------------- far JMP / CALL / RET

/** JMP ptr16:16/32 or JMP m16:16/32 (SDM Vol. 2A, JMP). */
export function farJump(c: CPU, sel: number, off: number, op32: boolean): void {
  const r = c.r;
  if (!c.protectedMode || c.v86) {
    if (!op32) off &= 0xffff;
    c.loadSegReal(CS, sel);
    r[R_EIP] = off;
    return;
  }
  sel &= 0xffff;
  if ((sel & ~3) === 0) c.raise(EXC_GP, 0);
  const d: Desc = { lo: 0, hi: 0 };
  if (!readDesc(c, sel, d)) c.raise(EXC_GP, sel & ~3);
  const attr = descAttr(d);
  const cpl = r[R_CPL];
  const dpl = (attr >> 5) & 3;
  if ((attr & 0x18) === 0x18) {
    if ((attr & 4) !== 0) {
      if (dpl > cpl) c.raise(EXC_GP, sel & ~3);
    } else if ((sel & 3) > cpl || dpl !== cpl) c.raise(EXC_GP, sel & ~3);
    if ((attr & ATTR_P) === 0) c.raise(EXC_NP, sel & ~3);
    if (!op32) off &= 0xffff;
    if (off >>> 0 > descLimit(d) >>> 0) c.raise(EXC_GP, 0);
    loadCs(c, sel, d, cpl);
    r[R_EIP] = off;
    return;
  }
  const type = attr & 0x1f;
  if (type === 0x0c || type === 0x04) {
    // Call gate used by JMP: same privilege only.
    if (dpl < cpl || dpl < (sel & 3)) c.raise(EXC_GP, sel & ~3);
    if ((attr & ATTR_P) === 0) c.raise(EXC_NP, sel & ~3);
    const csel = d.lo >>> 16;
    const goff = type === 0x0c ? (d.lo & 0xffff) | (d.hi & 0xffff0000) : d.lo & 0xffff;
    const cd: Desc = { lo: 0, hi: 0 };
    if ((csel & ~3) === 0) c.raise(EXC_GP, 0);
    if (!readDesc(c, csel, cd)) c.raise(EXC_GP, csel & ~3);
    const cattr = descAttr(cd);
    const cdpl = (cattr >> 5) & 3;
    if ((cattr & 0x18) !== 0x18 || ((cattr & 4) !== 0 ? cdpl > cpl : cdpl !== cpl))
      c.raise(EXC_GP, csel & ~3);
    if ((cattr & ATTR_P) === 0) c.raise(EXC_NP, csel & ~3);
    if (goff >>> 0 > descLimit(cd) >>> 0) c.raise(EXC_GP, 0);
    loadCs(c, csel, cd, cpl);
    r[R_EIP] = goff;
    return;
  }
  if (type === 0x05 || type === 0x01 || type === 0x09) {
    if (dpl < cpl || dpl < (sel & 3)) c.raise(EXC_GP, sel & ~3);
    if ((attr & ATTR_P) === 0) c.raise(EXC_NP, sel & ~3);
    const tss = type === 0x05 ? d.lo >>> 16 : sel;
    taskSwitch(c, tss, TS_JMP, r[R_EIP]);
    return;
  }
  c.raise(EXC_GP, sel & ~3);
}

/** CALL ptr16:16/32 or CALL m16:16/32 (SDM Vol. 2A, CALL). `retEip` is the return offset. */
export function farCall(c: CPU, sel: number, off: number, op32: boolean, retEip: number): void {
  const r = c.r;
  const oldCs = r[R_SEL + CS];
  if (!c.protectedMode || c.v86) {
    if (op32) {
      c.push32(oldCs);
      c.push32(retEip);
    } else {
      c.push16(oldCs);
      c.push16(retEip);
      off &= 0xffff;
    }
    c.loadSegReal(CS, sel);
    r[R_EIP] = off;
    return;
  }
  sel &= 0xffff;
  if ((sel & ~3) === 0) c.raise(EXC_GP, 0);
  const d: Desc = { lo: 0, hi: 0 };
  if (!readDesc(c, sel, d)) c.raise(EXC_GP, sel & ~3);
  const attr = descAttr(d);
  const cpl = r[R_CPL];
  const dpl = (attr >> 5) & 3;
  if ((attr & 0x18) === 0x18) {
    if ((attr & 4) !== 0) {
      if (dpl > cpl) c.raise(EXC_GP, sel & ~3);
    } else if ((sel & 3) > cpl || dpl !== cpl) c.raise(EXC_GP, sel & ~3);
    if ((attr & ATTR_P) === 0) c.raise(EXC_NP, sel & ~3);
    if (!op32) off &= 0xffff;
    if (off >>> 0 > descLimit(d) >>> 0) c.raise(EXC_GP, 0);
    // Check the pushes fit before changing anything.
    const spBefore = r[ESP];
    try {
      if (op32) {
        c.push32(oldCs);
        c.push32(retEip);
      } else {
        c.push16(oldCs);
        c.push16(retEip);
      }
    } catch (e) {
      r[ESP] = spBefore;
      throw e;
    }
    loadCs(c, sel, d, cpl);
    r[R_EIP] = off;
    return;
  }
  const type = attr & 0x1f;
  if (type === 0x0c || type === 0x04) {
    callGate(c, sel, d, retEip);
    return;
  }
  if (type === 0x05 || type === 0x01 || type === 0x09) {
    if (dpl < cpl || dpl < (sel & 3)) c.raise(EXC_GP, sel & ~3);
    if ((attr & ATTR_P) === 0) c.raise(EXC_NP, sel & ~3);
    const tss = type === 0x05 ? d.lo >>> 16 : sel;
    taskSwitch(c, tss, TS_CALL, retEip);
    return;
  }
  c.raise(EXC_GP, sel & ~3);
}

/** CALL through a call gate, with a stack switch and parameter copy when going inward (SDM Vol. 3A, 5.8.5). */
function callGate(c: CPU, sel: number, g: Desc, retEip: number): void {
  const r = c.r;
  const cpl = r[R_CPL];
  const gattr = descAttr(g);
  const gdpl = (gattr >> 5) & 3;
  if (gdpl < cpl || gdpl < (sel & 3)) c.raise(EXC_GP, sel & ~3);
  if ((gattr & ATTR_P) === 0) c.raise(EXC_NP, sel & ~3);
  const gate32 = (gattr & 8) !== 0;
  const csel = g.lo >>> 16;
  const goff = gate32 ? (g.lo & 0xffff) | (g.hi & 0xffff0000) : g.lo & 0xffff;
  const params = g.hi & 0x1f;
  if ((csel & ~3) === 0) c.raise(EXC_GP, 0);
  const d: Desc = { lo: 0, hi: 0 };
  if (!readDesc(c, csel, d)) c.raise(EXC_GP, csel & ~3);
  const attr = descAttr(d);
  const dpl = (attr >> 5) & 3;
  if ((attr & 0x18) !== 0x18 || dpl > cpl) c.raise(EXC_GP, csel & ~3);
  if ((attr & ATTR_P) === 0) c.raise(EXC_NP, csel & ~3);
  if (goff >>> 0 > descLimit(d) >>> 0) c.raise(EXC_GP, 0);
  const size = gate32 ? 4 : 2;
  const oldCs = r[R_SEL + CS];
  if ((attr & 4) === 0 && dpl < cpl) {
    tssStack(c, dpl, 0);
    const newSs = tssSs;
    const newEsp = tssEsp;
    if ((newSs & ~3) === 0) c.raise(EXC_TS, 0);
    const sd: Desc = { lo: 0, hi: 0 };
    if (!readDesc(c, newSs, sd)) c.raise(EXC_TS, newSs & ~3);
    const sattr = descAttr(sd);
    if ((newSs & 3) !== dpl || ((sattr >> 5) & 3) !== dpl || (sattr & 0x1a) !== 0x12)
      c.raise(EXC_TS, newSs & ~3);
    if ((sattr & ATTR_P) === 0) c.raise(EXC_SS, newSs & ~3);
    const ssBase = descBase(sd);
    const ssMask = (sattr & ATTR_DB) !== 0 ? -1 : 0xffff;
    let sp = newEsp & ssMask;
    const oldSs = r[R_SEL + SS];
    const oldEsp = r[ESP];
    const oldSsMask = c.ss32 ? -1 : 0xffff;
    sp = pushTo(c, ssBase, ssMask, sp, oldSs, size);
    sp = pushTo(c, ssBase, ssMask, sp, oldEsp, size);
    for (let k = params - 1; k >= 0; k--) {
      const src = (r[R_SEGBASE + SS] + ((oldEsp + k * size) & oldSsMask)) | 0;
      const v = size === 4 ? c.readLinear32Sup(src) : c.readLinear16Sup(src);
      sp = pushTo(c, ssBase, ssMask, sp, v, size);
    }
    sp = pushTo(c, ssBase, ssMask, sp, oldCs, size);
    sp = pushTo(c, ssBase, ssMask, sp, retEip, size);
    setAccessed(c, newSs, sd);
    c.setSegCache(SS, (newSs & ~3) | dpl, ssBase, descLimit(sd), sattr);
    setEspMasked(c, sp, ssMask);
    loadCs(c, csel, d, dpl);
  } else {
    const spBefore = r[ESP];
    try {
      if (size === 4) {
        c.push32(oldCs);
        c.push32(retEip);
      } else {
        c.push16(oldCs);
        c.push16(retEip);
      }
    } catch (e) {
      r[ESP] = spBefore;
      throw e;
    }
    loadCs(c, csel, d, cpl);
  }
  r[R_EIP] = goff;
}

/** The word (op32: dword) at SS:(sp + o) for RETF and IRET, read before any state changes. */
function stackAt(c: CPU, sp: number, o: number, ssMask: number, op32: boolean): number {
  const lin = c.segRead(SS, (sp + o) & ssMask, op32 ? 4 : 2);
  return op32 ? c.rd32(lin) : c.rd16(lin);
}

/** RETF [imm16] (SDM Vol. 2B, RET). */
export function farReturn(c: CPU, op32: boolean, extra: number): void {
  const r = c.r;
  const size = op32 ? 4 : 2;
  const ssMask = c.ss32 ? -1 : 0xffff;
  const sp = r[ESP] & ssMask;
  const ssBase = r[R_SEGBASE + SS];
  const eip = stackAt(c, sp, 0, ssMask, op32);
  const sel = stackAt(c, sp, size, ssMask, op32) & 0xffff;
  if (!c.protectedMode || c.v86) {
    c.loadSegReal(CS, sel);
    r[R_EIP] = op32 ? eip : eip & 0xffff;
    setEspMasked(c, (sp + 2 * size + extra) & ssMask, ssMask);
    return;
  }
  void ssBase;
  const cpl = r[R_CPL];
  const rpl = sel & 3;
  if ((sel & ~3) === 0) c.raise(EXC_GP, 0);
  const d = codeDesc;
  if (!readDesc(c, sel, d)) c.raise(EXC_GP, sel & ~3);
  const attr = descAttr(d);
  const dpl = (attr >> 5) & 3;
  if ((attr & 0x18) !== 0x18 || rpl < cpl) c.raise(EXC_GP, sel & ~3);
  if ((attr & 4) !== 0 ? dpl > rpl : dpl !== rpl) c.raise(EXC_GP, sel & ~3);
  if ((attr & ATTR_P) === 0) c.raise(EXC_NP, sel & ~3);
  const off = op32 ? eip : eip & 0xffff;
  if (rpl === cpl) {
    if (off >>> 0 > descLimit(d) >>> 0) c.raise(EXC_GP, 0);
    loadCs(c, sel, d, cpl);
    r[R_EIP] = off;
    setEspMasked(c, (sp + 2 * size + extra) & ssMask, ssMask);
    return;
  }
  // Return to an outer privilege level: pop SS:ESP too.
  const newEsp = stackAt(c, sp, 2 * size + extra, ssMask, op32);
  const newSs = stackAt(c, sp, 3 * size + extra, ssMask, op32) & 0xffff;
  returnToOuter(c, sel, d, off, newSs, newEsp, extra, rpl);
}

function returnToOuter(
  c: CPU,
  sel: number,
  d: Desc,
  off: number,
  newSs: number,
  newEsp: number,
  extra: number,
  rpl: number,
): void {
  const r = c.r;
  if ((newSs & ~3) === 0) c.raise(EXC_GP, 0);
  const sd = stackDesc;
  if (!readDesc(c, newSs, sd)) c.raise(EXC_GP, newSs & ~3);
  const sattr = descAttr(sd);
  if ((newSs & 3) !== rpl || ((sattr >> 5) & 3) !== rpl || (sattr & 0x1a) !== 0x12)
    c.raise(EXC_GP, newSs & ~3);
  if ((sattr & ATTR_P) === 0) c.raise(EXC_SS, newSs & ~3);
  if (off >>> 0 > descLimit(d) >>> 0) c.raise(EXC_GP, 0);
  loadCs(c, sel, d, rpl);
  r[R_EIP] = off;
  setAccessed(c, newSs, sd);
  c.setSegCache(SS, newSs, descBase(sd), descLimit(sd), sattr);
  const mask = (sattr & ATTR_DB) !== 0 ? -1 : 0xffff;
  setEspMasked(c, (newEsp + extra) & mask, mask);
  clearSegsForCpl(c);
}

// ---------------------------------------------------------------- IRET

/** IRET/IRETD (SDM Vol. 2A, IRET). */
export function iret(c: CPU, op32: boolean): void {
  const r = c.r;
  const size = op32 ? 4 : 2;
  if (!c.protectedMode) {
    const eip = op32 ? c.pop32() : c.pop16();
    const cs = op32 ? c.pop32() : c.pop16();
    const fl = op32 ? c.pop32() : c.pop16();
    c.loadSegReal(CS, cs);
    r[R_EIP] = op32 ? eip : eip & 0xffff;
    const keep = op32 ? EFLAGS_VM | (1 << 20) | (1 << 19) : ~0xffff;
    c.setEflags((fl & ~keep) | (c.getEflags() & keep));
    c.nmiMasked = false;
    return;
  }
  if (c.v86) {
    // IOPL-sensitive in v8086 mode (SDM Vol. 3A, 20.2.7).
    if ((r[R_EFLAGS] & EFLAGS_IOPL) !== EFLAGS_IOPL) c.raise(EXC_GP, 0);
    const eip = op32 ? c.pop32() : c.pop16();
    const cs = op32 ? c.pop32() : c.pop16();
    const fl = op32 ? c.pop32() : c.pop16();
    c.loadSegReal(CS, cs);
    r[R_EIP] = op32 ? eip : eip & 0xffff;
    const keep = EFLAGS_VM | EFLAGS_IOPL | (op32 ? 0 : ~0xffff) | (1 << 20) | (1 << 19);
    c.setEflags((fl & ~keep) | (c.getEflags() & keep));
    c.nmiMasked = false;
    return;
  }
  c.nmiMasked = false;
  if ((r[R_EFLAGS] & EFLAGS_NT) !== 0) {
    // Return from a nested task: back-link in the current TSS.
    const link = c.readLinear16Sup(r[R_SEGBASE + TR]);
    taskSwitch(c, link, TS_IRET, r[R_EIP]);
    return;
  }
  const ssMask = c.ss32 ? -1 : 0xffff;
  const sp = r[ESP] & ssMask;
  const eip = stackAt(c, sp, 0, ssMask, op32);
  const sel = stackAt(c, sp, size, ssMask, op32) & 0xffff;
  let fl = stackAt(c, sp, 2 * size, ssMask, op32);
  if (!op32) fl = (fl & 0xffff) | (c.getEflags() & 0xffff0000);
  const cpl = r[R_CPL];
  if (op32 && (fl & EFLAGS_VM) !== 0 && cpl === 0) {
    // Return to virtual-8086 mode: pop ESP, SS, ES, DS, FS, GS too.
    const newEsp = stackAt(c, sp, 12, ssMask, op32);
    const newSs = stackAt(c, sp, 16, ssMask, op32);
    const es = stackAt(c, sp, 20, ssMask, op32);
    const ds = stackAt(c, sp, 24, ssMask, op32);
    const fs = stackAt(c, sp, 28, ssMask, op32);
    const gs = stackAt(c, sp, 32, ssMask, op32);
    c.setEflags(fl);
    r[R_CPL] = 3;
    c.updateCpl();
    c.loadSegReal(CS, sel);
    c.loadSegReal(SS, newSs);
    c.loadSegReal(ES, es);
    c.loadSegReal(DS, ds);
    c.loadSegReal(FS, fs);
    c.loadSegReal(GS, gs);
    r[ESP] = newEsp;
    r[R_EIP] = eip & 0xffff;
    c.modeChanged();
    return;
  }
  const rpl = sel & 3;
  if ((sel & ~3) === 0) c.raise(EXC_GP, 0);
  const d = codeDesc;
  if (!readDesc(c, sel, d)) c.raise(EXC_GP, sel & ~3);
  const attr = descAttr(d);
  const dpl = (attr >> 5) & 3;
  if ((attr & 0x18) !== 0x18 || rpl < cpl) c.raise(EXC_GP, sel & ~3);
  if ((attr & 4) !== 0 ? dpl > rpl : dpl !== rpl) c.raise(EXC_GP, sel & ~3);
  if ((attr & ATTR_P) === 0) c.raise(EXC_NP, sel & ~3);
  const off = op32 ? eip : eip & 0xffff;
  // Which flags may change: IOPL only at CPL 0, IF only when CPL <= IOPL (SDM Vol. 2A, IRET).
  const iopl = (r[R_EFLAGS] >> 12) & 3;
  let mask = 0x257fd5 | EFLAGS_RF | EFLAGS_NT;
  if (cpl > 0) mask &= ~EFLAGS_IOPL;
  if (cpl > iopl) mask &= ~EFLAGS_IF;
  mask &= ~EFLAGS_VM;
  const newFlags = (fl & mask) | (c.getEflags() & ~mask);
  if (rpl === cpl) {
    if (off >>> 0 > descLimit(d) >>> 0) c.raise(EXC_GP, 0);
    loadCs(c, sel, d, cpl);
    r[R_EIP] = off;
    setEspMasked(c, (sp + 3 * size) & ssMask, ssMask);
    c.setEflags(newFlags);
    return;
  }
  const newEsp = stackAt(c, sp, 3 * size, ssMask, op32);
  const newSs = stackAt(c, sp, 4 * size, ssMask, op32) & 0xffff;
  returnToOuter(c, sel, d, off, newSs, newEsp, 0, rpl);
  c.setEflags(newFlags);
}

// ---------------------------------------------------------------- task switch (SDM Vol. 3A, 7.3)

export const TS_JMP = 0;
export const TS_CALL = 1;
export const TS_IRET = 2;

export function taskSwitch(c: CPU, sel: number, kind: number, retEip: number): void {
  const r = c.r;
  const d: Desc = { lo: 0, hi: 0 };
  if ((sel & 4) !== 0 || !readDesc(c, sel, d)) c.raise(EXC_TS, sel & ~3);
  const attr = descAttr(d);
  const type = attr & 0x1f;
  // New TSS must be available (busy for IRET).
  if (kind === TS_IRET) {
    if (type !== 0x0b && type !== 0x03) c.raise(EXC_TS, sel & ~3);
  } else if (type !== 0x09 && type !== 0x01) c.raise(EXC_GP, sel & ~3);
  if ((attr & ATTR_P) === 0) c.raise(EXC_NP, sel & ~3);
  const newIs32 = (type & 8) !== 0;
  const newBase = descBase(d);
  const newLimit = descLimit(d) >>> 0;
  if (newLimit < (newIs32 ? 0x67 : 0x2b)) c.raise(EXC_TS, sel & ~3);

  const oldSel = r[R_SEL + TR];
  const oldBase = r[R_SEGBASE + TR];
  const oldIs32 = (r[R_SEGATTR + TR] & 8) !== 0;
  let flags = c.getEflags();
  if (kind === TS_IRET) flags &= ~EFLAGS_NT;

  // Read the new task's state first (faults here leave the old task intact).
  const rd32 = (o: number) => c.readLinear32Sup(newBase + o);
  const rd16 = (o: number) => c.readLinear16Sup(newBase + o);
  let nEip: number;
  let nFlags: number;
  const nRegs = new Int32Array(8);
  const nSegs = new Int32Array(6);
  let nLdt: number;
  let nCr3 = r[R_CR3];
  if (newIs32) {
    nCr3 = rd32(0x1c);
    nEip = rd32(0x20);
    nFlags = rd32(0x24);
    for (let k = 0; k < 8; k++) nRegs[k] = rd32(0x28 + k * 4);
    for (let k = 0; k < 6; k++) nSegs[k] = rd16(0x48 + k * 4);
    nLdt = rd16(0x60);
  } else {
    nEip = rd16(0x0e);
    nFlags = rd16(0x10) | (flags & 0xffff0000 & ~EFLAGS_VM);
    for (let k = 0; k < 8; k++) nRegs[k] = rd16(0x12 + k * 2) | (r[k] & 0xffff0000);
    for (let k = 0; k < 4; k++) nSegs[k] = rd16(0x22 + k * 2);
    nLdt = rd16(0x2a);
  }

  // Save the old task's state.
  const w32 = (o: number, v: number) => c.writeLinear32Sup(oldBase + o, v);
  const w16 = (o: number, v: number) => c.writeLinear16Sup(oldBase + o, v);
  if (oldIs32) {
    w32(0x20, retEip);
    w32(0x24, flags);
    for (let k = 0; k < 8; k++) w32(0x28 + k * 4, r[k]);
    for (let k = 0; k < 6; k++) w16(0x48 + k * 4, r[R_SEL + k]);
  } else {
    w16(0x0e, retEip);
    w16(0x10, flags);
    for (let k = 0; k < 8; k++) w16(0x12 + k * 2, r[k]);
    for (let k = 0; k < 4; k++) w16(0x22 + k * 2, r[R_SEL + k]);
  }
  const gdt = r[R_GDTR_BASE];
  // Busy bits: clear the old one for JMP/IRET, set the new one for JMP/CALL.
  if (kind !== TS_CALL) {
    const a = gdt + (oldSel & ~7) + 4;
    c.writeLinear32Sup(a, c.readLinear32Sup(a) & ~0x200);
  }
  if (kind === TS_CALL) {
    c.writeLinear16Sup(newBase, oldSel);
    nFlags |= EFLAGS_NT;
  }
  if (kind !== TS_IRET) {
    const a = gdt + (sel & ~7) + 4;
    c.writeLinear32Sup(a, c.readLinear32Sup(a) | 0x200);
    d.hi |= 0x200;
  }
  // Load TR and the new state.
  c.setSegCache(TR, sel, newBase, descLimit(d), descAttr(d));
  r[R_CR0] |= CR0_TS;
  if (newIs32 && nCr3 !== r[R_CR3]) {
    r[R_CR3] = nCr3;
    c.flushTlb(false);
  }
  for (let k = 0; k < 8; k++) r[k] = nRegs[k];
  r[R_EIP] = nEip;
  c.setEflags(nFlags | 2);
  const v86 = (nFlags & EFLAGS_VM) !== 0;
  // Selectors are loaded without checks first so a fault below reports in the new task.
  for (let k = 0; k < 6; k++) r[R_SEL + k] = nSegs[k];
  r[R_SEL + LDTR] = nLdt;
  if (v86) {
    setCpl(c, 3);
    for (let k = 0; k < 6; k++) c.loadSegReal(k, nSegs[k]);
    c.modeChanged();
    return;
  }
  // LDT
  if ((nLdt & ~3) === 0) c.setSegCache(LDTR, 0, 0, 0, 0);
  else {
    const ld: Desc = { lo: 0, hi: 0 };
    if ((nLdt & 4) !== 0 || !readDesc(c, nLdt, ld)) c.raise(EXC_TS, nLdt & ~3);
    if ((descAttr(ld) & 0x1f) !== 0x02) c.raise(EXC_TS, nLdt & ~3);
    if ((descAttr(ld) & ATTR_P) === 0) c.raise(EXC_TS, nLdt & ~3);
    c.setSegCache(LDTR, nLdt, descBase(ld), descLimit(ld), descAttr(ld));
  }
  // CS sets the new CPL; then SS and data segments with their checks (faults are #TS).
  const csSel = nSegs[CS];
  const cd: Desc = { lo: 0, hi: 0 };
  if ((csSel & ~3) === 0 || !readDesc(c, csSel, cd)) c.raise(EXC_TS, csSel & ~3);
  const cattr = descAttr(cd);
  if ((cattr & 0x18) !== 0x18) c.raise(EXC_TS, csSel & ~3);
  if ((cattr & ATTR_P) === 0) c.raise(EXC_NP, csSel & ~3);
  c.setSegCache(CS, csSel, descBase(cd), descLimit(cd), cattr);
  setCpl(c, csSel & 3);
  try {
    loadSeg(c, SS, nSegs[SS]);
    for (const s of [ES, DS, FS, GS]) loadSeg(c, s, nSegs[s]);
  } catch (e) {
    if (c.excVector === EXC_GP) c.excVector = EXC_TS;
    throw e;
  }
  c.modeChanged();
}

// ---------------------------------------------------------------- descriptor-table instructions

export function lldt(c: CPU, sel: number): void {
  sel &= 0xffff;
  if ((sel & ~3) === 0) {
    c.setSegCache(LDTR, sel, 0, 0, 0);
    return;
  }
  const d: Desc = { lo: 0, hi: 0 };
  if ((sel & 4) !== 0 || !readDesc(c, sel, d)) c.raise(EXC_GP, sel & ~3);
  const attr = descAttr(d);
  if ((attr & 0x1f) !== 0x02) c.raise(EXC_GP, sel & ~3);
  if ((attr & ATTR_P) === 0) c.raise(EXC_NP, sel & ~3);
  c.setSegCache(LDTR, sel, descBase(d), descLimit(d), attr);
}

export function ltr(c: CPU, sel: number): void {
  sel &= 0xffff;
  const d: Desc = { lo: 0, hi: 0 };
  if ((sel & ~3) === 0) c.raise(EXC_GP, 0);
  if ((sel & 4) !== 0 || !readDesc(c, sel, d)) c.raise(EXC_GP, sel & ~3);
  const attr = descAttr(d);
  const type = attr & 0x1f;
  if (type !== 0x09 && type !== 0x01) c.raise(EXC_GP, sel & ~3);
  if ((attr & ATTR_P) === 0) c.raise(EXC_NP, sel & ~3);
  const a = c.r[R_GDTR_BASE] + (sel & ~7) + 4;
  c.writeLinear32Sup(a, c.readLinear32Sup(a) | 0x200);
  c.setSegCache(TR, sel, descBase(d), descLimit(d), attr | 2);
}

/** LAR/LSL/VERR/VERW visibility check: returns the descriptor or null (ZF=0). */
export function probeDesc(c: CPU, sel: number, forLsl: boolean, verify: 0 | 1 | 2): Desc | null {
  sel &= 0xffff;
  if ((sel & ~3) === 0) return null;
  // The caller reads the result at once (VERW runs at every return to user mode in Linux).
  const d = probeScratch;
  if (!readDesc(c, sel, d)) return null;
  const attr = descAttr(d);
  const type = attr & 0x1f;
  const dpl = (attr >> 5) & 3;
  const cpl = c.r[R_CPL];
  const rpl = sel & 3;
  if ((attr & 0x10) === 0) {
    // System descriptors: LAR accepts TSS, LDT, call and task gates; LSL excludes gates.
    const ok = forLsl ? [1, 2, 3, 9, 11] : [1, 2, 3, 4, 5, 9, 11, 12];
    if (verify !== 0 || !ok.includes(type)) return null;
  } else if (verify === 1) {
    if ((type & 0xa) === 0x8) return null; // execute-only code is not readable
  } else if (verify === 2) {
    if ((type & 0xa) !== 0x2) return null; // writable data only
  }
  const conformingCode = (attr & 0x1c) === 0x1c;
  if (!conformingCode && (dpl < cpl || dpl < rpl)) return null;
  return d;
}

export function isIoplOk(c: CPU): boolean {
  return c.r[R_CPL] <= ((c.r[R_EFLAGS] >> 12) & 3);
}

/** I/O permission check for IN/OUT/INS/OUTS (SDM Vol. 1, 19.5): IOPL, then the TSS bitmap. */
export function checkIoPermission(c: CPU, port: number, size: number): void {
  if (!c.protectedMode) return;
  if (!c.v86 && isIoplOk(c)) return;
  const r = c.r;
  const trAttr = r[R_SEGATTR + TR];
  if ((trAttr & 0xf) !== 0x9 && (trAttr & 0xf) !== 0xb) c.raise(EXC_GP, 0);
  const base = r[R_SEGBASE + TR];
  const limit = r[R_SEGLIMIT + TR] >>> 0;
  if (limit < 0x67) c.raise(EXC_GP, 0);
  const mapBase = c.readLinear16Sup(base + 0x66);
  const off = mapBase + (port >>> 3);
  if (off + 1 > limit) c.raise(EXC_GP, 0);
  const bits = c.readLinear16Sup(base + off);
  const mask = ((1 << size) - 1) << (port & 7);
  if ((bits & mask) !== 0) c.raise(EXC_GP, 0);
}

export { DS, R_CR0 };
