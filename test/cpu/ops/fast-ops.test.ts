// The specialized handlers (src/cpu/ops/fast-ops.ts) against the generic ones they replace: decode()
// picks them only for their forms, and from the same random states both leave the same registers,
// EFLAGS, EIP, memory and fault. The host-CPU comparison (test/cpu/hostdiff.test.ts) runs them too,
// where the host can run i386 programs; this test needs no host support.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CPU } from "../../../src/cpu/cpu.ts";
import { decode } from "../../../src/cpu/decoder.ts";
import { type Handler, Insn } from "../../../src/cpu/insn.ts";
import * as A from "../../../src/cpu/ops/arith-ops.ts";
import * as C from "../../../src/cpu/ops/control-ops.ts";
import * as D from "../../../src/cpu/ops/data-ops.ts";
import { CS, DS, R_EIP, R_SEGLIMIT, SS } from "../../../src/cpu/state.ts";
import { flat32, hex, load, makeCpu } from "../helpers.ts";

const CODE = 0x1000;
const DATA = 0x8000;

// Encoding, the handler decode() must pick (its name; "" for the generic one), the generic handler.
const FORMS: [string, string, Handler][] = [
  ["01 c8", "addEvGvR", A.aluEvGv],
  ["09 08", "orEvGvM", A.aluEvGv],
  ["21 0c 18", "andEvGvM", A.aluEvGv],
  ["29 c8", "subEvGvR", A.aluEvGv],
  ["31 c0", "xorEvGvR", A.aluEvGv],
  ["39 48 04", "cmpEvGvM", A.aluEvGv],
  ["03 c1", "addGvEvR", A.aluGvEv],
  ["2b 08", "subGvEvM", A.aluGvEv],
  ["3b 0c 18", "cmpGvEvM", A.aluGvEv],
  ["33 c8", "xorGvEvR", A.aluGvEv],
  ["83 c0 7f", "addEvIR", A.grp1Ev],
  ["81 28 ff ff ff 7f", "subEvIM", A.grp1Ev],
  ["83 f9 80", "cmpEvIR", A.grp1Ev],
  ["83 20 f0", "andEvIM", A.grp1Ev],
  ["81 f0 00 00 00 80", "xorEvIR", A.grp1Ev],
  ["83 39 01", "cmpEvIM", A.grp1Ev],
  ["85 c8", "testEvGvR", A.testEvGv],
  ["85 08", "testEvGvM", A.testEvGv],
  ["89 c8", "movEvGvR", D.movEvGv],
  ["89 0c 18", "movEvGvM", D.movEvGv],
  ["89 48 08", "movEvGvMBase", D.movEvGv],
  ["89 8c 20 00 01 00 00", "movEvGvMBase", D.movEvGv], // an index-free SIB: [eax + disp32]
  ["8b 0c 24", "movGvEvMBase", D.movGvEv], // [esp]: SS
  ["8b c8", "movGvEvR", D.movGvEv],
  ["8b 48 fc", "movGvEvMBase", D.movGvEv],
  ["8b 0c 18", "movGvEvM", D.movGvEv],
  ["67 8b 4f 02", "movGvEvM", D.movGvEv], // 16-bit address size: kept general
  ["0f b6 cc", "movzxbR", D.movzxb],
  ["0f b6 08", "movzxbM", D.movzxb],
  ["0f b7 c8", "movzxwR", D.movzxw],
  ["0f b7 48 01", "movzxwM", D.movzxw],
  ["8d 4c 58 10", "lea32", D.lea],
  ["c1 e0 01", "shlR", A.grp2EvIb],
  ["c1 e1 1f", "shlR", A.grp2EvIb],
  ["c1 e8 05", "shrR", A.grp2EvIb],
  ["c1 f9 1f", "sarR", A.grp2EvIb],
  ["c1 f8 21", "sarR", A.grp2EvIb], // count masked to 1
  ["66 89 08", "movEwGwM", D.movEvGv],
  ["66 8b 48 02", "movGwEwM", D.movGvEv],
  ["0f af c8", "imulGvEvR", A.imulGvEv],
  ["0f af c0", "imulGvEvR", A.imulGvEv], // EAX near DATA, squared: fits in 31 bits
  ["0f af d8", "imulGvEvR", A.imulGvEv], // EBX below 0x40 × EAX: fits
  ["11 c8", "adcEvGvR", A.aluEvGv],
  ["19 d9", "sbbEvGvR", A.aluEvGv],
  ["13 c1", "adcGvEvR", A.aluGvEv],
  ["1b c8", "sbbGvEvR", A.aluGvEv],
  ["0f 43 c8", "cmovccR32", A.cmovcc], // cmovae
  ["0f 4f 08", "cmovccM32", A.cmovcc], // cmovg, memory
  ["0f 44 0c 18", "cmovccM32", A.cmovcc], // cmove, SIB
  // Kept generic: carry-in operations on memory, 16-bit operands, LOCK, zero shift counts, memory
  // shifts.
  ["1b 08", "", A.aluGvEv],
  ["11 08", "", A.aluEvGv],
  ["66 0f 43 c8", "", A.cmovcc],
  ["66 01 c8", "", A.aluEvGv],
  ["f0 01 08", "", A.aluEvGv],
  ["c1 e0 00", "", A.grp2EvIb],
  ["c1 e0 20", "", A.grp2EvIb],
  ["c1 20 03", "", A.grp2EvIb],
  ["66 89 c8", "", D.movEvGv],
  ["0f af 08", "", A.imulGvEv],
  ["66 0f af c8", "", A.imulGvEv],
];
for (let cc = 0; cc < 16; cc++) {
  const name = `j${cc & 1 ? "n" : ""}${["o", "b", "z", "be", "s", "p", "l", "le"][cc >> 1]}Rel`;
  FORMS.push([`${(0x70 + cc).toString(16)} 10`, name, C.jccRel]);
  FORMS.push([`0f ${(0x80 + cc).toString(16)} f0 ff ff ff`, name, C.jccRel]);
}

