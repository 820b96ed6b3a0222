// The kqemu engine: runs guest code compiled to WebAssembly when the CPU state allows it (QEMU's
// kqemu_is_ok(): protected mode, not v8086, no interrupt shadow, no single-step, flat segments, and
// CPL 3 unless in full virtualization mode), and the interpreter otherwise. Blocks are compiled
// once hot, cached by physical address and mode, and dropped when the code they came from is written.
import {
  CODE_WRITE_DROPPED,
  CODE_WRITE_KEPT,
  type CPU,
  EV_INHIBIT,
  EXIT_BUDGET,
  EXIT_EXCEPTION,
  EXIT_SHUTDOWN,
  FAULT,
} from "../../cpu/cpu.ts";
import { setCfOf } from "../../cpu/ops/alu.ts";
import { popfValue, sti } from "../../cpu/ops/data-ops.ts";
import { rdtsc } from "../../cpu/ops/system-ops.ts";
import {
  CR0_PG,
  CS,
  DS,
  EFLAGS_CF,
  EFLAGS_TF,
  EFLAGS_VM,
  EFLAGS_ZF,
  ES,
  R_CPL,
  R_CR0,
  R_EFLAGS,
  R_EIP,
  R_EVENTS,
  R_INHIBIT_IRQ,
  R_KQ_BUDGET,
  R_KQ_DISPATCHES,
  R_KQ_DONE,
  R_KQ_INBLOCK,
  R_KQ_SLOWEXITS,
  R_KQ_WINFAIL,
  R_SEGBASE,
  SS,
  TLB_IO,
  TLB_UNPAGED,
} from "../../cpu/state.ts";
import { KQ_JC_BYTE_OFFSET, RAM_BYTE_OFFSET, TLB_BYTE_OFFSET } from "../../machine/memory.ts";
import { buildBlockModule, IMPORTS, SLOW_EXIT_BIT, SYS_FLAGS, SYS_IRET, Translator } from "./translate.ts";
import * as W from "./wasm-builder.ts";
import { buildModule, FuncBuilder, recycleModuleBuffer } from "./wasm-builder.ts";

export type KqemuMode = "user" | "full";

type BlockFn = () => number;
type DispatchFn = (budget: number) => number;

/**
 * Compiles batches of blocks away from the thread the guest runs on (the Node host: a worker thread,
 * src/host/node/wasm-compiler.ts). submit() hands over a module's bytes, whose whole buffer the
 * caller does not use again (a host may transfer it); poll() returns a compiled module when one has come
 * back, without waiting, or null for a failed compile, with the bytes back when it has them (and
 * `spent`, the buffer of a module compiled, when the host hands it back for the next module);
 * wait(), where the host can, blocks until a reply may have come or `ms` have passed.
 */
export interface RemoteCompiler {
  submit(id: number, bytes: Uint8Array<ArrayBuffer>): void;
  poll(): {
    id: number;
    module: WebAssembly.Module | null;
    bytes?: Uint8Array<ArrayBuffer>;
    spent?: ArrayBuffer;
  } | null;
  wait?(ms: number): void;
}

interface Block {
  /** Slot in the function table once compiled, else -1. */
  slot: number;
  /** The EIP the block was translated for: EIPs are baked into the code, so an alias elsewhere differs. */
  eip: number;
  /**
   * 0 until translated (executions are counted in KqemuEngine.coldHeat), -1 once compiled or
   * rejected, HEAT_PENDING while queued, HEAT_INFLIGHT while with the remote compiler.
   */
  heat: number;
  /** Id reported by a failed frame-window check (0: the block has no windows), and the failures. */
  winId: number;
  winFails: number;
  /** Physical page and key in this.blocks (see blockKey()). */
  page: number;
  key: number;
  /** A two-page block: the TLB entry its second page must have (see Translator.crossPrologue()); else -1. */
  cross: number;
  /**
   * The code it was translated from, as offsets from its first page ([codeLo, codeHi), codeHi up to
   * 0x2000 into the second page); the whole page until translated.
   */
  codeLo: number;
  codeHi: number;
}

/** Counters shown by `info kqemu`. */
export class KqemuStats {
  insnsCompiled = 0; // guest instructions executed in compiled code
  insnsInterpreted = 0;
  insnsHelped = 0; // of insnsCompiled: run by the interpreter from inside compiled code
  blocksTranslated = 0; // blocks translated (compiled with their batch, unless dropped before)
  insnsTranslated = 0; // guest instructions in them (an instruction in two blocks counts twice)
  blocksCompiled = 0;
  modules = 0;
  wasmBytes = 0;
  compileMs = 0;
  rejected = 0;
  invalidatedBlocks = 0;
  invalidatedPages = 0; // code writes that dropped blocks
  codeWritesKept = 0; // code writes to pages with blocks that dropped none
  flushes = 0;
  exitsFault = 0;
  exitsSlow = 0; // slow-path exits: a block left a memory access to the run loop (see translate.ts)
  exitsNotOk = 0;
  lookups = 0; // block-map lookups (jump-cache misses on code counted hot)
  jcRefills = 0; // jump-cache misses for want of a TLB entry only, valid again once it was filled
  memoAccesses = 0; // memory accesses compiled with a page memo (see translate.ts)
  sideTraces = 0; // side traces compiled (see translate.ts), of which:
  runOnTraces = 0; // ...run on into their block's start (loops with two heads)
  loopHeadEnds = 0; // blocks ended at a JMP to another loop's head (see translate.ts)
  windows = 0; // frame windows compiled (see translate.ts)
  windowFails = 0; // frame-window checks that failed in a block
  windowDrops = 0; // blocks dropped to be translated again without windows
  crossBlocks = 0; // blocks that go on into the next page
  unpagedBlocks = 0; // blocks translated for paging off, with direct RAM accesses (see translate.ts)
  dispatches = 0; // blocks called by the dispatcher (a self-looping block's iterations not counted)
  loopsAlone = 0; // user loops compiled at once in a module of their own (baseline code)
  hotLoops = 0; // ...of which compiled again with compileHot, seen running long (see longLoop())
  relocations = 0; // code compiled at one EIP translated again at another (see lookup())
  remoteModules = 0; // of `modules`: compiled by the remote compiler (see KqemuEngine.remoteCompiler)
}

/**
 * R_EVENTS when no event is pending but an instruction run for compiled code left a state it may not
 * run in (see eventsAfterStep()); c.events stays 0.
 */
const KQ_NOT_OK = 1 << 30;

/** The unpaged bit of a block key (blockKey()). */
const KEY_UNPAGED = 4;

/**
 * A block's key in its page's map: its page offset, whether it was translated for unpaged
 * addressing (TLB_UNPAGED: direct physical accesses), and the CPL it assumed (TLB permission checks
 * are baked in). `e` is the TLB entry its code is fetched through.
 */
function blockKey(lin: number, e: number, cpl: number): number {
  return ((lin & 0xfff) << 3) | ((e & TLB_UNPAGED) !== 0 ? KEY_UNPAGED : 0) | cpl;
}

/** A block's id in noCross and noWindows (its key fits in 15 bits). */
function crossId(b: Block): number {
  return b.page * 32768 + b.key;
}

/** `bytes`, a module, with an empty custom section appended (its name: "o"). */
function withCustomSection(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.length + 4);
  out.set(bytes);
  // Section id 0 (custom), size 2: the name's length 1 and the name.
  out.set([0, 2, 1, 0x6f], bytes.length);
  return out;
}

/** Block.heat of a block translated and waiting for its batch to be compiled. */
const HEAT_PENDING = -2;
/** ...and submitted to the remote compiler (not counted in pendingHits: its batch is gone). */
const HEAT_INFLIGHT = -3;
/** Failed frame-window checks after which a block is translated again without windows. */
const WIN_FAILS_MAX = 8;
/** The dispatcher's one import: stepForBlock(). */
const STEP_IMPORT: W.ImportFunc = { name: "step", params: 0, results: 0 };
/** Most blocks compiled in one wasm module. */
const BATCH_MAX = 128;
/** Block modules that import one helper table before the next module gets a new one (blockImports()). */
const HELPER_TABLE_MODULES = 32;
/**
 * A batch is compiled at the run loop's next turn once it holds BATCH_MIN blocks or its oldest has
 * waited BATCH_WAIT_MS: V8's cost per module is high, so small batches cost more per block (Debian
 * boot, -kernel-kqemu: 1,597 modules took 2.3 s to compile, 164 modules 0.9 s, for ~6,200 blocks).
 */
const BATCH_MIN = 64;
const BATCH_WAIT_MS = 50;
/** ...or once blocks waiting in it were looked up this often (hot code kept waiting costs more). */
const PENDING_HITS_MAX = 256;
/** Fall-through successors translated along with a block cut by its instruction limit (see compile()). */
const MAX_CHAIN = 32;
/**
 * Executions of a block address before it is compiled. Lower compiles more code that runs only a
 * few hundred times (the boot's init code); higher leaves repeated kernel paths interpreted longer.
 * Measured (-kernel-kqemu, interleaved pairs, bench guest): 64 against 128: fork+exec ×100 runs
 * 2-3 -15 to -30% (median 0.87-0.95 s vs 1.01-1.39 s, 3 of 3 pairs), getpid ×20000 first run
 * -15%, boot to /init +1-3% (9.1-9.3 s vs 8.8-9.3 s); 48: boot +2% (6 pairs, medians 9.60 vs
 * 9.40 s); 32: boot +6% (4 of 4 pairs: 11,200 blocks compiled instead of 6,400).
 */
