// The x86 CPU core: register file views, lazy flags, linear/physical memory access through the
// software TLB, the decoded-instruction cache and the interpreter's run loop. Instruction
// semantics live in cpu/ops/*, descriptor/gate/task logic in cpu/system.ts, paging in cpu/paging.ts.
import {
  CODEPAGE_BYTE_OFFSET,
  type GuestMemory,
  RAM_BYTE_OFFSET,
  TLB_BYTE_OFFSET,
  TLB_ENTRIES,
} from "../machine/memory.ts";
import type { CpuBus } from "./bus.ts";
import { decode } from "./decoder.ts";
import { attachFpu } from "./fpu.ts";
import { Insn } from "./insn.ts";
import { translate } from "./paging.ts";
import {
  ATTR_DB,
  ATTR_P,
  CR0_ET,
  CR0_PE,
  CS,
  DS,
  EFLAGS_AF,
  EFLAGS_ARITH,
  EFLAGS_CF,
  EFLAGS_FIXED,
  EFLAGS_IF,
  EFLAGS_OF,
  EFLAGS_PF,
  EFLAGS_SF,
  EFLAGS_TF,
  EFLAGS_VM,
  EFLAGS_ZF,
  ES,
  EXC_GP,
  EXC_SS,
  EXC_UD,
  FOP_ADC,
  FOP_ADD,
  FOP_DEC,
  FOP_INC,
  FOP_NONE,
  FOP_RESULT,
  FOP_SBB,
  FOP_SUB,
  FS,
  GS,
  LDTR,
  R_A20_MASK,
  R_CPL,
  R_CR0,
  R_CR2,
  R_EFLAGS,
  R_EIP,
  R_FA,
  R_FB,
  R_FOP,
  R_FRES,
  R_FSIZE,
  R_GDTR_LIMIT,
  R_IDTR_LIMIT,
  R_INHIBIT_IRQ,
  R_SEGATTR,
  R_SEGBASE,
  R_SEGFAST,
  R_SEGFLAT,
  R_SEGLIMIT,
  R_SEGRAWCPL,
  R_SEL,
  SS,
  STATE_BASE,
  TLB_GLOBAL,
  TLB_IO,
  TLB_SUP_WRITE,
  TLB_USER_READ,
  TLB_USER_WRITE,
  TLB_VALID,
  TLB_WRITE,
  TR,
} from "./state.ts";
import { deliverInterrupt } from "./system.ts";

// Events checked after each instruction (c.events).
export const EV_IRQ = 1;
export const EV_INHIBIT = 2;
export const EV_TF = 4;
export const EV_STOP = 8;
export const EV_NMI = 16;
/** HLT executed: leave the instruction loop (run() reports EXIT_HLT unless an interrupt wakes the CPU). */
export const EV_HALT = 32;
/** run() returns at this boundary (yieldAtUser: the CPU just entered CPL 3). */
export const EV_YIELD = 64;

// Why run() returned.
export const EXIT_BUDGET = 0;
export const EXIT_HLT = 1;
export const EXIT_EXCEPTION = 2; // only with trapExceptions
export const EXIT_SHUTDOWN = 3; // triple fault
export const EXIT_STOP = 4; // requestStop()

/** Thrown (never allocated per throw) to unwind an instruction that raised an exception. */
export const FAULT: { readonly fault: true } = Object.freeze({ fault: true });

const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let p = 1;
  for (let b = i; b; b >>= 1) p ^= b & 1;
  PARITY[i] = p;
}

export const REG8_OFF = [0, 4, 8, 12, 1, 5, 9, 13];

/** CPU.onCodeWrite() results: blocks were dropped; blocks still depend on the page. */
export const CODE_WRITE_DROPPED = 1;
export const CODE_WRITE_KEPT = 2;
/** Writes that hit no code before a code page is dropped whole (see CPU.codeWritten()). */
const CODE_WRITE_MISSES = 32;

/** The decode cache's chunks (see CPU.codeCache): 64 byte offsets each, 64 per page. */
const CODE_CHUNK_BITS = 6;
const CODE_CHUNK = 1 << CODE_CHUNK_BITS;
const CODE_CHUNK_MASK = CODE_CHUNK - 1;
const CODE_CHUNKS = 0x1000 >>> CODE_CHUNK_BITS;
type CodeChunk = (Insn | undefined)[];
/** tlbListed bits: the page is in tlbList (non-global entries), in tlbGList (global ones). */
const TLB_LISTED_N = 1;
const TLB_LISTED_G = 2;

export class CPU {
  readonly r: Int32Array;
  readonly r8: Uint8Array;
  readonly r16: Uint16Array;
  readonly ram: Uint8Array;
  readonly ram16: Uint16Array;
  readonly ram32: Int32Array;
  readonly ramSize: number;
  readonly tlb: Int32Array;
  /**
   * Linear pages with a TLB entry, for fast flushing: those filled with a non-global entry in
   * tlbList, those filled with a global one in tlbGList, so that a CR3 write walks only the former
   * (the Linux boot's 16,000 CR3 writes each walked ~1,150 global kernel entries to keep them).
   */
  private readonly tlbList: Int32Array;
  private readonly tlbGList: Int32Array;
  /**
   * Per linear page, TLB_LISTED_N while in tlbList and TLB_LISTED_G while in tlbGList (INVLPG zeroes
   * the entry but leaves it listed: no duplicates). A page refilled with the other kind of entry is
   * listed in both: every non-global entry is in tlbList.
   */
  private readonly tlbListed: Uint8Array;
  /** 1 for a physical RAM page that may have TLB entries granting writes (see markCodePage()). */
  private readonly physWritable: Uint8Array;
  private tlbCount = 0;
  private tlbGCount = 0;
  /** Required bits of a TLB entry for a read / write at the current privilege (and with IO clear). */
  rNeed = TLB_VALID;
  wNeed = TLB_VALID | TLB_SUP_WRITE;
  /**
   * Decoded-instruction cache, per physical page: CODE_CHUNKS chunks of CODE_CHUNK byte offsets
   * each, a chunk allocated when an instruction starting in it is first decoded. (One 4096-slot
   * array per page was 32 KiB for the few hundred instructions a page's run code usually has: a
   * boot kept ~1,700 of them, which the young-generation GC copied twice each.)
   */
  private readonly codeCache: ((CodeChunk | undefined)[] | undefined)[];
  /** Decoded instructions in each page's codeCache array. */
  private readonly codeCount: Uint16Array;
  /** Writes to a code page that hit no code since its code was last dropped whole (codeWritten()). */
  private readonly codeWriteMisses: Uint8Array;
  readonly codePage: Uint8Array;
  private readonly scratch = new Insn();
  /** Decode mode: bit 0 = 32-bit code segment. */
  codeMode = 0;
  eipMask = 0xffff;
  /** Address and operand sizes for the stack (SS.B). */
  ss32 = false;
  /**
   * Per segment: 1 when base 0, limit 4 GiB, expand-up, present, readable and writable: no checks
   * needed. A view of the state block (R_SEGFLAT), which compiled code writes too.
   */
  readonly segFlat: Int32Array;

