// Runs SingleStepTests 80286 real-mode vectors (../shared/peer-tests/sst-80286) on the interpreter.
//
// How a case was recorded (README.md of the suite): the instruction under test is followed by HLT;
// execution starts at CS:IP "as if jumped to", ends at the HLT (for jumps and exceptions a HLT is
// placed at the first fetch after the transfer, and the data holds it in RAM), and the final IP is
// the one after the HLT. So a case runs the interpreter until HLT: a REP string instruction runs to
// completion and an exception is delivered through the IVT in RAM as hardware does.
//
// What is compared: the 14 registers (final = initial unless listed), FLAGS with the per-opcode
// undefined flags (metadata.json) and bits 12-15 masked (a 286 in real mode reads IOPL/NT/bit 15 as
// 0; an i686 keeps them), the final RAM bytes, and that initial RAM bytes not listed as changed are
// unchanged. The FLAGS image an exception pushes (EXCP's address) gets the same mask.
//
// Address space: the 286 has 24 address lines and the suite assumes 16 MiB of RAM, so real-mode
// addresses up to 0x10FFEF reach RAM above 1 MiB. The CPU here runs with A20 enabled and 16 MiB
// of RAM, which gives the same mapping, and the board's legacy VGA hole (0xA0000-0xBFFFF, always
// treated as MMIO by the CPU) is backed by RAM in this harness's bus, as the suite's board is.
//
// Cases where a 286 and an i686 architecturally differ are classified by `exclusionReason` from
// the instruction bytes alone (never from our result) and reported apart.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { CpuBus } from "../../src/cpu/bus.ts";
import { CPU, EXIT_HLT } from "../../src/cpu/cpu.ts";
import {
  CS,
  DS,
  EFLAGS_PF,
  EFLAGS_SF,
  EFLAGS_ZF,
  ES,
  EXC_UD,
  FS,
  GS,
  R_EIP,
  SS,
} from "../../src/cpu/state.ts";
import { GuestMemory } from "../../src/machine/memory.ts";
import {
  MOO_REG_COUNT,
  MOO_REGS,
  type MooCase,
  REG_AX,
  REG_BP,
  REG_BX,
  REG_CS,
  REG_CX,
  REG_DI,
  REG_DS,
  REG_DX,
  REG_ES,
  REG_FLAGS,
  REG_IP,
  REG_SI,
  REG_SP,
  REG_SS,
} from "./moo.ts";

export const SST286_DIR = new URL("../../../shared/peer-tests/sst-80286/", import.meta.url).pathname;
export const SST286_REAL = join(SST286_DIR, "v1_real_mode");
export const RAM_BYTES = 16 << 20;

/** FLAGS bits a 286 in real mode always reads as 0 (IOPL, NT, bit 15), plus reserved bits 3 and 5. */
export const FLAGS_286_IGNORED = 0xf000;

interface OpMeta {
  status?: string;
  "flags-mask"?: number;
  reg?: Record<string, OpMeta>;
}
interface Metadata {
  opcodes: Record<string, OpMeta>;
}

let metadataCache: Metadata | null = null;
function metadata(): Metadata {
  metadataCache ??= JSON.parse(readFileSync(join(SST286_REAL, "metadata.json"), "utf8")) as Metadata;
  return metadataCache;
}

/** The 16-bit mask of defined FLAGS for a file named like "F7.6.MOO.gz" or "27.MOO.gz". */
export function flagsMaskForFile(file: string): number {
  const m = /^([0-9A-F]{2,4})(?:\.([0-7]))?\.MOO/i.exec(file);
  if (!m) throw new Error(`not a MOO test file name: ${file}`);
  let op = metadata().opcodes[m[1].toUpperCase()];
  if (op === undefined) throw new Error(`metadata has no opcode ${m[1]}`);
  if (m[2] !== undefined) {
    const sub = op.reg?.[m[2]];
    if (sub === undefined) throw new Error(`metadata has no ${m[1]}.${m[2]}`);
    op = sub;
  }
  return (op["flags-mask"] ?? 0xffff) & ~FLAGS_286_IGNORED & 0xffff;
}

/** Revoked test hashes (revocation_list.txt). */
export function revokedHashes(): Set<string> {
  const s = new Set<string>();
  for (const line of readFileSync(join(SST286_DIR, "revocation_list.txt"), "utf8").split("\n")) {
    const t = line.trim().toLowerCase();
    if (t !== "" && !t.startsWith("#")) s.add(t);
  }
  return s;
}

// ---------------------------------------------------------------- 286 vs i686 differences

const SEG_PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e]);

/** The instruction with its prefixes split off. */
export interface Decoded {
  /** Offset of the opcode byte in the case's bytes. */
  opAt: number;
  op: number;
  /** ModRM byte, or -1 when the opcode has none (or it is missing). */
  modrm: number;
  lock: boolean;
  /** Length of the instruction proper, prefixes included, HLT excluded. */
  len: number;
}

