// Integer arithmetic and logic: the eight ALU operations, INC/DEC/NEG/NOT, MUL/IMUL/DIV/IDIV,
// shifts and rotates, double shifts, BCD adjust, bit tests and scans. Flags are lazy (cpu.ts).
import type { CPU } from "../cpu.ts";
import type { Insn } from "../insn.ts";
import {
  EAX,
  EDX,
  EFLAGS_AF,
  EFLAGS_ARITH,
  EFLAGS_CF,
  EFLAGS_OF,
  EXC_DE,
  FOP_ADC,
  FOP_ADD,
  FOP_DEC,
  FOP_INC,
  FOP_RESULT,
  FOP_SBB,
  FOP_SUB,
  R_EFLAGS,
  R_FA,
  R_FB,
  R_FOP,
  R_FRES,
  R_FSIZE,
} from "../state.ts";

export const ALU_ADD = 0;
export const ALU_OR = 1;
export const ALU_ADC = 2;
export const ALU_SBB = 3;
export const ALU_AND = 4;
export const ALU_SUB = 5;
export const ALU_XOR = 6;
export const ALU_CMP = 7;

export function maskOf(bits: number): number {
  return bits === 32 ? -1 : bits === 16 ? 0xffff : 0xff;
}

/** Record a lazy ADD/SUB-type result: the operation, its (masked) operands and result, the size. */
export function setLazy(c: CPU, fop: number, a: number, b: number, res: number, bits: number): void {
  const r = c.r;
  r[R_FOP] = fop;
  r[R_FA] = a;
  r[R_FB] = b;
  r[R_FRES] = res;
  r[R_FSIZE] = bits;
}

/** Set flags as a logic op does: CF=OF=0, ZF/SF/PF from the result, AF undefined (cleared). */
export function setLogicFlags(c: CPU, res: number, bits: number): void {
  const r = c.r;
  r[R_EFLAGS] &= ~EFLAGS_ARITH;
  r[R_FOP] = FOP_RESULT;
  r[R_FRES] = res;
  r[R_FSIZE] = bits;
}

/** Set ZF/SF/PF from `res`, and CF/OF/AF to the given bits (shift/rotate/multiply results). */
export function setResultFlags(c: CPU, res: number, bits: number, cfOfAf: number): void {
  const r = c.r;
  r[R_EFLAGS] = (r[R_EFLAGS] & ~EFLAGS_ARITH) | cfOfAf;
  r[R_FOP] = FOP_RESULT;
  r[R_FRES] = res;
  r[R_FSIZE] = bits;
}

/** One of the eight ALU operations on `bits`-wide operands; returns the masked result. */
export function alu(c: CPU, op: number, a: number, b: number, bits: number): number {
  const m = maskOf(bits);
  a &= m;
  b &= m;
  let res: number;
  switch (op) {
    case ALU_ADD:
      res = (a + b) & m;
      setLazy(c, FOP_ADD, a, b, res, bits);
      return res;
    case ALU_OR:
      res = a | b;
      setLogicFlags(c, res, bits);
      return res;
    case ALU_ADC: {
      const cf = c.getCF();
      res = (a + b + cf) & m;
      setLazy(c, cf ? FOP_ADC : FOP_ADD, a, b, res, bits);
      return res;
    }
    case ALU_SBB: {
      const cf = c.getCF();
      res = (a - b - cf) & m;
      setLazy(c, cf ? FOP_SBB : FOP_SUB, a, b, res, bits);
      return res;
    }
    case ALU_AND:
      res = a & b;
      setLogicFlags(c, res, bits);
      return res;
    case ALU_XOR:
      res = a ^ b;
      setLogicFlags(c, res, bits);
      return res;
    default:
      res = (a - b) & m;
      setLazy(c, FOP_SUB, a, b, res, bits);
      return res;
  }
}