export const DEFAULT_THRESHOLD = 64;
/**
 * Instructions the interpreter runs at a time while compiled code may not run (bounds the delay to
 * notice a state it may run in: protected mode entered, flat segments loaded). Kernel code in
 * normal mode is not bounded by it: the return to CPL 3 ends its stretch (CPU.yieldAtUser).
 */
const INTERP_STRETCH = 2048;
/**
 * Most instructions interpreted in one go in cold code. At each control transfer on the way the
 * interpreter asks atBranch() (which counts the target's heat) whether a compiled block starts
 * there, and stops only then: cold code runs without a turn of this loop per block.
 */
const INTERP_COLD = 2048;
/**
 * Jump-cache entries (2^JC_BITS, in sets of JC_WAYS), each JC_WORDS words: JC_EIP; JC_PAGE, the
 * physical page address ORed with the TLB bits the fetch needs (valid: TLB entry & (JC_PAGE | ~0xfff
 * | TLB_IO) === JC_PAGE); JC_CPLSLOT, slot << 2 | CPL (negative for JC_SLOT_INTERP). It must be much
 * larger than the blocks in use: fork+exec alone runs >11,000 kernel and user blocks, and with
 * 16,384 entries and the former hash 90% of its lookups (225 K per 100 fork+exec) were collisions.
 * Two ways per set (a new entry goes first, the set's first moves second): direct-mapped, 43 K of
 * fork+exec ×100's 47 K block-map lookups per steady run found a compiled block whose entry another
 * EIP had taken (~1.3 µs each: the maps miss the host's caches).
 */
const JC_BITS = 16;
const JC_SIZE = 1 << JC_BITS;
const JC_WAYS = 2;
const JC_SET_BITS = JC_BITS - 1;
/**
 * Fibonacci hashing (the top JC_SET_BITS of eip × 2^32/φ pick the set): the former eip ^ (eip >>> 12)
 * sent every pair whose page and offset differ by the same amount to one entry, at any table size.
 */
const JC_HASH = 0x9e3779b1 | 0;
const JC_WORDS = 4;
const JC_EIP = 0;
const JC_PAGE = 4;
const JC_CPLSLOT = 8;
/**
 * An entry is made invalid by flipping bit 31 of its JC_EIP: the hash of eip ^ 2^31 differs from
 * eip's in its top bit (2^31 × an odd number is 2^31 mod 2^32), so no eip probing its set matches it.
 */
const JC_EIP_FLIP = 0x8000_0000 | 0;
/**
 * The slot of an instruction no block can start with (INT, IRET, MOV SS, WBINVD...): the dispatcher stops
 * there and the interpreter takes it at once, without lookup()'s maps.
 */
const JC_SLOT_INTERP = -1;
/**
 * Entries of the hashed heat table for cold code (the interpreter's branch targets and the
 * dispatcher's misses, counted alike until the threshold; a power of two). A collision makes a
 * target look hot early: with 2^16 entries, a fifth of the Debian boot's compiled blocks had run
 * fewer than 16 times since compilation; 2^20 entries (2 MiB) compile 17% fewer blocks.
 */
const COLD_HEAT_SIZE = 1 << 20;
/**
 * A visit to cold code adds one more to its heat for every LONG_RUN instructions the interpreter
 * ran from there to the next taken branch (or the end of its stretch): code that runs long between
 * branches (unrolled crypto rounds, long straight-line init code) costs more interpreted and
 * compiles sooner, short runs still after `threshold` visits. Measured (bench guest, boot to
 * /init): interpreted 8.1 M → 6.8 M instructions, blocks compiled 8,850 → 9,090; weighting by
 * instructions alone (heat += run length, 480 or 800 for a threshold) compiled fewer blocks but
 * interpreted more visits of short runs: 200 K more run-loop turns and dispatcher calls, slower.
 */
const LONG_RUN = 16;
/**
 * What a visit to cold code counts when compiled code led there (the dispatcher missed: a run-loop
 * turn, the dispatcher stopping and the interpreter starting, besides the instructions): twice a
 * visit from the interpreter's own branches. Measured (bench guest, boot to /init): interpreter
 * stretches 296 K → 253 K, dispatcher calls 610 K → 568 K, interpreted 6.80 M → 6.17 M, blocks
 * compiled 9,080 → 9,130; counting 3 compiled 5% more blocks.
 */
const MISS_HEAT = 2;

/** Relocated code (see lookup()) is translated again after this many times the threshold in lookups more. */
const RELOC_HEAT = 3;

/** How long a batch may stay with the remote compiler before the engine gives the compiler up. */
const REMOTE_WAIT_MS = 1000;
/** How long stopRemoteCompiler() waits for the batches still away. */
const REMOTE_STOP_WAIT_MS = 50;

/** Translations of one page's code kept at other EIPs besides the current one (see lookup()). */
const ALIAS_MAX = 8;

/**
 * A user loop compiled alone in baseline code is compiled again with compileHot once the dispatcher
 * stopped this many times for its budget with the loop at EIP (see longLoop()): ~20,000 instructions
 * each, so a loop that runs on. Loops that stop sooner (a program's start-up: ld.so, busybox) stay
 * in baseline code, which V8 optimizes in the background anyway.
 */
const LONG_LOOP_EXITS = 4;
/** Loops waiting to be seen running long, at most (the oldest stays in baseline code). */
const LONG_LOOP_CANDIDATES = 256;

/** `eip`'s counter in KqemuEngine.coldHeat. */
function coldIndex(eip: number): number {
  return (eip ^ (eip >>> 11)) & (COLD_HEAT_SIZE - 1);
}

/** Blocks kept before the whole cache is flushed. */
const MAX_BLOCKS = 65536;

export class KqemuEngine {
  readonly stats = new KqemuStats();
  /** Instructions that ended blocks untranslated, by opcode/form (for `info kqemu` and tuning). */
  readonly untranslated = new Map<number, number>();
  /** Blocks by physical page, then by (page offset << 2 | CPL): small-integer keys hash fast. */
  private readonly blocks = new Map<number, Map<number, Block>>();
  private blockCount = 0;
  /** Two-page blocks by the physical page they go on into (a write there drops them too). */
  private readonly crossBlocks = new Map<number, Block[]>();
  /**
   * Per physical page, blocks replaced in `blocks` by a translation of the same bytes at another EIP
   * while still compiled or queued (see lookup()): the jump cache may still run them (each process's
   * vDSO at its own address), so code writes must drop them too. At most ALIAS_MAX per page.
   */
  private readonly aliases = new Map<number, Block[]>();
  /** Blocks (page * 32768 + key) whose second page was found remapped: translated in one page. */
  private readonly noCross = new Set<number>();
  /** Blocks (page * 32768 + key) whose frame windows kept failing: translated without. */
  private readonly noWindows = new Set<number>();
  /** Blocks with frame windows, by the id their failed checks report. */
  private readonly windowed = new Map<number, Block>();
  private nextWinId = 1;
  /**
   * Direct-mapped cache by EIP of compiled blocks (QEMU's tb_jmp_cache in spirit), in guest memory
   * so that the wasm dispatcher chains from block to block without returning to JavaScript.
   */
  private readonly jc: Int32Array;
  /**
   * Executions of cold branch targets, hashed (see atBranch()), plus their long runs' bonus (see
   * LONG_RUN); collisions only compile sooner.
   */
  private readonly coldHeat = new Uint16Array(COLD_HEAT_SIZE);
  /** The coldHeat index of the cold target whose run is being counted (-1: none), and icount at its visit. */
  private runHeat = -1;
  private runStart = 0;
  /** Compiled blocks by slot, for call_indirect. */
  private readonly table = new WebAssembly.Table({ element: "anyfunc", initial: 1024 });
  /**
   * The helpers, called by blocks through a small table of their own (see installHelpers()): V8
   * (Node 20) copies an imported table into each instance and updates every importing instance at
   * each table.set(), so the blocks' modules must not import the big one (measured: 1.3 ms per
   * instantiation with a 20,000-entry table, 0.02 ms with 16 entries). And it keeps every instance
   * that imports a table alive as long as the table: one helper table for the engine's life kept
   * every block module ever compiled, dropped or not. So each table serves HELPER_TABLE_MODULES
   * modules, then the next ones get a new one (blockImports()); a table and its modules are freed
   * together once none of their blocks is left in `table`.
   */
  private readonly helperFns: WebAssembly.ExportValue[] = [];
  private helperImports: WebAssembly.Imports | null = null;
  private helperTableUses = 0;
  private readonly freeSlots: number[] = [];
  /** Blocks translated and waiting to be compiled, with their functions. */
  private readonly pending: Block[] = [];
  private readonly pendingFuncs: FuncBuilder[] = [];
  /** When the oldest block waiting to be compiled was translated (performance.now()). */
  private pendingSince = 0;
  /** Lookups that found a block waiting for its batch since the last batch was compiled. */
  private pendingHits = 0;
  private nextSlot = 0;
  private readonly dispatch: DispatchFn;
  private readonly translator: Translator;
  /** Successors being translated by compile() (bounded by MAX_CHAIN). */
  private chainDepth = 0;
  private readonly imports: WebAssembly.ModuleImports;
  /**
   * Count the instructions a block completed before a fault inside it (see Translator.exactCount);
   * set before anything is compiled (the board sets it for -icount).
   */
  get exactCount(): boolean {
    return this.translator.exactCount;
  }
  set exactCount(on: boolean) {
    this.translator.exactCount = on;
  }
  /** Told how long host-side work took (compiling), which the board keeps out of guest time. */
  onHostWork: ((ms: number) => void) | null = null;
  /**
   * Called once, when the first block of user code (CPL 3) is translated: the guest's boot is over
   * (the Node CLI has V8 optimize later modules at once, see tuneV8ForSteadyState()).
   */
  onFirstUserBlock: (() => void) | null = null;
  /**
   * After the boot, a block of user code translated as a loop (Translator: its body a wasm loop) is
   * compiled at once in a module of its own, and, once seen running long (longLoop()), again with
   * this, when set (the Node host: V8's optimizing tier straight away, see compileOptimized() in
   * v8-tuning.ts), instead of running in baseline code until V8's background threads get to it.
   */
  compileHot: ((bytes: Uint8Array<ArrayBuffer>) => WebAssembly.Module) | null = null;
  /**
   * User loops compiled alone in baseline code, by table slot: their module's bytes, to compile
   * again with compileHot once they are seen running long, and their budget stops so far.
   */
  private readonly loopCandidates = new Map<number, { bytes: Uint8Array<ArrayBuffer>; stops: number }>();
  /**
   * Where batches are compiled when set (and the threshold is above 1): off this thread, their blocks
   * interpreted until the module comes back (polled at each run()). V8's compile of a boot's modules
   * (~0.6 s of 16 MB) then leaves the guest's thread; null: `new WebAssembly.Module` here.
   */
  remoteCompiler: RemoteCompiler | null = null;
  /** Batches submitted to remoteCompiler, by id: their blocks (HEAT_INFLIGHT until installed), and when. */
  private readonly inflight = new Map<number, { blocks: Block[]; since: number }>();
  private nextBatch = 1;
  /** stepForBlock() caught a fault (its exception stays out of the wasm frames): run() delivers it. */
  private stepFaulted = false;
  /** No block of user code translated yet: the guest boots (see blockAt()). */
  private booting = true;
  /** Relocated code waits this many times the threshold in lookups more (see lookup()). */
  relocHeat = RELOC_HEAT;