  eipStart = 0;
  events = 0;
  /** run() returns after an instruction that leaves EIP anywhere but the next instruction. */
  stopAtBranch = false;
  /**
   * Set by the accelerator in normal mode while the interpreter runs kernel code: entering CPL 3
   * makes run() return at the next instruction boundary (EV_YIELD), so user code runs compiled.
   */
  yieldAtUser = false;
  /**
   * Bumped whenever a decoded instruction's successor may no longer be what Insn.link says: code
   * invalidated, TLB entries dropped, CS reloaded (code mode, CPL). run() follows links only while
   * it is unchanged.
   */
  fetchEpoch = 0;
  /** With stopAtBranch: asked at each control transfer and page crossing whether to stop there (null: always). */
  atBranch: ((eip: number) => boolean) | null = null;
  halted = false;
  /**
   * Instructions retired, counted as they go (a float counter; 2^53 is far away). Starts as -0, a
   * double, not 0: V8 would store a small-integer field and change the CPU object's hidden class
   * when the count passes 2^30, deoptimizing at once every optimized function that uses the CPU
   * (~50 of them, a second into every boot; seen with --trace-deopt). -0 counts like 0.
   */
  icount = -0;

  // Exception being raised.
  excVector = -1;
  excError = -1;
  /** Vector being delivered (for double-fault classification), -1 if none. */
  delivering = -1;
  /** Stop at the first exception instead of delivering it (test harnesses). */
  trapExceptions = false;
  /** Called with vector, error code, eip before delivering (for `-d int`). */
  onInterrupt: ((vector: number, error: number, hw: boolean) => void) | null = null;
  onUnimplemented: ((eip: number, bytes: number[]) => void) | null = null;
  nmiMasked = false;
  /**
   * EFLAGS.TF was set when the current instruction started: a single-step #DB trap follows it
   * (SDM Vol. 3B, 17.3.1.4). Instructions that set TF (POPF, IRET) therefore trap only after the
   * next instruction, and one that clears TF still traps.
   */
  stepping = false;

  // Model-specific state kept outside the shared block.
  readonly msrs = new Map<number, bigint>();
  readonly dr = new Int32Array(8);
  tscOffset = 0;
  /** IA32_TSC_ADJUST. */
  tscAdjust = 0;

  /** The x87 unit, when present (cpu/fpu.ts installs itself). */
  fpu: { reset(): void } | null = null;

  constructor(
    readonly mem: GuestMemory,
    readonly bus: CpuBus,
  ) {
    const buf = mem.buffer;
    this.r = new Int32Array(buf, STATE_BASE, 256);
    this.segFlat = this.r.subarray(R_SEGFLAT, R_SEGFLAT + 8);
    this.r8 = new Uint8Array(buf, STATE_BASE, 1024);
    this.r16 = new Uint16Array(buf, STATE_BASE, 512);
    this.ram = mem.ram;
    this.ramSize = mem.ramSize;
    this.ram16 = new Uint16Array(buf, RAM_BYTE_OFFSET, mem.ramSize >>> 1);
    this.ram32 = new Int32Array(buf, RAM_BYTE_OFFSET, mem.ramSize >>> 2);
    this.tlb = new Int32Array(buf, TLB_BYTE_OFFSET, TLB_ENTRIES);
    this.tlbList = new Int32Array(TLB_ENTRIES);
    this.tlbGList = new Int32Array(TLB_ENTRIES);
    this.tlbListed = new Uint8Array(TLB_ENTRIES);
    const pages = mem.ramSize >>> 12;
    this.physWritable = new Uint8Array(pages);
    this.codeCache = new Array(pages).fill(undefined);
    this.codeCount = new Uint16Array(pages);
    this.codeWriteMisses = new Uint8Array(pages);
    // In the shared memory so compiled code can test it on stores (self-modifying code detection).
    this.codePage = new Uint8Array(mem.buffer, CODEPAGE_BYTE_OFFSET, pages);
    attachFpu(this);
    this.reset();
  }

  // ---------------------------------------------------------------- reset and modes

  /** Power-on / RESET state (SDM Vol. 3A, 9.1.1): real mode at F000:FFF0. */
  reset(): void {
    const r = this.r;
    r.fill(0);
    r[2] = 0x0633; // EDX: family 6 model 3 stepping 3 signature, as the P6 leaves it
    r[R_EFLAGS] = EFLAGS_FIXED;
    r[R_FOP] = FOP_NONE;
    r[R_CR0] = CR0_ET | 0x60000000; // CD|NW set at reset
    r[R_A20_MASK] = -1;
    for (let s = 0; s < 6; s++) this.setSegCache(s, 0, 0, 0xffff, 0x93);
    this.setSegCache(CS, 0xf000, 0xffff0000, 0xffff, 0x93 | 0x8);
    this.setSegCache(LDTR, 0, 0, 0xffff, 0x82);
    this.setSegCache(TR, 0, 0, 0xffff, 0x8b);
    r[R_GDTR_LIMIT] = 0xffff;
    r[R_IDTR_LIMIT] = 0xffff;
    r[R_EIP] = 0xfff0;
    r[R_CPL] = 0;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0 | 0;
    this.dr[7] = 0x400;
    this.msrs.clear();
    this.halted = false;
    this.events = 0;
    this.nmiMasked = false;
    this.stepping = false;
    this.delivering = -1;
    this.updateCpl();
    this.flushTlb(true);
    this.fpu?.reset();
  }

  get protectedMode(): boolean {
    return (this.r[R_CR0] & CR0_PE) !== 0;
  }

  get v86(): boolean {
    return (this.r[R_EFLAGS] & EFLAGS_VM) !== 0;
  }

  get cpl(): number {
    return this.r[R_CPL];
  }

  /** Recompute the privilege-dependent access masks after CPL or CR0.WP changes. */
  updateCpl(): void {
    if (this.r[R_CPL] === 3) {
      if (this.yieldAtUser) this.events |= EV_YIELD;
      this.rNeed = TLB_VALID | TLB_USER_READ;
      this.wNeed = TLB_VALID | TLB_USER_WRITE;
    } else {
      // A stretch that yields at the return to CPL 3 (the accelerator's normal mode) has no block to
      // stop at in kernel code: its branches skip the atBranch() question from here on.
      if (this.yieldAtUser) this.stopAtBranch = false;
      this.rNeed = TLB_VALID;
      this.wNeed = TLB_VALID | TLB_SUP_WRITE;
    }
  }

  /** Load a segment register the real-mode / v8086 way: base = selector << 4. */
  loadSegReal(seg: number, sel: number): void {
    sel &= 0xffff;
    const r = this.r;
    r[R_SEL + seg] = sel;
    r[R_SEGBASE + seg] = sel << 4;
    if (this.v86) {
      // v8086 segments are 64 KiB, DPL 3, read/write (SDM Vol. 3A, 20.1.1).
      r[R_SEGLIMIT + seg] = 0xffff;
      r[R_SEGATTR + seg] = seg === CS ? 0xfb : 0xf3;
    } else if (!this.protectedMode) {
      // Real mode keeps the limit and attributes from the cache; a fresh load makes the segment usable.
      r[R_SEGATTR + seg] |= ATTR_P;
      if (seg === CS) r[R_SEGATTR + seg] &= ~ATTR_DB;
    }
    this.segChanged(seg);
  }

  /** Set a descriptor cache directly (reset, SMM-free loaders, tests, task switch). */
  setSegCache(seg: number, sel: number, base: number, limit: number, attr: number): void {
    const r = this.r;
    r[R_SEL + seg] = sel & 0xffff;
    r[R_SEGBASE + seg] = base | 0;
    r[R_SEGLIMIT + seg] = limit | 0;
    r[R_SEGATTR + seg] = attr;
    this.segChanged(seg);
  }