export function inc(c: CPU, a: number, bits: number): number {
  const m = maskOf(bits);
  const r = c.r;
  const cf = c.getCF();
  r[R_EFLAGS] = (r[R_EFLAGS] & ~EFLAGS_CF) | cf;
  a &= m;
  const res = (a + 1) & m;
  setLazy(c, FOP_INC, a, 1, res, bits);
  return res;
}

export function dec(c: CPU, a: number, bits: number): number {
  const m = maskOf(bits);
  const r = c.r;
  const cf = c.getCF();
  r[R_EFLAGS] = (r[R_EFLAGS] & ~EFLAGS_CF) | cf;
  a &= m;
  const res = (a - 1) & m;
  setLazy(c, FOP_DEC, a, 1, res, bits);
  return res;
}

export function neg(c: CPU, a: number, bits: number): number {
  const m = maskOf(bits);
  a &= m;
  const res = -a & m;
  setLazy(c, FOP_SUB, 0, a, res, bits);
  return res;
}

// ---------------------------------------------------------------- shifts and rotates

/**
 * Group 2 operation `op` (ROL ROR RCL RCR SHL SHR SAL SAR) of `a` by `count` (already masked to 5 bits).
 * Returns the result; with count 0 flags and result are unchanged (SDM Vol. 2B, SAL/SAR/SHL/SHR).
 * OF is defined for 1-bit shifts only; for other counts we give the 1-bit formula's value, which
 * is what P6-family parts produce for most forms (the tests mask OF for counts > 1).
 */
export function shift(c: CPU, op: number, a: number, count: number, bits: number): number {
  const m = maskOf(bits);
  a &= m;
  if (count === 0) return a;
  const sign = bits - 1;
  let res: number;
  let cf: number;
  let of: number;
  switch (op) {
    case 0: {
      // ROL: rotate count modulo operand size; flags only CF/OF change.
      const n = count & (bits - 1);
      res = n === 0 ? a : ((a << n) | (a >>> (bits - n))) & m;
      cf = res & 1;
      of = ((res >>> sign) ^ cf) & 1;
      setCfOf(c, cf, of);
      return res;
    }
    case 1: {
      const n = count & (bits - 1);
      res = n === 0 ? a : ((a >>> n) | (a << (bits - n))) & m;
      cf = (res >>> sign) & 1;
      of = ((res >>> sign) ^ (res >>> (sign - 1))) & 1;
      setCfOf(c, cf, of);
      return res;
    }
    case 2: {
      // RCL through CF: a (bits+1)-bit rotate.
      const n = bits === 32 ? count : count % (bits + 1);
      if (n === 0) return a;
      cf = c.getCF();
      res = a;
      for (let k = 0; k < n; k++) {
        const out = (res >>> sign) & 1;
        res = ((res << 1) | cf) & m;
        cf = out;
      }
      of = ((res >>> sign) ^ cf) & 1;
      setCfOf(c, cf, of);
      return res;
    }
    case 3: {
      const n = bits === 32 ? count : count % (bits + 1);
      if (n === 0) return a;
      cf = c.getCF();
      of = ((a >>> sign) ^ cf) & 1;
      res = a;
      for (let k = 0; k < n; k++) {
        const out = res & 1;
        res = ((res >>> 1) | (cf << sign)) & m;
        cf = out;
      }
      setCfOf(c, cf, of);
      return res;
    }
    case 4:
    case 6:
      // SHL/SAL. Counts ≥ operand size (possible for 8/16-bit operands) shift everything out.
      if (count > bits) {
        res = 0;
        cf = 0;
      } else {
        res = count === 32 ? 0 : (a << count) & m;
        cf = (a >>> (bits - count)) & 1;
        if (count === bits && bits === 32) cf = a & 1;
      }
      of = ((res >>> sign) ^ cf) & 1;
      setResultFlags(c, res, bits, cf | (of << 11) | shiftAf(c));
      return res;
    case 5:
      if (count > bits) {
        res = 0;
        cf = 0;
      } else {
        res = count === 32 ? 0 : (a >>> count) & m;
        cf = (a >>> (count - 1)) & 1;
      }
      of = (a >>> sign) & 1;
      setResultFlags(c, res, bits, cf | (of << 11) | shiftAf(c));
      return res;
    default: {
      // SAR
      const sa = (a << (32 - bits)) >> (32 - bits);
      const n = count >= bits ? bits - 1 : count;
      res = (sa >> n) & m;
      cf = count >= bits ? (sa >>> 31) & 1 : (sa >> (count - 1)) & 1;
      setResultFlags(c, res, bits, cf | shiftAf(c));
      return res;
    }
  }
}