  constructor(
    readonly c: CPU,
    public mode: KqemuMode,
    public threshold = DEFAULT_THRESHOLD,
  ) {
    this.translator = new Translator(c);
    this.translator.blockAt = (lin, eip) => this.blockAt(lin, eip);
    this.translator.unsupported = (i) => {
      const k = (i.op << 3) | (i.mod === 3 ? 0 : 4) | ((i.flags & 1) !== 0 ? 0 : 2);
      this.untranslated.set(k, (this.untranslated.get(k) ?? 0) + 1);
    };
    const r = c.r;
    const at = (eip: number) => {
      c.eipStart = eip;
      r[R_EIP] = eip;
    };
    this.imports = {
      mem: c.mem.memory,
      cond: (cc: number) => (c.cond(cc) ? 1 : 0),
      // ROL/ROR: CF and OF set as the interpreter's rotate does.
      setcfof: (cf: number, of: number) => setCfOf(c, cf, of),
      // The block must end after the instruction when it jumped, raised an event, or changed what
      // code fetches see (code written, TLB flushed: MOV CR3, INVLPG). STI's interrupt shadow alone
      // does not end it: the block's next instruction runs before any interrupt can come, and
      // then clears the shadow (unshadow).
      interp: (eip: number, next: number) => {
        at(eip);
        const before = this.stats.invalidatedPages;
        const epoch = c.fetchEpoch;
        const ev = this.stepForBlock();
        return r[R_EIP] !== next ||
          ev !== 0 ||
          this.stats.invalidatedPages !== before ||
          c.fetchEpoch !== epoch
          ? 1
          : 0;
      },
      unshadow: () => {
        if ((c.events & EV_INHIBIT) !== 0) {
          c.events &= ~EV_INHIBIT;
          r[R_INHIBIT_IRQ] = 0;
        }
        r[R_EVENTS] = c.events;
      },
      crossmiss: (eip: number) => this.crossMiss(eip),
      // PUSHF: EFLAGS as pushed (VM and RF 0), the arithmetic flags folded in.
      getflags: () => {
        c.materializeFlags();
        return c.getEflags() & ~0x30000;
      },
      // BT/BTS/BTR/BTC: CF set, the other flags as they were.
      setcf: (cf: number) => {
        c.materializeFlags();
        r[R_EFLAGS] = (r[R_EFLAGS] & ~EFLAGS_CF) | cf;
      },
      // CMPXCHG8B: ZF set, the other flags as they were.
      setzf: (zf: number) => {
        c.materializeFlags();
        r[R_EFLAGS] = (r[R_EFLAGS] & ~EFLAGS_ZF) | (zf << 6);
      },
      // STI at CPL 0 (no IOPL fault there), the interpreter's, without CPU.step(): 1 when an
      // event is pending.
      sti: () => {
        sti(c);
        return this.eventsAfterStep() !== 0 ? 1 : 0;
      },
      // POPF, the value popped by the block: 1 when an event is pending (an interrupt unmasked, TF).
      popf: (v: number) => {
        popfValue(c, v, true);
        return this.eventsAfterStep() !== 0 ? 1 : 0;
      },
      // RDTSC at CPL 0 (no CR4.TSD fault there), the interpreter's: EDX:EAX in the state block.
      rdtsc: () => {
        rdtsc(c);
      },
      // INT n / IRET compiled whole (translate.ts emitIntN()): EIP at the instruction for a fault in
      // none of this, which only reads and recomputes state.
      sysstate: (kind: number) => {
        if (kind === SYS_FLAGS) {
          c.materializeFlags();
          return c.getEflags();
        }
        // The block wrote CS, SS, CPL and EFLAGS in the state block: what depends on them.
        c.updateCpl();
        c.segChanged(CS);
        c.segChanged(SS);
        if (kind === SYS_IRET) {
          c.nmiMasked = false;
          c.checkIrq();
        }
        return this.eventsAfterStep();
      },
    };
    this.installHelpers();
    c.atBranch = (eip) => this.atBranch(eip);
    if (KQ_JC_BYTE_OFFSET + JC_SIZE * JC_WORDS * 4 > RAM_BYTE_OFFSET)
      throw new Error("jump cache overlaps guest RAM");
    this.jc = new Int32Array(c.mem.memory.buffer, KQ_JC_BYTE_OFFSET, JC_SIZE * JC_WORDS);
    this.clearJumpCache();
    this.dispatch = this.buildDispatcher();
    c.onCodeWrite = (page, from, to) => this.codeWritten(page, from, to);
  }

  /**
   * Guest code at [from, to) of physical page `page` is being written: drop the blocks translated
   * from those bytes (in the page, or going on into it from the page before), as QEMU invalidates
   * the translations of a written range. Blocks elsewhere in the page stay: Linux patches single
   * call sites (text_poke, static keys) at boot, and ~40% of the blocks its page-wide drops threw
   * away were translated again. Returns CODE_WRITE_* bits (CPU.onCodeWrite).
   */
  private codeWritten(page: number, from: number, to: number): number {
    const inPage = this.blocks.get(page);
    const crossing = this.crossBlocks.get(page);
    if (inPage === undefined && crossing === undefined) return 0;
    let dropped = 0;
    if (crossing !== undefined) {
      const kept: Block[] = [];
      for (const b of crossing) {
        if (b.eip === -1 || b.cross >>> 12 !== page) continue;
        // Its bytes in this page are [0, codeHi - 0x1000).
        if (from < b.codeHi - 0x1000) {
          this.dropBlock(b, false);
          dropped++;
        } else kept.push(b);
      }
      if (kept.length > 0) this.crossBlocks.set(page, kept);
      else this.crossBlocks.delete(page);
    }
    if (inPage !== undefined) {
      for (const [key, b] of inPage)
        if (to > b.codeLo && from < b.codeHi) {
          this.forgetBlock(b);
          inPage.delete(key);
          this.blockCount--;
          dropped++;
        }
      if (inPage.size === 0) this.blocks.delete(page);
    }
    const aliases = this.aliases.get(page);
    if (aliases !== undefined) {
      const kept = aliases.filter((b) => {
        if (b.eip === -1) return false;
        if (to > b.codeLo && from < b.codeHi) {
          this.forgetBlock(b);
          this.blockCount--;
          dropped++;
          return false;
        }
        return true;
      });
      if (kept.length > 0) this.aliases.set(page, kept);
      else this.aliases.delete(page);
    }
    if (dropped > 0) {
      this.stats.invalidatedPages++;
      this.stats.invalidatedBlocks += dropped;
    } else this.stats.codeWritesKept++;
    return (
      (dropped > 0 ? CODE_WRITE_DROPPED : 0) |
      (this.blocks.has(page) || this.crossBlocks.has(page) || this.aliases.has(page) ? CODE_WRITE_KEPT : 0)
    );
  }

