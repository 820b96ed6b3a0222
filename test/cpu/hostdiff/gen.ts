// Seeded random test-case generator for the host-differential harness. Each group emits a short
// snippet (usually one instruction, sometimes a flag producer plus a consumer) with an initial
// state chosen from edge values, and says which results the SDM leaves undefined so that the
// comparison masks them. Memory operands always land inside the window (elf32.ts), so a case
// faults on the host only when it would fault architecturally.
import {
  EAX,
  EBP,
  EBX,
  ECX,
  EDI,
  EDX,
  ESI,
  ESP,
  enc,
  type Mem,
  m32,
  memText,
  REG8,
  REG16,
  REG32,
  type RM,
} from "./asm.ts";
import { CODE_BASE, type HostCase, initialWindow, TAIL, WINDOW, WINDOW_SIZE } from "./elf32.ts";
import { type CmpSpec, FLAGS_CMP } from "./interp.ts";

/** Scratch data area at the start of the window; the test stack lives above it. */
export const SCRATCH = 0x180;
export const STACK_ESP = WINDOW + 0x1e0;

const CF = 0x1;
const PF = 0x4;
const AF = 0x10;
const ZF = 0x40;
const SF = 0x80;
const OF = 0x800;
const DF = 0x400;
const ARITH = CF | PF | AF | ZF | SF | OF;

export interface Case extends HostCase, CmpSpec {
  group: string;
  text: string;
}

