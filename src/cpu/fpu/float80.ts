// Double extended-precision (80-bit) values: classification, exact arithmetic and rounding
// (SDM Vol. 1, 4.2, 4.8, 4.9 and 8.2). Encodings are passed as three numbers: `se` (sign << 15 |
// biased exponent), `hi` (significand bits 32..63, bit 63 the explicit integer bit J) and `lo`.
//
// Arithmetic works on unpacked values (Fx): a class, a sign, and for finite values an arbitrary
// BigInt significand m with the exponent e of its least significant bit (value = ±m × 2^e). Every
// operation is computed exactly (or with a sticky bit below all rounding positions) and rounded
// once by round(), which applies the precision control, the rounding control, the exponent range of
// the destination and the masked / unmasked overflow and underflow responses (SDM Vol. 1, 4.9.1.4
// and 4.9.1.5). Exceptions raised are accumulated, FSW-style, in `ex.flags`; `ex.up` records that
// the last inexact rounding went up in magnitude (the C1 "round up" indication).

// FSW exception bits (same values as in fpu.ts, kept local to avoid an import cycle).
const IE = 1;
const DE = 2;
const ZE = 4;
const OE = 8;
const UE = 16;
const PE = 32;
const FCW_DM = 2;
const FCW_OM = 8;
const FCW_UM = 16;

export const K_ZERO = 0;
export const K_FIN = 1;
export const K_INF = 2;
export const K_QNAN = 3;
export const K_SNAN = 4;
/** Unnormals, pseudo-infinities and pseudo-NaNs: invalid operands since the 387 (SDM Vol. 1, 8.2.2). */
export const K_UNSUPP = 5;

export const FMT_EXT = 0;
export const FMT_DBL = 1;
export const FMT_SGL = 2;
const FMT_BIAS = [16383, 1023, 127];

/** Exponent bias adjustment of the unmasked overflow / underflow responses (SDM Vol. 1, 8.5.3-8.5.4). */
const BIAS_ADJUST = 24576;
/** e of a denormal's (and of the smallest normal's) significand LSB: 1 - 16383 - 63. */
const EXT_DEN_E = -16445;

const QBIT = 0x4000000000000000n;
const JBIT = 0x8000000000000000n;
const M64 = 0xffffffffffffffffn;

/** An unpacked value. For NaNs and unsupported encodings m holds the raw 64-bit significand. */
export class Fx {
  k = K_ZERO;
  s = 0;
  m = 0n;
  e = 0;
  /** A denormal or pseudo-denormal operand (the denormal-operand exception applies). */
  den = false;
  /** Raw exponent field, kept for unsupported encodings. */
  raw = 0;

  copy(o: Fx): this {
    this.k = o.k;
    this.s = o.s;
    this.m = o.m;
    this.e = o.e;
    this.den = o.den;
    this.raw = o.raw;
    return this;
  }
}

/** Exceptions raised since the last clear, and the C1 round-up indication. */
export const ex = { flags: 0, up: 0 };

export function clearEx(): void {
  ex.flags = 0;
  ex.up = 0;
}

/** Output of pack80 / store conversions. */
export const out = { se: 0, hi: 0, lo: 0 };

// ---------------------------------------------------------------- classification, (un)packing

/** Tag of a non-empty register from its contents (SDM Vol. 1, 8.1.7): 0 valid, 1 zero, 2 special. */
export function tagOf(se: number, hi: number, lo: number): number {
  const exp = se & 0x7fff;
  if (exp === 0x7fff) return 2;
  if (exp === 0) return (hi | lo) === 0 ? 1 : 2;
  return hi < 0 ? 0 : 2; // J = 0 with a non-zero exponent: unnormal, unsupported
}

export function bitlen(m: bigint): number {
  if (m < 0x100000000n) return 32 - Math.clz32(Number(m));
  if (m < 0x10000000000000000n) return 64 - Math.clz32(Number(m >> 32n));
  let n = 0;
  while (m >= 0x10000000000000000n) {
    m >>= 64n;
    n += 64;
  }
  return n + bitlen(m);
}