export function splitPrefixes(bytes: Uint8Array): Decoded {
  let p = 0;
  let lock = false;
  for (; p < bytes.length; p++) {
    const b = bytes[p];
    if (b === 0xf0) lock = true;
    else if (!SEG_PREFIXES.has(b) && b !== 0xf2 && b !== 0xf3) break;
  }
  const op = bytes[p];
  const hasModrm =
    (op < 0x40 && (op & 7) < 4) || (op >= 0x80 && op <= 0x8f) || (op >= 0xd0 && op <= 0xd3) || op >= 0xf6;
  const len = bytes[bytes.length - 1] === 0xf4 ? bytes.length - 1 : bytes.length;
  return { opAt: p, op, modrm: hasModrm && p + 1 < bytes.length ? bytes[p + 1] : -1, lock, len };
}

/** Lockable forms among the suite's opcodes (SDM Vol. 2B, LOCK): memory-destination RMW only. */
export function lockable(op: number, modrm: number): boolean {
  const mem = modrm >= 0 && modrm >> 6 !== 3;
  const reg = (modrm >> 3) & 7;
  if (op < 0x40 && (op & 7) < 2) return mem && op >> 3 !== 7; // ALU Eb,Gb / Ev,Gv except CMP
  if (op >= 0x80 && op <= 0x83) return mem && reg !== 7;
  if (op === 0x86 || op === 0x87) return mem;
  if (op === 0xf6 || op === 0xf7) return mem && (reg === 2 || reg === 3);
  if (op === 0xfe || op === 0xff) return mem && reg < 2;
  return false;
}

const isString = (op: number) => op >= 0xa4 && op <= 0xaf && op !== 0xa8 && op !== 0xa9;

/**
 * What to do with a case where a 286 and an i686 architecturally differ, decided before running it
 * from the instruction bytes and what the data says happened (never from our result):
 * - exclude "length>10": the 286 limits an instruction (prefixes included) to 10 bytes and raises
 *   interrupt 13 beyond that (80286 PRM; the suite's README says 6, its data says 13); P6 parts
 *   allow 15 bytes (SDM Vol. 2A, 2.3.11) and execute these.
 * - exclude "lock-ud": LOCK on anything but a locked read-modify-write of memory raises #UD on the
 *   386 and later (SDM Vol. 2A, 2.1.1; Vol. 2B, LOCK); the 286 just asserts LOCK# and executes.
 * - mask CX/SI/DI "string-overrun": a word string access at offset FFFFh raises interrupt 13 on
 *   both, but the 286 has already stepped SI/DI (and, with REP, CX) past the faulting element (the
 *   pushed IP still points at the instruction); an i686 faults with them as they were before the
 *   faulting iteration (SDM Vol. 3A, 6.5: faults are restartable; Vol. 2B, REP).
 * - mask SF/ZF/PF "aam0": AAM 0 raises #DE on both; the 286 has already updated SF/ZF/PF from its
 *   partial result, an i686 leaves all flags as they were (SDM Vol. 2A, AAM).
 */
export interface Adjustment {
  excluded: string | null;
  /** AND-masks applied to registers in the comparison (index by MOO register). */
  regAnd: Map<number, number>;
  /** Extra classes for the report. */
  masked: string | null;
}

export function adjustmentFor(t: MooCase): Adjustment {
  const d = splitPrefixes(t.bytes);
  const adj: Adjustment = { excluded: null, regAnd: new Map(), masked: null };
  if (d.len > 10 && t.exception?.vector === 13) adj.excluded = "length>10";
  else if (d.lock && !lockable(d.op, d.modrm)) adj.excluded = "lock-ud";
  else if (isString(d.op) && t.exception?.vector === 13) {
    adj.masked = "string-overrun";
    adj.regAnd.set(REG_CX, 0);
    adj.regAnd.set(REG_SI, 0);
    adj.regAnd.set(REG_DI, 0);
  } else if (d.op === 0xd4 && t.bytes[d.opAt + 1] === 0 && t.exception?.vector === 0) {
    adj.masked = "aam0";
    adj.regAnd.set(REG_FLAGS, ~(EFLAGS_SF | EFLAGS_ZF | EFLAGS_PF) & 0xffff);
  }
  return adj;
}

/**
 * Classes recognised after running, from the vectors the interpreter delivered and the data:
 * - "ss-overrun": an SS-relative access beyond offset FFFFh is interrupt 13 on the 286 (80286 PRM,
 *   real-address-mode exceptions make no SS/DS distinction) but #SS (12) on an i686 (SDM Vol. 2,
 *   "Real-Address Mode Exceptions": #SS for the SS segment limit).
 * - "idiv-quirk": the 286 microcode returns a quotient of 80h / 8000h without #DE for some signed
 *   divides whose quotient does not fit; an i686 raises #DE (SDM Vol. 2A, IDIV).
 */