/** xoshiro128** — small, fast, good enough, and ours. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  constructor(seed: number) {
    // splitmix32 to spread the seed over the state
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next() | 1;
  }
  u32(): number {
    const res = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return res;
  }
  /** 0 <= n < max */
  int(max: number): number {
    return Math.floor((this.u32() / 0x100000000) * max);
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const EDGE32 = [
  0, 1, 2, 3, -1, -2, 0x7fffffff, 0x80000000, 0x80000001, 0xff, 0x80, 0x7f, 0x7fff, 0x8000, 0xffff, 0x10000,
  0x100, 0x0f, 0x10, 0x99, 0x09, 0xfffffff0, 0xffff8000, 0xffffff80, 0x55555555, 0xaaaaaaaa,
];
const EDGE16 = [0, 1, 2, 0xffff, 0xfffe, 0x7fff, 0x8000, 0x8001, 0xff, 0x80, 0x7f, 0x100, 0xff80, 0x0f, 0x99];
const EDGE8 = [0, 1, 2, 0xff, 0xfe, 0x7f, 0x80, 0x81, 0x0f, 0x10, 0x09, 0x0a, 0x99, 0x9a, 0xf9, 0x66];
const SIZE_NAME: Record<number, string> = { 8: "byte", 16: "word", 32: "dword", 64: "qword" };

export function maskOf(bits: number): number {
  return bits === 32 ? -1 : bits === 16 ? 0xffff : 0xff;
}

function regName(n: number, bits: number): string {
  return bits === 32 ? REG32[n] : bits === 16 ? REG16[n] : REG8[n];
}

function hx(v: number): string {
  return `0x${(v >>> 0).toString(16)}`;
}

interface MemOpts {
  /** Target offset within the window (default: random in the scratch area for `bytes`). */
  t?: number;
  /** Force (true) or forbid (false) 16-bit addressing (which always goes through FS). */
  a16?: boolean;
  /** Forbid segment overrides (string instructions and stack-relative forms choose their own). */
  noSeg?: boolean;
}

interface MemOperand {
  rm: Mem;
  /** Prefixes the operand needs (segment override, 0x67). */
  pre: number[];
  /** Offset of the accessed bytes within the window. */
  t: number;
  text: string;
}

/** Case builder: initial state, code, masks. */
export class CB {
  readonly regs: number[] = [];
  eflags: number;
  readonly code: number[] = [];
  readonly texts: string[] = [];
  flagMask = FLAGS_CMP;
  readonly regMask = [-1, -1, -1, -1, -1, -1, -1, -1];
  readonly memIgnore: [number, number][] = [];
  errMask = -1;
  /**
   * Part of a sequence (group "seq"): register operands only, and register values may change at
   * run time before an instruction executes, so value-dependent masks must be conservative.
   */
  inSeq = false;

  /** In a sequence, some flag is already undefined: the next instruction must not read flags. */
  pendingUndef(): boolean {
    return this.inSeq && (~this.flagMask & ARITH) !== 0;
  }
  readonly patches: [number, number][] = [];
  readonly memSeed: number;
  /** Registers whose initial value is constrained (not reusable as address registers). */
  readonly fixed = new Set<number>();

  constructor(
    readonly rng: Rng,
    readonly group: string,
  ) {
    for (let k = 0; k < 8; k++) this.regs.push(this.val(32));
    this.regs[ESP] = STACK_ESP;
    this.eflags = 0x2 | (rng.u32() & (ARITH | DF));
    this.memSeed = rng.u32() | 1;
  }

  /** An operand value of `bits` width, from the edge list or random. */
  val(bits: number): number {
    const rng = this.rng;
    const k = rng.int(100);
    let v: number;
    if (k < 40) v = bits === 32 ? rng.pick(EDGE32) : bits === 16 ? rng.pick(EDGE16) : rng.pick(EDGE8);
    else if (k < 55) v = rng.int(256);
    else if (k < 65 && bits === 32) v = (rng.u32() & 0xffff0000) | rng.pick(EDGE16);
    else v = rng.u32();
    return bits === 32 ? v | 0 : v & maskOf(bits);
  }

  /** Set a register's `bits`-wide part (8-bit numbering AL..BH), keeping the rest. */
  setPart(n: number, bits: number, v: number): void {
    if (bits === 32) this.regs[n] = v | 0;
    else if (bits === 16) this.regs[n] = (this.regs[n] & ~0xffff) | (v & 0xffff);
    else if (n < 4) this.regs[n] = (this.regs[n] & ~0xff) | (v & 0xff);
    else this.regs[n - 4] = (this.regs[n - 4] & ~0xff00) | ((v & 0xff) << 8);
    this.fixed.add(bits === 8 ? n & 3 : n);
  }

  getPart(n: number, bits: number): number {
    if (bits === 32) return this.regs[n];
    if (bits === 16) return this.regs[n] & 0xffff;
    return n < 4 ? this.regs[n] & 0xff : (this.regs[n - 4] >>> 8) & 0xff;
  }

  fix(...regs: number[]): void {
    for (const r of regs) this.fixed.add(r);
  }

  /** Mark flags as architecturally undefined for this case. */
  undef(flags: number): void {
    this.flagMask &= ~flags;
  }

  emit(bytes: number[], text: string): void {
    this.code.push(...bytes);
    this.texts.push(text);
  }

  /** Patch memory at window offset `t` with `v` (`bits` wide; wider patches keep the seeded bytes). */
  poke(t: number, bits: number, v: number): void {
    if (this.patches.length >= 4) return;
    if (bits === 32) this.patches.push([t, v | 0]);
    else {
      const cur = new DataView(initialWindow(this.hostCase()).buffer).getUint32(t, true);
      const m = maskOf(bits);
      this.patches.push([t, (cur & ~m) | (v & m) | 0]);
    }
  }

  /** Current initial window contents (after patches so far). */
  window(): Uint8Array {
    return initialWindow(this.hostCase());
  }

  private hostCase(): HostCase {
    return {
      regs: this.regs,
      eflags: this.eflags,
      code: this.code,
      memSeed: this.memSeed,
      patches: this.patches,
    };
  }

  private freeRegs(noEsp = false): number[] {
    const out: number[] = [];
    for (let k = 0; k < 8; k++) if (!this.fixed.has(k) && !(noEsp && k === ESP)) out.push(k);
    return out;
  }

  /** A memory operand of `bytes` bytes inside the window; sets the address registers it uses. */
  mem(bytes: number, o: MemOpts = {}): MemOperand {
    const rng = this.rng;
    const t = o.t ?? rng.int(SCRATCH - bytes + 1);
    const pre: number[] = [];
    const a16 = o.a16 ?? (!o.noSeg && rng.chance(0.12));
    if (a16) {
      pre.push(...(rng.chance(0.5) ? [0x64, 0x67] : [0x67, 0x64]));
      // BX+SI BX+DI BP+SI BP+DI SI DI BP BX (SDM Vol. 2A, Table 2-1)
      const forms: number[][] = [[EBX, ESI], [EBX, EDI], [EBP, ESI], [EBP, EDI], [ESI], [EDI], [EBP], [EBX]];
      const ok = forms.map((_f, k) => k).filter((k) => forms[k].every((r) => !this.fixed.has(r)));
      const rm = ok.length && rng.chance(0.85) ? rng.pick(ok) : 6;
      let mod = rng.int(3);
      if (!ok.includes(rm)) mod = 0;
      if (rm === 6 && mod === 0 && ok.includes(6) && rng.chance(0.5)) mod = 1 + rng.int(2);
      let disp = mod === 1 ? rng.int(256) - 128 : mod === 2 ? rng.int(0x10000) : 0;
      if (rm === 6 && mod === 0) disp = t;
      else {
        const f = forms[rm];
        let sum = 0;
        if (f.length === 2) {
          const iv = rng.chance(0.5) ? rng.int(0x10000) : rng.int(0x200);
          this.regs[f[1]] = (this.regs[f[1]] & ~0xffff) | iv;
          sum = iv;
        }
        const bv = (t - sum - disp) & 0xffff;
        this.regs[f[0]] = (this.regs[f[0]] & ~0xffff) | bv;
        for (const r of f) this.fixed.add(r);
      }
      const m: Mem = { kind: "m16", rm, mod, disp };
      return { rm: m, pre, t, text: `fs:${memText(m)}` };
    }
    let segText = "";
    let target = (WINDOW + t) | 0;
    if (!o.noSeg) {
      const k = rng.int(100);
      if (k < 10) {
        pre.push(0x64);
        segText = "fs:";
        target = t;
      } else if (k < 16) {
        pre.push(0x3e);
        segText = "ds:";
      } else if (k < 20) {
        pre.push(0x26);
        segText = "es:";
      } else if (k < 24) {
        pre.push(0x36);
        segText = "ss:";
      } else if (k < 26) {
        pre.push(0x2e); // CS: readable code segment; writes through it are #GP(0)
        segText = "cs:";
      }
    }
    const free = this.freeRegs();
    const freeIdx = free.filter((r) => r !== ESP);
    let form = rng.int(6);
    if (free.length === 0) form = 0;
    if (form === 5 && freeIdx.length === 0) form = 0;
    let base = -1;
    let index = -1;
    let scale = 0;
    let disp = 0;
    let wide = false;
    if (form >= 1 && form <= 4) base = rng.pick(free);
    if ((form === 4 || form === 5) && freeIdx.length) {
      index = rng.pick(freeIdx);
      scale = rng.int(4);
    }
    if (form === 2) disp = rng.int(256) - 128;
    else if (form === 3) {
      disp = rng.chance(0.5) ? rng.u32() | 0 : rng.int(256) - 128;
      wide = true;
    } else if (form === 4) disp = rng.pick([0, rng.int(256) - 128, rng.u32() | 0]);
    if (index >= 0 && index === base) {
      const v = rng.chance(0.5) ? rng.u32() | 0 : rng.int(0x100);
      this.regs[base] = v;
      disp = (target - Math.imul(v, 1 + (1 << scale))) | 0;
      wide = true;
    } else {
      let sum = 0;
      if (index >= 0) {
        const iv = rng.chance(0.5) ? rng.u32() | 0 : rng.int(0x100) - 0x80;
        this.regs[index] = iv;
        sum = Math.imul(iv, 1 << scale);
      }
      if (base >= 0) this.regs[base] = (target - sum - disp) | 0;
      else {
        disp = (target - sum) | 0;
        wide = true;
      }
    }
    if (base >= 0) this.fixed.add(base);
    if (index >= 0) this.fixed.add(index);
    const m: Mem = { kind: "m32", base, index, scale, disp, wide };
    return { rm: m, pre, t, text: `${segText}${memText(m)}` };
  }

  /** A register or (with probability pMem) memory r/m operand of `bits`. */
  rm(bits: number, pMem = 0.4, o: MemOpts = {}): { rm: RM; pre: number[]; t: number; text: string } {
    if (!this.inSeq && this.rng.chance(pMem)) {
      const m = this.mem(bits >> 3, o);
      return { ...m, text: `${SIZE_NAME[bits]} ${m.text}` };
    }
    const n = this.rng.int(8);
    return { rm: n, pre: [], t: -1, text: regName(n, bits) };
  }

  build(): Case {
    return {
      group: this.group,
      text: this.texts.join("; "),
      regs: Int32Array.from(this.regs),
      eflags: this.eflags,
      code: Uint8Array.from(this.code),
      memSeed: this.memSeed,
      patches: this.patches,
      flagMask: this.flagMask,
      regMask: this.regMask,
      memIgnore: this.memIgnore,
      errMask: this.errMask,
    };
  }
}

/** Shuffle prefixes so the decoder sees them in any order. */
function prefixes(rng: Rng, ...groups: number[][]): number[] {
  const all = groups.flat();
  for (let k = all.length - 1; k > 0; k--) {
    const j = rng.int(k + 1);
    [all[k], all[j]] = [all[j], all[k]];
  }
  return all;
}

function osz(bits: number): number[] {
  return bits === 16 ? [0x66] : [];
}

const ALU_NAMES = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
const ALU_ADC = 2;
const ALU_SBB = 3;
const pickSize = (rng: Rng) => rng.pick([8, 16, 32]);

/** Value for a register operand or memory operand: set it in the register or poke it in memory. */
function setOperand(b: CB, op: { rm: RM; t: number }, bits: number, v: number): void {
  if (typeof op.rm === "number") b.setPart(op.rm, bits, v);
  else b.poke(op.t, bits, v);
}

// ---------------------------------------------------------------- groups

/** ALU ops in all forms. AND/OR/XOR leave AF undefined (SDM Vol. 2A, AND/OR/XOR: "AF undefined"). */
function gAlu(b: CB): void {
  const rng = b.rng;
  let op = rng.int(8);
  if (b.pendingUndef() && (op === ALU_ADC || op === ALU_SBB)) op = 0;
  const bits = pickSize(rng);
  const w = bits === 8 ? 0 : 1;
  const form = rng.int(5);
  const name = ALU_NAMES[op];
  if (op === 1 || op === 4 || op === 6) b.undef(AF);
  if (form === 0 || form === 1) {
    const reg = rng.int(8);
    b.setPart(reg, bits, b.val(bits));
    b.fixed.delete(bits === 8 ? reg & 3 : reg);
    const e = b.rm(bits, 0.5);
    if (e.t >= 0 && rng.chance(0.5)) b.poke(e.t, bits, b.val(bits));
    const lock = form === 0 && e.t >= 0 && op !== 7 && rng.chance(0.2) ? [0xf0] : [];
    const code = enc({
      pre: prefixes(rng, osz(bits), e.pre, lock),
      op: [(op << 3) | (form << 1) | w],
      reg,
      rm: e.rm,
    });
    const r = regName(reg, bits);
    b.emit(
      code,
      `${lock.length ? "lock " : ""}${name} ${form === 0 ? `${e.text}, ${r}` : `${r}, ${e.text}`}`,
    );
  } else if (form === 2) {
    const imm = b.val(bits);
    b.setPart(EAX, bits, b.val(bits));
    b.emit(
      enc({ pre: osz(bits), op: [(op << 3) | 4 | w], imm, immSize: bits >> 3 }),
      `${name} ${regName(EAX, bits)}, ${hx(imm)}`,
    );
  } else {
    const e = b.rm(bits, 0.5);
    if (e.t >= 0 && rng.chance(0.5)) b.poke(e.t, bits, b.val(bits));
    else if (typeof e.rm === "number" && rng.chance(0.5)) b.setPart(e.rm, bits, b.val(bits));
    const lock = e.t >= 0 && op !== 7 && rng.chance(0.2) ? [0xf0] : [];
    let opc: number;
    let imm: number;
    let immSize: number;
    if (bits === 8) {
      opc = rng.chance(0.1) ? 0x82 : 0x80;
      imm = b.val(8);
      immSize = 1;
    } else if (rng.chance(0.5)) {
      opc = 0x83;
      imm = (b.val(8) << 24) >> 24;
      immSize = 1;
    } else {
      opc = 0x81;
      imm = b.val(bits);
      immSize = bits >> 3;
    }
    b.emit(
      enc({ pre: prefixes(rng, osz(bits), e.pre, lock), op: [opc], reg: op, rm: e.rm, imm, immSize }),
      `${lock.length ? "lock " : ""}${name} ${e.text}, ${hx(imm)}`,
    );
  }
}

/** INC/DEC (CF unaffected), NEG, NOT, TEST. TEST leaves AF undefined (SDM Vol. 2B, TEST). */
function gUnary(b: CB): void {
  const rng = b.rng;
  const k = rng.int(6);
  const bits = pickSize(rng);
  if (k === 0 && bits !== 8) {
    const n = rng.int(8);
    const dec = rng.chance(0.5);
    b.setPart(n, bits, b.val(bits));
    b.emit([...osz(bits), (dec ? 0x48 : 0x40) + n], `${dec ? "dec" : "inc"} ${regName(n, bits)}`);
    return;
  }
  const e = b.rm(bits, 0.4);
  setOperand(b, e, bits, b.val(bits));
  if (k === 5) {
    b.undef(AF);
    const imm = b.val(bits);
    b.emit(
      enc({
        pre: prefixes(rng, osz(bits), e.pre),
        op: [bits === 8 ? 0xf6 : 0xf7],
        reg: rng.int(2),
        rm: e.rm,
        imm,
        immSize: bits >> 3,
      }),
      `test ${e.text}, ${hx(imm)}`,
    );
    return;
  }
  const lock = e.t >= 0 && rng.chance(0.2) ? [0xf0] : [];
  let op: number;
  let reg: number;
  let name: string;
  if (k <= 2) {
    op = bits === 8 ? 0xfe : 0xff;
    reg = rng.int(2);
    name = reg ? "dec" : "inc";
  } else {
    op = bits === 8 ? 0xf6 : 0xf7;
    reg = k === 3 ? 2 : 3;
    name = k === 3 ? "not" : "neg";
  }
  b.emit(
    enc({ pre: prefixes(rng, osz(bits), e.pre, lock), op: [op], reg, rm: e.rm }),
    `${lock.length ? "lock " : ""}${name} ${e.text}`,
  );
}

/** MUL/IMUL: SF ZF AF PF undefined (SDM Vol. 2A, IMUL; Vol. 2B, MUL). */
function gMul(b: CB): void {
  const rng = b.rng;
  b.undef(SF | ZF | AF | PF);
  const k = rng.int(4);
  if (k <= 1) {
    const bits = pickSize(rng);
    b.setPart(EAX, bits, b.val(bits));
    b.fixed.delete(EAX);
    const e = b.rm(bits, 0.4);
    setOperand(b, e, bits, b.val(bits));
    const signed = k === 1;
    b.emit(
      enc({
        pre: prefixes(rng, osz(bits), e.pre),
        op: [bits === 8 ? 0xf6 : 0xf7],
        reg: signed ? 5 : 4,
        rm: e.rm,
      }),
      `${signed ? "imul" : "mul"} ${e.text}`,
    );
    return;
  }
  const bits = rng.chance(0.5) ? 16 : 32;
  const reg = rng.int(8);
  b.setPart(reg, bits, b.val(bits));
  b.fixed.delete(reg);
  const e = b.rm(bits, 0.4);
  setOperand(b, e, bits, b.val(bits));
  if (k === 2) {
    b.emit(
      enc({ pre: prefixes(rng, osz(bits), e.pre), op: [0x0f, 0xaf], reg, rm: e.rm }),
      `imul ${regName(reg, bits)}, ${e.text}`,
    );
  } else if (rng.chance(0.5)) {
    const imm = (b.val(8) << 24) >> 24;
    b.emit(
      enc({ pre: prefixes(rng, osz(bits), e.pre), op: [0x6b], reg, rm: e.rm, imm, immSize: 1 }),
      `imul ${regName(reg, bits)}, ${e.text}, ${imm}`,
    );
  } else {
    const imm = b.val(bits);
    b.emit(
      enc({ pre: prefixes(rng, osz(bits), e.pre), op: [0x69], reg, rm: e.rm, imm, immSize: bits >> 3 }),
      `imul ${regName(reg, bits)}, ${e.text}, ${hx(imm)}`,
    );
  }
}

/** DIV/IDIV: all six arithmetic flags undefined (SDM Vol. 2A, DIV/IDIV). #DE on zero or overflow. */
function gDiv(b: CB): void {
  const rng = b.rng;
  b.undef(ARITH);
  const bits = pickSize(rng);
  const signed = rng.chance(0.5);
  b.fix(EAX, EDX);
  const e = b.rm(bits, 0.4);
  const srcIsAcc =
    typeof e.rm === "number" && (bits === 8 ? e.rm === 0 || e.rm === 4 : e.rm === EAX || e.rm === EDX);
  const mode = rng.int(100);
  const B = BigInt(bits);
  const full = (1n << B) - 1n;
  let d: bigint;
  if (mode < 8) d = 0n;
  else d = BigInt(b.val(bits) >>> 0) & full;
  if (d === 0n && mode >= 8) d = 1n;
  const sd = signed ? BigInt.asIntN(bits, d) : d;
  let n: bigint; // dividend, 2*bits wide
  if (mode >= 8 && mode < 70 && sd !== 0n) {
    // valid quotient
    const qmax = signed ? (1n << (B - 1n)) - 1n : full;
    const qmin = signed ? -(1n << (B - 1n)) : 0n;
    let q: bigint;
    const qk = rng.int(4);
    if (qk === 0) q = qmax;
    else if (qk === 1) q = qmin;
    else q = BigInt.asUintN(bits, BigInt(rng.u32()));
    if (signed) q = BigInt.asIntN(bits, q);
    const ad = sd < 0n ? -sd : sd;
    let rem = BigInt(rng.u32()) % ad;
    if (signed && (q < 0n || (q === 0n && rng.chance(0.5)))) rem = -rem;
    n = q * sd + rem;
    // the remainder's sign must follow the dividend's (truncating division)
    if (signed && n !== 0n && rem !== 0n && n < 0n !== rem < 0n) n = q * sd;
  } else if (mode >= 70 && mode < 82) {
    // quotient overflow
    n = signed ? -(1n << (2n * B - 2n)) : (sd === 0n ? 1n : sd) << B;
    if (signed && rng.chance(0.5)) {
      n = -(1n << (B - 1n));
      d = full; // -1
    }
  } else {
    n = BigInt(rng.u32()) | (BigInt(rng.u32()) << 32n);
  }
  const n2 = BigInt.asUintN(2 * bits, n);
  if (bits === 8) b.setPart(EAX, 16, Number(n2));
  else {
    b.setPart(EAX, bits, Number(n2 & full));
    b.setPart(EDX, bits, Number((n2 >> B) & full));
  }
  if (!srcIsAcc) setOperand(b, e, bits, Number(d & full));
  b.emit(
    enc({
      pre: prefixes(rng, osz(bits), e.pre),
      op: [bits === 8 ? 0xf6 : 0xf7],
      reg: signed ? 7 : 6,
      rm: e.rm,
    }),
    `${signed ? "idiv" : "div"} ${e.text}`,
  );
}

const SHIFT_NAMES = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal(/6)", "sar"];
const COUNTS = [0, 1, 1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 64, 255];

function pickCount(rng: Rng): number {
  return rng.chance(0.75) ? rng.pick(COUNTS) : rng.int(256);
}

/**
 * Shifts and rotates (SDM Vol. 2B, RCL/RCR/ROL/ROR and SAL/SAR/SHL/SHR): count masked to 5 bits;
 * masked count 0 changes no flags. Rotates: OF undefined unless the masked count is 1. Shifts: AF
 * undefined, OF undefined unless the count is 1, and for SHL/SHR CF undefined when the count is
 * at least the operand size. /6 is the undocumented alias of SHL (AMD and Intel both execute it).
 */
function gShift(b: CB, ops?: readonly number[]): void {
  const rng = b.rng;
  let op = ops !== undefined ? rng.pick(ops) : rng.chance(0.05) ? 6 : rng.pick([0, 1, 2, 3, 4, 5, 7]);
  if (b.pendingUndef() && (op === 2 || op === 3)) op = 0; // RCL/RCR read CF
  const bits = pickSize(rng);
  const form = rng.int(3);
  const count = form === 0 ? 1 : pickCount(rng);
  if (form === 1) b.setPart(ECX, 8, count);
  const e = b.rm(bits, 0.35);
  if (!(form === 1 && typeof e.rm === "number" && (e.rm === ECX || (bits === 8 && e.rm === 1))))
    setOperand(b, e, bits, b.val(bits));
  const w = bits === 8 ? 0 : 1;
  const opc = form === 0 ? 0xd0 | w : form === 1 ? 0xd2 | w : 0xc0 | w;
  const c5 = count & 31;
  // in a sequence CL may have changed before the shift runs: assume any count
  if (b.inSeq && form === 1) b.undef(OF | AF | (op >= 4 && op !== 7 ? CF : 0));
  if (c5 !== 0) {
    if (op <= 3) {
      if (c5 !== 1) b.undef(OF);
    } else {
      b.undef(AF);
      if (c5 !== 1) b.undef(OF);
      if (op !== 7 && c5 >= bits) b.undef(CF);
    }
  }
  const countText = form === 0 ? "1" : form === 1 ? "cl" : String(count);
  b.emit(
    enc({
      pre: prefixes(rng, osz(bits), e.pre),
      op: [opc],
      reg: op,
      rm: e.rm,
      imm: count,
      immSize: form === 2 ? 1 : 0,
    }),
    `${SHIFT_NAMES[op]} ${e.text}, ${countText}${form === 1 ? `(=${count})` : ""}`,
  );
}

/**
 * SHLD/SHRD (SDM Vol. 2B): count masked to 5 bits; 0 changes nothing. A count greater than the
 * operand size (16-bit forms) leaves the destination and all flags undefined. Otherwise AF is
 * undefined, and OF unless the count is 1.
 */
function gShd(b: CB): void {
  const rng = b.rng;
  const left = rng.chance(0.5);
  const bits = rng.chance(0.5) && !b.inSeq ? 16 : 32;
  const cl = rng.chance(0.5);
  if (b.inSeq && cl) b.undef(OF | AF);
  const count = pickCount(rng);
  if (cl) b.setPart(ECX, 8, count);
  const reg = rng.int(8);
  if (!(cl && reg === ECX)) b.setPart(reg, bits, b.val(bits));
  b.fixed.delete(reg);
  if (cl) b.fix(ECX);
  const e = b.rm(bits, 0.35);
  if (!(cl && e.rm === ECX)) setOperand(b, e, bits, b.val(bits));
  const c5 = count & 31;
  if (c5 > bits) {
    b.undef(ARITH);
    if (typeof e.rm === "number") b.regMask[e.rm] = bits === 16 ? ~0xffff : 0;
    else b.memIgnore.push([e.t, bits >> 3]);
  } else if (c5 !== 0) {
    b.undef(AF);
    if (c5 !== 1) b.undef(OF);
  }
  const opc = (left ? 0xa4 : 0xac) | (cl ? 1 : 0);
  b.emit(
    enc({
      pre: prefixes(rng, osz(bits), e.pre),
      op: [0x0f, opc],
      reg,
      rm: e.rm,
      imm: count,
      immSize: cl ? 0 : 1,
    }),
    `${left ? "shld" : "shrd"} ${e.text}, ${regName(reg, bits)}, ${cl ? `cl(=${count})` : count}`,
  );
}

/**
 * BT/BTS/BTR/BTC (SDM Vol. 2A, BT): CF = the selected bit, ZF unaffected, OF SF AF PF undefined.
 * A register bit offset with a memory operand is a signed offset that may leave the operand.
 */
function gBt(b: CB): void {
  const rng = b.rng;
  b.undef(OF | SF | AF | PF);
  const op = rng.int(4);
  const names = ["bt", "bts", "btr", "btc"];
  const bits = rng.chance(0.5) ? 16 : 32;
  const bytes = bits >> 3;
  const immForm = rng.chance(0.35);
  const useMem = !b.inSeq && rng.chance(0.6);
  const lock = useMem && op !== 0 && rng.chance(0.2) ? [0xf0] : [];
  let reg = 0;
  let off = 0;
  if (immForm) off = rng.chance(0.5) ? rng.int(256) : rng.int(bits);
  else {
    reg = rng.int(8);
    if (useMem) {
      // keep the addressed operand inside the scratch area
      const t0 = rng.range(0x40, 0x100);
      const lo = -(t0 - bytes) * 8;
      const hi = (SCRATCH - bytes - t0) * 8;
      off = rng.range(lo, hi);
      b.setPart(reg, bits, off);
      if (bits === 16) b.regs[reg] = (rng.u32() & 0xffff0000) | (off & 0xffff);
      const e = b.mem(bytes, { t: t0 });
      emitBt(e.rm, e.pre, e.text, e.t);
      return;
    }
    b.setPart(reg, bits, b.val(bits));
    b.fixed.delete(reg);
  }
  const e = useMem ? b.mem(bytes) : null;
  if (e) emitBt(e.rm, e.pre, e.text, e.t);
  else {
    const n = rng.int(8);
    if (!(n === reg && !immForm)) b.setPart(n, bits, b.val(bits));
    emitBt(n, [], regName(n, bits), -1);
  }

  function emitBt(rm: RM, pre: number[], text: string, _t: number): void {
    const p = prefixes(rng, osz(bits), pre, lock);
    const l = lock.length ? "lock " : "";
    if (immForm)
      b.emit(
        enc({ pre: p, op: [0x0f, 0xba], reg: 4 + op, rm, imm: off, immSize: 1 }),
        `${l}${names[op]} ${text}, ${off}`,
      );
    else
      b.emit(
        enc({ pre: p, op: [0x0f, 0xa3 | (op << 3)], reg, rm }),
        `${l}${names[op]} ${text}, ${regName(reg, bits)}(=${off})`,
      );
  }
}

/**
 * BSF/BSR (SDM Vol. 2A): ZF set iff the source is 0; CF OF SF AF PF undefined. The destination is
 * "undefined" for a zero source; AMD documents it as unchanged (as Intel parts do), so it is compared.
 */
function gBsf(b: CB): void {
  const rng = b.rng;
  b.undef(CF | OF | SF | AF | PF);
  const rev = rng.chance(0.5);
  const bits = rng.chance(0.5) ? 16 : 32;
  const reg = rng.int(8);
  const e = b.rm(bits, 0.4);
  const k = rng.int(4);
  const v = k === 0 ? 0 : k === 1 ? 1 << rng.int(bits) : b.val(bits);
  setOperand(b, e, bits, v);
  b.emit(
    enc({ pre: prefixes(rng, osz(bits), e.pre), op: [0x0f, rev ? 0xbd : 0xbc], reg, rm: e.rm }),
    `${rev ? "bsr" : "bsf"} ${regName(reg, bits)}, ${e.text}`,
  );
}

/** Producer operand register: never ESP (a consumer may use the stack) nor ECX when `keepEcx`. */
function noEsp(n: number, bits: number, keepEcx = false): number {
  if (n === ESP && bits !== 8) return EAX;
  if (keepEcx && (n & 3) === ECX) return EDX;
  return n;
}

/** A flag producer whose arithmetic flags are all defined (or AF undefined for logic ops). */
function producer(b: CB, fullyDefined = false, keepEcx = false): void {
  const rng = b.rng;
  const k = rng.int(10);
  const bits = pickSize(rng);
  const w = bits === 8 ? 0 : 1;
  if (k < 6) {
    let op = rng.int(8);
    if (fullyDefined && (op === 1 || op === 4 || op === 6)) op = 7;
    if (op === 1 || op === 4 || op === 6) b.undef(AF);
    // ESP is left alone: a consumer may use the stack
    const a = noEsp(rng.int(8), bits, keepEcx);
    const c = noEsp(rng.int(8), bits, keepEcx);
    b.setPart(a, bits, b.val(bits));
    if (rng.chance(0.3)) b.setPart(c, bits, b.getPart(a, bits) ^ (rng.chance(0.5) ? 0 : 1 << rng.int(bits)));
    else b.setPart(c, bits, b.val(bits));
    b.emit(
      [...osz(bits), (op << 3) | w, 0xc0 | (c << 3) | a],
      `${ALU_NAMES[op]} ${regName(a, bits)}, ${regName(c, bits)}`,
    );
  } else if (k < 8) {
    const n = noEsp(rng.int(8), bits, keepEcx);
    b.setPart(n, bits, b.val(bits));
    const reg = rng.int(2);
    b.emit(
      [...osz(bits), bits === 8 ? 0xfe : 0xff, 0xc0 | (reg << 3) | n],
      `${reg ? "dec" : "inc"} ${regName(n, bits)}`,
    );
  } else if (k < 9) {
    const n = noEsp(rng.int(8), bits, keepEcx);
    b.setPart(n, bits, b.val(bits));
    b.emit([...osz(bits), bits === 8 ? 0xf6 : 0xf7, 0xd8 | n], `neg ${regName(n, bits)}`);
  } else if (!fullyDefined) {
    b.undef(AF);
    const n = rng.int(8);
    b.setPart(n, bits, b.val(bits));
    b.emit([...osz(bits), 0x84 | w, 0xc0 | (n << 3) | n], `test ${regName(n, bits)}, ${regName(n, bits)}`);
  }
  // else: flags straight from POPFD
}

/** SETcc, CMOVcc, Jcc (short and near), LOOP/LOOPE/LOOPNE/JECXZ after a flag producer. */
function gCond(b: CB): void {
  const rng = b.rng;
  const cc = rng.int(16);
  const k = rng.int(b.inSeq ? 4 : 5); // no LOOP in sequences: ECX may be anything by then
  producer(b, false, k === 4);
  if (k === 0) {
    const e = b.rm(8, 0.3);
    b.emit(enc({ pre: e.pre, op: [0x0f, 0x90 | cc], reg: 0, rm: e.rm }), `set${CC[cc]} ${e.text}`);
  } else if (k === 1) {
    const bits = rng.chance(0.5) ? 16 : 32;
    const reg = rng.int(8);
    const e = b.rm(bits, 0.3);
    b.emit(
      enc({ pre: prefixes(rng, osz(bits), e.pre), op: [0x0f, 0x40 | cc], reg, rm: e.rm }),
      `cmov${CC[cc]} ${regName(reg, bits)}, ${e.text}`,
    );
  } else if (k <= 3) {
    const near = k === 3;
    const n = rng.int(8);
    const jump = near ? [0x0f, 0x80 | cc, 5, 0, 0, 0] : [0x70 | cc, 5];
    b.emit(jump, `j${CC[cc]} +5`);
    b.emit([0xb8 + n, 0x78, 0x56, 0x34, 0x12], `mov ${REG32[n]}, 0x12345678`);
  } else {
    // LOOPcc with a short body; 0x67 makes the counter CX.
    const a16 = rng.chance(0.25);
    const kind = rng.int(4); // loop, loope, loopne, jecxz
    const count = kind === 3 ? rng.pick([0, 1, 0x10000, 5]) : rng.range(1, 12);
    b.setPart(ECX, 32, (a16 ? rng.u32() & 0xffff0000 : 0) | count);
    b.setPart(EDX, 32, rng.chance(0.5) ? rng.range(1, 8) : b.val(32));
    b.setPart(EAX, 32, b.val(32));
    const p = a16 ? [0x67] : [];
    if (kind === 3) {
      b.emit([...p, 0xe3, 1], `${a16 ? "jcxz" : "jecxz"} +1`);
      b.emit([0x40], "inc eax");
    } else {
      // L: inc eax; dec edx; loopX L
      b.emit([0x40, 0x4a], "L: inc eax; dec edx");
      b.emit(
        [...p, 0xe2 - kind, -(p.length + 4) & 0xff],
        `${["loop", "loope", "loopne"][kind]}${a16 ? " (cx)" : ""} L`,
      );
    }
  }
}
const CC = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];

