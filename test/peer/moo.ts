// Reader for MOO test files (SingleStepTests' "Machine Opcode Operation" format, gzip'd), as
// described in ../shared/peer-tests/sst-80286/MOO-FORMAT.md. Only the 16-bit register file (REGS /
// RMSK) is decoded; cycle traces (CYCL) and queue contents (QUEU) are skipped.
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

/** Register order of the REGS / RMSK bitmask (bit 0 = ax … bit 13 = flags). */
export const MOO_REGS = [
  "ax",
  "bx",
  "cx",
  "dx",
  "cs",
  "ss",
  "ds",
  "es",
  "sp",
  "bp",
  "si",
  "di",
  "ip",
  "flags",
] as const;
export type MooRegName = (typeof MOO_REGS)[number];
export const MOO_REG_COUNT = 14;
export const REG_AX = 0;
export const REG_BX = 1;
export const REG_CX = 2;
export const REG_DX = 3;
export const REG_CS = 4;
export const REG_SS = 5;
export const REG_DS = 6;
export const REG_ES = 7;
export const REG_SP = 8;
export const REG_BP = 9;
export const REG_SI = 10;
export const REG_DI = 11;
export const REG_IP = 12;
export const REG_FLAGS = 13;

/** A sparse 16-bit register set: bit k of `mask` says values[k] is present. */
export interface MooRegs {
  mask: number;
  values: Uint16Array;
}

export interface MooState {
  regs: MooRegs;
  /** Per-test register masks for undefined state (RMSK inside INIT/FINA), if any. */
  regMask: MooRegs | null;
  /** RAM entries as [address, byte, address, byte, …]. */
  ram: Uint32Array;
}

export interface MooCase {
  index: number;
  name: string;
  bytes: Uint8Array;
  init: MooState;
  final: MooState;
  /** Exception or interrupt taken by the instruction (EXCP), with the address of the pushed FLAGS. */
  exception: { vector: number; flagAddr: number } | null;
  /** SHA-1 of the test as lowercase hex (HASH), "" if absent. */
  hash: string;
}