function lateExclusion(t: MooCase, d: Decoded, vectors: number[]): string | null {
  const want = t.exception?.vector ?? -1;
  if (want === 13 && vectors[0] === 12) return "ss-overrun";
  if ((d.op === 0xf6 || d.op === 0xf7) && ((d.modrm >> 3) & 7) === 7 && want < 0 && vectors[0] === 0) {
    const q = t.final.regs.mask & 1 ? t.final.regs.values[REG_AX] : t.init.regs.values[REG_AX];
    if (d.op === 0xf6 ? (q & 0xff) === 0x80 : q === 0x8000) return "idiv-quirk";
  }
  return null;
}

// ---------------------------------------------------------------- running a case

export interface CaseResult {
  pass: boolean;
  /** Exclusion class (see adjustmentFor / lateExclusion), or null if the case was compared. */
  excluded: string | null;
  /** Class of the 286-specific masking applied (see adjustmentFor), or null. */
  masked: string | null;
  diffs: string[];
}

const SEG_OF_REG: [number, number][] = [
  [REG_CS, CS],
  [REG_SS, SS],
  [REG_DS, DS],
  [REG_ES, ES],
];
// MOO register index → x86 register number for the 8 general registers.
const GPR_OF_REG: [number, number][] = [
  [REG_AX, 0],
  [REG_CX, 1],
  [REG_DX, 2],
  [REG_BX, 3],
  [REG_SP, 4],
  [REG_BP, 5],
  [REG_SI, 6],
  [REG_DI, 7],
];

/** A bus whose "MMIO" is plain RAM: the suite's board maps all 16 MiB as RAM, VGA hole included. */
function ramBus(mem: GuestMemory): CpuBus {
  const ram = mem.ram;
  const size = mem.ramSize;
  return {
    in8: () => 0xff,
    in16: () => 0xffff,
    in32: () => -1,
    out8: () => {},
    out16: () => {},
    out32: () => {},
    mmioRead: (a, n) => {
      let v = 0;
      for (let k = 0; k < n; k++) v |= ram[(a + k) % size] << (8 * k);
      return v;
    },
    mmioWrite: (a, n, v) => {
      for (let k = 0; k < n; k++) ram[(a + k) % size] = v >>> (8 * k);
    },
    isRam: (addr) => addr >>> 0 < size,
    intc: null,
    tsc: () => 0,
  };
}

export class Sst286Runner {
  readonly cpu: CPU;
  /** Instruction budget per case: the instruction, perhaps an exception handler's HLT. */
  budget = 64;
  private readonly expect = new Uint16Array(MOO_REG_COUNT);
  private readonly got = new Uint16Array(MOO_REG_COUNT);
  private readonly mask = new Uint16Array(MOO_REG_COUNT);
  private readonly touched: number[] = [];
  /** Vectors delivered during the case (exceptions and software interrupts). */
  private readonly vectors: number[] = [];

  constructor() {
    const mem = new GuestMemory(RAM_BYTES);
    this.cpu = new CPU(mem, ramBus(mem));
    this.cpu.onInterrupt = (v) => {
      this.vectors.push(v);
    };
  }

