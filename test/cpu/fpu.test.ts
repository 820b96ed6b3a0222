// x87 unit tests, run as machine code on the interpreter.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type CPU, EXIT_EXCEPTION, EXIT_HLT } from "../../src/cpu/cpu.ts";
import type { X87 } from "../../src/cpu/fpu.ts";
import {
  CR0_EM,
  CR0_MP,
  CR0_NE,
  CR0_TS,
  EAX,
  EDX,
  ESP,
  EXC_MF,
  EXC_NM,
  R_CR0,
  R_EIP,
} from "../../src/cpu/state.ts";
import { flat32, hex, load, makeCpu, real16 } from "./helpers.ts";

let cases = 0;
process.on("exit", () => console.log(`# fpu.test.ts: ${cases} cases checked`));

function cpu32(): CPU {
  const c = makeCpu();
  flat32(c, 0);
  c.trapExceptions = true;
  c.r[ESP] = 0x8000;
  return c;
}

/** Run `code` (hex) at 0x1000 up to its HLT. */
function run(c: CPU, code: string, at = 0x1000): number {
  load(c, at, hex(`${code} f4`));
  c.r[R_EIP] = at;
  c.halted = false;
  return c.run(10000);
}

function fpu(c: CPU): X87 {
  return c.fpu as X87;
}

const rd16 = (c: CPU, a: number) => c.ram[a] | (c.ram[a + 1] << 8);
const bytes = (c: CPU, a: number, n: number) => [...c.ram.subarray(a, a + n)];

test("CPUID reports an FPU; power-on and FNINIT state", () => {
  const c = cpu32();
  c.r[EAX] = 1;
  run(c, "0fa2");
  assert.equal(c.r[EDX] & 1, 1);
  assert.equal(fpu(c).fcw, 0x40);
  assert.equal(fpu(c).ftw, 0x5555);
  // fninit; fnstsw ax; fnstcw [0x2000]; fnstsw [0x2002]
  c.r[EAX] = 0x12345678;
  assert.equal(run(c, "dbe3 dfe0 d93d00200000 dd3d02200000"), EXIT_HLT);
  assert.equal(c.r[EAX] >>> 0, 0x12340000);
  assert.equal(rd16(c, 0x2000), 0x37f);
  assert.equal(rd16(c, 0x2002), 0);
  assert.equal(fpu(c).ftw, 0xffff);
  cases += 6;
});

test("FLDCW keeps writable bits only; FNCLEX", () => {
  const c = cpu32();
  for (const [v, want] of [
    [0, 0x40],
    [0xffff, 0x1f7f],
    [0x0c7f, 0x0c7f],
    [0x137f, 0x137f],
  ]) {
    c.ram[0x2000] = v & 0xff;
    c.ram[0x2001] = v >> 8;
    run(c, "d92d00200000 d93d02200000");
    assert.equal(rd16(c, 0x2002), want, `fldcw ${v.toString(16)}`);
    cases++;
  }
});

test("#NM: CR0.EM / CR0.TS on escapes, MP+TS on WAIT", () => {
  for (const [cr0, code, nm] of [
    [CR0_EM, "dbe3", true],
    [CR0_TS, "dbe3", true],
    [CR0_TS, "9b", false],
    [CR0_MP | CR0_TS, "9b", true],
    [CR0_EM, "9b", false],
    [CR0_MP, "d9d0", false],
  ] as const) {
    const c = cpu32();
    c.r[R_CR0] |= cr0;
    const exit = run(c, code);
    if (nm) {
      assert.equal(exit, EXIT_EXCEPTION);
      assert.equal(c.excVector, EXC_NM);
      assert.equal(c.r[R_EIP], 0x1000);
    } else assert.equal(exit, EXIT_HLT, `cr0 ${cr0} ${code}`);
    cases++;
  }
});

/** An FRSTOR image (32-bit protected) at `a`: control, status, tag word and ST(0..7) raw bytes. */
function putImage32(c: CPU, a: number, fcw: number, fsw: number, ftw: number, regs: number[][]): void {
  const w32 = (o: number, v: number) => {
    for (let k = 0; k < 4; k++) c.ram[a + o + k] = v >>> (8 * k);
  };
  c.ram.fill(0, a, a + 108);
  w32(0, fcw);
  w32(4, fsw);
  w32(8, ftw);
  for (let k = 0; k < 8; k++) c.ram.set(regs[k] ?? new Array(10).fill(0), a + 28 + 10 * k);
}

