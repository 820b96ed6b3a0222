// The kqemu translator: a straight-line run of guest instructions (a block, within one page) to one
// WebAssembly function. Guest registers and lazy flags live in the shared state block, exactly as
// the interpreter keeps them, so both engines can run the same guest alternately; inside a block
// they are cached in wasm locals and written back at every exit, slow path and helper call. Memory accesses
// go through an inlined software-TLB check (or none, inside a checked frame window); misses, MMIO,
// page-crossing accesses and stores to pages holding code end the block before the instruction,
// which the interpreter then runs and which may raise a guest fault there. Every instruction
// writes its registers only after its memory accesses, and exits record the instruction's EIP, so
// the guest state is exact at any fault; a helper that may fault (the interpreter helper) raises
// it as a JS exception that unwinds the wasm frame, after the state was written back.
import type { CPU } from "../../cpu/cpu.ts";
import { decode } from "../../cpu/decoder.ts";
import { IF_AD32, IF_LOCK, IF_OP32, IF_REP, IF_REPNE, Insn } from "../../cpu/insn.ts";
import { pushPopSeg } from "../../cpu/ops/data-ops.ts";
import {
  ATTR_P,
  CS,
  DS,
  EFLAGS_AF,
  EFLAGS_ARITH,
  EFLAGS_CF,
  EFLAGS_DF,
  EFLAGS_IF,
  EFLAGS_NT,
  EFLAGS_RF,
  EFLAGS_TF,
  EFLAGS_VM,
  ES,
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
  R_CPL,
  R_CR0,
  R_CR2,
  R_CR3,
  R_CR4,
  R_EFLAGS,
  R_EIP,
  R_FA,
  R_FB,
  R_FOP,
  R_FRES,
  R_FSIZE,
  R_GDTR_BASE,
  R_GDTR_LIMIT,
  R_IDTR_BASE,
  R_IDTR_LIMIT,
  R_KQ_BUDGET,
  R_KQ_DONE,
  R_KQ_INBLOCK,
  R_KQ_WINFAIL,
  R_SEGATTR,
  R_SEGBASE,
  R_SEGFAST,
  R_SEGFLAT,
  R_SEGLIMIT,
  R_SEGRAW,
  R_SEGRAWCPL,
  R_SEL,
  SS,
  TLB_IO,
  TLB_SUP_WRITE,
  TLB_VALID,
  TR,
} from "../../cpu/state.ts";
import { CODEPAGE_BYTE_OFFSET, RAM_BYTE_OFFSET, TLB_BYTE_OFFSET } from "../../machine/memory.ts";
import * as W from "./wasm-builder.ts";
import { FuncBuilder } from "./wasm-builder.ts";

/**
 * Helper functions the generated code calls, by index: slots of a table the engine fills with small
 * wasm functions that call the JavaScript ones, called with call_indirect. A module importing these
 * JavaScript functions costs V8 (Node 20) about 0.45 ms more to compile and instantiate (import
 * wrappers are made per module; the boot compiles ~480 modules); the indirect call costs ~3 ns more
 * per helper call (measured: 8.9 vs 6.1 ns).
 */
export const IMPORTS: W.ImportFunc[] = [
  { name: "cond", params: 1, results: 1 },
  { name: "interp", params: 2, results: 1 },
  { name: "setcfof", params: 2, results: 0 },
  { name: "crossmiss", params: 1, results: 1 },
  { name: "setcf", params: 1, results: 0 },
  { name: "getflags", params: 0, results: 1 },
  { name: "unshadow", params: 0, results: 0 },
  { name: "setzf", params: 1, results: 0 },
  { name: "sti", params: 0, results: 1 },
  { name: "rdtsc", params: 0, results: 0 },
  { name: "sysstate", params: 1, results: 1 },
  { name: "popf", params: 1, results: 1 },
];
const IMP_COND = 0;
const IMP_INTERP = 1;
const IMP_SETCFOF = 2;
const IMP_CROSSMISS = 3;
const IMP_SETCF = 4;
const IMP_GETFLAGS = 5;
const IMP_UNSHADOW = 6;
const IMP_SETZF = 7;
const IMP_STI = 8;
const IMP_RDTSC = 9;
/**
 * For INT n and IRET compiled whole: SYS_FLAGS returns EFLAGS made concrete (the lazy flags folded
 * in); SYS_INT and SYS_IRET bring the CPU's derived state (CPL's access rights, CS's decode mode,
 * SS's size...) up to the state block the block wrote, then return the pending events.
 */
const IMP_SYSSTATE = 10;
/** POPF: EFLAGS from the popped value as the interpreter takes it (CPL, IOPL); 1 when an event is pending. */
const IMP_POPF = 11;
export const SYS_FLAGS = 0;
export const SYS_INT = 1;
export const SYS_IRET = 2;
/** Type index of each helper's signature in a block module (see buildBlockModule()). */
const IMP_TYPE = W.typeIndices(IMPORTS);

/** Call helper `k` (an index into IMPORTS) through the helpers' table. */
function callHelper(f: FuncBuilder, k: number): FuncBuilder {
  return f.callSlot(k, IMP_TYPE[k]);
}

/** A module of translated blocks (exported as f0, f1...); it imports `env.mem` and `env.tbl`. */
export function buildBlockModule(
  funcs: FuncBuilder[],
  memPages: number,
  names?: string[],
): Uint8Array<ArrayBuffer> {
  return W.buildModule([], funcs, memPages, true, names, IMPORTS);
}

// Lazily declared locals (Translator.lazyL): the named ones, then EAX..EDI's.
const LZ_LIN = 0;
const LZ_E = 1;
const LZ_A = 2;
const LZ_B = 3;
const LZ_RES = 4;
const LZ_VAL = 5;
const LZ_T = 6;
const LZ_BASE = 7;
const LZ_FA = 8;
const LZ_FB = 9;
const LZ_FRES = 10;
const LZ_FOPL = 11;
const LZ_FSIZEL = 12;
const LZ_LEFT = 13;
const LZ_REG = 14;
const LZ_COUNT = LZ_REG + 8;

const MAX_BLOCK_INSNS = 64;
/**
 * Unpaged blocks access [UNPAGED_LO, the end of RAM) directly: above the VGA window, I/O even where
 * RAM is (CPU.fillTlb()); one compare. Other addresses go through the TLB.
 */
const UNPAGED_LO = 0xc0000;
/** Accesses through a base register that make a frame window (halved when the block loops). */
const WIN_MIN_ACCESSES = 4;
/** Widest frame window, in bytes (wider ones straddle pages more often). */
const WIN_MAX_BYTES = 256;
/** Most late windows (after a write to their base register) per block. */
const LATE_MAX = 8;
/** How far ahead a conditional branch may skip inside a block, and how many may be open at once. */
const FWD_MAX_BYTES = 256;
const FWD_MAX_OPEN = 4;

/** What the translator knows on one path: its register cache, its flags and its page memos. */
interface PathState {
  regs: Uint8Array;
  memo: Uint8Array;
  pend: number;
  pendFop: number;
  pendBits: number;
  known: number;
  kbits: number;
}

/** A forward conditional branch inside a block, and the translator's state where it was taken. */
interface FwdBranch extends PathState {
  /** FWD_SKIP: `Jcc target` seen, on its straight path. FWD_ELSE: the straight path ended in a
   * `JMP target` right before the Jcc's target (if/else); the Jcc's taken path (the else part) runs. */
  kind: number;
  target: number;
  /** Instructions counted on the taken path (the branch included). */
  count0: number;
  /** FWD_ELSE: the then part's state and count at its JMP (its flags are in the state block). */
  thenPart: PathState | null;
  thenCount: number;
}
const FWD_SKIP = 0;
const FWD_ELSE = 1;
/**
 * Side traces: a conditional branch leaving the block whose target leads back to the block's start
 * within TRACE_MAX straight-line instructions is followed there inside the branch (a loop whose
 * usual path jumps out and back, like `Jcc far; ...; far: ...; Jcc start`, stays one wasm loop).
 * So is one whose target is code before the start that runs on into it within TRACE_RUN_MAX
 * instructions, passing at most one conditional branch (the loop's exit test): a loop with two
 * heads, like the bit-tree decoders of the kernel's XZ decompressor (`H0: [bit 0]; cmp; ja out;
 * S: [common]; cmp; jb H0; [bit 1]; cmp; jbe S`), stays in the block at S whichever bit comes
 * (decompressor dispatches 58.9 M → 51.2 M, the phase ~5% faster).
 * At most TRACE_BUDGET instructions of traces per block.
 */
const TRACE_MAX = 8;
const TRACE_RUN_MAX = 16;
const TRACE_BUDGET = 32;
/** Instructions scanned from a compiled block's start for a branch back to the block being translated. */
const LOOP_SCAN = 48;
/**
 * Set in a block's returned instruction count when it left at a memory access's slow path after its
 * first instruction (the dispatcher counts those exits and masks it off; counts stay far below it).
 */
export const SLOW_EXIT_BIT = 1 << 30;

/**
 * Page memos: the last page a block accessed through each base register (keys 0-7; 8: no base)
 * passed its TLB check, so a later access through the same base, if it lands in that page, goes
 * straight to RAM: a compare instead of the TLB load and checks. The memo is a fact about a page,
 * not about the register (the page is compared at run time), so register writes do not void it;
 * what voids it is anything that may take rights from a TLB entry (the interpreter helper: it can
 * mark a page as code), and control flow where one path did not set it.
 */
const MEMO_KEYS = 9;
const MEMO_NONE = 0;
const MEMO_READ = 1; // checked with rNeed
const MEMO_WRITE = 2; // checked with wNeed (which implies rNeed: writable TLB entries are readable)
/** Memo hits need LIN ^ page < MEMO_LIMIT: in the page, and a 4-byte access cannot cross it. */
const MEMO_LIMIT = 0xffd;
/** Instructions looked at after an access for a later one through the same base (worth a memo). */
const MEMO_LOOKAHEAD = 8;

/** Fills Translator.decIns where nothing was decoded (never read: decStamp says so). */
const NO_INSN = new Insn();

const REG8_OFF = [0, 4, 8, 12, 1, 5, 9, 13];
const off = (reg: number) => reg * 4;

/** Deferred flags: none, an ADD/SUB-type lazy state (FA, FB, FRES), a logic result (FRES). */
const PEND_NONE = 0;
const PEND_LAZY = 1;
const PEND_LOGIC = 2;
const PEND_SHIFT = 3; // EFLAGS CF/AF/OF from FA (bits 0, 4 and 11), FOP_RESULT on FRES
/**
 * The state block's five lazy-flag words (FOP, FA, FB, FRES, FSIZE) held in FOPL, FA, FB, FRES,
 * FSIZEL, whatever they describe: the state at the head of a block that loops to its start, so the
 * back edge carries the flags in locals instead of storing them at every iteration.
 */
const PEND_ALL_LOCAL = 4;

/** A guest register's cache local: not loaded, equal to the state block, newer than it. */
const REG_NONE = 0;
const REG_CLEAN = 1;
const REG_DIRTY = 2;

/** What is known at translation time about the flags the last flag-setting instruction left. */
/** pendFop of a deferred ADC/SBB: its FOP (which depends on the carry-in) is in local FOPL. */
const PEND_FOP_LOCAL = -1;
const K_UNKNOWN = 0; // only the state block knows
const K_SUB = 1; // FOP_SUB on operands held in the flag locals FA, FB, FRES (kbits wide: 8 or 32)
const K_LOGIC = 2; // FOP_RESULT with CF=OF=0, FRES (kbits wide)
const K_ADD = 3; // FOP_ADD, FA, FB, FRES (kbits wide)
const K_CFSTORED = 4; // CF is in r[R_EFLAGS] (INC/DEC/RESULT-type ops)
const K_RES32 = 5; // like K_CFSTORED, and ZF/SF come from the 32-bit result in FRES (INC/DEC/shifts)
const K_SHIFT = 6; // a shift: CF in bit 0 and OF in bit 11 of FA, ZF/SF from FRES (kbits wide)
const K_ADC = 7; // ADC: FA + FB + carry-in = FRES, FOPL FOP_ADC when the carry-in was 1 (kbits wide)
const K_SBB = 8; // SBB: FA - FB - carry-in = FRES, FOPL FOP_SBB when the carry-in was 1 (kbits wide)

export interface TranslatedBlock {
  /** Memory accesses compiled with a page-memo path (statistics). */
  memoAccesses: number;
  /** Frame windows the block checks at its head (see planWindows()). */
  windows: number;
  /** Side traces emitted, those that run on into the block's start, JMPs to another loop's head it ended at (statistics). */
  traces: number;
  runOnTraces: number;
  loopHeadEnds: number;
  /**
   * Where the block goes on when it stopped at its instruction limit in straight-line code, with no
   * loop in it (the next instruction, run after this block's last one whenever that path runs);
   * -1 when it ended otherwise (EIPs are int32: kernel addresses are negative).
   */
  fallEip: number;
  /** Guest instructions in the block. */
  count: number;
  /** Bytes of guest code covered (from the start address). */
  length: number;
  /** Whether the block runs (or looked ahead at) code in the page after its start page. */
  crossed: boolean;
  /**
   * The bytes every pass of the translation decoded (ran or looked ahead at), as offsets from its
   * start page: [codeLo, codeHi), codeHi up to 0x2000 with the next page. A write elsewhere in the
   * pages leaves the block valid.
   */
  codeLo: number;
  codeHi: number;
  /** The translation that keeps a loop to the block's start in a wasm loop (see translate()). */
  loops: boolean;
  func: FuncBuilder;
}

export class Translator {
  /**
   * The instructions this translation decoded, by offset from its start page (valid where
   * decStamp[o] is decGen): its passes and look-aheads ask for each instruction ~6 times (the
   * boot's kernel blocks translated again: 908 K decodeAt() calls for 157 K instructions, 189 K of
   * them not in the interpreter's decode cache). Those are decoded into decPool's objects, which the
   * next translation reuses.
   */
  private readonly decIns: Insn[] = Array.from({ length: 0x2000 }, () => NO_INSN);
  private readonly decStamp = new Int32Array(0x2000);
  private decGen = 1;
  private readonly decPool: Insn[] = [];
  private decPoolN = 0;
  /** A side trace is being emitted: no forward skips or followed jumps, one more wasm level. */
  private inTrace = false;
  private traceLeft = 0;
  /** Linear address of the instruction being emitted, and how many more the block may take. */
  private curLin = 0;
  private room = 0;
  private f!: FuncBuilder;
  private startEip = 0;
  private known = K_UNKNOWN;
  /** Whether each of EAX..EDI is uncached, equal to memory in its local, or newer there. */
  private readonly regState = new Uint8Array(8);
  /** Page memo rights by key (MEMO_*), the key of the access being emitted, and the memo locals
   * (allocated on first use): the page's linear base, host base minus linear base, and the limit
   * LIN ^ page is compared with (MEMO_LIMIT, or 0 after a slow access: no hit). */
  private readonly memo = new Uint8Array(MEMO_KEYS);
  private memoKey = -1;
  /**
   * Frame windows (see planWindows()): for base register r, the displacement range [winLo, winEnd)
   * checked (windowCheck()) to lie in one page with the rights (write rights if winW) — then
   * accesses [r + d] inside it need no check: local winHB holds the host offset of r + winLo.
   * winOn: a check passed on every path here and r has not been written since (in emission order,
   * which only ever turns a window off).
   */
  private readonly winLo = new Int32Array(8);
  private readonly winEnd = new Int32Array(8);
  private readonly winW = new Uint8Array(8);
  private readonly winOn = new Uint8Array(8);
  private readonly winHB = new Int32Array(8);
  /** Pre-scan (planWindows()): accesses through each base before its first write, and whether it was written. */
  private readonly winN = new Int32Array(8);
  private readonly winDead = new Uint8Array(8);
  /** The scan's current segment per base since its start or last write (accesses, first one's EIP, range, writes). */
  private readonly segN = new Int32Array(8);
  private readonly segEip = new Int32Array(8);
  private readonly segLo = new Int32Array(8);
  private readonly segEnd = new Int32Array(8);
  private readonly segW = new Uint8Array(8);
  /** Late windows (lateChecks()): checked before the instruction at lateEip, for lateReg. */
  private lateN = 0;
  private readonly lateEip = new Int32Array(LATE_MAX);
  private readonly lateReg = new Int32Array(LATE_MAX);
  private readonly lateLo = new Int32Array(LATE_MAX);
  private readonly lateEnd = new Int32Array(LATE_MAX);
  private readonly lateW = new Uint8Array(LATE_MAX);
  /** The access being emitted is [winKey + winDisp] (no index, no FS/GS base); else winKey -1. */
  private winKey = -1;
  private winDisp = 0;
  /**
   * Registers the translation wrote (storeReg()), all of them once it called the interpreter;
   * winHoist: the windows a loop's second translation may check before its loop (registers the
   * first one did not move on the way to a branch back to the start), hoisted: those it did.
   */
  private winMoved = 0;
  /** winMoved at the branches back to the start (paths inside a block only go forward otherwise). */
  private winMovedBack = 0;
  private winHoist = 0;
  private hoisted = 0;
  /** Windows the current translation checks at its head (TranslatedBlock.windows). */
  private windowsPlanned = 0;
  /** Id the engine gave the block being translated (reported when a window check fails), and whether windows may be used. */
  private winId = 0;
  private winAllowed = true;
  private memoAccesses = 0;
  private traces = 0;
  private runOnTraces = 0;
  private loopHeadEnds = 0;
  private readonly memoPage = new Int32Array(MEMO_KEYS);
  private readonly memoDelta = new Int32Array(MEMO_KEYS);
  private readonly memoLim = new Int32Array(MEMO_KEYS);
  /**
   * Loops (the second translation of a block that branches to its start): the highest rights any
   * access through each key asked for in the first translation. The head assumes memos with those
   * rights, so an access repeated at every iteration hits the memo its previous iteration set; the
   * locals start at 0 (no hit), and every back edge voids a memo it reaches with fewer rights.
   */
  private readonly loopMemo = new Uint8Array(MEMO_KEYS);
  /** EIP of the first byte of the block's page, and where a followed JMP/CALL goes (EMIT_FOLLOW). */
  private pageLo = 0;
  private follow = 0;
  /**
   * Two-page blocks: the block may go on into the next linear page (a loop whose body straddles a
   * page boundary becomes one self-looping block). `crossTlb` is the TLB entry that page had at
   * translation (physical page | rights), which a prologue checks at every entry; -1: one page.
   * `winSize` is the bytes the block may cover from `pageLo`; `crossed` is set once it used page 2.
   */
  private crossTlb = -1;
  private winSize = 0x1000;
  private pageLin = 0;
  private crossed = false;
  /** Code bytes decoded by this translate() call, from pageLin (see TranslatedBlock.codeLo). */
  private codeLo = 0;
  private codeHi = 0;
  /** The instruction being emitted: its EIP and the next one's. */
  private curEip = 0;
  private curNext = 0;
  /** Segment whose base ea() adds, with a run-time check that it is a 4 GiB data segment (FS, GS); -1: flat. */
  private segBased = -1;
  /** Nesting of conditional code being emitted (CMOVcc, shifts by CL). */
  private condDepth = 0;
  /** Forward branches inside the block whose target is not reached yet, innermost last. */
  private readonly fwd: FwdBranch[] = [];
  /** Wasm blocks the open forward branches add between the code and the block's loop. */
  private fwdDepth = 0;
  /** Flags computed but not yet written to the state block, and their FOP and size. */
  private pend = PEND_NONE;
  private pendFop = 0;
  private pendBits = 32;
  /** Operand size of a K_SUB/K_ADD/K_LOGIC state: 8 or 32. */
  private kbits = 32;
  private count = 0;
  private rNeed = 0;
  private wNeed = 0;

  /**
   * Count instructions exactly at a fault inside a block: before each interpreter-helper call
   * (the one helper that may fault) the block writes how many of its instructions completed
   * (R_KQ_INBLOCK), so that the engine counts them (otherwise only the blocks before it are); a
   * memory slow path ends the block, which counts exactly anyway. For `-icount`, whose clock is the
   * instruction count; off otherwise (a store before each such call).
   */
  exactCount = false;
  /** Called with each instruction that ends a block because it is not translated (statistics). */
  unsupported: ((i: Insn) => void) | null = null;
  /** This translation carries the flags across its back edge in locals (PEND_ALL_LOCAL at the head). */
  private loopFlags = false;
  /** The translation branched back to its start. */
  private looped = false;
  /** Whether a compiled (or queued) block starts at `lin` (EIP `eip`) now: set by the engine. */
  blockAt: ((lin: number, eip: number) => boolean) | null = null;
  /** EAX..EDI the translation cached (read or wrote) anywhere, and those it wrote (bit masks). */
  private regsUsed = 0;
  private regsWrote = 0;
  /**
   * A loop's second translation carries these registers in their locals around the loop (loaded
   * once before it): the first translation's regsUsed, DIRTY at the head when it wrote them.
   */
  private carry = 0;
  private carryDirty = 0;
  /** The register cache at the loop's head, which every branch back to the start brings its own to. */
  private readonly headRegs = new Uint8Array(8);

  constructor(private readonly c: CPU) {
    // Unpaged accesses go straight to RAM from UNPAGED_LO to unpagedEnd (the end of the RAM or its
    // first hole, where MMIO starts).
    let end = UNPAGED_LO;
    while (end + 0x1000 <= c.ramSize && c.bus.isRam(end)) end += 0x1000;
    this.unpagedEnd = end;
  }

  /** End of the RAM an unpaged block accesses directly (see the constructor). */
  private readonly unpagedEnd: number;
  /**
   * The block being translated runs unpaged (paging off, A20 open: its TLB entry has TLB_UNPAGED):
   * accesses outside frame windows check only that they fall in RAM from UNPAGED_LO on (and, for a
   * store, that the page holds no code) instead of going through the TLB. The engine keeps such blocks
   * apart (their key and jump-cache entries say unpaged), so they never run with paging on.
   */
  private unpaged = false;

  // The block function's locals are declared on first use (a block declares only what it uses: see
  // FuncBuilder); lazyL holds their indices, -1 until then. Wasm zeroes them at entry, which BASE
  // and the memo limits rely on.
  private readonly lazyL = new Int32Array(LZ_COUNT);

  private lazyLocal(k: number): number {
    let l = this.lazyL[k];
    if (l < 0) l = this.lazyL[k] = this.f.local();
    return l;
  }

  /** Local: the memory access's linear address. */
  private get LIN(): number {
    return this.lazyLocal(LZ_LIN);
  }
  /** Local: its TLB entry. */
  private get E(): number {
    return this.lazyLocal(LZ_E);
  }
  /** Local: operand / scratch. */
  private get A(): number {
    return this.lazyLocal(LZ_A);
  }
  /** Local: operand / scratch. */
  private get B(): number {
    return this.lazyLocal(LZ_B);
  }
  /** Local: result / scratch. */
  private get RES(): number {
    return this.lazyLocal(LZ_RES);
  }
  /** Local: the value to write / scratch. */
  private get VAL(): number {
    return this.lazyLocal(LZ_VAL);
  }
  /** Local: scratch. */
  private get T(): number {
    return this.lazyLocal(LZ_T);
  }
  /** Local: instructions completed by earlier iterations of a block that loops back to its start. */
  private get BASE(): number {
    return this.lazyLocal(LZ_BASE);
  }
  /** Local: flag operand A of the last flag-setting instruction (see `known`, `pend`). */
  private get FA(): number {
    return this.lazyLocal(LZ_FA);
  }
  /** Local: flag operand B. */
  private get FB(): number {
    return this.lazyLocal(LZ_FB);
  }
  /** Local: flag result. */
  private get FRES(): number {
    return this.lazyLocal(LZ_FRES);
  }
  /** Local: the FOP of a deferred ADC/SBB (PEND_FOP_LOCAL); else scratch for the FOP read from the state block. */
  private get FOPL(): number {
    return this.lazyLocal(LZ_FOPL);
  }
  /** Local: FSIZE of PEND_ALL_LOCAL. */
  private get FSIZEL(): number {
    return this.lazyLocal(LZ_FSIZEL);
  }
  /** Local: the dispatcher's budget left when the looping block was called (R_KQ_BUDGET − R_KQ_DONE). */
  private get LEFT(): number {
    return this.lazyLocal(LZ_LEFT);
  }
  /** Local caching register `r` (EAX..EDI). */
  private regLocal(r: number): number {
    return this.lazyLocal(LZ_REG + r);
  }

  /** The i64 locals of DIV/IDIV: dividend, divisor, quotient (declared on first use too). */
  private readonly i64L = [-1, -1, -1];

  private i64Local(k: number): number {
    if (this.i64L[k] < 0) this.i64L[k] = this.f.local64();
    return this.i64L[k];
  }

  /**
   * Translate the block at linear address `lin` (EIP `eip`). Returns null when the first
   * instruction cannot be translated (the interpreter runs it).
   */
  translate(
    lin: number,
    eip: number,
    crossTlb = -1,
    id = 0,
    windows = true,
    unpaged = false,
  ): TranslatedBlock | null {
    this.crossTlb = crossTlb;
    this.unpaged = unpaged && this.unpagedEnd > UNPAGED_LO;
    // A new translation: nothing decoded yet (pageLin, which offsets count from, is lin's page in
    // every pass).
    this.pageLin = lin & ~0xfff;
    this.decGen = (this.decGen + 1) | 0;
    if (this.decGen === 0) {
      this.decStamp.fill(0);
      this.decGen = 1;
    }
    this.decPoolN = 0;
    this.codeLo = 0x2000;
    this.codeHi = 0;
    this.winId = id;
    this.winAllowed = windows;
    const tb = this.translateOnce(lin, eip, false);
    if (tb === null || !this.looped) return tb;
    // A block that loops to its start is translated again with its flags carried in locals around
    // the loop (one pass cannot know at the head whether a back edge will follow).
    const report = this.unsupported;
    this.unsupported = null;
    this.winHoist = ~this.winMovedBack & 0xff;
    this.carry = this.regsUsed;
    this.carryDirty = this.regsWrote;
    let again = this.translateOnce(lin, eip, true);
    if (again !== null && (this.winMovedBack & this.hoisted) !== 0) {
      // The second translation moved a register whose window it checked before the loop (it took
      // another path than the first): once more, with every window checked at the head.
      again.func.release();
      this.winHoist = 0;
      again = this.translateOnce(lin, eip, true);
    }
    this.winHoist = 0;
    this.carry = 0;
    this.carryDirty = 0;
    this.unsupported = report;
    if (again === null) return tb;
    tb.func.release();
    return again;
  }