function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x | 0;
  };
}

/** `c` at CPL 3 with random registers (EAX/EBX near DATA so memory operands land in RAM) and flags. */
function setUp(c: CPU, bytes: number[], next: () => number, flagsFrom: number): void {
  c.r[R_SEGLIMIT + CS] = -1;
  load(c, CODE, bytes);
  const data = new Uint8Array(256);
  for (let k = 0; k < data.length; k++) data[k] = next() & 0xff;
  load(c, DATA, data);
  for (let n = 0; n < 8; n++) c.r[n] = next();
  c.r[0] = DATA + 0x40 + (next() & 0x3f);
  c.r[3] = next() & 0x3f;
  c.r[R_EIP] = CODE;
  // A lazy state left by an earlier operation (the Jcc forms read it): run an ADD, SUB or logic op.
  const prelude = [0x01, 0x29, 0x21][flagsFrom % 3];
  load(c, CODE + 0x800, [prelude, 0xd6]);
  const i = decode(c, new Insn(), CODE + 0x800, c.codeMode);
  c.r[R_EIP] = CODE + 0x800 + i.len;
  i.h(c, i);
  c.r[R_EIP] = CODE;
}

function run(c: CPU, h: Handler, i: Insn): string {
  c.r[R_EIP] = CODE + i.len;
  try {
    h(c, i);
  } catch {
    return `fault ${c.excVector}:${c.excError}`;
  }
  return "ok";
}

test("decode() picks the specialized handlers for their forms only", () => {
  const c = makeCpu();
  flat32(c, 3);
  for (const [enc, name, generic] of FORMS) {
    load(c, CODE, hex(enc));
    const i = decode(c, new Insn(), CODE, c.codeMode);
    assert.equal(i.h.name, name || generic.name, enc);
  }
});

test("the specialized handlers leave the state the generic ones leave (registers, flags, EIP, memory, faults)", () => {
  const next = rng(0x5eed1);
  const a = makeCpu();
  const b = makeCpu();
  flat32(a, 3);
  flat32(b, 3);
  let compared = 0;
  for (const [enc, name, generic] of FORMS) {
    if (name === "") continue;
    for (let k = 0; k < 300; k++) {
      const seed = next();
      setUp(a, hex(enc), rng(seed), k);
      setUp(b, hex(enc), rng(seed), k);
      // Sometimes a CS limit below the jump targets: the #GP path of Jcc.
      if (k % 7 === 0) {
        a.r[R_SEGLIMIT + CS] = CODE + 0x20;
        b.r[R_SEGLIMIT + CS] = CODE + 0x20;
      }
      // Sometimes data segments that are not flat, so the segment checks run: DS read-only with
      // a limit inside the data (#GP on a write, or past it), SS writable with a limit (#SS).
      const segs = k % 5 === 1;
      if (segs)
        for (const c of [a, b]) {
          c.setSegCache(DS, 0x13, 0, DATA + 0x80, 0x40f1);
          c.setSegCache(SS, 0x13, 0, DATA + 0x80, 0x40f3);
        }
      const ia = decode(a, new Insn(), CODE, a.codeMode);
      const ib = decode(b, new Insn(), CODE, b.codeMode);
      assert.equal(ia.h.name, name);
      const outA = run(a, ia.h, ia);
      const outB = run(b, generic, ib);
      const what = `${enc} (${name}), case ${k}`;
      assert.equal(outA, outB, what);
      for (let n = 0; n < 8; n++) assert.equal(a.r[n], b.r[n], `${what}: register ${n}`);
      if (outA === "ok") {
        assert.equal(a.r[R_EIP], b.r[R_EIP], `${what}: EIP`);
        assert.equal(a.getEflags(), b.getEflags(), `${what}: EFLAGS`);
      }
      assert.deepEqual(a.ram.subarray(DATA, DATA + 256), b.ram.subarray(DATA, DATA + 256), `${what}: memory`);
      if (segs) {
        flat32(a, 3);
        flat32(b, 3);
      }
      compared++;
    }
  }
  assert.ok(compared > 10000, `${compared} cases`);
});