  /** Drop one block: out of the jump cache and the table, and out of its page's map. */
  private dropBlock(b: Block, invalidated = true): void {
    if (invalidated) this.stats.invalidatedBlocks++;
    // Translated again only once hot again, as a block never seen.
    if (b.eip !== -1) this.coldHeat[coldIndex(b.eip)] = 0;
    const inPage = this.blocks.get(b.page);
    if (inPage?.get(b.key) === b) {
      inPage.delete(b.key);
      this.blockCount--;
    } else if (b.eip !== -1) this.blockCount--; // an alias (see lookup()), left in its list as dropped
    this.forgetBlock(b);
  }

  private forgetBlock(b: Block): void {
    // Jump-cache entries may still point at the block: make them fail validation.
    // A block not compiled has slot -1, the value of an interpreter-only entry (JC_SLOT_INTERP).
    if (b.eip === -1) return;
    if (b.winId !== 0) {
      this.windowed.delete(b.winId);
      b.winId = 0;
    }
    const set = this.jcIndex(b.eip);
    for (let j = set; j < set + JC_WAYS * JC_WORDS; j += JC_WORDS)
      if (this.jc[j + (JC_EIP >> 2)] === b.eip && this.jc[j + (JC_CPLSLOT >> 2)] >> 2 === b.slot)
        this.jc[j + (JC_EIP >> 2)] = b.eip ^ JC_EIP_FLIP;
    if (b.slot >= 0) {
      this.loopCandidates.delete(b.slot);
      this.table.set(b.slot, null);
      this.freeSlots.push(b.slot);
      b.slot = -1;
    }
    b.eip = -1;
  }

  /**
   * `b`, compiled or queued at its EIP, leaves its page's map for a translation of the same bytes at
   * another EIP: it stays reachable through the jump cache, so it joins the page's aliases, which code
   * writes drop as well; beyond ALIAS_MAX the oldest goes.
   */
  private keepAlias(b: Block): void {
    let list = this.aliases.get(b.page);
    if (list === undefined) {
      list = [];
      this.aliases.set(b.page, list);
    } else if (list.length >= ALIAS_MAX) {
      list = list.filter((a) => a.eip !== -1);
      while (list.length >= ALIAS_MAX) {
        const old = list.shift() as Block;
        // Cold again: translated at that EIP again only once it is as hot as relocated code must be.
        this.coldHeat[coldIndex(old.eip)] = 0;
        this.forgetBlock(old);
        this.blockCount--;
      }
      this.aliases.set(b.page, list);
    }
    list.push(b);
  }

  /**
   * A two-page block was entered with its second page's TLB entry not as translated: fill the entry
   * (a fault is not raised here: the block may never fetch there) and let it run if it maps the same
   * page with the same rights; else drop it, to be translated again within its first page.
   */
  private crossMiss(eip: number): number {
    const c = this.c;
    const page = (c.tlb[eip >>> 12] & ~0xfff) >>> 12; // checked by the dispatcher
    const key = blockKey(eip, c.tlb[eip >>> 12], c.r[R_CPL]);
    let b = this.blocks.get(page)?.get(key);
    // The same bytes translated at another EIP since: the running block is an alias.
    if (b !== undefined && b.eip !== eip)
      b = this.aliases.get(page)?.find((a) => a.eip === eip && a.key === key);
    if (b === undefined || b.cross === -1) return 1; // not reached: the prologue is b's
    if (this.nextPageTlb(eip) === b.cross) return 1;
    this.noCross.add(crossId(b));
    this.dropBlock(b);
    return 0;
  }

  flush(): void {
    this.clearJumpCache();
    this.coldHeat.fill(0);
    this.freeSlots.length = 0;
    this.nextSlot = 0;
    for (const b of this.pending) b.eip = -1;
    for (const { blocks } of this.inflight.values()) for (const b of blocks) b.eip = -1;
    this.inflight.clear();
    // The modules compiled so far can all go now: none of them shares a helper table with the next.
    this.helperImports = null;
    this.blocks.clear();
    this.crossBlocks.clear();
    this.aliases.clear();
    this.loopCandidates.clear();
    this.noCross.clear();
    this.noWindows.clear();
    this.windowed.clear();
    this.blockCount = 0;
    this.stats.flushes++;
  }

  /** QEMU's kqemu_is_ok(): may compiled code run in the current CPU state? */
  isOk(): boolean {
    return this.c.r[R_INHIBIT_IRQ] === 0 && this.modeOk();
  }

  /** isOk() but for the interrupt shadow (which compiled code handles itself: see eventsAfterStep()). */
  private modeOk(): boolean {
    const c = this.c;
    const r = c.r;
    if ((r[R_CR0] & 1) === 0) return false;
    const fl = r[R_EFLAGS];
    if ((fl & (EFLAGS_VM | EFLAGS_TF)) !== 0) return false;
    if (this.mode === "user" && r[R_CPL] !== 3) return false;
    if (c.codeMode !== 1 || r[R_SEGBASE + CS] !== 0) return false;
    return c.segFlat[DS] === 1 && c.segFlat[ES] === 1 && c.segFlat[SS] === 1 && c.ss32;
  }

  /**
   * Run up to `budget` guest instructions, compiled where possible. Same contract as CPU.run():
   * returns an EXIT_* code and sets c.lastRun.
   */
  run(budget: number): number {
    const c = this.c;
    const r = c.r;
    const stats = this.stats;
    let n = 0;
    if (this.inflight.size > 0) this.installCompiled();
    if (
      this.pending.length > 0 &&
      (this.pending.length >= BATCH_MIN ||
        this.pendingHits >= PENDING_HITS_MAX ||
        performance.now() - this.pendingSince >= BATCH_WAIT_MS)
    )
      this.compilePending();
    while (n < budget) {
      // Instructions to hand to the interpreter this turn, and whether to stop at a branch.
      let interp = 0;
      let toBranch = false;
      if (c.events !== 0 || c.halted) {
        // Events and halts go through one interpreter step.
        interp = 1;
      } else if (!this.isOk()) {
        // A state compiled code may not run in (kernel code in normal mode, real/v8086 mode,
        // non-flat segments) gets a longer stretch.
        stats.exitsNotOk++;
        // In normal mode it stops as soon as the kernel returns to user code (IRET, SYSEXIT), so
        // user code after a system call or an interrupt runs compiled at once; nothing else makes
        // kernel code compilable there, so the kernel runs on for the rest of the budget.
        c.yieldAtUser = this.mode === "user";
        interp = c.yieldAtUser && r[R_CPL] !== 3 ? budget - n : Math.min(INTERP_STRETCH, budget - n);
      } else {
        // Chained compiled blocks, as long as the jump cache knows where to go next.
        let k = 0;
        let faulted = false;
        r[R_KQ_DONE] = 0;
        r[R_EVENTS] = 0; // c.events is 0 here
        const helped = stats.insnsHelped;
        try {
          k = this.dispatch(budget - n);
          if (this.stepFaulted) {
            // A fault in an instruction the interpreter ran for the blocks (stepForBlock()):
            // counted as one thrown through the dispatcher is, below.
            this.stepFaulted = false;
            k = r[R_KQ_DONE] + (this.translator.exactCount ? r[R_KQ_INBLOCK] + 1 : 0);
            faulted = true;
          }
        } catch (err) {
          if (err !== FAULT) throw err;
          // The blocks before the faulting one completed; with exactCount also the instructions of
          // this one before the fault, and the faulting one, which the interpreter counts as well
          // (CPU.run() counts an instruction when it starts).
          k = r[R_KQ_DONE] + (this.translator.exactCount ? r[R_KQ_INBLOCK] + 1 : 0);
          faulted = true;
        }
        r[R_KQ_DONE] = 0;
        n += k;
        stats.insnsCompiled += k;
        stats.dispatches += r[R_KQ_DISPATCHES];
        r[R_KQ_DISPATCHES] = 0;
        stats.exitsSlow += r[R_KQ_SLOWEXITS];
        r[R_KQ_SLOWEXITS] = 0;
        // A window checked past a block's first instruction failed (at its first: stepForBlock()).
        this.windowFailed();
        // CPU.step() already counted the instructions it ran for the blocks.
        c.icount += k - (stats.insnsHelped - helped);
        if (faulted) {
          const ex = this.fault();
          if (ex >= 0) {
            c.lastRun = n;
            return ex;
          }
          continue;
        }
        // The dispatcher stopped: the budget, an event (R_EVENTS: c.events but the interrupt
        // shadow, or KQ_NOT_OK) or a miss; it steps an instruction no block starts with (MOV to
        // CR3, IRET, WRMSR, INT...) itself, so the code after it runs compiled once hot. Blocks ran
        // and then an event or the budget stopped them: the loop takes it from there, with no
        // second dispatch only to miss again (~40% of the boot's dispatcher calls did).
        if (n >= budget && this.loopCandidates.size > 0) this.longLoop(r[R_EIP]);
        if (k > 0 && (n >= budget || c.events !== 0 || r[R_EVENTS] !== 0)) continue;
        // A miss: counted without the block maps while cold (~430 K misses per boot, most of them
        // on code on its way to the threshold); else now in the jump cache when lookup() finds a
        // compiled block, or compiled now.
        // Modules compiled elsewhere come in here too (a miss may be a block that just arrived).
        if (this.inflight.size > 0) this.installCompiled();
        const eip = r[R_EIP];
        if (!this.stillCold(eip, MISS_HEAT) && this.lookup(eip)) continue;
        // Cold or untranslatable code, or a fetch fault to raise: the interpreter runs it and goes
        // on until a control transfer reaches a compiled block (see INTERP_COLD).
        interp = Math.min(INTERP_COLD, budget - n);
        toBranch = true;
        // An INT or SYSENTER here enters the kernel, which this stretch then runs (atBranch() does
        // not stop it there) until it returns to user code, in one turn instead of two.
        c.yieldAtUser = this.mode === "user";
      }
      c.stopAtBranch = toBranch;
      const ex = c.run(interp);
      this.endRun();
      c.stopAtBranch = false;
      c.yieldAtUser = false;
      n += c.lastRun;
      stats.insnsInterpreted += c.lastRun;
      if (ex !== EXIT_BUDGET) {
        c.lastRun = n;
        return ex;
      }
    }
    c.lastRun = n;
    return EXIT_BUDGET;
  }

