// FXSAVE / FXRSTOR (0F AE /0 /1) unit tests, run as machine code on the interpreter. Image layout
// from SDM Vol. 2A, FXSAVE/FXRSTOR ("Non-64-bit-Mode Layout of FXSAVE and FXRSTOR Memory Region").
import assert from "node:assert/strict";
import { test } from "node:test";
import { type CPU, EXIT_EXCEPTION, EXIT_HLT } from "../../src/cpu/cpu.ts";
import { MXCSR_MASK, X_MXCSR, type X87 } from "../../src/cpu/fpu.ts";
import {
  CR0_EM,
  CR0_MP,
  CR0_NE,
  CR0_PG,
  CR0_TS,
  EAX,
  ECX,
  EDX,
  ESP,
  EXC_GP,
  EXC_MF,
  EXC_NM,
  EXC_PF,
  EXC_UD,
  R_CR0,
  R_CR3,
  R_CR4,
  R_EIP,
} from "../../src/cpu/state.ts";
import { identityMap, PD, setPte } from "./asm.ts";
import { flat32, hex, load, makeCpu, real16 } from "./helpers.ts";

let cases = 0;
process.on("exit", () => console.log(`# fpu-fxsave.test.ts: ${cases} cases checked`));

function cpu32(): CPU {
  const c = makeCpu();
  flat32(c, 0);
  c.trapExceptions = true;
  c.r[ESP] = 0x8000;
  return c;
}

function run(c: CPU, code: string, at = 0x1000): number {
  load(c, at, hex(`${code} f4`));
  c.r[R_EIP] = at;
  c.halted = false;
  return c.run(10000);
}

const fpu = (c: CPU) => c.fpu as X87;
const bytes = (c: CPU, a: number, n: number) => [...c.ram.subarray(a, a + n)];
const le16 = (v: number) => [v & 0xff, (v >>> 8) & 0xff];
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
/** ModRM + disp32 for an absolute memory operand with ModRM.reg = `reg`. */
const abs = (reg: number, a: number) =>
  [(reg << 3) | 5, ...le32(a)].map((b) => b.toString(16).padStart(2, "0")).join("");
const FXSAVE = (a: number) => `0fae${abs(0, a)}`;
const FXRSTOR = (a: number) => `0fae${abs(1, a)}`;
const FNSAVE = (a: number) => `dd${abs(6, a)}`;

/** 80-bit value from sign|exponent and a 64-bit significand in hex. */
function f80(se: number, m: string): number[] {
  const v = BigInt(`0x${m}`);
  const b: number[] = [];
  for (let k = 0; k < 8; k++) b.push(Number((v >> BigInt(8 * k)) & 0xffn));
  return [...b, se & 0xff, se >> 8];
}
const ONE = f80(0x3fff, "8000000000000000");
const PI = f80(0x4000, "c90fdaa22168c235");
const Z10 = new Array(10).fill(0);

interface FxImage {
  fcw: number;
  fsw: number;
  ftw: number;
  fop: number;
  fip: number;
  fcs: number;
  fdp: number;
  fds: number;
  mxcsr: number;
  mask: number;
  st: number[][];
}

/** The 160 bytes FXSAVE writes, reserved bytes zero. */
function image(x: FxImage): number[] {
  const b = [
    ...le16(x.fcw),
    ...le16(x.fsw),
    x.ftw,
    0,
    ...le16(x.fop),
    ...le32(x.fip),
    ...le16(x.fcs),
    0,
    0,
    ...le32(x.fdp),
    ...le16(x.fds),
    0,
    0,
    ...le32(x.mxcsr),
    ...le32(x.mask),
  ];
  for (let k = 0; k < 8; k++) b.push(...(x.st[k] ?? Z10), 0, 0, 0, 0, 0, 0);
  return b;
}

