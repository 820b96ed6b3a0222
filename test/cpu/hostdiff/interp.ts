// Runs a host-differential case on the interpreter with the same linear layout as the host ELF
// (flat CPL-3 segments, FS = a 64 KiB data segment based at WINDOW), and compares the outcomes.
import { type CPU, EXIT_BUDGET, EXIT_EXCEPTION } from "../../../src/cpu/cpu.ts";
import { CR0_PE, CR0_PG, EXC_PF, FS, R_CR0, R_CR2, R_CR3, R_EIP, TR } from "../../../src/cpu/state.ts";
import { flat32, load, makeCpu } from "../helpers.ts";
import { hexBytes, REG32 } from "./asm.ts";
import {
  BSS_BASE,
  BSS_SIZE,
  CODE_BASE,
  comparedBytes,
  FS_LIMIT,
  FS_SEL,
  type HostCase,
  initialWindow,
  MEM_BYTES,
  memOffset,
  type StateOut,
  WINDOW,
  WINDOW_SIZE,
} from "./elf32.ts";

export const FLAGS_CMP = 0x0cd5; // CF PF AF ZF SF OF DF
const MAX_STEPS = 100000;
const TSS_BASE = 0x003c0000; // beyond the unmapped addresses the generator uses
const PAGE_DIR = 0x003b0000;

export function makeDiffCpu(): CPU {
  const c = makeCpu(4);
  c.trapExceptions = true;
  return c;
}

/**
 * Mirror the host process's address space with paging: the ELF image (loaded; user, read-only), the BSS
 * (user, read/write) and the TSS (supervisor); everything else is not present, so stray accesses
 * are #PF with the same CR2 and error code on both sides.
 */
export function mapLikeHost(c: CPU, image: Uint8Array, codeEnd: number): void {
  const ram = c.ram;
  ram.fill(0, CODE_BASE, codeEnd);
  load(c, CODE_BASE, image);
  ram.fill(0, PAGE_DIR, PAGE_DIR + 0x2000);
  const dv = new DataView(ram.buffer, ram.byteOffset);
  dv.setUint32(PAGE_DIR, (PAGE_DIR + 0x1000) | 7, true);
  const map = (from: number, to: number, bits: number) => {
    for (let p = from & ~0xfff; p < to; p += 0x1000)
      dv.setUint32(PAGE_DIR + 0x1000 + (p >>> 12) * 4, p | bits, true);
  };
  map(CODE_BASE, codeEnd, 5);
  map(BSS_BASE, BSS_BASE + BSS_SIZE, 7);
  map(WINDOW, WINDOW + 0x1000, 7);
  map(TSS_BASE, TSS_BASE + 0x1000, 3);
  c.notifyRamWrite(PAGE_DIR, 0x2000);
  c.r[R_CR3] = PAGE_DIR;
  c.r[R_CR0] |= CR0_PG | CR0_PE;
  c.flushTlb(true);
}

/** Something that runs guest code like CPU.run(): the interpreter itself or an accelerator engine. */
export interface RunEngine {
  run(budget: number): number;
}

export function runInterp(c: CPU, hc: HostCase, codeAddr: number, engine?: RunEngine, cpl = 3): StateOut {
  flat32(c, cpl);
  // 32-bit read/write data segment, DPL 3, byte granular: the host's LDT descriptor.
  c.setSegCache(FS, FS_SEL, WINDOW, FS_LIMIT, 0x40f3);
  // A 32-bit TSS whose I/O map base lies beyond its limit: IN/OUT at CPL 3 > IOPL are #GP(0), as
  // under Linux (SDM Vol. 1, 19.5.2).
  c.setSegCache(TR, 0x28, TSS_BASE, 0x67, 0x8b);
  c.ram[TSS_BASE + 0x66] = 0x68;
  c.halted = false;
  c.events = 0;
  const r = c.r;
  for (let k = 0; k < 8; k++) r[k] = hc.regs[k];
  c.setEflags((hc.eflags & FLAGS_CMP) | 0x202);
  load(c, WINDOW, initialWindow(hc));
  load(c, codeAddr, Array.from(hc.code));
  r[R_EIP] = codeAddr;
  const end = (codeAddr + hc.code.length) | 0;
  // An accelerator translates whole blocks: end the case with UD2 so no block runs past it.
  if (engine) load(c, end, [0x0f, 0x0b]);
  let vector = -1;
  let err = 0;
  let eip = 0;
  let sig = 0;
  for (let steps = 0; r[R_EIP] !== end; steps++) {
    if (steps >= MAX_STEPS) {
      sig = -1;
      vector = -2;
      break;
    }
    const ex = engine ? engine.run(1) : c.run(1);
    if (ex === EXIT_EXCEPTION) {
      sig = 1;
      vector = c.excVector;
      err = c.excError;
      eip = r[R_EIP];
      break;
    }
    if (ex !== EXIT_BUDGET) {
      sig = -1;
      vector = -3 - ex;
      eip = r[R_EIP];
      break;
    }
  }
  return {
    cr2: vector === EXC_PF ? r[R_CR2] : 0,
    regs: Int32Array.from(r.subarray(0, 8)),
    eflags: c.getEflags(),
    sig,
    vector,
    err,
    eip,
    mem: comparedBytes(c.ram.subarray(WINDOW, WINDOW + 0x1000)),
  };
}