export interface MooFile {
  major: number;
  minor: number;
  cpuId: string;
  testCount: number;
  /** META chunk contents, when present. */
  meta: { opcode: number; mnemonic: string; cpuMode: number } | null;
  /** File-wide register masks (top-level RMSK), if any. */
  regMask: MooRegs | null;
  cases: MooCase[];
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    readonly view: DataView,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }
  u8(): number {
    return this.buf[this.pos++];
  }
  u16(): number {
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(): number {
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  id(): string {
    const s = String.fromCharCode(...this.buf.subarray(this.pos, this.pos + 4));
    this.pos += 4;
    return s;
  }
}

/** Iterate the chunks in buf[start, end): calls f(type, payloadStart, payloadEnd). */
function chunks(
  buf: Uint8Array,
  view: DataView,
  start: number,
  end: number,
  f: (type: string, s: number, e: number) => void,
): void {
  const rd = new Reader(buf, view, start, end);
  while (rd.pos + 8 <= end) {
    const type = rd.id();
    const len = rd.u32();
    const s = rd.pos;
    const e = s + len;
    if (e > end) throw new Error(`MOO: chunk ${type} at ${s - 8} overruns its parent (${e} > ${end})`);
    f(type, s, e);
    rd.pos = e;
  }
}

function readRegs(buf: Uint8Array, view: DataView, s: number, e: number): MooRegs {
  const rd = new Reader(buf, view, s, e);
  const mask = rd.u16();
  const values = new Uint16Array(MOO_REG_COUNT);
  for (let k = 0; k < MOO_REG_COUNT; k++) if (mask & (1 << k)) values[k] = rd.u16();
  return { mask, values };
}

function readState(buf: Uint8Array, view: DataView, s: number, e: number): MooState {
  const st: MooState = {
    regs: { mask: 0, values: new Uint16Array(MOO_REG_COUNT) },
    regMask: null,
    ram: new Uint32Array(0),
  };
  chunks(buf, view, s, e, (type, cs, ce) => {
    if (type === "REGS") st.regs = readRegs(buf, view, cs, ce);
    else if (type === "RMSK") st.regMask = readRegs(buf, view, cs, ce);
    else if (type === "RAM ") {
      const rd = new Reader(buf, view, cs, ce);
      const n = rd.u32();
      const ram = new Uint32Array(n * 2);
      for (let k = 0; k < n; k++) {
        ram[2 * k] = rd.u32();
        ram[2 * k + 1] = rd.u8();
      }
      st.ram = ram;
    } else if (type === "RG32" || type === "RM32") {
      throw new Error("MOO: 32-bit register chunks (386 tests) are not supported by this reader");
    }
  });
  return st;
}

function readTest(buf: Uint8Array, view: DataView, s: number, e: number): MooCase {
  const t: MooCase = {
    index: view.getUint32(s, true),
    name: "",
    bytes: new Uint8Array(0),
    init: {
      regs: { mask: 0, values: new Uint16Array(MOO_REG_COUNT) },
      regMask: null,
      ram: new Uint32Array(0),
    },
    final: {
      regs: { mask: 0, values: new Uint16Array(MOO_REG_COUNT) },
      regMask: null,
      ram: new Uint32Array(0),
    },
    exception: null,
    hash: "",
  };
  chunks(buf, view, s + 4, e, (type, cs, ce) => {
    switch (type) {
      case "NAME": {
        const n = view.getUint32(cs, true);
        t.name = String.fromCharCode(...buf.subarray(cs + 4, cs + 4 + n));
        break;
      }
      case "BYTS": {
        const n = view.getUint32(cs, true);
        t.bytes = buf.slice(cs + 4, cs + 4 + n);
        break;
      }
      case "INIT":
        t.init = readState(buf, view, cs, ce);
        break;
      case "FINA":
        t.final = readState(buf, view, cs, ce);
        break;
      case "EXCP":
        t.exception = { vector: buf[cs], flagAddr: view.getUint32(cs + 1, true) };
        break;
      case "HASH":
        t.hash = Buffer.from(buf.subarray(cs, ce)).toString("hex");
        break;
      case "IDX ":
        t.index = view.getUint32(cs, true);
        break;
    }
  });
  return t;
}

/** Parse a MOO file already decompressed. */
export function parseMoo(buf: Uint8Array): MooFile {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const file: MooFile = { major: 0, minor: 0, cpuId: "", testCount: 0, meta: null, regMask: null, cases: [] };
  let sawHeader = false;
  chunks(buf, view, 0, buf.length, (type, s, e) => {
    switch (type) {
      case "MOO ": {
        file.major = buf[s];
        file.minor = buf[s + 1];
        file.testCount = view.getUint32(s + 4, true);
        file.cpuId = String.fromCharCode(...buf.subarray(s + 8, s + 12));
        sawHeader = true;
        break;
      }
      case "META": {
        const rd = new Reader(buf, view, s, e);
        rd.pos += 3; // major, minor, cpu_type
        const opcode = rd.u32();
        const mnemonic = String.fromCharCode(...buf.subarray(rd.pos, rd.pos + 8)).trim();
        rd.pos += 8 + 4 + 8; // mnemonic, test_ct, file_seed
        const cpuMode = rd.pos < e ? rd.u8() : 0;
        file.meta = { opcode, mnemonic, cpuMode };
        break;
      }
      case "RMSK":
        file.regMask = readRegs(buf, view, s, e);
        break;
      case "TEST":
        file.cases.push(readTest(buf, view, s, e));
        break;
    }
  });
  if (!sawHeader) throw new Error("MOO: missing 'MOO ' header chunk");
  if (file.cases.length !== file.testCount)
    throw new Error(`MOO: header says ${file.testCount} tests, found ${file.cases.length}`);
  return file;
}

/** Read and parse a gzip'd MOO file (plain MOO files are accepted too). */
export function readMoo(path: string): MooFile {
  const raw = readFileSync(path);
  const buf = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
  return parseMoo(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
}