/** BSWAP: the 16-bit form's result is undefined (SDM Vol. 2A, BSWAP): only the upper half is compared. */
function gBswap(b: CB): void {
  const rng = b.rng;
  const n = rng.int(8);
  b.setPart(n, 32, b.val(32));
  if (rng.chance(0.15)) {
    b.regMask[n] = ~0xffff;
    b.emit([0x66, 0x0f, 0xc8 + n], `bswap ${REG16[n]}`);
  } else b.emit([0x0f, 0xc8 + n], `bswap ${REG32[n]}`);
}

/** XCHG, XADD, CMPXCHG, CMPXCHG8B (all flags defined where written; SDM Vol. 2A/2B). */
function gXchg(b: CB): void {
  const rng = b.rng;
  const k = rng.int(5);
  const bits = k === 4 ? 64 : pickSize(rng);
  const w = bits === 8 ? 0 : 1;
  if (k === 4) {
    // CMPXCHG8B m64
    if (rng.chance(0.03)) {
      b.emit([0x0f, 0xc7, 0xc8 | rng.int(8)], "cmpxchg8b reg (#UD)");
      return;
    }
    b.fix(EAX, EDX, EBX, ECX);
    const e = b.mem(8);
    const lock = rng.chance(0.3) ? [0xf0] : [];
    if (rng.chance(0.5)) {
      b.poke(e.t, 32, b.regs[EAX]);
      b.poke(e.t + 4, 32, rng.chance(0.8) ? b.regs[EDX] : b.regs[EDX] ^ 1);
    }
    b.emit(
      enc({ pre: prefixes(rng, e.pre, lock), op: [0x0f, 0xc7], reg: 1, rm: e.rm }),
      `${lock.length ? "lock " : ""}cmpxchg8b qword ${e.text}`,
    );
    return;
  }
  if (k === 0 && bits !== 8 && rng.chance(0.3)) {
    const n = rng.int(8);
    b.emit([...osz(bits), 0x90 + n], `xchg ${regName(EAX, bits)}, ${regName(n, bits)}`);
    return;
  }
  const reg = rng.int(8);
  if (k === 3) b.fix(EAX);
  const e = b.rm(bits, 0.5);
  if (e.t >= 0 && rng.chance(0.5)) b.poke(e.t, bits, b.val(bits));
  const lock = e.t >= 0 && k !== 0 && rng.chance(0.3) ? [0xf0] : [];
  const l = lock.length ? "lock " : "";
  const p = prefixes(rng, osz(bits), e.pre, lock);
  const rn = regName(reg, bits);
  if (k === 0 || k === 1) {
    b.emit(enc({ pre: p, op: [0x86 | w], reg, rm: e.rm }), `${l}xchg ${e.text}, ${rn}`);
  } else if (k === 2) {
    b.emit(enc({ pre: p, op: [0x0f, 0xc0 | w], reg, rm: e.rm }), `${l}xadd ${e.text}, ${rn}`);
  } else {
    if (rng.chance(0.5)) {
      // make the accumulator equal to the destination
      const cur =
        typeof e.rm === "number"
          ? b.getPart(e.rm, bits)
          : new DataView(b.window().buffer).getUint32(e.t, true);
      b.setPart(EAX, bits, cur);
    }
    b.emit(enc({ pre: p, op: [0x0f, 0xb0 | w], reg, rm: e.rm }), `${l}cmpxchg ${e.text}, ${rn}`);
  }
}