function mant(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export function unpack80(x: Fx, se: number, hi: number, lo: number): Fx {
  const exp = se & 0x7fff;
  x.s = (se >> 15) & 1;
  x.den = false;
  x.raw = exp;
  if (exp === 0) {
    if ((hi | lo) === 0) {
      x.k = K_ZERO;
      x.m = 0n;
      return x;
    }
    // Denormal, or pseudo-denormal (J = 1), which the P6 reads with exponent 1.
    x.k = K_FIN;
    x.den = true;
    x.m = mant(hi, lo);
    x.e = EXT_DEN_E;
    return x;
  }
  x.m = mant(hi, lo);
  if (hi >= 0) {
    x.k = K_UNSUPP;
    return x;
  }
  if (exp === 0x7fff) {
    if ((hi & 0x7fffffff) === 0 && lo === 0) x.k = K_INF;
    else x.k = (hi & 0x40000000) !== 0 ? K_QNAN : K_SNAN;
    return x;
  }
  x.k = K_FIN;
  x.e = exp - 16383 - 63;
  return x;
}

/** Encode x (already rounded) as 80 bits into `out`. */
export function pack80(x: Fx): void {
  const sign = x.s << 15;
  switch (x.k) {
    case K_ZERO:
      out.se = sign;
      out.hi = 0;
      out.lo = 0;
      return;
    case K_INF:
      out.se = sign | 0x7fff;
      out.hi = 0x80000000 | 0;
      out.lo = 0;
      return;
    case K_FIN:
      break;
    case K_UNSUPP:
      out.se = sign | x.raw;
      out.hi = Number((x.m >> 32n) & 0xffffffffn) | 0;
      out.lo = Number(x.m & 0xffffffffn) | 0;
      return;
    default:
      out.se = sign | 0x7fff;
      out.hi = Number((x.m >> 32n) & 0xffffffffn) | 0;
      out.lo = Number(x.m & 0xffffffffn) | 0;
      return;
  }
  let m = x.m;
  const e = x.e;
  if (m === 0n) {
    out.se = sign;
    out.hi = 0;
    out.lo = 0;
    return;
  }
  const n = bitlen(m);
  const E = e + n - 1;
  let exp: number;
  if (E >= -16382) {
    if (n > 64) m >>= BigInt(n - 64);
    else if (n < 64) m <<= BigInt(64 - n);
    exp = (E + 16383) & 0x7fff; // bias-adjusted results wrap as the hardware's do
  } else {
    exp = 0;
    const sh = e - EXT_DEN_E;
    m = sh >= 0 ? m << BigInt(sh) : m >> BigInt(-sh);
  }
  out.se = sign | exp;
  out.hi = Number(m >> 32n) | 0;
  out.lo = Number(m & 0xffffffffn) | 0;
}

export function setIndefinite(x: Fx): Fx {
  x.k = K_QNAN;
  x.s = 1;
  x.m = 0xc000000000000000n;
  x.den = false;
  return x;
}

export function setZero(x: Fx, s: number): Fx {
  x.k = K_ZERO;
  x.s = s;
  x.m = 0n;
  x.den = false;
  return x;
}

export function setInf(x: Fx, s: number): Fx {
  x.k = K_INF;
  x.s = s;
  x.m = JBIT;
  x.den = false;
  return x;
}

export function isNan(x: Fx): boolean {
  return x.k === K_QNAN || x.k === K_SNAN;
}

/** A finite value ±m × 2^e (m may be any size; 0 gives a zero). */
export function setFinite(x: Fx, s: number, m: bigint, e: number): Fx {
  x.s = s;
  x.den = false;
  if (m === 0n) {
    x.k = K_ZERO;
    x.m = 0n;
    return x;
  }
  x.k = K_FIN;
  x.m = m;
  x.e = e;
  return x;
}

export function fromInt(x: Fx, v: bigint): Fx {
  return v < 0n ? setFinite(x, 1, -v, 0) : setFinite(x, 0, v, 0);
}

export function fromF32(x: Fx, bits: number): Fx {
  const s = bits >>> 31;
  const exp = (bits >>> 23) & 0xff;
  const frac = bits & 0x7fffff;
  x.s = s;
  x.den = false;
  if (exp === 0) {
    if (frac === 0) return setZero(x, s);
    setFinite(x, s, BigInt(frac), -149);
    x.den = true;
    return x;
  }
  if (exp === 0xff) {
    if (frac === 0) return setInf(x, s);
    x.k = (frac & 0x400000) !== 0 ? K_QNAN : K_SNAN;
    x.m = JBIT | (BigInt(frac) << 40n);
    return x;
  }
  return setFinite(x, s, BigInt(frac | 0x800000), exp - 150);
}

export function fromF64(x: Fx, lo: number, hi: number): Fx {
  const s = hi >>> 31;
  const exp = (hi >>> 20) & 0x7ff;
  const frac = (hi & 0xfffff) * 4294967296 + (lo >>> 0);
  x.s = s;
  x.den = false;
  if (exp === 0) {
    if (frac === 0) return setZero(x, s);
    setFinite(x, s, BigInt(frac), -1074);
    x.den = true;
    return x;
  }
  if (exp === 0x7ff) {
    if (frac === 0) return setInf(x, s);
    x.k = (hi & 0x80000) !== 0 ? K_QNAN : K_SNAN;
    x.m = JBIT | (BigInt(frac) << 11n);
    return x;
  }
  return setFinite(x, s, BigInt(frac + 4503599627370496), exp - 1075);
}

const f64 = new Float64Array(1);
const f64w = new Int32Array(f64.buffer);

export function fromDouble(x: Fx, v: number): Fx {
  f64[0] = v;
  return fromF64(x, f64w[0], f64w[1]);
}

/** The value as a binary64 number (round to nearest; for transcendental arguments). */
export function toDouble(x: Fx): number {
  switch (x.k) {
    case K_ZERO:
      return x.s ? -0 : 0;
    case K_INF:
      return x.s ? -Infinity : Infinity;
    case K_FIN: {
      const n = bitlen(x.m);
      // Keep 64 bits at most so Number() rounds once.
      let m = x.m;
      let e = x.e;
      if (n > 64) {
        m >>= BigInt(n - 64);
        e += n - 64;
      }
      let v = Number(m);
      while (e > 1000) {
        v *= 2 ** 1000;
        e -= 1000;
      }
      while (e < -1000) {
        v *= 2 ** -1000;
        e += 1000;
      }
      v *= 2 ** e;
      return x.s ? -v : v;
    }
    default:
      return Number.NaN;
  }
}

// ---------------------------------------------------------------- rounding

let inexact = false;
let rup = false;

/** Round ±m × 2^e to a multiple of 2^lsb by rounding control rc (SDM Vol. 1, 4.8.4). */
function roundAt(m: bigint, e: number, lsb: number, rc: number, s: number): bigint {
  inexact = false;
  rup = false;
  if (lsb <= e) return lsb === e ? m : m << BigInt(e - lsb);
  const sh = lsb - e;
  let q: bigint;
  let cmp: number;
  if (sh > bitlen(m)) {
    q = 0n;
    cmp = -1;
  } else {
    const shb = BigInt(sh);
    q = m >> shb;
    const rem = m - (q << shb);
    if (rem === 0n) return q;
    const half = 1n << (shb - 1n);
    cmp = rem < half ? -1 : rem === half ? 0 : 1;
  }
  inexact = true;
  let inc: boolean;
  switch (rc) {
    case 0:
      inc = cmp > 0 || (cmp === 0 && (q & 1n) === 1n);
      break;
    case 1:
      inc = s === 1;
      break;
    case 2:
      inc = s === 0;
      break;
    default:
      inc = false;
  }
  if (inc) {
    q += 1n;
    rup = true;
  }
  return q;
}

/**
 * Round the finite x in place to `p` significant bits in format `fmt`'s exponent range, with the
 * rounding control and overflow/underflow masks of `fcw`. For FMT_EXT the unmasked overflow and
 * underflow responses scale the result by 2^∓24576; for memory formats the caller must not store
 * when such an exception is unmasked. Tininess is detected after rounding (SDM Vol. 1, 4.9.1.5).
 */
export function round(x: Fx, p: number, fmt: number, fcw: number): void {
  if (x.k !== K_FIN) return;
  const bias = FMT_BIAS[fmt];
  const emin = 1 - bias;
  const rc = (fcw >> 10) & 3;
  const s = x.s;
  const n = bitlen(x.m);
  const E = x.e + n - 1;
  const lsbU = E - p + 1;
  const mem = fmt !== FMT_EXT;
  if (E >= emin) {
    let q = roundAt(x.m, x.e, lsbU, rc, s);
    let lsb = lsbU;
    if (rup && bitlen(q) > p) {
      q >>= 1n;
      lsb++;
    }
    if (lsb + p - 1 > bias) {
      ex.flags |= OE;
      // Unmasked: memory destinations are left alone (OE only); registers get the result scaled by
      // 2^-24576 unless even that overflows, which gets the masked response.
      if ((fcw & FCW_OM) === 0 && mem) return;
      if ((fcw & FCW_OM) !== 0 || lsb + p - 1 - BIAS_ADJUST > bias) {
        ex.flags |= PE;
        // Masked: infinity or the largest finite value by RC; unmasked but out of range even after
        // the bias adjustment: infinity (measured).
        if (rc === 0 || (rc === 2 && s === 0) || (rc === 1 && s === 1) || (fcw & FCW_OM) === 0) {
          setInf(x, s);
          ex.up = 1;
        } else {
          x.m = (1n << BigInt(p)) - 1n;
          x.e = bias - p + 1;
          ex.up = 0;
        }
        return;
      }
      x.m = q;
      x.e = lsb - BIAS_ADJUST;
    } else {
      x.m = q;
      x.e = lsb;
    }
    if (inexact) {
      ex.flags |= PE;
      ex.up = rup ? 1 : 0;
    }
    return;
  }
  // Tiny before rounding; after rounding with an unbounded exponent?
  let q = roundAt(x.m, x.e, lsbU, rc, s);
  const tiny = !(rup && bitlen(q) > p && E + 1 >= emin);
  if ((fcw & FCW_UM) === 0 && (tiny || !mem) && (mem || E + BIAS_ADJUST >= emin)) {
    if (tiny) ex.flags |= UE;
    if (mem) return;
    if (inexact) {
      ex.flags |= PE;
      ex.up = rup ? 1 : 0;
    }
    x.m = q;
    x.e = lsbU + (tiny ? BIAS_ADJUST : 0);
    return;
  }
  // Masked response: denormalize, rounding at the p-bit position of the format's significand field
  // with the minimum exponent.
  const lsb = Math.max(lsbU, emin - p + 1);
  q = roundAt(x.m, x.e, lsb, rc, s);
  if (inexact) {
    ex.flags |= tiny ? PE | UE : PE;
    ex.up = rup ? 1 : 0;
  } else if (tiny && (fcw & FCW_UM) === 0) ex.flags |= UE;
  if (q === 0n) setZero(x, s);
  else {
    x.m = q;
    x.e = lsb;
  }
}

/** Precision in bits for FCW.PC (SDM Vol. 1, 8.1.5.2); the reserved setting 01 acts as 64 bits here. */
export function pcBits(fcw: number): number {
  const pc = (fcw >> 8) & 3;
  return pc === 0 ? 24 : pc === 2 ? 53 : 64;
}

// ---------------------------------------------------------------- operand screening

/**
 * Resolve NaN and unsupported operands of a two-operand operation (SDM Vol. 1, 4.8.3.5 and
 * Table 4-7): returns true when r holds the result.
 */
export function nanOperands(r: Fx, a: Fx, b: Fx): boolean {
  if (a.k < K_QNAN && b.k < K_QNAN) return false;
  if (a.k === K_UNSUPP || b.k === K_UNSUPP) {
    ex.flags |= IE;
    setIndefinite(r);
    return true;
  }
  if (a.k === K_SNAN || b.k === K_SNAN) ex.flags |= IE;
  const an = a.k >= K_QNAN;
  const bn = b.k >= K_QNAN;
  let src: Fx;
  if (an && bn) {
    if (a.k !== b.k) src = a.k === K_QNAN ? a : b;
    else {
      const ma = a.m & ~QBIT;
      const mb = b.m & ~QBIT;
      src = ma > mb ? a : mb > ma ? b : a.s === 0 ? a : b;
    }
  } else src = an ? a : b;
  r.k = K_QNAN;
  r.s = src.s;
  r.m = src.m | QBIT;
  r.den = false;
  return true;
}

export function nanOperand(r: Fx, a: Fx): boolean {
  if (a.k < K_QNAN) return false;
  if (a.k === K_UNSUPP) {
    ex.flags |= IE;
    setIndefinite(r);
    return true;
  }
  if (a.k === K_SNAN) ex.flags |= IE;
  r.k = K_QNAN;
  r.s = a.s;
  r.m = a.m | QBIT;
  r.den = false;
  return true;
}

function invalid(r: Fx): void {
  ex.flags |= IE;
  setIndefinite(r);
}

/** Raise DE for denormal operands; true when DE is unmasked and the operation must not proceed. */
function denormals(a: Fx, b: Fx, fcw: number): boolean {
  if (!a.den && !b.den) return false;
  ex.flags |= DE;
  return (fcw & FCW_DM) === 0;
}

// ---------------------------------------------------------------- arithmetic

/** r = a + b (or a - b when sub), rounded to PC bits. */
export function fAdd(r: Fx, a: Fx, b: Fx, sub: boolean, fcw: number): void {
  if (nanOperands(r, a, b)) return;
  const bs = sub ? b.s ^ 1 : b.s;
  if (a.k === K_INF || b.k === K_INF) {
    if (a.k === K_INF && b.k === K_INF && a.s !== bs) invalid(r);
    else if (!denormals(a, b, fcw)) setInf(r, a.k === K_INF ? a.s : bs);
    return;
  }
  if (denormals(a, b, fcw)) return;
  if (a.k === K_ZERO && b.k === K_ZERO) {
    setZero(r, a.s === bs ? a.s : ((fcw >> 10) & 3) === 1 ? 1 : 0);
    return;
  }
  const p = pcBits(fcw);
  if (a.k === K_ZERO || b.k === K_ZERO) {
    if (a.k === K_ZERO) {
      r.copy(b);
      r.s = bs;
    } else r.copy(a);
    r.den = false;
    round(r, p, FMT_EXT, fcw);
    return;
  }
  let ea = a.e;
  let ma = a.m;
  let eb = b.e;
  let mb = b.m;
  // A far smaller operand only matters as a sticky bit below every rounding position.
  if (ea - eb > 130) {
    mb = 1n;
    eb = ea - 130;
  } else if (eb - ea > 130) {
    ma = 1n;
    ea = eb - 130;
  }
  const e = Math.min(ea, eb);
  let va = ea > e ? ma << BigInt(ea - e) : ma;
  let vb = eb > e ? mb << BigInt(eb - e) : mb;
  if (a.s) va = -va;
  if (bs) vb = -vb;
  const sum = va + vb;
  if (sum === 0n) {
    setZero(r, ((fcw >> 10) & 3) === 1 ? 1 : 0);
    return;
  }
  if (sum < 0n) setFinite(r, 1, -sum, e);
  else setFinite(r, 0, sum, e);
  round(r, p, FMT_EXT, fcw);
}

export function fMul(r: Fx, a: Fx, b: Fx, fcw: number): void {
  if (nanOperands(r, a, b)) return;
  const s = a.s ^ b.s;
  if (a.k === K_INF || b.k === K_INF) {
    if (a.k === K_ZERO || b.k === K_ZERO) invalid(r);
    else if (!denormals(a, b, fcw)) setInf(r, s);
    return;
  }
  if (denormals(a, b, fcw)) return;
  if (a.k === K_ZERO || b.k === K_ZERO) {
    setZero(r, s);
    return;
  }
  setFinite(r, s, a.m * b.m, a.e + b.e);
  round(r, pcBits(fcw), FMT_EXT, fcw);
}

export function fDiv(r: Fx, a: Fx, b: Fx, fcw: number): void {
  if (nanOperands(r, a, b)) return;
  const s = a.s ^ b.s;
  if (a.k === K_INF) {
    if (b.k === K_INF) invalid(r);
    else if (!denormals(a, b, fcw)) setInf(r, s);
    return;
  }
  if (b.k === K_INF) {
    if (!denormals(a, b, fcw)) setZero(r, s);
    return;
  }
  if (b.k === K_ZERO) {
    if (a.k === K_ZERO) invalid(r);
    else {
      ex.flags |= ZE;
      setInf(r, s);
    }
    return;
  }
  if (denormals(a, b, fcw)) return;
  if (a.k === K_ZERO) {
    setZero(r, s);
    return;
  }
  // Quotient with at least 67 significant bits, plus a sticky bit for a non-zero remainder.
  let k = 67 + bitlen(b.m) - bitlen(a.m);
  if (k < 0) k = 0;
  const num = a.m << BigInt(k);
  let q = num / b.m;
  let e = a.e - b.e - k;
  if (q * b.m !== num) {
    q = (q << 1n) | 1n;
    e--;
  }
  setFinite(r, s, q, e);
  round(r, pcBits(fcw), FMT_EXT, fcw);
}

export function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitlen(n) + 1) >> 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