  /** Recompute what depends on a segment's descriptor cache. */
  segChanged(seg: number): void {
    const r = this.r;
    const attr = r[R_SEGATTR + seg];
    const type = attr & 0xf;
    // A present, writable, expand-up data segment (type 2/3) with a 4 GiB limit needs no limit or
    // type checks (R_SEGFAST, for compiled code adding any base); with base 0 it is flat. An
    // expand-down one with that limit admits no offset at all, so it is neither.
    const fast =
      r[R_SEGLIMIT + seg] === -1 && (attr & ATTR_P) !== 0 && (attr & 0x10) !== 0 && (type & 0xe) === 0x2
        ? 1
        : 0;
    r[R_SEGFAST + seg] = fast;
    if (seg <= GS) r[R_SEGRAWCPL + seg] = 0; // see loadSeg()
    this.segFlat[seg] = fast === 1 && r[R_SEGBASE + seg] === 0 ? 1 : 0;
    if (seg === CS) {
      this.fetchEpoch++;
      const d = (attr & ATTR_DB) !== 0 && this.protectedMode && !this.v86;
      this.codeMode = d ? 1 : 0;
      this.eipMask = d ? -1 : 0xffff;
    } else if (seg === SS) {
      this.ss32 = (attr & ATTR_DB) !== 0 && this.protectedMode && !this.v86;
    }
  }

  /** Mode changes (CR0.PE, EFLAGS.VM) change how caches are interpreted. */
  modeChanged(): void {
    this.segChanged(CS);
    this.segChanged(SS);
  }

  // ---------------------------------------------------------------- flags

  getCF(): number {
    const r = this.r;
    switch (r[R_FOP]) {
      case FOP_ADD:
        return r[R_FRES] >>> 0 < r[R_FA] >>> 0 ? 1 : 0;
      case FOP_ADC:
        return r[R_FRES] >>> 0 <= r[R_FA] >>> 0 ? 1 : 0;
      case FOP_SUB:
        return r[R_FA] >>> 0 < r[R_FB] >>> 0 ? 1 : 0;
      case FOP_SBB:
        return r[R_FA] >>> 0 <= r[R_FB] >>> 0 ? 1 : 0;
      default:
        return r[R_EFLAGS] & EFLAGS_CF;
    }
  }

  getZF(): number {
    const r = this.r;
    return r[R_FOP] === FOP_NONE ? (r[R_EFLAGS] >> 6) & 1 : r[R_FRES] === 0 ? 1 : 0;
  }

  getSF(): number {
    const r = this.r;
    return r[R_FOP] === FOP_NONE ? (r[R_EFLAGS] >> 7) & 1 : (r[R_FRES] >>> (r[R_FSIZE] - 1)) & 1;
  }

  getPF(): number {
    const r = this.r;
    return r[R_FOP] === FOP_NONE ? (r[R_EFLAGS] >> 2) & 1 : PARITY[r[R_FRES] & 0xff];
  }

  getAF(): number {
    const r = this.r;
    const op = r[R_FOP];
    if (op === FOP_NONE || op === FOP_RESULT) return (r[R_EFLAGS] >> 4) & 1;
    return ((r[R_FA] ^ r[R_FB] ^ r[R_FRES]) >> 4) & 1;
  }

  getOF(): number {
    const r = this.r;
    const a = r[R_FA];
    const b = r[R_FB];
    const res = r[R_FRES];
    switch (r[R_FOP]) {
      case FOP_ADD:
      case FOP_ADC:
      case FOP_INC:
        return (((a ^ res) & (b ^ res)) >>> (r[R_FSIZE] - 1)) & 1;
      case FOP_SUB:
      case FOP_SBB:
      case FOP_DEC:
        return (((a ^ b) & (a ^ res)) >>> (r[R_FSIZE] - 1)) & 1;
      default:
        return (r[R_EFLAGS] >> 11) & 1;
    }
  }

  /** EFLAGS with the lazy arithmetic flags folded in. */
  getEflags(): number {
    const r = this.r;
    if (r[R_FOP] === FOP_NONE) return r[R_EFLAGS] | EFLAGS_FIXED;
    return (
      (r[R_EFLAGS] & ~EFLAGS_ARITH) |
      EFLAGS_FIXED |
      this.getCF() |
      (this.getPF() << 2) |
      (this.getAF() << 4) |
      (this.getZF() << 6) |
      (this.getSF() << 7) |
      (this.getOF() << 11)
    );
  }

  /** Fold the lazy flags into r[R_EFLAGS]. */
  materializeFlags(): void {
    const r = this.r;
    if (r[R_FOP] !== FOP_NONE) {
      r[R_EFLAGS] = this.getEflags();
      r[R_FOP] = FOP_NONE;
    }
  }

  /** Write EFLAGS (all bits given; callers mask what the instruction may change). */
  setEflags(v: number): void {
    const r = this.r;
    const old = r[R_EFLAGS];
    r[R_EFLAGS] = (v & 0x3f7fd5) | EFLAGS_FIXED;
    r[R_FOP] = FOP_NONE;
    if ((v & EFLAGS_TF) !== 0) this.events |= EV_TF;
    if (((old ^ v) & EFLAGS_VM) !== 0) this.modeChanged();
    if ((v & EFLAGS_IF) !== 0 && (old & EFLAGS_IF) === 0) this.checkIrq();
  }

  /** Set only the arithmetic flags (SAHF, POPF bits, etc.). */
  setArithFlags(mask: number, v: number): void {
    this.materializeFlags();
    const r = this.r;
    r[R_EFLAGS] = (r[R_EFLAGS] & ~mask) | (v & mask);
  }

  setCF(v: number): void {
    this.materializeFlags();
    const r = this.r;
    r[R_EFLAGS] = (r[R_EFLAGS] & ~EFLAGS_CF) | (v & 1);
  }

  /** Evaluate condition code cc (0..15) as Jcc/SETcc/CMOVcc do. */
  cond(cc: number): boolean {
    let v: number;
    switch (cc >> 1) {
      case 0:
        v = this.getOF();
        break;
      case 1:
        v = this.getCF();
        break;
      case 2:
        v = this.getZF();
        break;
      case 3:
        v = this.getCF() | this.getZF();
        break;
      case 4:
        v = this.getSF();
        break;
      case 5:
        v = this.getPF();
        break;
      case 6:
        v = this.getSF() ^ this.getOF();
        break;
      default:
        v = (this.getSF() ^ this.getOF()) | this.getZF();
        break;
    }
    return (v ^ (cc & 1)) !== 0;
  }

  // ---------------------------------------------------------------- exceptions

  /** Raise an exception: record it and unwind the current instruction. */
  raise(vector: number, error = -1): never {
    this.excVector = vector;
    this.excError = error;
    throw FAULT;
  }

  gp(error = 0): never {
    return this.raise(EXC_GP, error);
  }

  undefinedOpcode(): never {
    if (this.onUnimplemented) {
      const bytes: number[] = [];
      const lin = this.r[R_SEGBASE + CS] + this.eipStart;
      for (let k = 0; k < 8; k++) {
        try {
          bytes.push(this.readLinear8Sup(lin + k));
        } catch {
          break;
        }
      }
      this.onUnimplemented(this.eipStart, bytes);
    }
    return this.raise(EXC_UD);
  }

  // ---------------------------------------------------------------- TLB and physical memory

  flushTlb(global: boolean): void {
    this.fetchEpoch++;
    const tlb = this.tlb;
    const listed = this.tlbListed;
    // Every non-global entry is in tlbList; one there that is global now (refilled so) is in
    // tlbGList too, and stays.
    const list = this.tlbList;
    for (let k = 0; k < this.tlbCount; k++) {
      const page = list[k];
      if ((tlb[page] & TLB_GLOBAL) === 0 || global) tlb[page] = 0;
      listed[page] &= ~TLB_LISTED_N;
    }
    this.tlbCount = 0;
    if (!global) return;
    const glist = this.tlbGList;
    for (let k = 0; k < this.tlbGCount; k++) {
      const page = glist[k];
      tlb[page] = 0;
      listed[page] = 0;
    }
    this.tlbGCount = 0;
  }

