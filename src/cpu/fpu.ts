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
import {
  bitlen,
  CMP_EQ,
  CMP_LT,
  CMP_UN,
  clearEx,
  ex,
  FMT_DBL,
  FMT_EXT,
  FMT_SGL,
  Fx,
  fAdd,
  fCompare,
  fDiv,
  fMul,
  fRndint,
  fromDouble,
  fromF32,
  fromF64,
  fromInt,
  fSqrt,
  K_FIN,
  K_INF,
  K_QNAN,
  K_SNAN,
  K_ZERO,
  nanOperand,
  nanOperands,
  out,
  pack80,
  round,
  setFinite,
  setIndefinite,
  setInf,
  setZero,
  tagOf,
  toDouble,
  toInteger,
  toMemReal,
  unpack80,
} from "./fpu/float80.ts";
import { IF_OP32, type Insn } from "./insn.ts";
import {
  CR0_EM,
  CR0_MP,
  CR0_NE,
  CR0_PE,
  CR0_TS,
  CS,
  EAX,
  EFLAGS_ARITH,
  EFLAGS_CF,
  EFLAGS_PF,
  EFLAGS_VM,
  EFLAGS_ZF,
  EXC_GP,
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

// ---- FXSAVE / FXRSTOR m512byte (0F AE /0, /1; SDM Vol. 2A FXSAVE and FXRSTOR, "Non-64-bit-Mode
// Layout of FXSAVE and FXRSTOR Memory Region" and "Field Definitions"; Vol. 1, 10.5.1).
//
//   0 FCW   2 FSW   4 abridged FTW (bit k = physical Rk not empty)   5 reserved   6 FOP (11 bits)
//   8 FIP (32 bits)   12 FCS   14 reserved   16 FDP (32 bits)   20 FDS   22 reserved
//   24 MXCSR   28 MXCSR_MASK   32 + 16k ST(k) as 80 bits, then 6 reserved bytes   160 XMM0..7 ...
//
// FXSAVE writes bytes 0..159, the reserved bytes among them as zeros (what the host AMD CPU writes
// too; the differential test checks it). There are no XMM registers (CPUID reports neither SSE nor
// MMX), so bytes 160..511 are neither written nor read: FXSAVE leaves them unchanged, FXRSTOR ignores
// them. MXCSR is part of the state block and is saved and restored whatever CR4.OSFXSR says (the SDM
// leaves the OSFXSR = 0 behaviour implementation-dependent); MXCSR_MASK reads 0000FFBFh (every bit but
// DAZ), and FXRSTOR of an MXCSR with a bit outside it set is #GP(0). Neither instruction checks for a
// pending x87 exception, neither updates FIP/FOP/FDP, and FXSAVE does not reinitialise the unit.

/** The MXCSR bits FXRSTOR accepts (all defined bits except DAZ, which P6-era processors lack). */
export const MXCSR_MASK = 0xffbf;

/** Common checks: #UD without an FPU (CPUID then reports no FXSR), #NM per CR0.EM/TS, #GP(0) if misaligned. */
function fxOperand(c: CPU, i: Insn, write: boolean): number {
  if (c.fpu === null) c.raise(EXC_UD);
  if ((c.r[R_CR0] & (CR0_EM | CR0_TS)) !== 0) c.raise(EXC_NM);
  const lin = write ? c.eaW(i, 512) : c.eaR(i, 512);
  if ((lin & 15) !== 0) c.raise(EXC_GP, 0);
  return lin;
}

export function fxsave(c: CPU, i: Insn): void {
  const lin = fxOperand(c, i, true);
  // The operand is 512 bytes: fault on its last page before anything is written.
  c.wr8(lin + 511, c.rd8(lin + 511));
  const r = c.r;
  c.wr32(lin, r[X_FCW] | (fswValue(r) << 16));
  c.wr32(lin + 4, (r[X_TAGS] & 0xff) | ((r[X_FOP] & 0x7ff) << 16));
  c.wr32(lin + 8, r[X_FIP]);
  c.wr32(lin + 12, r[X_FCS] & 0xffff);
  c.wr32(lin + 16, r[X_FDP]);
  c.wr32(lin + 20, r[X_FDS] & 0xffff);
  c.wr32(lin + 24, r[X_MXCSR]);
  c.wr32(lin + 28, MXCSR_MASK);
  for (let k = 0; k < 8; k++) {
    const p = X_REG + (((r[X_TOP] + k) & 7) << 2);
    const a = lin + 32 + 16 * k;
    c.wr32(a, r[p]);
    c.wr32(a + 4, r[p + 1]);
    c.wr32(a + 8, r[p + 2] & 0xffff);
    c.wr32(a + 12, 0);
  }
}

export function fxrstor(c: CPU, i: Insn): void {
  const lin = fxOperand(c, i, false);
  c.rd8(lin + 511);
  readImage(c, lin, 160);
  const mxcsr = img32(24);
  if ((mxcsr & ~MXCSR_MASK) !== 0) c.raise(EXC_GP, 0);
  const r = c.r;
  const fsw = img16(2);
  r[X_FCW] = (img16(0) & FCW_WRITABLE) | 0x40;
  r[X_FSW] = fsw & ~FSW_TOP;
  r[X_TOP] = (fsw >> FSW_TOP_SHIFT) & 7;
  // The abridged tag names physical registers; full tags are recomputed from contents when stored.
  r[X_TAGS] = img[4];
  r[X_FOP] = img16(6) & 0x7ff;
  r[X_FIP] = img32(8);
  r[X_FCS] = img16(12);
  r[X_FDP] = img32(16);
  r[X_FDS] = img16(20);
  r[X_MXCSR] = mxcsr;
  for (let k = 0; k < 8; k++) {
    const p = X_REG + (((r[X_TOP] + k) & 7) << 2);
    const o = 32 + 16 * k;
    r[p] = img32(o);
    r[p + 1] = img32(o + 4);
    r[p + 2] = img16(o + 8);
  }
  updateES(c);
}

defRegRm(1, 2, [fnop]); // FNOP (D9 D0)

// ---------------------------------------------------------------- registers and the stack

const A = new Fx();
const B = new Fx();
const R = new Fx();
const T = new Fx();

function regPtr(r: Int32Array, i: number): number {
  return X_REG + (((r[X_TOP] + i) & 7) << 2);
}

function stEmpty(r: Int32Array, i: number): boolean {
  return ((r[X_TAGS] >> ((r[X_TOP] + i) & 7)) & 1) === 0;
}

function getSt(r: Int32Array, i: number, x: Fx): Fx {
  const p = regPtr(r, i);
  return unpack80(x, r[p + 2], r[p + 1], r[p]);
}

function putRaw(r: Int32Array, i: number, se: number, hi: number, lo: number): void {
  const k = (r[X_TOP] + i) & 7;
  const p = X_REG + (k << 2);
  r[p] = lo;
  r[p + 1] = hi;
  r[p + 2] = se & 0xffff;
  r[X_TAGS] |= 1 << k;
}

function putSt(r: Int32Array, i: number, x: Fx): void {
  pack80(x);
  putRaw(r, i, out.se, out.hi, out.lo);
}

function pop(r: Int32Array): void {
  r[X_TAGS] &= ~(1 << (r[X_TOP] & 7));
  r[X_TOP] = (r[X_TOP] + 1) & 7;
}

/** Stack underflow: a source register is empty (SDM Vol. 1, 8.5.1.1). C1 = 0. */
function underflow(): void {
  ex.flags |= FSW_IE | FSW_SF;
  ex.up = 0;
}

/** Whether an unmasked invalid, denormal or divide-by-zero exception forbids writing the result. */
function blocked(c: CPU): boolean {
  return (ex.flags & ~c.r[X_FCW] & (FSW_IE | FSW_DE | FSW_ZE)) !== 0;
}

/** Same for stores to memory, where unmasked overflow and underflow also forbid the store. */
function storeBlocked(c: CPU): boolean {
  return (ex.flags & ~c.r[X_FCW] & (FSW_IE | FSW_DE | FSW_ZE | FSW_OE | FSW_UE)) !== 0;
}

/** End of an instruction: C1 from the round-up / stack-fault indication, then the exception flags. */
function finish(c: CPU): void {
  const r = c.r;
  r[X_FSW] = (r[X_FSW] & ~FSW_C1) | (ex.up !== 0 ? FSW_C1 : 0);
  signal(c, ex.flags);
}

/** Push x, with the stack-overflow check (the new ST(0) must be empty). */
function pushFx(c: CPU, x: Fx, ignoreDE = false): void {
  const r = c.r;
  const t = (r[X_TOP] - 1) & 7;
  if (((r[X_TAGS] >> t) & 1) !== 0) {
    ex.flags |= FSW_IE | FSW_SF;
    ex.up = 1;
    if (!blocked(c)) {
      r[X_TOP] = t;
      putSt(r, 0, setIndefinite(x));
    }
  } else if ((ex.flags & ~r[X_FCW] & (ignoreDE ? FSW_IE : FSW_IE | FSW_DE | FSW_ZE)) === 0) {
    r[X_TOP] = t;
    putSt(r, 0, x);
  }
  finish(c);
}

function pushRaw(c: CPU, se: number, hi: number, lo: number): void {
  const r = c.r;
  const t = (r[X_TOP] - 1) & 7;
  if (((r[X_TAGS] >> t) & 1) !== 0) {
    ex.flags |= FSW_IE | FSW_SF;
    ex.up = 1;
    if (!blocked(c)) {
      r[X_TOP] = t;
      putSt(r, 0, setIndefinite(R));
    }
  } else {
    r[X_TOP] = t;
    putRaw(r, 0, se, hi, lo);
  }
  finish(c);
}

// ---------------------------------------------------------------- memory operands

function readM32(c: CPU, i: Insn, x: Fx): void {
  fromF32(x, c.rd32(c.eaR(i, 4)));
}

function readM64(c: CPU, i: Insn, x: Fx): void {
  const a = c.eaR(i, 8);
  fromF64(x, c.rd32(a), c.rd32(a + 4));
}

function readI16(c: CPU, i: Insn, x: Fx): void {
  fromInt(x, BigInt((c.rd16(c.eaR(i, 2)) << 16) >> 16));
}

function readI32(c: CPU, i: Insn, x: Fx): void {
  fromInt(x, BigInt(c.rd32(c.eaR(i, 4))));
}

function readI64(c: CPU, i: Insn, x: Fx): void {
  const a = c.eaR(i, 8);
  const lo = c.rd32(a);
  const hi = c.rd32(a + 4);
  fromInt(x, (BigInt(hi) << 32n) | BigInt(lo >>> 0));
}

// ---------------------------------------------------------------- arithmetic and compares

function compute(kind: number, a: Fx, b: Fx, fcw: number): void {
  switch (kind) {
    case 0:
      fAdd(R, a, b, false, fcw);
      return;
    case 1:
      fMul(R, a, b, fcw);
      return;
    case 4:
      fAdd(R, a, b, true, fcw);
      return;
    case 5:
      fAdd(R, b, a, true, fcw);
      return;
    case 6:
      fDiv(R, a, b, fcw);
      return;
    default:
      fDiv(R, b, a, fcw);
  }
}

function setCC(c: CPU, res: number): void {
  const r = c.r;
  let cc = 0;
  if (res === CMP_LT) cc = FSW_C0;
  else if (res === CMP_EQ) cc = FSW_C3;
  else if (res === CMP_UN) cc = FSW_C0 | FSW_C2 | FSW_C3;
  r[X_FSW] = (r[X_FSW] & ~(FSW_C0 | FSW_C2 | FSW_C3)) | cc;
}

/** FCOM/FUCOM family tail: condition codes, then pops (none when an unmasked IE aborted it). */
function compareTail(c: CPU, res: number, pops: number): void {
  ex.up = 0;
  // The condition codes are set even when an unmasked IE suppresses the pops (measured on hardware).
  setCC(c, res);
  if (!blocked(c)) for (let k = 0; k < pops; k++) pop(c.r);
  finish(c);
}

function compareRegs(c: CPU, j: number, quiet: boolean, pops: number): void {
  const r = c.r;
  clearEx();
  let res = CMP_UN;
  if (stEmpty(r, 0) || stEmpty(r, j)) underflow();
  else res = fCompare(getSt(r, 0, A), getSt(r, j, B), quiet);
  compareTail(c, res, pops);
}

/** D8/DA/DC/DE with a memory operand: ST(0) op= m. */
function memArith(read: (c: CPU, i: Insn, x: Fx) => void): Op {
  return (c, i) => {
    const r = c.r;
    const kind = i.reg;
    clearEx();
    read(c, i, B);
    if (stEmpty(r, 0)) {
      underflow();
      if (kind === 2 || kind === 3) compareTail(c, CMP_UN, kind - 2);
      else {
        if (!blocked(c)) putSt(r, 0, setIndefinite(R));
        finish(c);
      }
      return;
    }
    getSt(r, 0, A);
    if (kind === 2 || kind === 3) {
      compareTail(c, fCompare(A, B, false), kind - 2);
      return;
    }
    compute(kind, A, B, r[X_FCW]);
    if (!blocked(c)) putSt(r, 0, R);
    finish(c);
  };
}

/** D8/DC/DE register forms: a = ST(0), b = ST(i); result to ST(0) (D8) or ST(i) (DC, DE). */
function regArith(toSti: boolean, pops: boolean): Op {
  return (c, i) => {
    const r = c.r;
    const j = i.rm;
    const dest = toSti ? j : 0;
    clearEx();
    if (stEmpty(r, 0) || stEmpty(r, j)) {
      underflow();
      setIndefinite(R);
    } else compute(i.reg, getSt(r, 0, A), getSt(r, j, B), r[X_FCW]);
    if (!blocked(c)) {
      putSt(r, dest, R);
      if (pops) pop(r);
    }
    finish(c);
  };
}

for (let reg = 0; reg < 8; reg++) {
  defMem(0, reg, memArith(readM32));
  defMem(2, reg, memArith(readI32));
  defMem(4, reg, memArith(readM64));
  defMem(6, reg, memArith(readI16));
  if (reg === 2 || reg === 3) continue;
  defReg(0, reg, regArith(false, false));
  defReg(4, reg, regArith(true, false));
  defReg(6, reg, regArith(true, true));
}
defReg(0, 2, (c, i) => compareRegs(c, i.rm, false, 0)); // FCOM ST(i)
defReg(0, 3, (c, i) => compareRegs(c, i.rm, false, 1)); // FCOMP ST(i)
defReg(4, 2, (c, i) => compareRegs(c, i.rm, false, 0)); // FCOM2 (undocumented alias)
defReg(4, 3, (c, i) => compareRegs(c, i.rm, false, 1)); // FCOMP3
defReg(6, 2, (c, i) => compareRegs(c, i.rm, false, 1)); // FCOMP5
defRegRm(6, 3, [undefined, (c) => compareRegs(c, 1, false, 2)]); // FCOMPP
defReg(5, 4, (c, i) => compareRegs(c, i.rm, true, 0)); // FUCOM
defReg(5, 5, (c, i) => compareRegs(c, i.rm, true, 1)); // FUCOMP
defRegRm(2, 5, [undefined, (c) => compareRegs(c, 1, true, 2)]); // FUCOMPP

/** FCOMI/FUCOMI(P): ZF, PF, CF from the comparison; OF, SF, AF cleared (SDM Vol. 2A, FCOMI). */
function comi(quiet: boolean, pops: number): Op {
  return (c, i) => {
    const r = c.r;
    clearEx();
    let res = CMP_UN;
    if (stEmpty(r, 0) || stEmpty(r, i.rm)) underflow();
    else res = fCompare(getSt(r, 0, A), getSt(r, i.rm, B), quiet);
    // C1 is left alone unless the stack underflowed; EFLAGS are set even when an unmasked IE
    // suppresses the pop (measured on hardware).
    if ((ex.flags & FSW_SF) === 0) ex.up = (r[X_FSW] >> 9) & 1;
    {
      const f =
        res === CMP_LT
          ? EFLAGS_CF
          : res === CMP_EQ
            ? EFLAGS_ZF
            : res === CMP_UN
              ? EFLAGS_ZF | EFLAGS_PF | EFLAGS_CF
              : 0;
      c.setArithFlags(EFLAGS_ARITH, f);
      if (!blocked(c)) for (let k = 0; k < pops; k++) pop(r);
    }
    finish(c);
  };
}
defReg(3, 5, comi(true, 0)); // FUCOMI
defReg(3, 6, comi(false, 0)); // FCOMI
defReg(7, 5, comi(true, 1)); // FUCOMIP
defReg(7, 6, comi(false, 1)); // FCOMIP

/** FCMOVcc: condition codes as for Jcc (B=2, E=4, BE=6, P=10 and their negations). */
function fcmov(cc: number): Op {
  return (c, i) => {
    const r = c.r;
    clearEx();
    if (stEmpty(r, 0) || stEmpty(r, i.rm)) {
      underflow();
      if (!blocked(c)) putSt(r, 0, setIndefinite(R));
    } else {
      ex.up = (r[X_FSW] >> 9) & 1; // C1 unchanged
      if (c.cond(cc)) {
        const p = regPtr(r, i.rm);
        putRaw(r, 0, r[p + 2], r[p + 1], r[p]);
      }
    }
    finish(c);
  };
}
defReg(2, 0, fcmov(2));
defReg(2, 1, fcmov(4));
defReg(2, 2, fcmov(6));
defReg(2, 3, fcmov(10));
defReg(3, 0, fcmov(3));
defReg(3, 1, fcmov(5));
defReg(3, 2, fcmov(7));
defReg(3, 3, fcmov(11));

// ---------------------------------------------------------------- loads and stores

function loadReal(read: (c: CPU, i: Insn, x: Fx) => void): Op {
  return (c, i) => {
    clearEx();
    read(c, i, B);
    if (B.k >= 3) nanOperand(R, B);
    else {
      R.copy(B);
      // A denormal m32/m64 is normalised; DE is flagged but, even unmasked, the load happens
      // (measured on hardware).
      if (B.den) ex.flags |= FSW_DE;
      R.den = false;
    }
    pushFx(c, R, true);
  };
}

function loadInt(read: (c: CPU, i: Insn, x: Fx) => void): Op {
  return (c, i) => {
    clearEx();
    read(c, i, R);
    pushFx(c, R);
  };
}

defMem(1, 0, loadReal(readM32)); // FLD m32
defMem(5, 0, loadReal(readM64)); // FLD m64
defMem(3, 0, loadInt(readI32)); // FILD m32
defMem(7, 0, loadInt(readI16)); // FILD m16
defMem(7, 5, loadInt(readI64)); // FILD m64
defMem(3, 5, (c, i) => {
  // FLD m80: the encoding is copied as is.
  const a = c.eaR(i, 10);
  const lo = c.rd32(a);
  const hi = c.rd32(a + 4);
  const se = c.rd16(a + 8);
  clearEx();
  pushRaw(c, se, hi, lo);
});
defMem(7, 4, (c, i) => {
  // FBLD: 18 packed BCD digits and a sign byte (SDM Vol. 1, 4.7).
  const a = c.eaR(i, 10);
  let v = 0n;
  for (let k = 8; k >= 0; k--) {
    const b = c.rd8(a + k);
    v = v * 100n + BigInt((b >> 4) * 10 + (b & 15));
  }
  const sign = c.rd8(a + 9) >> 7;
  clearEx();
  setFinite(R, sign, v, 0);
  if (v === 0n) setZero(R, sign);
  pushFx(c, R);
});

/** Source of a store: ST(0), or the stack-underflow response. Returns false if the store is aborted. */
function storeSource(c: CPU): boolean {
  clearEx();
  if (stEmpty(c.r, 0)) {
    underflow();
    if (blocked(c)) {
      finish(c);
      return false;
    }
    setIndefinite(A);
    return true;
  }
  getSt(c.r, 0, A);
  return true;
}

function storeReal(sgl: boolean, pops: boolean): Op {
  return (c, i) => {
    const a = c.eaW(i, sgl ? 4 : 8);
    if (!storeSource(c)) return;
    toMemReal(A, sgl ? FMT_SGL : FMT_DBL, c.r[X_FCW], T);
    if (!storeBlocked(c)) {
      if (sgl) c.wr32(a, out.lo);
      else {
        const hi = out.hi;
        c.wr32(a, out.lo);
        c.wr32(a + 4, hi);
      }
      if (pops) pop(c.r);
    }
    finish(c);
  };
}

defMem(1, 2, storeReal(true, false)); // FST m32
defMem(1, 3, storeReal(true, true)); // FSTP m32
defMem(5, 2, storeReal(false, false)); // FST m64
defMem(5, 3, storeReal(false, true)); // FSTP m64
defMem(3, 7, (c, i) => {
  // FSTP m80
  const a = c.eaW(i, 10);
  const r = c.r;
  if (!storeSource(c)) return;
  let lo: number;
  let hi: number;
  let se: number;
  if (stEmpty(r, 0)) {
    pack80(A);
    lo = out.lo;
    hi = out.hi;
    se = out.se;
  } else {
    const p = regPtr(r, 0);
    lo = r[p];
    hi = r[p + 1];
    se = r[p + 2];
  }
  c.wr32(a, lo);
  c.wr32(a + 4, hi);
  c.wr16(a + 8, se);
  pop(r);
  finish(c);
});

function storeInt(bits: number, pops: boolean): Op {
  return (c, i) => {
    const a = c.eaW(i, bits >> 3);
    if (!storeSource(c)) return;
    let v = toInteger(A, bits, c.r[X_FCW]);
    if (v === null) {
      if (blocked(c)) {
        finish(c);
        return;
      }
      v = -(1n << BigInt(bits - 1)); // integer indefinite
    } else if (blocked(c)) {
      finish(c);
      return;
    }
    if (bits === 16) c.wr16(a, Number(v & 0xffffn));
    else if (bits === 32) c.wr32(a, Number(v & 0xffffffffn));
    else {
      const hi = Number((v >> 32n) & 0xffffffffn);
      c.wr32(a, Number(v & 0xffffffffn));
      c.wr32(a + 4, hi);
    }
    if (pops) pop(c.r);
    finish(c);
  };
}

defMem(7, 2, storeInt(16, false)); // FIST m16
defMem(7, 3, storeInt(16, true)); // FISTP m16
defMem(3, 2, storeInt(32, false)); // FIST m32
defMem(3, 3, storeInt(32, true)); // FISTP m32
defMem(7, 7, storeInt(64, true)); // FISTP m64
defMem(7, 6, (c, i) => {
  // FBSTP m80
  const a = c.eaW(i, 10);
  if (!storeSource(c)) return;
  const v = toInteger(A, 0, c.r[X_FCW]);
  if (blocked(c)) {
    finish(c);
    return;
  }
  if (v === null) {
    // Packed BCD indefinite: FFFF C000 0000 0000 0000h.
    for (let k = 0; k < 7; k++) c.wr8(a + k, 0);
    c.wr8(a + 7, 0xc0);
    c.wr8(a + 8, 0xff);
    c.wr8(a + 9, 0xff);
  } else {
    let m = v < 0n ? -v : v;
    for (let k = 0; k < 9; k++) {
      const d = Number(m % 100n);
      m /= 100n;
      c.wr8(a + k, ((Math.floor(d / 10) << 4) | (d % 10)) & 0xff);
    }
    c.wr8(a + 9, A.s ? 0x80 : 0);
  }
  pop(c.r);
  finish(c);
});

// ---------------------------------------------------------------- register moves

defReg(1, 0, (c, i) => {
  // FLD ST(i)
  const r = c.r;
  clearEx();
  if (stEmpty(r, i.rm)) {
    underflow();
    if (blocked(c)) {
      finish(c);
      return;
    }
    pushFx(c, setIndefinite(R));
    return;
  }
  const p = regPtr(r, i.rm);
  pushRaw(c, r[p + 2], r[p + 1], r[p]);
});

function fxch(c: CPU, i: Insn): void {
  const r = c.r;
  const j = i.rm;
  clearEx();
  if (stEmpty(r, 0) || stEmpty(r, j)) {
    underflow();
    if (blocked(c)) {
      finish(c);
      return;
    }
    // Masked response: empty registers take the indefinite value, then the exchange.
    if (stEmpty(r, 0)) putSt(r, 0, setIndefinite(R));
    if (stEmpty(r, j)) putSt(r, j, setIndefinite(R));
  }
  const p = regPtr(r, 0);
  const q = regPtr(r, j);
  for (let k = 0; k < 3; k++) {
    const t = r[p + k];
    r[p + k] = r[q + k];
    r[q + k] = t;
  }
  finish(c);
}
defReg(1, 1, fxch); // FXCH
defReg(5, 1, fxch); // FXCH4 (undocumented alias)
defReg(7, 1, fxch); // FXCH7

function fst(pops: boolean): Op {
  return (c, i) => {
    const r = c.r;
    clearEx();
    if (stEmpty(r, 0)) {
      underflow();
      if (!blocked(c)) {
        putSt(r, i.rm, setIndefinite(R));
        if (pops) pop(r);
      }
    } else {
      const p = regPtr(r, 0);
      putRaw(r, i.rm, r[p + 2], r[p + 1], r[p]);
      if (pops) pop(r);
    }
    finish(c);
  };
}
defReg(5, 2, fst(false)); // FST ST(i)
defReg(5, 3, fst(true)); // FSTP ST(i)
defReg(1, 3, fst(true)); // FSTP1 (undocumented alias)
defReg(7, 2, fst(true)); // FSTP8
defReg(7, 3, fst(true)); // FSTP9

defReg(5, 0, (c, i) => {
  // FFREE ST(i)
  c.r[X_TAGS] &= ~(1 << ((c.r[X_TOP] + i.rm) & 7));
});
defReg(7, 0, (c, i) => {
  // FFREEP ST(i) (undocumented): free, then pop.
  c.r[X_TAGS] &= ~(1 << ((c.r[X_TOP] + i.rm) & 7));
  pop(c.r);
});

// ---------------------------------------------------------------- D9 E0-FF: one-operand, constants, transcendentals

/** Run `f` on ST(0) (non-empty) writing ST(0), with the stack-underflow response otherwise. */
function unary(f: (c: CPU) => void): Op {
  return (c) => {
    const r = c.r;
    clearEx();
    if (stEmpty(r, 0)) {
      underflow();
      if (!blocked(c)) putSt(r, 0, setIndefinite(R));
    } else {
      getSt(r, 0, A);
      f(c);
      if (!blocked(c)) putSt(r, 0, R);
    }
    finish(c);
  };
}

function signOnly(c: CPU, i: Insn): void {
  // FCHS / FABS: only the sign bit changes, whatever the encoding (SDM Vol. 2A, FCHS).
  const r = c.r;
  clearEx();
  if (stEmpty(r, 0)) {
    underflow();
    if (!blocked(c)) putSt(r, 0, setIndefinite(R));
  } else {
    const p = regPtr(r, 0);
    r[p + 2] = i.rm === 0 ? r[p + 2] ^ 0x8000 : r[p + 2] & 0x7fff;
  }
  finish(c);
}

function ftst(c: CPU): void {
  const r = c.r;
  clearEx();
  let res = CMP_UN;
  if (stEmpty(r, 0)) underflow();
  else res = fCompare(getSt(r, 0, A), setZero(B, 0), false);
  compareTail(c, res, 0);
}

/** FXAM class codes C3 C2 C0 (SDM Vol. 2A, FXAM); C1 = sign. */
function fxam(c: CPU): void {
  const r = c.r;
  const p = regPtr(r, 0);
  const se = r[p + 2];
  let cc: number;
  if (stEmpty(r, 0)) cc = FSW_C3 | FSW_C0;
  else {
    unpack80(A, se, r[p + 1], r[p]);
    switch (A.k) {
      case K_ZERO:
        cc = FSW_C3;
        break;
      case K_FIN:
        cc = A.den ? FSW_C3 | FSW_C2 : FSW_C2;
        break;
      case K_INF:
        cc = FSW_C2 | FSW_C0;
        break;
      case K_QNAN:
      case K_SNAN:
        cc = FSW_C0;
        break;
      default:
        cc = 0;
    }
  }
  if ((se & 0x8000) !== 0) cc |= FSW_C1;
  r[X_FSW] = (r[X_FSW] & ~FSW_CC) | cc;
}

// Constants to 128 bits: significand (leading bit first) and the exponent of the leading bit.
const CONSTANTS: [bigint, number][] = [
  [1n << 127n, 0], // 1
  [0xd49a784bcd1b8afe492bf6ff4dafdb4cn, 1], // log2(10)
  [0xb8aa3b295c17f0bbbe87fed0691d3e88n, 0], // log2(e)
  [0xc90fdaa22168c234c4c6628b80dc1cd1n, 1], // pi
  [0x9a209a84fbcff7988f8959ac0b7c9178n, -2], // log10(2)
  [0xb17217f7d1cf79abc9e3b39803f2f6afn, -1], // ln(2)
];

function fldConst(c: CPU, i: Insn): void {
  clearEx();
  if (i.rm === 6) setZero(R, 0);
  else {
    const [m, e] = CONSTANTS[i.rm];
    setFinite(R, 0, m, e - 127);
    // Rounded by RC without signalling precision (SDM Vol. 1, 8.3.8).
    round(R, 64, FMT_EXT, c.r[X_FCW]);
    ex.flags = 0;
    ex.up = 0;
  }
  pushFx(c, R);
}

function stackStep(d: number): Op {
  return (c) => {
    c.r[X_TOP] = (c.r[X_TOP] + d) & 7;
    c.r[X_FSW] &= ~FSW_C1;
  };
}

/** pi as the 66-bit value the x87 reduces arguments with: pi ≈ PI66 × 2^-64 (SDM Vol. 1, 8.3.8). */
const PI66 = (0xc90fdaa22168c234c4c6628b80dc1cd1n + (1n << 61n)) >> 62n;

/**
 * sin / cos / tan of a finite x (|x| < 2^63) in binary64: x is reduced exactly against PI66 / 2
 * (so results near multiples of pi/2 follow the hardware's reduction), then Math.* finishes.
 */
function trig(x: Fx, fn: 0 | 1 | 2): number {
  // X = |x| × 2^65, exact (|x| >= pi/4 here, so x.e + 65 >= 0); pi/2 = PI66 × 2^-65.
  let r: number;
  let q = 0;
  if (x.e + bitlen(x.m) <= -1) r = toDouble(x) * (x.s ? -1 : 1);
  else {
    const X = x.m << BigInt(x.e + 65);
    const k = (X + (PI66 >> 1n)) / PI66;
    const rem = X - k * PI66;
    r = Number(rem) * 2 ** -65;
    q = Number(k & 3n);
  }
  let v: number;
  if (fn === 0) v = q === 0 ? Math.sin(r) : q === 1 ? Math.cos(r) : q === 2 ? -Math.sin(r) : -Math.cos(r);
  else if (fn === 1)
    v = q === 0 ? Math.cos(r) : q === 1 ? -Math.sin(r) : q === 2 ? -Math.cos(r) : Math.sin(r);
  else v = (q & 1) === 0 ? Math.tan(r) : -1 / Math.tan(r);
  // sin and tan are odd, cos even.
  return x.s && fn !== 1 ? -v : v;
}

/** A transcendental result computed in binary64: widened exactly, flagged inexact. */
function approx(v: number): void {
  fromDouble(R, v);
  if (R.k === K_FIN || (R.k === K_ZERO && v !== 0)) ex.flags |= FSW_PE;
}

/** |x| >= 2^63: FSIN/FCOS/FSINCOS/FPTAN leave ST(0) alone and set C2 (SDM Vol. 2A, FSIN). */
function outOfRange(x: Fx): boolean {
  return x.k === K_FIN && x.e + bitlen(x.m) > 63;
}

/** |x| < 2^-40: sin x = tan x = x and cos x = 1 to 64 bits. */
function tinyArg(x: Fx): boolean {
  return x.k === K_FIN && x.e + bitlen(x.m) < -40;
}

function trigPrologue(c: CPU): boolean {
  // Returns true when R holds the result of a special operand (NaN, infinity, zero, denormal).
  c.r[X_FSW] &= ~FSW_C2;
  if (nanOperand(R, A)) return true;
  if (A.k === K_INF) {
    ex.flags |= FSW_IE;
    setIndefinite(R);
    return true;
  }
  if (A.den) ex.flags |= FSW_DE;
  c.r[X_FSW] &= ~FSW_C2;
  return false;
}

function fsinCos(cos: boolean): Op {
  return (c) => {
    const r = c.r;
    clearEx();
    if (stEmpty(r, 0)) {
      underflow();
      if (!blocked(c)) putSt(r, 0, setIndefinite(R));
      r[X_FSW] &= ~FSW_C2;
      finish(c);
      return;
    }
    getSt(r, 0, A);
    if (outOfRange(A)) {
      r[X_FSW] |= FSW_C2;
      finish(c);
      return;
    }
    if (!trigPrologue(c)) {
      if (A.k === K_ZERO) {
        if (cos) setFinite(R, 0, 1n, 0);
        else R.copy(A);
      } else if (tinyArg(A)) {
        if (cos) setFinite(R, 0, 1n, 0);
        else R.copy(A);
        R.den = false;
        ex.flags |= FSW_PE;
      } else approx(trig(A, cos ? 1 : 0));
    }
    if (!blocked(c)) putSt(r, 0, R);
    finish(c);
  };
}

/** FSINCOS (cos pushed over sin) and FPTAN (1.0 pushed over tan). */
function fpush2(tan: boolean): Op {
  return (c) => {
    const r = c.r;
    clearEx();
    if (stEmpty(r, 0)) {
      underflow();
      if (!blocked(c)) {
        putSt(r, 0, setIndefinite(R));
        r[X_TOP] = (r[X_TOP] - 1) & 7;
        putSt(r, 0, R);
      }
      r[X_FSW] &= ~FSW_C2;
      finish(c);
      return;
    }
    if (!stEmpty(r, 7)) {
      ex.flags |= FSW_IE | FSW_SF;
      ex.up = 1;
      if (!blocked(c)) {
        putSt(r, 0, setIndefinite(R));
        r[X_TOP] = (r[X_TOP] - 1) & 7;
        putSt(r, 0, R);
      }
      finish(c);
      return;
    }
    getSt(r, 0, A);
    if (outOfRange(A)) {
      r[X_FSW] |= FSW_C2;
      finish(c);
      return;
    }
    let special = trigPrologue(c);
    if (special) T.copy(R);
    else if (A.k === K_ZERO) {
      R.copy(A);
      if (tan) setFinite(T, 0, 1n, 0);
      else setFinite(T, 0, 1n, 0);
      special = true;
    }
    if (!special && tinyArg(A)) {
      R.copy(A);
      R.den = false;
      ex.flags |= FSW_PE;
      setFinite(T, 0, 1n, 0); // FPTAN pushes 1; FSINCOS pushes cos x = 1 over sin x = x
      special = true;
    }
    if (!special) {
      approx(trig(A, tan ? 2 : 0));
      if (tan) setFinite(T, 0, 1n, 0);
      else {
        T.copy(R);
        approx(trig(A, 1));
        // R = cos, T = sin: swap so that R (lower) = sin, T (pushed) = cos.
        B.copy(R);
        R.copy(T);
        T.copy(B);
      }
    } else if (!tan && A.k === K_ZERO) setFinite(T, 0, 1n, 0);
    if (!blocked(c)) {
      putSt(r, 0, R);
      r[X_TOP] = (r[X_TOP] - 1) & 7;
      putSt(r, 0, T);
    }
    finish(c);
  };
}

/** Two-operand transcendentals ST(1) := f(ST(1), ST(0)); pop. */
function binaryPop(f: (c: CPU) => void): Op {
  return (c) => {
    const r = c.r;
    clearEx();
    if (stEmpty(r, 0) || stEmpty(r, 1)) {
      underflow();
      setIndefinite(R);
    } else {
      getSt(r, 0, A);
      getSt(r, 1, B);
      f(c);
    }
    if (!blocked(c)) {
      putSt(r, 1, R);
      pop(r);
    }
    finish(c);
  };
}

function log2Of(x: Fx): number {
  // log2(m × 2^e) = log2(m) + e, without overflowing binary64.
  const n = bitlen(x.m);
  const top = n > 64 ? x.m >> BigInt(n - 64) : x.m;
  return Math.log2(Number(top)) + x.e + (n > 64 ? n - 64 : 0);
}

function fyl2x(c: CPU): void {
  // ST(1) × log2(ST(0)) (SDM Vol. 2A, FYL2X).
  const fcw = c.r[X_FCW];
  if (nanOperands(R, A, B)) return;
  if (A.s === 1 && A.k !== K_ZERO) {
    ex.flags |= FSW_IE;
    setIndefinite(R);
    return;
  }
  if (A.k === K_ZERO) {
    if (B.k === K_ZERO) {
      ex.flags |= FSW_IE;
      setIndefinite(R);
    } else {
      if (B.k !== K_INF) ex.flags |= FSW_ZE;
      setInf(R, B.s ^ 1);
    }
    return;
  }
  if (A.k === K_INF) {
    if (B.k === K_ZERO) {
      ex.flags |= FSW_IE;
      setIndefinite(R);
    } else setInf(R, B.s);
    return;
  }
  if (A.den || B.den) ex.flags |= FSW_DE;
  let l = log2Of(A);
  if (l > -1 && l < 1 && l !== 0) {
    // Near 1: log2(1 + d) with d = x - 1 exact.
    fAdd(T, A, setFinite(R, 0, 1n, 0), true, 0x37f);
    l = Math.log1p(toDouble(T)) / Math.LN2;
  }
  if (l === 0) {
    // log2(1) = 0: ±0 unless ST(1) is infinite (invalid).
    if (B.k === K_INF) {
      ex.flags |= FSW_IE;
      setIndefinite(R);
    } else setZero(R, B.s ^ (fcw >> 10 === 1 ? 1 : 0));
    return;
  }
  fromDouble(T, l);
  if (B.k === K_INF) setInf(R, B.s ^ (l < 0 ? 1 : 0));
  else {
    fMul(R, B, T, fcw | 0x300);
    ex.flags |= FSW_PE;
  }
}

function fyl2xp1(c: CPU): void {
  // ST(1) × log2(ST(0) + 1), |ST(0)| < 1 - sqrt(2)/2.
  const fcw = c.r[X_FCW];
  if (nanOperands(R, A, B)) return;
  if (A.den || B.den) ex.flags |= FSW_DE;
  if (A.k === K_INF || (B.k === K_INF && A.k === K_ZERO)) {
    ex.flags |= FSW_IE;
    setIndefinite(R);
    return;
  }
  if (A.k === K_ZERO) {
    setZero(R, A.s ^ B.s);
    return;
  }
  if (B.k === K_INF) {
    setInf(R, B.s ^ A.s);
    return;
  }
  if (B.k === K_ZERO) {
    setZero(R, A.s ^ B.s);
    return;
  }
  fromDouble(T, Math.log1p(toDouble(A)) / Math.LN2);
  fMul(R, B, T, fcw | 0x300);
  ex.flags |= FSW_PE;
}

function fpatan(c: CPU): void {
  // arctan(ST(1) / ST(0)) with the quadrant from both signs.
  if (nanOperands(R, A, B)) return;
  if (A.den || B.den) ex.flags |= FSW_DE;
  if (A.k === K_FIN && B.k === K_FIN) {
    // Bring both into binary64 range with a common power of two; a tiny ratio is the ratio itself.
    const ea = A.e + bitlen(A.m);
    const eb = B.e + bitlen(B.m);
    if (A.s === 0 && eb - ea < -40) {
      fDiv(R, B, A, c.r[X_FCW] | 0x300);
      ex.flags |= FSW_PE;
      return;
    }
    const k = Math.max(ea, eb);
    A.e -= k;
    B.e -= k;
  }
  // Against an infinity, a finite operand's magnitude does not matter.
  const y = B.k === K_FIN && A.k === K_INF ? (B.s ? -1 : 1) : toDouble(B);
  const x = A.k === K_FIN && B.k === K_INF ? (A.s ? -1 : 1) : toDouble(A);
  const v = Math.atan2(y, x);
  if (v === 0 || Object.is(v, -0)) setZero(R, Object.is(v, -0) ? 1 : 0);
  else approx(v);
}

function f2xm1(c: CPU): void {
  if (nanOperand(R, A)) return;
  if (A.den) ex.flags |= FSW_DE;
  if (A.k === K_ZERO) R.copy(A);
  else if (A.k === K_INF) {
    if (A.s) setFinite(R, 1, 1n, 0);
    else setInf(R, 0);
  } else if (A.e + bitlen(A.m) > 1 || (A.e + bitlen(A.m) === 1 && A.m !== 1n << BigInt(bitlen(A.m) - 1))) {
    // |x| > 1 is outside the domain; the hardware measured leaves ST(0) as it was.
    R.copy(A);
    R.den = false;
  } else if (A.e + bitlen(A.m) < -40) {
    // 2^x - 1 = x ln 2 to 64 bits for tiny x.
    const [m, e] = CONSTANTS[5];
    fMul(R, A, setFinite(T, 0, m, e - 127), c.r[X_FCW]);
  } else approx(Math.expm1(toDouble(A) * Math.LN2));
}

function fsqrt(c: CPU): void {
  fSqrt(R, A, c.r[X_FCW]);
}

function frndint(c: CPU): void {
  fRndint(R, A, c.r[X_FCW]);
}

/** FSCALE: ST(0) × 2^trunc(ST(1)) (SDM Vol. 2A, FSCALE). */
function fscale(c: CPU): void {
  const r = c.r;
  if (stEmpty(r, 1)) {
    underflow();
    setIndefinite(R);
    return;
  }
  getSt(r, 1, B);
  if (nanOperands(R, A, B)) return;
  if (A.den || B.den) {
    ex.flags |= FSW_DE;
    if ((r[X_FCW] & FCW_DM) === 0) return;
  }
  if (B.k === K_INF) {
    if (B.s === 0) {
      if (A.k === K_ZERO) {
        ex.flags |= FSW_IE;
        setIndefinite(R);
      } else setInf(R, A.s);
    } else if (A.k === K_INF) {
      ex.flags |= FSW_IE;
      setIndefinite(R);
    } else setZero(R, A.s);
    return;
  }
  R.copy(A);
  R.den = false;
  if (A.k !== K_FIN || B.k !== K_FIN) return;
  // trunc(ST(1)), clamped far beyond any exponent range.
  let n: number;
  if (B.e >= 0) n = B.e + bitlen(B.m) > 20 ? 1 << 20 : Number(B.m << BigInt(B.e));
  else n = -B.e >= bitlen(B.m) ? 0 : Number(B.m >> BigInt(-B.e));
  if (n > 1 << 20) n = 1 << 20;
  if (B.s) n = -n;
  R.e += n;
  round(R, 64, FMT_EXT, r[X_FCW]);
}

/** FXTRACT: ST(0) := significand, push exponent... the exponent goes below: ST(1) = exponent. */
function fxtract(c: CPU): void {
  const r = c.r;
  clearEx();
  if (stEmpty(r, 0)) {
    underflow();
    if (!blocked(c)) {
      putSt(r, 0, setIndefinite(R));
      r[X_TOP] = (r[X_TOP] - 1) & 7;
      putSt(r, 0, R);
    }
    finish(c);
    return;
  }
  if (!stEmpty(r, 7)) {
    ex.flags |= FSW_IE | FSW_SF;
    ex.up = 1;
    if (!blocked(c)) {
      putSt(r, 0, setIndefinite(R));
      r[X_TOP] = (r[X_TOP] - 1) & 7;
      putSt(r, 0, R);
    }
    finish(c);
    return;
  }
  getSt(r, 0, A);
  if (nanOperand(R, A)) T.copy(R);
  else if (A.k === K_ZERO) {
    ex.flags |= FSW_ZE;
    setInf(R, 1);
    T.copy(A);
  } else if (A.k === K_INF) {
    setInf(R, 0);
    T.copy(A);
  } else {
    if (A.den) ex.flags |= FSW_DE;
    const n = bitlen(A.m);
    fromInt(R, BigInt(A.e + n - 1));
    setFinite(T, A.s, A.m, 1 - n);
  }
  if (!blocked(c)) {
    putSt(r, 0, R);
    r[X_TOP] = (r[X_TOP] - 1) & 7;
    putSt(r, 0, T);
  }
  finish(c);
}

/**
 * FPREM / FPREM1 (SDM Vol. 2A): exact partial remainder. When the exponents differ by D >= 64 the
 * reduction is partial (C2 = 1): the quotient is formed on N = 32 + (D mod 32) bits, so that D - N
 * is a multiple of 32 (the SDM allows any N in 32..63; this is what the hardware measured does).
 */
const PREM_N = 32;

function fprem(ieee: boolean): Op {
  return (c) => {
    const r = c.r;
    clearEx();
    if (stEmpty(r, 0) || stEmpty(r, 1)) {
      underflow();
      if (!blocked(c)) putSt(r, 0, setIndefinite(R));
      r[X_FSW] &= ~FSW_C2;
      finish(c);
      return;
    }
    getSt(r, 0, A);
    getSt(r, 1, B);
    let done = true;
    let qb = 0;
    let ordinary = false;
    if (nanOperands(R, A, B)) {
      // R holds the NaN result.
    } else if (A.k === K_INF || B.k === K_ZERO) {
      ex.flags |= FSW_IE;
      setIndefinite(R);
    } else {
      if (A.den || B.den) ex.flags |= FSW_DE;
      R.copy(A);
      R.den = false;
      ordinary = true;
      if (A.k === K_FIN && B.k === K_FIN && !blocked(c)) {
        const d = A.e + bitlen(A.m) - (B.e + bitlen(B.m));
        let be = B.e;
        if (d >= 64) {
          done = false;
          be += d - PREM_N - (d & 31);
        }
        const e = Math.min(A.e, be);
        const na = A.m << BigInt(A.e - e);
        const nb = B.m << BigInt(be - e);
        let q = na / nb;
        let rem = na - q * nb;
        let s = A.s;
        if (ieee && done) {
          const twice = rem << 1n;
          if (twice > nb || (twice === nb && (q & 1n) === 1n)) {
            q += 1n;
            rem = nb - rem;
            s ^= 1;
          }
        }
        qb = Number(q & 7n);
        if (rem === 0n) setZero(R, A.s);
        else {
          setFinite(R, s, rem, e);
          round(R, 64, FMT_EXT, r[X_FCW]);
        }
      }
    }
    // Invalid, NaN or an unmasked denormal: C1 and C2 cleared, C0 and C3 unchanged (measured).
    if (!ordinary || blocked(c)) r[X_FSW] &= ~(FSW_C1 | FSW_C2);
    if (!blocked(c)) {
      putSt(r, 0, R);
      if (ordinary) {
        let cc = done ? 0 : FSW_C2;
        if (done) cc |= (qb & 4 ? FSW_C0 : 0) | (qb & 2 ? FSW_C3 : 0) | (qb & 1 ? FSW_C1 : 0);
        r[X_FSW] = (r[X_FSW] & ~FSW_CC) | cc;
      }
    }
    signal(c, ex.flags);
  };
}

defRegRm(1, 4, [signOnly, signOnly, undefined, undefined, ftst, fxam]); // FCHS FABS FTST FXAM
defRegRm(1, 5, [fldConst, fldConst, fldConst, fldConst, fldConst, fldConst, fldConst]);
defRegRm(1, 6, [
  unary(f2xm1),
  binaryPop(fyl2x),
  fpush2(true), // FPTAN
  binaryPop(fpatan),
  fxtract,
  fprem(true), // FPREM1
  stackStep(-1), // FDECSTP
  stackStep(1), // FINCSTP
]);
defRegRm(1, 7, [
  fprem(false), // FPREM
  binaryPop(fyl2xp1),
  unary(fsqrt),
  fpush2(false), // FSINCOS
  unary(frndint),
  unary(fscale),
  fsinCos(false), // FSIN
  fsinCos(true), // FCOS
]);
