/**
 * x86 disassembler for 16- and 32-bit code: the i686 integer set, x87, the system and
 * integer 0F opcodes (VMX/SVM, fences, xsave, rdrand …), all legacy prefixes. Not covered
 * yet: MMX/SSE (0F 10-17, 28-2F, 38, 3A, 50-7F, C2-C6, D0-FE), 3DNow!, VEX/EVEX/XOP —
 * these print as `(bad)`. Used by the monitor (`x /i`) and by `-d in_asm` logs.
 *
 * Output follows GNU objdump: AT&T syntax by default (`mov    %eax,0x4(%esp)`), Intel
 * syntax on request (`mov    DWORD PTR [esp+0x4],eax`). Prefixes the instruction does not
 * use are printed by name in front of it (`data16`, `addr16`, `es`, `repz`, `lock`), as
 * objdump does. Branch targets are absolute (`call   0x8048123`).
 *
 * Self-contained on purpose: it shares no tables with the CPU's decoder, so a decoder bug
 * cannot hide itself in the disassembly.
 */

export type DisasmSyntax = "att" | "intel";

export interface DisasmResult {
  /** Number of bytes the instruction occupies (at least 1). */
  length: number;
  /** Disassembly without address or bytes, e.g. `mov    %eax,0x4(%esp)`. */
  text: string;
  /** The instruction's bytes. */
  bytes: number[];
}

// ---------------------------------------------------------------------------------------
// Names

const R8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];
const R16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
const R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const SREG = ["es", "cs", "ss", "ds", "fs", "gs", "?", "?"];
const CC = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];
const BASE16 = ["bx", "bx", "bp", "bp", "si", "di", "bp", "bx"];
const INDEX16 = ["si", "di", "si", "di", "", "", "", ""];

/** Intel `PTR` words by size letter. */
const PTR: Record<string, string> = {
  b: "BYTE PTR ",
  w: "WORD PTR ",
  d: "DWORD PTR ",
  f: "FWORD PTR ",
  q: "QWORD PTR ",
  t: "TBYTE PTR ",
  x: "XMMWORD PTR ",
  "": "",
};

function hex(v: number): string {
  return `0x${(v >>> 0).toString(16)}`;
}