/** MOV in all forms, MOVZX/MOVSX. */
function gMov(b: CB): void {
  const rng = b.rng;
  const k = rng.int(6);
  if (k <= 1) {
    const dbits = rng.chance(0.5) ? 16 : 32;
    const sbits = rng.chance(0.5) ? 8 : 16;
    const sx = k === 1;
    const reg = rng.int(8);
    const e = b.rm(sbits, 0.5);
    setOperand(b, e, sbits, b.val(sbits));
    b.emit(
      enc({
        pre: prefixes(rng, osz(dbits), e.pre),
        op: [0x0f, (sx ? 0xbe : 0xb6) | (sbits === 16 ? 1 : 0)],
        reg,
        rm: e.rm,
      }),
      `${sx ? "movsx" : "movzx"} ${regName(reg, dbits)}, ${e.text}`,
    );
    return;
  }
  const bits = pickSize(rng);
  const w = bits === 8 ? 0 : 1;
  if (k === 2) {
    // moffs forms A0-A3
    const store = rng.chance(0.5);
    const t = rng.int(SCRATCH - (bits >> 3) + 1);
    const a16 = rng.chance(0.2);
    const fs = a16 || rng.chance(0.2);
    const pre = prefixes(rng, osz(bits), fs ? [0x64] : [], a16 ? [0x67] : []);
    const addr = fs ? t : WINDOW + t;
    b.emit(
      [...pre, (store ? 0xa2 : 0xa0) | w, ...leN(addr, a16 ? 2 : 4)],
      store
        ? `mov [${fs ? "fs:" : ""}${hx(addr)}], ${regName(EAX, bits)}`
        : `mov ${regName(EAX, bits)}, [${fs ? "fs:" : ""}${hx(addr)}]`,
    );
    return;
  }
  if (k === 3) {
    const e = b.rm(bits, 0.7);
    const imm = b.val(bits);
    b.emit(
      enc({
        pre: prefixes(rng, osz(bits), e.pre),
        op: [0xc6 | w],
        reg: 0,
        rm: e.rm,
        imm,
        immSize: bits >> 3,
      }),
      `mov ${e.text}, ${hx(imm)}`,
    );
    return;
  }
  if (k === 4) {
    const n = rng.int(8);
    const imm = b.val(bits);
    b.emit(
      [...osz(bits), (bits === 8 ? 0xb0 : 0xb8) + n, ...leN(imm, bits >> 3)],
      `mov ${regName(n, bits)}, ${hx(imm)}`,
    );
    return;
  }
  const reg = rng.int(8);
  const e = b.rm(bits, 0.7);
  const load = rng.chance(0.5);
  b.emit(
    enc({ pre: prefixes(rng, osz(bits), e.pre), op: [0x88 | (load ? 2 : 0) | w], reg, rm: e.rm }),
    load ? `mov ${regName(reg, bits)}, ${e.text}` : `mov ${e.text}, ${regName(reg, bits)}`,
  );
}