  /**
   * Whether a compiled block runs at `eip` (CS base is 0 when isOk()) and is in the jump cache now,
   * translating it if it is not (callers ask once the code is hot: see stillCold()); false when the
   * interpreter must take the next instruction (fetch fault pending, block waiting for its batch,
   * untranslatable code).
   */
  private lookup(eip: number): boolean {
    const c = this.c;
    const r = c.r;
    const cpl = r[R_CPL];
    let e = c.tlb[eip >>> 12];
    if ((e & (c.rNeed | TLB_IO)) !== c.rNeed) {
      // Walk the page tables for the fetch; a fault is left for the interpreter to raise.
      try {
        e = c.tlbLookup(eip, false, cpl === 3);
      } catch (err) {
        if (err !== FAULT) throw err;
        return false;
      }
      if ((e & (c.rNeed | TLB_IO)) !== c.rNeed) return false;
      // The first fetch from a page since a CR3 write: its jump-cache entry, which only wanted this
      // TLB entry, is valid again without the block maps (~4,500 of fork+exec ×100's ~51,000
      // misses per steady run).
      if (this.jcSlot(eip) >= 0) {
        this.stats.jcRefills++;
        return true;
      }
    }
    this.stats.lookups++;
    const phys = (e & ~0xfff) | (eip & 0xfff);
    const page = phys >>> 12;
    let inPage = this.blocks.get(page);
    if (inPage === undefined) {
      inPage = new Map();
      this.blocks.set(page, inPage);
      // The page now holds code we depend on: writes to it must invalidate.
      if (page < c.codePage.length) c.markCodePage(page);
    }
    const key = blockKey(eip, e, cpl);
    let b = inPage.get(key);
    if (b !== undefined && b.eip !== eip && b.slot >= 0) {
      // Code compiled at another EIP (EIPs are baked into the wasm) now runs at this one: each
      // process's vDSO, at an address of its own, got its __kernel_vsyscall compiled anew in every
      // short-lived child that made a few dozen system calls (~1 compile per fork+exec). Such code
      // is translated here only once its heat (per EIP, in the cold-heat table past the threshold)
      // reaches 1 + relocHeat times the threshold.
      const h = coldIndex(eip);
      const heat = Math.min(Math.max(this.coldHeat[h], this.threshold) + 1, 0xfffe);
      if (heat < (1 + this.relocHeat) * this.threshold) {
        this.coldHeat[h] = heat;
        return false;
      }
      this.stats.relocations++;
    }
    if (b === undefined || b.eip !== eip) {
      if (this.blockCount >= MAX_BLOCKS) {
        this.flush();
        // The page's map went with the rest.
        inPage = new Map();
        this.blocks.set(page, inPage);
        if (page < c.codePage.length) c.markCodePage(page);
      } else if (b !== undefined && b.eip !== -1) this.keepAlias(b);
      b = {
        slot: -1,
        eip,
        heat: 0,
        page,
        key,
        cross: -1,
        winId: 0,
        winFails: 0,
        codeLo: 0,
        codeHi: 0x1000,
      };
      inPage.set(key, b);
      this.blockCount++;
    }
    if (b.slot < 0) {
      if (b.heat >= 0) this.compile(b, eip, eip);
      if (b.slot < 0) {
        // Waiting for its batch, or untranslatable (heat -1).
        if (b.heat === HEAT_PENDING) this.pendingHits++;
        else if (b.heat === -1) this.setJc(eip, e, JC_SLOT_INTERP);
        return false;
      }
    }
    this.setJc(eip, e, b.slot);
    return true;
  }

  /**
   * Whether a block starts at `lin` (EIP `eip`), compiled or waiting for its batch, while the guest
   * boots (no user code translated yet): the translator then ends a block there (Translator.blockAt).
   */
  private blockAt(lin: number, eip: number): boolean {
    if (!this.booting) return false;
    // Not with paging off: the kernel's decompressor (a third of the bench guest's boot) runs its
    // LZMA loops in ~120 blocks, where duplicated code costs nothing and each stop costs a
    // dispatch: 64.5 M dispatches -> 50.3 M, the phase up to paging 2.13-2.73 s instead of
    // 2.27-2.91 s (8 of 8 alternating pairs), the boot to /init shorter in 7 of 8.
    if ((this.c.r[R_CR0] & CR0_PG) === 0) return false;
    const c = this.c;
    const e = c.tlb[lin >>> 12];
    if ((e & (c.rNeed | TLB_IO)) !== c.rNeed) return false;
    const inPage = this.blocks.get(((e & ~0xfff) | (lin & 0xfff)) >>> 12);
    if (inPage === undefined) return false;
    const b = inPage.get(blockKey(eip, e, c.r[R_CPL]));
    return (
      b !== undefined && b.eip === eip && (b.slot >= 0 || b.heat === HEAT_PENDING || b.heat === HEAT_INFLIGHT)
    );
  }

  /** Jump-cache entry for `eip` (TLB entry `e` of its page, current CPL). */
  private setJc(eip: number, e: number, slot: number): void {
    const j = this.jcIndex(eip);
    const jc = this.jc;
    // Most recent first: the set's first entry moves second, unless it is this EIP's (replaced).
    if (jc[j + (JC_EIP >> 2)] !== eip) jc.copyWithin(j + JC_WORDS, j, j + JC_WORDS);
    jc[j + (JC_EIP >> 2)] = eip;
    // An unpaged block's entry holds TLB_UNPAGED too: valid only through an unpaged TLB entry.
    jc[j + (JC_PAGE >> 2)] = (e & (~0xfff | TLB_UNPAGED)) | this.c.rNeed;
    jc[j + (JC_CPLSLOT >> 2)] = (slot << 2) | this.c.r[R_CPL];
  }

  /**
   * Asked by the interpreter at each control transfer in cold code: stop there when compiled code
   * may run and a compiled block starts at `eip`. Most targets are cold and stay cold (code run a
   * few times, such as a program's start-up at each exec): they are counted in a small hashed
   * table first, and only targets that got hot there go through lookup(), with its maps.
   */
  private atBranch(eip: number): boolean {
    this.endRun();
    // The kernel in normal mode (after an INT from cold user code): go on interpreting; the return
    // to CPL 3 ends the stretch (yieldAtUser).
    if (this.mode === "user" && this.c.r[R_CPL] !== 3) return false;
    // A compiled block: stop (run() checks isOk() before dispatching, so the full test of the
    // state waits for the rare stop, instead of running at every branch of cold code).
    const slot = this.jcSlot(eip);
    if (slot >= 0) return true;
    if (slot === JC_SLOT_INTERP) return false;
    if (this.stillCold(eip)) return false;
    // Only translate in a state compiled code may run in (the decode mode, flat segments...).
    return this.isOk() && this.lookup(eip);
  }

  /**
   * Count one more execution of the code at `eip` in the hashed cold-heat table (`visit`: 1, or
   * MISS_HEAT from the dispatcher's misses; long runs add their bonus when they end: endRun(),
   * which both callers have run before): true while it stays below the threshold. A target
   * counted hot (or compiled once: compile() saturates its counter) goes through lookup(), with
   * its block maps, from then on.
   */
  private stillCold(eip: number, visit = 1): boolean {
    const h = coldIndex(eip);
    const heat = this.coldHeat[h] + visit;
    if (heat < this.threshold && heat < 0xffff) {
      this.coldHeat[h] = heat;
      this.runHeat = h;
      this.runStart = this.c.icount;
      return true;
    }
    return false;
  }

  /** The interpreter left the run of a cold target (a taken branch, its stretch's end): its bonus (LONG_RUN). */
  private endRun(): void {
    const h = this.runHeat;
    if (h < 0) return;
    this.runHeat = -1;
    const bonus = Math.floor((this.c.icount - this.runStart) / LONG_RUN);
    const heat = this.coldHeat[h];
    // 0xffff marks code compiled since (see compile()).
    if (bonus > 0 && heat < 0xffff) this.coldHeat[h] = Math.min(heat + bonus, 0xfffe);
  }

