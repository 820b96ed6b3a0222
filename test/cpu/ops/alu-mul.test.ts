// The 32×32→64 multiply helper against BigInt, on edge values and a pseudo-random sweep.
import assert from "node:assert/strict";
import { test } from "node:test";
import { mulHighU32 } from "../../../src/cpu/ops/alu.ts";

test("mulHighU32 is the high half of the exact unsigned product", () => {
  const edges = [0, 1, 2, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
  const values = [...edges];
  let x = 0x12345678;
  for (let k = 0; k < 2000; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    values.push(x >>> 0);
  }
  for (let i = 0; i < values.length; i += 7)
    for (const b of edges.concat(values.slice(i, i + 7))) {
      const a = values[i];
      const want = Number(BigInt.asIntN(32, (BigInt(a) * BigInt(b)) >> 32n));
      assert.equal(mulHighU32(a, b), want, `${a.toString(16)} * ${b.toString(16)}`);
    }
});
