// A tiny byte-level x86 assembler for the host-differential harness: ModRM/SIB encoding for 32- and
// 16-bit addressing (SDM Vol. 2A, 2.1.5, Tables 2-1 to 2-3) and a few helpers for the ELF driver.

export const EAX = 0;
export const ECX = 1;
export const EDX = 2;
export const EBX = 3;
export const ESP = 4;
export const EBP = 5;
export const ESI = 6;
export const EDI = 7;

export const REG32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
export const REG16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
export const REG8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];

/** A 32-bit-addressing memory operand: base + index << scale + disp (base/index -1 = none). */
export interface Mem32 {
  kind: "m32";
  base: number;
  index: number;
  scale: number;
  disp: number;
  /** Encode the displacement as disp32 even when it fits in a byte. */
  wide?: boolean;
}

/** A 16-bit-addressing memory operand: rm is the ModRM r/m field (BX+SI ... BX); rm 6 with mod 0 is disp16. */
export interface Mem16 {
  kind: "m16";
  rm: number;
  /** 0 = no displacement (or disp16 absolute when rm = 6), 1 = disp8, 2 = disp16. */
  mod: number;
  disp: number;
}

export type Mem = Mem32 | Mem16;
/** A register number (0..7) or a memory operand. */
export type RM = number | Mem;

export function m32(base: number, index = -1, scale = 0, disp = 0, wide = false): Mem32 {
  return { kind: "m32", base, index, scale, disp, wide };
}

export function abs32(addr: number): Mem32 {
  return m32(-1, -1, 0, addr);
}

export function le(v: number, size: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < size; k++) out.push((v >>> (8 * k)) & 0xff);
  return out;
}

function fitsI8(v: number): boolean {
  return v >= -128 && v <= 127;
}

/** ModRM (+SIB, +displacement) bytes for `reg` (the ModRM.reg field) and an r/m operand. */
export function modrm(reg: number, rm: RM): number[] {
  if (typeof rm === "number") return [0xc0 | (reg << 3) | rm];
  if (rm.kind === "m16") {
    const b = [(rm.mod << 6) | (reg << 3) | rm.rm];
    if (rm.mod === 1) b.push(rm.disp & 0xff);
    else if (rm.mod === 2 || (rm.mod === 0 && rm.rm === 6)) b.push(...le(rm.disp, 2));
    return b;
  }
  const { base, index, scale } = rm;
  const disp = rm.disp | 0;
  if (index === ESP) throw new Error("ESP cannot be an index");
  if (base < 0 && index < 0) return [(reg << 3) | 5, ...le(disp, 4)];
  let mod: number;
  if (base < 0) mod = 0;
  else if (disp === 0 && base !== EBP && !rm.wide) mod = 0;
  else if (fitsI8(disp) && !rm.wide) mod = 1;
  else mod = 2;
  const dispBytes = base < 0 ? le(disp, 4) : mod === 1 ? [disp & 0xff] : mod === 2 ? le(disp, 4) : [];
  if (index < 0 && base !== ESP) return [(mod << 6) | (reg << 3) | base, ...dispBytes];
  const sib = (scale << 6) | ((index < 0 ? 4 : index) << 3) | (base < 0 ? 5 : base);
  return [(mod << 6) | (reg << 3) | 4, sib, ...dispBytes];
}

export interface Enc {
  /** Prefix bytes (0x66, 0x67, segment overrides, REP, LOCK) in the order given. */
  pre?: number[];
  op: number[];
  /** ModRM.reg (register number or opcode extension) and the r/m operand. */
  reg?: number;
  rm?: RM;
  imm?: number;
  immSize?: number;
  imm2?: number;
  imm2Size?: number;
}

export function enc(e: Enc): number[] {
  const b = [...(e.pre ?? []), ...e.op];
  if (e.rm !== undefined) b.push(...modrm(e.reg ?? 0, e.rm));
  if (e.immSize) b.push(...le(e.imm ?? 0, e.immSize));
  if (e.imm2Size) b.push(...le(e.imm2 ?? 0, e.imm2Size));
  return b;
}

/** Address-size-16 memory-operand text (for diagnostics). */
const M16_TEXT = ["bx+si", "bx+di", "bp+si", "bp+di", "si", "di", "bp", "bx"];

export function memText(m: Mem): string {
  if (m.kind === "m16") {
    if (m.mod === 0 && m.rm === 6) return `[0x${(m.disp & 0xffff).toString(16)}]`;
    const d = m.mod === 0 ? "" : `${m.disp < 0 ? "-" : "+"}0x${Math.abs(m.disp).toString(16)}`;
    return `[${M16_TEXT[m.rm]}${d}]`;
  }
  const parts: string[] = [];
  if (m.base >= 0) parts.push(REG32[m.base]);
  if (m.index >= 0) parts.push(`${REG32[m.index]}*${1 << m.scale}`);
  let s = parts.join("+");
  const d = m.disp | 0;
  if (d !== 0 || parts.length === 0) {
    if (parts.length === 0) s = `0x${(d >>> 0).toString(16)}`;
    else s += `${d < 0 ? "-" : "+"}0x${Math.abs(d).toString(16)}`;
  }
  return `[${s}]`;
}

export function hexBytes(b: ArrayLike<number>): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

/** A growing code buffer with labels and rel32 fixups, for the ELF driver. */
export class Asm {
  readonly bytes: number[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: { at: number; label: string; kind: "rel32" | "abs32" }[] = [];

  constructor(readonly origin: number) {}

  get here(): number {
    return this.origin + this.bytes.length;
  }

  emit(...b: number[]): this {
    for (const x of b) this.bytes.push(x & 0xff);
    return this;
  }

  label(name: string): this {
    this.labels.set(name, this.here);
    return this;
  }

  addr(name: string): number {
    const a = this.labels.get(name);
    if (a === undefined) throw new Error(`undefined label ${name}`);
    return a;
  }

  /** jmp rel32 / call rel32 / jcc rel32 to a label. */
  jmp(label: string): this {
    this.emit(0xe9);
    return this.rel32(label);
  }
  call(label: string): this {
    this.emit(0xe8);
    return this.rel32(label);
  }
  jcc(cc: number, label: string): this {
    this.emit(0x0f, 0x80 | cc);
    return this.rel32(label);
  }
  /** An absolute 32-bit address of a label (patched at finish). */
  abs(label: string): this {
    this.fixups.push({ at: this.bytes.length, label, kind: "abs32" });
    return this.emit(0, 0, 0, 0);
  }

  private rel32(label: string): this {
    this.fixups.push({ at: this.bytes.length, label, kind: "rel32" });
    return this.emit(0, 0, 0, 0);
  }

  finish(): Uint8Array {
    for (const f of this.fixups) {
      const target = this.addr(f.label);
      const v = f.kind === "rel32" ? target - (this.origin + f.at + 4) : target;
      const b = le(v, 4);
      for (let k = 0; k < 4; k++) this.bytes[f.at + k] = b[k];
    }
    return Uint8Array.from(this.bytes);
  }
}