export function fSqrt(r: Fx, a: Fx, fcw: number): void {
  if (nanOperand(r, a)) return;
  if (a.k === K_ZERO) {
    setZero(r, a.s);
    return;
  }
  if (a.s === 1) {
    invalid(r);
    return;
  }
  if (a.k === K_INF) {
    setInf(r, 0);
    return;
  }
  if (denormals(a, a, fcw)) return;
  let sh = 140 - bitlen(a.m);
  if (sh < 0) sh = 0;
  if (((a.e - sh) & 1) !== 0) sh++;
  const n = a.m << BigInt(sh);
  let root = isqrt(n);
  let e = (a.e - sh) / 2;
  if (root * root !== n) {
    root = (root << 1n) | 1n;
    e--;
  }
  setFinite(r, 0, root, e);
  round(r, pcBits(fcw), FMT_EXT, fcw);
}

export const CMP_GT = 0;
export const CMP_LT = 1;
export const CMP_EQ = 2;
export const CMP_UN = 3;

function cmpMag(a: Fx, b: Fx): number {
  const la = a.e + bitlen(a.m);
  const lb = b.e + bitlen(b.m);
  if (la !== lb) return la < lb ? -1 : 1;
  const d = a.e - b.e;
  const ma = d > 0 ? a.m << BigInt(d) : a.m;
  const mb = d < 0 ? b.m << BigInt(-d) : b.m;
  return ma < mb ? -1 : ma > mb ? 1 : 0;
}

