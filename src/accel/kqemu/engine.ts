// The kqemu engine: runs guest code compiled to WebAssembly when the CPU state allows it (QEMU's
// kqemu_is_ok(): protected mode, not v8086, no interrupt shadow, no single-step, flat segments, and
// CPL 3 unless in full virtualization mode), and the interpreter otherwise. Blocks are compiled
// once hot, cached by physical address and mode, and dropped when their page is written.
import { type CPU, EXIT_BUDGET, EXIT_EXCEPTION, EXIT_SHUTDOWN, FAULT } from '../../cpu/cpu.ts';
import {
  CS,
  DS,
  EFLAGS_TF,
  EFLAGS_VM,
  ES,
  R_CPL,
  R_CR0,
  R_EFLAGS,
  R_EIP,
  R_INHIBIT_IRQ,
  R_SEGBASE,
  SS,
  TLB_IO,
} from '../../cpu/state.ts';
import { IMPORTS, Translator } from './translate.ts';
import { buildModule } from './wasm-builder.ts';

export type KqemuMode = 'user' | 'full';

type BlockFn = () => number;

interface Block {
  fn: BlockFn | null;
  /** The EIP the block was translated for: EIPs are baked into the code, so an alias elsewhere differs. */
  eip: number;
  /** CPL the translation assumed (TLB permission checks are baked in). */
  cpl: number;
  /** Physical address of its page (<< 12), to validate a jump-cache hit against the current TLB entry. */
  physBase: number;
  /** Executions before compilation (negative once compiled or rejected). */
  heat: number;
  page: number;
}

/** Counters shown by `info kqemu`. */
export class KqemuStats {
  insnsCompiled = 0; // guest instructions executed in compiled code
  insnsInterpreted = 0;
  blocksCompiled = 0;
  modules = 0;
  wasmBytes = 0;
  compileMs = 0;
  rejected = 0;
  invalidatedBlocks = 0;
  invalidatedPages = 0;
  flushes = 0;
  exitsFault = 0;
  exitsNotOk = 0;
}

/** Executions of a block address before it is compiled. */
export const DEFAULT_THRESHOLD = 8;
/** Instructions the interpreter runs at a time while compiled code may not run (bounds the delay to notice CPL 3). */
const INTERP_STRETCH = 2048;
const JC_SIZE = 4096;
/** Blocks kept before the whole cache is flushed. */
const MAX_BLOCKS = 65536;

export class KqemuEngine {
  readonly stats = new KqemuStats();
  /** Instructions that ended blocks untranslated, by opcode/form (for `info kqemu` and tuning). */
  readonly untranslated = new Map<number, number>();
  /** Blocks by physical page, then by (page offset << 2 | CPL): small-integer keys hash fast. */
  private readonly blocks = new Map<number, Map<number, Block>>();
  private blockCount = 0;
  /** Direct-mapped cache by EIP of recently run compiled blocks (QEMU's tb_jmp_cache in spirit). */
  private readonly jc: (Block | undefined)[] = new Array(JC_SIZE).fill(undefined);
  private readonly translator: Translator;
  private readonly imports: WebAssembly.ModuleImports;
  private invalidations = 0;