function leN(v: number, n: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < n; k++) out.push((v >>> (8 * k)) & 0xff);
  return out;
}

/** LEA with every addressing form (no memory access, so any register values). */
function gLea(b: CB): void {
  const rng = b.rng;
  const bits = rng.chance(0.7) ? 32 : 16;
  const reg = rng.int(8);
  b.regs[ESP] = b.val(32);
  if (rng.chance(0.03)) {
    b.emit([...osz(bits), 0x8d, 0xc0 | (reg << 3) | rng.int(8)], "lea reg, reg (#UD)");
    return;
  }
  let m: Mem;
  let pre: number[] = [];
  if (rng.chance(0.3)) {
    pre = [0x67];
    const mod = rng.int(3);
    m = { kind: "m16", rm: rng.int(8), mod, disp: mod === 1 ? rng.int(256) - 128 : rng.int(0x10000) };
  } else {
    const base = rng.chance(0.85) ? rng.int(8) : -1;
    let index = rng.chance(0.6) ? rng.int(8) : -1;
    if (index === ESP) index = -1;
    const dk = rng.int(4);
    const disp = dk === 0 ? 0 : dk === 1 ? rng.int(256) - 128 : dk === 2 ? b.val(32) : rng.u32() | 0;
    m = { kind: "m32", base, index, scale: rng.int(4), disp, wide: rng.chance(0.1) };
  }
  b.emit(
    enc({ pre: prefixes(rng, osz(bits), pre), op: [0x8d], reg, rm: m }),
    `lea ${regName(reg, bits)}, ${pre.length ? "a16 " : ""}${memText(m)}`,
  );
}

/** CBW/CWDE/CWD/CDQ. */
function gCvt(b: CB): void {
  const rng = b.rng;
  b.setPart(EAX, 32, b.val(32));
  const bits = rng.chance(0.5) ? 16 : 32;
  const cwd = rng.chance(0.5);
  const name = cwd ? (bits === 16 ? "cwd" : "cdq") : bits === 16 ? "cbw" : "cwde";
  b.emit([...osz(bits), cwd ? 0x99 : 0x98], name);
}

/** String instructions with and without REP, both directions, within the window. */
function gString(b: CB): void {
  const rng = b.rng;
  const kinds = ["movs", "cmps", "stos", "lods", "scas"];
  const kind = rng.int(5);
  const base = [0xa4, 0xa6, 0xaa, 0xac, 0xae][kind];
  const bits = pickSize(rng);
  const sz = bits >> 3;
  const w = bits === 8 ? 0 : 1;
  const cmpLike = kind === 1 || kind === 4;
  const rk = rng.int(10);
  const rep = rk < 3 ? 0 : cmpLike && rk >= 7 ? 0xf2 : 0xf3;
  const dfSet = rng.chance(0.5);
  b.eflags = (b.eflags & ~DF) | (dfSet ? DF : 0);
  const a16 = kind === 3 && rng.chance(0.3); // LODS through FS with SI/CX
  const count = rep ? rng.pick([0, 1, 2, 3, 5, 8, 12, rng.int(20)]) : 1;
  const n = Math.max(count, 1);
  const span = n * sz;
  const startFor = () => (dfSet ? rng.range(span - sz, SCRATCH - sz) : rng.range(0, SCRATCH - span));
  const usesSi = kind <= 1 || kind === 3;
  const usesDi = kind !== 3;
  const fsSrc = usesSi && !a16 && rng.chance(0.15);
  const si = startFor();
  let di = startFor();
  if (kind === 1 && rng.chance(0.3)) di = si;
  if (rep) b.setPart(ECX, 32, (a16 ? rng.u32() & 0xffff0000 : 0) | count);
  else b.fix(ECX);
  if (usesSi) b.setPart(ESI, 32, a16 ? (rng.u32() & 0xffff0000) | si : fsSrc ? si : WINDOW + si);
  if (usesDi) b.setPart(EDI, 32, WINDOW + di);
  if (cmpLike || kind === 2) {
    // comparand / store value: sometimes equal to a byte of the window so REPNE stops
    const win = b.window();
    const at = dfSet ? di - rng.int(n) * sz : di + rng.int(n) * sz;
    const v = rng.chance(0.5)
      ? win[at] | (win[at + 1] << 8) | (win[at + 2] << 16) | (win[at + 3] << 24)
      : b.val(32);
    b.setPart(EAX, bits, v & maskOf(bits));
  }
  if (kind === 1 && di !== si && !dfSet && rng.chance(0.4)) {
    // equal prefix: copy up to four dwords of the source run into the destination run
    const win = b.window();
    const dv = new DataView(win.buffer);
    for (let q = 0; q < 4 && q * 4 < span; q++) {
      const s = si + q * 4;
      const d = di + q * 4;
      if (s < 0 || d < 0 || s + 4 > SCRATCH || d + 4 > SCRATCH) break;
      b.poke(d, 32, dv.getUint32(s, true));
    }
  }
  const pre = prefixes(rng, osz(bits), fsSrc || a16 ? [0x64] : [], a16 ? [0x67] : []);
  if (rep) pre.unshift(rep);
  const repText = rep === 0 ? "" : rep === 0xf2 ? "repne " : cmpLike ? "repe " : "rep ";
  b.emit(
    [...pre, base | w],
    `${dfSet ? "std; " : ""}${repText}${kinds[kind]}${bits === 8 ? "b" : bits === 16 ? "w" : "d"}${fsSrc || a16 ? " (fs src)" : ""}${a16 ? " a16" : ""} (count ${count})`,
  );
}

/** DAA/DAS: OF undefined. AAA/AAS: OF SF ZF PF undefined. AAM/AAD: OF AF CF undefined (SDM Vol. 2A). */
function gBcd(b: CB): void {
  const rng = b.rng;
  const k = b.pendingUndef() ? 4 + rng.int(2) : rng.int(6); // DAA..AAS read AF/CF
  b.setPart(EAX, 16, rng.chance(0.5) ? rng.int(0x10000) : (rng.int(256) << 8) | rng.pick(EDGE8));
  if (k === 0 || k === 1) {
    b.undef(OF);
    b.emit([k === 0 ? 0x27 : 0x2f], k === 0 ? "daa" : "das");
  } else if (k === 2 || k === 3) {
    b.undef(OF | SF | ZF | PF);
    b.emit([k === 2 ? 0x37 : 0x3f], k === 2 ? "aaa" : "aas");
  } else {
    b.undef(OF | AF | CF);
    const imm = rng.chance(0.6) ? 10 : rng.chance(0.15) ? 0 : rng.int(256);
    b.emit([k === 4 ? 0xd4 : 0xd5, imm], `${k === 4 ? "aam" : "aad"} ${imm}`);
  }
}

/** LAHF/SAHF, PUSHFD/POPFD (arithmetic bits, DF, ID), CMC/CLC/STC/CLD/STD. */
function gFlags(b: CB): void {
  const rng = b.rng;
  const k = rng.int(5);
  if (k === 0) {
    producer(b, true);
    b.emit([0x9f], "lahf");
  } else if (k === 1) {
    b.setPart(EAX, 32, b.val(32));
    b.emit([0x9e], "sahf");
  } else if (k === 2) {
    const v = 0x2 | (rng.u32() & (ARITH | DF)) | (rng.chance(0.3) ? 1 << 21 : 0);
    const n = rng.int(8);
    b.emit([0x68, ...leN(v, 4), 0x9d], `push ${hx(v)}; popfd`);
    if (n !== ESP) b.emit([0x9c, 0x58 + n], `pushfd; pop ${REG32[n]}`);
  } else if (k === 3) {
    producer(b, true);
    const n = rng.int(8);
    if (rng.chance(0.3)) b.emit([0x66, 0x9c, 0x66, 0x58 + n], `pushf; pop ${REG16[n]}`);
    else b.emit([0x9c, 0x58 + n], `pushfd; pop ${REG32[n]}`);
  } else {
    const ops: [number, string][] = [
      [0xf5, "cmc"],
      [0xf8, "clc"],
      [0xf9, "stc"],
      [0xfc, "cld"],
      [0xfd, "std"],
    ];
    for (let q = rng.range(1, 3); q > 0; q--) {
      const [o, t] = rng.pick(ops);
      b.emit([o], t);
    }
    if (rng.chance(0.5)) producer(b);
  }
}

