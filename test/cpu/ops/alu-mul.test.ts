// The 32×32→64 multiply helper and two-operand IMUL's overflow flags against BigInt, on edge values
// and a pseudo-random sweep.
import assert from "node:assert/strict";
import { test } from "node:test";
import { imul2, mulHighU32 } from "../../../src/cpu/ops/alu.ts";
import { EFLAGS_CF, EFLAGS_OF } from "../../../src/cpu/state.ts";
import { makeCpu } from "../helpers.ts";

const edges = [0, 1, 2, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const values = [...edges];
{
  let x = 0x12345678;
  for (let k = 0; k < 2000; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    values.push(x >>> 0);
  }
}

test("mulHighU32 is the high half of the exact unsigned product", () => {
  for (let i = 0; i < values.length; i += 7)
    for (const b of edges.concat(values.slice(i, i + 7))) {
      const a = values[i];
      const want = Number(BigInt.asIntN(32, (BigInt(a) * BigInt(b)) >> 32n));
      assert.equal(mulHighU32(a, b), want, `${a.toString(16)} * ${b.toString(16)}`);
    }
});

test("IMUL r32, r/m32: the low half, and CF = OF = 1 exactly when the signed product does not fit in 32 bits", () => {
  const c = makeCpu(1);
  // Products around the int32 limits too: 0x10000 × 0x8000 = 2^31 (overflows), × 0x7fff fits.
  for (let i = 0; i < values.length; i += 7)
    for (const b of edges.concat(values.slice(i, i + 7), [0x7fff, 0xffff8000, 0xffff8001])) {
      const a = values[i] as number;
      const full = BigInt(a | 0) * BigInt(b | 0);
      const res = imul2(c, a, b, 32);
      assert.equal(res, Number(BigInt.asIntN(32, full)), `${a.toString(16)} * ${b.toString(16)}`);
      const want = full === BigInt.asIntN(32, full) ? 0 : EFLAGS_CF | EFLAGS_OF;
      assert.equal(
        c.getEflags() & (EFLAGS_CF | EFLAGS_OF),
        want,
        `flags of ${a.toString(16)} * ${b.toString(16)}`,
      );
    }
});