  constructor(
    readonly c: CPU,
    public mode: KqemuMode,
    public threshold = DEFAULT_THRESHOLD,
  ) {
    this.translator = new Translator(c);
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
      rd8: (lin: number, eip: number) => (at(eip), c.rd8(lin)),
      rd16: (lin: number, eip: number) => (at(eip), c.rd16(lin)),
      rd32: (lin: number, eip: number) => (at(eip), c.rd32(lin)),
      wr8: (lin: number, v: number, eip: number) => this.slowWrite(lin, v, eip, 1),
      wr16: (lin: number, v: number, eip: number) => this.slowWrite(lin, v, eip, 2),
      wr32: (lin: number, v: number, eip: number) => this.slowWrite(lin, v, eip, 4),
      cond: (cc: number) => (c.cond(cc) ? 1 : 0),
      getcf: () => c.getCF(),
      rdw8: (lin: number, eip: number) => (at(eip), c.rdw8(lin)),
      rdw16: (lin: number, eip: number) => (at(eip), c.rdw16(lin)),
      rdw32: (lin: number, eip: number) => (at(eip), c.rdw32(lin)),
    };
    const prev = c.onCodeInvalidate;
    c.onCodeInvalidate = (page) => {
      prev?.(page);
      this.invalidatePage(page);
    };
  }

  private slowWrite(lin: number, v: number, eip: number, size: number): number {
    const c = this.c;
    c.eipStart = eip;
    c.r[R_EIP] = eip;
    const before = this.invalidations;
    if (size === 4) c.wr32(lin, v);
    else if (size === 2) c.wr16(lin, v);
    else c.wr8(lin, v);
    return this.invalidations !== before ? 1 : 0;
  }

  private invalidatePage(page: number): void {
    const inPage = this.blocks.get(page);
    if (!inPage) return;
    this.invalidations++;
    this.stats.invalidatedPages++;
    this.stats.invalidatedBlocks += inPage.size;
    // Jump-cache entries may still point at these blocks: make them fail validation.
    for (const b of inPage.values()) {
      b.fn = null;
      b.eip = -1;
    }
    this.blockCount -= inPage.size;
    this.blocks.delete(page);
  }

  flush(): void {
    this.jc.fill(undefined);
    this.blocks.clear();
    this.blockCount = 0;
    this.stats.flushes++;
  }

  /** QEMU's kqemu_is_ok(): may compiled code run in the current CPU state? */
  isOk(): boolean {
    const c = this.c;
    const r = c.r;
    if ((r[R_CR0] & 1) === 0) return false;
    const fl = r[R_EFLAGS];
    if ((fl & (EFLAGS_VM | EFLAGS_TF)) !== 0) return false;
    if (r[R_INHIBIT_IRQ] !== 0) return false;
    if (this.mode === 'user' && r[R_CPL] !== 3) return false;
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
    while (n < budget) {
      // Instructions to hand to the interpreter this turn; stays 0 when a compiled block ran.
      let interp = 0;
      if (c.events !== 0 || c.halted) {
        // Events and halts go through one interpreter step.
        interp = 1;
      } else if (!this.isOk()) {
        // A state compiled code may not run in (kernel code in normal mode, real/v8086 mode,
        // non-flat segments) gets a longer stretch.
        stats.exitsNotOk++;
        interp = Math.min(INTERP_STRETCH, budget - n);
      } else {
        const b = this.lookup(r[R_EIP]);
        if (b === null) interp = 1;
        else {
          try {
            const k = b.fn!();
            n += k;
            stats.insnsCompiled += k;
          } catch (err) {
            if (err !== FAULT) throw err;
            const ex = this.fault();
            if (ex >= 0) {
              c.lastRun = n;
              return ex;
            }
          }
          continue;
        }
      }
      const ex = c.run(interp);
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
   * The compiled block to run at `eip` (CS base is 0 when isOk()), compiling it once hot; null when
   * the interpreter must take the next instruction (fetch fault pending, cold or untranslatable code).
   */
  private lookup(eip: number): Block | null {
    const c = this.c;
    const r = c.r;
    const cpl = r[R_CPL];
    let e = c.tlb[eip >>> 12];
    // Fast path: the jump cache, validated against CPL and the current TLB entry.
    const h = (eip ^ (eip >>> 12)) & (JC_SIZE - 1);
    const hit = this.jc[h];
    if (
      hit !== undefined &&
      hit.eip === eip &&
      hit.cpl === cpl &&
      (e & (c.rNeed | TLB_IO)) === c.rNeed &&
      (e & ~0xfff) === hit.physBase &&
      hit.fn !== null
    )
      return hit;
    if ((e & (c.rNeed | TLB_IO)) !== c.rNeed) {
      // Walk the page tables for the fetch; a fault is left for the interpreter to raise.
      try {
        e = c.tlbLookup(eip, false, cpl === 3);
      } catch (err) {
        if (err !== FAULT) throw err;
        return null;
      }
      if ((e & (c.rNeed | TLB_IO)) !== c.rNeed) return null;
    }
    const phys = (e & ~0xfff) | (eip & 0xfff);
    const page = phys >>> 12;
    let inPage = this.blocks.get(page);
    if (inPage === undefined) {
      inPage = new Map();
      this.blocks.set(page, inPage);
      // The page now holds code we depend on: writes to it must invalidate.
      if (page < c.codePage.length) c.codePage[page] = 1;
    }
    // Key: page offset and the CPL the translation assumed (TLB permission checks are baked in).
    const key = ((phys & 0xfff) << 2) | cpl;
    let b = inPage.get(key);
    if (b === undefined || b.eip !== eip) {
      if (this.blockCount >= MAX_BLOCKS) this.flush();
      b = { fn: null, eip, cpl, physBase: e & ~0xfff, heat: 0, page };
      inPage.set(key, b);
      this.blockCount++;
    }
    if (b.fn === null) {
      if (b.heat >= 0 && ++b.heat >= this.threshold) this.compile(b, eip, eip);
      if (b.fn === null) return null;
    }
    this.jc[h] = b;
    return b;
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

  private compile(b: Block, lin: number, eip: number): void {
    const t0 = performance.now();
    const tb = this.translator.translate(lin, eip);
    if (tb === null) {
      b.heat = -1;
      this.stats.rejected++;
      return;
    }
    const bytes = buildModule(IMPORTS, [tb.func], this.c.mem.memory.buffer.byteLength / 65536);
    const mod = new WebAssembly.Module(bytes);
    const inst = new WebAssembly.Instance(mod, { env: this.imports });
    b.fn = inst.exports.f0 as BlockFn;
    b.heat = -1;
    const s = this.stats;
    s.blocksCompiled++;
    s.modules++;
    s.wasmBytes += bytes.length;
    s.compileMs += performance.now() - t0;
  }

  /** Lines for `info kqemu` under QEMU's first line. */
  infoLines(): string[] {
    const s = this.stats;
    const total = s.insnsCompiled + s.insnsInterpreted;
    const share = total > 0 ? ((100 * s.insnsCompiled) / total).toFixed(1) : '0.0';
    return [
      `compiled code: ${s.insnsCompiled} guest instructions (${share}%), interpreted: ${s.insnsInterpreted}`,
      `blocks compiled: ${s.blocksCompiled} in ${s.modules} modules, ${s.wasmBytes} bytes of wasm, ${s.compileMs.toFixed(1)} ms compiling, ${s.rejected} rejected`,
      `cache: ${this.blockCount} entries in ${this.blocks.size} pages (limit ${MAX_BLOCKS}), threshold ${this.threshold}`,
      `invalidations: ${s.invalidatedPages} pages / ${s.invalidatedBlocks} blocks (code writes), ${s.flushes} flushes`,
      `exits: ${s.exitsFault} faults in compiled code, ${s.exitsNotOk} turns in the interpreter (state not ok)`,
      `most frequent untranslated: ${[...this.untranslated]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([k, v]) => `${(k >> 3).toString(16)}${k & 4 ? '/m' : ''}${k & 2 ? '/16' : ''}×${v}`)
        .join(' ')}`,
    ];
  }
}
