// The x87 FPU (SDM Vol. 1, chapter 8; instruction pages in Vol. 2). Escape opcodes D8-DF and WAIT.
//
// Representation. The architectural x87 state lives in the CPU state block at FPU_BYTE_OFFSET, as
// Int32 slots of c.r (X_* below), so a JIT can reach it: FCW, FSW without its TOP field, TOP, the
// abridged tag (bit k set = physical register Rk non-empty; the full 2-bit tags are computed from
// the register contents whenever they are stored, as P6 hardware does, SDM Vol. 1, 8.1.7), the
// last instruction/operand pointers and opcode, MXCSR, and the eight physical registers R0..R7,
// each held bit-exactly as its 80-bit double extended-precision encoding (mantissa low 32, mantissa
// high 32 with the explicit integer bit, sign|exponent 16). ST(i) is R[(TOP + i) & 7]. Loads and
// stores of m80 copy the encoding, so NaN payloads, denormals, pseudo-denormals and unnormals
// round-trip exactly. Arithmetic unpacks operands into sign / BigInt significand / exponent
// (fpu/float80.ts), computes exactly and rounds once per the precision (PC) and rounding (RC) controls,
// so + - * / sqrt, FPREM, FSCALE, FRNDINT and every conversion are correctly rounded as the IEEE
// extended format requires. Transcendentals (FSIN ... FYL2XP1) are computed in binary64 with Math.*
// and widened: they are within about 2^-52 relative of the true value, not within the 1 ulp of the
// 64-bit significand that hardware achieves.
import type { CPU } from "./cpu.ts";
import { tagOf } from "./fpu/float80.ts";
import { IF_OP32, type Insn } from "./insn.ts";
import {
  CR0_EM,
  CR0_MP,
  CR0_NE,
  CR0_PE,
  CR0_TS,
  CS,
  EAX,
  EFLAGS_VM,
  EXC_MF,
  EXC_NM,
  EXC_UD,
  FPU_BYTE_OFFSET,
  R_CR0,
  R_EFLAGS,
  R_SEL,
} from "./state.ts";

// ---------------------------------------------------------------- state block slots (c.r indices)

export const X87_BASE = FPU_BYTE_OFFSET >> 2;
export const X_FCW = X87_BASE + 0;
/** Status word with the TOP field (bits 11..13) zero; TOP is in X_TOP. */
export const X_FSW = X87_BASE + 1;
export const X_TOP = X87_BASE + 2;
/** Abridged tag: bit k set when physical register Rk is not empty. */
export const X_TAGS = X87_BASE + 3;
export const X_FIP = X87_BASE + 4;
export const X_FCS = X87_BASE + 5;
/** Last non-control opcode, 11 bits: (first byte & 7) << 8 | ModRM. */
export const X_FOP = X87_BASE + 6;
export const X_FDP = X87_BASE + 7;
export const X_FDS = X87_BASE + 8;
export const X_MXCSR = X87_BASE + 9;
/** Physical register k: X_REG + 4k = mantissa bits 0..31, +1 = bits 32..63, +2 = sign << 15 | exponent. */
export const X_REG = X87_BASE + 16;

// FSW bits (SDM Vol. 1, 8.1.3).
export const FSW_IE = 1 << 0;
export const FSW_DE = 1 << 1;
export const FSW_ZE = 1 << 2;
export const FSW_OE = 1 << 3;
export const FSW_UE = 1 << 4;
export const FSW_PE = 1 << 5;
export const FSW_SF = 1 << 6;
export const FSW_ES = 1 << 7;
export const FSW_C0 = 1 << 8;
export const FSW_C1 = 1 << 9;
export const FSW_C2 = 1 << 10;
export const FSW_TOP_SHIFT = 11;
export const FSW_TOP = 7 << 11;
export const FSW_C3 = 1 << 14;
export const FSW_B = 1 << 15;
export const FSW_CC = FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3;
export const FSW_EXC = 0x3f;

