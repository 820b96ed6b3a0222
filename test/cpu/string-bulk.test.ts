// REP MOVS/STOS through flat segments are done a page at a time, upward and downward (ops/data-ops.ts
// bulkString()).
// Differential check against the element-by-element path: the same programs run with flat DS/ES
// (bulk) and with DS/ES limited to 0xfffffffe (not flat, so every element goes through the
// segment checks one by one), from the same random states, with paging on and one page unmapped
// so that some copies fault part-way. Registers, flags, memory, the fault, CR2 and EIP must agree.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type CPU, EXIT_BUDGET, EXIT_EXCEPTION } from "../../src/cpu/cpu.ts";
import { DS, EAX, ECX, EDI, ES, ESI, R_CR0, R_CR2, R_CR3, R_EIP } from "../../src/cpu/state.ts";
import { flat32, load, makeCpu } from "./helpers.ts";

const PD = 0x100000;
const PT = 0x101000;
const HOLE = 0x23000; // not present
const RO = 0x26000; // read-only for user code

function machine(flat: boolean, cpl: number): CPU {
  const c = makeCpu(4);
  flat32(c, cpl);
  if (!flat) for (const s of [DS, ES]) c.setSegCache(s, 0x23, 0, 0xfffffffe, 0xc0f3);
  c.trapExceptions = true;
  c.ram32[PD >>> 2] = PT | 7;
  for (let p = 0; p < 1024; p++) {
    const lin = p << 12;
    c.ram32[(PT >>> 2) + p] = lin === HOLE ? 0 : lin | (lin === RO ? 5 : 7);
  }
  c.r[R_CR3] = PD;
  c.r[R_CR0] |= 0x80000000;
  c.flushTlb(true);
  return c;
}

test("REP MOVS/STOS a page at a time agree with element-by-element execution (overlap, faults, sizes)", () => {
  let seed = 0x5eed;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  let faults = 0;
  for (let t = 0; t < 300; t++) {
    const size = [1, 2, 4][rnd(3)];
    const movs = rnd(2) === 0;
    const op = (movs ? 0xa4 : 0xaa) | (size === 1 ? 0 : 1);
    // Half of them with EFLAGS.DF set (STD first): addresses descending.
    const down = rnd(2) === 0;
    const code = [...(down ? [0xfd] : []), ...(size === 2 ? [0x66] : []), 0xf3, op, 0x0f, 0x0b]; // [std;] rep movs/stos; ud2
    const cpl = rnd(2) === 0 ? 0 : 3;
    const src = 0x20000 + rnd(0x8000);
    // Destinations near the source make overlapping copies in both directions.
    const dst = rnd(3) === 0 ? src + rnd(64) - 32 : 0x20000 + rnd(0x8000);
    const count = rnd(4) === 0 ? rnd(16) : rnd(3000);
    const fill = rnd(0x7fffffff);
    const out: number[][] = [];
    for (const flat of [true, false]) {
      const c = machine(flat, cpl);
      for (let a = 0x20000; a < 0x30000; a += 4) c.ram32[a >>> 2] = Math.imul(a, 0x9e3779b1) ^ fill;
      load(c, 0x1000, code);
      c.r[R_EIP] = 0x1000;
      c.r[ESI] = src;
      c.r[EDI] = dst;
      c.r[ECX] = count;
      c.r[EAX] = fill;
      let ex: number;
      do ex = c.run(1000);
      while (ex === EXIT_BUDGET);
      assert.equal(ex, EXIT_EXCEPTION);
      out.push([
        c.excVector,
        c.excError,
        c.r[R_EIP],
        c.r[R_CR2],
        c.getEflags(),
        ...c.r.subarray(0, 8),
        ...c.ram32.subarray(0x20000 >>> 2, 0x30000 >>> 2),
      ]);
    }
    const [bulk, each] = out;
    if (bulk[0] === 14) faults++;
    assert.deepEqual(
      bulk,
      each,
      `case ${t}: ${down ? "std; " : ""}${movs ? "movs" : "stos"}${size} cpl ${cpl} src ${src.toString(16)} dst ${dst.toString(16)} count ${count}`,
    );
  }
  // Some copies must have hit the hole or the read-only page part-way.
  assert.ok(faults > 10, `faults: ${faults}`);
});
