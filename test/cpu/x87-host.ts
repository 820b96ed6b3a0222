// x87 differential harness: builds one static i386 ELF that runs many x87 cases natively, and runs
// the very same bytes on the interpreter. Each case is
//     push FLAGS0; popfd; frstor [init]; <snippet>; fnsave [out]; pushfd; pop dword [out+108]
// with a 108-byte FRSTOR image (control word, status, tag word, ST0..7), a 16-byte memory operand
// at `mem` (the snippet addresses it with disp32) and the output record. FNSAVE is a non-waiting
// instruction, so an unmasked exception raised by a one-instruction snippet is captured, never
// delivered. Both sides then write the whole data region; the test compares records field by field.
// With a larger slot, each case also carries an `extra` area at EXTRA (FXSAVE/FXRSTOR images).
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CPU } from "../../src/cpu/cpu.ts";
import { ESP, R_EIP } from "../../src/cpu/state.ts";
import { flat32, load, makeCpu } from "./helpers.ts";

export const BASE = 0x00200000;
const CODE = BASE + 0x100;
const DATA_OFF = 0x100000;
export const DATA = BASE + DATA_OFF;
/** Bytes per case in the data region: init image 0..107, memory operand 112..127, output 128..255. */
export const SLOT = 256;
export const OUT = 128;
export const MEM = 112;
/** Start of the optional per-case area (FXSAVE images), 16-byte aligned. */
export const EXTRA = 256;
/** EFLAGS loaded before each case: every arithmetic flag set, so FCOMI's clears are visible. */
const FLAGS0 = 0x8d5;

export interface X87Case {
  fcw: number;
  /** Status word (with TOP) to start from. */
  fsw: number;
  /** Full tag word (only empty / non-empty matters to FRSTOR). */
  ftw: number;
  /** ST(0..7) as 10-byte little-endian encodings. */
  st: Uint8Array[];
  /** Initial bytes of the memory operand. */
  mem?: Uint8Array;
  /** Bytes placed at offset EXTRA of the case's slot (buildElf with a slot size above EXTRA). */
  extra?: Uint8Array;
  /** Instruction bytes; `mem(reg, op)` gives a ModRM+disp32 for the case's memory operand. */
  code: (memAddr: number) => number[];
}

export function modrmMem(reg: number, addr: number): number[] {
  return [(reg << 3) | 5, addr & 0xff, (addr >>> 8) & 0xff, (addr >>> 16) & 0xff, addr >>> 24];
}

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

/**
 * Build the ELF; returns the file bytes, the data region's size and the address of the exit stub.
 * `slot` (a multiple of 16, at least SLOT) is the bytes per case; above SLOT the case's `extra`
 * bytes start at EXTRA.
 */
export function buildElf(
  cases: X87Case[],
  slotSize = SLOT,
): { elf: Uint8Array; dataSize: number; stub: number } {
  const code: number[] = [];
  const dataSize = cases.length * slotSize;
  const data = new Uint8Array(dataSize);
  cases.forEach((k, n) => {
    const slot = DATA + n * slotSize;
    const o = n * slotSize;
    const w16 = (at: number, v: number) => {
      data[o + at] = v & 0xff;
      data[o + at + 1] = v >> 8;
    };
    w16(0, k.fcw);
    w16(4, k.fsw);
    w16(8, k.ftw);
    for (let j = 0; j < 8; j++) data.set(k.st[j], o + 28 + 10 * j);
    if (k.mem) data.set(k.mem, o + MEM);
    if (k.extra) data.set(k.extra, o + EXTRA);
    code.push(0x68, ...le32(FLAGS0), 0x9d);
    code.push(0xdd, ...modrmMem(4, slot)); // frstor [init]
    code.push(...k.code(slot + MEM));
    code.push(0xdd, ...modrmMem(6, slot + OUT)); // fnsave [out]
    code.push(0x9c, 0x8f, ...modrmMem(0, slot + OUT + 108)); // pushfd; pop dword [out+108]
  });
  const stub = CODE + code.length;
  // write(1, DATA, dataSize); exit(0)
  code.push(0xb8, ...le32(4), 0xbb, ...le32(1), 0xb9, ...le32(DATA), 0xba, ...le32(dataSize), 0xcd, 0x80);
  code.push(0xb8, ...le32(1), 0x31, 0xdb, 0xcd, 0x80);
  if (0x100 + code.length > DATA_OFF) throw new Error("x87-host: code region overflow");
  const fileSize = DATA_OFF + dataSize;
  const elf = new Uint8Array(fileSize);
  const dv = new DataView(elf.buffer);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, 3, true); // EM_386
  dv.setUint32(20, 1, true);
  dv.setUint32(24, CODE, true); // entry
  dv.setUint32(28, 52, true); // phoff
  dv.setUint16(40, 52, true); // ehsize
  dv.setUint16(42, 32, true); // phentsize
  dv.setUint16(44, 1, true); // phnum
  // PT_LOAD, the whole file, RWX.
  dv.setUint32(52, 1, true);
  dv.setUint32(56, 0, true);
  dv.setUint32(60, BASE, true);
  dv.setUint32(64, BASE, true);
  dv.setUint32(68, fileSize, true);
  dv.setUint32(72, fileSize, true);
  dv.setUint32(76, 7, true);
  dv.setUint32(80, 0x1000, true);
  elf.set(code, 0x100);
  elf.set(data, DATA_OFF);
  return { elf, dataSize, stub };
}

/** Run natively; null when this host cannot run i386 ELF binaries. */
export function runHost(elf: Uint8Array, dataSize: number): Uint8Array | null {
  const dir = mkdtempSync(join(tmpdir(), "x87-host-"));
  const path = join(dir, "x87");
  try {
    writeFileSync(path, elf);
    chmodSync(path, 0o755);
    const res = spawnSync(path, [], { maxBuffer: dataSize + 4096, timeout: 20000 });
    if (res.error || res.status !== 0 || res.stdout.length !== dataSize) return null;
    return new Uint8Array(res.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Run the same image on the interpreter (flat 32-bit, CPL 0 so the stub can HLT); returns the data region. */
export function runInterp(elf: Uint8Array, dataSize: number, stub: number): { out: Uint8Array; cpu: CPU } {
  const c = makeCpu(16);
  flat32(c, 0);
  c.trapExceptions = true;
  load(c, BASE, elf);
  load(c, stub, [0xf4]);
  c.r[R_EIP] = CODE;
  c.r[ESP] = BASE + 0x80000;
  for (let guard = 0; guard < 1000; guard++) {
    const exit = c.run(1 << 20);
    if (c.r[R_EIP] === stub + 1 || exit !== 0) {
      if (c.r[R_EIP] !== stub + 1)
        throw new Error(
          `interpreter stopped at ${c.r[R_EIP].toString(16)}, exit ${exit} vector ${c.excVector}`,
        );
      break;
    }
  }
  return { out: c.ram.slice(DATA, DATA + dataSize), cpu: c };
}