test("FXSAVE image byte by byte (32-bit protected): abridged tag, pointers, MXCSR, ST(i) in stack order", () => {
  const c = cpu32();
  load(c, 0x2000, [0, 0, 0x80, 0x3f, 0, 0, 0, 0]);
  c.ram.fill(0xaa, 0x3000, 0x3200);
  // 1000 fninit; 1002 fld dword [0x2000]; 1008 fldpi; 100a fld dword [0x2004]; 1010 fxsave [0x3000]
  assert.equal(run(c, `dbe3 d90500200000 d9eb d90504200000 ${FXSAVE(0x3000)}`), EXIT_HLT);
  const want = image({
    fcw: 0x37f,
    fsw: 5 << 11,
    ftw: 0xe0, // physical R5 (+0), R6 (pi), R7 (1.0) in use
    fop: 0x105, // D9 05
    fip: 0x100a,
    fcs: 0x08,
    fdp: 0x2004,
    fds: 0x10,
    mxcsr: 0x1f80,
    mask: 0xffbf,
    st: [Z10, PI, ONE],
  });
  const got = bytes(c, 0x3000, 160);
  for (let k = 0; k < 160; k++) {
    assert.equal(got[k], want[k], `byte ${k}`);
    cases++;
  }
  // No XMM registers: bytes 160..511 are not written.
  assert.deepEqual(bytes(c, 0x3000 + 160, 352), new Array(352).fill(0xaa));
  // FXSAVE leaves the unit as it was (no FNINIT) and is not an x87 instruction (FIP unchanged).
  assert.equal(fpu(c).ftw, 0x07ff); // R5 zero, R6 R7 valid, R0..R4 empty
  assert.equal(fpu(c).fcw, 0x37f);
  c.ram.fill(0, 0x3100, 0x3200);
  assert.equal(run(c, FXSAVE(0x3100)), EXIT_HLT);
  assert.deepEqual(bytes(c, 0x3100, 160), want);
  cases += 4;
});

test("FXRSTOR: abridged tag to full tags (valid/zero/special/empty), FNSAVE view, round trip", () => {
  const c = cpu32();
  const st = [
    ONE, // ST0 valid
    f80(0x8000, "0"), // ST1 zero (-0)
    f80(0x7fff, "8000000000000000"), // ST2 +inf: special
    f80(0x0000, "0000000000000001"), // ST3 denormal: special
    f80(0x3fff, "4000000000000000"), // ST4 unnormal: special
    PI, // ST5 empty although it holds pi
    f80(0xffff, "c000000000000000"), // ST6 QNaN indefinite: special
    f80(0x0000, "0"), // ST7 empty
  ];
  const top = 3;
  // Physical register of ST(k) is (TOP + k) & 7; empty: ST5 (R0), ST7 (R2).
  const abridged = 0xff & ~(1 << 0) & ~(1 << 2);
  const src = image({
    fcw: 0x0b7f,
    fsw: (top << 11) | 0x4100,
    ftw: abridged,
    fop: 0x7ff,
    fip: 0x12345678,
    fcs: 0x1234,
    fdp: 0x9abcdef0,
    fds: 0x5678,
    mxcsr: 0x7f80,
    mask: 0,
    st,
  });
  load(c, 0x3000, src);
  // Garbage in reserved bytes and the XMM area is ignored; FOP's upper bits too.
  c.ram[0x3005] = 0x5a;
  c.ram[0x3007] |= 0xf8;
  c.ram[0x300e] = 0x77;
  c.ram[0x302a] = 0x99;
  c.ram.fill(0x33, 0x30a0, 0x3200);
  assert.equal(run(c, `${FXRSTOR(0x3000)} ${FXSAVE(0x3200)} ${FNSAVE(0x3400)}`), EXIT_HLT);
  // Round trip: what FXSAVE writes is the image with MXCSR_MASK filled and reserved bytes zero.
  const back = bytes(c, 0x3200, 160);
  const want = [...src];
  want.splice(28, 4, ...le32(0xffbf));
  assert.deepEqual(back, want);
  // FNSAVE's full tag word, physical order: R0 empty, R1 special (NaN = ST6), R2 empty, R3 valid (ST0),
  // R4 zero (ST1), R5 special (inf), R6 special (denormal), R7 special (unnormal).
  const ftw = c.ram[0x3408] | (c.ram[0x3409] << 8);
  const tags = [3, 2, 3, 0, 1, 2, 2, 2];
  for (let k = 0; k < 8; k++) {
    assert.equal((ftw >> (2 * k)) & 3, tags[k], `tag R${k}`);
    cases++;
  }
  // FNSAVE stores the pointers FXRSTOR loaded, and every register's contents, empty ones too.
  assert.deepEqual(bytes(c, 0x340c, 12), [
    ...le32(0x12345678),
    ...le16(0x1234),
    ...le16(0x7ff),
    ...le32(0x9abcdef0),
  ]);
  for (let k = 0; k < 8; k++) assert.deepEqual(bytes(c, 0x341c + 10 * k, 10), st[k], `ST${k}`);
  assert.equal(c.r[X_MXCSR], 0x7f80);
  cases += 11;
});