  invlpg(lin: number): void {
    this.fetchEpoch++;
    this.tlb[lin >>> 12] = 0;
  }

  /**
   * The board's A20 gate (port 92h, the i8042 output port): when disabled, physical address bit 20
   * is forced to 0. Translations already in the TLB carry the old physical page, so they are all
   * dropped. The decoded-instruction cache is keyed by physical page and needs no flush.
   */
  setA20(enabled: boolean): void {
    const mask = enabled ? -1 : ~(1 << 20);
    if (this.r[R_A20_MASK] === mask) return;
    this.r[R_A20_MASK] = mask;
    this.flushTlb(true);
  }

  /** Install a TLB entry for a linear page; phys is the page-aligned physical address. */
  fillTlb(lin: number, phys: number, perms: number): number {
    const page = lin >>> 12;
    phys &= this.r[R_A20_MASK];
    let e = (phys & ~0xfff) | perms;
    if (!this.bus.isRam(phys & ~0xfff) || (phys >= 0xa0000 && phys < 0xc0000)) e |= TLB_IO;
    else if ((perms & TLB_WRITE) !== 0) {
      // Writes to a page holding decoded or compiled code take the slow path, which invalidates
      // it: the fast paths need not look at codePage.
      const pp = phys >>> 12;
      if (this.codePage[pp] !== 0) e &= ~TLB_WRITE;
      else this.physWritable[pp] = 1;
    }
    if ((perms & TLB_GLOBAL) === 0) {
      if ((this.tlbListed[page] & TLB_LISTED_N) === 0) {
        this.tlbListed[page] |= TLB_LISTED_N;
        this.tlbList[this.tlbCount++] = page;
      }
    } else if ((this.tlbListed[page] & TLB_LISTED_G) === 0) {
      this.tlbListed[page] |= TLB_LISTED_G;
      this.tlbGList[this.tlbGCount++] = page;
    }
    this.tlb[page] = e;
    return e;
  }

  /**
   * Translate a linear address, filling the TLB. `user` selects user-mode permission checks,
   * `write` a write access. Raises #PF on failure. Returns the TLB entry.
   */
  tlbLookup(lin: number, write: boolean, user: boolean): number {
    return translate(this, lin, write, user);
  }

  /**
   * The TLB entry for reading `lin` (walked and filled if need be), or 0 where the read would fault,
   * with nothing else changed: CR2 and the recorded exception stay as they were. Like a processor's
   * instruction prefetch, which may cache translations for fetches that never happen (SDM Vol. 3A
   * 4.10.2.3), the walk may set accessed flags.
   */
  tlbProbe(lin: number, user: boolean): number {
    const r = this.r;
    const cr2 = r[R_CR2];
    const vector = this.excVector;
    const error = this.excError;
    try {
      return translate(this, lin, false, user);
    } catch (err) {
      if (err !== FAULT) throw err;
      r[R_CR2] = cr2;
      this.excVector = vector;
      this.excError = error;
      return 0;
    }
  }

  /**
   * A byte read for a debugger (the monitor's x, memsave and their physical forms, -d in_asm): at a
   * physical address, or at a linear one as a supervisor read through the current page tables, -1
   * where that read would fault — with nothing raised, so CR2 and the recorded exception stay the
   * guest's (see tlbProbe()), as QEMU's debug accesses leave them.
   */
  debugRead8(addr: number, physical = false): number {
    if (physical) return this.physRead8(addr >>> 0);
    const e = this.tlbProbe(addr | 0, false);
    return e === 0 ? -1 : this.physRead8((e & ~0xfff) | (addr & 0xfff));
  }

  /** Write to physical RAM from outside the CPU (DMA, loaders): keeps the code cache coherent. */
  notifyRamWrite(phys: number, len: number): void {
    const end = phys + len;
    for (let p = phys >>> 12; p <= (end - 1) >>> 12; p++)
      if (this.codePage[p]) {
        const from = Math.max(phys, p << 12);
        this.codeWritten(from, Math.min(end, (p + 1) << 12) - from);
      }
  }

  /**
   * Physical RAM page `page` now holds decoded or compiled code: TLB entries that let writes to it
   * take a fast path lose their write rights (the next write goes through a slow path, which sees
   * codePage and invalidates the code).
   */
  markCodePage(page: number): void {
    this.codePage[page] = 1;
    if (this.physWritable[page] === 0) return;
    this.physWritable[page] = 0;
    this.dropWriteRights(this.tlbList, this.tlbCount, page);
    this.dropWriteRights(this.tlbGList, this.tlbGCount, page);
  }

  /** Clear the write right of the entries among list[0..count) that map physical page `page`. */
  private dropWriteRights(list: Int32Array, count: number, page: number): void {
    const tlb = this.tlb;
    for (let k = 0; k < count; k++) {
      const lin = list[k];
      const e = tlb[lin];
      if ((e & TLB_WRITE) !== 0 && e >>> 12 === page) tlb[lin] = e & ~TLB_WRITE;
    }
  }

  /**
   * Physical [phys, phys + len), within one page that holds code (codePage), is being written: the
   * decoded instructions overlapping those bytes are dropped, and the accelerator drops its blocks
   * translated from them (QEMU invalidates the translations of a written range likewise). The rest
   * of the page's code stays valid: a patched call site (Linux's text_poke, static keys) or data
   * sharing a page with code no longer throws the whole page's decoding and translations away.
   * The page stops being a code page, and gets its write rights back, once nothing is left in it.
   */
  codeWritten(phys: number, len: number): void {
    const page = phys >>> 12;
    let from = phys & 0xfff;
    let to = Math.min(0x1000, from + len);
    // A page written again and again beside its code is data now, or data and code mixed: its
    // stores all take the slow path while anything stays decoded there. After CODE_WRITE_MISSES
    // such writes everything in the page goes, and with it the slow path, until code runs there again.
    const whole = this.codeWriteMisses[page] >= CODE_WRITE_MISSES;
    if (whole) {
      from = 0;
      to = 0x1000;
    }
    this.fetchEpoch++;
    let dropped = false;
    const insns = this.codeCache[page];
    if (insns !== undefined) {
      // An instruction is at most 15 bytes long: those starting up to 14 bytes before `from` may
      // reach into the write, and those up to 29 before may fall through to one that does (their
      // Insn.link would name a dropped instruction).
      let left = this.codeCount[page];
      for (let o = Math.max(0, from - 29); o < to; o++) {
        const chunk = insns[o >>> CODE_CHUNK_BITS];
        if (chunk === undefined) {
          o |= CODE_CHUNK_MASK; // on to the next chunk
          continue;
        }
        const ins = chunk[o & CODE_CHUNK_MASK];
        if (ins === undefined) continue;
        if (o + ins.len > from) {
          chunk[o & CODE_CHUNK_MASK] = undefined;
          left--;
          dropped = true;
        } else ins.link = null;
      }
      this.codeCount[page] = left;
      if (left === 0) this.codeCache[page] = undefined;
    }
    const hook = this.onCodeWrite !== null ? this.onCodeWrite(page, from, to) : 0;
    if ((hook & CODE_WRITE_DROPPED) !== 0) dropped = true;
    if ((hook & CODE_WRITE_KEPT) === 0 && this.codeCache[page] === undefined) this.codePage[page] = 0;
    if (whole || this.codePage[page] === 0) this.codeWriteMisses[page] = 0;
    else if (!dropped) this.codeWriteMisses[page]++;
  }