/** AF after a shift is undefined; P6 parts leave it... we clear it (tests mask it). */
function shiftAf(_c: CPU): number {
  return 0;
}

/** Set CF and OF (0/1 each) after making the other arithmetic flags concrete (rotates). */
export function setCfOf(c: CPU, cf: number, of: number): void {
  c.materializeFlags();
  const r = c.r;
  r[R_EFLAGS] = (r[R_EFLAGS] & ~(EFLAGS_CF | EFLAGS_OF)) | cf | (of << 11);
}

/** SHLD/SHRD (SDM Vol. 2B): count masked to 5 bits; counts > operand size give undefined results. */
export function shiftDouble(
  c: CPU,
  left: boolean,
  dst: number,
  src: number,
  count: number,
  bits: number,
): number {
  const m = maskOf(bits);
  dst &= m;
  src &= m;
  if (count === 0) return dst;
  let res: number;
  let cf: number;
  if (bits === 16) {
    // Treat as a 32-bit (dst:src) shift; counts 17..31 take bits from dst again as P6 parts do.
    if (left) {
      const wide = ((BigInt(dst) << 32n) | (BigInt(src) << 16n) | BigInt(dst)) << BigInt(count);
      res = Number((wide >> 32n) & 0xffffn);
      cf = Number((wide >> 48n) & 1n);
    } else {
      const wide = BigInt(dst) | (BigInt(src) << 16n) | (BigInt(dst) << 32n);
      res = Number((wide >> BigInt(count)) & 0xffffn);
      cf = Number((wide >> BigInt(count - 1)) & 1n);
    }
  } else if (left) {
    res = (dst << count) | (src >>> (32 - count)) | 0;
    cf = (dst >>> (32 - count)) & 1;
  } else {
    res = (dst >>> count) | (src << (32 - count)) | 0;
    cf = (dst >>> (count - 1)) & 1;
  }
  const of = ((res ^ dst) >>> (bits - 1)) & 1;
  setResultFlags(c, res & m, bits, cf | (of << 11));
  return res & m;
}

// ---------------------------------------------------------------- multiply and divide

/** High 32 bits of the unsigned 64-bit product of two uint32 values. */
export function mulHighU32(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const lh = al * bh;
  const hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) | 0;
}

/** MUL/IMUL one-operand forms (F6/F7 /4 /5). */
export function mul1(c: CPU, src: number, bits: number, signed: boolean): void {
  const r = c.r;
  let cfof: boolean;
  if (bits === 8) {
    const a = signed ? (r[EAX] << 24) >> 24 : r[EAX] & 0xff;
    const b = signed ? (src << 24) >> 24 : src & 0xff;
    const p = a * b;
    c.setReg16(EAX, p);
    cfof = signed ? p !== (p << 24) >> 24 : p > 0xff;
    setResultFlags(c, p & 0xff, 8, cfof ? EFLAGS_CF | EFLAGS_OF : 0);
  } else if (bits === 16) {
    const a = signed ? (r[EAX] << 16) >> 16 : r[EAX] & 0xffff;
    const b = signed ? (src << 16) >> 16 : src & 0xffff;
    const p = a * b;
    c.setReg16(EAX, p);
    c.setReg16(EDX, p >> 16);
    cfof = signed ? p !== (p << 16) >> 16 : p > 0xffff;
    setResultFlags(c, p & 0xffff, 16, cfof ? EFLAGS_CF | EFLAGS_OF : 0);
  } else {
    const a = r[EAX];
    const b = src | 0;
    // The 64-bit product from 16-bit halves (no BigInt: this is hot in compiled code's helper too).
    const lo = Math.imul(a, b);
    let hi = mulHighU32(a >>> 0, b >>> 0);
    // Signed high half: subtract the other operand for each negative one (mod 2^32).
    if (signed) hi = (hi - (a < 0 ? b : 0) - (b < 0 ? a : 0)) | 0;
    cfof = signed ? hi !== lo >> 31 : hi !== 0;
    r[EAX] = lo;
    r[EDX] = hi;
    setResultFlags(c, lo, 32, cfof ? EFLAGS_CF | EFLAGS_OF : 0);
  }
}