/** PUSH/POP (registers, immediates, memory incl. ESP-relative), PUSHA/POPA, ENTER/LEAVE, CALL/RET. */
function gStack(b: CB): void {
  const rng = b.rng;
  b.regs[ESP] = WINDOW + rng.range(0x190, 0x1e0) + (rng.chance(0.1) ? rng.int(4) : 0);
  b.fix(ESP);
  const k = rng.int(9);
  const bits = rng.chance(0.3) ? 16 : 32;
  const p = osz(bits);
  const rn = (n: number) => regName(n, bits);
  if (k === 0) {
    const n = rng.int(8);
    b.emit([...p, 0x50 + n], `push ${rn(n)}`);
  } else if (k === 1) {
    const n = rng.int(8);
    b.emit([...p, 0x58 + n], `pop ${rn(n)}`);
  } else if (k === 2) {
    if (rng.chance(0.5)) {
      const v = b.val(bits);
      b.emit([...p, 0x68, ...leN(v, bits >> 3)], `push ${hx(v)}`);
    } else {
      const v = (b.val(8) << 24) >> 24;
      b.emit([...p, 0x6a, v & 0xff], `push byte ${v}`);
    }
  } else if (k === 3 || k === 4) {
    const pop = k === 4;
    let m: MemOperand;
    if (rng.chance(0.35)) {
      // [esp+disp]: POP computes the address after incrementing ESP (SDM Vol. 2B, POP)
      const disp = rng.range(-0x20, 0x10);
      const mm: Mem = { kind: "m32", base: ESP, index: -1, scale: 0, disp, wide: rng.chance(0.2) };
      m = { rm: mm, pre: [], t: -1, text: memText(mm) };
    } else m = b.mem(bits >> 3);
    b.emit(
      enc({ pre: prefixes(rng, p, m.pre), op: [pop ? 0x8f : 0xff], reg: pop ? 0 : 6, rm: m.rm }),
      `${pop ? "pop" : "push"} ${bits === 16 ? "word" : "dword"} ${m.text}`,
    );
  } else if (k === 5) {
    const popa = rng.chance(0.5);
    if (popa) b.regs[ESP] = WINDOW + rng.range(0x180, 0x200 - (bits >> 3) * 8);
    b.emit([...p, popa ? 0x61 : 0x60], `${popa ? "popa" : "pusha"}${bits === 16 ? "" : "d"}`);
  } else if (k === 6) {
    const level = rng.chance(0.7) ? rng.int(5) : rng.int(256);
    const size = rng.chance(0.7) ? rng.int(0x40) : rng.int(0x10000);
    b.setPart(EBP, 32, WINDOW + rng.range(0x80, 0x1fc));
    if ((level & 31) > 0 && bits === 32) b.regs[ESP] = WINDOW + rng.range(0x190, 0x1fc);
    b.emit([...p, 0xc8, size & 0xff, size >> 8, level], `enter ${hx(size)}, ${level}`);
  } else if (k === 7) {
    b.setPart(EBP, 32, WINDOW + rng.range(0, 0x1fc));
    b.emit([...p, 0xc9], `leave${bits === 16 ? " (16)" : ""}`);
  } else {
    // call next; add dword [esp], 5/8; ret [imm16]   (returns just after the RET)
    const imm = rng.chance(0.3) ? rng.int(0x20) : -1;
    const retLen = imm >= 0 ? 3 : 1;
    b.emit([0xe8, 0, 0, 0, 0], "call $+5");
    b.emit([0x83, 0x04, 0x24, 4 + retLen], `add dword [esp], ${4 + retLen}`);
    if (imm >= 0) b.emit([0xc2, imm, 0], `ret ${imm}`);
    else b.emit([0xc3], "ret");
  }
}

/** XLAT, BOUND, #UD and #GP cases, NOPs, SALC, segment-limit violations. */
function gMisc(b: CB): void {
  const rng = b.rng;
  const k = rng.int(9);
  if (k === 0) {
    const t = rng.int(SCRATCH - 256);
    const fs = rng.chance(0.3);
    const a16 = fs && rng.chance(0.5);
    b.setPart(EBX, 32, a16 ? (rng.u32() & 0xffff0000) | t : fs ? t : WINDOW + t);
    b.setPart(EAX, 8, rng.int(256));
    b.emit(
      [...(fs ? [0x64] : []), ...(a16 ? [0x67] : []), 0xd7],
      `xlat${fs ? " fs:" : ""}${a16 ? " a16" : ""}`,
    );
  } else if (k === 1) {
    const bits = rng.chance(0.5) ? 16 : 32;
    const reg = rng.int(8);
    const v = b.val(bits);
    b.setPart(reg, bits, v);
    const e = b.mem((bits >> 3) * 2);
    const sx = (x: number) => (bits === 16 ? (x << 16) >> 16 : x | 0);
    const lo = rng.chance(0.5) ? sx(v) - rng.int(3) : b.val(bits);
    const hi = rng.chance(0.5) ? sx(v) + rng.int(3) : b.val(bits);
    if (bits === 32) {
      b.poke(e.t, 32, lo);
      b.poke(e.t + 4, 32, hi);
    } else b.poke(e.t, 32, (lo & 0xffff) | (hi << 16));
    b.emit(
      enc({ pre: prefixes(rng, osz(bits), e.pre), op: [0x62], reg, rm: e.rm }),
      `bound ${regName(reg, bits)}, ${e.text}`,
    );
  } else if (k === 2) {
    const ud: [number[], string][] = [
      [[0x0f, 0x0b], "ud2"],
      [[0xf0, 0x01, 0xc0 | rng.int(64)], "lock add reg, reg (#UD)"],
      [[0xf0, 0x90], "lock nop (#UD)"],
      [[0x62, 0xc0 | rng.int(64)], "bound reg, reg (#UD)"],
      [[0x0f, 0xb2, 0xc0 | rng.int(64)], "lss reg, reg (#UD)"],
    ];
    const [code, text] = rng.pick(ud);
    b.emit(code, text);
  } else if (k === 3) {
    const gp: [number[], string][] = [
      [[0xf4], "hlt (#GP at CPL 3)"],
      [[0xfa], "cli (#GP, IOPL 0)"],
      [[0xfb], "sti (#GP, IOPL 0)"],
      [[0xec], "in al, dx (#GP)"],
      [[0xee], "out dx, al (#GP)"],
      [[0x0f, 0x20, 0xc0], "mov eax, cr0 (#GP at CPL 3)"],
      [[0x0f, 0x06], "clts (#GP)"],
    ];
    const [code, text] = rng.pick(gp);
    b.emit(code, text);
  } else if (k === 4) {
    // FS limit is 0xffff: accesses that cross or pass it are #GP(0)
    const bits = pickSize(rng);
    const bytes = bits >> 3;
    const off = rng.chance(0.7) ? 0x10000 - bytes + 1 + rng.int(8) : rng.u32() | 0x10000;
    b.setPart(EBX, 32, off);
    const reg = rng.int(8);
    const store = rng.chance(0.5);
    b.emit(
      [...prefixes(rng, osz(bits), [0x64]), 0x88 | (store ? 0 : 2) | (bits === 8 ? 0 : 1), (reg << 3) | 3],
      `mov ${store ? `fs:[ebx=${hx(off)}], ${regName(reg, bits)}` : `${regName(reg, bits)}, fs:[ebx=${hx(off)}]`} (#GP)`,
    );
  } else if (k === 5) {
    const nops: [number[], string][] = [
      [[0x90], "nop"],
      [[0x66, 0x90], "xchg ax, ax"],
      [[0xf3, 0x90], "pause"],
      [[0x0f, 0x1f, 0x44, 0x00, 0x00], "nop dword [eax+eax]"],
      [[0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0], "nop word [eax+eax+0]"],
    ];
    const [code, text] = rng.pick(nops);
    b.emit(code, text);
  } else if (k === 6) {
    if (rng.chance(0.3)) {
      // SALC (D6): undocumented by Intel, executed by both vendors in 32-bit mode
      b.emit([0xd6], "salc");
    } else if (rng.chance(0.5)) {
      // ARPL r/m16, r16: only ZF changes (SDM Vol. 2A, ARPL)
      const reg = rng.int(8);
      b.setPart(reg, 16, b.val(16));
      b.fixed.delete(reg);
      const e = b.rm(16, 0.4);
      setOperand(b, e, 16, b.val(16));
      b.emit(enc({ pre: e.pre, op: [0x63], reg, rm: e.rm }), `arpl ${e.text}, ${REG16[reg]}`);
    } else {
      // TEST r/m, r: AF undefined (SDM Vol. 2B, TEST)
      b.undef(AF);
      const bits = pickSize(rng);
      const reg = rng.int(8);
      b.setPart(reg, bits, b.val(bits));
      b.fixed.delete(bits === 8 ? reg & 3 : reg);
      const e = b.rm(bits, 0.5);
      setOperand(b, e, bits, b.val(bits));
      b.emit(
        enc({ pre: prefixes(rng, osz(bits), e.pre), op: [bits === 8 ? 0x84 : 0x85], reg, rm: e.rm }),
        `test ${e.text}, ${regName(reg, bits)}`,
      );
    }
  } else if (k === 7) {
    // a write through CS is #GP(0); a read is fine
    const e = b.mem(4, { noSeg: true });
    const store = rng.chance(0.5);
    b.emit(
      enc({ pre: [0x2e, ...e.pre], op: [store ? 0x89 : 0x8b], reg: rng.int(8), rm: e.rm }),
      `mov ${store ? "cs:mem, reg" : "reg, cs:mem"} ${e.text}`,
    );
  } else {
    // 0x66/0x67 on instructions they do not affect, and redundant prefixes
    const n = rng.int(8);
    b.setPart(n, 32, b.val(32));
    b.emit([0x3e, 0x26, 0x67, 0x0f, 0xc8 + n], `ds es a16 bswap ${REG32[n]}`);
  }
}