test("FXRSTOR: MXCSR bits outside MXCSR_MASK are #GP(0) and nothing is loaded", () => {
  assert.equal(MXCSR_MASK, 0xffbf);
  for (const [mxcsr, gp] of [
    [0x10000, true],
    [0x80000000, true],
    [0x40, true], // DAZ: not supported on this P6
    [0xffbf, false],
    [0, false],
  ] as const) {
    const c = cpu32();
    const src = image({
      fcw: 0x27f,
      fsw: 0,
      ftw: 0x01,
      fop: 0,
      fip: 0,
      fcs: 0,
      fdp: 0,
      fds: 0,
      mxcsr,
      mask: 0,
      st: [ONE],
    });
    load(c, 0x3000, src);
    const exit = run(c, FXRSTOR(0x3000));
    if (gp) {
      assert.equal(exit, EXIT_EXCEPTION, `mxcsr ${mxcsr.toString(16)}`);
      assert.equal(c.excVector, EXC_GP);
      assert.equal(c.excError, 0);
      assert.equal(fpu(c).fcw, 0x40, "state untouched");
      assert.equal(c.r[X_MXCSR], 0x1f80);
      cases += 5;
    } else {
      assert.equal(exit, EXIT_HLT);
      assert.equal(c.r[X_MXCSR], mxcsr);
      assert.equal(fpu(c).fcw, 0x27f);
      cases += 3;
    }
  }
});

test("#GP(0) for an operand not 16-byte aligned; #PF on the last page before anything changes", () => {
  for (const a of [0x3008, 0x3001, 0x300f]) {
    for (const code of [FXSAVE(a), FXRSTOR(a)]) {
      const c = cpu32();
      c.ram.fill(0x55, 0x3000, 0x3300);
      assert.equal(run(c, code), EXIT_EXCEPTION);
      assert.equal(c.excVector, EXC_GP);
      assert.equal(c.excError, 0);
      assert.equal(c.r[R_EIP], 0x1000);
      assert.deepEqual(bytes(c, 0x3000, 0x300), new Array(0x300).fill(0x55));
      cases += 4;
    }
  }
  // Paging on, the page after 0x50000 not present: the area 0x50f00..0x510ff straddles it.
  const c = cpu32();
  identityMap(c);
  setPte(c, 0x51000, 0);
  c.r[R_CR3] = PD;
  c.r[R_CR0] |= CR0_PG;
  c.flushTlb(true);
  c.ram.fill(0x55, 0x50f00, 0x51000);
  assert.equal(run(c, `dbe3 d9e8 ${FXSAVE(0x50f00)}`), EXIT_EXCEPTION);
  assert.equal(c.excVector, EXC_PF);
  assert.deepEqual(bytes(c, 0x50f00, 0x100), new Array(0x100).fill(0x55));
  load(
    c,
    0x50f00,
    image({ fcw: 0x27f, fsw: 0, ftw: 0, fop: 0, fip: 0, fcs: 0, fdp: 0, fds: 0, mxcsr: 0, mask: 0, st: [] }),
  );
  assert.equal(run(c, FXRSTOR(0x50f00)), EXIT_EXCEPTION);
  assert.equal(c.excVector, EXC_PF);
  assert.equal(fpu(c).fcw, 0x37f);
  assert.equal(fpu(c).ftw, 0x3fff, "the FLD1 before is still there");
  cases += 5;
});

test("#NM per CR0.EM / CR0.TS (CR0.MP alone does not fault)", () => {
  for (const [cr0, nm] of [
    [CR0_EM, true],
    [CR0_TS, true],
    [CR0_MP | CR0_TS, true],
    [CR0_MP, false],
  ] as const) {
    for (const code of [FXSAVE(0x3000), FXRSTOR(0x3000)]) {
      const c = cpu32();
      load(
        c,
        0x3000,
        image({
          fcw: 0x37f,
          fsw: 0,
          ftw: 0,
          fop: 0,
          fip: 0,
          fcs: 0,
          fdp: 0,
          fds: 0,
          mxcsr: 0x1f80,
          mask: 0,
          st: [],
        }),
      );
      c.ram.fill(0x55, 0x3000, 0x3004);
      c.r[R_CR0] |= cr0;
      const exit = run(c, code);
      if (nm) {
        assert.equal(exit, EXIT_EXCEPTION);
        assert.equal(c.excVector, EXC_NM);
        assert.equal(c.r[R_EIP], 0x1000);
        assert.equal(c.ram[0x3000], 0x55, "nothing stored");
        cases += 4;
      } else {
        assert.equal(exit, EXIT_HLT, `cr0 ${cr0} ${code}`);
        cases++;
      }
    }
  }
});