/** IMUL two/three-operand forms: returns the truncated product, sets CF/OF on overflow. */
export function imul2(c: CPU, a: number, b: number, bits: number): number {
  let res: number;
  let of: boolean;
  if (bits === 16) {
    const p = ((a << 16) >> 16) * ((b << 16) >> 16);
    res = p & 0xffff;
    of = p !== (p << 16) >> 16;
  } else {
    res = Math.imul(a, b);
    // The product as a double: exact while it fits in 53 bits, so exactly equal to the truncated
    // result when it fits in 32; rounding is monotonic and ±2^31 are doubles, so a product outside
    // the int32 range stays outside it (BigInt here cost the kernel's MPI loops, 4 IMULs in 47
    // instructions, ~half the interpreter's time on them).
    of = (a | 0) * (b | 0) !== res;
  }
  setResultFlags(c, res, bits, of ? EFLAGS_CF | EFLAGS_OF : 0);
  return res;
}

/** DIV/IDIV (F6/F7 /6 /7): #DE on divide by zero or quotient overflow. Flags are undefined (unchanged here). */
export function div1(c: CPU, src: number, bits: number, signed: boolean): void {
  const r = c.r;
  if (bits === 8) {
    const d = signed ? (src << 24) >> 24 : src & 0xff;
    if (d === 0) c.raise(EXC_DE);
    const n = signed ? (r[EAX] << 16) >> 16 : r[EAX] & 0xffff;
    const q = Math.trunc(n / d);
    const rem = n - q * d;
    if (signed ? q > 127 || q < -128 : q > 0xff) c.raise(EXC_DE);
    c.setReg8(0, q);
    c.setReg8(4, rem);
  } else if (bits === 16) {
    const d = signed ? (src << 16) >> 16 : src & 0xffff;
    if (d === 0) c.raise(EXC_DE);
    const n = signed ? (r[EDX] << 16) | (r[EAX] & 0xffff) : (r[EDX] & 0xffff) * 0x10000 + (r[EAX] & 0xffff);
    const q = Math.trunc(n / d);
    const rem = n - q * d;
    if (signed ? q > 32767 || q < -32768 : q > 0xffff) c.raise(EXC_DE);
    c.setReg16(EAX, q);
    c.setReg16(EDX, rem);
  } else {
    if ((src | 0) === 0) c.raise(EXC_DE);
    if (!signed && r[EDX] === 0) {
      // Common fast case: 32-bit dividend.
      const n = r[EAX] >>> 0;
      const d = src >>> 0;
      const q = Math.floor(n / d);
      r[EAX] = q;
      r[EDX] = n - q * d;
      return;
    }
    if (signed) {
      const n = (BigInt(r[EDX]) << 32n) | BigInt(r[EAX] >>> 0);
      const d = BigInt(src | 0);
      const q = n / d;
      if (q > 0x7fffffffn || q < -0x80000000n) c.raise(EXC_DE);
      r[EAX] = Number(q);
      r[EDX] = Number(n - q * d);
    } else {
      const n = (BigInt(r[EDX] >>> 0) << 32n) | BigInt(r[EAX] >>> 0);
      const d = BigInt(src >>> 0);
      const q = n / d;
      if (q > 0xffffffffn) c.raise(EXC_DE);
      r[EAX] = Number(BigInt.asIntN(32, q));
      r[EDX] = Number(BigInt.asIntN(32, n - q * d));
    }
  }
}