  /** The slot (or JC_SLOT_INTERP) of the jump-cache entry valid now for `eip`; -2 when none is. */
  private jcSlot(eip: number): number {
    const c = this.c;
    const jc = this.jc;
    const set = this.jcIndex(eip);
    for (let j = set; j < set + JC_WAYS * JC_WORDS; j += JC_WORDS) {
      if (jc[j + (JC_EIP >> 2)] !== eip) continue;
      const page = jc[j + (JC_PAGE >> 2)];
      const cs = jc[j + (JC_CPLSLOT >> 2)];
      if ((c.tlb[eip >>> 12] & (page | ~0xfff | TLB_IO)) === page && (cs & 3) === c.r[R_CPL]) return cs >> 2;
    }
    return -2;
  }

  /** Index in this.jc of the first entry of the set for `eip`. */
  private jcIndex(eip: number): number {
    return (Math.imul(eip, JC_HASH) >>> (32 - JC_SET_BITS)) * (JC_WAYS * JC_WORDS);
  }

  private clearJumpCache(): void {
    // An eip that does not hash to its set: 2^31 (hashing to set 2^(JC_SET_BITS-1)) or, there, 0.
    const jc = this.jc;
    const middle = (1 << (JC_SET_BITS - 1)) * JC_WAYS * JC_WORDS;
    for (let j = 0; j < jc.length; j += JC_WORDS)
      jc[j + (JC_EIP >> 2)] = j >= middle && j < middle + JC_WAYS * JC_WORDS ? 0 : JC_EIP_FLIP;
  }

