// Differential test: x87 instruction cases run natively on the host CPU (a static i386 ELF) and on
// the interpreter, comparing control word, status word (condition codes the SDM leaves undefined
// are masked per instruction), tag word, FIP/FOP/FDP, ST(0..7) as 80-bit encodings, the memory
// operand and EFLAGS' arithmetic flags. Skips with a message when the host cannot run i386 ELFs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildElf, EXTRA, MEM, modrmMem, OUT, runHost, runInterp, SLOT, type X87Case } from "./x87-host.ts";

let seed = 0x2545f491;
function rnd(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

/** 80-bit value from sign|exponent and the 64-bit significand as hex. */
function f80(se: number, m: string): Uint8Array {
  const b = new Uint8Array(10);
  const v = BigInt(`0x${m}`);
  for (let k = 0; k < 8; k++) b[k] = Number((v >> BigInt(8 * k)) & 0xffn);
  b[8] = se & 0xff;
  b[9] = se >> 8;
  return b;
}

const SPECIAL: Uint8Array[] = [
  f80(0x0000, "0"),
  f80(0x8000, "0"),
  f80(0x3fff, "8000000000000000"),
  f80(0xbfff, "c000000000000000"),
  f80(0x4000, "c90fdaa22168c235"),
  f80(0x3ffd, "aaaaaaaaaaaaaaab"),
  f80(0x7ffe, "ffffffffffffffff"),
  f80(0x0001, "8000000000000000"),
  f80(0x0000, "0000000000000001"),
  f80(0x8000, "7fffffffffffffff"),
  f80(0x0000, "8000000000000001"), // pseudo-denormal
  f80(0x7fff, "8000000000000000"),
  f80(0xffff, "8000000000000000"),
  f80(0x7fff, "c000000000000001"), // QNaN
  f80(0xffff, "a000000000000000"), // SNaN
  f80(0xffff, "c000000000000000"), // indefinite
  f80(0x3fff, "4000000000000000"), // unnormal
  f80(0x7fff, "4000000000000000"), // pseudo-NaN
  f80(0x403e, "8000000000000000"), // 2^63
  f80(0x401d, "ffffffff00000000"),
  f80(0x3ffe, "8000000000000000"), // 0.5
  f80(0x4002, "a000000000000000"), // 10
];

function randomNormal(spread: number): Uint8Array {
  const sign = rnd() & 0x8000;
  const exp = 0x3fff + ((rnd() % (2 * spread + 1)) - spread);
  const hi = (rnd() | 0x80000000) >>> 0;
  const lo = rnd();
  return f80(sign | exp, ((BigInt(hi) << 32n) | BigInt(lo)).toString(16));
}

function randomValue(): Uint8Array {
  const k = rnd() % 10;
  if (k < 3) return SPECIAL[rnd() % SPECIAL.length];
  if (k < 7) return randomNormal(8);
  if (k < 8) return randomNormal(70);
  // Near the ends of the exponent range, for overflow / underflow.
  const sign = rnd() & 0x8000;
  const exp = rnd() & 1 ? 0x7ffe - (rnd() % 40) : rnd() % 40;
  return f80(sign | exp, ((BigInt((rnd() | 0x80000000) >>> 0) << 32n) | BigInt(rnd())).toString(16));
}

/** Control words: all masked with every PC x RC, plus some with exceptions unmasked. */
function randomFcw(): number {
  const pc = [0, 2, 3][rnd() % 3] << 8;
  const rc = (rnd() & 3) << 10;
  const masks = rnd() % 6 === 0 ? rnd() & 0x3f : 0x3f;
  return 0x1040 | pc | rc | masks;
}

const Z = new Uint8Array(10);

interface Kind {
  name: string;
  code: (mem: number) => number[];
  /** FSW bits to compare (condition codes the instruction leaves undefined are masked). */
  swMask: number;
  /** The instruction has a memory operand (compare FDP). */
  mem?: boolean;
  /** Registers used as inputs (ST0..): the others start empty unless `full`. */
  inputs: number;
  full?: boolean;
  memBytes?: () => Uint8Array;
  transcendental?: boolean;
}

const CC_ALL = 0xffff;
const C1_ONLY = 0xffff & ~(0x100 | 0x400 | 0x4000);
const NO_CC = 0xffff & ~0x4700;
const m = (op: number, reg: number) => (addr: number) => [op, ...modrmMem(reg, addr)];
const r =
  (...b: number[]) =>
  () =>
    b;
const randBytes = (n: number) => () => Uint8Array.from({ length: 16 }, (_, k) => (k < n ? rnd() & 0xff : 0));
const memOf = (v: () => Uint8Array) => () => {
  const b = new Uint8Array(16);
  b.set(v());
  return b;
};
function f32bits(): Uint8Array {
  // Exponent biased towards interesting values.
  const k = rnd() % 4;
  const bits =
    k === 0
      ? rnd()
      : k === 1
        ? (rnd() & 0x807fffff) | ((rnd() % 3) * 0x7f800000)
        : (rnd() & 0x83ffffff) | 0x3c000000;
  return Uint8Array.from([bits & 0xff, (bits >>> 8) & 0xff, (bits >>> 16) & 0xff, bits >>> 24]);
}
function f64bits(): Uint8Array {
  const b = Uint8Array.from({ length: 8 }, () => rnd() & 0xff);
  const k = rnd() % 4;
  if (k === 1) {
    b[7] = (b[7] & 0x80) | 0x3f;
    b[6] = (b[6] & 0x0f) | 0xf0;
  } else if (k === 2) {
    b[7] &= 0x80;
    b[6] &= 0x0f;
  } else if (k === 3) b[7] |= 0x7f;
  if (k === 3) b[6] |= 0xf0;
  return b;
}
function bcdBytes(): Uint8Array {
  const b = new Uint8Array(10);
  for (let k = 0; k < 9; k++) b[k] = ((rnd() % 10) << 4) | (rnd() % 10);
  b[9] = rnd() & 0x80;
  return b;
}
const memValue = () => {
  const b = new Uint8Array(16);
  b.set(randomValue());
  return b;
};

const KINDS: Kind[] = [
  { name: "fadd st0,st1", code: r(0xd8, 0xc1), swMask: C1_ONLY, inputs: 2 },
  { name: "fmul st0,st1", code: r(0xd8, 0xc9), swMask: C1_ONLY, inputs: 2 },
  { name: "fsub st0,st1", code: r(0xd8, 0xe1), swMask: C1_ONLY, inputs: 2 },
  { name: "fsubr st0,st1", code: r(0xd8, 0xe9), swMask: C1_ONLY, inputs: 2 },
  { name: "fdiv st0,st1", code: r(0xd8, 0xf1), swMask: C1_ONLY, inputs: 2 },
  { name: "fdivr st0,st1", code: r(0xd8, 0xf9), swMask: C1_ONLY, inputs: 2 },
  { name: "fsubp st1,st0", code: r(0xde, 0xe9), swMask: C1_ONLY, inputs: 2 },
  { name: "fdivrp st1,st0", code: r(0xde, 0xf1), swMask: C1_ONLY, inputs: 2 },
  { name: "fadd m32", code: m(0xd8, 0), swMask: C1_ONLY, inputs: 1, mem: true, memBytes: memOf(f32bits) },
  { name: "fmul m64", code: m(0xdc, 1), swMask: C1_ONLY, inputs: 1, mem: true, memBytes: memOf(f64bits) },
  { name: "fidiv m32", code: m(0xda, 6), swMask: C1_ONLY, inputs: 1, mem: true, memBytes: randBytes(4) },
  { name: "fisubr m16", code: m(0xde, 5), swMask: C1_ONLY, inputs: 1, mem: true, memBytes: randBytes(2) },
  { name: "fsqrt", code: r(0xd9, 0xfa), swMask: C1_ONLY, inputs: 1 },
  { name: "frndint", code: r(0xd9, 0xfc), swMask: C1_ONLY, inputs: 1 },
  { name: "fscale", code: r(0xd9, 0xfd), swMask: C1_ONLY, inputs: 2 },
  { name: "fxtract", code: r(0xd9, 0xf4), swMask: C1_ONLY, inputs: 1 },
  { name: "fprem", code: r(0xd9, 0xf8), swMask: CC_ALL, inputs: 2 },
  { name: "fprem1", code: r(0xd9, 0xf5), swMask: CC_ALL, inputs: 2 },
  { name: "fabs", code: r(0xd9, 0xe1), swMask: C1_ONLY, inputs: 1 },
  { name: "fchs", code: r(0xd9, 0xe0), swMask: C1_ONLY, inputs: 1 },
  { name: "ftst", code: r(0xd9, 0xe4), swMask: CC_ALL, inputs: 1 },
  { name: "fxam", code: r(0xd9, 0xe5), swMask: CC_ALL, inputs: 1 },
  { name: "fcom st1", code: r(0xd8, 0xd1), swMask: CC_ALL, inputs: 2 },
  { name: "fucompp", code: r(0xda, 0xe9), swMask: CC_ALL, inputs: 2 },
  { name: "fcomi st1", code: r(0xdb, 0xf1), swMask: C1_ONLY, inputs: 2 },
  { name: "fucomip st1", code: r(0xdf, 0xe9), swMask: C1_ONLY, inputs: 2 },
  { name: "ficom m32", code: m(0xda, 2), swMask: CC_ALL, inputs: 1, mem: true, memBytes: randBytes(4) },
  { name: "fst m32", code: m(0xd9, 2), swMask: C1_ONLY, inputs: 1, mem: true },
  { name: "fstp m64", code: m(0xdd, 3), swMask: C1_ONLY, inputs: 1, mem: true },
  { name: "fstp m80", code: m(0xdb, 7), swMask: C1_ONLY, inputs: 1, mem: true },
  { name: "fist m16", code: m(0xdf, 2), swMask: C1_ONLY, inputs: 1, mem: true },
  { name: "fistp m32", code: m(0xdb, 3), swMask: C1_ONLY, inputs: 1, mem: true },
  { name: "fistp m64", code: m(0xdf, 7), swMask: C1_ONLY, inputs: 1, mem: true },
  { name: "fbstp m80", code: m(0xdf, 6), swMask: C1_ONLY, inputs: 1, mem: true },
  { name: "fld m32", code: m(0xd9, 0), swMask: C1_ONLY, inputs: 0, mem: true, memBytes: memOf(f32bits) },
  { name: "fld m64", code: m(0xdd, 0), swMask: C1_ONLY, inputs: 0, mem: true, memBytes: memOf(f64bits) },
  { name: "fld m80", code: m(0xdb, 5), swMask: C1_ONLY, inputs: 0, mem: true, memBytes: memValue },
  { name: "fild m64", code: m(0xdf, 5), swMask: C1_ONLY, inputs: 0, mem: true, memBytes: randBytes(8) },
  { name: "fbld m80", code: m(0xdf, 4), swMask: C1_ONLY, inputs: 0, mem: true, memBytes: memOf(bcdBytes) },
  { name: "fld st1", code: r(0xd9, 0xc1), swMask: C1_ONLY, inputs: 2 },
  { name: "fld (full stack)", code: r(0xd9, 0xe8), swMask: C1_ONLY, inputs: 8, full: true },
  { name: "fxch st1", code: r(0xd9, 0xc9), swMask: C1_ONLY, inputs: 2 },
  { name: "fldpi", code: r(0xd9, 0xeb), swMask: C1_ONLY, inputs: 0 },
  { name: "fldl2t", code: r(0xd9, 0xe9), swMask: C1_ONLY, inputs: 0 },
  { name: "fldl2e", code: r(0xd9, 0xea), swMask: C1_ONLY, inputs: 0 },
  { name: "fldlg2", code: r(0xd9, 0xec), swMask: C1_ONLY, inputs: 0 },
  { name: "fldln2", code: r(0xd9, 0xed), swMask: C1_ONLY, inputs: 0 },
  { name: "fcmovbe st1", code: r(0xda, 0xd1), swMask: C1_ONLY, inputs: 2 },
  { name: "fsin", code: r(0xd9, 0xfe), swMask: NO_CC | 0x400, inputs: 1, transcendental: true },
  { name: "fcos", code: r(0xd9, 0xff), swMask: NO_CC | 0x400, inputs: 1, transcendental: true },
  { name: "fptan", code: r(0xd9, 0xf2), swMask: NO_CC | 0x400, inputs: 1, transcendental: true },
  { name: "fpatan", code: r(0xd9, 0xf3), swMask: NO_CC, inputs: 2, transcendental: true },
  { name: "fyl2x", code: r(0xd9, 0xf1), swMask: NO_CC, inputs: 2, transcendental: true },
  { name: "f2xm1", code: r(0xd9, 0xf0), swMask: NO_CC, inputs: 1, transcendental: true },
];

const PER_KIND = 400;

function makeCases(): { cases: X87Case[]; kinds: Kind[] } {
  const cases: X87Case[] = [];
  const kinds: Kind[] = [];
  for (const kind of KINDS) {
    for (let n = 0; n < PER_KIND; n++) {
      const top = rnd() & 7;
      const st: Uint8Array[] = [];
      let ftw = 0;
      // One case in 16 leaves an input register empty (stack underflow).
      const emptyOne = rnd() % 16 === 0 ? rnd() % Math.max(kind.inputs, 1) : -1;
      for (let j = 0; j < 8; j++) {
        const used = j < kind.inputs && j !== emptyOne;
        st.push(used || kind.full ? randomValue() : Z);
        const phys = (top + j) & 7;
        if (!used && !kind.full) ftw |= 3 << (2 * phys);
      }
      let fcw = randomFcw();
      if (kind.transcendental) {
        fcw |= 0x300 | 0x3f; // compare against hardware at full precision, masked
        for (let j = 0; j < kind.inputs; j++) if (rnd() % 4 !== 0) st[j] = randomNormal(3);
      }
      cases.push({
        fcw,
        fsw: (top << 11) | (rnd() & 0x4700),
        ftw,
        st,
        mem: kind.memBytes ? kind.memBytes() : Uint8Array.from({ length: 16 }, () => rnd() & 0xff),
        code: kind.code,
      });
      kinds.push(kind);
    }
  }
  return { cases, kinds };
}

const rd16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const rd32 = (b: Uint8Array, o: number) =>
  (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

/** |a - b| in units of 2^-50 of a's magnitude, for transcendental results (Infinity if classes differ). */
function relDiff(a: Uint8Array, b: Uint8Array): number {
  const se = (x: Uint8Array) => rd16(x, 8);
  const mant = (x: Uint8Array) => {
    let v = 0n;
    for (let k = 7; k >= 0; k--) v = (v << 8n) | BigInt(x[k]);
    return v;
  };
  if (se(a) !== se(b)) {
    // Adjacent binades are possible when the value sits on a power of two.
    if (Math.abs((se(a) & 0x7fff) - (se(b) & 0x7fff)) !== 1 || (se(a) ^ se(b)) & 0x8000) return Infinity;
    const [lo, hi] = (se(a) & 0x7fff) < (se(b) & 0x7fff) ? [a, b] : [b, a];
    return Number(mant(hi) * 2n - mant(lo)) / 2 ** 14;
  }
  const d = mant(a) - mant(b);
  return Number(d < 0n ? -d : d) / 2 ** 14;
}

test("x87 differential test against the host CPU", (t) => {
  const { cases, kinds } = makeCases();
  const { elf, dataSize, stub } = buildElf(cases);
  const host = runHost(elf, dataSize);
  if (host === null) {
    t.skip("this host cannot run static i386 ELF binaries");
    return;
  }
  const ours = runInterp(elf, dataSize, stub).out;
  const classes = new Map<string, { n: number; example: string }>();
  const accepted = new Map<string, number>();
  let compared = 0;
  const note = (key: string, example: string, accept: boolean) => {
    if (accept) {
      accepted.set(key, (accepted.get(key) ?? 0) + 1);
      return;
    }
    const e = classes.get(key);
    if (e) e.n++;
    else classes.set(key, { n: 1, example });
  };
  for (let n = 0; n < cases.length; n++) {
    const kind = kinds[n];
    const o = n * SLOT;
    const h = host.subarray(o + OUT, o + OUT + 112);
    const u = ours.subarray(o + OUT, o + OUT + 112);
    const init = host.subarray(o, o + 108);
    const ctx = () =>
      `fcw=${rd16(init, 0).toString(16)} st0=${hex(init.subarray(28, 38))} st1=${hex(init.subarray(38, 48))} mem=${hex(host.subarray(o + MEM, o + MEM + 16))}`;
    compared++;
    const swH = rd16(h, 4) & kind.swMask;
    const swU = rd16(u, 4) & kind.swMask;
    // Transcendentals: inexact results may round either way (C1) in the last bits.
    const swMaskT = kind.transcendental ? ~0x220 : ~0;
    if ((swH & swMaskT) !== (swU & swMaskT))
      note(`${kind.name}: status word`, `${ctx()} host ${swH.toString(16)} ours ${swU.toString(16)}`, false);
    if (rd16(h, 0) !== rd16(u, 0)) note(`${kind.name}: control word`, ctx(), false);
    if (rd16(h, 8) !== rd16(u, 8))
      note(
        `${kind.name}: tag word`,
        `${ctx()} host ${rd16(h, 8).toString(16)} ours ${rd16(u, 8).toString(16)}`,
        false,
      );
    if (rd32(h, 12) !== rd32(u, 12) || rd16(h, 18) !== rd16(u, 18)) {
      // A host context switch in the middle of a case may lose FIP/FOP (an FXSAVE that stores them
      // only with an exception pending, as AMD's does): accepted when the host shows zeros.
      const lost = rd32(h, 12) === 0 && rd16(h, 18) === 0;
      // Intel CPUs since the Pentium 4 store FOP only with an unmasked exception pending, unless
      // the "fopcode compatibility mode" of IA32_MISC_ENABLE is on (SDM Vol. 1 §8.1.9.1); we keep
      // FOP as earlier CPUs (and AMD's) do. Accepted when FIP agrees and the host FOP is 0 with
      // no exception summary (SW.ES) set.
      const fopDeprecated =
        !lost && rd32(h, 12) === rd32(u, 12) && rd16(h, 18) === 0 && (rd16(h, 4) & 0x80) === 0;
      note(
        lost
          ? "FIP/FOP zeroed by a host context switch"
          : fopDeprecated
            ? "FOP not stored without an unmasked exception (Intel, SDM Vol. 1 §8.1.9.1)"
            : `${kind.name}: FIP/FOP`,
        `${ctx()} host ${rd32(h, 12).toString(16)}/${rd16(h, 18).toString(16)} ours ${rd32(u, 12).toString(16)}/${rd16(u, 18).toString(16)}`,
        lost || fopDeprecated,
      );
    }
    if (kind.mem && rd32(h, 20) !== rd32(u, 20)) {
      const lost = rd32(h, 20) === 0;
      note(lost ? "FDP zeroed by a host context switch" : `${kind.name}: FDP`, ctx(), lost);
    }
    for (let j = 0; j < 8; j++) {
      const a = h.subarray(28 + 10 * j, 38 + 10 * j);
      const b = u.subarray(28 + 10 * j, 38 + 10 * j);
      if (hex(a) === hex(b)) continue;
      const d = kind.transcendental ? relDiff(a, b) : Infinity;
      note(
        `${kind.name}: ST${j}${kind.transcendental ? (d <= 8 ? " within 2^-47" : " far off") : ""}`,
        `${ctx()} host ${hex(a)} ours ${hex(b)}`,
        kind.transcendental === true && d <= 8,
      );
    }
    if ((rd32(h, 108) & 0x8d5) !== (rd32(u, 108) & 0x8d5))
      note(
        `${kind.name}: EFLAGS`,
        `${ctx()} host ${rd32(h, 108).toString(16)} ours ${rd32(u, 108).toString(16)}`,
        false,
      );
    const mh = host.subarray(o + MEM, o + MEM + 16);
    const mu = ours.subarray(o + MEM, o + MEM + 16);
    if (hex(mh) !== hex(mu))
      note(`${kind.name}: memory operand`, `${ctx()} host ${hex(mh)} ours ${hex(mu)}`, false);
  }
  console.log(`# x87 host diff: ${compared} cases, ${KINDS.length} instruction kinds`);
  for (const [k, v] of accepted) console.log(`#   accepted: ${k}: ${v}`);
  for (const [k, v] of classes) console.log(`#   MISMATCH ${k}: ${v.n}\n#     e.g. ${v.example}`);
  assert.equal(classes.size, 0, `${classes.size} mismatch classes`);
});

// ---------------------------------------------------------------- FXSAVE / FXRSTOR images

const FX_SLOT = 1280;
const FX_A = 0; // offsets inside the extra area (slot + EXTRA): first 512-byte image
const FX_B = 512; // second image
const fxsaveAt = (a: number) => [0x0f, 0xae, ...modrmMem(0, a)];
const fxrstorAt = (a: number) => [0x0f, 0xae, ...modrmMem(1, a)];

/**
 * A random FXRSTOR image: every x87 field random (FSW, abridged tag, FOP, pointers, reserved bytes),
 * MXCSR within MXCSR_MASK, garbage in the XMM and reserved areas. `rawFcw`: all 16 FCW bits random.
 */
function randomFxImage(rawFcw = false): Uint8Array {
  const b = Uint8Array.from({ length: 512 }, () => rnd() & 0xff);
  const w16 = (o: number, v: number) => {
    b[o] = v & 0xff;
    b[o + 1] = (v >>> 8) & 0xff;
  };
  // Control word: the defined bits, or all 16 (reserved bits read back as on the host).
  w16(0, rawFcw ? rnd() & 0xffff : randomFcw() & 0x1f7f);
  const mx = rnd() & 0xffbf;
  for (let k = 0; k < 4; k++) b[24 + k] = k < 2 ? (mx >>> (8 * k)) & 0xff : 0;
  for (let k = 0; k < 8; k++) b.set(randomValue(), 32 + 16 * k);
  return b;
}

interface FxKind {
  name: string;
  /** Snippet after FRSTOR: `slot` is the case's slot address. */
  code: (slot: number) => number[];
  /** The extra area's initial bytes. */
  extra: () => Uint8Array;
  /** Offset in the extra area of the FXSAVE image to compare (written by the snippet). */
  image: number;
}

const AA = () => new Uint8Array(1024).fill(0xaa);
const x87Ops = KINDS.filter((k) => !k.transcendental);

const FX_KINDS: FxKind[] = [
  // The state FRSTOR left (random tags, TOP, status, pointers zero) saved by FXSAVE.
  { name: "frstor; fxsave", code: (s) => fxsaveAt(s + EXTRA + FX_A), extra: AA, image: FX_A },
  // One x87 instruction (unmasked exceptions stay pending), then FXSAVE: pointers, FOP, tags.
  ...x87Ops.map((k) => ({
    name: `${k.name}; fxsave`,
    code: (s: number) => [...k.code(s + MEM), ...fxsaveAt(s + EXTRA + FX_A)],
    extra: AA,
    image: FX_A,
  })),
  // FXRSTOR of a random image, FXSAVE of what it loaded; the harness's FNSAVE shows the full tags.
  {
    name: "fxrstor; fxsave",
    code: (s) => [...fxrstorAt(s + EXTRA + FX_A), ...fxsaveAt(s + EXTRA + FX_B)],
    extra: () => {
      const b = AA();
      b.set(randomFxImage(), FX_A);
      return b;
    },
    image: FX_B,
  },
  {
    name: "fxrstor (raw FCW); fxsave",
    code: (s) => [...fxrstorAt(s + EXTRA + FX_A), ...fxsaveAt(s + EXTRA + FX_B)],
    extra: () => {
      const b = AA();
      b.set(randomFxImage(true), FX_A);
      return b;
    },
    image: FX_B,
  },
];

test("FXSAVE/FXRSTOR images: differential test against the host CPU", (t) => {
  const cases: X87Case[] = [];
  const kinds: FxKind[] = [];
  const per = (k: FxKind) => (k.name.startsWith("fxrstor") ? 400 : k.name.startsWith("frstor") ? 200 : 24);
  for (const kind of FX_KINDS) {
    const base = KINDS.find((k) => `${k.name}; fxsave` === kind.name);
    for (let n = 0; n < per(kind); n++) {
      const top = rnd() & 7;
      const st: Uint8Array[] = [];
      let ftw = 0;
      const inputs = base ? base.inputs : rnd() % 9;
      for (let j = 0; j < 8; j++) {
        const used = j < inputs || base?.full === true;
        st.push(used ? randomValue() : Z);
        if (!used) ftw |= 3 << (2 * ((top + j) & 7));
      }
      cases.push({
        fcw: randomFcw(),
        fsw: (top << 11) | (rnd() & 0x4700),
        ftw,
        st,
        mem: base?.memBytes ? base.memBytes() : Uint8Array.from({ length: 16 }, () => rnd() & 0xff),
        extra: kind.extra(),
        code: (mem) => kind.code(mem - MEM),
      });
      kinds.push(kind);
    }
  }
  const { elf, dataSize, stub } = buildElf(cases, FX_SLOT);
  const host = runHost(elf, dataSize);
  if (host === null) {
    t.skip("this host cannot run static i386 ELF binaries");
    return;
  }
  const ours = runInterp(elf, dataSize, stub).out;
  const classes = new Map<string, { n: number; example: string }>();
  const accepted = new Map<string, number>();
  const note = (key: string, example: string, accept: boolean) => {
    if (accept) {
      accepted.set(key, (accepted.get(key) ?? 0) + 1);
      return;
    }
    const e = classes.get(key);
    if (e) e.n++;
    else classes.set(key, { n: 1, example });
  };
  let bytesCompared = 0;
  let pending = 0;
  for (let n = 0; n < cases.length; n++) {
    const kind = kinds[n];
    const o = n * FX_SLOT;
    const img = o + EXTRA + kind.image;
    const h = host.subarray(img, img + 512);
    const u = ours.subarray(img, img + 512);
    const ctx = () => `case ${n} host ${hex(h.subarray(0, 160))}\n#       ours ${hex(u.subarray(0, 160))}`;
    // AMD stores FOP/FIP/FDP only while an exception is pending (FSW.ES); otherwise zeros.
    const esHost = (h[2] & 0x80) !== 0;
    if (esHost) pending++;
    for (let k = 0; k < 512; k++) {
      if (k >= 160 && k < 288) continue; // XMM0-7: we have none (left unchanged), the host stores its own
      if (k >= 28 && k < 32) continue; // MXCSR_MASK: ours FFBFh (no DAZ), the host's differs
      if ((k >= 12 && k < 14) || (k >= 20 && k < 22)) continue; // FCS/FDS: the harness's selectors differ from Linux's
      const pointer = (k >= 6 && k < 12) || (k >= 16 && k < 20);
      bytesCompared++;
      if (h[k] === u[k]) continue;
      if (pointer && !esHost && h[k] === 0) {
        note("FOP/FIP/FDP not stored by the host without a pending exception", "", true);
        continue;
      }
      if (pointer && esHost) {
        const lost = rd32(h, 8) === 0 && rd16(h, 6) === 0;
        if (lost) {
          note("FIP/FOP zeroed by a host context switch", "", true);
          continue;
        }
      }
      note(`${kind.name}: byte ${k}`, ctx(), false);
      break;
    }
    // The FNSAVE after the snippet (the harness's record): tag word, status, control, registers.
    const fh = host.subarray(o + OUT, o + OUT + 108);
    const fu = ours.subarray(o + OUT, o + OUT + 108);
    for (const [name, a, b] of [
      ["FNSAVE control/status/tag", 0, 12],
      ["FNSAVE ST0-7", 28, 108],
    ] as const) {
      bytesCompared += b - a;
      if (hex(fh.subarray(a, b)) !== hex(fu.subarray(a, b)))
        note(
          `${kind.name}: ${name}`,
          `host ${hex(fh.subarray(a, b))}\n#       ours ${hex(fu.subarray(a, b))}`,
          false,
        );
    }
  }
  console.log(
    `# FXSAVE host diff: ${cases.length} cases, ${FX_KINDS.length} kinds, ${bytesCompared} bytes compared, ` +
      `${pending} images with an exception pending (FOP/FIP/FDP compared)`,
  );
  for (const [k, v] of accepted) console.log(`#   accepted: ${k}: ${v}`);
  for (const [k, v] of classes) console.log(`#   MISMATCH ${k}: ${v.n}\n#     e.g. ${v.example}`);
  assert.equal(classes.size, 0, `${classes.size} mismatch classes`);
});