/**
 * Compare a with b. `quiet`: only SNaNs (and unsupported encodings) are invalid (FUCOM*); otherwise
 * any NaN is (FCOM*, SDM Vol. 2A, FCOM).
 */
export function fCompare(a: Fx, b: Fx, quiet: boolean): number {
  if (a.k >= K_QNAN || b.k >= K_QNAN) {
    if (!quiet || a.k !== K_QNAN || b.k !== K_QNAN) {
      if (!quiet || a.k >= K_SNAN || b.k >= K_SNAN) ex.flags |= IE;
    }
    return CMP_UN;
  }
  if (a.den || b.den) ex.flags |= DE;
  if (a.k === K_ZERO && b.k === K_ZERO) return CMP_EQ;
  const sa = a.k === K_ZERO ? -1 : a.s;
  const sb = b.k === K_ZERO ? -1 : b.s;
  // Signs first: a zero sits between the negatives and the positives.
  const ra = a.k === K_ZERO ? 0 : a.s ? -1 : 1;
  const rb = b.k === K_ZERO ? 0 : b.s ? -1 : 1;
  if (ra !== rb || sa < 0 || sb < 0) return ra < rb ? CMP_LT : ra > rb ? CMP_GT : CMP_EQ;
  let c: number;
  if (a.k === K_INF || b.k === K_INF) c = a.k === b.k ? 0 : a.k === K_INF ? 1 : -1;
  else c = cmpMag(a, b);
  if (a.s) c = -c;
  return c < 0 ? CMP_LT : c > 0 ? CMP_GT : CMP_EQ;
}