// ---------------------------------------------------------------- BCD (SDM Vol. 2A, DAA/DAS/AAA/AAS/AAM/AAD)

export function daa(c: CPU): void {
  const oldAl = c.getReg8(0);
  const oldCf = c.getCF();
  const af = c.getAF();
  let al = oldAl;
  let cf = 0;
  let newAf = 0;
  if ((al & 0xf) > 9 || af) {
    al = (al + 6) & 0xff;
    cf = oldCf | (oldAl > 0xf9 ? 1 : 0);
    newAf = 1;
  }
  if (oldAl > 0x99 || oldCf) {
    al = (al + 0x60) & 0xff;
    cf = 1;
  }
  c.setReg8(0, al);
  // OF is undefined; P6 parts compute it as for the additions performed (tests mask it).
  setResultFlags(c, al, 8, cf | (newAf ? EFLAGS_AF : 0));
}

export function das(c: CPU): void {
  const oldAl = c.getReg8(0);
  const oldCf = c.getCF();
  const af = c.getAF();
  let al = oldAl;
  let cf = 0;
  let newAf = 0;
  if ((al & 0xf) > 9 || af) {
    al = (al - 6) & 0xff;
    cf = oldCf | (oldAl < 6 ? 1 : 0);
    newAf = 1;
  }
  if (oldAl > 0x99 || oldCf) {
    al = (al - 0x60) & 0xff;
    cf = 1;
  }
  c.setReg8(0, al);
  setResultFlags(c, al, 8, cf | (newAf ? EFLAGS_AF : 0));
}

export function aaa(c: CPU, sub: boolean): void {
  const r = c.r;
  let ax = r[EAX] & 0xffff;
  let flag = 0;
  if ((ax & 0xf) > 9 || c.getAF()) {
    // AAS: AX ← AX – 6 (a borrow out of AL reaches AH), then AH ← AH – 1 (SDM Vol. 2A, AAS; the
    // 8086 adjusted AL alone, the 286 and later do this).
    if (sub) ax = (ax - 0x106) & 0xffff;
    else ax = (ax + 0x106) & 0xffff;
    flag = EFLAGS_AF | EFLAGS_CF;
  }
  ax &= 0xff0f;
  c.setReg16(EAX, ax);
  // ZF/SF/PF/OF undefined: computed from AL here.
  setResultFlags(c, ax & 0xff, 8, flag);
}

export function aam(c: CPU, base: number): void {
  if (base === 0) c.raise(EXC_DE);
  const al = c.getReg8(0);
  const ah = Math.floor(al / base);
  const nal = al % base;
  c.setReg16(EAX, (ah << 8) | nal);
  setResultFlags(c, nal, 8, 0);
}

export function aad(c: CPU, base: number): void {
  const ax = c.r[EAX] & 0xffff;
  const al = ax & 0xff;
  const prod = ((ax >> 8) * base) & 0xff;
  const res = (al + prod) & 0xff;
  c.setReg16(EAX, res);
  // Flags as an 8-bit add of AL and AH*base (P6 behaviour; CF/AF/OF undefined architecturally).
  setLazy(c, FOP_ADD, al, prod, res, 8);
}

// ---------------------------------------------------------------- bit scan

/** BSF/BSR: ZF=1 and destination unchanged when the source is zero (as P6 parts do). */
export function bitScan(c: CPU, src: number, bits: number, reverse: boolean): number {
  src &= maskOf(bits);
  const r = c.r;
  c.materializeFlags();
  if (src === 0) {
    r[R_EFLAGS] |= 1 << 6;
    return -1;
  }
  r[R_EFLAGS] &= ~(1 << 6);
  return reverse ? 31 - Math.clz32(src) : 31 - Math.clz32(src & -src);
}

export type AluHandler = (c: CPU, i: Insn) => void;