function shex(v: number): string {
  return v < 0 ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

// ---------------------------------------------------------------------------------------
// Operands

interface RegOp {
  k: "reg";
  name: string;
  /** Does this register tell the operand size (so AT&T needs no mnemonic suffix)? */
  sizing: boolean;
  /** AT&T: print as `(%dx)` (port in in/out). */
  paren?: boolean;
}
interface ImmOp {
  k: "imm";
  v: number;
}
interface MemOp {
  k: "mem";
  seg: string;
  base: string;
  index: string;
  scale: number;
  disp: number;
  hasDisp: boolean;
  /** No base and no index: printed as a plain number (`ds:0x…` in Intel). */
  abs: boolean;
  /** Print the displacement as signed (AT&T quirk for 16-bit absolute addresses). */
  signedAbs: boolean;
  /** Size letter: b w d q t f x, '' for none. */
  size: string;
  /** Intel: always print the segment (string operands, xlat). */
  showSeg: boolean;
  /** Intel: moffs form prints no PTR. */
  noPtr?: boolean;
}
interface RelOp {
  k: "rel";
  target: number;
}
interface FarOp {
  k: "far";
  sel: number;
  off: number;
}
interface StOp {
  k: "st";
  /** -1: the stack top as `%st`; otherwise `%st(i)`. */
  i: number;
}
interface TextOp {
  k: "text";
  att: string;
  intel: string;
}
type Operand = RegOp | ImmOp | MemOp | RelOp | FarOp | StOp | TextOp;

// ---------------------------------------------------------------------------------------
// Opcode tables

/**
 * Suffix rules for the AT&T mnemonic:
 * a: append b/w/l from the memory operand when no register tells the size;
 * p: append w/l when an operand-size prefix changed the size and no register tells it
 *    (push/pop/call/ret …; applies to Intel as well when there is no memory operand);
 * n: never.
 */
type Sfx = "a" | "p" | "n";

interface Ent {
  /** AT&T mnemonic; `x|y` picks by operand size (16|32), with flag F_ASZ by address size. */
  a: string;
  /** Intel mnemonic (same `|` rule). */
  i: string;
  /** Operand specs in Intel order. */
  o: string[];
  s: Sfx;
  f: number;
}

const F_REP = 1; // f3 prints as `rep` (string ops other than cmps/scas)
const F_JCC = 2; // 2e/3e are branch hints `,pn` / `,pt`
const F_ASZ = 4; // mnemonic variants chosen by address size (jcxz/jecxz)
const F_ASZSFX = 8; // `loopw`: address-size prefix shows as suffix (AT&T)
const F_STR = 16; // string instruction: uses the address size
const F_KEEP = 32; // AT&T keeps Intel operand order
const F_REGOK = 64; // memory-only operand also accepted as register (no (bad))
const F_BND = 128; // f2 prints as `bnd` (MPX branch prefix)
const F_HLE = 256; // lockable with a memory destination: f2/f3 print as xacquire/xrelease
const F_XREL = 512; // mov to memory: f3 prints as xrelease

type Slot = Ent | (Ent | null)[] | null;

function e(a: string, ops = "", s: Sfx = "a", i?: string, f = 0): Ent {
  return { a, i: i ?? a, o: ops === "" ? [] : ops.split(" "), s, f };
}

const ALU = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
const SHIFT = ["rol", "ror", "rcl", "rcr", "shl", "shr", "shl", "sar"];

function buildOne(): Slot[] {
  const t: Slot[] = new Array(256).fill(null);
  for (let k = 0; k < 8; k++) {
    const m = ALU[k] as string;
    const b = k * 8;
    const hle = k === 7 ? 0 : F_HLE;
    t[b] = e(m, "Eb Gb", "a", undefined, hle);
    t[b + 1] = e(m, "Ev Gv", "a", undefined, hle);
    t[b + 2] = e(m, "Gb Eb");
    t[b + 3] = e(m, "Gv Ev");
    t[b + 4] = e(m, "AL Ib");
    t[b + 5] = e(m, "eAX Iv");
  }
  t[0x06] = e("push", "ES", "p");
  t[0x07] = e("pop", "ES", "p");
  t[0x0e] = e("push", "CS", "p");
  t[0x16] = e("push", "SS", "p");
  t[0x17] = e("pop", "SS", "p");
  t[0x1e] = e("push", "DS", "p");
  t[0x1f] = e("pop", "DS", "p");
  t[0x27] = e("daa");
  t[0x2f] = e("das");
  t[0x37] = e("aaa");
  t[0x3f] = e("aas");
  for (let r = 0; r < 8; r++) {
    t[0x40 + r] = e("inc", "Zv");
    t[0x48 + r] = e("dec", "Zv");
    t[0x50 + r] = e("push", "Zv", "p");
    t[0x58 + r] = e("pop", "Zv", "p");
    t[0x91 + r] = e("xchg", "Zv eAX");
    t[0xb0 + r] = e("mov", "Zb Ib");
    t[0xb8 + r] = e("mov", "Zv Iv");
  }
  t[0x60] = e("pusha", "", "p");
  t[0x61] = e("popa", "", "p");
  t[0x62] = e("bound", "Gv Ma", "a", undefined, F_KEEP);
  t[0x63] = e("arpl", "Ew Gw");
  t[0x68] = e("push", "Iv", "p");
  t[0x69] = e("imul", "Gv Ev Iv");
  t[0x6a] = e("push", "Is", "p");
  t[0x6b] = e("imul", "Gv Ev Is");
  t[0x6c] = e("ins", "Yb DX", "a", undefined, F_REP | F_STR);
  t[0x6d] = e("ins", "Yv DX", "a", undefined, F_REP | F_STR);
  t[0x6e] = e("outs", "DX Xb", "a", undefined, F_REP | F_STR);
  t[0x6f] = e("outs", "DX Xv", "a", undefined, F_REP | F_STR);
  for (let c = 0; c < 16; c++) t[0x70 + c] = e(`j${CC[c]}`, "Jb", "n", undefined, F_JCC | F_BND);
  const hle = (m: string) => (m === "cmp" ? 0 : F_HLE);
  t[0x80] = ALU.map((m) => e(m, "Eb Ib", "a", undefined, hle(m)));
  t[0x81] = ALU.map((m) => e(m, "Ev Iv", "a", undefined, hle(m)));
  t[0x82] = ALU.map((m) => e(m, "Eb Ib", "a", undefined, hle(m)));
  t[0x83] = ALU.map((m) => e(m, "Ev Is", "a", undefined, hle(m)));
  t[0x84] = e("test", "Eb Gb");
  t[0x85] = e("test", "Ev Gv");
  t[0x86] = e("xchg", "Eb Gb", "a", undefined, F_HLE);
  t[0x87] = e("xchg", "Ev Gv", "a", undefined, F_HLE);
  t[0x88] = e("mov", "Eb Gb", "a", undefined, F_XREL);
  t[0x89] = e("mov", "Ev Gv", "a", undefined, F_XREL);
  t[0x8a] = e("mov", "Gb Eb");
  t[0x8b] = e("mov", "Gv Ev");
  t[0x8c] = e("mov", "Svw Sw");
  t[0x8d] = e("lea", "Gv M");
  t[0x8e] = e("mov", "Sw Svw");
  t[0x8f] = [e("pop", "Ev", "p"), null, null, null, null, null, null, null];
  // 0x90 handled in code (nop / xchg / pause)
  t[0x98] = e("cbtw|cwtl", "", "n", "cbw|cwde");
  t[0x99] = e("cwtd|cltd", "", "n", "cwd|cdq");
  t[0x9a] = e("lcall", "Ap", "p", "call");
  t[0x9b] = e("fwait");
  t[0x9c] = e("pushf", "", "p");
  t[0x9d] = e("popf", "", "p");
  t[0x9e] = e("sahf");
  t[0x9f] = e("lahf");
  t[0xa0] = e("mov", "AL Ob");
  t[0xa1] = e("mov", "eAX Ov");
  t[0xa2] = e("mov", "Ob AL");
  t[0xa3] = e("mov", "Ov eAX");
  t[0xa4] = e("movs", "Yb Xb", "a", undefined, F_REP | F_STR);
  t[0xa5] = e("movs", "Yv Xv", "a", undefined, F_REP | F_STR);
  t[0xa6] = e("cmps", "Xb Yb", "a", undefined, F_STR);
  t[0xa7] = e("cmps", "Xv Yv", "a", undefined, F_STR);
  t[0xa8] = e("test", "AL Ib");
  t[0xa9] = e("test", "eAX Iv");
  t[0xaa] = e("stos", "Yb AL", "a", undefined, F_REP | F_STR);
  t[0xab] = e("stos", "Yv eAX", "a", undefined, F_REP | F_STR);
  t[0xac] = e("lods", "AL Xb", "a", undefined, F_REP | F_STR);
  t[0xad] = e("lods", "eAX Xv", "a", undefined, F_REP | F_STR);
  t[0xae] = e("scas", "AL Yb", "a", undefined, F_STR);
  t[0xaf] = e("scas", "eAX Yv", "a", undefined, F_STR);
  t[0xc0] = SHIFT.map((m) => e(m, "Eb Ib"));
  t[0xc1] = SHIFT.map((m) => e(m, "Ev Ib"));
  t[0xc2] = e("ret", "Iw", "p", undefined, F_BND);
  t[0xc3] = e("ret", "", "p", undefined, F_BND);
  t[0xc4] = e("les", "Gv Mp");
  t[0xc5] = e("lds", "Gv Mp");
  t[0xc6] = [e("mov", "Eb Ib", "a", undefined, F_XREL), null, null, null, null, null, null, null];
  t[0xc7] = [e("mov", "Ev Iv", "a", undefined, F_XREL), null, null, null, null, null, null, null];
  t[0xc8] = e("enter", "Iw Ib", "p", undefined, F_KEEP);
  t[0xc9] = e("leave", "", "p");
  t[0xca] = e("lret", "Iw", "p", "retf");
  t[0xcb] = e("lret", "", "p", "retf");
  t[0xcc] = e("int3");
  t[0xcd] = e("int", "Ib");
  t[0xce] = e("into");
  t[0xcf] = e("iret", "", "p");
  t[0xd0] = SHIFT.map((m) => e(m, "Eb I1"));
  t[0xd1] = SHIFT.map((m) => e(m, "Ev I1"));
  t[0xd2] = SHIFT.map((m) => e(m, "Eb CL"));
  t[0xd3] = SHIFT.map((m) => e(m, "Ev CL"));
  t[0xd4] = e("aam", "Ib");
  t[0xd5] = e("aad", "Ib");
  t[0xd7] = e("xlat", "Bx", "n", undefined, F_STR);
  t[0xe0] = e("loopne", "Jb", "n", undefined, F_ASZSFX | F_JCC);
  t[0xe1] = e("loope", "Jb", "n", undefined, F_ASZSFX | F_JCC);
  t[0xe2] = e("loop", "Jb", "n", undefined, F_ASZSFX | F_JCC);
  t[0xe3] = e("jcxz|jecxz", "Jb", "n", undefined, F_ASZ | F_JCC);
  t[0xe4] = e("in", "AL Ib");
  t[0xe5] = e("in", "eAX Ib");
  t[0xe6] = e("out", "Ib AL");
  t[0xe7] = e("out", "Ib eAX");
  t[0xe8] = e("call", "Jv", "p", undefined, F_BND);
  t[0xe9] = e("jmp", "Jv", "p", undefined, F_BND);
  t[0xea] = e("ljmp", "Ap", "p", "jmp");
  t[0xeb] = e("jmp", "Jb", "a", undefined, F_BND);
  t[0xec] = e("in", "AL DX");
  t[0xed] = e("in", "eAX DX");
  t[0xee] = e("out", "DX AL");
  t[0xef] = e("out", "DX eAX");
  t[0xf1] = e("int1");
  t[0xf4] = e("hlt");
  t[0xf5] = e("cmc");
  t[0xf6] = [
    e("test", "Eb Ib"),
    e("test", "Eb Ib"),
    e("not", "Eb", "a", undefined, F_HLE),
    e("neg", "Eb", "a", undefined, F_HLE),
    e("mul", "Eb"),
    e("imul", "Eb"),
    e("div", "Eb"),
    e("idiv", "Eb"),
  ];
  t[0xf7] = [
    e("test", "Ev Iv"),
    e("test", "Ev Iv"),
    e("not", "Ev", "a", undefined, F_HLE),
    e("neg", "Ev", "a", undefined, F_HLE),
    e("mul", "Ev"),
    e("imul", "Ev"),
    e("div", "Ev"),
    e("idiv", "Ev"),
  ];
  t[0xf8] = e("clc");
  t[0xf9] = e("stc");
  t[0xfa] = e("cli");
  t[0xfb] = e("sti");
  t[0xfc] = e("cld");
  t[0xfd] = e("std");
  t[0xfe] = [
    e("inc", "Eb", "a", undefined, F_HLE),
    e("dec", "Eb", "a", undefined, F_HLE),
    null,
    null,
    null,
    null,
    null,
    null,
  ];
  t[0xff] = [
    e("inc", "Ev", "a", undefined, F_HLE),
    e("dec", "Ev", "a", undefined, F_HLE),
    e("call", "*Ev", "p", undefined, F_BND),
    e("lcall", "*Mp", "p", "call"),
    e("jmp", "*Ev", "p", undefined, F_BND),
    e("ljmp", "*Mp", "p", "jmp"),
    e("push", "Ev", "p"),
    null,
  ];
  return t;
}

function buildTwo(): Slot[] {
  const t: Slot[] = new Array(256).fill(null);
  t[0x02] = e("lar", "Gv Svw");
  t[0x03] = e("lsl", "Gv Svw");
  t[0x05] = e("syscall");
  t[0x06] = e("clts");
  t[0x07] = e("sysret");
  t[0x08] = e("invd");
  t[0x09] = e("wbinvd");
  t[0x0b] = e("ud2");
  t[0x0e] = e("femms");
  for (let k = 0x19; k <= 0x1f; k++) t[k] = e("nop", "Ev");
  t[0x20] = e("mov", "Rd Cd", "n", undefined, F_REGOK);
  t[0x21] = e("mov", "Rd Dd", "n", undefined, F_REGOK);
  t[0x22] = e("mov", "Cd Rd", "n", undefined, F_REGOK);
  t[0x23] = e("mov", "Dd Rd", "n", undefined, F_REGOK);
  t[0x24] = e("mov", "Rd Td", "n", undefined, F_REGOK);
  t[0x26] = e("mov", "Td Rd", "n", undefined, F_REGOK);
  t[0x30] = e("wrmsr");
  t[0x31] = e("rdtsc");
  t[0x32] = e("rdmsr");
  t[0x33] = e("rdpmc");
  t[0x34] = e("sysenter");
  t[0x35] = e("sysexit");
  t[0x37] = e("getsec");
  for (let c = 0; c < 16; c++) {
    t[0x40 + c] = e(`cmov${CC[c]}`, "Gv Ev");
    t[0x80 + c] = e(`j${CC[c]}`, "Jv", "n", undefined, F_JCC | F_BND);
    t[0x90 + c] = e(`set${CC[c]}`, "Eb", "n");
  }
  t[0x78] = e("vmread", "Ed Gd", "n");
  t[0x79] = e("vmwrite", "Gd Ed", "n");
  t[0xa0] = e("push", "FS", "p");
  t[0xa1] = e("pop", "FS", "p");
  t[0xa2] = e("cpuid");
  t[0xa3] = e("bt", "Ev Gv");
  t[0xa4] = e("shld", "Ev Gv Ib");
  t[0xa5] = e("shld", "Ev Gv CL");
  t[0xa8] = e("push", "GS", "p");
  t[0xa9] = e("pop", "GS", "p");
  t[0xaa] = e("rsm");
  t[0xab] = e("bts", "Ev Gv", "a", undefined, F_HLE);
  t[0xac] = e("shrd", "Ev Gv Ib");
  t[0xad] = e("shrd", "Ev Gv CL");
  t[0xaf] = e("imul", "Gv Ev");
  t[0xb0] = e("cmpxchg", "Eb Gb", "a", undefined, F_HLE);
  t[0xb1] = e("cmpxchg", "Ev Gv", "a", undefined, F_HLE);
  t[0xb2] = e("lss", "Gv Mp");
  t[0xb3] = e("btr", "Ev Gv", "a", undefined, F_HLE);
  t[0xb4] = e("lfs", "Gv Mp");
  t[0xb5] = e("lgs", "Gv Mp");
  t[0xb6] = e("movzb|", "Gv Eb", "n", "movzx");
  t[0xb7] = e("movzw|", "Gv Ew", "n", "movzx");
  t[0xb9] = e("ud1", "Gv Ev");
  t[0xba] = [
    null,
    null,
    null,
    null,
    e("bt", "Ev Ib"),
    e("bts", "Ev Ib", "a", undefined, F_HLE),
    e("btr", "Ev Ib", "a", undefined, F_HLE),
    e("btc", "Ev Ib", "a", undefined, F_HLE),
  ];
  t[0xbb] = e("btc", "Ev Gv", "a", undefined, F_HLE);
  t[0xbc] = e("bsf", "Gv Ev");
  t[0xbd] = e("bsr", "Gv Ev");
  t[0xbe] = e("movsb|", "Gv Eb", "n", "movsx");
  t[0xbf] = e("movsw|", "Gv Ew", "n", "movsx");
  t[0xc0] = e("xadd", "Eb Gb", "a", undefined, F_HLE);
  t[0xc1] = e("xadd", "Ev Gv", "a", undefined, F_HLE);
  for (let r = 0; r < 8; r++) t[0xc8 + r] = e("bswap", "Zv");
  t[0xff] = e("ud0", "Gv Ev");
  return t;
}

const ONE = buildOne();
const TWO = buildTwo();

// x87: memory forms by (opcode - 0xd8) * 8 + reg: [att, intel, size]
const FPU_MEM: [string, string, string][] = [];
{
  const arith = ["add", "mul", "com", "comp", "sub", "subr", "div", "divr"];
  const rows: [string, string, string][][] = [
    arith.map((m) => [`f${m}s`, `f${m}`, "d"]),
    [
      ["flds", "fld", "d"],
      ["", "", ""],
      ["fsts", "fst", "d"],
      ["fstps", "fstp", "d"],
      ["fldenv", "fldenv", ""],
      ["fldcw", "fldcw", "w"],
      ["fnstenv", "fnstenv", ""],
      ["fnstcw", "fnstcw", "w"],
    ],
    arith.map((m) => [`fi${m}l`, `fi${m}`, "d"]),
    [
      ["fildl", "fild", "d"],
      ["fisttpl", "fisttp", "d"],
      ["fistl", "fist", "d"],
      ["fistpl", "fistp", "d"],
      ["", "", ""],
      ["fldt", "fld", "t"],
      ["", "", ""],
      ["fstpt", "fstp", "t"],
    ],
    arith.map((m) => [`f${m}l`, `f${m}`, "q"]),
    [
      ["fldl", "fld", "q"],
      ["fisttpll", "fisttp", "q"],
      ["fstl", "fst", "q"],
      ["fstpl", "fstp", "q"],
      ["frstor", "frstor", ""],
      ["", "", ""],
      ["fnsave", "fnsave", ""],
      ["fnstsw", "fnstsw", "w"],
    ],
    arith.map((m) => [`fi${m}s`, `fi${m}`, "w"]),
    [
      ["filds", "fild", "w"],
      ["fisttps", "fisttp", "w"],
      ["fists", "fist", "w"],
      ["fistps", "fistp", "w"],
      ["fbld", "fbld", "t"],
      ["fildll", "fild", "q"],
      ["fbstp", "fbstp", "t"],
      ["fistpll", "fistp", "q"],
    ],
  ];
  for (const row of rows) for (const x of row) FPU_MEM.push(x);
}

/** x87 register forms without operands, keyed by the two bytes. */
const FPU_NOARG: Record<number, string> = {
  55760: "fnop",
  55776: "fchs",
  55777: "fabs",
  55780: "ftst",
  55781: "fxam",
  55784: "fld1",
  55785: "fldl2t",
  55786: "fldl2e",
  55787: "fldpi",
  55788: "fldlg2",
  55789: "fldln2",
  55790: "fldz",
  55792: "f2xm1",
  55793: "fyl2x",
  55794: "fptan",
  55795: "fpatan",
  55796: "fxtract",
  55797: "fprem1",
  55798: "fdecstp",
  55799: "fincstp",
  55800: "fprem",
  55801: "fyl2xp1",
  55802: "fsqrt",
  55803: "fsincos",
  55804: "frndint",
  55805: "fscale",
  55806: "fsin",
  55807: "fcos",
  56041: "fucompp",
  56288: "fneni(8087 only)",
  56289: "fndisi(8087 only)",
  56290: "fnclex",
  56291: "fninit",
  56292: "fnsetpm(287 only)",
  56293: "frstpm(287 only)",
  57049: "fcompp",
};

/**
 * x87 register forms with st(i), by (opcode - 0xd8) * 8 + reg:
 * [att, intel, form] with form 0: `%st(i),%st` (Intel `st,st(i)`), 1: `%st,%st(i)`
 * (Intel `st(i),st`), 2: `%st(i)` alone.
 */
const FPU_REG: Record<number, [string, string, number]> = {
  0: ["fadd", "fadd", 0],
  1: ["fmul", "fmul", 0],
  2: ["fcom", "fcom", 2],
  3: ["fcomp", "fcomp", 2],
  4: ["fsub", "fsub", 0],
  5: ["fsubr", "fsubr", 0],
  6: ["fdiv", "fdiv", 0],
  7: ["fdivr", "fdivr", 0],
  8: ["fld", "fld", 2],
  9: ["fxch", "fxch", 2],
  16: ["fcmovb", "fcmovb", 0],
  17: ["fcmove", "fcmove", 0],
  18: ["fcmovbe", "fcmovbe", 0],
  19: ["fcmovu", "fcmovu", 0],
  24: ["fcmovnb", "fcmovnb", 0],
  25: ["fcmovne", "fcmovne", 0],
  26: ["fcmovnbe", "fcmovnbe", 0],
  27: ["fcmovnu", "fcmovnu", 0],
  29: ["fucomi", "fucomi", 0],
  30: ["fcomi", "fcomi", 0],
  32: ["fadd", "fadd", 1],
  33: ["fmul", "fmul", 1],
  // AT&T (as objdump prints it) swaps sub/subr and div/divr for the DC/DE forms.
  36: ["fsub", "fsubr", 1],
  37: ["fsubr", "fsub", 1],
  38: ["fdiv", "fdivr", 1],
  39: ["fdivr", "fdiv", 1],
  40: ["ffree", "ffree", 2],
  42: ["fst", "fst", 2],
  43: ["fstp", "fstp", 2],
  44: ["fucom", "fucom", 2],
  45: ["fucomp", "fucomp", 2],
  48: ["faddp", "faddp", 1],
  49: ["fmulp", "fmulp", 1],
  52: ["fsubp", "fsubrp", 1],
  53: ["fsubrp", "fsubp", 1],
  54: ["fdivp", "fdivrp", 1],
  55: ["fdivrp", "fdivp", 1],
  56: ["ffreep", "ffreep", 2],
  61: ["fucomip", "fucomip", 0],
  62: ["fcomip", "fcomip", 0],
};

// ---------------------------------------------------------------------------------------
// Decoder

class Bad extends Error {}
class Unreadable extends Error {}

const PREFIX_NAMES16: Record<number, string> = { 102: "data32", 103: "addr32" };
const PREFIX_NAMES32: Record<number, string> = { 102: "data16", 103: "addr16" };
const SEG_PREFIX: Record<number, number> = { 38: 0, 46: 1, 54: 2, 62: 3, 100: 4, 101: 5 };

class Disasm {
  pos = 0;
  bytes: number[] = [];
  osz: 16 | 32;
  asz: 16 | 32;
  /** Prefix bytes in order of appearance. */
  prefixes: number[] = [];
  /** Index in `prefixes` of the active one of each class; -1 when absent. */
  segIdx = -1;
  osIdx = -1;
  asIdx = -1;
  repIdx = -1;
  segUsed = false;
  osUsed = false;
  asUsed = false;
  repUsed = false;
  modrm = -1;
  /** Position after the opcode bytes (for `(bad)` lengths). */
  opEnd = 0;
  hasMem = false;
  isXchg = false;
  lockUsed = false;
  /** A prefix that selected the (invalid) opcode stays consumed in `(bad)`. */
  keepUsed = false;
  /** An fwait (9b) precedes an x87 instruction: objdump folds it in (fnstsw → fstsw). */
  fwait = false;
  hasSizingReg = false;
  memSize = "";
  readonly att: boolean;

  constructor(
    private readonly fetch: (offset: number) => number,
    private readonly addr: number,
    private readonly code32: boolean,
    syntax: DisasmSyntax,
  ) {
    this.osz = code32 ? 32 : 16;
    this.asz = code32 ? 32 : 16;
    this.att = syntax === "att";
  }

  u8(): number {
    let b: number;
    try {
      b = this.fetch(this.pos);
    } catch {
      throw new Unreadable();
    }
    if (typeof b !== "number" || !Number.isFinite(b)) throw new Unreadable();
    b &= 0xff;
    this.bytes.push(b);
    this.pos++;
    return b;
  }
  s8(): number {
    return (this.u8() << 24) >> 24;
  }
  u16(): number {
    const lo = this.u8();
    return lo | (this.u8() << 8);
  }
  s16(): number {
    return (this.u16() << 16) >> 16;
  }
  u32(): number {
    const a = this.u16();
    return (a | (this.u16() << 16)) >>> 0;
  }
  s32(): number {
    return this.u32() | 0;
  }
  getModrm(): number {
    if (this.modrm < 0) this.modrm = this.u8();
    return this.modrm;
  }
  get mod(): number {
    return this.getModrm() >> 6;
  }
  get reg(): number {
    return (this.getModrm() >> 3) & 7;
  }
  get rm(): number {
    return this.getModrm() & 7;
  }

  segName(): string {
    if (this.segIdx < 0) return "";
    this.segUsed = true;
    return SREG[SEG_PREFIX[this.prefixes[this.segIdx] as number] as number] as string;
  }

  gpr(n: number, size: string): string {
    if (size === "b") return R8[n] as string;
    if (size === "w") return R16[n] as string;
    return R32[n] as string;
  }

  /** Resolves an operand size letter: v → w/d by operand size (marks 66 used). */
  vsize(sz: string): string {
    if (sz === "v") {
      this.osUsed = true;
      return this.osz === 16 ? "w" : "d";
    }
    return sz;
  }

  regOp(name: string, sizing = true): RegOp {
    if (sizing) this.hasSizingReg = true;
    return { k: "reg", name, sizing };
  }

  /** The ModRM memory operand (mod != 3). */
  memOp(size: string): MemOp {
    const mod = this.mod;
    const rm = this.rm;
    // objdump counts an address-size prefix as used only when a register is involved
    this.asUsed ||= !(mod === 0 && rm === 5 && this.asz === 32);
    const m: MemOp = {
      k: "mem",
      seg: this.segName(),
      base: "",
      index: "",
      scale: 0,
      disp: 0,
      hasDisp: false,
      abs: false,
      signedAbs: false,
      size,
      showSeg: false,
    };
    if (this.asz === 32) {
      if (rm === 4) {
        const sib = this.u8();
        const scale = sib >> 6;
        const index = (sib >> 3) & 7;
        const base = sib & 7;
        if (base === 5 && mod === 0) {
          m.disp = this.s32();
          m.hasDisp = true;
        } else {
          m.base = R32[base] as string;
        }
        if (index !== 4) m.index = R32[index] as string;
        else if (scale !== 0 || base !== 4) m.index = "eiz";
        m.scale = 1 << scale;
      } else if (rm === 5 && mod === 0) {
        m.disp = this.u32();
        m.hasDisp = true;
        m.abs = true;
      } else {
        m.base = R32[rm] as string;
      }
      if (mod === 1) {
        m.disp = this.s8();
        m.hasDisp = true;
      } else if (mod === 2) {
        m.disp = this.s32();
        m.hasDisp = true;
      }
    } else {
      if (rm === 6 && mod === 0) {
        m.disp = this.s16();
        m.hasDisp = true;
        m.abs = true;
        m.signedAbs = true;
      } else {
        m.base = BASE16[rm] as string;
        m.index = INDEX16[rm] as string;
      }
      if (mod === 1) {
        m.disp = this.s8();
        m.hasDisp = true;
      } else if (mod === 2) {
        m.disp = this.s16();
        m.hasDisp = true;
      }
    }
    this.hasMem = true;
    if (!this.memSize) this.memSize = size;
    return m;
  }

  /** String operand: X = seg:(e)si (override allowed), Y = es:(e)di, B = seg:(e)bx (xlat). */
  strOp(kind: string, size: string): MemOp {
    this.asUsed = true;
    let seg = "es";
    if (kind !== "Y") seg = this.segName() || "ds";
    const base = kind === "X" ? "si" : kind === "Y" ? "di" : "bx";
    this.hasMem = true;
    if (!this.memSize) this.memSize = size;
    return {
      k: "mem",
      seg,
      base: this.asz === 32 ? `e${base}` : base,
      index: "",
      scale: 0,
      disp: 0,
      hasDisp: false,
      abs: false,
      signedAbs: false,
      size,
      showSeg: true,
    };
  }

  imm(size: string): number {
    if (size === "b") return this.u8();
    if (size === "w") return this.u16();
    return this.u32();
  }

  /** Decodes one operand spec. */
  operand(spec: string): Operand {
    switch (spec) {
      case "Eb":
      case "Ew":
      case "Ed":
      case "Ev": {
        const sz = this.vsize(spec[1] as string);
        if (this.mod === 3) return this.regOp(this.gpr(this.rm, sz));
        return this.memOp(sz);
      }
      case "Svw": {
        // mov Ev,Sw: register form uses the operand size, memory is a word.
        if (this.mod === 3) return this.regOp(this.gpr(this.rm, this.vsize("v")));
        return this.memOp("w");
      }
      case "Gb":
      case "Gw":
      case "Gd":
      case "Gv":
        return this.regOp(this.gpr(this.reg, this.vsize(spec[1] as string)));
      case "M":
      case "Ma":
      case "Mp":
      case "Mq":
      case "Mb":
      case "Mw":
      case "Md":
      case "Mt": {
        if (this.mod === 3) throw new Bad();
        let sz = spec.length > 1 ? (spec[1] as string) : "";
        if (sz === "a") sz = this.vsize("v") === "w" ? "d" : "q";
        else if (sz === "p") sz = this.vsize("v") === "w" ? "d" : "f";
        return this.memOp(sz);
      }
      case "Rd":
        this.getModrm();
        return this.regOp(R32[this.rm] as string);
      case "Cd": {
        // AMD: lock selects cr8-cr15
        const lock = this.prefixes.includes(0xf0);
        if (lock) this.lockUsed = true;
        return this.regOp(`cr${this.reg + (lock ? 8 : 0)}`);
      }
      case "Dd":
        return this.regOp(`${this.att ? "db" : "dr"}${this.reg}`);
      case "Td":
        return this.regOp(`tr${this.reg}`);
      case "Sw":
        return this.regOp(SREG[this.reg] as string);
      case "Ib":
        return { k: "imm", v: this.u8() };
      case "Iw":
        return { k: "imm", v: this.u16() };
      case "Iv": {
        const sz = this.vsize("v");
        return { k: "imm", v: this.imm(sz) };
      }
      case "Is": {
        const sz = this.vsize("v");
        const v = this.s8();
        return { k: "imm", v: sz === "w" ? v & 0xffff : v >>> 0 };
      }
      case "I1":
        return { k: "text", att: "", intel: "1" };
      case "Jb":
        return this.rel(this.s8(), false);
      case "Jv": {
        const sz = this.vsize("v");
        const d = sz === "w" ? this.s16() : this.s32();
        return this.rel(d, sz === "w");
      }
      case "Ap": {
        const sz = this.vsize("v");
        const off = sz === "w" ? this.u16() : this.u32();
        const sel = this.u16();
        return { k: "far", sel, off };
      }
      case "Ob":
      case "Ov": {
        const sz = this.vsize(spec[1] as string);
        const disp = this.asz === 32 ? this.u32() : this.u16();
        this.hasMem = true;
        if (!this.memSize) this.memSize = sz;
        return {
          k: "mem",
          seg: this.segName(),
          base: "",
          index: "",
          scale: 0,
          disp,
          hasDisp: true,
          abs: true,
          signedAbs: false,
          size: sz,
          showSeg: false,
          noPtr: true,
        };
      }
      case "AL":
        return this.regOp("al");
      case "CL":
        return this.regOp("cl", false);
      case "DX":
        return { k: "reg", name: "dx", sizing: false, paren: true };
      case "eAX":
        return this.regOp(this.gpr(0, this.vsize("v")));
      case "Zb":
        return this.regOp(R8[this.bytes[this.opEnd - 1]! & 7] as string);
      case "Zv":
        return this.regOp(this.gpr(this.bytes[this.opEnd - 1]! & 7, this.vsize("v")));
      case "ES":
      case "CS":
      case "SS":
      case "DS":
      case "FS":
      case "GS":
        return this.regOp(spec.toLowerCase(), false);
      case "Xb":
      case "Yb":
        return this.strOp(spec[0] as string, "b");
      case "Xv":
      case "Yv":
        return this.strOp(spec[0] as string, this.vsize("v"));
      case "Bx":
        return this.strOp("B", "b");
    }
    throw new Error(`disasm: unknown operand spec ${spec}`);
  }

  rel(d: number, word: boolean): RelOp {
    const next = this.addr + this.pos;
    let target = next + d;
    // A 16-bit displacement wraps within the 64 KiB block of the next instruction in
    // 16-bit code (so cs.base + ip addresses stay right for 64 KiB-aligned bases), and to
    // 16 bits when a data16 prefix shrinks it in 32-bit code (as objdump does).
    if (word) target = this.code32 ? target & 0xffff : (next & ~0xffff) | (target & 0xffff);
    return { k: "rel", target: target >>> 0 };
  }

  // -------------------------------------------------------------------------------------

  run(): string {
    // Prefixes
    for (;;) {
      const b = this.u8();
      const idx = this.prefixes.length;
      if (b in SEG_PREFIX) this.segIdx = idx;
      else if (b === 0x66) this.osIdx = idx;
      else if (b === 0x67) this.asIdx = idx;
      else if (b === 0xf2 || b === 0xf3) this.repIdx = idx;
      else if (b === 0x9b && (this.fwait || this.fwaitAhead())) {
        this.fwait = true;
        continue;
      } else if (b !== 0xf0) {
        this.pos--;
        this.bytes.pop();
        break;
      }
      this.prefixes.push(b);
    }
    if (this.osIdx >= 0) this.osz = this.code32 ? 16 : 32;
    if (this.asIdx >= 0) this.asz = this.code32 ? 16 : 32;

    const op = this.u8();
    if (op === 0x0f) return this.twoByte();
    this.opEnd = this.pos;
    if (op >= 0xd8 && op <= 0xdf) return this.fpu(op);
    if (op === 0x90) {
      if (this.repIdx >= 0 && this.prefixes[this.repIdx] === 0xf3) {
        this.repUsed = true;
        return this.finish("pause", [], "n", 0);
      }
      if (this.osIdx >= 0) return this.entry(e("xchg", "Zv eAX"));
      return this.finish("nop", [], "n", 0);
    }
    const slot = ONE[op];
    return this.slot(slot ?? null, op);
  }

  /** After a 9b at pos-1: is an x87 opcode next (past prefixes and further 9b)? */
  fwaitAhead(): boolean {
    try {
      for (let k = this.pos; k < this.pos + 15; k++) {
        const b = this.fetch(k) & 0xff;
        if (b >= 0xd8 && b <= 0xdf) return true;
        if (
          !(b in SEG_PREFIX) &&
          b !== 0x66 &&
          b !== 0x67 &&
          b !== 0xf0 &&
          b !== 0xf2 &&
          b !== 0xf3 &&
          b !== 0x9b
        ) {
          return false;
        }
      }
    } catch {
      return false;
    }
    return false;
  }

  slot(slot: Slot, op: number): string {
    if (slot === null) throw new Bad();
    if (Array.isArray(slot)) {
      if ((op === 0xc6 || op === 0xc7) && this.getModrm() === 0xf8) {
        if (op === 0xc6) return this.finish("xabort", [{ k: "imm", v: this.u8() }], "n", 0);
        const sz = this.vsize("v");
        const d = sz === "w" ? this.s16() : this.s32();
        return this.finish("xbegin", [this.rel(d, sz === "w")], "n", 0);
      }
      const ent = slot[this.reg];
      if (!ent) throw new Bad();
      return this.entry(ent);
    }
    return this.entry(slot);
  }

  entry(ent: Ent): string {
    const ops: Operand[] = [];
    let star = -1;
    for (const spec0 of ent.o) {
      let spec = spec0;
      if (spec.startsWith("*")) {
        spec = spec.slice(1);
        star = ops.length;
      }
      ops.push(this.operand(spec));
    }
    let mn = this.att ? ent.a : ent.i;
    if (ent.a === "xchg") this.isXchg = true;
    if (mn.includes("|")) {
      const [x, y] = mn.split("|") as [string, string];
      if (ent.f & F_ASZ) {
        this.asUsed = true;
        mn = this.asz === 16 ? x : y;
      } else if (y === "" && this.att) {
        // movzb/movsb: second letter from the operand size
        mn = x + (this.vsize("v") === "w" ? "w" : "l");
      } else {
        this.osUsed = true;
        mn = this.osz === 16 ? x : y;
      }
    }
    if (ent.f & F_ASZSFX && this.asIdx >= 0 && this.att) {
      this.asUsed = true;
      mn += this.asz === 16 ? "w" : "l";
    }
    if (ent.f & F_JCC && this.segIdx >= 0 && this.att) {
      // Branch hints: the last cs/ds prefix; the active segment prefix counts as used.
      let hint = 0;
      for (const p of this.prefixes) if (p === 0x2e || p === 0x3e) hint = p;
      if (hint) {
        this.segUsed = true;
        mn += hint === 0x2e ? ",pn" : ",pt";
      }
    }
    return this.finish(mn, ops, ent.s, ent.f, star);
  }

  twoByte(): string {
    const op = this.u8();
    this.opEnd = this.pos;
    switch (op) {
      case 0x00:
        return this.grp6();
      case 0x01:
        return this.grp7();
      case 0x0d:
      case 0x18:
        return this.prefetch(op);
      case 0x1c:
        if (this.mod !== 3 && this.reg === 0 && this.repIdx < 0) return this.entry(e("cldemote", "Mb", "n"));
        return this.entry(e("nop", "Ev"));
      case 0x1e:
        if (
          this.repIdx >= 0 &&
          this.prefixes[this.repIdx] === 0xf3 &&
          (this.getModrm() === 0xfb || this.modrm === 0xfa)
        ) {
          this.repUsed = true;
          return this.finish(this.modrm === 0xfb ? "endbr32" : "endbr64", [], "n", 0);
        }
        return this.entry(e("nop", "Ev"));
      case 0xae:
        return this.grp15();
      case 0x09: {
        const p = this.simdPrefix();
        if (p === 0xf3) return this.finish("wbnoinvd", [], "n", 0);
        if (p) throw new Bad();
        break;
      }
      case 0xa6:
      case 0xa7:
        if (this.mod === 3) {
          const k = ((op & 1) << 3) | this.reg;
          const n = [
            "montmul",
            "xsha1",
            "xsha256",
            "",
            "",
            "",
            "",
            "",
            "xstore-rng",
            "xcrypt-ecb",
            "xcrypt-cbc",
            "xcrypt-ctr",
            "xcrypt-cfb",
            "xcrypt-ofb",
            "",
            "",
          ][k];
          if (n && (this.modrm & 7) === 0) return this.finish(n, [], "n", 0);
        }
        throw new Bad();
      case 0xb8: {
        const p = this.simdPrefix();
        if (p === 0xf3) return this.entry(e("popcnt", "Gv Ev"));
        throw new Bad();
      }
      case 0xbc:
      case 0xbd:
        if (this.repIdx >= 0 && this.prefixes[this.repIdx] === 0xf3) {
          this.repUsed = true;
          return this.entry(e(op === 0xbc ? "tzcnt" : "lzcnt", "Gv Ev"));
        }
        if (this.repIdx >= 0 && this.prefixes[this.repIdx] === 0xf2) {
          this.repUsed = true;
          this.keepUsed = true;
          throw new Bad();
        }
        break;
      case 0xc7:
        return this.grp9();
    }
    return this.slot(TWO[op] ?? null, 0x0f00 | op);
  }

  grp6(): string {
    const r = this.reg;
    const names = ["sldt", "str", "lldt", "ltr", "verr", "verw"];
    const n = names[r];
    if (!n) throw new Bad();
    if (r < 2) return this.entry(e(n, "Svw", "n"));
    return this.entry(e(n, "Ew", "n"));
  }

  grp7(): string {
    const m = this.getModrm();
    if (this.mod !== 3) {
      const r = this.reg;
      if (r < 4) {
        const n = ["sgdt", "sidt", "lgdt", "lidt"][r] as string;
        const sz = this.vsize("v");
        const ops = [this.operand("M")];
        return this.finish(n + (this.att ? (sz === "w" ? "w" : "l") : sz === "w" ? "w" : "d"), ops, "n", 0);
      }
      if (r === 4) return this.entry(e("smsw", "Ew", "n"));
      if (r === 6) return this.entry(e("lmsw", "Ew", "n"));
      if (r === 7) return this.entry(e("invlpg", "Mb", "n"));
      throw new Bad();
    }
    const r = this.reg;
    if (r === 4) return this.entry(e("smsw", "Svw"));
    if (r === 6) return this.entry(e("lmsw", "Ew"));
    const SIMPLE: Record<number, string> = {
      192: "enclv",
      193: "vmcall",
      194: "vmlaunch",
      195: "vmresume",
      196: "vmxoff",
      197: "pconfig",
      198: "wrmsrns",
      202: "clac",
      203: "stac",
      207: "encls",
      208: "xgetbv",
      209: "xsetbv",
      212: "vmfunc",
      213: "xend",
      214: "xtest",
      215: "enclu",
      216: "vmrun",
      217: "vmmcall",
      218: "vmload",
      219: "vmsave",
      220: "stgi",
      221: "clgi",
      222: "skinit",
      223: "invlpga",
      232: "serialize",
      238: "rdpkru",
      239: "wrpkru",
      248: "swapgs",
      249: "rdtscp",
      252: "clzero",
      253: "rdpru",
      254: "invlpgb",
      255: "tlbsync",
    };
    if (m === 0xfa || m === 0xfb) {
      const regs = m === 0xfa ? ["edx", "ecx", "eax"] : ["ebx", "ecx", "eax"];
      return this.finish(
        m === 0xfa ? "monitorx" : "mwaitx",
        this.att ? regs.map((r) => this.regOp(r)) : [],
        "n",
        0,
      );
    }
    if (m === 0xc8) {
      const a = this.asz === 32 ? "eax" : "ax";
      this.asUsed = true;
      return this.finish(
        "monitor",
        this.att ? [this.regOp("edx"), this.regOp("ecx"), this.regOp(a)] : [],
        "n",
        0,
      );
    }
    if (m === 0xc9)
      return this.finish("mwait", this.att ? [this.regOp("ecx"), this.regOp("eax")] : [], "n", 0);
    const n = SIMPLE[m];
    if (n) return this.finish(n, [], "n", 0);
    this.badRep();
  }

  prefetch(op: number): string {
    const r = this.reg;
    if (op === 0x0d) {
      if (this.mod === 3) throw new Bad();
      const n = [
        "prefetch",
        "prefetchw",
        "prefetchwt1",
        "prefetch",
        "prefetch",
        "prefetch",
        "prefetch",
        "prefetch",
      ][r] as string;
      return this.entry(e(n, "Mb", "n"));
    }
    if (this.mod !== 3 && r < 4) {
      return this.entry(e(["prefetchnta", "prefetcht0", "prefetcht1", "prefetcht2"][r] as string, "Mb", "n"));
    }
    return this.entry(e("nop", "Ev"));
  }

  /**
   * The 66/f3/f2 prefix of an opcode whose meaning depends on it; it is consumed (not
   * printed, even when the combination is invalid), else 0.
   */
  simdPrefix(): number {
    let p = 0;
    if (this.repIdx >= 0) {
      p = this.prefixes[this.repIdx] as number;
      this.repUsed = true;
    } else if (this.osIdx >= 0) {
      p = 0x66;
      this.osUsed = true;
    }
    if (p) this.keepUsed = true;
    return p;
  }

  grp15(): string {
    const r = this.reg;
    const rp = this.repIdx >= 0 ? (this.prefixes[this.repIdx] as number) : this.osIdx >= 0 ? 0x66 : 0;
    const selects = this.mod === 3 || (rp !== 0 && r >= 4);
    const p = selects ? this.simdPrefix() : 0;
    if (this.mod === 3) {
      if (p === 0xf3) {
        const n = ["rdfsbase", "rdgsbase", "wrfsbase", "wrgsbase", "", "incsspd", "umonitor", ""][r];
        if (n) return this.finish(n, [this.regOp(this.gpr(this.rm, r < 4 ? this.vsize("v") : "d"))], "n", 0);
      } else if (p === 0xf2 || p === 0x66) {
        if (r === 6)
          return this.finish(p === 0xf2 ? "umwait" : "tpause", [this.regOp(R32[this.rm] as string)], "n", 0);
      } else {
        const n = r === 5 ? "lfence" : { 240: "mfence", 248: "sfence" }[this.modrm];
        if (n) return this.finish(n, [], "n", 0);
      }
      throw new Bad();
    }
    if (p === 0x66 && r >= 6) return this.entry(e(r === 6 ? "clwb" : "clflushopt", "Mb", "n"));
    if (p === 0xf3 && r === 4) return this.entry(e("ptwrite", "Ed"));
    if (p === 0xf3 && r === 6) return this.entry(e("clrssbsy", "Mq", "n"));
    if (p) throw new Bad();
    const names = ["fxsave", "fxrstor", "ldmxcsr", "stmxcsr", "xsave", "xrstor", "xsaveopt", "clflush"];
    const sizes = ["", "", "d", "d", "", "", "", "b"];
    const sz = sizes[r] as string;
    return this.entry(e(names[r] as string, sz ? `M${sz}` : "M", "n"));
  }

  /** A 66 or f3 prefix used as part of the opcode (marks it used), else 0. */
  mandatory(): number {
    if (this.repIdx >= 0 && this.prefixes[this.repIdx] === 0xf3) {
      this.repUsed = true;
      return 0xf3;
    }
    if (this.osIdx >= 0) {
      this.osUsed = true;
      return 0x66;
    }
    return 0;
  }

  /** `(bad)` for an opcode whose f2/f3 forms are other instructions: the prefix is consumed. */
  badRep(): never {
    if (this.repIdx >= 0) {
      this.repUsed = true;
      this.keepUsed = true;
    }
    throw new Bad();
  }

  grp9(): string {
    const r = this.reg;
    if (this.mod === 3) {
      if (r === 6 && !(this.repIdx >= 0 && this.prefixes[this.repIdx] === 0xf3))
        return this.entry(e("rdrand", "Ev"));
      if (r === 7) {
        if (this.repIdx >= 0 && this.prefixes[this.repIdx] === 0xf3) {
          this.repUsed = true;
          return this.finish("rdpid", [this.regOp(R32[this.rm] as string)], "n", 0);
        }
        return this.entry(e("rdseed", "Ev"));
      }
      throw new Bad();
    }
    if (r === 1) return this.entry(e("cmpxchg8b", "Mq", "n", undefined, F_HLE));
    if (r === 6) {
      const p = this.mandatory();
      return this.entry(e(p === 0x66 ? "vmclear" : p === 0xf3 ? "vmxon" : "vmptrld", "Mq", "n"));
    }
    if (r === 7) return this.entry(e("vmptrst", "Mq", "n"));
    const x = ["", "", "", "xrstors", "xsavec", "xsaves"][r];
    if (x) return this.entry(e(x, "M", "n"));
    throw new Bad();
  }

  fpu(op: number): string {
    const m = this.getModrm();
    const row = op - 0xd8;
    if (this.mod !== 3) {
      const x = FPU_MEM[row * 8 + this.reg];
      if (!x?.[0]) return this.finish("(bad)", [this.memOp("")], "n", 0);
      const mem = this.memOp(x[2]);
      let mn = this.att ? x[0] : x[1];
      if (this.fwait && mn.startsWith("fn")) mn = `f${mn.slice(2)}`;
      if (this.osIdx >= 0 && (op === 0xd9 || op === 0xdd) && (this.reg === 4 || this.reg === 6)) {
        // fldenv/fnstenv/frstor/fnsave: the operand size picks the 14- or 28-byte (94/108) image
        this.osUsed = true;
        mn += this.osz === 16 ? (this.att ? "s" : "w") : this.att ? "l" : "d";
      }
      return this.finish(mn, [mem], "n", 0);
    }
    const key = (op << 8) | m;
    const noarg = FPU_NOARG[key];
    if (noarg)
      return this.finish(this.fwait && noarg.startsWith("fn") ? `f${noarg.slice(2)}` : noarg, [], "n", 0);
    if (key === 0xdfe0) return this.finish(this.fwait ? "fstsw" : "fnstsw", [this.regOp("ax")], "n", 0);
    const rf = FPU_REG[row * 8 + this.reg];
    if (!rf) {
      this.opEnd = this.pos;
      throw new Bad();
    }
    const sti: StOp = { k: "st", i: this.rm };
    const st: StOp = { k: "st", i: -1 };
    const ops: Operand[] = rf[2] === 0 ? [st, sti] : rf[2] === 1 ? [sti, st] : [sti];
    return this.finish(this.att ? rf[0] : rf[1], ops, "n", 0);
  }

  // -------------------------------------------------------------------------------------
  // Output

  finish(mn0: string, ops: Operand[], sfx: Sfx, flags: number, star = -1): string {
    let mn = mn0;
    if (sfx === "a" && this.att && this.hasMem && !this.hasSizingReg && this.memSize) {
      mn += this.memSize === "b" ? "b" : this.memSize === "w" ? "w" : "l";
    } else if (
      sfx === "p" &&
      this.osIdx >= 0 &&
      !this.hasSizingReg &&
      (this.att || (!this.hasMem && !ops.some((o) => o.k === "far")))
    ) {
      this.osUsed = true;
      mn += this.osz === 16 ? "w" : this.att ? "l" : "d";
    }
    if (flags & F_STR) this.asUsed = true;
    const shown = ops.map((o, n) => this.fmt(o, n === star));
    const order = this.att && !(flags & F_KEEP) ? shown.reverse() : shown;
    const args = order.filter((s) => s !== "").join(",");
    // Prefix names
    const names: string[] = [];
    this.prefixes.forEach((p, idx) => {
      if (p === 0xf0) {
        if (!this.lockUsed) names.push("lock");
        return;
      }
      let used = false;
      if (p in SEG_PREFIX) used = idx === this.segIdx && this.segUsed;
      else if (p === 0x66) used = idx === this.osIdx && this.osUsed;
      else if (p === 0x67) used = idx === this.asIdx && this.asUsed;
      else used = idx === this.repIdx && this.repUsed;
      if (used) return;
      if (p in SEG_PREFIX) names.push(SREG[SEG_PREFIX[p] as number] as string);
      else if (p === 0x66 || p === 0x67)
        names.push((this.code32 ? PREFIX_NAMES32 : PREFIX_NAMES16)[p] as string);
      else names.push(this.repName(p, idx === this.repIdx ? flags : 0));
    });
    const head = names.length ? `${names.join(" ")} ${mn}` : mn;
    if (!args) return head;
    return `${head.padEnd(6)} ${args}`;
  }

  /** `(bad)` preceded by the names of all prefixes. */
  badText(): string {
    this.segUsed = this.asUsed = false;
    if (!this.keepUsed) this.osUsed = this.repUsed = false;
    this.hasMem = false;
    return this.finish("(bad)", [], "n", 0);
  }

  repName(p: number, flags: number): string {
    if (this.hasMem && flags & F_HLE && (this.prefixes.includes(0xf0) || this.isXchg)) {
      return p === 0xf2 ? "xacquire" : "xrelease";
    }
    if (this.hasMem && flags & F_XREL && p === 0xf3) return "xrelease";
    if (p === 0xf2) return flags & F_BND ? "bnd" : "repnz";
    return flags & F_REP ? "rep" : "repz";
  }

  fmt(o: Operand, star: boolean): string {
    const att = this.att;
    switch (o.k) {
      case "reg":
        if (att) return o.paren ? `(%${o.name})` : `${star ? "*" : ""}%${o.name}`;
        return o.name;
      case "imm":
        return att ? `$${hex(o.v)}` : hex(o.v);
      case "rel":
        return hex(o.target);
      case "far":
        return att ? `$${hex(o.sel)},$${hex(o.off)}` : `${hex(o.sel)}:${hex(o.off)}`;
      case "st":
        if (o.i < 0) return att ? "%st" : "st";
        return att ? `%st(${o.i})` : `st(${o.i})`;
      case "text":
        return att ? o.att : o.intel;
      case "mem":
        return att ? (star ? "*" : "") + this.fmtMemAtt(o) : this.fmtMemIntel(o);
    }
  }

  fmtMemAtt(m: MemOp): string {
    const seg = m.seg ? `%${m.seg}:` : "";
    if (m.abs) return seg + (m.signedAbs ? shex(m.disp) : hex(m.disp));
    const disp = m.hasDisp ? shex(m.disp) : "";
    let inner = m.base ? `%${m.base}` : "";
    if (m.index) inner += m.scale ? `,%${m.index},${m.scale}` : `,%${m.index}`;
    return `${seg}${disp}(${inner})`;
  }

  fmtMemIntel(m: MemOp): string {
    const ptr = m.noPtr ? "" : (PTR[m.size] ?? "");
    if (m.abs) return `${ptr}${m.seg || "ds"}:${hex(m.signedAbs ? m.disp & 0xffff : m.disp)}`;
    const seg = m.seg ? `${m.seg}:` : "";
    let inner = m.base;
    if (m.index) inner += `${inner ? "+" : ""}${m.index}${m.scale ? `*${m.scale}` : ""}`;
    if (m.hasDisp) {
      if (!inner) inner = hex(m.disp);
      else inner += m.disp < 0 ? `-${hex(-m.disp)}` : `+${hex(m.disp)}`;
    }
    return `${ptr}${seg}[${inner}]`;
  }
}

/**
 * Disassembles one instruction. `fetch(k)` returns the k-th byte of the instruction
 * stream (it may throw when the memory is unreadable: the result is then `(bad)` over the
 * bytes that could be read). `addr` is the instruction's address, used for branch targets.
 */
export function disassemble(
  fetch: (offset: number) => number,
  addr: number,
  code32: boolean,
  syntax: DisasmSyntax = "att",
): DisasmResult {
  const d = new Disasm(fetch, addr >>> 0, code32, syntax);
  let text: string;
  try {
    text = d.run();
  } catch (err) {
    if (err instanceof Bad) {
      const n = Math.max(1, d.opEnd || d.pos);
      d.bytes.length = Math.min(d.bytes.length, n);
      return { length: d.bytes.length || 1, text: d.badText(), bytes: d.bytes };
    }
    if (err instanceof Unreadable) {
      return { length: Math.max(1, d.bytes.length), text: "(bad)", bytes: d.bytes };
    }
    throw err;
  }
  return { length: d.pos, text, bytes: d.bytes };
}

/** Convenience: disassembles from a byte array at `offset`. */
export function disassembleBytes(
  code: ArrayLike<number>,
  offset: number,
  addr: number,
  code32: boolean,
  syntax: DisasmSyntax = "att",
): DisasmResult {
  return disassemble(
    (k) => {
      const i = offset + k;
      if (i >= code.length) throw new RangeError("disasm: past end of code");
      return code[i] as number;
    },
    addr,
    code32,
    syntax,
  );
}