  /** Run one case; `flagsMask` is the file's defined-FLAGS mask (flagsMaskForFile). */
  run(t: MooCase, flagsMask: number, exclude = true): CaseResult {
    const adj = adjustmentFor(t);
    // "lock-ud" cases still run: the interpreter must raise #UD for them as an i686 does.
    if (exclude && adj.excluded !== null && adj.excluded !== "lock-ud")
      return { pass: false, excluded: adj.excluded, masked: null, diffs: [] };
    const c = this.cpu;
    const vectors = this.vectors;
    vectors.length = 0;
    const r = c.r;
    const ram = c.ram;
    // Undo the previous case's RAM so stale bytes never look like a correct result.
    for (const a of this.touched) ram[a] = 0;
    this.touched.length = 0;

    c.reset();
    c.flushCodeCache();
    const iv = t.init.regs.values;
    for (const [m, s] of SEG_OF_REG) c.loadSegReal(s, iv[m]);
    c.loadSegReal(FS, 0);
    c.loadSegReal(GS, 0);
    for (const [m, g] of GPR_OF_REG) r[g] = iv[m];
    r[R_EIP] = iv[REG_IP];
    c.setEflags(iv[REG_FLAGS] & ~FLAGS_286_IGNORED);
    const init = t.init.ram;
    for (let k = 0; k < init.length; k += 2) {
      ram[init[k]] = init[k + 1];
      this.touched.push(init[k]);
    }
    const fin = t.final.ram;
    for (let k = 0; k < fin.length; k += 2) this.touched.push(fin[k]);

    const diffs: string[] = [];
    let exit = -1;
    try {
      exit = c.run(this.budget);
    } catch (e) {
      diffs.push(`threw ${(e as Error).message ?? String(e)}`);
    }
    if (exclude && adj.excluded === "lock-ud") {
      if (vectors[0] === EXC_UD) return { pass: false, excluded: adj.excluded, masked: null, diffs: [] };
      return {
        pass: false,
        excluded: null,
        masked: null,
        diffs: ["LOCK on a non-lockable form did not raise #UD"],
      };
    }
    if (exit !== EXIT_HLT && diffs.length === 0) diffs.push(`no HLT (exit ${exit})`);

    // Registers.
    const expect = this.expect;
    const got = this.got;
    const mask = this.mask;
    const fv = t.final.regs;
    for (let k = 0; k < MOO_REG_COUNT; k++) {
      expect[k] = fv.mask & (1 << k) ? fv.values[k] : iv[k];
      mask[k] = 0xffff;
    }
    mask[REG_FLAGS] = flagsMask;
    if (exclude) for (const [k, m] of adj.regAnd) mask[k] &= m;
    const rm = t.final.regMask;
    if (rm) for (let k = 0; k < MOO_REG_COUNT; k++) if (rm.mask & (1 << k)) mask[k] &= rm.values[k];
    for (const [m, g] of GPR_OF_REG) got[m] = r[g];
    for (const [m, s] of SEG_OF_REG) got[m] = c.r[16 + s];
    got[REG_IP] = r[R_EIP];
    got[REG_FLAGS] = c.getEflags();
    for (let k = 0; k < MOO_REG_COUNT; k++) {
      if (((expect[k] ^ got[k]) & mask[k]) !== 0)
        diffs.push(
          `${MOO_REGS[k]}: got ${hex4(got[k])} want ${hex4(expect[k])}${mask[k] !== 0xffff ? ` (mask ${hex4(mask[k])})` : ""}`,
        );
    }

    // RAM: listed final bytes, the pushed FLAGS image masked like FLAGS.
    // EXCP's address is that of the bus word holding FLAGS (even); with an odd SP the image starts one
    // byte later, so take it from the final SS:SP (FLAGS sits above IP and CS).
    let fa = -1;
    if (t.exception) {
      const sp = (expect[REG_SP] + 4) & 0xffff;
      fa = expect[REG_SS] * 16 + sp;
      if (sp === 0xffff) fa = -1; // a split image: compare it unmasked (never seen in the suite)
    }
    const finalAddrs = new Set<number>();
    for (let k = 0; k < fin.length; k += 2) {
      const a = fin[k];
      finalAddrs.add(a);
      let m = 0xff;
      if (a === fa) m = mask[REG_FLAGS] & 0xff;
      else if (a === fa + 1) m = mask[REG_FLAGS] >> 8;
      if (((ram[a] ^ fin[k + 1]) & m) !== 0)
        diffs.push(`ram[${a.toString(16)}]: got ${hex2(ram[a])} want ${hex2(fin[k + 1])}`);
    }
    // Initial bytes not listed as final must be unchanged.
    for (let k = 0; k < init.length; k += 2) {
      const a = init[k];
      if (!finalAddrs.has(a) && ram[a] !== init[k + 1])
        diffs.push(`ram[${a.toString(16)}]: got ${hex2(ram[a])}, unchanged ${hex2(init[k + 1])} expected`);
    }
    if (exclude && diffs.length > 0) {
      const late = lateExclusion(t, splitPrefixes(t.bytes), vectors);
      if (late !== null) return { pass: false, excluded: late, masked: null, diffs };
    }
    return { pass: diffs.length === 0, excluded: null, masked: exclude ? adj.masked : null, diffs };
  }
}

function hex4(v: number): string {
  return v.toString(16).padStart(4, "0");
}
function hex2(v: number): string {
  return v.toString(16).padStart(2, "0");
}

/** One-line description of a case for failure reports. */
export function describeCase(t: MooCase): string {
  const b = [...t.bytes].map((x) => x.toString(16).padStart(2, "0")).join(" ");
  const exc = t.exception ? ` [int ${t.exception.vector}]` : "";
  return `#${t.index} ${t.name} (${b})${exc}`;
}

/** The MOO files of the real-mode suite present in this checkout, sorted. */
export function sst286Files(): string[] {
  const manifest = readFileSync(join(SST286_DIR, "MANIFEST.tsv"), "utf8").split("\n").slice(1);
  const out: string[] = [];
  for (const line of manifest) {
    const f = line.split("\t");
    if (f.length > 4 && f[4] === "yes" && f[0].startsWith("v1_real_mode/"))
      out.push(f[0].slice("v1_real_mode/".length));
  }
  return out.sort();
}