/** A mix of ALU/MOV operations through 16-bit addressing (always via FS, based at the window). */
function gAddr16(b: CB): void {
  const rng = b.rng;
  const bits = pickSize(rng);
  const w = bits === 8 ? 0 : 1;
  const e = b.mem(bits >> 3, { a16: true });
  const reg = rng.int(8);
  if (rng.chance(0.5)) {
    const op = rng.int(8);
    if (op === 1 || op === 4 || op === 6) b.undef(AF);
    const dir = rng.int(2);
    b.emit(
      enc({ pre: prefixes(rng, osz(bits), e.pre), op: [(op << 3) | (dir << 1) | w], reg, rm: e.rm }),
      `${ALU_NAMES[op]} ${dir ? `${regName(reg, bits)}, ${e.text}` : `${e.text}, ${regName(reg, bits)}`}`,
    );
  } else {
    const load = rng.chance(0.5);
    b.emit(
      enc({ pre: prefixes(rng, osz(bits), e.pre), op: [0x88 | (load ? 2 : 0) | w], reg, rm: e.rm }),
      `mov ${load ? `${regName(reg, bits)}, ${e.text}` : `${e.text}, ${regName(reg, bits)}`}`,
    );
  }
}

const PAGE_END = WINDOW + 0x1000;

/** An address just outside the test page (below or above), `bytes` wide, possibly straddling it. */
function edgeAddr(rng: Rng, bytes: number): number {
  const k = rng.int(bytes + 2);
  if (rng.chance(0.5)) return WINDOW - bytes + k - (k > bytes ? 8 : 0); // straddles or lies below
  return PAGE_END - k + (k === 0 ? rng.int(8) : 0); // straddles or lies above
}

/**
 * Page faults: accesses straddling or missing the test page (unmapped pages on both sides),
 * writes to the read-only ELF image, REP string instructions and stack operations running off the
 * page. The fault must leave the same state (partial progress of REP, registers, memory), EIP,
 * CR2 and error code on both sides.
 */
function gPf(b: CB): void {
  const rng = b.rng;
  const k = rng.int(10);
  const bits = pickSize(rng);
  const bytes = bits >> 3;
  const w = bits === 8 ? 0 : 1;
  if (k <= 2) {
    // load, store, ALU RMW or XCHG through [ebx+disp] near the page's edges
    const addr = edgeAddr(rng, bytes);
    const disp = rng.pick([0, rng.int(256) - 128]);
    b.setPart(EBX, 32, addr - disp);
    const reg = rng.int(8);
    const kind = rng.int(4);
    const m: Mem = { kind: "m32", base: EBX, index: -1, scale: 0, disp };
    const text = `${SIZE_NAME[bits]} [ebx+${disp}] (=${hx(addr)})`;
    const opc = kind === 0 ? 0x8a : kind === 1 ? 0x88 : kind === 2 ? 0x00 | (rng.int(8) << 3) : 0x86;
    b.emit(
      enc({ pre: osz(bits), op: [opc | w], reg, rm: m }),
      `${["load", "store", "alu", "xchg"][kind]} ${text}, ${regName(reg, bits)}`,
    );
    b.undef(AF); // logic ops
  } else if (k === 3) {
    // writes (and RMW) into the read-only ELF image: #PF with error code P|W|U
    const addr = CODE_BASE + rng.int(0x80);
    b.setPart(EBX, 32, addr);
    const op = rng.pick([
      [0x89, "mov"],
      [0x01, "add"],
      [0x87, "xchg"],
      [0x8b, "mov (load)"],
    ] as const);
    b.emit(
      enc({ pre: osz(bits), op: [bits === 8 ? op[0] & ~1 : op[0]], reg: rng.int(8), rm: m32(EBX) }),
      `${op[1]} [${hx(addr)}] (image)`,
    );
  } else if (k === 4) {
    // unmapped addresses far from the page: below 1 MiB, and the gaps around the BSS
    const addr = rng.pick([rng.int(0x100000), 0x38c000 + rng.int(0x4000), PAGE_END + rng.int(0x1f000)]);
    b.setPart(ESI, 32, addr);
    const reg = rng.int(8);
    b.emit(
      enc({ pre: osz(bits), op: [0x8a | w], reg, rm: m32(ESI) }),
      `mov ${regName(reg, bits)}, [esi=${hx(addr)}]`,
    );
  } else if (k <= 6) {
    // REP string instructions running off the page
    const kind = rng.int(5);
    const base = [0xa4, 0xa6, 0xaa, 0xac, 0xae][kind];
    const down = rng.chance(0.5);
    b.eflags = (b.eflags & ~DF) | (down ? DF : 0);
    const count = rng.range(1, 40);
    b.setPart(ECX, 32, count);
    // start within `count` elements of the edge the direction runs into
    const near = down
      ? WINDOW + rng.int(count * bytes)
      : PAGE_END - rng.int(count * bytes) - bytes + rng.int(bytes);
    const other = down ? WINDOW + rng.range(0x100, 0x1ff) : WINDOW + TAIL + rng.int(0x10);
    const srcNear = kind === 3 || (kind <= 1 && rng.chance(0.5));
    b.setPart(ESI, 32, srcNear ? near : other);
    b.setPart(EDI, 32, srcNear ? other : near);
    if (kind === 1 || kind === 4) b.setPart(EAX, 32, b.val(32));
    const rep = kind === 1 || kind === 4 ? rng.pick([0xf3, 0xf2]) : 0xf3;
    // A fault in the middle of a repeated CMPS/SCAS: the SDM (Vol. 2B, REP) keeps ECX, ESI and
    // EDI at the iterations done but says nothing of EFLAGS, and the resumed instruction recomputes
    // them. Intel hosts (a Xeon here) show the flags from before the instruction; the interpreter
    // keeps those of the last completed iteration. Compare the registers and memory only.
    if (kind === 1 || kind === 4) b.undef(ARITH);
    b.emit(
      [rep, ...osz(bits), base | w],
      `${down ? "std; " : ""}rep ${["movs", "cmps", "stos", "lods", "scas"][kind]} x${count} ${bits}-bit off the page`,
    );
  } else if (k === 7) {
    // stack operations at the edges
    const sk = rng.int(6);
    if (sk === 0 || sk === 1) {
      b.regs[ESP] = WINDOW + rng.int(5);
      b.emit(sk === 0 ? [0x50 + rng.int(8)] : [0x66, 0x50 + rng.int(8)], "push at the page's bottom");
    } else if (sk === 2) {
      b.regs[ESP] = PAGE_END - rng.int(4);
      b.emit([0x58 + rng.int(8)], "pop at the page's top");
    } else if (sk === 3) {
      b.regs[ESP] = WINDOW + rng.int(0x24);
      b.emit(rng.chance(0.5) ? [0x60] : [0x66, 0x60], "pusha at the page's bottom");
    } else if (sk === 4) {
      b.regs[ESP] = PAGE_END - rng.int(0x24);
      // On a fault AMD keeps the registers popped before it (ESP is restored); the SDM does not
      // say, the interpreter leaves them unchanged (restartable either way): compare only ESP.
      for (let r = 0; r < 8; r++) if (r !== ESP) b.regMask[r] = 0;
      b.emit([0x61], "popa at the page's top");
    } else {
      b.regs[ESP] = WINDOW + rng.int(8);
      b.emit([0xe8, 0, 0, 0, 0], "call at the page's bottom");
    }
  } else if (k === 8) {
    // BT*/CMPXCHG8B/DIV with memory operands off the page
    const sk = rng.int(3);
    if (sk === 0) {
      b.setPart(EBX, 32, WINDOW + rng.int(16));
      const off = -rng.range(1, 200);
      b.setPart(ECX, 32, off);
      const op = rng.int(4);
      b.emit([0x0f, 0xa3 | (op << 3), 0x0b], `${["bt", "bts", "btr", "btc"][op]} [ebx], ecx(=${off})`);
      b.undef(OF | SF | AF | PF);
    } else if (sk === 1) {
      const addr = edgeAddr(rng, 8);
      b.setPart(ESI, 32, addr);
      b.emit([0x0f, 0xc7, 0x0e], `cmpxchg8b [esi=${hx(addr)}]`);
    } else {
      const addr = edgeAddr(rng, bytes);
      b.setPart(ESI, 32, addr);
      b.setPart(EDX, 32, 0);
      b.undef(ARITH);
      b.emit([...osz(bits), 0xf6 | w, 0x36], `div ${SIZE_NAME[bits]} [esi=${hx(addr)}]`);
    }
  } else {
    b.errMask = ~0x10; // the I/D bit of a fetch fault exists only with NX paging (SDM Vol. 3A, 4.7)
    const sk = rng.int(5);
    if (sk === 0) {
      // a jump to an unmapped address: the fetch faults
      const target = rng.pick([0x1000, PAGE_END, 0x38c000]) + rng.int(0x100);
      b.setPart(EAX, 32, target);
      b.emit([0xff, 0xe0], `jmp eax (=${hx(target)})`);
    } else if (sk === 1) {
      // 16-bit operand size truncates EIP to 16 bits (SDM Vol. 2A, JMP/Jcc): the target is unmapped
      const rel = rng.int(0x10000);
      if (rng.chance(0.5)) b.emit([0x66, 0xe9, rel & 0xff, rel >> 8], `jmp word rel16 ${hx(rel)}`);
      else b.emit([0x66, 0x0f, 0x80 | rng.int(16), rel & 0xff, rel >> 8], `jcc word rel16 ${hx(rel)}`);
    } else if (sk === 2) {
      b.emit([0x66, 0xe8, 0x10, 0x00], "call word rel16 (pushes IP, jumps low)");
    } else if (sk === 3) {
      // CMOVcc reads its source whatever the condition; SETcc writes its byte
      const addr = edgeAddr(rng, 4);
      b.setPart(ESI, 32, addr);
      if (rng.chance(0.5)) b.emit([0x0f, 0x40 | rng.int(16), 0x06], `cmovcc eax, [esi=${hx(addr)}]`);
      else b.emit([0x0f, 0x90 | rng.int(16), 0x06], `setcc [esi=${hx(addr)}]`);
    } else {
      // 16-bit addressing string instructions: ES:DI / DS:SI are below 64 KiB, unmapped
      const op = rng.pick([0xa4, 0xa5, 0xaa, 0xab, 0xac, 0xad, 0xae]);
      b.setPart(ECX, 32, (rng.u32() & 0xffff0000) | rng.range(0, 3));
      b.emit([0x67, ...(rng.chance(0.5) ? [0xf3] : []), op], `a16 string ${hx(op)} (low addresses)`);
    }
  }
}