  /**
   * The dispatcher, in wasm: while no event is pending and the budget lasts, find the block for EIP
   * in the jump cache (validated against CPL and the current TLB entry, as a lookup would) and call
   * it through the table. Returns the instructions run; 0 when the first lookup already misses.
   *
   * Chaining blocks past it was built and measured (2026-12-07): each exit to a constant EIP
   * (92% of the decompressor's exits, 73% of the paged boot's, 57-65% of getpid's and fork+exec's)
   * checked the events, the budget, CPL and the target page's TLB entry against constants, then
   * tail-called (return_call_indirect) the block through its module's own table, which the engine
   * filled in as targets got compiled (a module may not import the big table: V8 copies it into
   * every instance, 1.9 ms each at 20,000 entries, and updates every importer at each set, 43 us
   * with 500). Dispatcher calls fell 50.3 M -> 4.2 M in the decompressor and 92 M -> 16 M to /init,
   * and a synthetic ring of blocks went 5.2-6.6 -> 4.1 ns per transition, but the decompressor
   * phase was level (chaining unpaged blocks only, 10 alternating pairs: medians 2.35 vs 2.33 s)
   * and with every block chained the boot was slower (6 of 6 pairs; 0.4-1.5 s more CPU in V8's
   * compile threads for the bigger exits). Chaining only within a
   * module (direct return_call) would have reached 11-33% of the transitions.
   */
  private buildDispatcher(): DispatchFn {
    const f = new FuncBuilder(1);
    const BUDGET = 0;
    const N = f.local();
    const EIP = f.local();
    const ENT = f.local();
    const E = f.local();
    const SLOT = f.local();
    const D = f.local();
    const T = f.local();
    const SLOW = f.local();
    const JC = KQ_JC_BYTE_OFFSET;
    f.const(0)
      .get(BUDGET)
      .mem(W.OP_I32_STORE, R_KQ_BUDGET * 4, 2);
    f.block();
    f.loop();
    f.const(0)
      .mem(W.OP_I32_LOAD, R_EVENTS * 4, 2)
      .brIf(1);
    f.get(N).get(BUDGET).op(W.OP_I32_GE_S).brIf(1);
    f.const(0)
      .mem(W.OP_I32_LOAD, R_EIP * 4, 2)
      .tee(EIP);
    f.const(JC_HASH)
      .op(W.OP_I32_MUL)
      .const(32 - JC_SET_BITS)
      .op(W.OP_I32_SHR_U);
    f.const(Math.log2(JC_WAYS * JC_WORDS * 4))
      .op(W.OP_I32_SHL)
      .set(ENT);
    // The set's first entry, else its second (the rest of the check is on the one chosen).
    f.get(ENT)
      .mem(W.OP_I32_LOAD, JC + JC_EIP, 2)
      .get(EIP)
      .op(W.OP_I32_NE)
      .if_();
    f.get(ENT)
      .const(JC_WORDS * 4)
      .op(W.OP_I32_ADD)
      .tee(ENT)
      .mem(W.OP_I32_LOAD, JC + JC_EIP, 2)
      .get(EIP)
      .op(W.OP_I32_NE)
      .brIf(2);
    f.op(W.OP_END);
    // The TLB entry maps the page the block was found in, with the rights its fetch needs.
    f.get(EIP).const(12).op(W.OP_I32_SHR_U).const(2).op(W.OP_I32_SHL).mem(W.OP_I32_LOAD, TLB_BYTE_OFFSET, 2);
    f.get(ENT)
      .mem(W.OP_I32_LOAD, JC + JC_PAGE, 2)
      .tee(E)
      .const(~0xfff | TLB_IO)
      .op(W.OP_I32_OR)
      .op(W.OP_I32_AND)
      .get(E)
      .op(W.OP_I32_NE)
      .brIf(1);
    // The CPL it was translated for.
    f.get(ENT)
      .mem(W.OP_I32_LOAD, JC + JC_CPLSLOT, 2)
      .tee(SLOT)
      .const(0)
      .mem(W.OP_I32_LOAD, R_CPL * 4, 2)
      .op(W.OP_I32_XOR)
      .const(3)
      .op(W.OP_I32_AND)
      .brIf(1);
    // The interpreter runs the instruction at EIP for the dispatcher: as before each block, the
    // count a fault there starts from (see run()); then one more.
    const stepHere = (): void => {
      f.const(0)
        .get(N)
        .mem(W.OP_I32_STORE, R_KQ_DONE * 4, 2);
      f.const(0)
        .const(0)
        .mem(W.OP_I32_STORE, R_KQ_INBLOCK * 4, 2);
      f.call(0);
      f.get(N).const(1).op(W.OP_I32_ADD).set(N);
    };
    // JC_SLOT_INTERP (negative): an instruction no block starts with (IRET, MOV to CR3, WRMSR...)
    // is stepped here, as a slow path at a block's first instruction is, and the dispatcher goes on
    // (each of a boot's ~55 K such instructions used to cost a run-loop turn); an event or a state
    // compiled code may not run in (KQ_NOT_OK) stops it at the loop's head.
    f.get(SLOT).const(0).op(W.OP_I32_LT_S).if_();
    stepHere();
    f.br(1);
    f.op(W.OP_END);
    f.get(SLOT).const(2).op(W.OP_I32_SHR_U).set(SLOT);
    f.const(0)
      .get(N)
      .mem(W.OP_I32_STORE, R_KQ_DONE * 4, 2);
    f.get(D).const(1).op(W.OP_I32_ADD).set(D);
    f.get(SLOT).op(W.OP_CALL_INDIRECT).op(0).op(0).tee(T);
    f.const(0).op(W.OP_I32_LT_S).if_();
    // The block ended at a slow path of its first instruction's memory access (~T instructions of
    // earlier loop iterations completed): the interpreter runs that instruction, counted here.
    f.get(N).get(T).const(-1).op(W.OP_I32_XOR).op(W.OP_I32_ADD).set(N);
    f.get(SLOW).const(1).op(W.OP_I32_ADD).set(SLOW);
    stepHere();
    f.op(W.OP_ELSE);
    // A slow-path exit past the block's first instruction: SLOW_EXIT_BIT set in its count.
    f.get(SLOW).get(T).const(Math.log2(SLOW_EXIT_BIT)).op(W.OP_I32_SHR_U).op(W.OP_I32_ADD).set(SLOW);
    f.get(N)
      .get(T)
      .const(SLOW_EXIT_BIT - 1)
      .op(W.OP_I32_AND)
      .op(W.OP_I32_ADD)
      .set(N);
    f.op(W.OP_END);
    f.br(0);
    f.op(W.OP_END);
    f.op(W.OP_END);
    f.const(0)
      .get(D)
      .mem(W.OP_I32_STORE, R_KQ_DISPATCHES * 4, 2);
    f.const(0)
      .get(SLOW)
      .mem(W.OP_I32_STORE, R_KQ_SLOWEXITS * 4, 2);
    f.get(N);
    const bytes = buildModule([STEP_IMPORT], [f], this.c.mem.memory.buffer.byteLength / 65536, true, [
      "kqemu_dispatch",
    ]);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
      env: { mem: this.c.mem.memory, tbl: this.table, step: () => this.stepForBlock() },
    });
    return inst.exports.f0 as DispatchFn;
  }

  /**
   * Run the instruction at EIP in the interpreter for compiled code (the interpreter helper, and the
   * dispatcher after a block's slow-path exit at its first instruction). Returns the pending events.
   */
  private stepForBlock(): number {
    const c = this.c;
    this.windowFailed();
    try {
      c.step();
    } catch (err) {
      if (err !== FAULT) throw err;
      // Caught here, not unwound through the block's and the dispatcher's wasm frames (~2-3 us
      // each in V8: fork+exec's page faults, ~1,300-1,600 per 100 runs): the block ends after the
      // helper and the dispatcher at the event, and run() delivers the fault (stepFaulted).
      this.stepFaulted = true;
      c.r[R_EVENTS] = KQ_NOT_OK;
      return KQ_NOT_OK;
    }
    this.stats.insnsHelped++;
    return this.eventsAfterStep();
  }

  /**
   * After an instruction run for compiled code: the events it left pending, for the dispatcher
   * (R_EVENTS). An STI, MOV SS or POP SS that set the interrupt shadow (CPU.step() leaves the event
   * pass to run()): the shadow now covers the next instruction, as run()'s pass after the
   * instruction would have noted (R_INHIBIT_IRQ 2). An instruction that left a state compiled code
   * may not run in (a DS, ES or SS that is not flat, a change of CPL in normal mode...) counts as an
   * event too (KQ_NOT_OK): the block ends after it and the dispatcher stops, so the run loop's
   * isOk() sees the state before any block runs again.
   */
  private eventsAfterStep(): number {
    const c = this.c;
    const r = c.r;
    if ((c.events & EV_INHIBIT) !== 0 && r[R_INHIBIT_IRQ] === 1) r[R_INHIBIT_IRQ] = 2;
    let ev = c.events & ~EV_INHIBIT;
    if (ev === 0 && !this.modeOk()) ev = KQ_NOT_OK;
    r[R_EVENTS] = ev;
    return ev;
  }

  /**
   * When a block reported a failed frame-window check (R_KQ_WINFAIL: a TLB miss, a frame straddling
   * two pages...): count it; after WIN_FAILS_MAX failures the block is dropped, to be translated
   * again without windows.
   */
  private windowFailed(): void {
    const r = this.c.r;
    const id = r[R_KQ_WINFAIL];
    if (id === 0) return;
    r[R_KQ_WINFAIL] = 0;
    this.stats.windowFails++;
    // Forgotten blocks leave the map (forgetBlock()).
    const b = this.windowed.get(id);
    if (b === undefined || ++b.winFails < WIN_FAILS_MAX) return;
    this.stats.windowDrops++;
    this.noWindows.add(crossId(b));
    this.dropBlock(b, false);
  }

  /** A guest fault raised inside compiled code: deliver it like the interpreter. Returns an exit code or -1. */
  private fault(): number {
    const c = this.c;
    this.stats.exitsFault++;
    c.r[R_EIP] = c.eipStart;
    if (c.trapExceptions) return EXIT_EXCEPTION;
    if (!c.deliverException()) return EXIT_SHUTDOWN;
    return -1;
  }

  /**
   * The TLB entry (physical page | rights) of the page after `lin`'s, which a block starting at
   * `lin` may go on into; -1 when it may not (not mapped for this CPL, I/O, the block was dropped
   * before for a remapping, or 2 GiB or 4 GiB ends there).
   */
  private crossTlbFor(b: Block, lin: number): number {
    // Not across 2 GiB (the translator compares EIPs as int32) or the end of the address space.
    if ((lin >>> 12) % 0x80000 === 0x7ffff || this.noCross.has(crossId(b))) return -1;
    return this.nextPageTlb(lin);
  }

  /**
   * Physical page | read rights of the page after `lin`'s as code fetched now would see it (the
   * TLB entry, else a walk that raises nothing), or -1 when it is not readable or is I/O.
   */
  private nextPageTlb(lin: number): number {
    const c = this.c;
    const lin2 = ((lin >>> 12) + 1) << 12;
    const need = c.rNeed;
    let e = c.tlb[lin2 >>> 12];
    if ((e & (need | TLB_IO)) !== need) e = c.tlbProbe(lin2, c.r[R_CPL] === 3);
    return (e & (need | TLB_IO)) === need ? (e & ~0xfff) | need : -1;
  }

  /**
   * The dispatcher stopped for its budget at `eip`: when a user loop compiled in baseline code
   * starts there (a loop stops at its head, between iterations), count the stop; at
   * LONG_LOOP_EXITS it is compiled again with compileHot and its table slot takes the new code (the
   * jump cache, which holds the slot, stays valid). Measured at /init of the bench guest: 35-39 loops
   * compiled optimized at once took 90-97 ms of the boot's last half second.
   */
  private longLoop(eip: number): void {
    const slot = this.jcSlot(eip);
    const cand = slot >= 0 ? this.loopCandidates.get(slot) : undefined;
    if (cand === undefined || ++cand.stops < LONG_LOOP_EXITS || this.compileHot === null) return;
    this.loopCandidates.delete(slot);
    const t0 = performance.now();
    // Other bytes than the baseline module's: V8 hands back its cached module for the same bytes.
    const inst = new WebAssembly.Instance(
      this.compileHot(withCustomSection(cand.bytes)),
      this.blockImports(),
    );
    this.table.set(slot, inst.exports.f0 as BlockFn);
    this.stats.hotLoops++;
    const ms = performance.now() - t0;
    this.stats.compileMs += ms;
    this.onHostWork?.(ms);
  }

  /** Translate a hot block; its wasm is compiled with the next batch. */
  private compile(b: Block, lin: number, eip: number): void {
    // Misses on it go to lookup() from now on (see stillCold()).
    this.coldHeat[coldIndex(eip)] = 0xffff;
    if (this.booting && this.c.r[R_CPL] === 3) {
      // The first block of user code: the boot is over.
      this.booting = false;
      const first = this.onFirstUserBlock;
      this.onFirstUserBlock = null;
      first?.();
    }
    const t0 = performance.now();
    const cross = this.crossTlbFor(b, lin);
    const id = this.nextWinId;
    const unpaged = (b.key & KEY_UNPAGED) !== 0;
    const tb = this.translator.translate(lin, eip, cross, id, !this.noWindows.has(crossId(b)), unpaged);
    this.stats.compileMs += performance.now() - t0;
    if (tb === null) {
      b.heat = -1;
      this.stats.rejected++;
      return;
    }
    this.stats.blocksTranslated++;
    this.stats.insnsTranslated += tb.count;
    b.codeLo = tb.codeLo;
    b.codeHi = tb.codeHi;
    if (tb.windows > 0) {
      this.nextWinId = (id % 0x3fffffff) + 1;
      b.winId = id;
      b.winFails = 0;
      this.windowed.set(id, b);
      this.stats.windows += tb.windows;
    }
    if (unpaged) this.stats.unpagedBlocks++;
    if (tb.crossed) {
      // Writes to the second page drop the block too.
      b.cross = cross;
      const page2 = cross >>> 12;
      let list = this.crossBlocks.get(page2) ?? [];
      // Blocks dropped through their first page linger here: pruned now and then.
      if (list.length >= 64) list = list.filter((x) => x.eip !== -1 && x.cross >>> 12 === page2);
      list.push(b);
      this.crossBlocks.set(page2, list);
      if (page2 < this.c.codePage.length) this.c.markCodePage(page2);
      this.stats.crossBlocks++;
    }
    this.stats.memoAccesses += tb.memoAccesses;
    this.stats.sideTraces += tb.traces;
    this.stats.runOnTraces += tb.runOnTraces;
    this.stats.loopHeadEnds += tb.loopHeadEnds;
    b.heat = HEAT_PENDING;
    if (tb.loops && !this.booting && this.compileHot !== null && this.c.r[R_CPL] === 3) {
      // Alone, at once, ahead of the blocks waiting in the batch, in baseline code; optimized (see
      // compileHot) once seen running long (longLoop()). Not the kernel's loops (copies, clears,
      // list walks: ~160 of them after the bench guest's boot, 3-4 ms of optimizing compile each),
      // which run briefly at each call: a user program's loop is where a long computation lives.
      const bytes = this.compileBlocks([b], [tb.func]);
      this.stats.loopsAlone++;
      if (b.slot >= 0) {
        const cands = this.loopCandidates;
        if (cands.size >= LONG_LOOP_CANDIDATES) cands.delete(cands.keys().next().value as number);
        // Its own copy: the module's buffer (maybe a larger recycled one) goes back to the pool.
        cands.set(b.slot, { bytes: bytes.slice(), stops: 0 });
      }
      recycleModuleBuffer(bytes.buffer);
    } else {
      if (this.pending.length === 0) this.pendingSince = performance.now();
      this.pending.push(b);
      this.pendingFuncs.push(tb.func);
    }
    // A block cut by its instruction limit falls through to the next one whenever it completes:
    // that one is as hot, so it is translated now (in the same page or the next one the block ran
    // into: its TLB entry is the one this block was fetched through) instead of being interpreted
    // until it gets hot on its own. Long straight-line code (the kernel's unrolled blake2s: ~1,400
    // instructions without a branch) compiles in one go.
    if (
      tb.fallEip !== -1 &&
      (((tb.fallEip ^ eip) & ~0xfff) === 0 || (tb.crossed && tb.fallEip >>> 12 === (eip >>> 12) + 1)) &&
      this.chainDepth < MAX_CHAIN
    ) {
      this.chainDepth++;
      this.lookup(tb.fallEip);
      this.chainDepth--;
    }
    // With a threshold of 1 (the differential tests) code runs compiled on first sight: no batching.
    if (this.pending.length >= BATCH_MAX || this.threshold <= 1) this.compilePending();
  }

  /**
   * Compile the translated blocks waiting in one module: V8's cost per module is far above its cost
   * per function, so batching divides the compile time per block several times over.
   */
  private compilePending(): void {
    const remote = this.remoteCompiler;
    if (remote !== null && this.threshold > 1) {
      const t0 = performance.now();
      const id = this.nextBatch++;
      const bytes = this.moduleBytes(this.pending, this.pendingFuncs);
      for (const b of this.pending) b.heat = HEAT_INFLIGHT;
      this.inflight.set(id, { blocks: this.pending.slice(), since: t0 });
      this.stats.wasmBytes += bytes.length;
      // The bytes go (the Node host transfers them: copying 40 KB through postMessage took ~0.12
      // ms a batch); a failed compile sends them back.
      remote.submit(id, bytes);
      this.stats.compileMs += performance.now() - t0;
    } else recycleModuleBuffer(this.compileBlocks(this.pending, this.pendingFuncs).buffer);
    this.pending.length = 0;
    this.pendingFuncs.length = 0;
    this.pendingHits = 0;
  }

  /** Compile `blocks` (their translations `funcs`) in one module here; its bytes are returned. */
  private compileBlocks(blocks: Block[], funcs: FuncBuilder[]): Uint8Array<ArrayBuffer> {
    const t0 = performance.now();
    const bytes = this.moduleBytes(blocks, funcs);
    this.install(blocks, new WebAssembly.Module(bytes), t0);
    this.stats.wasmBytes += bytes.length;
    return bytes;
  }

  /** The module of `blocks` (their translations `funcs`, released here). */
  private moduleBytes(blocks: Block[], funcs: FuncBuilder[]): Uint8Array<ArrayBuffer> {
    const bytes = buildBlockModule(
      funcs,
      this.c.mem.memory.buffer.byteLength / 65536,
      // Named for CPU profiles (a stale block's name no longer matters: it is left out below).
      blocks.map((b) => `eip_${(b.eip >>> 0).toString(16)}`),
    );
    for (const f of funcs) f.release();
    return bytes;
  }

  /** Instantiate a compiled module of `blocks` and give each block still wanted its table slot. */
  private install(blocks: Block[], module: WebAssembly.Module, t0: number): void {
    const inst = new WebAssembly.Instance(module, this.blockImports());
    const ex = inst.exports;
    const s = this.stats;
    for (let k = 0; k < blocks.length; k++) {
      const b = blocks[k];
      b.heat = -1;
      // A block whose page was written since its translation is stale: leave it out.
      if (b.eip === -1) continue;
      b.slot = this.allocSlot(ex[`f${k}`] as BlockFn);
      s.blocksCompiled++;
    }
    s.modules++;
    const ms = performance.now() - t0;
    s.compileMs += ms;
    this.onHostWork?.(ms);
  }

  /**
   * Compile here from now on. The batches still away are waited for (where the remote compiler can
   * wait: up to REMOTE_STOP_WAIT_MS, a batch takes a few ms); those that do not come back in time
   * are dropped, their blocks translated again once hot.
   */
  stopRemoteCompiler(): void {
    const remote = this.remoteCompiler;
    const until = performance.now() + REMOTE_STOP_WAIT_MS;
    while (remote !== null && this.inflight.size > 0) {
      this.installCompiled();
      const left = until - performance.now();
      if (this.inflight.size === 0 || remote.wait === undefined || left <= 0) break;
      remote.wait(left);
    }
    this.abandonRemote();
  }

  /** No remote compiler from now on: the batches still away are dropped (see dropBatch()). */
  private abandonRemote(): void {
    this.remoteCompiler = null;
    for (const batch of this.inflight.values()) this.dropBatch(batch.blocks);
    this.inflight.clear();
  }

  /** Install the modules the remote compiler has sent back (one it could not compile: here, now). */
  private installCompiled(): void {
    const remote = this.remoteCompiler;
    for (;;) {
      const done = remote?.poll() ?? null;
      if (done === null) break;
      const batch = this.inflight.get(done.id);
      if (done.spent !== undefined) recycleModuleBuffer(done.spent);
      if (batch === undefined) continue; // flushed since
      this.inflight.delete(done.id);
      if (done.module === null) {
        if (done.bytes !== undefined)
          this.install(batch.blocks, new WebAssembly.Module(done.bytes), performance.now());
        else this.dropBatch(batch.blocks);
      } else {
        this.install(batch.blocks, done.module, performance.now());
        this.stats.remoteModules++;
      }
    }
    // A batch that has not come back after REMOTE_WAIT_MS (a worker gone; the oldest is first: a
    // Map keeps its insertion order): the remote compiler is given up, the batches still away are
    // dropped and their blocks translated again once hot, here.
    const oldest = this.inflight.values().next().value;
    if (oldest !== undefined && performance.now() - oldest.since > REMOTE_WAIT_MS) this.abandonRemote();
  }

  /** Blocks of a batch that will not be compiled: out of the maps, cold again (translated anew once hot). */
  private dropBatch(blocks: Block[]): void {
    for (const b of blocks) {
      b.heat = -1;
      if (b.eip !== -1) this.dropBlock(b, false);
    }
  }

  /**
   * The helpers blocks call (call_indirect through a helper table, see blockImports()): one module
   * imports the JavaScript functions and exports a wasm function calling each, which fill the
   * helper tables' slots, so V8 makes the import wrappers once instead of for every module of blocks.
   */
  private installHelpers(): void {
    const funcs = IMPORTS.map((h, k) => {
      const f = new FuncBuilder(h.params, h.results);
      for (let p = 0; p < h.params; p++) f.get(p);
      return f.call(k);
    });
    const bytes = buildModule(IMPORTS, funcs, this.c.mem.memory.buffer.byteLength / 65536);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: this.imports });
    IMPORTS.forEach((_h, k) => {
      this.helperFns.push(inst.exports[`f${k}`]);
    });
  }

  /**
   * What a block module imports: the memory and the current helper table, a new one every
   * HELPER_TABLE_MODULES modules (see helperFns). Measured with a module per block (a hostdiff run
   * through the translator): with one table for all, Linux's limit of 65,530 memory mappings was
   * reached after ~50 K modules and V8 aborted ("Commit wasm code space Allocation failed"); a
   * long-running guest whose code keeps changing would have got there too. Importing the helpers
   * as functions instead frees every module at once, but V8 then compiles import wrappers for each
   * module: `new WebAssembly.Module` took 490 ms of a boot instead of 240-290 ms.
   */
  private blockImports(): WebAssembly.Imports {
    if (this.helperImports === null || this.helperTableUses >= HELPER_TABLE_MODULES) {
      const tbl = new WebAssembly.Table({ element: "anyfunc", initial: IMPORTS.length });
      this.helperFns.forEach((fn, k) => {
        tbl.set(k, fn);
      });
      this.helperImports = { env: { mem: this.c.mem.memory, tbl } };
      this.helperTableUses = 0;
    }
    this.helperTableUses++;
    return this.helperImports;
  }

  private allocSlot(fn: BlockFn): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.nextSlot++;
      if (slot >= this.table.length) this.table.grow(this.table.length);
    }
    this.table.set(slot, fn);
    return slot;
  }

  /** Lines for `info kqemu` under QEMU's first line. */
  infoLines(): string[] {
    const s = this.stats;
    const total = s.insnsCompiled + s.insnsInterpreted;
    const share = total > 0 ? ((100 * s.insnsCompiled) / total).toFixed(1) : "0.0";
    return [
      `compiled code: ${s.insnsCompiled} guest instructions (${share}%), interpreted: ${s.insnsInterpreted}`,
      `blocks compiled: ${s.blocksCompiled} in ${s.modules} modules (${s.remoteModules} compiled on a worker thread, ${s.loopsAlone} loops alone, ${s.hotLoops} of them optimized once seen running long), ${s.wasmBytes} bytes of wasm, ${s.compileMs.toFixed(1)} ms compiling, ${s.rejected} rejected, ${s.memoAccesses} accesses through page memos, ${s.windows} frame windows (${s.windowFails} failed checks, ${s.windowDrops} blocks translated again without), ${s.crossBlocks} blocks across two pages, ${s.unpagedBlocks} unpaged`,
      `loops: ${s.sideTraces} side traces (${s.runOnTraces} running on into their block's start), ${s.loopHeadEnds} blocks ended at a JMP to another loop's head`,
      `cache: ${this.blockCount} entries in ${this.blocks.size} pages (limit ${MAX_BLOCKS}), threshold ${this.threshold}, ${s.relocations} blocks translated again at another EIP`,
      `invalidations: ${s.invalidatedBlocks} blocks by ${s.invalidatedPages} code writes (${s.codeWritesKept} more left every block of their page), ${s.flushes} flushes`,
      `of those run by the interpreter from compiled code: ${s.insnsHelped}`,
      `exits: ${s.dispatches} dispatches, ${s.exitsSlow} memory slow paths (left to the run loop), ${s.exitsFault} faults in compiled code, ${s.exitsNotOk} turns in the interpreter (state not ok), ${s.lookups} block-map lookups (jump-cache misses on hot code; ${s.jcRefills} more only wanted a TLB entry)`,
      `most frequent untranslated: ${[...this.untranslated]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([k, v]) => `${(k >> 3).toString(16)}${k & 4 ? "/m" : ""}${k & 2 ? "/16" : ""}×${v}`)
        .join(" ")}`,
    ];
  }
}