  /**
   * Told when guest code at [from, to) of physical page `page` is written (the accelerator drops the
   * blocks translated from it); returns CODE_WRITE_* bits: whether it dropped any, and whether
   * compiled code still depends on the page.
   */
  onCodeWrite: ((page: number, from: number, to: number) => number) | null = null;

  /** Drop every decoded instruction (e.g. after a reset or a snapshot load). */
  flushCodeCache(): void {
    this.fetchEpoch++;
    this.codeCache.fill(undefined);
    this.codeCount.fill(0);
    this.codeWriteMisses.fill(0);
    this.codePage.fill(0);
  }

  physRead8(addr: number): number {
    if (addr >>> 0 < this.ramSize && !(addr >= 0xa0000 && addr < 0xc0000)) return this.ram[addr];
    return this.bus.mmioRead(addr, 1) & 0xff;
  }

  physRead32(addr: number): number {
    if ((addr & 3) === 0 && addr >>> 0 < this.ramSize && !(addr >= 0xa0000 && addr < 0xc0000))
      return this.ram32[addr >>> 2];
    return (
      this.physRead8(addr) |
      (this.physRead8(addr + 1) << 8) |
      (this.physRead8(addr + 2) << 16) |
      (this.physRead8(addr + 3) << 24)
    );
  }

  physWrite8(addr: number, v: number): void {
    if (addr >>> 0 < this.ramSize && !(addr >= 0xa0000 && addr < 0xc0000)) {
      if (this.codePage[addr >>> 12]) this.codeWritten(addr, 1);
      this.ram[addr] = v;
    } else this.bus.mmioWrite(addr, 1, v & 0xff);
  }

  physWrite32(addr: number, v: number): void {
    if ((addr & 3) === 0 && addr >>> 0 < this.ramSize && !(addr >= 0xa0000 && addr < 0xc0000)) {
      if (this.codePage[addr >>> 12]) this.codeWritten(addr, 4);
      this.ram32[addr >>> 2] = v;
    } else {
      this.physWrite8(addr, v);
      this.physWrite8(addr + 1, v >>> 8);
      this.physWrite8(addr + 2, v >>> 16);
      this.physWrite8(addr + 3, v >>> 24);
    }
  }

  // ---------------------------------------------------------------- linear memory (current privilege)