// FCW bits (SDM Vol. 1, 8.1.5).
export const FCW_IM = 1 << 0;
export const FCW_DM = 1 << 1;
export const FCW_ZM = 1 << 2;
export const FCW_OM = 1 << 3;
export const FCW_UM = 1 << 4;
export const FCW_PM = 1 << 5;
export const FCW_PC = 3 << 8;
export const FCW_RC = 3 << 10;
export const FCW_X = 1 << 12;
/** Bits that read back as written; bit 6 always reads 1 (SDM Vol. 1, Figure 8-6). */
const FCW_WRITABLE = 0x1f3f;

// Tag values (SDM Vol. 1, 8.1.7).
export const TAG_VALID = 0;
export const TAG_ZERO = 1;
export const TAG_SPECIAL = 2;
export const TAG_EMPTY = 3;

export const MXCSR_DEFAULT = 0x1f80;
/** Bits of MXCSR a P6 with SSE would accept (FXRSTOR #GP otherwise); DAZ is not offered. */
const MXCSR_MASK = 0xffbf;

// ---------------------------------------------------------------- the unit

export class X87 {
  /**
   * FERR# output (SDM Vol. 1, 8.7 and Appendix D): called with true when an unmasked exception is
   * found pending at a waiting instruction while CR0.NE = 0, with false when the exception flags are
   * cleared. The PC board wires it to IRQ13. Unlike a real P6, which freezes at the waiting
   * instruction until the IRQ13 handler runs, execution continues (the handler still runs at the
   * next interrupt window), as in other emulators.
   */
  onFerr: ((asserted: boolean) => void) | null = null;
  ferr = false;
  /** IGNNE# input: the board asserts it when the IRQ13 handler writes port F0h. */
  ignne = false;

  constructor(readonly c: CPU) {}

  /** Power-on state (SDM Vol. 3A, Table 9-1): FCW 0040h, FSW 0, all tags zero, registers +0. */
  reset(): void {
    const r = this.c.r;
    for (let k = X87_BASE; k < X_REG + 32; k++) r[k] = 0;
    r[X_FCW] = 0x40;
    r[X_TAGS] = 0xff;
    r[X_MXCSR] = MXCSR_DEFAULT;
    this.setFerr(false);
    this.ignne = false;
  }

  setFerr(on: boolean): void {
    if (on === this.ferr) return;
    this.ferr = on;
    if (!on) this.ignne = false;
    this.onFerr?.(on);
  }

  // Views for tests and the monitor.
  get fcw(): number {
    return this.c.r[X_FCW];
  }
  get fsw(): number {
    return fswValue(this.c.r);
  }
  get ftw(): number {
    return fullTagWord(this.c.r);
  }
  /** ST(i) as its 80-bit encoding: [mantissa low, mantissa high, sign|exponent]. */
  st(i: number): [number, number, number] {
    const r = this.c.r;
    const p = X_REG + (((r[X_TOP] + i) & 7) << 2);
    return [r[p] >>> 0, r[p + 1] >>> 0, r[p + 2] & 0xffff];
  }
}

/** Install an x87 unit in the CPU (CPUID then reports FPU). */
export function attachFpu(c: CPU): X87 {
  const u = new X87(c);
  c.fpu = u;
  u.reset();
  return u;
}

function unit(c: CPU): X87 {
  return c.fpu as X87;
}

// ---------------------------------------------------------------- helpers on the state block

function fswValue(r: Int32Array): number {
  return (r[X_FSW] & ~FSW_TOP) | ((r[X_TOP] & 7) << FSW_TOP_SHIFT);
}

function regTag(r: Int32Array, k: number): number {
  if (((r[X_TAGS] >> k) & 1) === 0) return TAG_EMPTY;
  const p = X_REG + (k << 2);
  return tagOf(r[p + 2], r[p + 1], r[p]);
}

function fullTagWord(r: Int32Array): number {
  let w = 0;
  for (let k = 0; k < 8; k++) w |= regTag(r, k) << (2 * k);
  return w;
}

/** ES (and B, which mirrors it on the 387 and later) follow the unmasked exception flags. */
function updateES(c: CPU): void {
  const r = c.r;
  const pending = r[X_FSW] & ~r[X_FCW] & FSW_EXC;
  if (pending !== 0) r[X_FSW] |= FSW_ES | FSW_B;
  else {
    r[X_FSW] &= ~(FSW_ES | FSW_B);
    const u = unit(c);
    if (u.ferr) u.setFerr(false);
  }
}