  private translateOnce(lin: number, eip: number, loopFlags: boolean): TranslatedBlock | null {
    const c = this.c;
    this.f = new FuncBuilder(0);
    const f = this.f;
    this.lazyL.fill(-1);
    this.i64L.fill(-1);
    this.regState.fill(REG_NONE);
    this.memo.fill(MEMO_NONE);
    this.memoKey = -1;
    this.memoAccesses = 0;
    this.traces = 0;
    this.runOnTraces = 0;
    this.loopHeadEnds = 0;
    this.memoPage.fill(-1);
    this.memoDelta.fill(-1);
    this.memoLim.fill(-1);
    this.winOn.fill(0);
    this.winHB.fill(-1);
    this.winKey = -1;
    this.windowsPlanned = 0;
    this.condDepth = 0;
    this.fwd.length = 0;
    this.fwdDepth = 0;
    this.pend = PEND_NONE;
    this.startEip = eip;
    this.known = K_UNKNOWN;
    this.count = 0;
    this.loopFlags = loopFlags;
    this.looped = false;
    this.regsUsed = 0;
    this.regsWrote = 0;
    if (loopFlags) this.flagsToLocals();
    if (!loopFlags) this.loopMemo.fill(MEMO_NONE);
    else
      for (let k = 0; k < MEMO_KEYS; k++)
        if (this.loopMemo[k] !== MEMO_NONE) {
          this.memoLocals(k);
          this.memo[k] = this.loopMemo[k];
        }
    this.rNeed = c.rNeed;
    this.wNeed = c.wNeed;
    this.winSize = this.crossTlb !== -1 ? 0x2000 : 0x1000;
    this.crossed = false;
    this.traceLeft = TRACE_BUDGET;
    const pageEnd = this.pageLin + 0x1000;
    const winEnd = this.pageLin + this.winSize;
    this.pageLo = eip - (lin & 0xfff);
    this.winMoved = 0;
    this.winMovedBack = 0;
    const windows = this.planWindows(lin);
    // A window whose register the first translation never wrote (nor handed to the interpreter)
    // is checked once before the loop rather than at every iteration (see translate()).
    const hoisted = loopFlags ? windows & this.winHoist : 0;
    for (let r = 0; r < 8; r++) if ((hoisted >> r) & 1) this.windowCheck(r, eip);
    this.hoisted = hoisted;
    // Registers carried around the loop in locals: loaded once here, never written back at its back
    // edges (exits write back the DIRTY ones, as anywhere in a block).
    const carry = loopFlags ? this.carry : 0;
    for (let r = 0; r < 8; r++)
      if ((carry >> r) & 1) {
        this.cacheReg(r);
        if ((this.carryDirty >> r) & 1) this.regState[r] = REG_DIRTY;
      }
    this.headRegs.set(this.regState);
    // The budget left for the loop (see jumpTo()): loaded once, not carried around it.
    if (loopFlags) {
      f.const(0).mem(W.OP_I32_LOAD, off(R_KQ_BUDGET), 2);
      f.const(0).mem(W.OP_I32_LOAD, off(R_KQ_DONE), 2).op(W.OP_I32_SUB).set(this.LEFT);
    }
    // The body sits in a wasm loop so a branch back to the block's start stays in compiled code.
    f.loop();
    for (let r = 0; r < 8; r++) if (((windows & ~hoisted) >> r) & 1) this.windowCheck(r, eip);
    let cur = lin;
    let curEip = eip;
    let ended = false;
    let emitted = 0;
    /** A JMP/CALL back to code already translated was followed: the block unrolls a loop. */
    let backward = false;
    /** The previous instruction was STI, run by the interpreter inside the block. */
    let shadowed = false;
    while (emitted < MAX_BLOCK_INSNS) {
      if (this.fwd.length > 0) {
        this.curLin = cur;
        this.room = MAX_BLOCK_INSNS - emitted;
        const to = this.joinAt(curEip);
        if (to !== curEip) {
          // An if/else closed without its join: the then part goes on at its JMP's target.
          cur = (cur + to - curEip) | 0;
          curEip = to;
          continue;
        }
      }
      // Another block starts here (the engine says so while the guest boots): this one ends and
      // goes on there, unless the code from here loops back to this block's start (it is a loop's
      // body, which stays one wasm loop). Blocks begin at branch targets and run on through the
      // code after them, so without this most code was translated in more than one block: a boot
      // emitted 245 K instructions for 108 K distinct ones; stopping at the blocks already
      // there, 184 K (wasm 21 → 16 MB), at the cost of a dispatch where blocks meet (boot to
      // /init 3–4% faster, in-process pairs). After the boot the same kernel paths run for good,
      // and a dispatch at each meeting costs more than the translation saved (getpid ~15% slower).
      if (
        emitted > 0 &&
        !loopFlags &&
        !shadowed &&
        this.fwd.length === 0 &&
        this.condDepth === 0 &&
        this.blockAt?.(cur, curEip) === true &&
        !this.loopsBack(cur, curEip)
      )
        break;
      // Near the page's end an instruction may straddle into the next page: left to the
      // interpreter, unless the interpreter already ran it there and found it whole.
      if ((cur & 0xfff) > 0xff0 && cur + 15 > winEnd && c.cachedInsn(cur) === null) break;
      let ins: Insn;
      try {
        ins = this.decodeAt(cur);
      } catch {
        break; // fetch fault: the interpreter will raise it precisely
      }
      if (cur + ins.len > winEnd) break;
      if (cur + ins.len > pageEnd) this.crossed = true;
      const nextEip = (curEip + ins.len) | 0;
      this.curLin = cur;
      this.room = MAX_BLOCK_INSNS - emitted;
      if (this.lateN > 0) this.lateChecks(curEip);
      let r = this.emit(ins, curEip, nextEip);
      if (r === EMIT_NO) {
        this.unsupported?.(ins);
        // Instructions that change what the block was translated for end it (the dispatcher runs
        // them); any other is run by the interpreter from inside the block.
        if (changesMode(ins)) break;
        r = this.emitInterp(ins, curEip, nextEip);
      }
      // STI's interrupt shadow covers the next instruction (SDM Vol. 3A, 6.8.3); interrupts come
      // only between blocks, so once that instruction ran inside the block the shadow is over.
      if (shadowed && r !== EMIT_END) callHelper(f, IMP_UNSHADOW);
      shadowed = ins.op === 0xfb && r !== EMIT_END;
      this.count++;
      emitted++;
      cur += ins.len;
      curEip = nextEip;
      if (r === EMIT_FOLLOW) {
        const b = this.fwd.length > 0 ? this.fwd[this.fwd.length - 1] : null;
        if (
          b !== null &&
          b.kind === FWD_SKIP &&
          b.target === curEip &&
          this.canBranchForward(this.follow, curEip)
        ) {
          // `Jcc else; then part; JMP join; else: ...`: the else part runs next, then both join.
          this.toElse(b, this.follow);
          continue;
        }
        // A direct JMP/CALL to elsewhere in this page: the block goes on at its target. Forward
        // branches still open are closed there.
        let to = this.follow;
        if (to <= curEip) backward = true;
        while (this.fwd.length > 0) to = this.closeFwd(to);
        cur = (cur + to - curEip) | 0;
        curEip = to;
        continue;
      }
      if (r === EMIT_END) {
        // The straight path ended; if a forward branch is open, its other path is now the only one
        // still running: the block goes on at the innermost target, in the state of that path.
        const b = this.fwd.length > 0 ? this.fwd[this.fwd.length - 1] : null;
        if (b !== null && (b.kind === FWD_ELSE || b.target >= curEip)) {
          this.fwd.pop();
          this.fwdDepth -= b.kind === FWD_ELSE ? 1 : 2;
          this.otherGoesOn(b);
          cur = (cur + b.target - curEip) | 0;
          curEip = b.target;
          continue;
        }
        ended = true;
        break;
      }
    }
    if (emitted === 0) {
      f.release();
      return null;
    }
    let here = curEip;
    while (this.fwd.length > 0) {
      if (this.fwd[this.fwd.length - 1].kind === FWD_ELSE) ended = false; // its then part goes on
      here = this.closeFwd(here);
    }
    if (!ended) this.exit(here);
    f.op(W.OP_END);
    f.op(W.OP_UNREACHABLE);
    if (this.crossed) this.crossPrologue(eip);
    // Only straight-line code cut by the limit: where a loop was unrolled, the cut falls anywhere in it.
    const fallEip = !ended && emitted >= MAX_BLOCK_INSNS && !backward && !this.looped ? here : -1;
    return {
      count: emitted,
      length: cur - lin,
      crossed: this.crossed,
      codeLo: this.codeLo,
      codeHi: this.codeHi,
      func: f,
      memoAccesses: this.memoAccesses,
      traces: this.traces,
      runOnTraces: this.runOnTraces,
      loopHeadEnds: this.loopHeadEnds,
      windows: this.windowsPlanned,
      fallEip,
      loops: loopFlags,
    };
  }

  /**
   * A block that runs code of the next page checks first that its TLB entry still maps the physical
   * page it was translated from, with the rights it had (the dispatcher checked the first page's).
   * If not, the engine's crossmiss() fills the entry (without raising a fault: the fetch there may
   * never happen) and says whether the block may run; else the block returns at once, having run
   * nothing, and the engine has dropped it. Inserted before the body, run once per call.
   */
  private crossPrologue(eip: number): void {
    const p = new FuncBuilder(0);
    const lin2 = this.pageLin + 0x1000;
    p.const(0).mem(W.OP_I32_LOAD, TLB_BYTE_OFFSET + (lin2 >>> 12) * 4, 2);
    p.const(~0xfff | this.rNeed | TLB_IO)
      .op(W.OP_I32_AND)
      .const(this.crossTlb)
      .op(W.OP_I32_NE)
      .hint(false)
      .if_();
    callHelper(p.const(eip), IMP_CROSSMISS).op(W.OP_I32_EQZ).if_().const(0).op(W.OP_RETURN).op(W.OP_END);
    p.op(W.OP_END);
    this.f.prepend(p);
    p.release();
  }

  // ---------------------------------------------------------------- emit helpers

  /** Store EIP and return the instruction count (block exit). */
  private exit(eip: number): void {
    const f = this.f;
    f.const(0).const(eip).mem(W.OP_I32_STORE, off(R_EIP), 2);
    this.returnCount();
  }

  /**
   * Call the interpreter for one instruction. It returns non-zero when the block must end there:
   * the instruction jumped, faulted into a handler, raised an event or wrote to code.
   */
  private emitInterp(i: Insn, eip: number, next: number): number {
    const f = this.f;
    this.count++;
    this.callInterp(eip, next);
    this.pend = PEND_NONE;
    this.forgetRegs();
    this.known = K_UNKNOWN;
    if (endsAfterHelper(i)) {
      f.op(W.OP_DROP);
      this.returnCount();
      this.count--;
      return EMIT_END;
    }
    f.hint(false).if_();
    this.returnCount();
    f.op(W.OP_END);
    this.count--;
    return EMIT_OK;
  }

  /**
   * Call the interpreter helper for the instruction at `eip` (leaves its "block must end" result on
   * the stack): registers and deferred flags are written back first, since it reads them there.
   */
  private callInterp(eip: number, next: number): void {
    this.spill();
    this.syncFlags();
    this.noteCompleted(this.count - 1); // the count includes the instruction the helper runs
    callHelper(this.f.const(eip).const(next), IMP_INTERP);
  }

  /** With exactCount: note that `completed` instructions of this call ran before a helper that may fault. */
  private noteCompleted(completed: number): void {
    if (!this.exactCount) return;
    this.f
      .const(0)
      .get(this.BASE)
      .const(completed)
      .op(W.OP_I32_ADD)
      .mem(W.OP_I32_STORE, off(R_KQ_INBLOCK), 2);
  }

  /** Return the number of guest instructions completed (earlier loop iterations included). */
  private returnCount(): void {
    this.spill();
    this.syncFlags();
    this.f.get(this.BASE).const(this.count).op(W.OP_I32_ADD).op(W.OP_RETURN);
  }

  /**
   * Control goes to `target` (the current instruction, already counted, is a branch). A branch to
   * the block's own start loops inside the wasm function while the dispatcher's budget lasts
   * (R_KQ_BUDGET), so interrupts and the run loop's budget are honoured as between blocks. The
   * instructions are counted in BASE, which every exit returns anyway: a separate iteration counter
   * (256 per call before) was one more value carried around every loop, which V8's register
   * allocator then spilled with others (compute workload, steady runs in one process, 10
   * alternating pairs: 12–18% faster without it). `depth` is the number of wasm blocks
   * enclosing this point inside the loop.
   */
  private jumpTo(target: number, depth: number): void {
    const f = this.f;
    if (target === this.startEip) {
      this.looped = true;
      this.winMovedBack |= this.winMoved;
      this.toHeadRegs();
      // The head takes the flags in the state block, or (loopFlags) in the locals: this path only
      // (the caller's state goes on where the branch is not taken).
      const saved = this.loopFlags ? this.saveState() : null;
      if (saved !== null) this.flagsToLocals();
      else this.syncFlags();
      // The head assumes loopMemo's rights: a memo weaker here hits nothing there. (Only a helper
      // lowers one inside a loop, and no helper inside a block takes rights from a TLB entry today:
      // this and forgetRegs()'s reset keep memos sound should one ever do.)
      if (this.loopFlags)
        for (let k = 0; k < MEMO_KEYS; k++) if (this.memo[k] < this.loopMemo[k]) this.memoVoid(k);
      // Again while the dispatcher's budget lasts: BASE < R_KQ_BUDGET − R_KQ_DONE.
      f.get(this.BASE).const(this.count).op(W.OP_I32_ADD).tee(this.BASE);
      if (this.loopFlags) f.get(this.LEFT).op(W.OP_I32_LT_S);
      else {
        // The first translation (see translate()): its head did not load LEFT.
        f.const(0).mem(W.OP_I32_LOAD, off(R_KQ_DONE), 2).op(W.OP_I32_ADD);
        f.const(0).mem(W.OP_I32_LOAD, off(R_KQ_BUDGET), 2).op(W.OP_I32_LT_S);
      }
      f.hint(true).brIf(depth + this.fwdDepth);
      // Out of iterations: leave with the loop's instructions already in BASE.
      this.spillCarried();
      if (saved !== null) this.syncFlags();
      f.const(0).const(target).mem(W.OP_I32_STORE, off(R_EIP), 2);
      f.get(this.BASE).op(W.OP_RETURN);
      if (saved !== null) this.restoreState(saved);
      return;
    }
    this.exitPending(target);
  }

  /**
   * Code that brings the register cache to the head's (headRegs) on a branch back to the start: a
   * register uncached at the head is written back if DIRTY; one cached there is loaded if uncached
   * here, and written back if DIRTY here but CLEAN there. The path's own cache state is left as it
   * is (the code after the branch is the not-taken path's).
   */
  private toHeadRegs(): void {
    const rs = this.regState;
    for (let r = 0; r < 8; r++) {
      const h = this.headRegs[r];
      if (h === REG_NONE) {
        if (rs[r] === REG_DIRTY) this.writeBack(r);
      } else if (rs[r] === REG_NONE) this.reload(r);
      else if (h === REG_CLEAN && rs[r] === REG_DIRTY) this.writeBack(r);
    }
  }

  /** After toHeadRegs(), leaving instead: write back the registers DIRTY at the head. */
  private spillCarried(): void {
    for (let r = 0; r < 8; r++) if (this.headRegs[r] === REG_DIRTY) this.writeBack(r);
  }

  /** Store register r's local to the state block. */
  private writeBack(r: number): void {
    this.f.const(0).get(this.regLocal(r)).mem(W.OP_I32_STORE, off(r), 2);
  }

  /** Load register r from the state block into its local. */
  private reload(r: number): void {
    this.loadState(r).set(this.regLocal(r));
  }

  /** Exit with EIP taken from the stack top. */
  private exitDynamic(): void {
    const f = this.f;
    f.set(this.T).const(0).get(this.T).mem(W.OP_I32_STORE, off(R_EIP), 2);
    this.returnCount();
  }

  /**
   * Guest registers are cached in wasm locals inside a block (V8 keeps them in host registers):
   * loaded on first use, written back (spill) before every exit and every call that may fault or
   * read them. Inside conditional code (condDepth > 0) an uncached register is accessed in memory,
   * so that a local is never valid on one path only.
   */
  private cacheReg(full: number): boolean {
    this.regsUsed |= 1 << full;
    if (this.regState[full] !== REG_NONE) return true;
    if (this.condDepth > 0) return false;
    this.reload(full);
    this.regState[full] = REG_CLEAN;
    return true;
  }

  /** Write back the registers changed in locals (the cache stays valid). */
  private spill(): void {
    for (let r = 0; r < 8; r++) if (this.regState[r] === REG_DIRTY) this.writeBack(r);
  }

  /** After a call that may have changed registers in memory (the interpreter helper): reload on use. */
  private forgetRegs(): void {
    this.regState.fill(REG_NONE);
    // The interpreter may have decoded a new code page, which takes write rights from TLB entries.
    this.memo.fill(MEMO_NONE);
    this.winOn.fill(0);
    this.winMoved = 0xff;
  }

  private loadReg(reg: number, bits: number): void {
    const f = this.f;
    const full = bits === 8 ? reg & 3 : reg;
    if (!this.cacheReg(full)) {
      if (bits === 32) f.const(0).mem(W.OP_I32_LOAD, off(reg), 2);
      else if (bits === 8) f.const(0).mem(W.OP_I32_LOAD8_U, REG8_OFF[reg], 0);
      else f.const(0).mem(W.OP_I32_LOAD16_U, off(reg), 1);
      return;
    }
    f.get(this.regLocal(full));
    if (bits === 16) f.const(0xffff).op(W.OP_I32_AND);
    else if (bits === 8) {
      if (reg >= 4) f.const(8).op(W.OP_I32_SHR_U);
      f.const(0xff).op(W.OP_I32_AND);
    }
  }

  /** Store the value in local `l` to a register. */
  private storeReg(reg: number, bits: number, l: number): void {
    const f = this.f;
    const full = bits === 8 ? reg & 3 : reg;
    this.winOn[full] = 0;
    this.winMoved |= 1 << full;
    this.regsUsed |= 1 << full;
    this.regsWrote |= 1 << full;
    if (bits === 32 && this.condDepth === 0) {
      f.get(l).set(this.regLocal(full));
      this.regState[full] = REG_DIRTY;
      return;
    }
    if (!this.cacheReg(full)) {
      if (bits === 32) f.const(0).get(l).mem(W.OP_I32_STORE, off(reg), 2);
      else if (bits === 8) f.const(0).get(l).mem(W.OP_I32_STORE8, REG8_OFF[reg], 0);
      else f.const(0).get(l).mem(W.OP_I32_STORE16, off(reg), 1);
      return;
    }
    const R = this.regLocal(full);
    if (bits === 32) f.get(l);
    else if (bits === 16) {
      f.get(R).const(0xffff0000).op(W.OP_I32_AND).get(l).const(0xffff).op(W.OP_I32_AND).op(W.OP_I32_OR);
    } else {
      const sh = reg >= 4 ? 8 : 0;
      f.get(R)
        .const(~(0xff << sh))
        .op(W.OP_I32_AND)
        .get(l)
        .const(0xff)
        .op(W.OP_I32_AND);
      if (sh) f.const(8).op(W.OP_I32_SHL);
      f.op(W.OP_I32_OR);
    }
    f.set(R);
    this.regState[full] = REG_DIRTY;
  }

  /**
   * Set or clear a system flag (DF, IF) in r[R_EFLAGS]. Deferred arithmetic flags stay deferred:
   * writing them back later only replaces the arithmetic bits there.
   */
  private eflagsBit(bit: number, set: boolean): void {
    const f = this.f;
    f.const(0).const(0).mem(W.OP_I32_LOAD, off(R_EFLAGS), 2);
    if (set) f.const(bit).op(W.OP_I32_OR);
    else f.const(~bit).op(W.OP_I32_AND);
    f.mem(W.OP_I32_STORE, off(R_EFLAGS), 2);
  }

  /** Push word `index` of the state block. */
  private loadState(index: number): FuncBuilder {
    return this.f.const(0).mem(W.OP_I32_LOAD, off(index), 2);
  }

  private storeState(index: number, l: number): void {
    this.f.const(0).get(l).mem(W.OP_I32_STORE, off(index), 2);
  }

  private storeStateConst(index: number, v: number): void {
    this.f.const(0).const(v).mem(W.OP_I32_STORE, off(index), 2);
  }

  /** LIN = the register `reg` (stack and string addresses), memo key `reg`. */
  private linOfReg(reg: number): void {
    this.loadReg(reg, 32);
    this.memoKey = reg;
    this.winKey = -1;
    this.f.set(this.LIN);
  }

  /** Effective address (flat segment, 32-bit addressing) into LIN. */
  private ea(i: Insn): void {
    const f = this.f;
    const s = this.segBased;
    if (s >= 0) {
      // FS/GS may have been reloaded since the translation: check the cache's kind at run time.
      f.const(0)
        .mem(W.OP_I32_LOAD, off(R_SEGFAST + s), 2)
        .op(W.OP_I32_EQZ);
      this.slowExitIf(this.curEip);
    }
    this.memoKey = i.base >= 0 ? i.base : 8;
    this.winKey = i.base >= 0 && i.index < 0 && s < 0 ? i.base : -1;
    this.winDisp = i.disp;
    f.const(i.disp);
    if (i.base >= 0) {
      this.loadReg(i.base, 32);
      f.op(W.OP_I32_ADD);
    }
    if (i.index >= 0) {
      this.loadReg(i.index, 32);
      if (i.scale) f.const(i.scale).op(W.OP_I32_SHL);
      f.op(W.OP_I32_ADD);
    }
    if (s >= 0)
      f.const(0)
        .mem(W.OP_I32_LOAD, off(R_SEGBASE + s), 2)
        .op(W.OP_I32_ADD);
    f.set(this.LIN);
  }

  /**
   * ea(i) for an access the instruction moves away from its EA (BT's bit string, CMPXCHG8B's second
   * dword): no page memo or frame window covers the address it ends up at.
   */
  private eaPlain(i: Insn): void {
    this.ea(i);
    this.memoKey = -1;
    this.winKey = -1;
  }

  /**
   * A load of data segment register `seg` with the selector in VAL (MOV Sreg or POP Sreg, at the
   * current instruction). Compiled only when it changes nothing: the same selector, from the GDT,
   * whose descriptor bytes are those the cache was loaded from at this CPL (R_SEGRAW: accessed bit
   * already set, so nothing is written, and every check of SDM Vol. 3A 5.4.1 passes again with the
   * same result) within the GDT's current limit. The kernel reloads __USER_DS into DS and ES at each
   * system call and pops them back at its end. Anything else — another selector, a null or LDT
   * one, a descriptor changed, the GDT not readable here — ends the block before the instruction,
   * which the interpreter then runs.
   */
  private segReload(seg: number, eip: number): void {
    const f = this.f;
    const cpl = this.c.r[R_CPL];
    f.get(this.VAL)
      .const(0)
      .mem(W.OP_I32_LOAD, off(R_SEL + seg), 2)
      .op(W.OP_I32_NE);
    f.get(this.VAL)
      .const(~3 & 0xffff)
      .op(W.OP_I32_AND)
      .op(W.OP_I32_EQZ)
      .op(W.OP_I32_OR);
    f.get(this.VAL).const(4).op(W.OP_I32_AND).op(W.OP_I32_OR);
    f.const(0)
      .mem(W.OP_I32_LOAD, off(R_SEGRAWCPL + seg), 2)
      .const(cpl + 1)
      .op(W.OP_I32_NE)
      .op(W.OP_I32_OR);
    f.get(this.VAL)
      .const(~7 & 0xffff)
      .op(W.OP_I32_AND)
      .const(7)
      .op(W.OP_I32_ADD)
      .const(0)
      .mem(W.OP_I32_LOAD, off(R_GDTR_LIMIT), 2)
      .op(W.OP_I32_GT_U)
      .op(W.OP_I32_OR);
    this.slowExitIf(eip);
    // The descriptor, read as the interpreter would (its TLB check with this CPL's rights: a GDT a
    // user-mode read may not see takes the slow path, where the interpreter reads it as supervisor).
    this.loadState(R_GDTR_BASE)
      .get(this.VAL)
      .const(~7 & 0xffff)
      .op(W.OP_I32_AND)
      .op(W.OP_I32_ADD)
      .set(this.LIN);
    for (let half = 0; half < 2; half++) {
      if (half === 1) f.get(this.LIN).const(4).op(W.OP_I32_ADD).set(this.LIN);
      this.memoKey = -1;
      this.winKey = -1;
      this.read(4, eip);
      f.const(0)
        .mem(W.OP_I32_LOAD, off(R_SEGRAW + 2 * seg + half), 2)
        .op(W.OP_I32_NE);
      this.slowExitIf(eip);
    }
  }

  /**
   * A load of FS or GS with the selector in VAL (MOV Sreg or POP Sreg, protected mode), compiled
   * whole as system.ts loadSeg() does it (SDM Vol. 3A, 5.4.1): a null selector empties the register;
   * a GDT selector within the limit whose descriptor passes the checks — data or readable code,
   * DPL ≥ max(CPL, RPL) unless conforming code, present — and has its accessed bit set already (so
   * nothing is written) fills the cache, its raw bytes and flatness as CPU.segChanged() would.
   * Anything else — an LDT selector, one past the limit, a descriptor not readable here, a failed
   * check, an accessed bit to set — ends the block before the instruction, which the interpreter
   * runs (raising its fault). Nothing a block was translated for depends on FS or GS: compiled
   * accesses through them check the cache at run time (ea(): R_SEGFAST, R_SEGBASE), and the
   * interpreter reads it, flatness included (CPU.segFlat, in the state block). Linux loads its
   * per-CPU segment into FS at every entry from user mode and pops the user's (often null) on the
   * way out: two instructions per system call that went to the interpreter.
   */
  private segLoadFsGs(seg: number, eip: number): void {
    const f = this.f;
    const cpl = this.c.r[R_CPL];
    const { VAL, A, B, T, RES } = this;
    f.get(VAL).const(0xfffc).op(W.OP_I32_AND).op(W.OP_I32_EQZ).if_();
    this.condDepth++;
    this.storeState(R_SEL + seg, VAL);
    for (const w of [R_SEGBASE, R_SEGLIMIT, R_SEGATTR, R_SEGFAST, R_SEGFLAT, R_SEGRAWCPL])
      this.storeStateConst(w + seg, 0);
    f.op(W.OP_ELSE);
    // The descriptor, read with this CPL's rights (a GDT user mode may not read: the slow path).
    this.readGdtDesc(VAL, A, B, eip);
    const base = f.local();
    const limit = f.local();
    this.descFields(A, B, T, base, limit);
    // Fails: not code/data (S clear); execute-only code; not present; accessed bit clear.
    f.get(T).const(0x10).op(W.OP_I32_AND).op(W.OP_I32_EQZ);
    f.get(T).const(0xa).op(W.OP_I32_AND).const(0x8).op(W.OP_I32_EQ).op(W.OP_I32_OR);
    f.get(T).const(0x80).op(W.OP_I32_AND).op(W.OP_I32_EQZ).op(W.OP_I32_OR);
    f.get(T).const(0x1).op(W.OP_I32_AND).op(W.OP_I32_EQZ).op(W.OP_I32_OR);
    // ...and, unless conforming code (type 11xx), DPL < max(CPL, RPL).
    f.get(T).const(0xc).op(W.OP_I32_AND).const(0xc).op(W.OP_I32_NE);
    f.get(T).const(5).op(W.OP_I32_SHR_U).const(3).op(W.OP_I32_AND).set(RES);
    f.get(VAL).const(3).op(W.OP_I32_AND).get(RES).op(W.OP_I32_GT_U);
    if (cpl > 0) f.const(cpl).get(RES).op(W.OP_I32_GT_U).op(W.OP_I32_OR);
    f.op(W.OP_I32_AND).op(W.OP_I32_OR);
    this.slowExitIf(eip);
    this.storeState(R_SEL + seg, VAL);
    this.storeState(R_SEGATTR + seg, T);
    this.storeState(R_SEGRAW + 2 * seg, A);
    this.storeState(R_SEGRAW + 2 * seg + 1, B);
    this.storeStateConst(R_SEGRAWCPL + seg, cpl + 1);
    this.storeState(R_SEGBASE + seg, base);
    this.storeState(R_SEGLIMIT + seg, limit);
    // R_SEGFAST: a writable expand-up data segment (type 001x) with a 4 GiB limit (present and
    // S already checked); flat with base 0 too.
    f.get(limit).const(-1).op(W.OP_I32_EQ).get(T).const(0xe).op(W.OP_I32_AND).const(2).op(W.OP_I32_EQ);
    f.op(W.OP_I32_AND).set(A);
    this.storeState(R_SEGFAST + seg, A);
    f.const(0)
      .get(A)
      .get(base)
      .op(W.OP_I32_EQZ)
      .op(W.OP_I32_AND)
      .mem(W.OP_I32_STORE, off(R_SEGFLAT + seg), 2);
    this.condDepth--;
    f.op(W.OP_END);
  }

