// Execution tracing for `-d in_asm`, `-d exec` and `-d cpu`, in the layout of QEMU's logs.
//
// QEMU logs per translation block (TB): `in_asm` once when a block is translated, `exec` and `cpu`
// each time a block is entered. The interpreter has no blocks, so while one of these items is on
// the board runs the CPU one instruction at a time and calls `step()` before each; a block starts
// at the first instruction, after a control transfer, and wherever execution does not simply fall
// through from the previous instruction (interrupts, exceptions). A block's extent for `in_asm` is
// found by disassembling forward to the first control transfer, as QEMU's translator stops there.
import type { CPU } from "../cpu/cpu.ts";
import { CS, R_CPL, R_EIP, R_SEGBASE } from "../cpu/state.ts";

/** One disassembled instruction (the shape of src/cpu/disasm.ts's `disassemble`). */
export interface DisasmLine {
  length: number;
  text: string;
}

/** `disassemble(fetch, addr, code32)`: fetch(k) returns the k-th byte (it may throw). */
export type Disassembler = (fetch: (offset: number) => number, addr: number, code32: boolean) => DisasmLine;

/** Instructions that end a QEMU translation block: every control transfer, HLT, and the like. */
const BLOCK_END =
  /^(?:(?:rep[a-z]*|data16|addr16|[c-g]s|[de]s|ss|lock)\s+)*(?:j[a-z]+|call[lw]?|ret[lwq]?|lret[lwq]?|iret[dw]?|int[o3]?|int1|loop[a-z]*|hlt|sysenter|sysexit|ljmp[lw]?|lcall[lw]?|ud[012]|\(bad\))\b/;

/** Hex bytes when no disassembler is available: `.byte 0x66,0xba`. */
export function bytesText(fetch: (offset: number) => number, len: number): string {
  const parts: string[] = [];
  for (let k = 0; k < len; k++) parts.push(`0x${fetch(k).toString(16).padStart(2, "0")}`);
  return `.byte ${parts.join(",")}`;
}

export class Tracer {
  /** Start addresses (linear) of blocks already logged by in_asm ("translated"). */
  private readonly translated = new Set<number>();
  private expected = -1;
  private prevEndsBlock = true;

  constructor(
    private readonly cpu: CPU,
    private readonly items: ReadonlySet<string>,
    private readonly log: (item: string, text: string) => void,
    private readonly dumpCpu: (cpu: CPU) => string,
    private readonly disassemble: Disassembler | null,
  ) {}

  /** True while any item that needs per-instruction stepping is on. */
  get active(): boolean {
    return this.items.has("in_asm") || this.items.has("exec") || this.items.has("cpu");
  }

  /** Forget translated blocks (reset, or guest code rewritten). */
  flush(): void {
    this.translated.clear();
    this.expected = -1;
    this.prevEndsBlock = true;
  }

  /** Called before each instruction while active. */
  step(): void {
    const c = this.cpu;
    const csBase = c.r[R_SEGBASE + CS];
    const eip = c.r[R_EIP] >>> 0;
    const pc = (csBase + eip) >>> 0;
    const code32 = (c.codeMode & 1) !== 0;
    const blockStart = this.prevEndsBlock || pc !== this.expected;
    const first = this.decode(pc, code32);
    this.expected = (pc + first.length) >>> 0;
    this.prevEndsBlock = BLOCK_END.test(first.text);
    if (!blockStart) return;
    if (this.items.has("in_asm") && !this.translated.has(pc)) {
      this.translated.add(pc);
      const lines = ["----------------", "IN: "];
      let a = pc;
      let d = first;
      for (let n = 0; n < 512; n++) {
        lines.push(`0x${a.toString(16).padStart(8, "0")}:  ${d.text}`);
        if (BLOCK_END.test(d.text) || d.text === "(bad)") break;
        a = (a + d.length) >>> 0;
        if ((a & 0xfff) === 0) break; // QEMU's blocks stop at page boundaries too
        d = this.decode(a, code32);
      }
      lines.push("");
      this.log("in_asm", lines.join("\n"));
    }
    if (this.items.has("exec")) {
      const flags = (code32 ? 0x10 : 0) | c.r[R_CPL];
      const h8 = (v: number) => (v >>> 0).toString(16).padStart(8, "0");
      this.log("exec", `Trace 0: 0x${h8(pc)} [${h8(csBase)}/${h8(pc)}/${h8(flags)}/00000000] `);
    }
    if (this.items.has("cpu")) this.log("cpu", this.dumpCpu(c).replace(/\n$/, ""));
  }

  private decode(addr: number, code32: boolean): DisasmLine {
    const c = this.cpu;
    const fetch = (k: number): number => {
      const v = c.debugRead8(addr + k);
      if (v < 0) throw new RangeError("unreadable");
      return v;
    };
    if (this.disassemble) {
      try {
        return this.disassemble(fetch, addr, code32);
      } catch {
        return { length: 1, text: "(bad)" };
      }
    }
    try {
      return { length: 1, text: bytesText(fetch, 1) };
    } catch {
      return { length: 1, text: "(bad)" };
    }
  }
}