/** Raise the exception flags `f`; ES/B when any is unmasked. */
function signal(c: CPU, f: number): void {
  if (f === 0) return;
  const r = c.r;
  r[X_FSW] |= f;
  if ((f & ~r[X_FCW] & FSW_EXC) !== 0) r[X_FSW] |= FSW_ES | FSW_B;
}

/**
 * A waiting x87 instruction found FSW.ES set (SDM Vol. 1, 8.6): #MF with CR0.NE = 1, otherwise the
 * FERR# pin (IRQ13 on a PC) unless IGNNE# is asserted.
 */
function pendingException(c: CPU): void {
  if ((c.r[R_CR0] & CR0_NE) !== 0) c.raise(EXC_MF);
  const u = unit(c);
  if (!u.ignne) u.setFerr(true);
}

// ---------------------------------------------------------------- WAIT and the escape dispatcher

export function fwait(c: CPU, _i: Insn): void {
  const r = c.r;
  if ((r[R_CR0] & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) c.raise(EXC_NM);
  if ((r[X_FSW] & FSW_ES) !== 0) pendingException(c);
}

/** Whether the escape is one of the non-waiting control instructions (FN*). */
function noWait(i: Insn): boolean {
  const op = i.op & 7;
  if (i.mod !== 3) return (op === 1 || op === 5) && i.reg >= 6; // FNSTENV FNSTCW / FNSAVE FNSTSW
  if (op === 3) return i.reg === 4 && i.rm <= 4; // FNENI FNDISI FNCLEX FNINIT FNSETPM
  return op === 7 && i.reg === 4 && i.rm === 0; // FNSTSW AX
}

/** Control instructions leave FIP/FCS/FOP/FDP/FDS alone (SDM Vol. 1, 8.1.8). */
function isControl(i: Insn): boolean {
  const op = i.op & 7;
  if (i.mod !== 3) return ((op === 1 || op === 5) && i.reg >= 4) || false;
  return (op === 3 && i.reg === 4) || (op === 7 && i.reg === 4);
}

export function x87Escape(c: CPU, i: Insn): void {
  const r = c.r;
  if ((r[R_CR0] & (CR0_EM | CR0_TS)) !== 0) c.raise(EXC_NM);
  if ((r[X_FSW] & FSW_ES) !== 0 && !noWait(i)) pendingException(c);
  if (!isControl(i)) {
    r[X_FOP] = ((i.op & 7) << 8) | (i.mod << 6) | (i.reg << 3) | i.rm;
    r[X_FIP] = c.eipStart;
    r[X_FCS] = r[R_SEL + CS];
    if (i.mod !== 3) {
      r[X_FDP] = c.eaOffset(i);
      r[X_FDS] = r[R_SEL + i.seg];
    }
  }
  if (i.mod !== 3) MEM_OPS[((i.op & 7) << 3) | i.reg](c, i);
  else REG_OPS[((i.op & 7) << 3) | i.reg](c, i);
}

type Op = (c: CPU, i: Insn) => void;

function ud(c: CPU, _i: Insn): void {
  c.raise(EXC_UD);
}

const MEM_OPS: Op[] = new Array(64).fill(ud);
const REG_OPS: Op[] = new Array(64).fill(ud);

function defMem(op: number, reg: number, h: Op): void {
  MEM_OPS[((op & 7) << 3) | reg] = h;
}

function defReg(op: number, reg: number, h: Op): void {
  REG_OPS[((op & 7) << 3) | reg] = h;
}

/** Register forms selected by the full ModRM byte (D9 E0-FF and friends): one handler per rm. */
function defRegRm(op: number, reg: number, hs: (Op | undefined)[]): void {
  const table = hs.map((h) => h ?? ud);
  defReg(op, reg, (c, i) => table[i.rm](c, i));
}

// ---------------------------------------------------------------- control instructions

/** FNINIT state (SDM Vol. 1, Table 8-10... FINIT page): registers keep their contents. */
function finit(c: CPU): void {
  const r = c.r;
  r[X_FCW] = 0x37f;
  r[X_FSW] = 0;
  r[X_TOP] = 0;
  r[X_TAGS] = 0;
  r[X_FIP] = 0;
  r[X_FCS] = 0;
  r[X_FOP] = 0;
  r[X_FDP] = 0;
  r[X_FDS] = 0;
  updateES(c);
}

function setFcw(c: CPU, v: number): void {
  c.r[X_FCW] = (v & FCW_WRITABLE) | 0x40;
  updateES(c);
}

function fnop(_c: CPU, _i: Insn): void {}

defRegRm(3, 4, [
  fnop, // FNENI: no-op on the 387 and later
  fnop, // FNDISI
  (c) => {
    // FNCLEX
    c.r[X_FSW] &= ~(FSW_EXC | FSW_SF | FSW_ES | FSW_B);
    updateES(c);
  },
  (c) => finit(c), // FNINIT
  fnop, // FNSETPM
]);

defRegRm(7, 4, [(c) => c.setReg16(EAX, fswValue(c.r))]); // FNSTSW AX

defMem(1, 5, (c, i) => setFcw(c, c.rd16(c.eaR(i, 2)))); // FLDCW m16
defMem(1, 7, (c, i) => c.wr16(c.eaW(i, 2), c.r[X_FCW])); // FNSTCW m16
defMem(5, 7, (c, i) => c.wr16(c.eaW(i, 2), fswValue(c.r))); // FNSTSW m16

// ---- FNSTENV / FLDENV / FNSAVE / FRSTOR (SDM Vol. 1, 8.1.10 and Figures 8-9 .. 8-12)

function realFormat(c: CPU): boolean {
  return (c.r[R_CR0] & CR0_PE) === 0 || (c.r[R_EFLAGS] & EFLAGS_VM) !== 0;
}

/** Scratch for an environment/register image being loaded, so a fault leaves the state untouched. */
const img = new Uint8Array(512);

function envSize(i: Insn): number {
  return (i.flags & IF_OP32) !== 0 ? 28 : 14;
}

/** Write the environment at `lin`; the reserved upper halves of the 32-bit forms read as FFFFh, as on hardware. */
function storeEnv(c: CPU, i: Insn, lin: number): void {
  const r = c.r;
  const real = realFormat(c);
  const fcw = r[X_FCW];
  const fsw = fswValue(r);
  const ftw = fullTagWord(r);
  const fop = r[X_FOP] & 0x7ff;
  if ((i.flags & IF_OP32) !== 0) {
    c.wr32(lin, fcw | 0xffff0000);
    c.wr32(lin + 4, fsw | 0xffff0000);
    c.wr32(lin + 8, ftw | 0xffff0000);
    if (real) {
      const ip = (r[X_FCS] << 4) + r[X_FIP];
      const dp = (r[X_FDS] << 4) + r[X_FDP];
      c.wr32(lin + 12, (ip & 0xffff) | 0xffff0000);
      c.wr32(lin + 16, ((ip >>> 16) << 12) | fop);
      c.wr32(lin + 20, (dp & 0xffff) | 0xffff0000);
      c.wr32(lin + 24, (dp >>> 16) << 12);
    } else {
      c.wr32(lin + 12, r[X_FIP]);
      c.wr32(lin + 16, (r[X_FCS] & 0xffff) | (fop << 16));
      c.wr32(lin + 20, r[X_FDP]);
      c.wr32(lin + 24, (r[X_FDS] & 0xffff) | 0xffff0000);
    }
  } else {
    c.wr16(lin, fcw);
    c.wr16(lin + 2, fsw);
    c.wr16(lin + 4, ftw);
    if (real) {
      const ip = (r[X_FCS] << 4) + r[X_FIP];
      const dp = (r[X_FDS] << 4) + r[X_FDP];
      c.wr16(lin + 6, ip);
      c.wr16(lin + 8, (((ip >>> 16) & 0xf) << 12) | fop);
      c.wr16(lin + 10, dp);
      c.wr16(lin + 12, ((dp >>> 16) & 0xf) << 12);
    } else {
      c.wr16(lin + 6, r[X_FIP]);
      c.wr16(lin + 8, r[X_FCS]);
      c.wr16(lin + 10, r[X_FDP]);
      c.wr16(lin + 12, r[X_FDS]);
    }
  }
}

/** Read `n` bytes at `lin` into img (all reads happen before any state changes). */
function readImage(c: CPU, lin: number, n: number): void {
  for (let k = 0; k < n; k++) img[k] = c.rd8(lin + k);
}

function img16(o: number): number {
  return img[o] | (img[o + 1] << 8);
}

function img32(o: number): number {
  return img[o] | (img[o + 1] << 8) | (img[o + 2] << 16) | (img[o + 3] << 24);
}

/** Load the environment from img. Only empty / non-empty is taken from the tag word (SDM Vol. 1, 8.1.7). */
function loadEnv(c: CPU, i: Insn): void {
  const r = c.r;
  const real = realFormat(c);
  const w = (i.flags & IF_OP32) !== 0 ? 4 : 2;
  const fcw = img16(0);
  const fsw = img16(w);
  const ftw = img16(2 * w);
  let tags = 0;
  for (let k = 0; k < 8; k++) if (((ftw >> (2 * k)) & 3) !== TAG_EMPTY) tags |= 1 << k;
  r[X_FCW] = (fcw & FCW_WRITABLE) | 0x40;
  r[X_FSW] = fsw & ~FSW_TOP;
  r[X_TOP] = (fsw >> FSW_TOP_SHIFT) & 7;
  r[X_TAGS] = tags;
  if (w === 4) {
    if (real) {
      r[X_FIP] = (img16(12) | ((img32(16) >>> 12) << 16)) & 0xffffffff;
      r[X_FCS] = 0;
      r[X_FOP] = img16(16) & 0x7ff;
      r[X_FDP] = img16(20) | ((img32(24) >>> 12) << 16);
      r[X_FDS] = 0;
    } else {
      r[X_FIP] = img32(12);
      r[X_FCS] = img16(16);
      r[X_FOP] = img16(18) & 0x7ff;
      r[X_FDP] = img32(20);
      r[X_FDS] = img16(24);
    }
  } else if (real) {
    r[X_FIP] = img16(6) | ((img16(8) >> 12) << 16);
    r[X_FCS] = 0;
    r[X_FOP] = img16(8) & 0x7ff;
    r[X_FDP] = img16(10) | ((img16(12) >> 12) << 16);
    r[X_FDS] = 0;
  } else {
    r[X_FIP] = img16(6);
    r[X_FCS] = img16(8);
    r[X_FDP] = img16(10);
    r[X_FDS] = img16(12);
  }
  updateES(c);
}

defMem(1, 6, (c, i) => {
  // FNSTENV: store, then mask all exceptions.
  storeEnv(c, i, c.eaW(i, envSize(i)));
  c.r[X_FCW] |= FSW_EXC;
  updateES(c);
});

defMem(1, 4, (c, i) => {
  // FLDENV
  const n = envSize(i);
  readImage(c, c.eaR(i, n), n);
  loadEnv(c, i);
});

defMem(5, 6, (c, i) => {
  // FNSAVE: environment, ST(0)..ST(7) as 80-bit values, then FNINIT.
  const n = envSize(i);
  const lin = c.eaW(i, n + 80);
  // Probe the last byte first so a page fault there happens before anything is written.
  c.wr8(lin + n + 79, c.rd8(lin + n + 79));
  storeEnv(c, i, lin);
  const r = c.r;
  for (let k = 0; k < 8; k++) {
    const p = X_REG + (((r[X_TOP] + k) & 7) << 2);
    const a = lin + n + 10 * k;
    c.wr32(a, r[p]);
    c.wr32(a + 4, r[p + 1]);
    c.wr16(a + 8, r[p + 2]);
  }
  finit(c);
});

defMem(5, 4, (c, i) => {
  // FRSTOR
  const n = envSize(i);
  readImage(c, c.eaR(i, n + 80), n + 80);
  loadEnv(c, i);
  const r = c.r;
  for (let k = 0; k < 8; k++) {
    const p = X_REG + (((r[X_TOP] + k) & 7) << 2);
    const o = n + 10 * k;
    r[p] = img32(o);
    r[p + 1] = img32(o + 4);
    r[p + 2] = img16(o + 8);
  }
});

defRegRm(1, 2, [fnop]); // FNOP (D9 D0)