  /**
   * The GDT descriptor of the selector in local `sel` into locals lo and hi, read through the TLB
   * with the rights `rNeed` (this CPL's by default). An LDT selector or one whose descriptor's
   * last byte is past the GDT's limit takes the slow path, as does a TLB miss.
   */
  private readGdtDesc(sel: number, lo: number, hi: number, eip: number, rNeed = this.rNeed): void {
    const f = this.f;
    f.get(sel).const(4).op(W.OP_I32_AND);
    f.get(sel).const(0xfff8).op(W.OP_I32_AND).const(7).op(W.OP_I32_ADD);
    this.loadState(R_GDTR_LIMIT).op(W.OP_I32_GT_U).op(W.OP_I32_OR);
    this.slowExitIf(eip);
    this.loadState(R_GDTR_BASE).get(sel).const(0xfff8).op(W.OP_I32_AND).op(W.OP_I32_ADD).set(this.LIN);
    this.readSys(lo, eip, rNeed);
    f.get(this.LIN).const(4).op(W.OP_I32_ADD).set(this.LIN);
    this.readSys(hi, eip, rNeed);
  }

  /** The dword at [LIN] into local `to`, through the TLB with rights `rNeed` (no memo, no window). */
  private readSys(to: number, eip: number, rNeed: number): void {
    const saved = this.rNeed;
    this.rNeed = rNeed;
    this.memoKey = -1;
    this.winKey = -1;
    this.read(4, eip);
    this.f.set(to);
    this.rNeed = saved;
  }

  /** Local VAL to the dword at [LIN] through the TLB with supervisor rights (no memo, no window). */
  private writeSys(eip: number): void {
    const saved = this.wNeed;
    this.wNeed = TLB_VALID | TLB_SUP_WRITE;
    this.memoKey = -1;
    this.winKey = -1;
    this.write(4, eip);
    this.wNeed = saved;
  }

  /**
   * A descriptor's cache fields from its words in locals lo and hi (system.ts descAttr(),
   * descBase(), descLimit()): attributes (hi bits 8..15, 20..23), base (lo 16..31, hi 0..7 and
   * 24..31), limit (lo 0..15, hi 16..19; in 4 KiB units, + 0xfff, when G is set).
   */
  private descFields(lo: number, hi: number, attr: number, base: number, limit: number): void {
    const f = this.f;
    f.get(hi).const(8).op(W.OP_I32_SHR_U).const(0xf0ff).op(W.OP_I32_AND).set(attr);
    f.get(lo).const(16).op(W.OP_I32_SHR_U);
    f.get(hi).const(0xff).op(W.OP_I32_AND).const(16).op(W.OP_I32_SHL).op(W.OP_I32_OR);
    f.get(hi)
      .const(0xff000000 | 0)
      .op(W.OP_I32_AND)
      .op(W.OP_I32_OR)
      .set(base);
    f.get(lo)
      .const(0xffff)
      .op(W.OP_I32_AND)
      .get(hi)
      .const(0xf0000)
      .op(W.OP_I32_AND)
      .op(W.OP_I32_OR)
      .set(limit);
    f.get(limit).const(12).op(W.OP_I32_SHL).const(0xfff).op(W.OP_I32_OR);
    f.get(limit);
    f.get(hi).const(0x800000).op(W.OP_I32_AND);
    f.op(W.OP_SELECT).set(limit);
  }

  /** Store a segment's cache: selector, base, limit, attributes (the locals given). */
  private storeSegCache(seg: number, sel: number, base: number, limit: number, attr: number): void {
    this.storeState(R_SEL + seg, sel);
    this.storeState(R_SEGBASE + seg, base);
    this.storeState(R_SEGLIMIT + seg, limit);
    this.storeState(R_SEGATTR + seg, attr);
  }

  /**
   * INT n from user mode through a 32-bit interrupt or trap gate to a ring-0 code segment, compiled
   * whole (system.ts deliverInterrupt(), SDM Vol. 3A, 6.12.1): gate, code and stack descriptors
   * read and checked, SS0:ESP0 from the 32-bit TSS, SS, ESP, EFLAGS, CS and the return EIP pushed on
   * the new stack, the caches, ESP, CPL and EFLAGS (TF, NT, RF, VM cleared; IF too through an
   * interrupt gate) written, and the CPU's derived state brought up by the sysstate helper; the
   * block leaves for the handler. Anything off this path — another gate type, a conforming or
   * non-ring-0 handler, a descriptor to mark accessed, a 16-bit stack, TF set, a check that fails,
   * a TLB miss — ends the block before the INT, which the interpreter runs (with its fault if any):
   * every check comes before the first write to guest state. Linux's system calls from user code
   * (INT 0x80) went to the interpreter: ~1 µs each once V8 optimized it, 2–3 µs before.
   */
  private emitIntN(i: Insn, eip: number, next: number): number {
    const f = this.f;
    const cpl = this.c.r[R_CPL];
    if (cpl === 0) return EMIT_NO;
    const n = i.imm & 0xff;
    const sup = TLB_VALID;
    const { VAL, T } = this;
    const [glo, ghi, sel, clo, chi, cattr, cbase, climit, off] = Array.from({ length: 9 }, () => f.local());
    const [esp0, ss0, slo, shi, sattr, sbase, slimit, flags] = Array.from({ length: 8 }, () => f.local());
    // The gate: in the IDT, a 32-bit interrupt or trap gate (type 0xE/0xF), DPL ≥ CPL, present.
    this.loadState(R_IDTR_LIMIT)
      .const(n * 8 + 7)
      .op(W.OP_I32_LT_U);
    this.slowExitIf(eip);
    this.loadState(R_IDTR_BASE)
      .const(n * 8)
      .op(W.OP_I32_ADD)
      .set(this.LIN);
    this.readSys(glo, eip, sup);
    f.get(this.LIN).const(4).op(W.OP_I32_ADD).set(this.LIN);
    this.readSys(ghi, eip, sup);
    f.get(ghi).const(8).op(W.OP_I32_SHR_U).const(0x1e).op(W.OP_I32_AND).const(0x0e).op(W.OP_I32_NE);
    f.get(ghi)
      .const(13)
      .op(W.OP_I32_SHR_U)
      .const(3)
      .op(W.OP_I32_AND)
      .const(cpl)
      .op(W.OP_I32_LT_U)
      .op(W.OP_I32_OR);
    f.get(ghi).const(0x8000).op(W.OP_I32_AND).op(W.OP_I32_EQZ).op(W.OP_I32_OR);
    this.slowExitIf(eip);
    // The handler's code segment: non-conforming code, DPL 0, present, accessed; the offset
    // within its limit.
    f.get(glo).const(16).op(W.OP_I32_SHR_U).set(sel);
    this.readGdtDesc(sel, clo, chi, eip, sup);
    this.descFields(clo, chi, cattr, cbase, climit);
    f.get(glo)
      .const(0xffff)
      .op(W.OP_I32_AND)
      .get(ghi)
      .const(0xffff0000 | 0)
      .op(W.OP_I32_AND)
      .op(W.OP_I32_OR)
      .set(off);
    f.get(cattr).const(0xfd).op(W.OP_I32_AND).const(0x99).op(W.OP_I32_NE);
    f.get(off).get(climit).op(W.OP_I32_GT_U).op(W.OP_I32_OR);
    this.slowExitIf(eip);
    // SS0:ESP0 from a 32-bit TSS (limit ≥ 9: tssStack()).
    this.loadState(R_SEGATTR + TR)
      .const(8)
      .op(W.OP_I32_AND)
      .op(W.OP_I32_EQZ);
    this.loadState(R_SEGLIMIT + TR)
      .const(9)
      .op(W.OP_I32_LT_U)
      .op(W.OP_I32_OR);
    this.slowExitIf(eip);
    this.loadState(R_SEGBASE + TR)
      .const(4)
      .op(W.OP_I32_ADD)
      .set(this.LIN);
    this.readSys(esp0, eip, sup);
    f.get(this.LIN).const(4).op(W.OP_I32_ADD).set(this.LIN);
    this.readSys(ss0, eip, sup);
    // The new stack: RPL 0, not null; a writable data segment, DPL 0, present, accessed, 32-bit.
    f.get(ss0).const(0xffff).op(W.OP_I32_AND).set(ss0);
    f.get(ss0)
      .const(3)
      .op(W.OP_I32_AND)
      .get(ss0)
      .const(0xfffc)
      .op(W.OP_I32_AND)
      .op(W.OP_I32_EQZ)
      .op(W.OP_I32_OR);
    this.slowExitIf(eip);
    this.readGdtDesc(ss0, slo, shi, eip, sup);
    this.descFields(slo, shi, sattr, sbase, slimit);
    f.get(sattr).const(0x40fb).op(W.OP_I32_AND).const(0x4093).op(W.OP_I32_NE);
    this.slowExitIf(eip);
    // EFLAGS as pushed (the lazy flags folded in by the helper); TF set: the interpreter's.
    this.flushFlags();
    callHelper(f.const(SYS_FLAGS), IMP_SYSSTATE).set(flags);
    this.known = K_CFSTORED;
    f.get(flags).const(EFLAGS_TF).op(W.OP_I32_AND);
    this.slowExitIf(eip);
    // SS, ESP, EFLAGS, CS, EIP at ESP0 - 4 ... ESP0 - 20.
    const pushes: Array<() => void> = [
      () => this.loadState(R_SEL + SS),
      () => this.loadReg(4, 32),
      () => f.get(flags),
      () => this.loadState(R_SEL + CS),
      () => f.const(next),
    ];
    pushes.forEach((value, k) => {
      f.get(sbase)
        .get(esp0)
        .op(W.OP_I32_ADD)
        .const(-4 * (k + 1))
        .op(W.OP_I32_ADD)
        .set(this.LIN);
      value();
      f.set(VAL);
      this.writeSys(eip);
    });
    // Commit: SS, ESP, CS (RPL 0), CPL 0, EFLAGS.
    f.get(ss0).const(0xfffc).op(W.OP_I32_AND).set(ss0);
    this.storeSegCache(SS, ss0, sbase, slimit, sattr);
    f.get(esp0).const(20).op(W.OP_I32_SUB).set(T);
    this.storeReg(4, 32, T);
    f.get(sel).const(0xfffc).op(W.OP_I32_AND).set(sel);
    this.storeSegCache(CS, sel, cbase, climit, cattr);
    this.storeStateConst(R_CPL, 0);
    // An interrupt gate (type bit 0 clear) clears IF too.
    f.get(flags)
      .const(~(EFLAGS_VM | EFLAGS_TF | EFLAGS_RF | EFLAGS_NT))
      .op(W.OP_I32_AND);
    f.get(ghi).const(8).op(W.OP_I32_SHR_U).const(1).op(W.OP_I32_AND).const(EFLAGS_IF).op(W.OP_I32_MUL);
    f.const(~EFLAGS_IF).op(W.OP_I32_OR).op(W.OP_I32_AND).set(flags);
    this.storeState(R_EFLAGS, flags);
    callHelper(f.const(SYS_INT), IMP_SYSSTATE).op(W.OP_DROP);
    this.count++;
    f.get(off);
    this.exitDynamic();
    this.count--;
    return EMIT_END;
  }