/**
 * Sequences of two to four register-only instructions from the groups above: the lazy flags of
 * one operation meet the next one (INC/DEC keeping CF, ADC after SHL, SETcc after MUL...).
 * An instruction that reads flags is not chosen once some flag is undefined, and a sequence stops
 * at an instruction whose result is undefined.
 */
function gSeq(b: CB): void {
  const rng = b.rng;
  b.inSeq = true;
  const gens = [
    gAlu,
    gAlu,
    gUnary,
    gMul,
    gDiv,
    gShift,
    gShift,
    gShd,
    gBt,
    gBsf,
    gCond,
    gCvt,
    gBcd,
    gLea,
    gBswap,
  ];
  const n = rng.range(2, 4);
  for (let k = 0; k < n; k++) {
    let g = rng.pick(gens);
    if (g === gCond && b.pendingUndef()) g = gUnary;
    g(b);
    if (b.regMask.some((m) => m !== -1)) break;
  }
}

/** ROL, ROR, RCL, RCR: CF and OF change, every other flag is kept (SDM Vol. 2B, RCL/RCR/ROL/ROR). */
const ROTATES = [0, 1, 2, 3];

/** CLC, STC or CMC (CMC reads CF: not once CF is undefined). */
function gFlagOp(b: CB): void {
  const ops: [number, string][] = [
    [0xf8, "clc"],
    [0xf9, "stc"],
  ];
  if ((b.flagMask & CF) !== 0) ops.push([0xf5, "cmc"]);
  const [o, t] = b.rng.pick(ops);
  b.emit([o], t);
}

/**
 * SETcc, CMOVcc, LAHF or ADC/SBB between registers: reads the flags as a chain left them. Never
 * writes ESP, nor ECX (CL, CH) when `keepEcx` (a loop's counter).
 */
function gFlagReader(b: CB, keepEcx = false): void {
  const rng = b.rng;
  const k = rng.int(4);
  const cc = rng.int(16);
  if (k === 0) {
    const n = noEsp(rng.int(8), 8, keepEcx);
    b.emit([0x0f, 0x90 | cc, 0xc0 | n], `set${CC[cc]} ${regName(n, 8)}`);
  } else if (k === 1) {
    const d = noEsp(rng.int(8), 32, keepEcx);
    const src = rng.int(8);
    b.emit([0x0f, 0x40 | cc, 0xc0 | (d << 3) | src], `cmov${CC[cc]} ${regName(d, 32)}, ${regName(src, 32)}`);
  } else if (k === 2) b.emit([0x9f], "lahf");
  else {
    const sbb = rng.chance(0.5);
    const a = noEsp(rng.int(8), 32, keepEcx);
    const src = rng.int(8);
    b.emit(
      [sbb ? 0x19 : 0x11, 0xc0 | (src << 3) | a],
      `${sbb ? "sbb" : "adc"} ${regName(a, 32)}, ${regName(src, 32)}`,
    );
  }
}

/**
 * Flag chains: an instruction that defines every arithmetic flag, then two to five that change
 * some flags and keep the rest (rotates, BT*, INC/DEC, CLC/STC/CMC, SHLD/SHRD) mixed with more
 * producers and shifts, and a reader at the end while every flag is defined. Compiled code keeps
 * the flags deferred across such chains, where a kept flag can get lost (a second rotate after a
 * SUB once dropped its AF). Register operands only, as in "seq".
 */
function gFlagChain(b: CB): void {
  const rng = b.rng;
  b.inSeq = true;
  producer(b, true);
  const n = rng.range(2, 5);
  for (let k = 0; k < n; k++) {
    const x = rng.int(10);
    if (x < 3) gShift(b, ROTATES);
    else if (x < 4) gBt(b);
    else if (x < 5) gUnary(b);
    else if (x < 6) gFlagOp(b);
    else if (x < 7) gShd(b);
    else if (x < 8) producer(b, true);
    else if (x < 9) gShift(b);
    else if (!b.pendingUndef()) gFlagReader(b);
    else gFlagOp(b);
    if (b.regMask.some((m) => m !== -1)) return;
  }
  if (!b.pendingUndef()) gFlagReader(b);
}

/**
 * Short loops whose body carries the flags from one iteration into the next: ECX = 2..12; an
 * optional producer; L: one to four of ADD/ADC/SUB/SBB/CMP/INC/DEC/NEG between registers, ROL/ROR/
 * RCL/RCR by 1, CLC/STC/CMC, SETcc, CMOVcc, LAHF, ADC/SBB (every flag they leave is defined,
 * whatever the values, so any of them may read what the previous iteration left); DEC ECX; JNZ L
 * (or LOOP L: the flags of the body's end reach the next iteration's start); a reader after the
 * loop. Compiled code keeps such a loop in a wasm loop with its flags in locals across the back
 * edge. ECX and ESP are never written by the body.
 */
function gFlagLoop(b: CB): void {
  const rng = b.rng;
  b.inSeq = true;
  b.setPart(ECX, 32, rng.range(2, 12));
  if (rng.chance(0.7)) producer(b, true, true);
  const start = b.code.length;
  const n = rng.range(1, 4);
  for (let k = 0; k < n; k++) gLoopOp(b);
  if (rng.chance(0.5)) {
    b.emit([0x49], "dec ecx");
    b.emit([0x75, (start - (b.code.length + 2)) & 0xff], "jnz L");
  } else b.emit([0xe2, (start - (b.code.length + 2)) & 0xff], "loop L");
  gFlagReader(b);
}

/** A loop body's instruction for gFlagLoop/gTwoHeads: never writes ECX (the counter) nor ESP. */
function gLoopOp(b: CB): void {
  const rng = b.rng;
  const x = rng.int(8);
  if (x < 3) producer(b, true, true);
  else if (x < 5) {
    const op = rng.int(4);
    const r = rng.pick([EAX, EDX, EBX, EBP, ESI, EDI]);
    b.emit([0xd1, 0xc0 | (op << 3) | r], `${SHIFT_NAMES[op]} ${regName(r, 32)}, 1`);
  } else if (x < 6) gFlagOp(b);
  else gFlagReader(b, true);
}

/**
 * Loops with two heads, entered by a JMP to the second: `jmp S; H0: ...; dec ecx; je out; ...;
 * S: ...; <producer>; jcc H0; ...; dec ecx; jnz S; out:` — each iteration takes one of two paths
 * back, to S or through H0 (which runs on into S). The shape of the XZ decompressor's bit-tree
 * loops, which compiled code keeps in one block (side traces that run on into the block's start,
 * a JMP to a loop's head ending its block). Register operands only, as in "seq".
 */
function gTwoHeads(b: CB): void {
  const rng = b.rng;
  b.inSeq = true;
  b.setPart(ECX, 32, rng.range(2, 12));
  if (rng.chance(0.5)) producer(b, true, true);
  const jmpAt = b.code.length;
  b.emit([0xeb, 0], "jmp S");
  const h0 = b.code.length;
  for (let k = rng.int(4); k > 0; k--) gLoopOp(b);
  b.emit([0x49], "dec ecx");
  const jeAt = b.code.length;
  b.emit([0x74, 0], "je out");
  for (let k = rng.int(3); k > 0; k--) gLoopOp(b);
  const s = b.code.length;
  b.code[jmpAt + 1] = s - (jmpAt + 2);
  for (let k = rng.range(1, 6); k > 0; k--) gLoopOp(b);
  producer(b, true, true);
  const cc = rng.int(16);
  b.emit([0x70 | cc, (h0 - (b.code.length + 2)) & 0xff], `j${CC[cc]} H0`);
  for (let k = rng.int(4); k > 0; k--) gLoopOp(b);
  b.emit([0x49], "dec ecx");
  b.emit([0x75, (s - (b.code.length + 2)) & 0xff], "jnz S");
  b.code[jeAt + 1] = b.code.length - (jeAt + 2);
  gFlagReader(b);
}

export const GROUPS: Record<string, { weight: number; gen: (b: CB) => void }> = {
  alu: { weight: 12, gen: gAlu },
  unary: { weight: 5, gen: gUnary },
  mul: { weight: 5, gen: gMul },
  div: { weight: 6, gen: gDiv },
  shift: { weight: 10, gen: gShift },
  shd: { weight: 5, gen: gShd },
  bt: { weight: 5, gen: gBt },
  bsf: { weight: 3, gen: gBsf },
  cond: { weight: 6, gen: gCond },
  bswap: { weight: 1, gen: gBswap },
  xchg: { weight: 5, gen: gXchg },
  mov: { weight: 5, gen: gMov },
  lea: { weight: 4, gen: gLea },
  cvt: { weight: 1, gen: gCvt },
  string: { weight: 8, gen: gString },
  bcd: { weight: 4, gen: gBcd },
  flags: { weight: 3, gen: gFlags },
  stack: { weight: 5, gen: gStack },
  misc: { weight: 3, gen: gMisc },
  addr16: { weight: 3, gen: gAddr16 },
  pf: { weight: 4, gen: gPf },
  seq: { weight: 8, gen: gSeq },
  flagchain: { weight: 6, gen: gFlagChain },
  flagloop: { weight: 4, gen: gFlagLoop },
  twoheads: { weight: 3, gen: gTwoHeads },
};

/** Generate `n` cases from `seed`, from all groups by weight or only those listed. */
export function generate(seed: number, n: number, groups?: readonly string[]): Case[] {
  const rng = new Rng(seed);
  const names = groups?.length ? [...groups] : Object.keys(GROUPS);
  for (const g of names)
    if (!GROUPS[g]) throw new Error(`unknown group ${g} (have: ${Object.keys(GROUPS).join(", ")})`);
  const total = names.reduce((s, g) => s + GROUPS[g].weight, 0);
  const out: Case[] = [];
  for (let k = 0; k < n; k++) {
    let x = rng.int(total);
    let g = names[0];
    for (const name of names) {
      x -= GROUPS[name].weight;
      if (x < 0) {
        g = name;
        break;
      }
    }
    const b = new CB(rng, g);
    GROUPS[g].gen(b);
    out.push(b.build());
  }
  return out;
}

export { WINDOW_SIZE };