test("FXSAVE/FXRSTOR do not deliver pending exceptions; a restored unmasked flag is #MF at the next FWAIT", () => {
  const c = cpu32();
  c.r[R_CR0] |= CR0_NE;
  // Status IE with IE unmasked: ES/B pending after FXRSTOR.
  load(
    c,
    0x3000,
    image({
      fcw: 0x37e,
      fsw: 0x0001,
      ftw: 0,
      fop: 0,
      fip: 0,
      fcs: 0,
      fdp: 0,
      fds: 0,
      mxcsr: 0x1f80,
      mask: 0,
      st: [],
    }),
  );
  // fxrstor; fxsave [0x3200]; fnstsw ax; fwait
  assert.equal(run(c, `${FXRSTOR(0x3000)} ${FXSAVE(0x3200)} dfe0 9b`), EXIT_EXCEPTION);
  assert.equal(c.excVector, EXC_MF);
  assert.equal(c.r[R_EIP], 0x1010);
  assert.equal(c.r[EAX] & 0xffff, 0x8081);
  assert.deepEqual(bytes(c, 0x3202, 2), [0x81, 0x80], "FXSAVE stores FSW with ES and B");
  // FXSAVE while an exception is pending with CR0.NE = 0 raises no FERR# either.
  const d = cpu32();
  const events: boolean[] = [];
  fpu(d).onFerr = (on) => events.push(on);
  load(d, 0x3000, bytes(c, 0x3000, 160));
  assert.equal(run(d, `${FXRSTOR(0x3000)} ${FXSAVE(0x3200)}`), EXIT_HLT);
  assert.deepEqual(events, []);
  assert.equal(run(d, "9b"), EXIT_HLT);
  assert.deepEqual(events, [true]);
  cases += 7;
});

test("real mode: FXSAVE stores the FIP offset with the CS selector and FDP with its selector", () => {
  const c = makeCpu();
  c.trapExceptions = true;
  real16(c, 0);
  c.loadSegReal(1, 0x0100);
  c.loadSegReal(3, 0x0200);
  c.r[ESP] = 0x7000;
  load(c, 0x2020, [0, 0, 0x80, 0x3f]);
  // at 0100:0010: fninit; fld dword [0x0020]; fxsave [0x0100]
  load(c, 0x1010, hex("dbe3 d9062000 0fae060001 f4"));
  c.r[R_EIP] = 0x10;
  assert.equal(c.run(100), EXIT_HLT);
  const img = bytes(c, 0x2100, 32);
  assert.deepEqual(img.slice(4, 24), [
    0x80,
    0,
    ...le16(0x106),
    ...le32(0x12),
    ...le16(0x100),
    0,
    0,
    ...le32(0x20),
    ...le16(0x200),
    0,
    0,
  ]);
  cases++;
});

test("CPUID reports FXSR but neither MMX nor SSE; OSFXSR accepted; SSE members of 0F AE stay #UD", () => {
  const c = cpu32();
  c.r[EAX] = 1;
  assert.equal(run(c, "0fa2"), EXIT_HLT);
  const edx = c.r[EDX] >>> 0;
  assert.equal((edx >>> 24) & 1, 1, "FXSR");
  assert.equal(edx & ((1 << 23) | (1 << 25) | (1 << 26)), 0, "no MMX/SSE/SSE2");
  assert.equal(c.r[ECX], 0, "no SSE3+");
  // mov eax, cr4; or eax, 0x200; mov cr4, eax
  assert.equal(run(c, "0f20e0 0d00020000 0f22e0"), EXIT_HLT);
  assert.equal(c.r[R_CR4] & 0x200, 0x200);
  // OSXMMEXCPT needs SSE: #GP.
  assert.equal(run(c, "0f20e0 0d00040000 0f22e0"), EXIT_EXCEPTION);
  assert.equal(c.excVector, EXC_GP);
  cases += 6;
  for (const code of [
    "0faec0", // FXSAVE with mod = 3
    "0faec8", // FXRSTOR with mod = 3
    `0fae${abs(2, 0x3000)}`, // LDMXCSR
    `0fae${abs(3, 0x3000)}`, // STMXCSR
    "0faef8", // SFENCE
    "0faee8", // LFENCE
    "0faef0", // MFENCE
    `0fae${abs(7, 0x3000)}`, // CLFLUSH
    `f0${FXSAVE(0x3000)}`, // LOCK
  ]) {
    const d = cpu32();
    assert.equal(run(d, code), EXIT_EXCEPTION, code);
    assert.equal(d.excVector, EXC_UD, code);
    cases += 2;
  }
  // Without an x87 unit CPUID reports no FXSR and FXSAVE is #UD.
  const e = cpu32();
  e.fpu = null;
  e.r[EAX] = 1;
  assert.equal(run(e, "0fa2"), EXIT_HLT);
  assert.equal((e.r[EDX] >>> 24) & 1, 0);
  assert.equal(run(e, FXSAVE(0x3000)), EXIT_EXCEPTION);
  assert.equal(e.excVector, EXC_UD);
  cases += 3;
});
