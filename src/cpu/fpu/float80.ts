// Double extended-precision (80-bit) values: classification, exact arithmetic and rounding
// (SDM Vol. 1, 4.2, 4.8 and 8.2). Encodings are passed as three numbers: `se` (sign << 15 |
// biased exponent), `hi` (significand bits 32..63, bit 63 the explicit integer bit J) and `lo`.

/** Tag of a non-empty register from its contents (SDM Vol. 1, 8.1.7): 0 valid, 1 zero, 2 special. */
export function tagOf(se: number, hi: number, lo: number): number {
  const exp = se & 0x7fff;
  if (exp === 0x7fff) return 2;
  if (exp === 0) return (hi | lo) === 0 ? 1 : 2;
  return hi < 0 ? 0 : 2; // J = 0 with a non-zero exponent: unnormal, unsupported
}