/** Round to an integer value at 64-bit precision (FRNDINT). */
export function fRndint(r: Fx, a: Fx, fcw: number): void {
  if (nanOperand(r, a)) return;
  if (a.k === K_FIN && denormals(a, a, fcw)) return;
  r.copy(a);
  if (a.k !== K_FIN) return;
  r.den = false;
  if (a.e >= 0) return;
  const q = roundAt(a.m, a.e, 0, (fcw >> 10) & 3, a.s);
  if (inexact) {
    ex.flags |= PE;
    ex.up = rup ? 1 : 0;
  }
  setFinite(r, a.s, q, 0);
  if (q === 0n) setZero(r, a.s);
}

/**
 * The integer value of a, rounded by RC, if it fits `bits` as a two's complement integer; null
 * (with IE raised) otherwise (FIST, FBSTP with bits = 0 meaning 18 BCD digits).
 */
export function toInteger(a: Fx, bits: number, fcw: number): bigint | null {
  if (a.k === K_ZERO) return 0n;
  if (a.k !== K_FIN) {
    ex.flags |= IE;
    return null;
  }
  // No denormal-operand exception for integer stores (measured on hardware).
  let q: bigint;
  if (a.e >= 0) {
    if (a.e + bitlen(a.m) > 64) {
      ex.flags |= IE;
      return null;
    }
    inexact = false;
    rup = false;
    q = a.m << BigInt(a.e);
  } else q = roundAt(a.m, a.e, 0, (fcw >> 10) & 3, a.s);
  const limit =
    bits === 0 ? 999999999999999999n : a.s ? 1n << BigInt(bits - 1) : (1n << BigInt(bits - 1)) - 1n;
  if (q > limit) {
    ex.flags |= IE;
    return null;
  }
  if (inexact) {
    ex.flags |= PE;
    ex.up = rup ? 1 : 0;
  }
  return a.s ? -q : q;
}