  /**
   * IRETD from ring 0 to an outer ring, compiled whole (system.ts iret() and returnToOuter(), SDM
   * Vol. 2A, IRET): EIP, CS, EFLAGS, ESP and SS popped and checked — non-conforming code and a
   * writable 32-bit data segment of the popped RPL, present and accessed; EIP within the limit —
   * then CS, CPL, SS, ESP and EFLAGS written as the interpreter writes them at CPL 0 (every flag
   * but VM, VIF and VIP from the stack), the data segment registers the new CPL may not use
   * nulled, and the derived state brought up by the sysstate helper (which also lets a pending
   * interrupt in when IF was set). Anything else — NT set (a task return), VM, TF or NT in the
   * popped flags, a return to ring 0, a conforming segment, an accessed bit to set, a failed check,
   * a TLB miss — ends the block before the IRET, which the interpreter runs: every check comes
   * before the first write. Linux returns to user mode this way from every system call, fault
   * and interrupt.
   */
  private emitIret(eip: number): number {
    const f = this.f;
    if (this.c.r[R_CPL] !== 0 || !this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
    const { T } = this;
    const [newEip, sel, fl, newEsp, newSs, rpl, clo, chi, cattr, cbase, climit] = Array.from(
      { length: 11 },
      () => f.local(),
    );
    const [slo, shi, sattr, sbase, slimit] = Array.from({ length: 5 }, () => f.local());
    // A nested task's return is the interpreter's.
    this.loadState(R_EFLAGS).const(EFLAGS_NT).op(W.OP_I32_AND);
    this.slowExitIf(eip);
    // EIP, CS, EFLAGS from the stack (flat, 32-bit: checked when translated); ESP and SS too for a
    // return to an outer level, read only then (a return to the same level reads 12 bytes).
    const pop = (to: number, k: number) => {
      this.loadReg(4, 32);
      f.const(4 * k)
        .op(W.OP_I32_ADD)
        .set(this.LIN);
      this.readSys(to, eip, this.rNeed);
    };
    [newEip, sel, fl].forEach(pop);
    f.get(sel).const(0xffff).op(W.OP_I32_AND).set(sel);
    f.get(sel).const(3).op(W.OP_I32_AND).set(rpl);
    f.get(rpl).op(W.OP_I32_EQZ).if_();
    this.emitIretSameLevel(eip, newEip, sel, fl, clo, chi, cattr, cbase, climit);
    f.op(W.OP_END);
    pop(newEsp, 3);
    pop(newSs, 4);
    f.get(newSs).const(0xffff).op(W.OP_I32_AND).set(newSs);
    // Flags this path does not take (VM: to virtual-8086 mode; TF, NT); a null CS; an SS of another
    // RPL or null. (A return to ring 0 left in the branch above.)
    f.get(fl)
      .const(EFLAGS_VM | EFLAGS_TF | EFLAGS_NT)
      .op(W.OP_I32_AND);
    f.get(sel).const(0xfffc).op(W.OP_I32_AND).op(W.OP_I32_EQZ).op(W.OP_I32_OR);
    f.get(newSs).const(3).op(W.OP_I32_AND).get(rpl).op(W.OP_I32_NE).op(W.OP_I32_OR);
    f.get(newSs).const(0xfffc).op(W.OP_I32_AND).op(W.OP_I32_EQZ).op(W.OP_I32_OR);
    this.slowExitIf(eip);
    // CS: non-conforming code of DPL = RPL, present, accessed; EIP within its limit.
    this.readGdtDesc(sel, clo, chi, eip);
    this.descFields(clo, chi, cattr, cbase, climit);
    f.get(cattr).const(0xfd).op(W.OP_I32_AND);
    f.get(rpl).const(5).op(W.OP_I32_SHL).const(0x99).op(W.OP_I32_OR).op(W.OP_I32_NE);
    f.get(newEip).get(climit).op(W.OP_I32_GT_U).op(W.OP_I32_OR);
    this.slowExitIf(eip);
    // SS: writable data of DPL = RPL, present, accessed, 32-bit.
    this.readGdtDesc(newSs, slo, shi, eip);
    this.descFields(slo, shi, sattr, sbase, slimit);
    f.get(sattr).const(0x40fb).op(W.OP_I32_AND);
    f.get(rpl).const(5).op(W.OP_I32_SHL).const(0x4093).op(W.OP_I32_OR).op(W.OP_I32_NE);
    this.slowExitIf(eip);
    // Commit.
    this.iretFlagsAndCs(fl, sel, cbase, climit, cattr);
    this.storeState(R_CPL, rpl);
    this.storeSegCache(SS, newSs, sbase, slimit, sattr);
    this.storeReg(4, 32, newEsp);
    // Data segment registers the new CPL may not use are nulled (clearSegsForCpl()): not present,
    // or data / non-conforming code of DPL < CPL.
    for (const seg of [ES, DS, FS, GS]) {
      this.loadState(R_SEGATTR + seg).set(T);
      f.get(T).const(ATTR_P).op(W.OP_I32_AND).op(W.OP_I32_EQZ);
      f.get(T).const(0x10).op(W.OP_I32_AND).op(W.OP_I32_EQZ).op(W.OP_I32_EQZ);
      f.get(T).const(0xc).op(W.OP_I32_AND).const(0xc).op(W.OP_I32_NE).op(W.OP_I32_AND);
      f.get(T).const(5).op(W.OP_I32_SHR_U).const(3).op(W.OP_I32_AND).get(rpl).op(W.OP_I32_LT_U);
      f.op(W.OP_I32_AND).op(W.OP_I32_OR);
      f.if_();
      for (const w of [R_SEL, R_SEGATTR, R_SEGFAST, R_SEGFLAT, R_SEGRAWCPL]) this.storeStateConst(w + seg, 0);
      f.op(W.OP_END);
    }
    callHelper(f.const(SYS_IRET), IMP_SYSSTATE).op(W.OP_DROP);
    this.count++;
    f.get(newEip);
    this.exitDynamic();
    this.count--;
    return EMIT_END;
  }

  /**
   * An IRET's commit from CPL 0: EFLAGS from the popped `fl` — every flag but VM, VIF and VIP, which
   * are kept (VM is 0 here) — and CS's selector and cache.
   */
  private iretFlagsAndCs(fl: number, sel: number, cbase: number, climit: number, cattr: number): void {
    const f = this.f;
    this.flushFlags();
    this.known = K_UNKNOWN;
    const mask = (0x257fd5 | EFLAGS_RF | EFLAGS_NT) & ~EFLAGS_VM;
    f.get(fl).const(mask).op(W.OP_I32_AND);
    this.loadState(R_EFLAGS).const(~mask).op(W.OP_I32_AND).op(W.OP_I32_OR);
    f.const(0x3f7fd5).op(W.OP_I32_AND).const(2).op(W.OP_I32_OR).set(fl);
    this.storeState(R_EFLAGS, fl);
    this.storeStateConst(R_FOP, FOP_NONE);
    this.storeSegCache(CS, sel, cbase, climit, cattr);
  }

  /**
   * IRET from CPL 0 to CPL 0 (the return from an interrupt taken in kernel code, `sync_core()`'s IRET
   * to itself), the part of emitIret() inside its "RPL 0" branch: EIP, CS and EFLAGS popped (SDM Vol.
   * 2A, IRET, RETURN-TO-SAME-PRIVILEGE-LEVEL), no stack switch. Refused as the outer return refuses
   * (the interpreter then runs it): VM, TF or NT in the popped flags, a null CS, a CS that is not
   * non-conforming ring-0 code (present, accessed), EIP past its limit. The translator's state after
   * the branch is the one before it (the outer path goes on from there).
   */
  private emitIretSameLevel(
    eip: number,
    newEip: number,
    sel: number,
    fl: number,
    clo: number,
    chi: number,
    cattr: number,
    cbase: number,
    climit: number,
  ): void {
    const f = this.f;
    const saved = this.saveState();
    f.get(fl)
      .const(EFLAGS_VM | EFLAGS_TF | EFLAGS_NT)
      .op(W.OP_I32_AND);
    f.get(sel).const(0xfffc).op(W.OP_I32_AND).op(W.OP_I32_EQZ).op(W.OP_I32_OR);
    this.slowExitIf(eip);
    this.readGdtDesc(sel, clo, chi, eip);
    this.descFields(clo, chi, cattr, cbase, climit);
    f.get(cattr).const(0xfd).op(W.OP_I32_AND).const(0x99).op(W.OP_I32_NE);
    f.get(newEip).get(climit).op(W.OP_I32_GT_U).op(W.OP_I32_OR);
    this.slowExitIf(eip);
    // Commit: ESP past the three dwords (in `clo`, which the descriptor is done with).
    this.iretFlagsAndCs(fl, sel, cbase, climit, cattr);
    this.loadReg(4, 32);
    f.const(12).op(W.OP_I32_ADD).set(clo);
    this.storeReg(4, 32, clo);
    callHelper(f.const(SYS_IRET), IMP_SYSSTATE).op(W.OP_DROP);
    this.count++;
    f.get(newEip);
    this.exitDynamic();
    this.count--;
    this.restoreState(saved);
  }

  /**
   * With a condition on the stack: when true, the block ends before the current instruction, which
   * the interpreter then runs (raising its fault, if any), as after a memory access's slow path.
   * The other path keeps the register cache. Not a call to the interpreter helper here: a call
   * anywhere in a block costs its fast path too (see slowExit()), and these checks (an FS/GS-based
   * access, a segment reload, a DIV's #DE) sit in hot kernel and MPI code and rarely fail.
   */
  private slowExitIf(eip: number): void {
    const f = this.f;
    f.hint(false).if_();
    this.slowExit(eip);
    f.op(W.OP_END);
  }

  /**
   * An unpaged block's access outside its direct range: `access` (with [LIN]'s RAM offset on the
   * stack; `result`: it leaves the loaded value) when the TLB entry allows it, else the slow exit.
   */
  private viaTlb(size: number, need: number, eip: number, result: boolean, access: () => void): void {
    const f = this.f;
    this.tlbHit(size, need);
    f.hint(true);
    if (result) f.ifI32();
    else f.if_();
    this.tlbAddress();
    access();
    f.op(W.OP_ELSE);
    this.slowExit(eip);
    f.op(W.OP_END);
  }

  /** Push whether [LIN, LIN + size) is in the RAM an unpaged block accesses directly. */
  private inUnpagedRam(size: number): void {
    this.f
      .get(this.LIN)
      .const(UNPAGED_LO)
      .op(W.OP_I32_SUB)
      .const(this.unpagedEnd - UNPAGED_LO - size + 1)
      .op(W.OP_I32_LT_U);
  }

  /** Push the host offset of [lin] in RAM from its TLB entry (E and LIN after tlbHit()). */
  private tlbAddress(entry = this.E, lin = this.LIN): void {
    this.f.get(entry).const(~0xfff).op(W.OP_I32_AND).get(lin).const(0xfff).op(W.OP_I32_AND).op(W.OP_I32_OR);
  }

  /**
   * Push 1 when the access of `size` bytes at [LIN] can use the TLB entry directly (loaded into E):
   * the entry grants `need`, is not I/O, and the access does not cross the page.
   */
  private tlbHit(size: number, need: number): void {
    const f = this.f;
    f.get(this.LIN).const(12).op(W.OP_I32_SHR_U).const(2).op(W.OP_I32_SHL);
    f.mem(W.OP_I32_LOAD, TLB_BYTE_OFFSET, 2).tee(this.E);
    f.const(need | TLB_IO)
      .op(W.OP_I32_AND)
      .const(need)
      .op(W.OP_I32_EQ);
    if (size === 1) return; // a byte cannot cross a page
    f.get(this.LIN)
      .const(0xfff)
      .op(W.OP_I32_AND)
      .const(0x1000 - size)
      .op(W.OP_I32_LE_U);
    f.op(W.OP_I32_AND);
  }

  /**
   * Push the value read from [LIN] (size bytes). `forWrite`: the read of a read-modify-write, checked
   * with write permission as hardware does (a fault reports W=1).
   */
  private read(size: number, eip: number, forWrite = false): void {
    const f = this.f;
    const load = size === 4 ? W.OP_I32_LOAD : size === 2 ? W.OP_I32_LOAD16_U : W.OP_I32_LOAD8_U;
    const w = this.windowFor(size, forWrite);
    if (w >= 0) {
      f.get(w).mem(load, RAM_BYTE_OFFSET + this.winDisp - this.winLo[this.winKey], 0);
      return;
    }
    if (this.unpaged) {
      this.inUnpagedRam(size);
      f.hint(true).ifI32();
      f.get(this.LIN).mem(load, RAM_BYTE_OFFSET, 0);
      f.op(W.OP_ELSE);
      // Below UNPAGED_LO or past the RAM: through the TLB, as paged code does.
      this.viaTlb(size, forWrite ? this.wNeed : this.rNeed, eip, true, () => f.mem(load, RAM_BYTE_OFFSET, 0));
      f.op(W.OP_END);
      return;
    }
    const level = forWrite ? MEMO_WRITE : MEMO_READ;
    const k = this.memoKey;
    const hit = this.memoHit(k, level);
    if (hit) {
      f.hint(true).ifI32();
      this.memoAddress(k);
      f.mem(load, RAM_BYTE_OFFSET, 0);
      f.op(W.OP_ELSE);
    }
    // A read-modify-write's write follows at once; otherwise look for a later use of the memo.
    const keep = this.memoWanted(k, level, forWrite);
    this.tlbHit(size, forWrite ? this.wNeed : this.rNeed);
    f.hint(true).ifI32();
    if (keep) this.memoSet(k);
    this.tlbAddress();
    f.mem(load, RAM_BYTE_OFFSET, 0);
    f.op(W.OP_ELSE);
    if (keep) this.memoVoid(k);
    this.slowExit(eip);
    f.op(W.OP_END);
    if (hit) f.op(W.OP_END);
    if (keep && this.condDepth === 0) this.memo[k] = level;
  }

  /**
   * Frame windows. Code compiled from i386 C keeps many locals in its stack frame and walks
   * structures through a pointer it does not change ([EBP-0x28]...[EBP-0x10] twelve times per
   * iteration of the crypto self-test's MPI loop; [ESP], [EDI+0x18]... in the kernel's XZ decoder):
   * a page memo still tests each access. A scan of the straight line from the block's start finds,
   * per base register, the displacements it is accessed at before the register is first written;
   * with enough of them (2 when the block branches back to its start, else 4) the head of the
   * block checks the whole range once — one page, rights granted, not I/O — and keeps the host
   * offset in a local: accesses inside the range then load and store directly. After a write, a
   * run of 4 accesses makes a late window (lateChecks()). Returns the registers with a window at
   * the head; the scan only sizes windows: the emitter uses one while the register has not been
   * written (storeReg()) nor handed to the interpreter. A failed check ends the block there.
   */
  private planWindows(lin: number): number {
    this.lateN = 0;
    const sn = this.segN;
    const sEip = this.segEip;
    const sLo = this.segLo;
    const sEnd = this.segEnd;
    const sW = this.segW;
    sn.fill(0);
    const n = this.winN;
    const dead = this.winDead;
    n.fill(0);
    dead.fill(0);
    let cur = lin;
    let at = this.startEip;
    let back = false;
    /** Registers written before a branch back to the start: they move from one iteration to the next. */
    let moved = 0;
    for (let k = 0; k < MAX_BLOCK_INSNS; k++) {
      if ((cur & 0xfff) > 0xff0) break;
      let i: Insn;
      try {
        i = this.decodeAt(cur);
      } catch {
        break;
      }
      const next = (at + i.len) | 0;
      const op = i.op;
      const b = i.base;
      if (
        i.mod !== 3 &&
        b >= 0 &&
        i.index < 0 &&
        (i.flags & IF_AD32) !== 0 &&
        i.seg !== FS &&
        i.seg !== GS &&
        op !== 0x8d &&
        !(op >= 0x118 && op <= 0x11f)
      ) {
        const d = i.disp;
        if (sn[b] === 0) {
          sEip[b] = at;
          sLo[b] = d;
          sEnd[b] = d + 4;
          sW[b] = 0;
        } else {
          if (d < sLo[b]) sLo[b] = d;
          if (d + 4 > sEnd[b]) sEnd[b] = d + 4;
        }
        sn[b]++;
        if (writesMemory(i)) sW[b] = 1;
      }
      const w = regsWritten(i);
      for (let r = 0; r < 8; r++)
        if ((w >> r) & 1) {
          this.closeSegment(r);
          dead[r] = 1;
        }
      if (this.branchesTo(i, next, this.startEip)) {
        back = true;
        for (let r = 0; r < 8; r++) moved |= dead[r] << r;
      }
      if (op === 0xe9 || op === 0xeb) {
        // A JMP the block follows within the page; one back into the scanned code ends the scan.
        const to = (next + i.imm) | 0;
        if (to <= at || (to - this.pageLo) >>> 12 !== 0) break;
        cur = (cur + to - at) | 0;
        at = to;
        continue;
      }
      if (
        op === 0xc2 ||
        op === 0xc3 ||
        (op === 0xff && (i.reg === 4 || i.reg === 5)) ||
        changesMode(i) ||
        isInvlpg(i)
      )
        break;
      cur += i.len;
      at = next;
    }
    for (let r = 0; r < 8; r++) this.closeSegment(r);
    const need = WIN_MIN_ACCESSES >> (back ? 1 : 0);
    let plan = 0;
    for (let r = 0; r < 8; r++) {
      // None for a register written on the way back to the start: one that moves (a pointer
      // walking an array) would fail the check whenever it crosses into another page.
      if (
        !this.winAllowed ||
        n[r] < need ||
        this.winEnd[r] - this.winLo[r] > WIN_MAX_BYTES ||
        ((moved >> r) & 1) !== 0
      )
        continue;
      plan |= 1 << r;
    }
    return plan;
  }

  /**
   * The scan's segment of accesses through `r` ends (a write to `r`, or the scan's end): before any
   * write, it sizes the head's window; after one, a late window if worth one.
   */
  private closeSegment(r: number): void {
    if (this.winDead[r] === 0) {
      this.winN[r] = this.segN[r];
      this.winLo[r] = this.segLo[r];
      this.winEnd[r] = this.segEnd[r];
      this.winW[r] = this.segW[r];
    } else this.lateWindow(r);
    this.segN[r] = 0;
  }

  /** The scan's segment of accesses through `r` since its last write, as a late window if worth one. */
  private lateWindow(r: number): void {
    const k = this.lateN;
    if (!this.winAllowed || this.segN[r] < WIN_MIN_ACCESSES || k >= LATE_MAX) return;
    if (this.segEnd[r] - this.segLo[r] > WIN_MAX_BYTES) return;
    this.lateEip[k] = this.segEip[r];
    this.lateReg[k] = r;
    this.lateLo[k] = this.segLo[r];
    this.lateEnd[k] = this.segEnd[r];
    this.lateW[k] = this.segW[r];
    this.lateN = k + 1;
  }

  /**
   * Before the instruction at `eip`: the late windows whose first access it is, on the block's
   * straight path (not inside a branch's conditional code, where only one path would check).
   */
  private lateChecks(eip: number): void {
    if (this.condDepth !== 0 || this.fwd.length !== 0) return;
    for (let k = 0; k < this.lateN; k++) {
      if (this.lateEip[k] !== eip) continue;
      const r = this.lateReg[k];
      // A window checked before the loop keeps its local for every iteration: a later window of
      // the same register would overwrite it (the scan plans none there unless it saw the register
      // written first, which then was not hoisted; a path the scan did not see could still loop).
      if ((this.hoisted >> r) & 1) continue;
      this.winLo[r] = this.lateLo[k];
      this.winEnd[r] = this.lateEnd[k];
      this.winW[r] = this.lateW[k];
      this.windowCheck(r, eip);
    }
  }

  /** Emit the check of register `r`'s window (see planWindows()): its local, and winOn. */
  private windowCheck(r: number, at: number): void {
    const f = this.f;
    const lo = this.winLo[r];
    // T = r + lo: the range [T, T + size) in one page, and the TLB entry granting the rights.
    const size = this.winEnd[r] - lo;
    const rights = this.winW[r] !== 0 ? this.wNeed | this.rNeed : this.rNeed;
    this.loadReg(r, 32);
    f.const(lo).op(W.OP_I32_ADD).tee(this.T);
    f.const(size - 1)
      .op(W.OP_I32_ADD)
      .get(this.T)
      .op(W.OP_I32_XOR)
      .const(0x1000)
      .op(W.OP_I32_LT_U);
    f.get(this.T).const(12).op(W.OP_I32_SHR_U).const(2).op(W.OP_I32_SHL);
    f.mem(W.OP_I32_LOAD, TLB_BYTE_OFFSET, 2).tee(this.E);
    f.const(rights | TLB_IO)
      .op(W.OP_I32_AND)
      .const(rights)
      .op(W.OP_I32_EQ)
      .op(W.OP_I32_AND);
    f.hint(true).ifI32();
    f.get(this.E).const(~0xfff).op(W.OP_I32_AND).get(this.T).const(0xfff).op(W.OP_I32_AND).op(W.OP_I32_OR);
    f.op(W.OP_ELSE);
    // The block leaves before its first instruction, which the interpreter runs (a TLB miss fills
    // the entry for next time); the engine counts the failures of each block and translates
    // again without windows one that keeps failing (a frame straddling two pages...).
    f.const(0).const(this.winId).mem(W.OP_I32_STORE, off(R_KQ_WINFAIL), 2);
    this.slowExit(at);
    f.op(W.OP_END);
    if (this.winHB[r] < 0) this.winHB[r] = f.local();
    f.set(this.winHB[r]);
    this.winOn[r] = 1;
    this.windowsPlanned++;
  }

  /** The window local serving the access being emitted ([winKey + winDisp], `size` bytes), or -1. */
  private windowFor(size: number, write: boolean): number {
    const r = this.winKey;
    if (r < 0 || this.winOn[r] === 0 || (write && this.winW[r] === 0)) return -1;
    const d = this.winDisp;
    if (d < this.winLo[r] || d + size > this.winEnd[r]) return -1;
    return this.winHB[r];
  }

  /**
   * Whether the access through memo key `k` needing `level` can try the memo: if so, pushes the
   * run-time test (LIN in the memo's page, far enough from its end). A first translation also
   * notes the rights each key is asked for, for the head of a loop (loopMemo).
   */
  private memoHit(k: number, level: number): boolean {
    if (k >= 0 && !this.loopFlags && this.loopMemo[k] < level) this.loopMemo[k] = level;
    if (k < 0 || this.memo[k] < level) return false;
    this.memoAccesses++;
    this.f.get(this.LIN).get(this.memoPage[k]).op(W.OP_I32_XOR).get(this.memoLim[k]).op(W.OP_I32_LT_U);
    return true;
  }

  /** Host address of [LIN] through memo `k` (RAM_BYTE_OFFSET goes in the access's offset). */
  private memoAddress(k: number): void {
    this.f.get(this.LIN).get(this.memoDelta[k]).op(W.OP_I32_ADD);
  }

  /**
   * Whether this access (not served by a memo at least as strong) should set memo `k`: it is not
   * weaker than the memo there, and the block is about to use it (a later access through the same
   * base among the next few instructions, or the write of this read-modify-write).
   */
  private memoWanted(k: number, level: number, rmw: boolean): boolean {
    if (k < 0 || this.memo[k] > level) return false;
    // Setting a memo costs about what one hit saves: worth it from two hits on (in a loop, the
    // next iteration's access is one).
    if (!(this.loopFlags && this.loopMemo[k] !== MEMO_NONE) && this.baseUsesSoon(k) < (rmw ? 1 : 2))
      return false;
    this.memoLocals(k);
    return true;
  }

  private memoLocals(k: number): void {
    if (this.memoPage[k] < 0) {
      this.memoPage[k] = this.f.local();
      this.memoDelta[k] = this.f.local();
      this.memoLim[k] = this.f.local();
    }
  }

  /** In the fast path of a TLB check (entry in E): memo `k` is LIN's page. */
  private memoSet(k: number): void {
    const f = this.f;
    f.get(this.LIN).const(~0xfff).op(W.OP_I32_AND).set(this.memoPage[k]);
    f.get(this.E)
      .const(~0xfff)
      .op(W.OP_I32_AND)
      .get(this.memoPage[k])
      .op(W.OP_I32_SUB)
      .set(this.memoDelta[k]);
    f.const(MEMO_LIMIT).set(this.memoLim[k]);
  }

  /**
   * How many of the next few instructions (in a straight line from the current one, counting up to
   * 2) access memory through the base register of memo key `k`.
   */
  private baseUsesSoon(k: number): number {
    let lin = this.curLin;
    let uses = 0;
    for (let n = 0; n <= MEMO_LOOKAHEAD && uses < 2; n++) {
      if ((lin & 0xfff) > 0xff0) break;
      let i: Insn;
      try {
        i = this.decodeAt(lin);
      } catch {
        break;
      }
      lin += i.len;
      if (n === 0) continue; // the current instruction
      const op = i.op;
      if (i.mod !== 3 && (i.base >= 0 ? i.base : 8) === k) uses++;
      else if (
        k === 4 &&
        ((op >= 0x50 && op <= 0x5f) || op === 0x68 || op === 0x6a || op === 0xe8 || op === 0xc3)
      )
        uses++;
    }
    return uses;
  }

  /** In a slow path: memo `k` hits nothing until set again. */
  private memoVoid(k: number): void {
    this.f.const(0).set(this.memoLim[k]);
  }

  /** Write local VAL to [LIN] (a store to a page holding code takes the slow path: slowExit()). */
  private write(size: number, eip: number): void {
    const f = this.f;
    const store = size === 4 ? W.OP_I32_STORE : size === 2 ? W.OP_I32_STORE16 : W.OP_I32_STORE8;
    const w = this.windowFor(size, true);
    if (w >= 0) {
      f.get(w)
        .get(this.VAL)
        .mem(store, RAM_BYTE_OFFSET + this.winDisp - this.winLo[this.winKey], 0);
      return;
    }
    if (this.unpaged) {
      // In RAM, and no code in its page nor, for a wider store, in the next one (which it may reach):
      // else through the TLB, whose entries grant no write right to code pages, so the store takes
      // the slow path, which invalidates the code (CPU.markCodePage()).
      // Two branches to one slow path, not the two tests ANDed into one: V8 materializes each
      // test as a 0/1 value for the AND (setcc, movzx) before it branches, at every store.
      f.block();
      f.block();
      this.inUnpagedRam(size);
      f.op(W.OP_I32_EQZ).hint(false).brIf(0);
      f.get(this.LIN).const(12).op(W.OP_I32_SHR_U);
      f.mem(size > 1 ? W.OP_I32_LOAD16_U : W.OP_I32_LOAD8_U, CODEPAGE_BYTE_OFFSET, 0);
      f.hint(false).brIf(0);
      f.get(this.LIN).get(this.VAL).mem(store, RAM_BYTE_OFFSET, 0);
      f.br(1);
      f.op(W.OP_END);
      this.viaTlb(size, this.wNeed, eip, false, () => f.get(this.VAL).mem(store, RAM_BYTE_OFFSET, 0));
      f.op(W.OP_END);
      return;
    }
    const k = this.memoKey;
    // A memo with write rights was set from an entry granting them, so its page held no code then,
    // and nothing inside a block marks a page as code (see forgetRegs()).
    const hit = this.memoHit(k, MEMO_WRITE);
    if (hit) {
      f.hint(true).if_();
      this.memoAddress(k);
      f.get(this.VAL);
      f.mem(store, RAM_BYTE_OFFSET, 0);
      f.op(W.OP_ELSE);
    }
    const keep = this.memoWanted(k, MEMO_WRITE, false);
    // Entries of pages holding code grant no write right (CPU.markCodePage()): such stores take
    // the slow path, which invalidates the code.
    this.tlbHit(size, this.wNeed);
    f.hint(true).if_();
    if (keep) this.memoSet(k);
    this.tlbAddress();
    f.get(this.VAL);
    f.mem(store, RAM_BYTE_OFFSET, 0);
    f.op(W.OP_ELSE);
    if (keep) this.memoVoid(k);
    this.slowExit(eip);
    f.op(W.OP_END);
    if (hit) f.op(W.OP_END);
    if (keep && this.condDepth === 0) this.memo[k] = MEMO_WRITE;
  }

  /**
   * The slow path of a memory access (TLB miss, MMIO, an access crossing a page, a store to a page
   * holding code): the block ends before the instruction, none of which has happened yet
   * (instructions access memory before they write registers), and the interpreter runs it — at the
   * block's first instruction, the dispatcher's step() right away (the block returns the complement
   * of its count); elsewhere the run loop, which goes on there in the interpreter or in the block
   * compiled at that address once it is hot. The interpreter also invalidates the code a store
   * modifies. No call into TypeScript inside the block: a call anywhere in a function makes V8 keep
   * the values live across it in stack slots, also on the fast path (measured with bench/duo.ts,
   * boot to /init 3.4–4.4% faster than with helper calls, 4 pairs; fork+exec level or faster).
   * The dispatcher counts slow exits from the returned value (SLOW_EXIT_BIT, or the complement), not
   * a counter in memory: an increment at each of the ~80,000 slow exits of a boot was 6% of its wasm.
   */
  private slowExit(eip: number): void {
    const f = this.f;
    this.spill();
    this.syncFlags();
    f.const(0).const(eip).mem(W.OP_I32_STORE, off(R_EIP), 2);
    f.get(this.BASE);
    if (this.count === 0) f.const(-1).op(W.OP_I32_XOR);
    else f.const(this.count | SLOW_EXIT_BIT).op(W.OP_I32_ADD);
    f.op(W.OP_RETURN);
  }

  /** Like exit(), used inside nested control flow (the count includes the current instruction). */
  private exitPending(eip: number): void {
    const f = this.f;
    f.const(0).const(eip).mem(W.OP_I32_STORE, off(R_EIP), 2);
    this.returnCount();
  }

  /** A 32-bit r/m destination's value → stack: the register, or memory read with write intent (`forWrite`). */
  private loadDest32(i: Insn, eip: number, forWrite = true): void {
    if (i.mod === 3) this.loadReg(i.rm, 32);
    else {
      this.ea(i);
      this.read(4, eip, forWrite);
    }
  }

  /** Operand r/m → stack (register or memory). */
  private loadE(i: Insn, bits: number, eip: number): void {
    if (i.mod === 3) this.loadReg(i.rm, bits);
    else {
      this.ea(i);
      this.read(bits >> 3, eip);
    }
  }

  /**
   * Lazy flags of an ADD/SUB-type op from locals A, B, RES. They are kept in the flag locals and
   * written to the state block only when something may read them there (syncFlags): an exit, a slow
   * path, a helper. Most are overwritten by the next flag-setting instruction first.
   */
  private lazyFlags(fop: number, bits: number): void {
    const f = this.f;
    f.get(this.A).set(this.FA);
    f.get(this.B).set(this.FB);
    f.get(this.RES).set(this.FRES);
    this.pend = PEND_LAZY;
    this.pendFop = fop;
    this.pendBits = bits;
  }

  /** Flags of a logic op (CF=OF=AF=0, the rest from RES), deferred like lazyFlags(). */
  private logicFlags(bits: number): void {
    this.f.get(this.RES).set(this.FRES);
    this.pend = PEND_LOGIC;
    this.pendBits = bits;
  }

  /** Write deferred flags to the state block (the translator still regards them as pending). */
  private syncFlags(): void {
    if (this.pend === PEND_NONE) return;
    if (this.pend === PEND_ALL_LOCAL) {
      this.storeState(R_FOP, this.FOPL);
      this.storeState(R_FA, this.FA);
      this.storeState(R_FB, this.FB);
      this.storeState(R_FRES, this.FRES);
      this.storeState(R_FSIZE, this.FSIZEL);
      return;
    }
    if (this.pend === PEND_LOGIC || this.pend === PEND_SHIFT) {
      this.resultCfOfToEflags();
      this.storeStateConst(R_FOP, FOP_RESULT);
    } else {
      if (this.pendFop === PEND_FOP_LOCAL) this.storeState(R_FOP, this.FOPL);
      else this.storeStateConst(R_FOP, this.pendFop);
      this.storeState(R_FA, this.FA);
      this.storeState(R_FB, this.FB);
    }
    this.storeState(R_FRES, this.FRES);
    this.storeStateConst(R_FSIZE, this.pendBits);
  }

  /** FOP_RESULT's CF and OF into EFLAGS: 0 for a logic op, FA's for a shift; the rest comes from FRES. */
  private resultCfOfToEflags(): void {
    const f = this.f;
    f.const(0).const(0).mem(W.OP_I32_LOAD, off(R_EFLAGS), 2).const(~EFLAGS_ARITH).op(W.OP_I32_AND);
    if (this.pend === PEND_SHIFT) f.get(this.FA).op(W.OP_I32_OR);
    f.mem(W.OP_I32_STORE, off(R_EFLAGS), 2);
  }

  /** The state block's FOP, FA, FB and FRES into FOPL, FA, FB, FRES. */
  private loadFlagWords(): void {
    const f = this.f;
    f.const(0).mem(W.OP_I32_LOAD, off(R_FOP), 2).set(this.FOPL);
    f.const(0).mem(W.OP_I32_LOAD, off(R_FA), 2).set(this.FA);
    f.const(0).mem(W.OP_I32_LOAD, off(R_FB), 2).set(this.FB);
    f.const(0).mem(W.OP_I32_LOAD, off(R_FRES), 2).set(this.FRES);
  }

  /**
   * Bring the flags into the PEND_ALL_LOCAL form (the loop head's): deferred ones are described in
   * the locals, flags in the state block are loaded into them. A logic/shift result's CF and OF go
   * to EFLAGS, as syncFlags() would write them (FOP_RESULT reads neither FA nor FB).
   */
  private flagsToLocals(): void {
    const f = this.f;
    switch (this.pend) {
      case PEND_ALL_LOCAL:
        break;
      case PEND_NONE:
        this.loadFlagWords();
        f.const(0).mem(W.OP_I32_LOAD, off(R_FSIZE), 2).set(this.FSIZEL);
        break;
      case PEND_LOGIC:
      case PEND_SHIFT:
        this.resultCfOfToEflags();
        f.const(FOP_RESULT).set(this.FOPL);
        f.const(this.pendBits).set(this.FSIZEL);
        break;
      default:
        if (this.pendFop !== PEND_FOP_LOCAL) f.const(this.pendFop).set(this.FOPL);
        f.const(this.pendBits).set(this.FSIZEL);
    }
    this.pend = PEND_ALL_LOCAL;
    this.pendFop = 0;
    this.pendBits = 0;
    this.known = K_UNKNOWN;
  }

  /** Write deferred flags now, in straight-line code: the state block is up to date from here on. */
  private flushFlags(): void {
    this.syncFlags();
    this.pend = PEND_NONE;
  }

  /** The flags now live in FA/FB/FRES as `k` describes, for `bits`-wide operands (8 or 32; 16 is unknown). */
  private setKnown(k: number, bits: number): void {
    this.known = bits === 16 ? K_UNKNOWN : k;
    this.kbits = bits;
  }

  /** Push local `l` as a signed value of the known operand size. */
  private getSigned(l: number): void {
    this.f.get(l);
    if (this.kbits === 8) this.f.op(W.OP_I32_EXTEND8_S);
  }

  /** Push CF (0/1) of the current flags. */
  private getCF(): void {
    const f = this.f;
    switch (this.known) {
      case K_SUB:
        f.get(this.FA).get(this.FB).op(W.OP_I32_LT_U);
        return;
      case K_ADD:
        f.get(this.FRES).get(this.FA).op(W.OP_I32_LT_U);
        return;
      case K_LOGIC:
        f.const(0);
        return;
      case K_ADC:
        // With a carry-in, RES == A is a carry-out too (A + 0xff..ff + 1).
        f.get(this.FRES).get(this.FA).op(W.OP_I32_LE_U);
        f.get(this.FRES).get(this.FA).op(W.OP_I32_LT_U);
        f.get(this.FOPL).const(FOP_ADC).op(W.OP_I32_EQ).op(W.OP_SELECT);
        return;
      case K_SBB:
        f.get(this.FA).get(this.FB).op(W.OP_I32_LE_U);
        f.get(this.FA).get(this.FB).op(W.OP_I32_LT_U);
        f.get(this.FOPL).const(FOP_SBB).op(W.OP_I32_EQ).op(W.OP_SELECT);
        return;
      case K_SHIFT:
        f.get(this.FA).const(1).op(W.OP_I32_AND);
        return;
      case K_CFSTORED:
      case K_RES32:
        f.const(0).mem(W.OP_I32_LOAD, off(R_EFLAGS), 2).const(EFLAGS_CF).op(W.OP_I32_AND);
        return;
      default: {
        // CF from the flag words, as CPU.getCF() computes it (values there are masked to their
        // size, so unsigned compares work for every size): in the locals at a loop's head
        // (PEND_ALL_LOCAL), else from the state block into the locals, free to reuse.
        const fop = this.FOPL;
        if (this.pend !== PEND_ALL_LOCAL) {
          this.flushFlags();
          this.loadFlagWords();
        }
        f.get(this.FRES).get(this.FA).op(W.OP_I32_LT_U); // ADD
        f.get(this.FA).get(this.FB).op(W.OP_I32_LT_U); // SUB
        f.get(this.FRES).get(this.FA).op(W.OP_I32_LE_U); // ADC
        f.get(this.FA).get(this.FB).op(W.OP_I32_LE_U); // SBB
        f.const(0).mem(W.OP_I32_LOAD, off(R_EFLAGS), 2).const(EFLAGS_CF).op(W.OP_I32_AND); // stored
        f.get(fop).const(FOP_SBB).op(W.OP_I32_EQ).op(W.OP_SELECT);
        f.get(fop).const(FOP_ADC).op(W.OP_I32_EQ).op(W.OP_SELECT);
        f.get(fop).const(FOP_SUB).op(W.OP_I32_EQ).op(W.OP_SELECT);
        f.get(fop).const(FOP_ADD).op(W.OP_I32_EQ).op(W.OP_SELECT);
      }
    }
  }

  /** Push the truth (0/1) of condition `cc`. */
  private cond(cc: number): void {
    const f = this.f;
    const neg = (cc & 1) !== 0;
    const k = this.known;
    const A = this.FA;
    const B = this.FB;
    const RES = this.FRES;
    let done = true;
    if (k === K_SUB) {
      switch (cc >> 1) {
        case 1:
          f.get(A).get(B).op(W.OP_I32_LT_U);
          break;
        case 2:
          f.get(RES).op(W.OP_I32_EQZ);
          break;
        case 3:
          f.get(A).get(B).op(W.OP_I32_LE_U);
          break;
        case 4:
          f.get(RES)
            .const(this.kbits - 1)
            .op(W.OP_I32_SHR_U);
          break;
        case 6:
          this.getSigned(A);
          this.getSigned(B);
          f.op(W.OP_I32_LT_S);
          break;
        case 7:
          this.getSigned(A);
          this.getSigned(B);
          f.op(W.OP_I32_LE_S);
          break;
        default:
          done = false;
      }
    } else if (k === K_ADD || k === K_ADC || k === K_SBB || k === K_SHIFT) {
      // RES = A + B (+ carry) or A - B (- carry), kbits wide, each masked to it, or a shift's
      // result with OF in bit 11 of A. OF: for an add, a sign change of the result when both
      // operands have the same sign; for a subtract, when they differ (SDM Vol. 1, 3.4.3.1; the
      // interpreter's getOF()).
      const sf = () =>
        f
          .get(RES)
          .const(this.kbits - 1)
          .op(W.OP_I32_SHR_U)
          .const(1)
          .op(W.OP_I32_AND);
      const of = () => {
        if (k === K_SHIFT) {
          f.get(A).const(11).op(W.OP_I32_SHR_U);
          return;
        }
        if (k === K_SBB) {
          f.get(A).get(B).op(W.OP_I32_XOR);
          f.get(A).get(RES).op(W.OP_I32_XOR);
        } else {
          f.get(A).get(RES).op(W.OP_I32_XOR);
          f.get(B).get(RES).op(W.OP_I32_XOR);
        }
        f.op(W.OP_I32_AND)
          .const(this.kbits - 1)
          .op(W.OP_I32_SHR_U)
          .const(1)
          .op(W.OP_I32_AND);
      };
      switch (cc >> 1) {
        case 0:
          of();
          break;
        case 1:
          this.getCF();
          break;
        case 2:
          f.get(RES).op(W.OP_I32_EQZ);
          break;
        case 3:
          this.getCF();
          f.get(RES).op(W.OP_I32_EQZ).op(W.OP_I32_OR);
          break;
        case 4:
          sf();
          break;
        case 6:
          sf();
          of();
          f.op(W.OP_I32_XOR);
          break;
        case 7:
          sf();
          of();
          f.op(W.OP_I32_XOR).get(RES).op(W.OP_I32_EQZ).op(W.OP_I32_OR);
          break;
        default:
          done = false;
      }
    } else if (k === K_LOGIC) {
      switch (cc >> 1) {
        case 0:
        case 1:
          f.const(0);
          break;
        case 2:
        case 3:
          f.get(RES).op(W.OP_I32_EQZ);
          break;
        case 4:
        case 6:
          f.get(RES)
            .const(this.kbits - 1)
            .op(W.OP_I32_SHR_U);
          break;
        case 7:
          this.getSigned(RES);
          f.const(0).op(W.OP_I32_LE_S);
          break;
        default:
          done = false;
      }
    } else if (k === K_RES32) {
      switch (cc >> 1) {
        case 2:
          f.get(RES).op(W.OP_I32_EQZ);
          break;
        case 4:
          f.get(RES).const(31).op(W.OP_I32_SHR_U);
          break;
        default:
          done = false;
      }
    } else done = false;
    if (!done) {
      const c2 = cc >> 1;
      // At a loop's head the flag words are in the locals (PEND_ALL_LOCAL): read there.
      if (this.pend !== PEND_ALL_LOCAL || c2 === 0 || c2 >= 5) this.flushFlags();
      if (c2 === 1) this.getCF();
      else if (c2 === 2) this.stateZF();
      else if (c2 === 3) {
        this.getCF();
        this.stateZF();
        f.op(W.OP_I32_OR);
      } else if (c2 === 4) {
        // SF, as CPU.getSF() computes it.
        this.stateFlag(7, () => {
          this.flagWord(R_FRES, this.FRES);
          this.flagWord(R_FSIZE, this.FSIZEL);
          f.const(1).op(W.OP_I32_SUB).op(W.OP_I32_SHR_U).const(1).op(W.OP_I32_AND);
        });
      } else {
        // O, P, L, LE: the interpreter's helper.
        callHelper(f.const(cc), IMP_COND);
        return;
      }
    }
    if (neg) f.op(W.OP_I32_EQZ);
  }

  /** Push ZF of flags of unknown kind (see flagWord()), as CPU.getZF() computes it. */
  private stateZF(): void {
    this.stateFlag(6, () => {
      this.flagWord(R_FRES, this.FRES);
      this.f.op(W.OP_I32_EQZ);
    });
  }

  /** Push a lazy-flag word: from its local at a loop's head (PEND_ALL_LOCAL), else the state block. */
  private flagWord(index: number, l: number): void {
    if (this.pend === PEND_ALL_LOCAL) this.f.get(l);
    else this.f.const(0).mem(W.OP_I32_LOAD, off(index), 2);
  }

  /**
   * Push a flag of unknown kind: EFLAGS bit `bit` when FOP_NONE says all flags are there, else what
   * `lazy` computes from the lazy words (see flagWord()).
   */
  private stateFlag(bit: number, lazy: () => void): void {
    const f = this.f;
    this.flagWord(R_FOP, this.FOPL);
    f.ifI32();
    lazy();
    f.op(W.OP_ELSE);
    f.const(0).mem(W.OP_I32_LOAD, off(R_EFLAGS), 2).const(bit).op(W.OP_I32_SHR_U).const(1).op(W.OP_I32_AND);
    f.op(W.OP_END);
  }

  // ---------------------------------------------------------------- instructions

  private emit(i: Insn, eip: number, next: number): number {
    // NOP, XCHG AX,AX (66 90, a 2-byte NOP) and PAUSE (F3 90, a spin-wait hint): nothing to do.
    // LOCK makes any of them #UD, which the interpreter raises.
    if (i.op === 0x90 && (i.flags & IF_LOCK) === 0) return EMIT_OK;
    // 32-bit operand and address size, no REP; memory operands only through flat segments. LOCK on
    // a read-modify-write of memory changes nothing for one processor (the kernel's smp_mb() is
    // LOCK ADD [ESP], 0); anywhere else it is #UD, which the interpreter raises.
    const rep = i.flags & (IF_REP | IF_REPNE | IF_LOCK);
    if ((rep === IF_REP || rep === IF_REPNE) && (i.flags & IF_AD32) !== 0) {
      if (rep === IF_REP && isRepMovsStos(i)) return this.emitRepString(i, eip, next);
      if (i.op === 0xa6 || i.op === 0xae) return this.emitRepCmpScas(i, eip, next);
    }
    if ((i.flags & (IF_REP | IF_REPNE)) !== 0 || ((i.flags & IF_LOCK) !== 0 && !lockable(i))) return EMIT_NO;
    if ((i.flags & IF_AD32) === 0) return EMIT_NO;
    const op32 = (i.flags & IF_OP32) !== 0;
    this.curEip = eip;
    this.curNext = next;
    this.segBased = -1;
    if (i.mod !== 3 || isMoffs(i.op)) {
      // DS, ES and SS are flat whenever compiled code runs (kqemu_is_ok()), and cannot change inside a
      // block; FS and GS (per-CPU data, TLS) get their base added and checked at run time.
      const s = i.seg;
      if (s === FS || s === GS) this.segBased = s;
      else if (s === CS || this.c.segFlat[s] === 0) return EMIT_NO;
    }
    const f = this.f;
    const op = i.op;
    if (op < 0x40 && (op & 7) < 6) {
      const aluOp = (op >> 3) & 7;
      const form = op & 7;
      const bits = form & 1 || form === 5 ? (op32 ? 32 : 16) : 8;
      return this.emitAlu(i, aluOp, form, bits, eip);
    }
    if (op >= 0x80 && op <= 0x83 && op !== 0x82) {
      const bits = op === 0x80 ? 8 : op32 ? 32 : 16;
      return this.emitAlu(i, i.reg, 6, bits, eip);
    }
    if (op === 0xc0 || op === 0xc1 || op === 0xd0 || op === 0xd1) {
      // Group 2 by a constant: SHL/SHR/SAR of every size, ROL/ROR of dwords.
      const bits = (op & 1) === 0 ? 8 : op32 ? 32 : 16;
      const count = op >= 0xd0 ? 1 : i.imm & 31;
      if ((i.reg === 0 || i.reg === 1) && bits === 32) return this.emitRotate(i, count, eip);
      if (i.reg !== 4 && i.reg !== 5 && i.reg !== 7) return EMIT_NO;
      return this.emitShift(i, count, eip, bits);
    }
    if (!op32 && !isByteOp(op) && !hasWordForm(op)) return EMIT_NO;
    switch (op) {
      case 0x1a4: // SHLD r/m32, r32, imm8
      case 0x1ac: // SHRD
        return op32 ? this.emitShiftDouble(i, op === 0x1a4, i.imm & 31, eip) : EMIT_NO;
      case 0x1a5: // SHLD r/m32, r32, CL
      case 0x1ad: // SHRD
        return op32 ? this.emitShiftDoubleCl(i, op === 0x1a5, eip) : EMIT_NO;
      case 0x06: // PUSH ES/CS/SS/DS/FS/GS
      case 0x0e:
      case 0x16:
      case 0x1e:
      case 0x1a0:
      case 0x1a8: {
        // A 32-bit push of a selector moves ESP by 4 and writes its 2 bytes (as data-ops.ts pushSeg()).
        if (!op32 || !this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
        f.const(0)
          .mem(W.OP_I32_LOAD, off(R_SEL + pushPopSeg(op)), 2)
          .set(this.VAL);
        this.push(eip, 2);
        return EMIT_OK;
      }
      case 0x07: // POP ES/DS/FS/GS (32-bit): see segReload()
      case 0x1f:
      case 0x1a1:
      case 0x1a9: {
        if (!op32 || !this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
        this.linOfReg(4);
        this.read(4, eip);
        f.const(0xffff).op(W.OP_I32_AND).set(this.VAL);
        const seg = pushPopSeg(op);
        if (seg === FS || seg === GS) this.segLoadFsGs(seg, eip);
        else this.segReload(seg, eip);
        this.dropStackDword();
        return EMIT_OK;
      }
      case 0x8e:
        // MOV ES/DS/FS/GS, r32: see segReload().
        if (i.mod !== 3 || (i.reg !== ES && i.reg !== DS && i.reg !== FS && i.reg !== GS)) return EMIT_NO;
        this.loadReg(i.rm, 32);
        f.const(0xffff).op(W.OP_I32_AND).set(this.VAL);
        if (i.reg === FS || i.reg === GS) this.segLoadFsGs(i.reg, eip);
        else this.segReload(i.reg, eip);
        return EMIT_OK;
      case 0x8c: {
        // MOV r/m, Sreg: the selector; a 32-bit register gets it zero-extended (P6, as data-ops.ts
        // movEwSw()), memory its 2 bytes.
        if (i.reg > 5) return EMIT_NO;
        this.loadState(R_SEL + i.reg).set(this.VAL);
        if (i.mod === 3) this.storeReg(i.rm, 32, this.VAL);
        else {
          this.ea(i);
          this.write(2, eip);
        }
        return EMIT_OK;
      }
      case 0x120: {
        // MOV r32, CR0/CR2/CR3/CR4 at CPL 0 (above it #GP, and CR1/CR5-7 #UD: the interpreter's).
        const cr = [R_CR0, -1, R_CR2, R_CR3, R_CR4][i.reg] ?? -1;
        if (this.c.r[R_CPL] !== 0 || cr < 0 || i.mod !== 3) return EMIT_NO;
        this.loadState(cr).set(this.VAL);
        this.storeReg(i.rm, 32, this.VAL);
        return EMIT_OK;
      }
      case 0xcd:
        return this.emitIntN(i, eip, next);
      case 0xcf:
        return op32 ? this.emitIret(eip) : EMIT_NO;
      case 0x9c:
        // PUSHF (32-bit): the flags made concrete by the getflags helper, VM and RF pushed as 0
        // (data-ops.ts pushf(); compiled code never runs in virtual-8086 mode, where it may #GP).
        if (!op32 || !this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
        this.flushFlags();
        callHelper(f, IMP_GETFLAGS).set(this.VAL);
        this.push(eip);
        // The helper left every arithmetic flag in r[R_EFLAGS] (FOP_NONE).
        this.known = K_CFSTORED;
        return EMIT_OK;
      case 0x9d:
        // POPF (32-bit): the dword at ESP, ESP + 4, then the popf helper sets EFLAGS as the
        // interpreter does (which bits CPL and IOPL let change: data-ops.ts popfValue()). An
        // interrupt it unmasks, or TF, is an event: the block ends after it. Linux's
        // local_irq_restore() is PUSHF ... POPF.
        if (!op32 || !this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
        this.readStackDword(eip);
        this.dropStackDword();
        this.flushFlags();
        this.count++;
        f.get(this.VAL);
        callHelper(f, IMP_POPF);
        f.hint(false).if_();
        this.exitPending(next);
        f.op(W.OP_END);
        this.count--;
        // Every arithmetic flag is in r[R_EFLAGS] now (setEflags(): FOP_NONE).
        this.known = K_CFSTORED;
        return EMIT_OK;
      case 0x8f:
        // POP m32 whose address does not use ESP (that one is computed after the increment: SDM
        // Vol. 2B "POP"): the dword at ESP written there, then ESP + 4 (a faulting write leaves ESP
        // as it was, as data-ops.ts popEv() restores it).
        if (!op32 || i.reg !== 0 || i.mod === 3 || i.base === 4 || i.index === 4) return EMIT_NO;
        if (!this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
        this.readStackDword(eip);
        this.ea(i);
        this.write(4, eip);
        this.dropStackDword();
        return EMIT_OK;
      case 0x1bc: // BSF r32, r/m32
      case 0x1bd: // BSR
        return op32 ? this.emitBitScan(i, op === 0x1bd, eip) : EMIT_NO;
      case 0x1c1: {
        // XADD r/m32, r32: the sum to the destination, its old value to the register, flags of
        // the ADD (arith-ops.ts xadd()); the memory write comes first, so a fault changes nothing.
        if (!op32) return EMIT_NO;
        this.loadDest32(i, eip);
        f.set(this.A);
        this.loadReg(i.reg, 32);
        f.set(this.B);
        f.get(this.A).get(this.B).op(W.OP_I32_ADD).set(this.RES);
        if (i.mod !== 3) {
          f.get(this.RES).set(this.VAL);
          this.write(4, eip);
          this.storeReg(i.reg, 32, this.A);
        } else {
          this.storeReg(i.reg, 32, this.A);
          this.storeReg(i.rm, 32, this.RES);
        }
        this.lazyFlags(FOP_ADD, 32);
        this.setKnown(K_ADD, 32);
        return EMIT_OK;
      }
      case 0x1ba: // BT/BTS/BTR/BTC r/m32, imm8
        return op32 && i.reg >= 4 ? this.emitBit(i, i.reg - 4, i.imm & 31, eip) : EMIT_NO;
      case 0x1c7: // CMPXCHG8B m64
        return i.reg === 1 && i.mod !== 3 ? this.emitCmpxchg8b(i, eip) : EMIT_NO;
      case 0x1a3: // BT r/m32, r32
      case 0x1ab: // BTS
      case 0x1b3: // BTR
      case 0x1bb: // BTC
        return op32
          ? this.emitBit(i, op === 0x1a3 ? 0 : op === 0x1ab ? 1 : op === 0x1b3 ? 2 : 3, -1, eip)
          : EMIT_NO;
      case 0xfc: // CLD
      case 0xfd: // STD
        this.eflagsBit(EFLAGS_DF, op === 0xfd);
        return EMIT_OK;
      case 0xfa:
        // CLI at CPL 0 (never above IOPL) only clears IF (SDM Vol. 2A "CLI"); elsewhere the
        // interpreter checks IOPL (and VME/PVI) and raises #GP.
        if (this.c.r[R_CPL] !== 0) return EMIT_NO;
        this.eflagsBit(EFLAGS_IF, false);
        return EMIT_OK;
      case 0xfb:
        // STI at CPL 0 (never above IOPL): the sti helper sets IF and the interrupt shadow and
        // notices a pending interrupt, which ends the block after it (the next instruction then
        // runs before the interrupt is taken: the dispatcher stops for the event, and the
        // interpreter steps it). Elsewhere the interpreter checks IOPL and raises #GP.
        if (this.c.r[R_CPL] !== 0) return EMIT_NO;
        this.count++;
        callHelper(f, IMP_STI);
        f.hint(false).if_();
        this.exitPending(next);
        f.op(W.OP_END);
        this.count--;
        return EMIT_OK;
      case 0x10b:
        // UD2 (BUG() and WARN() in Linux, inline behind a branch around it) always faults: its path
        // ends with an exit to it, where the interpreter raises the #UD, and the branch's other
        // path goes on in the block. First in a block, it is left to the interpreter (changesMode()).
        if (this.count === 0) return EMIT_NO;
        this.exit(eip);
        return EMIT_END;
      case 0x131:
        // RDTSC at CPL 0 (CR4.TSD only faults above it): the rdtsc helper writes EDX:EAX to the
        // state block, read from there. (Returned, EAX would be boxed in a heap number whenever it
        // falls outside V8's small integers, half the time, where V8 compresses pointers (Chrome's
        // 31-bit small integers; Node 20's are 32-bit): millions of RDTSCs per boot.)
        if (this.c.r[R_CPL] !== 0) return EMIT_NO;
        callHelper(f, IMP_RDTSC);
        this.loadState(0).set(this.VAL);
        this.storeReg(0, 32, this.VAL);
        this.loadState(2).set(this.VAL);
        this.storeReg(2, 32, this.VAL);
        return EMIT_OK;
      case 0x84:
      case 0x85: {
        const bits = op === 0x84 ? 8 : op32 ? 32 : 16;
        this.loadE(i, bits, eip);
        this.loadReg(i.reg, bits);
        f.op(W.OP_I32_AND).set(this.RES);
        this.logicFlags(bits);
        this.setKnown(K_LOGIC, bits);
        return EMIT_OK;
      }
      case 0xa8:
      case 0xa9: {
        const bits = op === 0xa8 ? 8 : op32 ? 32 : 16;
        this.loadReg(0, bits);
        f.const(i.imm).op(W.OP_I32_AND).set(this.RES);
        this.logicFlags(bits);
        this.setKnown(K_LOGIC, bits);
        return EMIT_OK;
      }
      case 0x88:
      case 0x89: {
        const bits = op === 0x88 ? 8 : op32 ? 32 : 16;
        this.loadReg(i.reg, bits);
        f.set(this.VAL);
        if (i.mod === 3) this.storeReg(i.rm, bits, this.VAL);
        else {
          this.ea(i);
          this.write(bits >> 3, eip);
        }
        return EMIT_OK;
      }
      case 0x8a:
      case 0x8b: {
        const bits = op === 0x8a ? 8 : op32 ? 32 : 16;
        this.loadE(i, bits, eip);
        f.set(this.VAL);
        this.storeReg(i.reg, bits, this.VAL);
        return EMIT_OK;
      }
      case 0xc6:
      case 0xc7: {
        if (i.reg !== 0) return EMIT_NO;
        const bits = op === 0xc6 ? 8 : op32 ? 32 : 16;
        f.const(bits === 16 ? i.imm & 0xffff : i.imm).set(this.VAL);
        if (i.mod === 3) this.storeReg(i.rm, bits, this.VAL);
        else {
          this.ea(i);
          this.write(bits >> 3, eip);
        }
        return EMIT_OK;
      }
      case 0x8d:
        if (i.mod === 3) return EMIT_NO;
        this.segBased = -1; // an offset, no segment
        this.ea(i);
        this.storeReg(i.reg, 32, this.LIN);
        return EMIT_OK;
      case 0xa0:
      case 0xa1: {
        // MOV AL/EAX, moffs
        const bits = op === 0xa0 ? 8 : 32;
        this.ea(i);
        this.read(bits >> 3, eip);
        f.set(this.VAL);
        this.storeReg(0, bits, this.VAL);
        return EMIT_OK;
      }
      case 0xa2:
      case 0xa3: {
        // MOV moffs, AL/EAX
        const bits = op === 0xa2 ? 8 : 32;
        this.loadReg(0, bits);
        f.set(this.VAL);
        this.ea(i);
        this.write(bits >> 3, eip);
        return EMIT_OK;
      }
      case 0xc9:
        // LEAVE: ESP = EBP, then POP EBP (the read comes first: a fault leaves both unchanged).
        if (!this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
        this.linOfReg(5);
        this.read(4, eip);
        f.set(this.VAL);
        f.get(this.LIN).const(4).op(W.OP_I32_ADD).set(this.T);
        this.storeReg(4, 32, this.T);
        this.storeReg(5, 32, this.VAL);
        return EMIT_OK;
      case 0xa4:
      case 0xa5:
      case 0xaa:
      case 0xab:
      case 0xac:
      case 0xad:
      case 0xae:
      case 0xaf:
        return this.emitString(i, op32 ? 4 : 2, eip);
      case 0x1c8:
      case 0x1c9:
      case 0x1ca:
      case 0x1cb:
      case 0x1cc:
      case 0x1cd:
      case 0x1ce:
      case 0x1cf: {
        // BSWAP r32 (with a 66 prefix the result is undefined: left to the interpreter).
        if (!op32) return EMIT_NO;
        const r = op & 7;
        this.loadReg(r, 32);
        f.set(this.A);
        f.get(this.A).const(24).op(W.OP_I32_SHL);
        f.get(this.A).const(0xff00).op(W.OP_I32_AND).const(8).op(W.OP_I32_SHL).op(W.OP_I32_OR);
        f.get(this.A).const(8).op(W.OP_I32_SHR_U).const(0xff00).op(W.OP_I32_AND).op(W.OP_I32_OR);
        f.get(this.A).const(24).op(W.OP_I32_SHR_U).op(W.OP_I32_OR);
        f.set(this.VAL);
        this.storeReg(r, 32, this.VAL);
        return EMIT_OK;
      }
      case 0x1b1: {
        // CMPXCHG r/m32, r32 (SDM Vol. 2A): flags as CMP EAX, dest; dest ← src if equal, else
        // EAX ← dest. A memory destination is always written (the old value when unequal), after
        // a read with write intent, so a fault leaves everything unchanged.
        if (!op32) return EMIT_NO;
        this.loadDest32(i, eip);
        f.set(this.B);
        this.loadReg(0, 32);
        f.set(this.A);
        // The value on the stack if EAX (A) equals dest (B), else dest, into local `into`.
        const ifEqualElseDest = (into: number) =>
          f.get(this.B).get(this.A).get(this.B).op(W.OP_I32_EQ).op(W.OP_SELECT).set(into);
        this.loadReg(i.reg, 32);
        ifEqualElseDest(this.VAL);
        if (i.mod === 3) this.storeReg(i.rm, 32, this.VAL);
        else this.write(4, eip);
        // EAX ← dest when unequal (when equal it keeps its value, which a register destination that
        // is EAX itself has just replaced).
        this.loadReg(0, 32);
        ifEqualElseDest(this.T);
        this.storeReg(0, 32, this.T);
        f.get(this.A).get(this.B).op(W.OP_I32_SUB).set(this.RES);
        this.lazyFlags(FOP_SUB, 32);
        this.setKnown(K_SUB, 32);
        return EMIT_OK;
      }
      case 0x98:
        this.loadReg(0, 32);
        f.op(W.OP_I32_EXTEND16_S).set(this.VAL);
        this.storeReg(0, 32, this.VAL);
        return EMIT_OK;
      case 0x99:
        this.loadReg(0, 32);
        f.const(31).op(W.OP_I32_SHR_S).set(this.VAL);
        this.storeReg(2, 32, this.VAL);
        return EMIT_OK;
      case 0x87:
        if (i.mod !== 3) {
          // XCHG r/m32, r32 with memory (locked by itself, SDM Vol. 2B "XCHG"; one CPU here): the
          // read with write intent faults before anything changes; the store then cannot fault.
          this.loadDest32(i, eip);
          f.set(this.T);
          this.loadReg(i.reg, 32);
          f.set(this.VAL);
          this.write(4, eip);
          this.storeReg(i.reg, 32, this.T);
          return EMIT_OK;
        }
        this.loadReg(i.reg, 32);
        f.set(this.VAL);
        this.loadReg(i.rm, 32);
        f.set(this.T);
        this.storeReg(i.reg, 32, this.T);
        this.storeReg(i.rm, 32, this.VAL);
        return EMIT_OK;
    }
    if (op >= 0x91 && op <= 0x97) {
      this.loadReg(op & 7, 32);
      f.set(this.VAL);
      this.loadReg(0, 32);
      f.set(this.T);
      this.storeReg(op & 7, 32, this.T);
      this.storeReg(0, 32, this.VAL);
      return EMIT_OK;
    }
    if (op >= 0xb0 && op <= 0xb7) {
      f.const(i.imm).set(this.VAL);
      this.storeReg(op & 7, 8, this.VAL);
      return EMIT_OK;
    }
    if (op >= 0xb8 && op <= 0xbf) {
      f.const(i.imm).set(this.VAL);
      this.storeReg(op & 7, 32, this.VAL);
      return EMIT_OK;
    }
    if (op >= 0x40 && op <= 0x4f) {
      // CF is kept across INC/DEC unless it is dead (then the stale CF in the state block is never
      // seen: K_RES32 still says where ZF/SF come from).
      if (this.cfDeadAfterCurrent(i.len)) this.known = K_RES32;
      this.cfForIncDec();
      this.loadReg(op & 7, 32);
      f.set(this.A);
      this.emitIncDec(op >= 0x48, 32);
      this.storeReg(op & 7, 32, this.RES);
      return EMIT_OK;
    }
    if (op >= 0x50 && op <= 0x57) {
      if (!this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
      this.loadReg(op & 7, 32);
      f.set(this.VAL);
      this.push(eip);
      return EMIT_OK;
    }
    if (op === 0x68 || op === 0x6a) {
      if (!this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
      f.const(i.imm).set(this.VAL);
      this.push(eip);
      return EMIT_OK;
    }
    if (op >= 0x58 && op <= 0x5f) {
      if (!this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
      this.readStackDword(eip);
      this.dropStackDword();
      this.storeReg(op & 7, 32, this.VAL);
      return EMIT_OK;
    }
    if ((op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f)) {
      const target = (next + i.imm) | 0;
      if (this.canBranchForward(target, next)) {
        // A forward branch inside the block: the taken path skips to the target in wasm (see joinAt).
        f.block().block();
        this.cond(op & 0xf);
        f.brIf(0);
        this.fwd.push({
          kind: FWD_SKIP,
          target,
          count0: this.count + 1,
          ...this.saveState(),
          thenPart: null,
          thenCount: 0,
        });
        this.fwdDepth += 2;
        return EMIT_OK;
      }
      // A side exit: the taken branch leaves the block (or loops to its start), the fall-through
      // path goes on in the same block, so branchy code runs longer between dispatches.
      this.count++;
      this.cond(op & 0xf);
      f.if_();
      if (!this.inTrace && this.traceLeft > 0 && this.traceLoops(target)) this.sideTrace(target);
      else this.jumpTo(target, this.inTrace ? 2 : 1);
      f.op(W.OP_END);
      this.count--;
      return EMIT_OK;
    }
    if (op >= 0x190 && op <= 0x19f) {
      this.cond(op & 0xf);
      f.set(this.VAL);
      if (i.mod === 3) this.storeReg(i.rm, 8, this.VAL);
      else {
        this.ea(i);
        this.write(1, eip);
      }
      return EMIT_OK;
    }
    if (op >= 0x140 && op <= 0x14f) {
      this.loadE(i, 32, eip);
      f.set(this.VAL);
      this.cacheReg(i.reg);
      this.cond(op & 0xf);
      f.if_();
      this.condDepth++;
      this.storeReg(i.reg, 32, this.VAL);
      this.condDepth--;
      f.op(W.OP_END);
      return EMIT_OK;
    }
    switch (op) {
      case 0xe9:
      case 0xeb: {
        const target = (next + i.imm) | 0;
        if (this.canFollow(target) && !this.loopHeadAhead(target, next)) return EMIT_FOLLOW;
        this.count++;
        this.jumpTo(target, this.inTrace ? 1 : 0);
        this.count--;
        return EMIT_END;
      }
      case 0xe8:
        if (!this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
        f.const(next).set(this.VAL);
        this.push(eip);
        if (this.canFollow((next + i.imm) | 0)) return EMIT_FOLLOW;
        this.count++;
        this.exitPending((next + i.imm) | 0);
        this.count--;
        return EMIT_END;
      case 0xc3:
        // Going on in the block after a CALL it followed, when the popped address is that CALL's
        // (checked at run time), was measured: 123 of a boot's ~8,500 blocks had such a RET, and
        // the boot's dispatches did not change (calls rarely stay within a page).
        if (!this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
        this.readStackDword(eip);
        this.dropStackDword();
        this.count++;
        f.get(this.VAL);
        this.exitDynamic();
        this.count--;
        return EMIT_END;
      case 0x1b6:
      case 0x1b7:
      case 0x1be:
      case 0x1bf: {
        const srcBits = op & 1 ? 16 : 8;
        this.loadE(i, srcBits, eip);
        if (op >= 0x1be) f.op(srcBits === 8 ? W.OP_I32_EXTEND8_S : W.OP_I32_EXTEND16_S);
        f.set(this.VAL);
        this.storeReg(i.reg, 32, this.VAL);
        return EMIT_OK;
      }
      case 0xff:
        return this.emitGrp5(i, eip, next);
      case 0xf6:
        // TEST Eb,Ib (/1 is an alias of /0, SDM Vol. 2 opcode map, group 3).
        if (i.reg > 1) return EMIT_NO;
        this.loadE(i, 8, eip);
        f.const(i.imm & 0xff)
          .op(W.OP_I32_AND)
          .set(this.RES);
        this.logicFlags(8);
        this.setKnown(K_LOGIC, 8);
        return EMIT_OK;
      case 0xf7:
        if (i.reg === 0) {
          this.loadE(i, 32, eip);
          f.const(i.imm).op(W.OP_I32_AND).set(this.RES);
          this.logicFlags(32);
          this.setKnown(K_LOGIC, 32);
          return EMIT_OK;
        }
        if (i.reg === 2 || i.reg === 3) return this.emitNotNeg(i, i.reg === 3, eip);
        if (i.reg === 4 || i.reg === 5) return this.emitMul1(i, i.reg === 5, eip);
        if (i.reg === 6 || i.reg === 7) return this.emitDiv(i, i.reg === 7, eip);
        return EMIT_NO;
      case 0x69:
      case 0x6b:
        return this.emitImul(i, eip, i.imm);
      case 0xd3:
        if (i.reg !== 4 && i.reg !== 5 && i.reg !== 7) return EMIT_NO;
        return this.emitShiftCL(i, eip);
      case 0x1af:
        return this.emitImul(i, eip);
    }
    return EMIT_NO;
  }

  /**
   * Whether the block may go on at a direct jump's target: in this page, far enough from its end
   * that the next instruction cannot straddle it, not the block's start (that is a loop) and with
   * room left in the block.
   */
  private canFollow(target: number): boolean {
    const o = (target - this.pageLo) | 0;
    if (
      this.inTrace ||
      o < 0 ||
      o > this.winSize - 0x10 ||
      target === this.startEip ||
      this.count >= MAX_BLOCK_INSNS - 8
    )
      return false;
    this.follow = target;
    return true;
  }

  /**
   * Whether a JMP (ending at `next`) goes to the head of a loop other than the block's: code that
   * branches back to `target` itself. The block ends at the JMP instead of following it, and the
   * block at `target` runs the loop in its own wasm loop (with the side traces that make it loop on
   * every path) rather than this block running one iteration and leaving at the back edge. The
   * XZ decompressor's bit-tree decoder (`jmp S` into a loop with two heads, at a function's start)
   * took 3–4 dispatches per call instead of 2. Not the then part's JMP of an if/else (see toElse()),
   * nor a loop that calls a function on its way back (it leaves its block at each iteration anyway:
   * the MPI multiplication's outer loop, `call mpihelp_addmul_1; pop; jmp head`).
   */
  private loopHeadAhead(target: number, next: number): boolean {
    const b = this.fwd.length > 0 ? this.fwd[this.fwd.length - 1] : null;
    if (b !== null && b.kind === FWD_SKIP && b.target === next) return false;
    if (!this.loopsBack(this.linOf(target), target, target, false)) return false;
    this.loopHeadEnds++;
    return true;
  }

  /**
   * Whether a conditional branch to `target` may stay inside the block as a forward skip: a little
   * way ahead in this page (so the straight path reaches it soon) and few branches open already.
   */
  private canBranchForward(target: number, next: number): boolean {
    const o = (target - this.pageLo) | 0;
    return (
      !this.inTrace &&
      target > next &&
      target - next <= FWD_MAX_BYTES &&
      o <= this.winSize - 0x10 &&
      this.fwd.length < FWD_MAX_OPEN &&
      this.count < MAX_BLOCK_INSNS - 8
    );
  }

  /**
   * Whether straight-line code from `lin` (EIP `eip`) branches back to `to` (the start of the block
   * being translated: the block would loop there) within LOOP_SCAN instructions; a CALL on the way
   * comes back, unless `calls` is false. Only a scan: the code range the block depends on stays as
   * it was.
   */
  private loopsBack(lin: number, eip: number, to = this.startEip, calls = true): boolean {
    const lo = this.codeLo;
    const hi = this.codeHi;
    try {
      for (let n = 0; n < LOOP_SCAN && (lin & 0xfff) <= 0xff0; n++) {
        const i = this.peekAt(lin);
        if (i === null) return false;
        const next = (eip + i.len) | 0;
        if (this.branchesTo(i, next, to)) return true;
        const op = i.op;
        // The straight line ends at a JMP, RET, IRET or indirect JMP (a CALL comes back).
        if (op === 0xe9 || op === 0xeb || op === 0xc3 || op === 0xc2 || op === 0xcf) return false;
        if (op === 0xff && (i.reg === 4 || i.reg === 5)) return false;
        if (!calls && (op === 0xe8 || (op === 0xff && (i.reg === 2 || i.reg === 3)))) return false;
        lin += i.len;
        eip = next;
      }
      return false;
    } finally {
      this.codeLo = lo;
      this.codeHi = hi;
    }
  }

  /**
   * Whether the straight line of code at `target` (in the block's window) reaches a backward branch
   * to the block's start (a loop's latch) within TRACE_MAX instructions, passing only conditional
   * branches.
   */
  private traceLoops(target: number): boolean {
    if (target === this.startEip) return false;
    let lin = this.linOf(target);
    let eip = target;
    let branches = 0;
    for (let n = 0; n < TRACE_RUN_MAX; n++) {
      // Code before the start that runs on into it (a loop with two heads): reaching the start is
      // a branch back to it. Only in a loop's second translation, when the block is known to branch
      // back to its start itself: else any block a slow path started inside a loop would take in
      // the code from the loop's head to itself.
      if (eip === this.startEip) return n > 0 && branches <= 1 && this.loopFlags;
      if ((lin - this.pageLin) >>> 0 > this.winSize - 0x10) return false;
      const i = this.peekAt(lin);
      if (i === null) return false;
      const next = (eip + i.len) | 0;
      // A loop's latch: a branch backward to the start.
      if (this.branchesTo(i, next, this.startEip)) return this.startEip < eip && n < TRACE_MAX;
      const op = i.op;
      if (op === 0xe9 || op === 0xeb) return false;
      if ((op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f)) branches++;
      lin += i.len;
      eip = next;
    }
    return false;
  }

  /** The instruction at linear `lin` for a look ahead (decodeAt()), null on a fetch fault. */
  private peekAt(lin: number): Insn | null {
    try {
      return this.decodeAt(lin);
    } catch {
      return null;
    }
  }

  /**
   * The instruction at linear `lin` (a fetch fault throws): decoded already by this translation,
   * else the interpreter's decode cache has hot code (it ran there before the code got hot), else
   * it is decoded now. The result is read only: a cached one is the interpreter's.
   */
  private decodeAt(lin: number): Insn {
    const o = lin - this.pageLin;
    const inWindow = o >= 0 && o < 0x2000;
    let i: Insn;
    if (inWindow && this.decStamp[o] === this.decGen) i = this.decIns[o];
    else {
      const cached = this.c.cachedInsn(lin);
      if (cached !== null) i = cached;
      else {
        if (this.decPoolN === this.decPool.length) this.decPool.push(new Insn());
        i = decode(this.c, this.decPool[this.decPoolN], lin, this.c.codeMode);
        this.decPoolN++;
      }
      if (inWindow) {
        this.decIns[o] = i;
        this.decStamp[o] = this.decGen;
      }
    }
    // Offsets from the start page, int32 EIPs subtracted as numbers; outside the window's two
    // pages (never, the passes stop at its end) the whole window counts.
    const end = o + i.len;
    if (o < 0 || end > 0x2000) {
      this.codeLo = 0;
      this.codeHi = 0x2000;
    } else {
      if (o < this.codeLo) this.codeLo = o;
      if (end > this.codeHi) this.codeHi = end;
    }
    return i;
  }

  /** Linear address of `eip` in the block's window (CS base is constant in a block). */
  private linOf(eip: number): number {
    return this.pageLin + ((eip - this.pageLo) | 0);
  }

  /** Whether `i` (ending at `next`) is a direct JMP or Jcc to `target`. */
  private branchesTo(i: Insn, next: number, target: number): boolean {
    const op = i.op;
    const direct = (op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f) || op === 0xe9 || op === 0xeb;
    return direct && ((next + i.imm) | 0) === target;
  }

  /**
   * Emit, inside a conditional branch's taken path, the straight line of code at `target` until it
   * branches back to the block's start or runs on into it (traceLoops() said it does), or until
   * TRACE_RUN_MAX instructions or the block's trace budget (then it exits). The path never
   * comes back: the translator's state after it is the branch's not-taken one. Flags are always
   * written in it (room 0: a trace may end at any instruction).
   */
  private sideTrace(target: number): void {
    const saved = this.saveState();
    const count0 = this.count;
    const { curLin, room, curEip, curNext } = this;
    this.inTrace = true;
    this.traces++;
    let lin = this.linOf(target);
    let eip = target;
    let open = true;
    for (let n = 0; n < TRACE_RUN_MAX && this.traceLeft > 0; n++) {
      if (eip === this.startEip) {
        // Ran on into the block's start: loop there (see traceLoops()).
        this.runOnTraces++;
        this.jumpTo(eip, 1);
        open = false;
        break;
      }
      if ((lin - this.pageLin) >>> 0 > this.winSize - 0x10) break;
      let i: Insn;
      try {
        i = this.decodeAt(lin);
      } catch {
        break;
      }
      if (lin + i.len > this.pageLin + 0x1000) this.crossed = true;
      const next = (eip + i.len) | 0;
      this.curLin = lin;
      this.room = 0;
      const r = this.emit(i, eip, next);
      if (r === EMIT_NO) break;
      this.count++;
      this.traceLeft--;
      lin += i.len;
      eip = next;
      // Ended in an exit, or branched back to the start: the trace's work is done.
      if (r !== EMIT_OK) {
        open = false;
        break;
      }
      if (this.branchesTo(i, next, this.startEip)) break;
    }
    if (open) this.exit(eip);
    this.restoreState(saved);
    this.count = count0;
    this.curLin = curLin;
    this.room = room;
    this.curEip = curEip;
    this.curNext = curNext;
    this.inTrace = false;
  }

  /**
   * At the instruction boundary `eip`: join the forward branches that target it (both paths go on
   * from here) and close those that can no longer be joined (their target was passed, or is beyond
   * an outer branch's, which must close first as wasm blocks nest). Returns where translation goes
   * on: `eip`, or the target of an if/else whose then part goes on alone.
   */
  private joinAt(eip: number): number {
    const fwd = this.fwd;
    while (fwd.length > 0) {
      const top = fwd[fwd.length - 1];
      if (top.target === eip) {
        if (top.kind === FWD_SKIP) this.mergeFwd();
        else this.mergeElse();
        continue;
      }
      let outerDue = top.target < eip;
      for (let k = 0; k < fwd.length - 1 && !outerDue; k++) outerDue = fwd[k].target <= eip;
      if (!outerDue) return eip;
      const to = this.closeFwd(eip);
      if (to !== eip) return to;
    }
    return eip;
  }

  /**
   * The straight path reached the innermost branch's target: bring both paths to one state (a
   * register stays cached only when it is on both; deferred flags and what is known of them stay
   * only when both paths agree, else they go to the state block) and join them. The taken path ran
   * fewer instructions: BASE, which every exit adds to the count, is lowered on it.
   */
  private mergeFwd(): void {
    const f = this.f;
    const b = this.fwd.pop() as FwdBranch;
    this.fwdDepth -= 2;
    const rs = this.regState;
    const joined = new Uint8Array(8);
    for (let r = 0; r < 8; r++) {
      const x = rs[r];
      const y = b.regs[r];
      joined[r] =
        x === REG_NONE || y === REG_NONE
          ? REG_NONE
          : x === REG_DIRTY || y === REG_DIRTY
            ? REG_DIRTY
            : REG_CLEAN;
    }
    let samePend =
      this.pend === b.pend &&
      (b.pend === PEND_NONE || (this.pendFop === b.pendFop && this.pendBits === b.pendBits));
    let known = this.known === b.known && this.kbits === b.kbits ? b.known : K_UNKNOWN;
    // Flags both paths would write back, dead at the join: neither path writes them, and nothing
    // after the join reads the state block's before they are set again.
    const dead = !samePend && this.room >= 6 && this.flagsDeadAt(this.curLin);
    if (dead) {
      samePend = true;
      known = K_UNKNOWN;
    }
    // The straight path, then the taken one.
    this.toJoin(joined, samePend);
    f.br(1);
    f.op(W.OP_END);
    const fallCount = this.count;
    const fallMemo = this.memo.slice();
    this.restoreState(b);
    this.toJoin(joined, samePend);
    this.addBase(b.count0 - fallCount);
    f.op(W.OP_END);
    rs.set(joined);
    this.meetMemos(fallMemo);
    if (!samePend || dead) this.pend = PEND_NONE;
    this.known = known;
  }

  /**
   * At a join, a memo holds what both paths guarantee: each path left its locals describing a page
   * checked with at least its own rights (or voided), so the weaker rights hold whichever ran.
   */
  private meetMemos(other: Uint8Array): void {
    const m = this.memo;
    for (let k = 0; k < MEMO_KEYS; k++) if (other[k] < m[k]) m[k] = other[k];
  }

  /** Code that takes the current path's register cache and deferred flags to the join's state. */
  private toJoin(joined: Uint8Array, samePend: boolean): void {
    for (let r = 0; r < 8; r++)
      if (this.regState[r] === REG_DIRTY && joined[r] === REG_NONE) this.writeBack(r);
    if (!samePend) this.syncFlags();
  }

  /** BASE += n (a path that ran a different number of instructions than the count says). */
  private addBase(n: number): void {
    if (n !== 0) this.f.get(this.BASE).const(n).op(W.OP_I32_ADD).set(this.BASE);
  }

  /**
   * If/else: the then part (the straight path of `b`) ends in a JMP to `join`, just before b's
   * target. Its flags go to the state block (the else part's cannot be known yet), it leaves the
   * inner wasm block to the end of the outer one, and the else part is translated next, in the
   * state b's branch left; mergeElse() joins the two at `join`.
   */
  private toElse(b: FwdBranch, join: number): void {
    const f = this.f;
    this.flushFlags();
    f.br(1);
    f.op(W.OP_END);
    this.fwdDepth -= 1;
    b.kind = FWD_ELSE;
    b.thenPart = this.saveState();
    b.thenCount = this.count;
    b.target = join;
    this.restoreState(b);
    this.count = b.count0;
  }

  /**
   * The else part reached the join: it takes the then part's register cache (storing registers the
   * then part does not cache, loading those it does) and flushes its flags; then the two meet.
   */
  private mergeElse(): void {
    const f = this.f;
    const b = this.fwd.pop() as FwdBranch;
    this.fwdDepth -= 1;
    const rs = this.regState;
    const then = b.thenPart as PathState;
    for (let r = 0; r < 8; r++) {
      const t = then.regs[r];
      if (t === REG_NONE) {
        if (rs[r] === REG_DIRTY) this.writeBack(r);
        rs[r] = REG_NONE;
      } else if (rs[r] === REG_NONE) {
        this.reload(r);
        rs[r] = t;
      } else if (t === REG_DIRTY) rs[r] = REG_DIRTY;
    }
    this.flushFlags();
    this.addBase(this.count - b.thenCount);
    this.count = b.thenCount;
    f.op(W.OP_END);
    this.meetMemos(then.memo);
    if (this.known !== then.known || this.kbits !== then.kbits) this.known = K_UNKNOWN;
  }

  /**
   * Close the innermost forward branch without joining it, the current path being at `here` (where
   * it goes on). A skip: its taken path exits to the target; returns `here`. An if/else: the else
   * part (current) exits at `here` and the then part goes on alone; returns the join's address.
   */
  private closeFwd(here: number): number {
    const f = this.f;
    const b = this.fwd.pop() as FwdBranch;
    if (b.kind === FWD_ELSE) {
      this.fwdDepth -= 1;
      this.exit(here);
      this.otherGoesOn(b);
      return b.target;
    }
    this.fwdDepth -= 2;
    f.br(1);
    f.op(W.OP_END);
    const fall = this.saveState();
    const fallCount = this.count;
    this.restoreState(b);
    this.count = b.count0;
    // The taken path leaves the block (its target was not reached), unless a side trace takes it
    // back to the block's start (one wasm level in: the skip's outer block).
    if (this.traceLeft > 0 && this.traceLoops(b.target)) this.sideTrace(b.target);
    else this.exitPending(b.target);
    f.op(W.OP_END);
    this.restoreState(fall);
    this.count = fallCount;
    return here;
  }

  /** The translator's view of a path: register cache and flag state. */
  private saveState(): PathState {
    return {
      regs: this.regState.slice(),
      memo: this.memo.slice(),
      pend: this.pend,
      pendFop: this.pendFop,
      pendBits: this.pendBits,
      known: this.known,
      kbits: this.kbits,
    };
  }

  /**
   * The current path has left the block (it ended in an exit), inside `b` (already popped): close
   * b's wasm blocks; the code that follows belongs to b's other path only (the Jcc's taken path of a
   * skip, the then part of an if/else), in the state it had.
   */
  private otherGoesOn(b: FwdBranch): void {
    const f = this.f;
    if (b.kind === FWD_ELSE) {
      f.op(W.OP_END);
      this.restoreState(b.thenPart as PathState);
      this.count = b.thenCount;
      return;
    }
    f.op(W.OP_END).op(W.OP_END);
    this.restoreState(b);
    this.count = b.count0;
  }

  private restoreState(b: PathState): void {
    this.regState.set(b.regs);
    this.memo.set(b.memo);
    this.pend = b.pend;
    this.pendFop = b.pendFop;
    this.pendBits = b.pendBits;
    this.known = b.known;
    this.kbits = b.kbits;
  }

  /**
   * MOVS/STOS/LODS/SCAS without a REP prefix, 32-bit addressing: DS:ESI (or its override, which must
   * be flat) and ES:EDI, stepped by the operand size, backwards when EFLAGS.DF is set (read at run
   * time). Memory first, registers after, so a fault leaves them as they were.
   */
  private emitString(i: Insn, wordSize: number, eip: number): number {
    const f = this.f;
    const op = i.op;
    const size = (op & 1) === 0 ? 1 : wordSize;
    const bits = size * 8;
    const usesSrc = op === 0xa4 || op === 0xa5 || op === 0xac || op === 0xad;
    const usesDst = !(op === 0xac || op === 0xad);
    if (usesSrc && (i.seg === CS || i.seg === FS || i.seg === GS || this.c.segFlat[i.seg] === 0))
      return EMIT_NO;
    // Step: size, or -size when DF is set.
    f.const(size)
      .const(0)
      .mem(W.OP_I32_LOAD, off(R_EFLAGS), 2)
      .const(EFLAGS_DF)
      .op(W.OP_I32_AND)
      .const(0)
      .op(W.OP_I32_NE)
      .const(2 * size)
      .op(W.OP_I32_MUL)
      .op(W.OP_I32_SUB)
      .set(this.B);
    if (usesSrc) {
      this.linOfReg(6);
      this.read(size, eip);
      f.set(this.VAL);
    }
    if (op === 0xaa || op === 0xab) {
      this.loadReg(0, bits);
      f.set(this.VAL);
    }
    if (op === 0xae || op === 0xaf) {
      // SCAS: compare eAX with [EDI], flags as CMP.
      this.linOfReg(7);
      this.read(size, eip);
      f.set(this.VAL); // moved to B (CMP's second operand) once B no longer holds the step
      this.loadReg(0, bits);
      f.set(this.A);
      f.get(this.A).get(this.VAL).op(W.OP_I32_SUB);
      if (bits !== 32) f.const(bits === 8 ? 0xff : 0xffff).op(W.OP_I32_AND);
      f.set(this.RES);
    } else if (usesDst) {
      this.linOfReg(7);
      this.write(size, eip);
    }
    // Registers: ESI/EDI step, AL/EAX for LODS.
    if (usesSrc) {
      this.loadReg(6, 32);
      f.get(this.B).op(W.OP_I32_ADD).set(this.E);
      this.storeReg(6, 32, this.E);
    }
    if (usesDst) {
      this.loadReg(7, 32);
      f.get(this.B).op(W.OP_I32_ADD).set(this.E);
      this.storeReg(7, 32, this.E);
    }
    if (op === 0xac || op === 0xad) this.storeReg(0, bits, this.VAL);
    if (op === 0xae || op === 0xaf) {
      f.get(this.VAL).set(this.B);
      this.lazyFlags(FOP_SUB, bits);
      this.setKnown(K_SUB, bits);
    }
    return EMIT_OK;
  }

  /**
   * REP MOVS/STOS of bytes or dwords (memset, memcpy, clear_page and copy_page in the kernel) in one
   * go — memory.copy, memory.fill, or a loop storing a dword pattern — when DF is clear and the
   * destination (and the source) lie in one page each, the TLB granting the rights (not I/O, no
   * code in the destination page: its entry grants no write then) and a MOVS destination not
   * inside its source (forward copying repeats bytes there, which memory.copy does not). Anything
   * else (ECX past a page, DF set...) goes to the interpreter from here, as before. Registers and
   * flags are in the state block on both paths (written back first, reloaded after).
   */
  private emitRepString(i: Insn, eip: number, next: number): number {
    const f = this.f;
    const op = i.op;
    const movs = op === 0xa4 || op === 0xa5;
    const shift = (op & 1) === 0 ? 0 : 2;
    if ((op & 1) !== 0 && (i.flags & IF_OP32) === 0) return EMIT_NO; // REP MOVSW/STOSW
    if (movs && (i.seg === CS || i.seg === FS || i.seg === GS || this.c.segFlat[i.seg] === 0)) return EMIT_NO;
    this.repBegin();
    // T = bytes (ECX at most a page's worth), LIN = EDI, E = its TLB entry, VAL = its RAM offset.
    this.loadState(1)
      .tee(this.T)
      .const(0x1000 >> shift)
      .op(W.OP_I32_LE_U);
    f.get(this.T).const(shift).op(W.OP_I32_SHL).set(this.T);
    this.loadState(R_EFLAGS).const(EFLAGS_DF).op(W.OP_I32_AND).op(W.OP_I32_EQZ).op(W.OP_I32_AND);
    this.andPageRange(7, this.LIN, this.E, this.wNeed);
    // A = ESI, B = its TLB entry; then RES = the source's RAM offset.
    if (movs) this.andPageRange(6, this.A, this.B, this.rNeed);
    f.hint(true).if_();
    this.tlbAddress();
    f.set(this.VAL);
    if (movs) {
      this.tlbAddress(this.B, this.A);
      f.set(this.RES);
    }
    // The destination not inside the source (unsigned: also when it lies below).
    if (movs) f.get(this.VAL).get(this.RES).op(W.OP_I32_SUB).get(this.T).op(W.OP_I32_GE_U);
    else f.const(1);
    f.hint(true).if_();
    if (movs) {
      f.get(this.VAL).const(RAM_BYTE_OFFSET).op(W.OP_I32_ADD);
      f.get(this.RES).const(RAM_BYTE_OFFSET).op(W.OP_I32_ADD);
      f.get(this.T).memCopy();
    } else if (shift === 0) {
      f.get(this.VAL).const(RAM_BYTE_OFFSET).op(W.OP_I32_ADD);
      f.const(0).mem(W.OP_I32_LOAD8_U, off(0), 0);
      f.get(this.T).memFill();
    } else {
      // STOSD: a loop of dword stores (RES = EAX); memory.fill when its 4 bytes are one.
      this.loadState(0).set(this.RES);
      f.get(this.RES).const(0xff).op(W.OP_I32_AND).const(0x01010101).op(W.OP_I32_MUL).get(this.RES);
      f.op(W.OP_I32_EQ).if_();
      f.get(this.VAL).const(RAM_BYTE_OFFSET).op(W.OP_I32_ADD);
      f.get(this.RES).get(this.T).memFill();
      f.op(W.OP_ELSE);
      f.get(this.T).set(this.A);
      f.block().loop();
      f.get(this.A).op(W.OP_I32_EQZ).brIf(1);
      f.get(this.VAL).get(this.RES).mem(W.OP_I32_STORE, RAM_BYTE_OFFSET, 0);
      f.get(this.VAL).const(4).op(W.OP_I32_ADD).set(this.VAL);
      f.get(this.A).const(4).op(W.OP_I32_SUB).set(this.A);
      f.br(0);
      f.op(W.OP_END).op(W.OP_END);
      f.op(W.OP_END);
    }
    // EDI and ESI past the bytes, ECX 0.
    f.const(0).get(this.LIN).get(this.T).op(W.OP_I32_ADD).mem(W.OP_I32_STORE, off(7), 2);
    if (movs) f.const(0).get(this.A).get(this.T).op(W.OP_I32_ADD).mem(W.OP_I32_STORE, off(6), 2);
    this.storeStateConst(1, 0);
    f.op(W.OP_ELSE);
    this.repByInterpreter(eip, next);
    f.op(W.OP_END);
    return this.repEnd(eip, next);
  }

  /**
   * AND onto the condition on the stack: [reg, reg + T) lies in one page (`at` = reg), and its TLB
   * entry (into `entry`) grants `need` and is not I/O.
   */
  private andPageRange(reg: number, at: number, entry: number, need: number): void {
    const f = this.f;
    this.loadState(reg).tee(at).const(0xfff).op(W.OP_I32_AND).get(this.T);
    f.op(W.OP_I32_ADD).const(0x1000).op(W.OP_I32_LE_U).op(W.OP_I32_AND);
    this.andTlbGrants(at, entry, need);
  }

  /** AND onto the condition on the stack: the TLB entry of [at] (into `entry`) grants `need`, not I/O. */
  private andTlbGrants(at: number, entry: number, need: number): void {
    const f = this.f;
    f.get(at).const(12).op(W.OP_I32_SHR_U).const(2).op(W.OP_I32_SHL);
    f.mem(W.OP_I32_LOAD, TLB_BYTE_OFFSET, 2).tee(entry);
    f.const(need | TLB_IO)
      .op(W.OP_I32_AND)
      .const(need)
      .op(W.OP_I32_EQ)
      .op(W.OP_I32_AND);
  }

  /**
   * REPE/REPNE CMPSB and SCASB (strstr, strlen, memcmp-style scans): compared in a wasm loop up to
   * the end of the page of EDI (and ESI), when DF is clear, ECX is not 0 and the TLB grants the reads.
   * The loop stops at the first pair that ends the repetition (REPE: unequal, REPNE: equal); the
   * flags are those of the last compare (CMP of bytes: deferred SUB in the state block), ECX, ESI,
   * EDI advanced by the iterations run. Reaching the page's end first, the interpreter goes on from
   * there (a REP instruction may stop between iterations with its registers so: SDM Vol. 2B REP).
   * Anything else goes to the interpreter from the start, as before.
   */
  private emitRepCmpScas(i: Insn, eip: number, next: number): number {
    const f = this.f;
    const cmps = i.op === 0xa6;
    const repe = (i.flags & IF_REP) !== 0;
    if (cmps && (i.seg === CS || i.seg === FS || i.seg === GS || this.c.segFlat[i.seg] === 0)) return EMIT_NO;
    this.repBegin();
    // T = ECX, LIN = EDI, A = ESI; E and B their TLB entries.
    this.loadState(1).tee(this.T).const(0).op(W.OP_I32_NE);
    this.loadState(R_EFLAGS).const(EFLAGS_DF).op(W.OP_I32_AND).op(W.OP_I32_EQZ).op(W.OP_I32_AND);
    this.loadState(7).set(this.LIN);
    this.andTlbGrants(this.LIN, this.E, this.rNeed);
    if (cmps) {
      this.loadState(6).set(this.A);
      this.andTlbGrants(this.A, this.B, this.rNeed);
    }
    f.hint(true).if_();
    // VAL = EDI's RAM offset, RES = ESI's (CMPS) or AL (SCAS); B = the iterations the page allows.
    this.tlbAddress();
    f.set(this.VAL);
    if (cmps) this.tlbAddress(this.B, this.A);
    else f.const(0).mem(W.OP_I32_LOAD8_U, off(0), 0);
    f.set(this.RES);
    const pageLeft = (l: number) => f.const(0x1000).get(l).const(0xfff).op(W.OP_I32_AND).op(W.OP_I32_SUB);
    pageLeft(this.LIN);
    if (cmps) {
      // The smaller of the two: select(EDI's, ESI's, EDI's < ESI's).
      pageLeft(this.A);
      pageLeft(this.LIN);
      pageLeft(this.A);
      f.op(W.OP_I32_LT_U).op(W.OP_SELECT);
    }
    f.set(this.B);
    f.get(this.T).get(this.B).get(this.T).get(this.B).op(W.OP_I32_LT_U).op(W.OP_SELECT).set(this.B);
    // E = iterations run; FA/FB = the last pair compared.
    f.const(0).set(this.E);
    f.block().loop();
    if (cmps) f.get(this.RES).get(this.E).op(W.OP_I32_ADD).mem(W.OP_I32_LOAD8_U, RAM_BYTE_OFFSET, 0);
    else f.get(this.RES);
    f.set(this.FA);
    f.get(this.VAL).get(this.E).op(W.OP_I32_ADD).mem(W.OP_I32_LOAD8_U, RAM_BYTE_OFFSET, 0).set(this.FB);
    f.get(this.E).const(1).op(W.OP_I32_ADD).set(this.E);
    f.get(this.FA)
      .get(this.FB)
      .op(repe ? W.OP_I32_NE : W.OP_I32_EQ)
      .brIf(1);
    f.get(this.E).get(this.B).op(W.OP_I32_LT_U).brIf(0);
    f.op(W.OP_END).op(W.OP_END);
    // ECX, EDI, ESI and the flags of the last compare.
    f.const(0).get(this.T).get(this.E).op(W.OP_I32_SUB).tee(this.T).mem(W.OP_I32_STORE, off(1), 2);
    f.const(0).get(this.LIN).get(this.E).op(W.OP_I32_ADD).mem(W.OP_I32_STORE, off(7), 2);
    if (cmps) f.const(0).get(this.A).get(this.E).op(W.OP_I32_ADD).mem(W.OP_I32_STORE, off(6), 2);
    this.storeStateConst(R_FOP, FOP_SUB);
    this.storeState(R_FA, this.FA);
    this.storeState(R_FB, this.FB);
    f.const(0).get(this.FA).get(this.FB).op(W.OP_I32_SUB).const(0xff).op(W.OP_I32_AND);
    f.mem(W.OP_I32_STORE, off(R_FRES), 2);
    this.storeStateConst(R_FSIZE, 8);
    // Not ended by a compare nor by ECX: the page ended first; the interpreter goes on.
    f.get(this.FA)
      .get(this.FB)
      .op(repe ? W.OP_I32_EQ : W.OP_I32_NE);
    f.get(this.T).const(0).op(W.OP_I32_NE).op(W.OP_I32_AND);
    f.hint(false).if_();
    this.repByInterpreter(eip, next);
    f.op(W.OP_END);
    return this.repEnd(eip, next);
  }

  /**
   * Before a REP string instruction compiled with the interpreter as its fallback: counted (exits
   * from here count it), registers and flags written back, where both paths leave them.
   */
  private repBegin(): void {
    this.count++;
    this.spill();
    this.syncFlags();
    for (let r = 0; r < 8; r++) if (this.regState[r] === REG_DIRTY) this.regState[r] = REG_CLEAN;
    this.pend = PEND_NONE;
    this.known = K_UNKNOWN;
  }

  /** Close the fast path with the interpreter's `else`; registers are reloaded after either path. */
  private repEnd(eip: number, next: number): number {
    this.f.op(W.OP_ELSE);
    this.repByInterpreter(eip, next);
    this.f.op(W.OP_END);
    this.forgetRegs();
    this.count--;
    return EMIT_OK;
  }

  /** The interpreter runs the REP string instruction at `eip` (registers and flags already written back). */
  private repByInterpreter(eip: number, next: number): void {
    this.noteCompleted(this.count - 1);
    callHelper(this.f.const(eip).const(next), IMP_INTERP);
    this.f.hint(false).if_();
    this.returnCount();
    this.f.op(W.OP_END);
  }

  /** Push VAL: ESP - 4, then `size` bytes written there (2 for a segment selector). */
  private push(eip: number, size = 4): void {
    const f = this.f;
    this.loadReg(4, 32);
    this.memoKey = 4;
    this.winKey = -1;
    f.const(4).op(W.OP_I32_SUB).set(this.LIN);
    this.write(size, eip);
    this.storeReg(4, 32, this.LIN);
  }

  /** VAL = the dword at ESP (a POP's read; ESP moves with dropStackDword()). */
  private readStackDword(eip: number): void {
    this.linOfReg(4);
    this.read(4, eip);
    this.f.set(this.VAL);
  }

  /** ESP + 4: the end of a POP. */
  private dropStackDword(): void {
    this.loadReg(4, 32);
    this.f.const(4).op(W.OP_I32_ADD).set(this.T);
    this.storeReg(4, 32, this.T);
  }

  /** ALU op `aluOp` in form (0 Eb,Gb / 1 Ev,Gv / 2 Gb,Eb / 3 Gv,Ev / 4 AL,Ib / 5 eAX,Iz / 6 E,imm). */
  private emitAlu(i: Insn, aluOp: number, form: number, bits: number, eip: number): number {
    const f = this.f;
    const toMem = (form === 0 || form === 1 || form === 6) && i.mod !== 3;
    // Operands and result masked to the operand size, as the lazy flags expect (16-bit flags are
    // only deferred: setKnown() leaves their conditions to the state block).
    const mask = bits === 32 ? -1 : bits === 16 ? 0xffff : 0xff;
    // ADC/SBB: the carry-in comes from the previous instruction's flags, which may live in A/B/RES:
    // take it before those locals are reused.
    if (aluOp === 2 || aluOp === 3) {
      this.getCF();
      f.set(this.T);
    }
    // Destination value → A, source → B.
    if (form === 0 || form === 1 || form === 6) {
      if (i.mod === 3) this.loadReg(i.rm, bits);
      else {
        this.ea(i);
        // Read-modify-write destinations are read with write intent (CMP only reads).
        this.read(bits >> 3, eip, aluOp !== 7);
      }
      f.set(this.A);
      if (form === 6) f.const(i.imm & mask);
      else this.loadReg(i.reg, bits);
      f.set(this.B);
    } else if (form === 2 || form === 3) {
      this.loadReg(i.reg, bits);
      f.set(this.A);
      this.loadE(i, bits, eip);
      f.set(this.B);
    } else {
      this.loadReg(0, bits);
      f.set(this.A);
      f.const(i.imm & mask).set(this.B);
    }
    let fop = FOP_SUB;
    let logic = false;
    switch (aluOp) {
      case 0:
        f.get(this.A).get(this.B).op(W.OP_I32_ADD);
        fop = FOP_ADD;
        break;
      case 1:
        f.get(this.A).get(this.B).op(W.OP_I32_OR);
        logic = true;
        break;
      case 2:
        // ADC: FOP_ADC when the carry-in is 1.
        f.get(this.A).get(this.B).op(W.OP_I32_ADD).get(this.T).op(W.OP_I32_ADD);
        break;
      case 3:
        f.get(this.A).get(this.B).op(W.OP_I32_SUB).get(this.T).op(W.OP_I32_SUB);
        break;
      case 4:
        f.get(this.A).get(this.B).op(W.OP_I32_AND);
        logic = true;
        break;
      case 6:
        f.get(this.A).get(this.B).op(W.OP_I32_XOR);
        logic = true;
        break;
      default:
        f.get(this.A).get(this.B).op(W.OP_I32_SUB);
    }
    if (mask !== -1) f.const(mask).op(W.OP_I32_AND);
    f.set(this.RES);
    // Store the result (memory first: a faulting store must leave flags and registers untouched).
    if (aluOp !== 7) {
      if (toMem) {
        f.get(this.RES).set(this.VAL);
        this.write(bits >> 3, eip);
      } else {
        const dst = form === 0 || form === 1 || form === 6 ? i.rm : form === 2 || form === 3 ? i.reg : 0;
        this.storeReg(dst, bits, this.RES);
      }
    }
    if (logic) {
      this.logicFlags(bits);
      this.setKnown(K_LOGIC, bits);
    } else if (aluOp === 2 || aluOp === 3) {
      // FOP depends on the carry-in at run time: deferred with the FOP in local FOPL (PEND_FOP_LOCAL),
      // so a carry chain whose flags the next instruction replaces stores nothing.
      f.const(aluOp === 2 ? FOP_ADC : FOP_SBB)
        .const(aluOp === 2 ? FOP_ADD : FOP_SUB)
        .get(this.T)
        .op(W.OP_SELECT)
        .set(this.FOPL);
      this.lazyFlags(PEND_FOP_LOCAL, bits);
      this.setKnown(aluOp === 2 ? K_ADC : K_SBB, bits);
    } else {
      this.lazyFlags(fop, bits);
      this.setKnown(fop === FOP_ADD ? K_ADD : K_SUB, bits);
    }
    return EMIT_OK;
  }

  /**
   * Whether the carry flag an INC/DEC must preserve is dead: the instructions that follow in this
   * page overwrite every arithmetic flag before anything reads one, and none of them can fault
   * (register operands only), so no exception handler or exit can see the CF left stale. They
   * must fit in this block: an interrupt taken between two blocks would see it.
   */
  private cfDeadAfterCurrent(len: number): boolean {
    return this.room >= 6 && this.flagsDeadAt(this.curLin + len);
  }

  /**
   * Whether every arithmetic flag is dead at `lin` (an instruction boundary in this block's page):
   * the instructions from there overwrite them all before anything reads one, with no chance to
   * fault or leave the block on the way. INC/DEC of a register pass (they write all but CF).
   */
  private flagsDeadAt(lin: number): boolean {
    for (let k = 0; k < 4; k++) {
      if ((lin & 0xfff) > 0xff0) return false; // the next instruction may leave the page
      // Code past the block's window may run in another mapping: only the window's pages are
      // checked at run time (crossPrologue()).
      const o = (lin - this.pageLin) >>> 0;
      if (o >= this.winSize) return false;
      if (o >= 0x1000) this.crossed = true;
      let i: Insn;
      try {
        i = this.decodeAt(lin);
      } catch {
        return false;
      }
      if ((i.flags & (IF_REP | IF_REPNE | IF_LOCK)) !== 0) return false;
      const op = i.op;
      // Writes all of CF, PF, AF, ZF, SF, OF without reading them: ADD/OR/AND/SUB/XOR/CMP (not
      // ADC/SBB), TEST, on registers or immediates.
      if (op < 0x40 && (op & 7) < 6) {
        const aluOp = (op >> 3) & 7;
        return aluOp !== 2 && aluOp !== 3 && ((op & 7) >= 4 || i.mod === 3);
      }
      if (op === 0x80 || op === 0x81 || op === 0x83) return i.mod === 3 && i.reg !== 2 && i.reg !== 3;
      if (op === 0x84 || op === 0x85) return i.mod === 3;
      if (op === 0xa8 || op === 0xa9) return true;
      // Neither CF nor faults: MOV between registers, MOV of an immediate, LEA, INC/DEC of a register.
      const inert =
        ((op === 0x89 || op === 0x8b) && i.mod === 3) ||
        (op >= 0xb8 && op <= 0xbf) ||
        op === 0x8d ||
        (op >= 0x40 && op <= 0x4f);
      if (!inert) return false;
      lin += i.len;
    }
    return false;
  }

  /**
   * INC/DEC keep CF: compute it into T before the operand is loaded (the previous flags may live in
   * A/B/RES). Pair with emitIncDec().
   */
  private cfForIncDec(): void {
    if (this.known !== K_CFSTORED && this.known !== K_RES32) {
      this.getCF();
      this.f.set(this.T);
    }
  }

  /** INC/DEC of A into RES with flags; CF (from cfForIncDec) goes to r[R_EFLAGS]. */
  private emitIncDec(isDec: boolean, bits: number): void {
    const f = this.f;
    if (this.known !== K_CFSTORED && this.known !== K_RES32) {
      f.const(0)
        .const(0)
        .mem(W.OP_I32_LOAD, off(R_EFLAGS), 2)
        .const(~EFLAGS_CF)
        .op(W.OP_I32_AND)
        .get(this.T)
        .op(W.OP_I32_OR);
      f.mem(W.OP_I32_STORE, off(R_EFLAGS), 2);
    }
    f.get(this.A)
      .const(1)
      .op(isDec ? W.OP_I32_SUB : W.OP_I32_ADD);
    if (bits !== 32) f.const(bits === 8 ? 0xff : 0xffff).op(W.OP_I32_AND);
    f.set(this.RES);
    f.const(1).set(this.B);
    this.lazyFlags(isDec ? FOP_DEC : FOP_INC, bits);
    this.known = bits === 32 ? K_RES32 : K_CFSTORED;
  }

  private emitGrp5(i: Insn, eip: number, next: number): number {
    const f = this.f;
    switch (i.reg) {
      case 0:
      case 1:
        this.cfForIncDec();
        if (i.mod === 3) {
          this.loadReg(i.rm, 32);
          f.set(this.A);
          this.emitIncDec(i.reg === 1, 32);
          this.storeReg(i.rm, 32, this.RES);
          return EMIT_OK;
        }
        this.ea(i);
        this.read(4, eip, true);
        f.set(this.A);
        // Compute without flags, store, then set flags (precise on a faulting store).
        f.get(this.A)
          .const(1)
          .op(i.reg === 1 ? W.OP_I32_SUB : W.OP_I32_ADD)
          .set(this.VAL);
        this.write(4, eip);
        this.emitIncDec(i.reg === 1, 32);
        return EMIT_OK;
      case 2:
      case 4: {
        if (!this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
        this.loadE(i, 32, eip);
        f.set(this.RES);
        if (i.reg === 2) {
          f.const(next).set(this.VAL);
          this.push(eip);
        }
        this.count++;
        f.get(this.RES);
        this.exitDynamic();
        this.count--;
        return EMIT_END;
      }
      case 6:
        if (!this.c.ss32 || this.c.segFlat[SS] === 0) return EMIT_NO;
        this.loadE(i, 32, eip);
        f.set(this.VAL);
        this.push(eip);
        return EMIT_OK;
    }
    return EMIT_NO;
  }

  private emitNotNeg(i: Insn, isNeg: boolean, eip: number): number {
    const f = this.f;
    this.loadDest32(i, eip);
    if (!isNeg) {
      // NOT changes no flags: keep A/B/RES (they may still describe the live flags).
      f.const(-1).op(W.OP_I32_XOR).set(this.VAL);
      if (i.mod !== 3) this.write(4, eip);
      else this.storeReg(i.rm, 32, this.VAL);
      return EMIT_OK;
    }
    f.set(this.T);
    f.const(0).get(this.T).op(W.OP_I32_SUB).set(this.VAL);
    if (i.mod !== 3) this.write(4, eip);
    else this.storeReg(i.rm, 32, this.VAL);
    f.get(this.T).set(this.B);
    f.get(this.VAL).set(this.RES);
    f.const(0).set(this.A);
    this.lazyFlags(FOP_SUB, 32);
    this.setKnown(K_SUB, 32);
    return EMIT_OK;
  }

  /**
   * SHL/SHR/SAR r/m32, CL: the count is masked to 5 bits at run time; a zero count changes nothing
   * (not even flags), so the whole operation is conditional.
   */
  private emitShiftCL(i: Insn, eip: number): number {
    const f = this.f;
    // A zero count leaves the flags as they were: they must be in the state block.
    this.flushFlags();
    if (i.mod !== 3) {
      this.ea(i);
      // The destination is checked for writing even when the count is 0 (as the interpreter does).
      this.read(4, eip, true);
    } else this.loadReg(i.rm, 32);
    f.set(this.A);
    this.loadReg(1, 8);
    f.const(31).op(W.OP_I32_AND).tee(this.B);
    f.if_();
    this.condDepth++;
    const n = this.B;
    if (i.reg === 4) f.get(this.A).get(n).op(W.OP_I32_SHL);
    else if (i.reg === 5) f.get(this.A).get(n).op(W.OP_I32_SHR_U);
    else f.get(this.A).get(n).op(W.OP_I32_SHR_S);
    f.set(this.RES);
    f.get(this.RES).set(this.VAL);
    if (i.mod !== 3) this.write(4, eip);
    else this.storeReg(i.rm, 32, this.VAL);
    // CF/OF as ops/alu.ts shift() computes them.
    f.const(0);
    f.const(0).mem(W.OP_I32_LOAD, off(R_EFLAGS), 2).const(~EFLAGS_ARITH).op(W.OP_I32_AND);
    if (i.reg === 4) {
      f.get(this.A)
        .const(32)
        .get(n)
        .op(W.OP_I32_SUB)
        .op(W.OP_I32_SHR_U)
        .const(1)
        .op(W.OP_I32_AND)
        .tee(this.T);
      f.op(W.OP_I32_OR);
      f.get(this.RES).const(31).op(W.OP_I32_SHR_U).get(this.T).op(W.OP_I32_XOR);
    } else if (i.reg === 5) {
      f.get(this.A).get(n).const(1).op(W.OP_I32_SUB).op(W.OP_I32_SHR_U).const(1).op(W.OP_I32_AND);
      f.op(W.OP_I32_OR);
      f.get(this.A).const(31).op(W.OP_I32_SHR_U);
    } else {
      f.get(this.A).get(n).const(1).op(W.OP_I32_SUB).op(W.OP_I32_SHR_S).const(1).op(W.OP_I32_AND);
      f.op(W.OP_I32_OR);
      f.const(0);
    }
    f.const(11).op(W.OP_I32_SHL).op(W.OP_I32_OR);
    f.mem(W.OP_I32_STORE, off(R_EFLAGS), 2);
    this.storeStateConst(R_FOP, FOP_RESULT);
    this.storeState(R_FRES, this.RES);
    this.storeStateConst(R_FSIZE, 32);
    this.condDepth--;
    f.op(W.OP_END);
    // Whether the flags changed is only known at run time.
    this.known = K_UNKNOWN;
    return EMIT_OK;
  }

  /**
   * IMUL r32, r/m32 (0F AF), or IMUL r32, r/m32, imm (69/6B) when `imm` is given: low half of the
   * signed product; CF=OF when it differs from the full product.
   */
  private emitImul(i: Insn, eip: number, imm?: number): number {
    const f = this.f;
    if (!((i.flags & IF_OP32) !== 0)) return EMIT_NO;
    this.loadE(i, 32, eip);
    f.set(this.B);
    if (imm === undefined) this.loadReg(i.reg, 32);
    else f.const(imm);
    f.set(this.A);
    f.get(this.A).get(this.B).op(W.OP_I32_MUL).set(this.RES);
    this.storeReg(i.reg, 32, this.RES);
    // Overflow: the 64-bit product is not the sign extension of its low half.
    this.multiplyFlags(() => {
      f.get(this.A).op(OP_I64_EXTEND_I32_S).get(this.B).op(OP_I64_EXTEND_I32_S).op(OP_I64_MUL);
      f.get(this.RES).op(OP_I64_EXTEND_I32_S).op(OP_I64_NE);
    });
    return EMIT_OK;
  }

  /** Flags deferred in the shift form: FA holds CF | OF << 11, FRES the `bits`-wide result (FOP_RESULT). */
  private shiftFormFlags(bits: number): void {
    this.f.get(this.RES).set(this.FRES);
    this.pend = PEND_SHIFT;
    this.pendBits = bits;
    this.pendFop = FOP_RESULT;
    this.known = K_SHIFT;
    this.kbits = bits;
  }

  /**
   * Flags of a 32-bit multiply as ops/alu.ts leaves them: a result-type lazy state on RES with
   * CF = OF = overflow, where `overflow` pushes 0 or 1. Deferred like a shift's (the same form:
   * FA = CF | OF << 11, FRES the result), so a multiply whose flags the next instruction replaces
   * costs no store to the state block.
   */
  private multiplyFlags(overflow: () => void): void {
    const f = this.f;
    overflow();
    f.const(EFLAGS_CF | (1 << 11))
      .op(W.OP_I32_MUL)
      .set(this.FA);
    this.shiftFormFlags(32);
  }

  /** MUL/IMUL r/m32 (F7 /4 /5): EDX:EAX = EAX * r/m32, flags as ops/alu.ts mul1() leaves them. */
  private emitMul1(i: Insn, signed: boolean, eip: number): number {
    const f = this.f;
    const ext = signed ? OP_I64_EXTEND_I32_S : OP_I64_EXTEND_I32_U;
    this.loadE(i, 32, eip);
    f.set(this.B);
    this.loadReg(0, 32);
    f.set(this.A);
    f.get(this.A).get(this.B).op(W.OP_I32_MUL).set(this.RES);
    f.get(this.A).op(ext).get(this.B).op(ext).op(OP_I64_MUL);
    f.op(OP_I64_CONST).op(32).op(OP_I64_SHR_U).op(OP_I32_WRAP_I64).set(this.VAL);
    this.storeReg(0, 32, this.RES);
    this.storeReg(2, 32, this.VAL);
    // Overflow: the high half is not the extension of the low half.
    this.multiplyFlags(() => {
      f.get(this.VAL);
      if (signed) f.get(this.RES).const(31).op(W.OP_I32_SHR_S);
      else f.const(0);
      f.op(W.OP_I32_NE);
    });
    return EMIT_OK;
  }

  /**
   * DIV/IDIV r/m32 (F7 /6 /7): EDX:EAX divided by r/m32, quotient to EAX, remainder to EDX; flags
   * are undefined (SDM Vol. 2A "DIV") and the interpreter leaves them unchanged, as here. A zero
   * divisor or a quotient that does not fit is left to the interpreter, which raises #DE precisely.
   */
  private emitDiv(i: Insn, signed: boolean, eip: number): number {
    const f = this.f;
    const N = this.i64Local(0);
    const D = this.i64Local(1);
    const Q = this.i64Local(2);
    this.loadE(i, 32, eip);
    f.set(this.B);
    this.loadReg(2, 32);
    f.op(signed ? OP_I64_EXTEND_I32_S : OP_I64_EXTEND_I32_U)
      .const64(32)
      .op(OP_I64_SHL);
    this.loadReg(0, 32);
    f.op(OP_I64_EXTEND_I32_U).op(OP_I64_OR).set(N);
    f.get(this.B)
      .op(signed ? OP_I64_EXTEND_I32_S : OP_I64_EXTEND_I32_U)
      .set(D);
    // Fault cases: d = 0; IDIV of INT64_MIN by -1 (wasm's i64.div_s would trap); a quotient out of range.
    f.get(this.B).op(W.OP_I32_EQZ);
    if (signed) {
      f.get(this.B).const(-1).op(W.OP_I32_EQ).op(W.OP_I32_OR);
      f.ifI32();
      f.const(1);
      f.op(W.OP_ELSE);
      f.get(N).get(D).op(OP_I64_DIV_S).tee(Q);
      // In range when q + 2^31 < 2^32 (unsigned).
      f.const64(2 ** 31).op(OP_I64_ADD);
      f.const64(2 ** 32).op(OP_I64_GE_U);
      f.op(W.OP_END);
    } else {
      f.ifI32();
      f.const(1);
      f.op(W.OP_ELSE);
      f.get(N).get(D).op(OP_I64_DIV_U).tee(Q);
      f.const64(32).op(OP_I64_SHR_U).const64(0).op(OP_I64_NE);
      f.op(W.OP_END);
    }
    // IDIV by -1 that does fit (anything but INT64_MIN's quotient) also lands there: the interpreter
    // computes it.
    this.slowExitIf(eip);
    f.get(Q).op(OP_I32_WRAP_I64).set(this.VAL);
    f.get(N)
      .get(D)
      .op(signed ? OP_I64_REM_S : OP_I64_REM_U)
      .op(OP_I32_WRAP_I64)
      .set(this.T);
    this.storeReg(0, 32, this.VAL);
    this.storeReg(2, 32, this.T);
    return EMIT_OK;
  }

  /**
   * ROL/ROR r/m32 by a constant count: only CF and OF change (ops/alu.ts shift()); the other flags
   * stay deferred when a logic op or a shift left them, else the setcfof helper makes them concrete.
   */
  private emitRotate(i: Insn, count: number, eip: number): number {
    const f = this.f;
    if (count === 0) return EMIT_NO;
    this.loadDest32(i, eip);
    f.const(count)
      .op(i.reg === 0 ? OP_I32_ROTL : OP_I32_ROTR)
      .set(this.VAL);
    if (i.mod !== 3) this.write(4, eip);
    else this.storeReg(i.rm, 32, this.VAL);
    const lazy = this.pend === PEND_LAZY;
    if (lazy || this.pend === PEND_LOGIC || this.pend === PEND_SHIFT) {
      // The flags stay deferred, without the helper: ZF, SF and PF still come from FRES, and the
      // deferred form becomes a shift's (FOP_RESULT, FA = what goes into EFLAGS' CF, AF and OF).
      // The rotate leaves AF as it was: 0 after a logic op; after a shift or an earlier rotate, FA's
      // (a rotate after an ADD put the ADD's there); after an ADD/SUB-type op, bit 4 of
      // FA ^ FB ^ FRES (CPU.getAF()). (Hash and cipher rounds — blake2s, ChaCha, SHA-256, SipHash —
      // rotate right after an XOR or an ADD.)
      const keepAf = lazy || this.pend === PEND_SHIFT;
      if (lazy)
        f.get(this.FA)
          .get(this.FB)
          .op(W.OP_I32_XOR)
          .get(this.FRES)
          .op(W.OP_I32_XOR)
          .const(EFLAGS_AF)
          .op(W.OP_I32_AND);
      else if (keepAf) f.get(this.FA).const(EFLAGS_AF).op(W.OP_I32_AND);
      this.rotateCfOf(i.reg === 0);
      f.const(11).op(W.OP_I32_SHL).op(W.OP_I32_OR);
      if (keepAf) f.op(W.OP_I32_OR);
      f.set(this.FA);
      const k = this.known;
      const resultKnown =
        (k === K_LOGIC || k === K_SHIFT || k === K_ADD || k === K_SUB || k === K_ADC || k === K_SBB) &&
        this.kbits === this.pendBits;
      this.pend = PEND_SHIFT;
      this.pendFop = FOP_RESULT;
      this.known = resultKnown ? K_SHIFT : K_UNKNOWN;
      return EMIT_OK;
    }
    // The helper folds the other flags from the state block.
    this.flushFlags();
    this.rotateCfOf(i.reg === 0);
    callHelper(f, IMP_SETCFOF);
    this.known = K_CFSTORED;
    return EMIT_OK;
  }

  /** Push CF then OF (0/1 each) of a ROL (`left`) or ROR whose result is in VAL (ops/alu.ts shift()). */
  private rotateCfOf(left: boolean): void {
    const f = this.f;
    if (left) {
      // CF = bit 0 of the result, OF = MSB xor CF.
      f.get(this.VAL).const(1).op(W.OP_I32_AND).tee(this.T);
      f.get(this.VAL).const(31).op(W.OP_I32_SHR_U).get(this.T).op(W.OP_I32_XOR);
    } else {
      // CF = MSB of the result, OF = MSB xor the bit below it.
      f.get(this.VAL).const(31).op(W.OP_I32_SHR_U).tee(this.T);
      f.get(this.VAL).const(30).op(W.OP_I32_SHR_U).get(this.T).op(W.OP_I32_XOR).const(1).op(W.OP_I32_AND);
    }
  }

  /**
   * CMPXCHG8B m64 (SDM Vol. 2A): EDX:EAX compared with the quadword; equal: ECX:EBX stored there and
   * ZF set; else the quadword loaded into EDX:EAX and ZF clear, the old value written back as the
   * processor's locked cycle does (ops/arith-ops.ts cmpxchg8b()); the other flags unchanged. Both
   * dwords are read with write intent before anything is written, so a fault leaves no trace; the
   * write-backs then go through the entries those reads found. No page memo or frame window: the
   * second dword is at EA + 4.
   */
  private emitCmpxchg8b(i: Insn, eip: number): number {
    const f = this.f;
    this.eaPlain(i);
    this.read(4, eip, true);
    f.set(this.A);
    f.get(this.LIN).const(4).op(W.OP_I32_ADD).set(this.LIN);
    this.read(4, eip, true);
    f.set(this.B);
    // RES = 1 when EDX:EAX matched.
    f.get(this.A);
    this.loadReg(0, 32);
    f.op(W.OP_I32_EQ).get(this.B);
    this.loadReg(2, 32);
    f.op(W.OP_I32_EQ).op(W.OP_I32_AND).set(this.RES);
    // The low dword, then the high one (LIN is EA + 4 now): ECX:EBX when equal, else the old value.
    this.loadReg(3, 32);
    f.get(this.A).get(this.RES).op(W.OP_SELECT).set(this.VAL);
    f.get(this.LIN).const(4).op(W.OP_I32_SUB).set(this.LIN);
    this.write(4, eip);
    this.loadReg(1, 32);
    f.get(this.B).get(this.RES).op(W.OP_SELECT).set(this.VAL);
    f.get(this.LIN).const(4).op(W.OP_I32_ADD).set(this.LIN);
    this.write(4, eip);
    // EDX:EAX keep their value when equal, else take the old one.
    this.loadReg(0, 32);
    f.get(this.A).get(this.RES).op(W.OP_SELECT).set(this.VAL);
    this.storeReg(0, 32, this.VAL);
    this.loadReg(2, 32);
    f.get(this.B).get(this.RES).op(W.OP_SELECT).set(this.VAL);
    this.storeReg(2, 32, this.VAL);
    this.flushFlags();
    f.get(this.RES);
    callHelper(f, IMP_SETZF);
    this.known = K_UNKNOWN;
    return EMIT_OK;
  }

  /**
   * BSF/BSR r32, r/m32 (`reverse`: BSR): the index of the lowest (highest) set bit; a zero source
   * sets ZF and leaves the destination as it was (P6 parts, as ops/alu.ts bitScan()); the other
   * flags, undefined in SDM Vol. 2A, keep their values as in the interpreter (the setzf helper).
   */
  private emitBitScan(i: Insn, reverse: boolean, eip: number): number {
    const f = this.f;
    this.loadDest32(i, eip, false);
    f.set(this.A);
    if (reverse) f.const(31).get(this.A).op(W.OP_I32_CLZ).op(W.OP_I32_SUB);
    else f.get(this.A).op(W.OP_I32_CTZ);
    this.loadReg(i.reg, 32);
    f.get(this.A).op(W.OP_SELECT).set(this.VAL);
    this.storeReg(i.reg, 32, this.VAL);
    this.flushFlags();
    f.get(this.A).op(W.OP_I32_EQZ);
    callHelper(f, IMP_SETZF);
    this.known = K_UNKNOWN;
    return EMIT_OK;
  }

  /**
   * BT/BTS/BTR/BTC (`op` 0-3) r/m32 with a constant bit (0-31), or (`bit` -1) the bit offset in the
   * register i.reg: CF = the bit before the change, the other flags unchanged (ops/arith-ops.ts
   * bitOp()). When a logic op or a shift left the flags deferred (FOP_RESULT) only FA's CF changes;
   * otherwise the setcf helper makes them concrete.
   */
  private emitBit(i: Insn, op: number, bit: number, eip: number): number {
    const f = this.f;
    const shift = this.pend === PEND_SHIFT;
    const deferred = shift || this.pend === PEND_LOGIC;
    const dyn = bit < 0;
    // The offset is read first: the destination may be the same register.
    if (dyn) {
      this.loadReg(i.reg, 32);
      f.set(this.B);
    }
    if (dyn && i.mod !== 3) {
      // The dword holding the bit: EA + (offset >> 5) * 4, the offset signed (SDM Vol. 2A "BT":
      // a bit string reaches 2^31 bits either side of its base).
      this.eaPlain(i);
      f.get(this.LIN).get(this.B).const(5).op(W.OP_I32_SHR_S).const(2).op(W.OP_I32_SHL).op(W.OP_I32_ADD);
      f.set(this.LIN);
      this.read(4, eip, op !== 0);
    } else this.loadDest32(i, eip, op !== 0);
    f.set(this.A);
    if (op !== 0) {
      f.get(this.A);
      // The bit's mask (a register offset counts modulo 32, as wasm's shifts do); BTR's inverted.
      if (dyn) {
        f.const(1).get(this.B).op(W.OP_I32_SHL);
        if (op === 2) f.const(-1).op(W.OP_I32_XOR);
      } else f.const(op === 2 ? ~(1 << bit) : 1 << bit);
      if (op === 1) f.op(W.OP_I32_OR);
      else if (op === 2) f.op(W.OP_I32_AND);
      else f.op(W.OP_I32_XOR);
      f.set(this.VAL);
      // The write first: a faulting one leaves the flags as they were.
      if (i.mod !== 3) this.write(4, eip);
      else this.storeReg(i.rm, 32, this.VAL);
    }
    if (!deferred) this.flushFlags();
    f.get(this.A);
    if (dyn) f.get(this.B);
    else f.const(bit);
    f.op(W.OP_I32_SHR_U).const(1).op(W.OP_I32_AND); // CF
    if (!deferred) {
      callHelper(f, IMP_SETCF);
      this.known = K_CFSTORED;
      return EMIT_OK;
    }
    if (shift) f.get(this.FA).const(~1).op(W.OP_I32_AND).op(W.OP_I32_OR);
    f.set(this.FA);
    const k = this.known;
    this.known = (k === K_LOGIC || k === K_SHIFT) && this.kbits === this.pendBits ? K_SHIFT : K_UNKNOWN;
    this.pend = PEND_SHIFT;
    this.pendFop = FOP_RESULT;
    return EMIT_OK;
  }

  /**
   * SHLD/SHRD r/m32, r32 by a constant count (1-31), as ops/alu.ts shiftDouble(): CF the last bit
   * shifted out of the destination, OF whether its sign changed (the interpreter's value for every
   * count), ZF/SF/PF from the result, AF 0 — deferred in the shift form, like emitShift()'s.
   */
  private emitShiftDouble(i: Insn, left: boolean, count: number, eip: number): number {
    const f = this.f;
    if (count === 0) return EMIT_NO;
    this.loadDest32(i, eip);
    f.set(this.A);
    this.loadReg(i.reg, 32);
    f.set(this.B);
    f.get(this.A)
      .const(count)
      .op(left ? W.OP_I32_SHL : W.OP_I32_SHR_U);
    f.get(this.B)
      .const(32 - count)
      .op(left ? W.OP_I32_SHR_U : W.OP_I32_SHL);
    f.op(W.OP_I32_OR).set(this.RES);
    f.get(this.RES).set(this.VAL);
    if (i.mod !== 3) this.write(4, eip);
    else this.storeReg(i.rm, 32, this.VAL);
    // FA = CF | OF << 11.
    f.get(this.A)
      .const(left ? 32 - count : count - 1)
      .op(W.OP_I32_SHR_U)
      .const(1)
      .op(W.OP_I32_AND);
    f.get(this.RES).get(this.A).op(W.OP_I32_XOR).const(31).op(W.OP_I32_SHR_U);
    f.const(11).op(W.OP_I32_SHL).op(W.OP_I32_OR).set(this.FA);
    this.shiftFormFlags(32);
    return EMIT_OK;
  }

  /**
   * SHLD/SHRD r/m32, r32, CL (the kernel's sched_clock and timekeeping: 64-bit shifts by a
   * variable). A count of 0 (CL & 31) changes nothing, flags included (SDM Vol. 2B SHLD), so the
   * flags go to the locals' general form first (flagsToLocals()), and each word is then chosen by
   * the count with `select`: the shift's (FOP_RESULT on the result, CF and OF into EFLAGS, as
   * ops/alu.ts shiftDouble() leaves them) or the old one. A memory operand is written back even for
   * a zero count (with its own value; the interpreter only checks it for writing): the same RAM, and
   * a page holding code or I/O takes the slow path, where the interpreter runs it.
   */
  private emitShiftDoubleCl(i: Insn, left: boolean, eip: number): number {
    const f = this.f;
    this.loadDest32(i, eip);
    f.set(this.A);
    this.loadReg(i.reg, 32);
    f.set(this.B);
    this.loadReg(1, 32);
    f.const(31).op(W.OP_I32_AND).set(this.T);
    this.flagsToLocals();
    // RES: the shifted value (a count of 0 shifts B by 32 = 0 here: the select takes A then).
    f.get(this.A)
      .get(this.T)
      .op(left ? W.OP_I32_SHL : W.OP_I32_SHR_U);
    f.get(this.B)
      .const(32)
      .get(this.T)
      .op(W.OP_I32_SUB)
      .op(left ? W.OP_I32_SHR_U : W.OP_I32_SHL);
    f.op(W.OP_I32_OR).get(this.A).get(this.T).op(W.OP_SELECT).set(this.RES);
    f.get(this.RES).set(this.VAL);
    // The write first: a slow path there leaves with the old flags, which the locals still hold.
    if (i.mod !== 3) this.write(4, eip);
    else this.storeReg(i.rm, 32, this.VAL);
    // E = CF | OF << 11: CF the last bit shifted out of A, OF whether the sign changed.
    f.get(this.A);
    if (left) f.const(32).get(this.T).op(W.OP_I32_SUB);
    else f.get(this.T).const(1).op(W.OP_I32_SUB);
    f.op(W.OP_I32_SHR_U).const(1).op(W.OP_I32_AND);
    f.get(this.RES).get(this.A).op(W.OP_I32_XOR).const(31).op(W.OP_I32_SHR_U);
    f.const(11).op(W.OP_I32_SHL).op(W.OP_I32_OR).set(this.E);
    f.const(0);
    this.loadState(R_EFLAGS).const(~EFLAGS_ARITH).op(W.OP_I32_AND).get(this.E).op(W.OP_I32_OR);
    this.loadState(R_EFLAGS);
    f.get(this.T).op(W.OP_SELECT).mem(W.OP_I32_STORE, off(R_EFLAGS), 2);
    f.const(FOP_RESULT).get(this.FOPL).get(this.T).op(W.OP_SELECT).set(this.FOPL);
    f.get(this.RES).get(this.FRES).get(this.T).op(W.OP_SELECT).set(this.FRES);
    f.const(32).get(this.FSIZEL).get(this.T).op(W.OP_SELECT).set(this.FSIZEL);
    return EMIT_OK;
  }

  /**
   * SHL/SHR/SAR r/m8/16/32 by a constant count, flags as the interpreter computes them (ops/alu.ts
   * shift()). Byte and word counts of the operand size or more are left to the interpreter.
   */
  private emitShift(i: Insn, count: number, eip: number, bits = 32): number {
    const f = this.f;
    if (count === 0 || (bits < 32 && count >= bits)) return EMIT_NO;
    const size = bits >> 3;
    const mask = bits === 32 ? -1 : (1 << bits) - 1;
    const sign = bits - 1;
    if (i.mod !== 3) {
      this.ea(i);
      this.read(size, eip, true);
    } else this.loadReg(i.rm, bits);
    // SAR works on the sign-extended operand.
    if (i.reg === 7 && bits === 8) f.op(W.OP_I32_EXTEND8_S);
    else if (i.reg === 7 && bits === 16) f.op(W.OP_I32_EXTEND16_S);
    f.set(this.A);
    let cfExpr: () => void;
    let ofExpr: () => void;
    if (i.reg === 4) {
      f.get(this.A).const(count).op(W.OP_I32_SHL);
      cfExpr = () =>
        f
          .get(this.A)
          .const(bits - count)
          .op(W.OP_I32_SHR_U)
          .const(1)
          .op(W.OP_I32_AND);
      ofExpr = () => {
        f.get(this.RES).const(sign).op(W.OP_I32_SHR_U);
        cfExpr();
        f.op(W.OP_I32_XOR);
      };
    } else if (i.reg === 5) {
      f.get(this.A).const(count).op(W.OP_I32_SHR_U);
      cfExpr = () =>
        f
          .get(this.A)
          .const(count - 1)
          .op(W.OP_I32_SHR_U)
          .const(1)
          .op(W.OP_I32_AND);
      ofExpr = () => f.get(this.A).const(sign).op(W.OP_I32_SHR_U);
    } else {
      f.get(this.A).const(count).op(W.OP_I32_SHR_S);
      cfExpr = () =>
        f
          .get(this.A)
          .const(count - 1)
          .op(W.OP_I32_SHR_S)
          .const(1)
          .op(W.OP_I32_AND);
      ofExpr = () => f.const(0);
    }
    if (mask !== -1) f.const(mask).op(W.OP_I32_AND);
    f.set(this.RES);
    f.get(this.RES).set(this.VAL);
    if (i.mod !== 3) this.write(size, eip);
    else this.storeReg(i.rm, bits, this.VAL);
    // Flags deferred like an ALU op's: FA = cf | of << 11 (what goes into EFLAGS), FRES the result
    // (FOP_RESULT); syncFlags() writes them where something may read the state block.
    cfExpr();
    ofExpr();
    f.const(1).op(W.OP_I32_AND);
    f.const(11).op(W.OP_I32_SHL).op(W.OP_I32_OR);
    f.set(this.FA);
    this.shiftFormFlags(bits);
    return EMIT_OK;
  }
}

const OP_I64_EXTEND_I32_S = 0xac;
const OP_I64_EXTEND_I32_U = 0xad;
const OP_I64_CONST = 0x42;
const OP_I64_SHR_U = 0x88;
const OP_I32_WRAP_I64 = 0xa7;
const OP_I64_MUL = 0x7e;
const OP_I64_NE = 0x52;
const OP_I64_GE_U = 0x5a;
const OP_I64_ADD = 0x7c;
const OP_I64_DIV_S = 0x7f;
const OP_I64_DIV_U = 0x80;
const OP_I64_REM_S = 0x81;
const OP_I64_REM_U = 0x82;
const OP_I64_OR = 0x84;
const OP_I64_SHL = 0x86;
const OP_I32_ROTL = 0x77;
const OP_I32_ROTR = 0x78;

const EMIT_NO = 0;
const EMIT_OK = 1;
const EMIT_END = 2;
const EMIT_FOLLOW = 3; // a direct jump the block follows to its target (this.follow)

function isMoffs(op: number): boolean {
  return op >= 0xa0 && op <= 0xa3;
}

/** MOV and string forms translated with a 16-bit operand size too (66 prefix). */
function hasWordForm(op: number): boolean {
  return (
    op === 0x89 ||
    op === 0x8b ||
    op === 0xc7 ||
    op === 0xa4 ||
    op === 0xa5 ||
    (op >= 0xaa && op <= 0xaf) ||
    op === 0x85 ||
    op === 0xa9
  );
}

/** REP MOVSB/MOVSD/STOSB/STOSD (with a 66 prefix: MOVSW/STOSW). */
function isRepMovsStos(i: Insn): boolean {
  return i.op === 0xa4 || i.op === 0xa5 || i.op === 0xaa || i.op === 0xab;
}

/**
 * Whether LOCK is allowed on `i` (SDM Vol. 2B "LOCK"): ADD, ADC, AND, BTC, BTR, BTS, CMPXCHG,
 * CMPXCHG8B, DEC, INC, NEG, NOT, OR, SBB, SUB, XOR, XADD and XCHG with a memory destination.
 */
function lockable(i: Insn): boolean {
  if (i.mod === 3) return false;
  const op = i.op;
  if (op < 0x40 && (op & 7) < 2) return op >> 3 !== 7; // not CMP
  switch (op) {
    case 0x80:
    case 0x81:
    case 0x83:
      return i.reg !== 7;
    case 0x86:
    case 0x87:
    case 0x1ab:
    case 0x1b3:
    case 0x1bb:
    case 0x1b0:
    case 0x1b1:
    case 0x1c0:
    case 0x1c1:
      return true;
    case 0xf6:
    case 0xf7:
      return i.reg === 2 || i.reg === 3;
    case 0xfe:
    case 0xff:
      return i.reg <= 1;
    case 0x1ba:
      return i.reg >= 5;
    case 0x1c7:
      return i.reg === 1;
  }
  return false;
}

function isByteOp(op: number): boolean {
  // Byte-sized forms whose meaning does not depend on the operand-size prefix.
  return (
    op === 0x84 ||
    op === 0x88 ||
    op === 0x8a ||
    op === 0xa8 ||
    op === 0xc6 ||
    op === 0xf6 ||
    (op >= 0xb0 && op <= 0xb7) ||
    (op >= 0x190 && op <= 0x19f)
  );
}

/**
 * Instructions that may change what a block is compiled for (CPL, CR0/CR3/CR4, CS and SS, EFLAGS.VM,
 * MOV SS's interrupt shadow) or wait: they end a block and the dispatcher runs them, so the run loop
 * sees their effects before compiled code runs again. Run by the interpreter from inside the block
 * instead: DS/ES loads (the interpreter helper ends the block when one is no longer flat: see
 * KqemuEngine.eventsAfterStep()), FS/GS loads (checked at each access), POPF (the helper ends the block when it set TF or let a pending interrupt in: both
 * raise an event), STI (its shadow cleared after the next instruction: IMP_UNSHADOW), reads of
 * CR/DR, SLDT/STR/SGDT/SIDT/SMSW and VERR/VERW. (CLI only clears IF.) The kernel's entry and exit
 * paths and its interrupt-enabling code are full of them: getpid ×20000 ran 467 K instructions in
 * the interpreter when they ended blocks, 46 K now.
 */
function changesMode(i: Insn): boolean {
  const op = i.op;
  if (op < 0x100) {
    switch (op) {
      case 0x17: // POP SS (interrupt shadow, stack size)
      case 0x9a: // CALL far
      case 0xc4: // LES/LDS
      case 0xc5:
      case 0xca: // RETF
      case 0xcb:
      case 0xcc: // INT3/INT n/INTO/IRET
      case 0xcd:
      case 0xce:
      case 0xcf:
      case 0xea: // JMP far
      case 0xf1: // INT1
      case 0xf4: // HLT
        return true;
      case 0xff: // CALL/JMP far through memory
        return i.reg === 3 || i.reg === 5;
      case 0x8e: // MOV Sreg: SS (and CS, #UD); DS/ES/FS/GS run in the block
        return i.reg === 1 || i.reg === 2 || i.reg > 5;
    }
    // IN/OUT stay inside blocks: a device that raises an IRQ or asks for a reset or power-off sets
    // an event, and the interpreter helper ends the block right after the instruction.
    return false;
  }
  const op2 = op & 0xff;
  // 0F 00/01 (descriptor tables, LMSW, INVLPG: the reads SLDT, STR, VERR, VERW, SGDT, SIDT, SMSW
  // run in the block), 05-09 (SYSCALL, CLTS, SYSRET, INVD, WBINVD), 22-27 (MOV to CRn/DRn; the
  // reads, 20/21, run in the block), 30 (WRMSR), 34/35 (SYSENTER/SYSEXIT), AA (RSM), B2/B4/B5
  // (LSS/LFS/LGS); 0B (UD2) always faults: the window scan stops there, and emit() ends only
  // its path unless it comes first in a block.
  if (op2 === 0x00) return i.reg === 2 || i.reg === 3 || i.reg > 5; // LLDT, LTR, #UD
  // All but SGDT/SIDT, SMSW and INVLPG (run by the interpreter helper, which ends the block: see
  // endsAfterHelper()).
  if (op2 === 0x01) return !(i.mod !== 3 && i.reg <= 1) && i.reg !== 4 && !isInvlpg(i);
  return (
    op2 === 0x0b ||
    (op2 >= 0x05 && op2 <= 0x09) ||
    (op2 >= 0x22 && op2 <= 0x27) ||
    op2 === 0x30 ||
    op2 === 0x34 ||
    op2 === 0x35 ||
    op2 === 0xaa ||
    op2 === 0xb2 ||
    op2 === 0xb4 ||
    op2 === 0xb5
  );
}

/**
 * INVLPG: nothing a block is compiled for changes, but the next instruction may be fetched through
 * the mapping it dropped, so the block ends after it (the dispatcher checks the next block's TLB
 * entry). Kernels run it at every PTE change (a Debian boot ~63 K times, fork+exec on COW faults):
 * ending the block before it cost a run-loop turn each.
 */
function isInvlpg(i: Insn): boolean {
  return i.op === 0x101 && i.reg === 7 && i.mod !== 3;
}

/** An instruction after which the block ends once the interpreter helper ran it. */
function endsAfterHelper(i: Insn): boolean {
  return isJump(i) || isInvlpg(i);
}

/** Near control transfers: after one runs through the interpreter the block ends unconditionally. */
function isJump(i: Insn): boolean {
  const op = i.op;
  return (
    (op >= 0x70 && op <= 0x7f) ||
    (op >= 0xe0 && op <= 0xe3) ||
    (op >= 0xe8 && op <= 0xeb) ||
    op === 0xc2 ||
    op === 0xc3 ||
    (op >= 0x180 && op <= 0x18f) ||
    (op === 0xff && (i.reg === 2 || i.reg === 4))
  );
}

export { IF_OP32, R_EFLAGS };

/** Byte-sized forms (their ModRM register numbers 4-7 are AH, CH, DH, BH). */
function byteForm(op: number): boolean {
  if (op < 0x40) return (op & 1) === 0 && (op & 7) < 6;
  return (
    op === 0x80 ||
    op === 0x82 ||
    op === 0x86 ||
    op === 0x88 ||
    op === 0x8a ||
    op === 0xc0 ||
    op === 0xc6 ||
    op === 0xd0 ||
    op === 0xd2 ||
    op === 0xf6 ||
    op === 0xfe ||
    (op >= 0xb0 && op <= 0xb7) ||
    (op >= 0x190 && op <= 0x19f) ||
    op === 0x1b0 ||
    op === 0x1c0
  );
}

/**
 * Registers (bit r: register r) that instruction `i` may write, for planWindows(); 0xff when not
 * known. Over-approximations only make windows smaller: the emitter tracks the real writes.
 */
function regsWritten(i: Insn): number {
  const op = i.op;
  const rm = i.mod === 3 ? 1 << i.rm : 0;
  const reg = 1 << i.reg;
  const ESP_B = 1 << 4;
  let w: number;
  if (op < 0x40) {
    const form = op & 7;
    if (form >= 6)
      w = 1 | ESP_B; // push/pop segment, DAA...
    else if (op >> 3 === 7)
      w = 0; // CMP
    else w = form < 2 ? rm : form < 4 ? reg : 1;
  } else if (op < 0x50) w = 1 << (op & 7);
  else if (op < 0x58) w = ESP_B;
  else if (op < 0x60) w = ESP_B | (1 << (op & 7));
  else if (
    op === 0x68 ||
    op === 0x6a ||
    op === 0x9c ||
    op === 0x9d ||
    op === 0xe8 ||
    op === 0xc2 ||
    op === 0xc3
  )
    w = ESP_B;
  else if (op === 0x69 || op === 0x6b || op === 0x8a || op === 0x8b || op === 0x8d) w = reg;
  else if ((op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f) || op === 0xe9 || op === 0xeb) w = 0;
  else if (op === 0x80 || op === 0x81 || op === 0x83) w = i.reg === 7 ? 0 : rm;
  else if (op === 0x84 || op === 0x85 || op === 0xa8 || op === 0xa9 || op === 0xa2 || op === 0xa3) w = 0;
  else if (op === 0x86 || op === 0x87) w = reg | rm;
  else if (op === 0x88 || op === 0x89 || op === 0x8c || op === 0xc6 || op === 0xc7) w = rm;
  else if (op === 0x8f) w = ESP_B | rm;
  else if (op >= 0x90 && op <= 0x97) w = 1 | (1 << (op & 7));
  else if (op === 0x98 || op === 0xa0 || op === 0xa1) w = 1;
  else if (op === 0x99) w = 1 << 2;
  else if (op >= 0xb0 && op <= 0xb7) w = 1 << (op & 3);
  else if (op >= 0xb8 && op <= 0xbf) w = 1 << (op & 7);
  else if (op === 0xc0 || op === 0xc1 || (op >= 0xd0 && op <= 0xd3)) w = rm;
  else if (op === 0xc8 || op === 0xc9) w = ESP_B | (1 << 5);
  else if (op === 0xf6 || op === 0xf7) w = i.reg < 2 ? 0 : i.reg < 4 ? rm : 1 | (1 << 2);
  else if (op === 0xfe || op === 0xff) w = i.reg < 2 ? rm : i.reg === 2 || i.reg === 6 ? ESP_B : 0;
  else if ((op >= 0x140 && op <= 0x14f) || op === 0x1af || op === 0x1bc || op === 0x1bd) w = reg;
  else if (op >= 0x1b6 && op <= 0x1bf && op !== 0x1ba && op !== 0x1bb) w = reg;
  else if ((op >= 0x190 && op <= 0x19f) || op === 0x1ab || op === 0x1b3 || op === 0x1bb || op === 0x1ba)
    w = rm;
  else if (op === 0x1a3) w = 0;
  else if (op === 0x1a4 || op === 0x1a5 || op === 0x1ac || op === 0x1ad) w = rm;
  else if (op === 0x1b0 || op === 0x1b1) w = 1 | rm;
  else if (op === 0x1c0 || op === 0x1c1) w = reg | rm;
  else if (op >= 0x1c8 && op <= 0x1cf) w = 1 << (op & 7);
  else if (op >= 0x118 && op <= 0x11f) w = 0;
  else return 0xff;
  // AH..BH are parts of EAX..EBX.
  if (byteForm(op)) w |= (w >> 4) & 0xf;
  return w;
}

/** Whether instruction `i`'s ModRM memory operand may be written (for planWindows()'s rights). */
function writesMemory(i: Insn): boolean {
  const op = i.op;
  if (op < 0x40) return (op & 7) < 2 && op >> 3 !== 7;
  if (op === 0x80 || op === 0x81 || op === 0x83) return i.reg !== 7;
  if (op === 0xf6 || op === 0xf7) return i.reg === 2 || i.reg === 3;
  if (op === 0xfe || op === 0xff) return i.reg < 2;
  if (op === 0x1ba) return i.reg >= 5;
  return (
    op === 0x86 ||
    op === 0x87 ||
    op === 0x88 ||
    op === 0x89 ||
    op === 0x8c ||
    op === 0x8f ||
    op === 0xc0 ||
    op === 0xc1 ||
    op === 0xc6 ||
    op === 0xc7 ||
    (op >= 0xd0 && op <= 0xd3) ||
    (op >= 0x190 && op <= 0x19f) ||
    op === 0x1a4 ||
    op === 0x1a5 ||
    op === 0x1ab ||
    op === 0x1ac ||
    op === 0x1ad ||
    op === 0x1b0 ||
    op === 0x1b1 ||
    op === 0x1b3 ||
    op === 0x1bb ||
    op === 0x1c0 ||
    op === 0x1c1
  );
}