test("#MF with CR0.NE=1 at the next waiting instruction; FNCLEX clears it", () => {
  const c = cpu32();
  c.r[R_CR0] |= CR0_NE;
  // Status with IE set, IE unmasked: ES becomes pending on FRSTOR.
  putImage32(c, 0x3000, 0x37e, 0x0001, 0xffff, []);
  // frstor [0x3000]; fnstsw ax (no-wait: no fault); fwait
  assert.equal(run(c, "dd2500300000 dfe0 9b"), EXIT_EXCEPTION);
  assert.equal(c.excVector, EXC_MF);
  assert.equal(c.r[R_EIP], 0x1008);
  assert.equal(c.r[EAX] & 0xffff, 0x8081); // B, ES, IE
  // fnclex; fwait
  assert.equal(run(c, "dbe2 9b"), EXIT_HLT);
  assert.equal(fpu(c).fsw, 0);
  // Unmasking a set flag with FLDCW makes it pending as well (fld1 is a waiting escape).
  putImage32(c, 0x3000, 0x37f, 0x0004, 0xffff, []);
  c.ram[0x2000] = 0x7b;
  c.ram[0x2001] = 0x03;
  assert.equal(run(c, "dd2500300000 d92d00200000 d9e8"), EXIT_EXCEPTION);
  assert.equal(c.excVector, EXC_MF);
  assert.equal(c.r[R_EIP], 0x100c);
  cases += 7;
});

test("CR0.NE=0: FERR# callback (IRQ13 path), IGNNE#, deassert on FNCLEX", () => {
  const c = cpu32();
  const events: boolean[] = [];
  fpu(c).onFerr = (on) => events.push(on);
  putImage32(c, 0x3000, 0x37e, 0x0001, 0xffff, []);
  assert.equal(run(c, "dd2500300000 9b 9b"), EXIT_HLT);
  assert.deepEqual(events, [true]);
  assert.equal(run(c, "dbe2 9b"), EXIT_HLT);
  assert.deepEqual(events, [true, false]);
  cases += 3;
});

test("FNSAVE / FRSTOR round trip, 32-bit protected layout", () => {
  const c = cpu32();
  const regs: number[][] = [];
  for (let k = 0; k < 8; k++) regs.push(Array.from({ length: 10 }, (_, j) => (k * 37 + j * 11 + 1) & 0xff));
  putImage32(c, 0x3000, 0x0b7f, 0x3800 | 0x0041 | 0x4000, 0x3c0f, regs);
  // frstor [0x3000]; fnsave [0x3100]
  assert.equal(run(c, "dd2500300000 dd3500310000"), EXIT_HLT);
  const img = bytes(c, 0x3100, 108);
  assert.deepEqual(img.slice(0, 4), [0x7f, 0x0b, 0xff, 0xff]);
  assert.deepEqual(img.slice(4, 8), [0x41, 0x78, 0xff, 0xff]);
  // Tags recomputed from the contents for non-empty registers, empty kept.
  const ftw = img[8] | (img[9] << 8);
  const physTag = (k: number) => (ftw >> (2 * k)) & 3;
  assert.equal(physTag(1), 3);
  assert.equal(physTag(6), 3);
  assert.deepEqual(img.slice(10, 12), [0xff, 0xff]);
  for (let k = 0; k < 8; k++) assert.deepEqual(img.slice(28 + 10 * k, 38 + 10 * k), regs[k]);
  // FNSAVE re-initialises.
  assert.equal(fpu(c).fcw, 0x37f);
  assert.equal(fpu(c).ftw, 0xffff);
  cases += 14;
});

/** 80-bit pattern from sign|exponent and significand hex. */
function f80(se: number, m: string): number[] {
  const v = BigInt(`0x${m}`);
  const b: number[] = [];
  for (let k = 0; k < 8; k++) b.push(Number((v >> BigInt(8 * k)) & 0xffn));
  return [...b, se & 0xff, se >> 8];
}