/**
 * Round a to a memory real format: FMT_SGL gives the bits in out.lo, FMT_DBL in out.lo / out.hi.
 * Returns false when an unmasked exception forbids the store.
 */
export function toMemReal(a: Fx, fmt: number, fcw: number, x: Fx): void {
  const sgl = fmt === FMT_SGL;
  const sign = a.s;
  let hi = 0;
  let lo = 0;
  switch (a.k) {
    case K_ZERO:
      break;
    case K_INF:
      if (sgl) lo = 0x7f800000;
      else hi = 0x7ff00000;
      break;
    case K_QNAN:
    case K_SNAN:
    case K_UNSUPP: {
      let m = a.m;
      let s = sign;
      if (a.k === K_UNSUPP) {
        ex.flags |= IE;
        m = 0xc000000000000000n;
        s = 1;
      } else if (a.k === K_SNAN) ex.flags |= IE;
      m |= QBIT;
      if (sgl) lo = 0x7f800000 | Number((m >> 40n) & 0x7fffffn);
      else {
        const f = m >> 11n;
        hi = 0x7ff00000 | Number((f >> 32n) & 0xfffffn);
        lo = Number(f & 0xffffffffn) | 0;
      }
      out.lo = sgl ? lo | (s << 31) | 0 : lo;
      out.hi = sgl ? 0 : hi | (s << 31) | 0;
      return;
    }
    default: {
      x.copy(a);
      const mb = sgl ? 24 : 53;
      round(x, mb, fmt, fcw);
      if (x.k === K_INF) {
        if (sgl) lo = 0x7f800000;
        else hi = 0x7ff00000;
      } else if (x.k === K_FIN) {
        const bias = FMT_BIAS[fmt];
        let m = x.m;
        const n = bitlen(m);
        const E = x.e + n - 1;
        let exp: number;
        if (E >= 1 - bias) {
          exp = E + bias;
          m = n > mb ? m >> BigInt(n - mb) : m << BigInt(mb - n);
          m &= (1n << BigInt(mb - 1)) - 1n;
        } else {
          exp = 0;
          const sh = x.e - (1 - bias - mb + 1);
          m = sh >= 0 ? m << BigInt(sh) : m >> BigInt(-sh);
        }
        if (sgl) lo = (exp << 23) | Number(m);
        else {
          hi = (exp << 20) | Number(m >> 32n);
          lo = Number(m & 0xffffffffn) | 0;
        }
      }
    }
  }
  if (sgl) {
    out.lo = lo | (sign << 31) | 0;
    out.hi = 0;
  } else {
    out.lo = lo | 0;
    out.hi = hi | (sign << 31) | 0;
  }
}

export { EXT_DEN_E, M64 };
