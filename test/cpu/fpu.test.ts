// x87 unit tests, run as machine code on the interpreter.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type CPU, EXIT_EXCEPTION, EXIT_HLT } from "../../src/cpu/cpu.ts";
import { X_FIP, type X87 } from "../../src/cpu/fpu.ts";
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
import { flat32, hex, load, makeCpu } from "./helpers.ts";

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