test("FLD m80 / FSTP m80 round-trip bit-exactly (NaNs, denormals, pseudo-denormals, unnormals)", () => {
  const c = cpu32();
  const patterns = [
    f80(0, "0"),
    f80(0x8000, "0"),
    f80(0x3fff, "8000000000000000"),
    f80(0x0000, "0000000000000001"),
    f80(0x8000, "7fffffffffffffff"),
    f80(0x0000, "8000000000000000"), // pseudo-denormal
    f80(0x3fff, "4000000000000000"), // unnormal
    f80(0x7fff, "0000000000000000"), // pseudo-infinity
    f80(0x7fff, "4000000000000001"), // pseudo-NaN
    f80(0x7fff, "8000000000000000"),
    f80(0xffff, "c000000000000000"),
    f80(0x7fff, "8000000000000001"), // SNaN: no conversion, no exception for m80
    f80(0x7fff, "ffffffffffffffff"),
    f80(0x7ffe, "ffffffffffffffff"),
  ];
  for (let k = 0; k < 200; k++) {
    const se = (k * 7919) & 0xffff;
    patterns.push(f80(se, ((BigInt(k) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn).toString(16)));
  }
  for (const p of patterns) {
    load(c, 0x2000, p);
    // fninit; fld tword [0x2000]; fstp tword [0x2010]; fnstsw ax
    assert.equal(run(c, "dbe3 db2d00200000 db3d10200000 dfe0"), EXIT_HLT);
    assert.deepEqual(bytes(c, 0x2010, 10), p);
    assert.equal(c.r[EAX] & 0x3f, 0, "no exception");
    cases++;
  }
});

test("conversions honour each rounding mode (FISTP m32, FST m32)", () => {
  const c = cpu32();
  const f64 = (v: number) => [...new Uint8Array(new Float64Array([v]).buffer)];
  const want: Record<string, number[]> = {
    "2.5": [2, 2, 3, 2],
    "-2.5": [-2, -3, -2, -2],
    "1.75": [2, 1, 2, 1],
    "-0.5": [0, -1, 0, 0],
  };
  for (const [v, rs] of Object.entries(want)) {
    for (let rc = 0; rc < 4; rc++) {
      load(c, 0x2000, f64(Number(v)));
      const cw = 0x37f | (rc << 10);
      load(c, 0x2100, [cw & 0xff, cw >> 8]);
      // fninit; fldcw [0x2100]; fld qword [0x2000]; fistp dword [0x2010]; fnstsw ax
      run(c, "dbe3 d92d00210000 dd0500200000 db1d10200000 dfe0");
      assert.equal(c.ram32[0x2010 >> 2], rs[rc], `${v} rc=${rc}`);
      assert.equal(c.r[EAX] & 0x20, 0x20, "PE");
      cases += 2;
    }
  }
  // 1/3 to single precision: nearest / down / up / chop.
  const third = [0x3eaaaaab, 0x3eaaaaaa, 0x3eaaaaab, 0x3eaaaaaa];
  for (let rc = 0; rc < 4; rc++) {
    const cw = 0x37f | (rc << 10);
    load(c, 0x2100, [cw & 0xff, cw >> 8]);
    // fninit; fld1; fld1; fadd st0,st0; fadd st0,st1 (3); fdivp st1 (1/3 at 64 bits); fldcw; fstp dword [0x2010]
    run(c, "dbe3 d9e8 d9e8 d8c0 d8c1 def9 d92d00210000 d91d10200000");
    assert.equal(c.ram32[0x2010 >> 2] >>> 0, third[rc], `1/3 rc=${rc}`);
    cases++;
  }
});

test("stack overflow and underflow: IE+SF, C1, indefinite", () => {
  const c = cpu32();
  // fninit; 8 x fld1; fld1 (overflow); fnstsw ax
  run(c, `dbe3 ${"d9e8 ".repeat(9)} dfe0`);
  assert.equal(c.r[EAX] & 0x2c1, 0x241, "IE SF C1=1");
  assert.deepEqual(fpu(c).st(0), [0, 0xc0000000, 0xffff]);
  // fninit; fld1; fadd st0, st2 (empty): underflow, C1=0
  run(c, "dbe3 d9e8 d8c2 dfe0");
  assert.equal(c.r[EAX] & 0x2c1, 0x41, "IE SF C1=0");
  assert.deepEqual(fpu(c).st(0), [0, 0xc0000000, 0xffff]);
  // Unmasked IE: the destination is untouched and #MF follows at the next waiting instruction.
  c.r[R_CR0] |= CR0_NE;
  load(c, 0x2100, [0x7e, 0x03]);
  assert.equal(run(c, "dbe3 d92d00210000 d9e8 d8c2 9b"), EXIT_EXCEPTION);
  assert.equal(c.excVector, EXC_MF);
  assert.deepEqual(fpu(c).st(0), [0, 0x80000000, 0x3fff]);
  cases += 6;
});

test("FCOMI/FUCOMI set ZF PF CF; FCOM sets C3 C2 C0", () => {
  const c = cpu32();
  // fninit; fld1; fldz; fcomi st1 (0 < 1: CF); pushfd; pop ebx... keep it to EFLAGS via lahf
  const flagsOf = (code: string) => {
    run(c, `dbe3 ${code} 9c 5a`);
    return c.r[EDX] & 0x8d5;
  };
  assert.equal(flagsOf("d9e8 d9ee dbf1"), 0x01); // 0 < 1
  assert.equal(flagsOf("d9ee d9e8 dbf1"), 0x00); // 1 > 0
  assert.equal(flagsOf("d9e8 d9e8 dbf1"), 0x40); // equal
  // QNaN (0/0 masked gives the indefinite) against 1: unordered, FUCOMI raises nothing.
  assert.equal(flagsOf("d9e8 d9ee d9ee def9 dbe9"), 0x45);
  run(c, "dbe3 d9e8 d9ee d8d1 dfe0");
  assert.equal(c.r[EAX] & 0x4500, 0x0100); // C0: ST0 < ST1
  cases += 5;
});

test("FNSTENV/FNSAVE layouts: 16-bit protected, 16- and 32-bit real mode", () => {
  // 32-bit protected with a 16-bit operand size (66 prefix): fld dword [0x2000]; 66 fnstenv [0x3000]
  let c = cpu32();
  load(c, 0x2000, [0, 0, 0x80, 0x3f]);
  run(c, "dbe3 d90500200000 66d93500300000");
  const e16 = bytes(c, 0x3000, 14);
  const w = (b: number[], o: number) => b[o] | (b[o + 1] << 8);
  assert.equal(w(e16, 0), 0x37f);
  assert.equal(w(e16, 2), 0x3800); // TOP = 7
  assert.equal(w(e16, 4), 0x3fff); // ST0 valid, rest empty
  assert.equal(w(e16, 6), 0x1002); // FIP
  assert.equal(w(e16, 8), 0x08); // FCS
  assert.equal(w(e16, 10), 0x2000); // FDP
  assert.equal(w(e16, 12), 0x10); // FDS
  cases += 7;
  // Real mode, CS = 0x0100: the linear instruction pointer and opcode are stored (Figure 8-10).
  c = makeCpu();
  c.trapExceptions = true;
  real16(c, 0);
  c.loadSegReal(1, 0x0100);
  c.loadSegReal(3, 0x0200);
  c.r[ESP] = 0x7000;
  // at 0100:0010: fninit; fld dword [0x0020]; fnsave [0x0100]; (16-bit) ; 66 fnsave [0x0200] after frstor
  load(c, 0x2020, [0, 0, 0x80, 0x3f]);
  load(c, 0x1010, hex("dbe3 d9062000 dd360001 dd260001 66dd360002 f4"));
  c.r[R_EIP] = 0x10;
  assert.equal(c.run(100), EXIT_HLT);
  const s16 = bytes(c, 0x2100, 94);
  assert.equal(w(s16, 6), 0x1012); // IP 15..0 of linear 0x1012
  assert.equal(w(s16, 8), 0x0000 | (0 << 12) | 0x106); // IP 19..16 = 0, FOP = D9 06 → 0x106
  assert.equal(w(s16, 10), 0x2020); // operand linear 0x2020
  assert.deepEqual(s16.slice(14, 24), [0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
  const s32 = bytes(c, 0x2200, 108);
  assert.deepEqual(s32.slice(0, 4), [0x7f, 0x03, 0xff, 0xff]);
  assert.equal(w(s32, 12), 0x1012);
  assert.equal((s32[16] | (s32[17] << 8) | (s32[18] << 16) | (s32[19] << 24)) >>> 0, 0x106);
  assert.equal(w(s32, 20), 0x2020);
  assert.deepEqual(s32.slice(28, 38), [0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
  cases += 9;
});