  rd8(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & (this.rNeed | TLB_IO)) === this.rNeed) return this.ram[(e & ~0xfff) | (lin & 0xfff)];
    return this.rd8Slow(lin, this.r[R_CPL] === 3);
  }

  rd16(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & (this.rNeed | TLB_IO)) === this.rNeed && (lin & 0xfff) < 0xfff) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      return (p & 1) === 0 ? this.ram16[p >>> 1] : this.ram[p] | (this.ram[p + 1] << 8);
    }
    return this.rd16Slow(lin, this.r[R_CPL] === 3);
  }

  rd32(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & (this.rNeed | TLB_IO)) === this.rNeed && (lin & 0xfff) < 0xffd) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      if ((p & 3) === 0) return this.ram32[p >>> 2];
      const m = this.ram;
      return m[p] | (m[p + 1] << 8) | (m[p + 2] << 16) | (m[p + 3] << 24);
    }
    return this.rd32Slow(lin, this.r[R_CPL] === 3);
  }

  wr8(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & (this.wNeed | TLB_IO)) === this.wNeed) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      this.ram[p] = v;
      return;
    }
    this.wr8Slow(lin, v, this.r[R_CPL] === 3);
  }

  wr16(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & (this.wNeed | TLB_IO)) === this.wNeed && (lin & 0xfff) < 0xfff) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      if ((p & 1) === 0) this.ram16[p >>> 1] = v;
      else {
        this.ram[p] = v;
        this.ram[p + 1] = v >>> 8;
      }
      return;
    }
    this.wr16Slow(lin, v, this.r[R_CPL] === 3);
  }

  wr32(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & (this.wNeed | TLB_IO)) === this.wNeed && (lin & 0xfff) < 0xffd) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      if ((p & 3) === 0) this.ram32[p >>> 2] = v;
      else {
        const m = this.ram;
        m[p] = v;
        m[p + 1] = v >>> 8;
        m[p + 2] = v >>> 16;
        m[p + 3] = v >>> 24;
      }
      return;
    }
    this.wr32Slow(lin, v, this.r[R_CPL] === 3);
  }

  /** Reads with write intent (read-modify-write): fault as a write would, before anything changes. */
  rdw8(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & (this.wNeed | TLB_IO)) === this.wNeed) return this.ram[(e & ~0xfff) | (lin & 0xfff)];
    const user = this.r[R_CPL] === 3;
    this.tlbLookup(lin, true, user);
    return this.rd8Slow(lin, user);
  }

  rdw16(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & (this.wNeed | TLB_IO)) === this.wNeed && (lin & 0xfff) < 0xfff) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      return this.ram[p] | (this.ram[p + 1] << 8);
    }
    const user = this.r[R_CPL] === 3;
    this.tlbLookup(lin, true, user);
    this.tlbLookup(lin + 1, true, user);
    return this.rd16Slow(lin, user);
  }

  rdw32(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & (this.wNeed | TLB_IO)) === this.wNeed && (lin & 0xfff) < 0xffd) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      if ((p & 3) === 0) return this.ram32[p >>> 2];
      const m = this.ram;
      return m[p] | (m[p + 1] << 8) | (m[p + 2] << 16) | (m[p + 3] << 24);
    }
    const user = this.r[R_CPL] === 3;
    this.tlbLookup(lin, true, user);
    this.tlbLookup((lin + 3) & ~0xfff, true, user); // CR2 = first byte of the second page
    return this.rd32Slow(lin, user);
  }

  // Slow paths: TLB miss, MMIO, page-crossing, or an explicit privilege.
  rd8Slow(lin: number, user: boolean): number {
    const e = this.tlbLookup(lin, false, user);
    const p = (e & ~0xfff) | (lin & 0xfff);
    if ((e & TLB_IO) !== 0) return this.bus.mmioRead(p, 1) & 0xff;
    return this.ram[p];
  }

  rd16Slow(lin: number, user: boolean): number {
    if ((lin & 0xfff) === 0xfff) return this.rd8Slow(lin, user) | (this.rd8Slow(lin + 1, user) << 8);
    const e = this.tlbLookup(lin, false, user);
    const p = (e & ~0xfff) | (lin & 0xfff);
    if ((e & TLB_IO) !== 0) return this.bus.mmioRead(p, 2) & 0xffff;
    return this.ram[p] | (this.ram[p + 1] << 8);
  }

  rd32Slow(lin: number, user: boolean): number {
    if ((lin & 0xfff) > 0xffc) {
      // Check both pages before reading either, so a fault reports the right CR2 and nothing is half-read.
      this.tlbLookup(lin, false, user);
      this.tlbLookup((lin + 3) & ~0xfff, false, user); // CR2 = first byte of the second page
      return (
        this.rd8Slow(lin, user) |
        (this.rd8Slow(lin + 1, user) << 8) |
        (this.rd8Slow(lin + 2, user) << 16) |
        (this.rd8Slow(lin + 3, user) << 24)
      );
    }
    const e = this.tlbLookup(lin, false, user);
    const p = (e & ~0xfff) | (lin & 0xfff);
    if ((e & TLB_IO) !== 0) return this.bus.mmioRead(p, 4) | 0;
    const m = this.ram;
    return m[p] | (m[p + 1] << 8) | (m[p + 2] << 16) | (m[p + 3] << 24);
  }

  wr8Slow(lin: number, v: number, user: boolean): void {
    const e = this.tlbLookup(lin, true, user);
    const p = (e & ~0xfff) | (lin & 0xfff);
    if ((e & TLB_IO) !== 0) this.bus.mmioWrite(p, 1, v & 0xff);
    else {
      if (this.codePage[p >>> 12]) this.codeWritten(p, 1);
      this.ram[p] = v;
    }
  }

  wr16Slow(lin: number, v: number, user: boolean): void {
    if ((lin & 0xfff) === 0xfff) {
      this.tlbLookup(lin, true, user);
      this.tlbLookup(lin + 1, true, user);
      this.wr8Slow(lin, v, user);
      this.wr8Slow(lin + 1, v >>> 8, user);
      return;
    }
    const e = this.tlbLookup(lin, true, user);
    const p = (e & ~0xfff) | (lin & 0xfff);
    if ((e & TLB_IO) !== 0) this.bus.mmioWrite(p, 2, v & 0xffff);
    else {
      if (this.codePage[p >>> 12]) this.codeWritten(p, 2);
      this.ram[p] = v;
      this.ram[p + 1] = v >>> 8;
    }
  }

  wr32Slow(lin: number, v: number, user: boolean): void {
    if ((lin & 0xfff) > 0xffc) {
      this.tlbLookup(lin, true, user);
      this.tlbLookup((lin + 3) & ~0xfff, true, user); // CR2 = first byte of the second page
      for (let k = 0; k < 4; k++) this.wr8Slow(lin + k, v >>> (8 * k), user);
      return;
    }
    const e = this.tlbLookup(lin, true, user);
    const p = (e & ~0xfff) | (lin & 0xfff);
    if ((e & TLB_IO) !== 0) this.bus.mmioWrite(p, 4, v);
    else {
      if (this.codePage[p >>> 12]) this.codeWritten(p, 4);
      const m = this.ram;
      m[p] = v;
      m[p + 1] = v >>> 8;
      m[p + 2] = v >>> 16;
      m[p + 3] = v >>> 24;
    }
  }

  /**
   * Supervisor-privilege accesses for system structures (GDT, IDT, TSS) and the stack switch of an
   * interrupt (SDM Vol. 3A, 4.6.1). Every valid TLB entry allows supervisor reads, and writes with
   * TLB_SUP_WRITE (only once the page is dirty, never on a code page): the fast paths need no walk.
   */
  readLinear8Sup(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & (TLB_VALID | TLB_IO)) === TLB_VALID) return this.ram[(e & ~0xfff) | (lin & 0xfff)];
    return this.rd8Slow(lin, false);
  }
  readLinear16Sup(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & (TLB_VALID | TLB_IO)) === TLB_VALID && (lin & 0xfff) < 0xfff) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      return this.ram[p] | (this.ram[p + 1] << 8);
    }
    return this.rd16Slow(lin, false);
  }
  readLinear32Sup(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & (TLB_VALID | TLB_IO)) === TLB_VALID && (lin & 0xfff) < 0xffd) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      if ((p & 3) === 0) return this.ram32[p >>> 2];
      const m = this.ram;
      return m[p] | (m[p + 1] << 8) | (m[p + 2] << 16) | (m[p + 3] << 24);
    }
    return this.rd32Slow(lin, false);
  }
  writeLinear8Sup(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & (TLB_VALID | TLB_SUP_WRITE | TLB_IO)) === (TLB_VALID | TLB_SUP_WRITE)) {
      this.ram[(e & ~0xfff) | (lin & 0xfff)] = v;
      return;
    }
    this.wr8Slow(lin, v, false);
  }
  writeLinear16Sup(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & (TLB_VALID | TLB_SUP_WRITE | TLB_IO)) === (TLB_VALID | TLB_SUP_WRITE) && (lin & 0xfff) < 0xfff) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      this.ram[p] = v;
      this.ram[p + 1] = v >>> 8;
      return;
    }
    this.wr16Slow(lin, v, false);
  }
  writeLinear32Sup(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & (TLB_VALID | TLB_SUP_WRITE | TLB_IO)) === (TLB_VALID | TLB_SUP_WRITE) && (lin & 0xfff) < 0xffd) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      if ((p & 3) === 0) this.ram32[p >>> 2] = v;
      else {
        const m = this.ram;
        m[p] = v;
        m[p + 1] = v >>> 8;
        m[p + 2] = v >>> 16;
        m[p + 3] = v >>> 24;
      }
      return;
    }
    this.wr32Slow(lin, v, false);
  }

  // ---------------------------------------------------------------- segmented access

  /** Linear address of seg:off for a read of `size` bytes, with the segment's limit/type checks. */
  segRead(seg: number, off: number, size: number): number {
    const r = this.r;
    if (this.segFlat[seg] === 0) this.checkSeg(seg, off, size, false);
    return (r[R_SEGBASE + seg] + off) | 0;
  }

  segWrite(seg: number, off: number, size: number): number {
    const r = this.r;
    if (this.segFlat[seg] === 0) this.checkSeg(seg, off, size, true);
    return (r[R_SEGBASE + seg] + off) | 0;
  }

  /** Segment limit and type checks (SDM Vol. 3A, 5.3 and 5.4). */
  checkSeg(seg: number, off: number, size: number, write: boolean): void {
    const r = this.r;
    const attr = r[R_SEGATTR + seg];
    const fail = seg === SS ? EXC_SS : EXC_GP;
    if (this.protectedMode && !this.v86) {
      if ((attr & ATTR_P) === 0) this.raise(fail, 0);
      const type = attr & 0xf;
      if (write) {
        if ((attr & 0x10) === 0 || (type & 0xa) !== 0x2) this.raise(fail, 0);
      } else if ((attr & 0x10) === 0 || (type & 0xa) === 0x8) this.raise(fail, 0); // execute-only code
    }
    const limit = r[R_SEGLIMIT + seg] >>> 0;
    const first = off >>> 0;
    const last = (off + size - 1) >>> 0;
    const type = attr & 0xf;
    if ((attr & 0x10) !== 0 && (type & 0xc) === 0x4) {
      // Expand-down data segment: valid offsets are limit+1 .. (B ? 4G-1 : 64K-1).
      const upper = (attr & ATTR_DB) !== 0 ? 0xffffffff : 0xffff;
      if (first <= limit || last > upper || last < first) this.raise(fail, 0);
    } else if (last > limit || last < first) this.raise(fail, 0);
  }

  // ---------------------------------------------------------------- stack

  get sp(): number {
    return this.ss32 ? this.r[4] : this.r[4] & 0xffff;
  }

  setSp(v: number): void {
    if (this.ss32) this.r[4] = v;
    else this.r16[8] = v;
  }

  push16(v: number): void {
    const sp = (this.sp - 2) & (this.ss32 ? -1 : 0xffff);
    this.wr16(this.segWrite(SS, sp, 2), v);
    this.setSp(sp);
  }

  push32(v: number): void {
    const sp = (this.sp - 4) & (this.ss32 ? -1 : 0xffff);
    this.wr32(this.segWrite(SS, sp, 4), v);
    this.setSp(sp);
  }

  pop16(): number {
    const sp = this.sp;
    const v = this.rd16(this.segRead(SS, sp, 2));
    this.setSp(sp + 2);
    return v;
  }

  pop32(): number {
    const sp = this.sp;
    const v = this.rd32(this.segRead(SS, sp, 4));
    this.setSp(sp + 4);
    return v;
  }

  // ---------------------------------------------------------------- effective addresses

  /** Offset of a ModRM memory operand. */
  eaOffset(i: Insn): number {
    const r = this.r;
    let a = i.disp;
    if (i.base >= 0) a += r[i.base];
    if (i.index >= 0) a += r[i.index] << i.scale;
    return i.flags & 2 ? a | 0 : a & 0xffff;
  }

  /** Linear address of a memory operand for reading `size` bytes. */
  eaR(i: Insn, size: number): number {
    const off = this.eaOffset(i);
    if (this.segFlat[i.seg] === 0) this.checkSeg(i.seg, off, size, false);
    return (this.r[R_SEGBASE + i.seg] + off) | 0;
  }

  /** Linear address of a memory operand for writing (or read-modify-write) `size` bytes. */
  eaW(i: Insn, size: number): number {
    const off = this.eaOffset(i);
    if (this.segFlat[i.seg] === 0) this.checkSeg(i.seg, off, size, true);
    return (this.r[R_SEGBASE + i.seg] + off) | 0;
  }

  // ---------------------------------------------------------------- registers

  getReg8(n: number): number {
    return this.r8[REG8_OFF[n]];
  }

  setReg8(n: number, v: number): void {
    this.r8[REG8_OFF[n]] = v;
  }

  getReg16(n: number): number {
    return this.r16[n << 1];
  }

  setReg16(n: number, v: number): void {
    this.r16[n << 1] = v;
  }

  // ---------------------------------------------------------------- run loop

  /** Request run() to return at the next instruction boundary (from a device callback or timer). */
  requestStop(): void {
    this.events |= EV_STOP;
  }

  /** The board calls this when the INTR line may have changed. */
  checkIrq(): void {
    const ic = this.bus.intc;
    if (ic?.hasInterrupt()) this.events |= EV_IRQ;
  }

  raiseNmi(): void {
    this.events |= EV_NMI;
  }

  /**
   * The decode cache's instruction at linear `lin` for the current decode mode (its page mapped in
   * the TLB with the rights a fetch needs), or null. The accelerator's translator reads hot code the
   * interpreter already decoded from here instead of decoding it again, and near a page's end asks
   * here whether an instruction is known to end inside its page (the cache keeps no instruction
   * straddling two pages) before decoding one, which could read (and fault on) the next page.
   * Shared: not to be modified.
   */
  cachedInsn(lin: number): Insn | null {
    const e = this.tlb[lin >>> 12];
    if ((e & (this.rNeed | TLB_IO)) !== this.rNeed) return null;
    const phys = (e & ~0xfff) | (lin & 0xfff);
    const ins = this.codeCache[phys >>> 12]?.[(phys & 0xfff) >>> CODE_CHUNK_BITS]?.[phys & CODE_CHUNK_MASK];
    return ins !== undefined && ins.mode === this.codeMode ? ins : null;
  }

  private fetchInsn(): Insn {
    const r = this.r;
    const lin = (r[R_SEGBASE + CS] + r[R_EIP]) | 0;
    let e = this.tlb[lin >>> 12];
    if ((e & (this.rNeed | TLB_IO)) !== this.rNeed) {
      e = this.tlbLookup(lin, false, r[R_CPL] === 3);
      if ((e & TLB_IO) !== 0) return decode(this, this.scratch, lin, this.codeMode);
    }
    const phys = (e & ~0xfff) | (lin & 0xfff);
    const page = phys >>> 12;
    let insns = this.codeCache[page];
    if (insns !== undefined) {
      const chunk = insns[(phys & 0xfff) >>> CODE_CHUNK_BITS];
      if (chunk !== undefined) {
        const ins = chunk[phys & CODE_CHUNK_MASK];
        if (ins !== undefined && ins.mode === this.codeMode) return ins;
      }
    }
    // Instructions that straddle a page boundary are decoded every time (their second page may change).
    if ((lin & 0xfff) > 0xff0) {
      const ins = decode(this, this.scratch, lin, this.codeMode);
      if ((lin & 0xfff) + ins.len <= 0x1000) return this.cacheInsn(page, phys, ins);
      return ins;
    }
    if (insns === undefined) {
      insns = new Array(CODE_CHUNKS);
      this.codeCache[page] = insns;
      this.markCodePage(page);
    }
    const ins = new Insn();
    decode(this, ins, lin, this.codeMode);
    // The decode may have written nothing, but a fault during it would have thrown before here.
    this.storeInsn(insns, page, phys, ins);
    return ins;
  }

  private cacheInsn(page: number, phys: number, src: Insn): Insn {
    let insns = this.codeCache[page];
    if (insns === undefined) {
      insns = new Array(CODE_CHUNKS);
      this.codeCache[page] = insns;
      this.markCodePage(page);
    }
    const ins = new Insn();
    Object.assign(ins, src);
    ins.link = null;
    ins.tlink = null;
    ins.tlinkEip = -1;
    this.storeInsn(insns, page, phys, ins);
    return ins;
  }

  private storeInsn(insns: (CodeChunk | undefined)[], page: number, phys: number, ins: Insn): void {
    const k = (phys & 0xfff) >>> CODE_CHUNK_BITS;
    let chunk = insns[k];
    if (chunk === undefined) {
      chunk = new Array(CODE_CHUNK);
      insns[k] = chunk;
    }
    if (chunk[phys & CODE_CHUNK_MASK] === undefined) this.codeCount[page]++;
    chunk[phys & CODE_CHUNK_MASK] = ins;
  }

  /**
   * Execute up to `budget` instructions. Returns an EXIT_* code; `budget` is reduced by what ran
   * (see lastRun).
   */
  lastRun = 0;
  run(budget: number): number {
    const r = this.r;
    // icount is the only counter: counted live, since the clock reads it while devices are accessed.
    const start = this.icount;
    const end = start + budget;
    if (this.events !== 0 || this.halted) {
      const ex = this.handleEvents(false);
      if (ex >= 0) {
        this.lastRun = 0;
        return ex;
      }
    }
    for (;;) {
      // The instruction that ran last, where it would have fallen through to, and the fetch epoch
      // then: when execution does fall through, the decoded successor is taken from its link.
      let prev: Insn | null = null;
      let prevEip = 0;
      let prevNext = 0;
      let prevEpoch = 0;
      try {
        while (this.icount < end) {
          this.icount++;
          const eip = r[R_EIP];
          this.eipStart = eip;
          let ins: Insn;
          if (prev !== null && this.fetchEpoch === prevEpoch) {
            const l = prev.link;
            if (eip === prevNext && l !== null) ins = l;
            else if (eip === prev.tlinkEip && prev.tlinkEpoch === prevEpoch) ins = prev.tlink as Insn;
            else {
              ins = this.fetchInsn();
              // Only between decode-cache entries (not the scratch a straddling instruction is
              // decoded into) and within a page: the next linear page may map elsewhere through
              // another alias of this physical page. A fall-through is `link`, anything else (a
              // branch's last target) `tlink`.
              const base = r[R_SEGBASE + CS];
              if (
                prev !== this.scratch &&
                ins !== this.scratch &&
                (((base + prevEip) ^ (base + eip)) & ~0xfff) === 0
              ) {
                if (eip === prevNext) prev.link = ins;
                else {
                  prev.tlink = ins;
                  prev.tlinkEip = eip;
                  prev.tlinkEpoch = prevEpoch;
                }
              }
            }
          } else ins = this.fetchInsn();
          const next = (eip + ins.len) & this.eipMask;
          r[R_EIP] = next;
          prev = ins;
          prevEip = eip;
          prevNext = next;
          prevEpoch = this.fetchEpoch;
          ins.h(this, ins);
          if (this.events !== 0) {
            const ex = this.handleEvents(true);
            if (ex >= 0) {
              this.lastRun = this.icount - start;
              return ex;
            }
          }
          // The accelerator interprets cold code up to the next control transfer, where a block may
          // start, or up to the next page: straight-line code goes on there, and a block may start
          // at its first instruction (none can start at the instruction straddling the two).
          if (
            this.stopAtBranch &&
            (r[R_EIP] !== next || ((next ^ eip) & ~0xfff) !== 0) &&
            (this.atBranch === null || this.atBranch(r[R_EIP]))
          )
            break;
        }
        this.lastRun = this.icount - start;
        return EXIT_BUDGET;
      } catch (e) {
        if (e !== FAULT) throw e;
        r[R_EIP] = this.eipStart;
        if (this.trapExceptions) {
          this.lastRun = this.icount - start;
          return EXIT_EXCEPTION;
        }
        if (!this.deliverException()) {
          this.lastRun = this.icount - start;
          return EXIT_SHUTDOWN;
        }
        // A faulting instruction does not complete: no single-step trap for it; the handler starts
        // with TF as the delivery left it (clear, unless a task gate loaded a task with TF set).
        this.stepping = (r[R_EFLAGS] & EFLAGS_TF) !== 0;
        if (this.stepping) this.events |= EV_TF;
        if (this.stopAtBranch) {
          this.lastRun = this.icount - start;
          return EXIT_BUDGET;
        }
      }
    }
  }

  /**
   * Execute the one instruction at EIP for compiled code that cannot translate it: no event handling
   * around it, and a guest fault propagates as FAULT with eipStart set (the caller delivers it).
   * Counted in icount at once, so the clock sees it (the engine leaves it out of the block's count).
   */
  step(): void {
    const r = this.r;
    const eip = r[R_EIP];
    this.eipStart = eip;
    const ins = this.fetchInsn();
    r[R_EIP] = (eip + ins.len) & this.eipMask;
    ins.h(this, ins);
    this.icount++;
  }

  /** Deliver the exception recorded by raise(), with #DF / triple-fault escalation. Returns false on shutdown. */
  deliverException(): boolean {
    let vector = this.excVector;
    let error = this.excError;
    for (;;) {
      const prev = this.delivering;
      if (prev >= 0) {
        if (prev === 8) return false; // fault while delivering #DF: triple fault → shutdown
        if (isDoubleFault(prev, vector)) {
          vector = 8;
          error = 0;
        }
      }
      this.delivering = vector;
      try {
        this.onInterrupt?.(vector, error, false);
        deliverInterrupt(this, vector, false, error, this.r[R_EIP]);
        this.delivering = -1;
        this.halted = false;
        return true;
      } catch (e) {
        if (e !== FAULT) {
          this.delivering = -1;
          throw e;
        }
        vector = this.excVector;
        error = this.excError;
        // Keep `delivering` set so the next round classifies the nested fault.
      }
    }
  }

  /**
   * Events at an instruction boundary, in the priority order of SDM Vol. 3A, 6.9: a single-step trap
   * of the instruction that just completed, then NMI, then INTR. `afterInsn` is false when run() is
   * entered (no instruction completed since the last call). Returns an exit code, or -1 to keep running.
   */
  private handleEvents(afterInsn: boolean): number {
    const r = this.r;
    let ev = this.events;
    this.events &= ~EV_HALT;
    // The interrupt shadow after STI / MOV SS / POP SS covers the next instruction (SDM Vol. 3A, 6.8.3):
    // R_INHIBIT_IRQ is 1 right after the instruction that set it, 2 while the shadowed one runs.
    let shadow = false;
    if ((ev & EV_INHIBIT) !== 0) {
      if (!afterInsn) shadow = true;
      else if (r[R_INHIBIT_IRQ] === 1) {
        r[R_INHIBIT_IRQ] = 2;
        shadow = true;
      } else {
        r[R_INHIBIT_IRQ] = 0;
        ev = this.events &= ~EV_INHIBIT;
      }
    }
    if ((ev & EV_TF) !== 0) {
      if (afterInsn && this.stepping) {
        // Single-step trap after the instruction (SDM Vol. 3B, 17.3.1.4): DR6.BS, EIP of the next one.
        this.stepping = false;
        this.dr[6] |= 0x4000;
        this.halted = false;
        if (!this.deliverEvent(1)) return EXIT_SHUTDOWN;
      }
      this.stepping = (r[R_EFLAGS] & EFLAGS_TF) !== 0;
      if (!this.stepping) this.events &= ~EV_TF;
    }
    if (!shadow) {
      if ((ev & EV_NMI) !== 0 && !this.nmiMasked) {
        this.events &= ~EV_NMI;
        this.nmiMasked = true;
        this.halted = false;
        if (!this.deliverEvent(2)) return EXIT_SHUTDOWN;
      }
      if ((this.events & EV_IRQ) !== 0) {
        const ic = this.bus.intc;
        // With IF clear the request waits; setting IF (STI, POPF, IRET, task switch) calls checkIrq().
        if (!ic || !ic.hasInterrupt() || (r[R_EFLAGS] & EFLAGS_IF) === 0) this.events &= ~EV_IRQ;
        else {
          this.events &= ~EV_IRQ;
          const vector = ic.acknowledge();
          this.halted = false;
          this.onInterrupt?.(vector, -1, true);
          if (!this.deliverEvent(vector)) return EXIT_SHUTDOWN;
          this.checkIrq();
        }
      }
    }
    if ((this.events & EV_YIELD) !== 0) {
      this.events &= ~EV_YIELD;
      // Unless an interrupt was delivered on the way back to user code.
      if (r[R_CPL] === 3 && !this.halted) return EXIT_BUDGET;
    }
    if ((this.events & EV_STOP) !== 0) {
      this.events &= ~EV_STOP;
      return this.halted ? EXIT_HLT : EXIT_STOP;
    }
    if (this.halted) return EXIT_HLT;
    return -1;
  }

  /** Deliver an interrupt/trap event (NMI, INTR, single-step) at a boundary; false on shutdown. */
  private deliverEvent(vector: number): boolean {
    try {
      deliverInterrupt(this, vector, false, -1, this.r[R_EIP]);
    } catch (e) {
      if (e !== FAULT) throw e;
      if (!this.deliverException()) return false;
    }
    // The handler starts with TF clear (or as a task gate's TSS has it).
    this.stepping = false;
    if ((this.r[R_EFLAGS] & EFLAGS_TF) !== 0) this.events |= EV_TF;
    return true;
  }

  /** Convenience for tests and the monitor: segment registers by name. */
  static readonly SEG_NAMES = ["es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr"];
  static readonly SEGS = [ES, CS, SS, DS, FS, GS];
}

/** Double-fault conditions (SDM Vol. 3A, Table 6-5). */
function isDoubleFault(first: number, second: number): boolean {
  const contributory = (v: number) => v === 0 || (v >= 10 && v <= 13);
  if (contributory(first) && contributory(second)) return true;
  if (first === 14 && (contributory(second) || second === 14)) return true;
  return false;
}

export { DS, EFLAGS_AF, EFLAGS_CF, EFLAGS_OF, EFLAGS_PF, EFLAGS_SF, EFLAGS_ZF };