/** What the generator knows about a case beyond its host input: how to compare it. */
export interface CmpSpec {
  /** EFLAGS bits compared (architecturally undefined flags are removed per instruction). */
  flagMask: number;
  /** Per-GPR compare masks (0 for a register whose result is undefined). */
  regMask: readonly number[];
  /** Window byte ranges not compared ([offset, length]). */
  memIgnore: ReadonlyArray<readonly [number, number]>;
  /** Error-code bits compared (default all). */
  errMask?: number;
}

const ERROR_CODE_VECTORS = new Set([8, 10, 11, 12, 13, 14, 17]);

/** Returns a list of differences (empty when the interpreter agrees with the host). */
export function compare(host: StateOut, ours: StateOut, spec: CmpSpec): string[] {
  const d: string[] = [];
  const hv = host.vector;
  if (hv !== ours.vector) {
    d.push(
      `exception: host ${hv === -1 ? "none" : `#${hv} (signal ${host.sig}${hv === 14 ? `, CR2 ${hex32(host.cr2)}` : ""})`}, ours ${vecText(ours.vector)}`,
    );
    return d;
  }
  if (hv >= 0) {
    if (host.eip !== ours.eip) d.push(`fault EIP: host ${hex32(host.eip)}, ours ${hex32(ours.eip)}`);
    if (hv === 14 && host.cr2 !== ours.cr2) d.push(`CR2: host ${hex32(host.cr2)}, ours ${hex32(ours.cr2)}`);
    if (ERROR_CODE_VECTORS.has(hv) && ((host.err ^ ours.err) & (spec.errMask ?? -1)) !== 0)
      d.push(`error code: host ${hex32(host.err)}, ours ${hex32(ours.err)}`);
  }
  for (let k = 0; k < 8; k++) {
    const m = spec.regMask[k];
    if (((host.regs[k] ^ ours.regs[k]) & m) !== 0)
      d.push(
        `${REG32[k]}: host ${hex32(host.regs[k])}, ours ${hex32(ours.regs[k])}${m !== -1 ? ` (mask ${hex32(m)})` : ""}`,
      );
  }
  const fm = spec.flagMask;
  if (((host.eflags ^ ours.eflags) & fm) !== 0)
    d.push(
      `eflags: host ${flagText(host.eflags & fm)}, ours ${flagText(ours.eflags & fm)} (compared: ${flagText(fm)})`,
    );
  for (let k = 0; k < MEM_BYTES; k++) {
    if (host.mem[k] === ours.mem[k]) continue;
    const off = memOffset(k);
    if (spec.memIgnore.some(([o, n]) => off >= o && off < o + n)) continue;
    const end = Math.min(k < WINDOW_SIZE ? WINDOW_SIZE : MEM_BYTES, (k & ~15) + 16);
    d.push(
      `memory at window+0x${off.toString(16)}: host ${hexBytes(host.mem.subarray(k, end))}, ours ${hexBytes(ours.mem.subarray(k, end))}`,
    );
    break;
  }
  return d;
}

function vecText(v: number): string {
  if (v === -1) return "none";
  if (v === -2) return "no progress (step limit)";
  if (v <= -3) return `run() exit ${-3 - v}`;
  return `#${v}`;
}

export function hex32(v: number): string {
  return `0x${(v >>> 0).toString(16).padStart(8, "0")}`;
}

const FLAG_NAMES: [number, string][] = [
  [0x800, "OF"],
  [0x400, "DF"],
  [0x80, "SF"],
  [0x40, "ZF"],
  [0x10, "AF"],
  [0x4, "PF"],
  [0x1, "CF"],
];

export function flagText(f: number): string {
  const on = FLAG_NAMES.filter(([b]) => f & b).map(([, n]) => n);
  return on.length ? on.join(" ") : "-";
}
