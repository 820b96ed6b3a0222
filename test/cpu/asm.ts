// A tiny x86 assembler for the system-architecture tests (only the encodings they use), and
// builders for the system structures those tests place in guest RAM: GDT/LDT descriptors, IDT
// gates, 32-bit TSSs and page tables. Encodings follow SDM Vol. 2, Appendix A/B.
import type { CPU } from "../../src/cpu/cpu.ts";
import {
  CR0_PE,
  CS,
  DS,
  ES,
  FS,
  GS,
  R_CPL,
  R_CR0,
  R_EIP,
  R_GDTR_BASE,
  R_GDTR_LIMIT,
  R_IDTR_BASE,
  R_IDTR_LIMIT,
  SS,
} from "../../src/cpu/state.ts";
import { ltr } from "../../src/cpu/system.ts";

/** Register numbers in encoding order. */
export const AX = 0;
export const CX = 1;
export const DX = 2;
export const BX = 3;
export const SP = 4;
export const BP = 5;
export const SI = 6;
export const DI = 7;

export class Asm {
  readonly bytes: number[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: { at: number; label: string; size: 1 | 4 | 2 }[] = [];

  constructor(
    readonly org: number,
    readonly bits: 16 | 32 = 32,
  ) {}

  /** Address of the next byte. */
  get here(): number {
    return this.org + this.bytes.length;
  }

  db(...b: number[]): this {
    for (const v of b) this.bytes.push(v & 0xff);
    return this;
  }
  dw(v: number): this {
    return this.db(v, v >> 8);
  }
  dd(v: number): this {
    return this.db(v, v >> 8, v >> 16, v >>> 24);
  }

  label(name: string): this {
    this.labels.set(name, this.here);
    return this;
  }
  addr(name: string): number {
    const a = this.labels.get(name);
    if (a === undefined) throw new Error(`no label ${name}`);
    return a;
  }

  /** Operand-size prefix when the wanted size differs from the code size. */
  private os(size: 16 | 32): this {
    if (size !== this.bits) this.db(0x66);
    return this;
  }
  /** ModRM for an absolute memory operand [disp] (32-bit addressing in 32-bit code, else 16-bit). */
  private absModrm(reg: number, disp: number): this {
    if (this.bits === 32) return this.db(0x05 | (reg << 3)).dd(disp);
    return this.db(0x06 | (reg << 3)).dw(disp);
  }
  private rr(reg: number, rm: number): this {
    return this.db(0xc0 | (reg << 3) | rm);
  }

  // ---- data movement
  movImm(reg: number, v: number, size: 16 | 32 = this.bits): this {
    this.os(size).db(0xb8 + reg);
    return size === 32 ? this.dd(v) : this.dw(v);
  }
  /** mov r32, r32 (or r16 with size 16). */
  movRR(dst: number, src: number, size: 16 | 32 = this.bits): this {
    return this.os(size).db(0x89).rr(src, dst);
  }
  /** mov [abs], reg */
  store(addr: number, reg: number, size: 16 | 32 = this.bits): this {
    return this.os(size).db(0x89).absModrm(reg, addr);
  }
  /** mov reg, [abs] */
  loadMem(reg: number, addr: number, size: 16 | 32 = this.bits): this {
    return this.os(size).db(0x8b).absModrm(reg, addr);
  }
  /** mov byte [abs], imm8 */
  storeByteImm(addr: number, v: number): this {
    return this.db(0xc6).absModrm(0, addr).db(v);
  }
  /** mov dword [abs], imm32 */
  storeImm(addr: number, v: number): this {
    this.os(32).db(0xc7).absModrm(0, addr);
    return this.dd(v);
  }
  /** mov reg, [base] (32-bit code: [reg] addressing) */
  loadInd(reg: number, base: number): this {
    if (base === SP) return this.db(0x8b, (reg << 3) | 4, 0x24);
    if (base === BP) return this.db(0x8b, 0x40 | (reg << 3) | 5, 0);
    return this.db(0x8b, (reg << 3) | base);
  }
  /** mov [base], reg */
  storeInd(base: number, reg: number): this {
    if (base === SP) return this.db(0x89, (reg << 3) | 4, 0x24);
    if (base === BP) return this.db(0x89, 0x40 | (reg << 3) | 5, 0);
    return this.db(0x89, (reg << 3) | base);
  }
  /** inc dword [abs] */
  incMem(addr: number): this {
    return this.os(32).db(0xff).absModrm(0, addr);
  }
  /** mov sreg, r16 */
  movSR(sreg: number, reg: number): this {
    return this.db(0x8e).rr(sreg, reg);
  }
  /** mov r16/32, sreg */
  movRS(reg: number, sreg: number): this {
    return this.db(0x8c).rr(sreg, reg);
  }
  /** mov sreg, [abs] */
  movSM(sreg: number, addr: number): this {
    return this.db(0x8e).absModrm(sreg, addr);
  }
  push(reg: number): this {
    return this.db(0x50 + reg);
  }
  pop(reg: number): this {
    return this.db(0x58 + reg);
  }
  pushImm(v: number): this {
    this.db(0x68);
    return this.bits === 32 ? this.dd(v) : this.dw(v);
  }
  pushSeg(sreg: number): this {
    return sreg >= 4 ? this.db(0x0f, sreg === 4 ? 0xa0 : 0xa8) : this.db(0x06 | (sreg << 3));
  }
  popSeg(sreg: number): this {
    return sreg >= 4 ? this.db(0x0f, sreg === 4 ? 0xa1 : 0xa9) : this.db(0x07 | (sreg << 3));
  }
  /** add reg, imm (imm8 sign-extended form when it fits). */
  addImm(reg: number, v: number): this {
    if (v >= -128 && v < 128) return this.db(0x83).rr(0, reg).db(v);
    this.db(0x81).rr(0, reg);
    return this.bits === 32 ? this.dd(v) : this.dw(v);
  }
  orImm(reg: number, v: number): this {
    this.db(0x81).rr(1, reg);
    return this.bits === 32 ? this.dd(v) : this.dw(v);
  }
  andImm(reg: number, v: number): this {
    this.db(0x81).rr(4, reg);
    return this.bits === 32 ? this.dd(v) : this.dw(v);
  }
  xorRR(dst: number, src: number): this {
    return this.db(0x31).rr(src, dst);
  }

  // ---- control transfer
  jmpFar(sel: number, off: number, size: 16 | 32 = this.bits): this {
    this.os(size).db(0xea);
    (size === 32 ? this.dd(off) : this.dw(off)).dw(sel);
    return this;
  }
  callFar(sel: number, off: number, size: 16 | 32 = this.bits): this {
    this.os(size).db(0x9a);
    (size === 32 ? this.dd(off) : this.dw(off)).dw(sel);
    return this;
  }
  /** jmp far [abs] (m16:32) */
  jmpFarMem(addr: number): this {
    return this.db(0xff).absModrm(5, addr);
  }
  retf(imm = 0): this {
    return imm ? this.db(0xca).dw(imm) : this.db(0xcb);
  }
  iret(): this {
    return this.db(0xcf);
  }
  int(n: number): this {
    return this.db(0xcd, n);
  }
  int3(): this {
    return this.db(0xcc);
  }
  /** jmp rel to a label (rel32 in 32-bit code, rel16 in 16-bit code). */
  jmp(label: string): this {
    this.db(0xe9);
    this.fixups.push({ at: this.bytes.length, label, size: this.bits === 32 ? 4 : 2 });
    return this.bits === 32 ? this.dd(0) : this.dw(0);
  }
  /** jcc rel8 to a label; cc is the condition nibble (4 = E/Z, 5 = NE/NZ). */
  jcc8(cc: number, label: string): this {
    this.db(0x70 + cc);
    this.fixups.push({ at: this.bytes.length, label, size: 1 });
    return this.db(0);
  }
  /** jmp $ */
  spin(): this {
    return this.db(0xeb, 0xfe);
  }
  hlt(): this {
    return this.db(0xf4);
  }
  nop(n = 1): this {
    for (let k = 0; k < n; k++) this.db(0x90);
    return this;
  }
  cli(): this {
    return this.db(0xfa);
  }
  sti(): this {
    return this.db(0xfb);
  }
  pushf(): this {
    return this.db(0x9c);
  }
  popf(): this {
    return this.db(0x9d);
  }

  // ---- system
  lgdt(addr: number): this {
    if (this.bits === 16) this.db(0x66);
    return this.db(0x0f, 0x01).absModrm(2, addr);
  }
  lidt(addr: number): this {
    if (this.bits === 16) this.db(0x66);
    return this.db(0x0f, 0x01).absModrm(3, addr);
  }
  ltr(reg: number): this {
    return this.db(0x0f, 0x00).rr(3, reg);
  }
  lldt(reg: number): this {
    return this.db(0x0f, 0x00).rr(2, reg);
  }
  /** mov crN, reg (always 32-bit) */
  movCR(cr: number, reg: number): this {
    return this.db(0x0f, 0x22).rr(cr, reg);
  }
  /** mov reg, crN */
  movRC(reg: number, cr: number): this {
    return this.db(0x0f, 0x20).rr(cr, reg);
  }
  movDR(dr: number, reg: number): this {
    return this.db(0x0f, 0x23).rr(dr, reg);
  }
  movRD(reg: number, dr: number): this {
    return this.db(0x0f, 0x21).rr(dr, reg);
  }
  invlpg(addr: number): this {
    return this.db(0x0f, 0x01).absModrm(7, addr);
  }
  clts(): this {
    return this.db(0x0f, 0x06);
  }
  rdmsr(): this {
    return this.db(0x0f, 0x32);
  }
  wrmsr(): this {
    return this.db(0x0f, 0x30);
  }
  rdtsc(): this {
    return this.db(0x0f, 0x31);
  }
  cpuid(): this {
    return this.db(0x0f, 0xa2);
  }
  sysenter(): this {
    return this.db(0x0f, 0x34);
  }
  sysexit(): this {
    return this.db(0x0f, 0x35);
  }
  /** in al, imm8 */
  inAL(port: number): this {
    return this.db(0xe4, port);
  }
  outAL(port: number): this {
    return this.db(0xe6, port);
  }
  /** in al, dx / out dx, al */
  inALDX(): this {
    return this.db(0xec);
  }
  outDXAL(): this {
    return this.db(0xee);
  }
  /** fnop: an x87 instruction (#NM when CR0.TS or CR0.EM). */
  fnop(): this {
    return this.db(0xd9, 0xd0);
  }
  wait(): this {
    return this.db(0x9b);
  }

  /** Resolve label fixups and return the bytes. */
  build(): number[] {
    for (const f of this.fixups) {
      const target = this.addr(f.label);
      const rel = target - (this.org + f.at + f.size);
      if (f.size === 1) {
        if (rel < -128 || rel > 127) throw new Error(`rel8 out of range to ${f.label}`);
        this.bytes[f.at] = rel & 0xff;
      } else for (let k = 0; k < f.size; k++) this.bytes[f.at + k] = (rel >> (8 * k)) & 0xff;
    }
    return this.bytes;
  }

  /** Assemble into the CPU's RAM at org (keeping the decoded-instruction cache coherent). */
  load(c: CPU): this {
    const b = this.build();
    c.ram.set(b, this.org);
    c.notifyRamWrite(this.org, b.length);
    return this;
  }
}

// ---------------------------------------------------------------- physical memory helpers

export function w8(c: CPU, addr: number, v: number): void {
  c.physWrite8(addr, v);
}
export function w16(c: CPU, addr: number, v: number): void {
  c.physWrite8(addr, v);
  c.physWrite8(addr + 1, v >>> 8);
}
export function w32(c: CPU, addr: number, v: number): void {
  c.physWrite32(addr, v);
}
export function r32(c: CPU, addr: number): number {
  return c.physRead32(addr);
}
export function r16(c: CPU, addr: number): number {
  return c.physRead8(addr) | (c.physRead8(addr + 1) << 8);
}

// ---------------------------------------------------------------- descriptors (SDM Vol. 3A, 3.4.5)

/** Access byte values. */
export const CODE32 = 0x9a; // present, DPL0, code, readable
export const DATA32 = 0x92; // present, DPL0, data, writable
export const TSS32 = 0x89; // present, DPL0, available 32-bit TSS
export const LDT = 0x82;

/** Write a segment descriptor. `access` is the access byte; `flags` the G/D nibble (0xc = 4K gran + 32-bit). */
export function writeDesc(
  c: CPU,
  at: number,
  base: number,
  limit: number,
  access: number,
  flags = 0xc,
): void {
  const lo = (limit & 0xffff) | ((base & 0xffff) << 16);
  const hi = ((base >>> 16) & 0xff) | (access << 8) | (limit & 0xf0000) | (flags << 20) | (base & 0xff000000);
  w32(c, at, lo);
  w32(c, at + 4, hi);
}

/** Write a gate descriptor (interrupt 0xe, trap 0xf, task 0x5, call 0xc; 16-bit forms 0x6/0x7/0x4). */
export function writeGate(
  c: CPU,
  at: number,
  sel: number,
  off: number,
  type: number,
  dpl = 0,
  params = 0,
): void {
  w32(c, at, (off & 0xffff) | (sel << 16));
  w32(c, at + 4, (off & 0xffff0000) | 0x8000 | (dpl << 13) | (type << 8) | params);
}

// ---------------------------------------------------------------- a standard protected-mode layout

/** Physical layout used by the system tests (4 MiB of RAM). */
export const GDT = 0x1000;
export const IDT = 0x2000;
export const TSS = 0xb000; // main 32-bit TSS with an 8 KiB I/O bitmap (to 0xd068)
export const TSS2 = 0x3800; // second TSS (tasks, #DF task)
export const TSS3 = 0x3c00;
export const LDT_BASE = 0x4000;
export const PD = 0x10000;
export const PT0 = 0x11000;
export const PT1 = 0x12000;
export const KSTACK = 0x9000; // ring-0 stack top (TSS.ESP0)
export const USTACK = 0x7000; // ring-3 stack top
export const DFSTACK = 0xa000; // #DF task stack top
export const KCODE = 0x20000;
export const UCODE = 0x30000;
export const HANDLERS = 0x40000;

/** GDT selectors in the standard layout (Linux-like ordering so SYSENTER's CS+8/+16/+24 work). */
export const SEL_KCODE = 0x08;
export const SEL_KDATA = 0x10;
export const SEL_UCODE = 0x1b;
export const SEL_UDATA = 0x23;
export const SEL_TSS = 0x28;
export const SEL_TSS2 = 0x30;
export const SEL_TSS3 = 0x38;
export const SEL_CODE16 = 0x40;
export const SEL_DATA16 = 0x48;
export const SEL_LDT = 0x50;
export const SEL_SMALL = 0x58; // DPL0 data, base 0x50000, limit 0xfff byte-granular
export const SEL_KCODE_CONF = 0x60; // conforming code DPL0
export const SEL_DS1 = 0x68; // DPL1 data
export const SEL_NP = 0x70; // not-present data
export const SEL_EXPDOWN = 0x78; // expand-down data, limit 0xfff, 32-bit
export const SEL_CALLGATE = 0x80; // call gate DPL3 -> KCODE:HANDLERS+0x800
export const SEL_RO = 0x88; // read-only data
export const GDT_LIMIT = 0x8f;

export const TSS_LIMIT = 0x67 + 0x2000 / 8 + 1; // 8 KiB I/O bitmap (ports 0..0xffff) + terminator
export const IOMAP = 0x68;

/** Build the GDT, an empty IDT and the TSSs in RAM; load GDTR/IDTR. */
export function buildTables(c: CPU): void {
  c.ram.fill(0, GDT, LDT_BASE + 0x1000);
  c.ram.fill(0, TSS, TSS + 0x68);
  writeDesc(c, GDT + 0x08, 0, 0xfffff, CODE32);
  writeDesc(c, GDT + 0x10, 0, 0xfffff, DATA32);
  writeDesc(c, GDT + 0x18, 0, 0xfffff, CODE32 | 0x60);
  writeDesc(c, GDT + 0x20, 0, 0xfffff, DATA32 | 0x60);
  writeDesc(c, GDT + 0x28, TSS, TSS_LIMIT, TSS32, 0);
  writeDesc(c, GDT + 0x30, TSS2, 0x67, TSS32, 0);
  writeDesc(c, GDT + 0x38, TSS3, 0x67, TSS32, 0);
  writeDesc(c, GDT + 0x40, 0, 0xffff, CODE32, 0);
  writeDesc(c, GDT + 0x48, 0, 0xffff, DATA32, 0);
  writeDesc(c, GDT + 0x50, LDT_BASE, 0xff, LDT, 0);
  writeDesc(c, GDT + 0x58, 0x50000, 0xfff, DATA32, 4);
  writeDesc(c, GDT + 0x60, 0, 0xfffff, CODE32 | 0x04);
  writeDesc(c, GDT + 0x68, 0, 0xfffff, DATA32 | 0x20);
  writeDesc(c, GDT + 0x70, 0, 0xfffff, DATA32 & 0x7f);
  writeDesc(c, GDT + 0x78, 0, 0xfff, DATA32 | 0x04, 4);
  writeGate(c, GDT + 0x80, SEL_KCODE, HANDLERS + 0x800, 0xc, 3);
  writeDesc(c, GDT + 0x88, 0, 0xfffff, 0x90);
  // Main TSS: ring-0 stack, I/O bitmap all-permitted except what tests deny.
  w32(c, TSS + 4, KSTACK);
  w32(c, TSS + 8, SEL_KDATA);
  w16(c, TSS + 0x66, IOMAP);
  c.ram.fill(0, TSS + IOMAP, TSS + IOMAP + 0x2000);
  c.ram[TSS + IOMAP + 0x2000] = 0xff;
  c.r[R_GDTR_BASE] = GDT;
  c.r[R_GDTR_LIMIT] = GDT_LIMIT;
  c.r[R_IDTR_BASE] = IDT;
  c.r[R_IDTR_LIMIT] = 0x7ff;
}

/** Fill a 32-bit TSS for a task starting at cs:eip with flat segments. */
export function writeTss(
  c: CPU,
  at: number,
  o: { eip: number; esp: number; cs?: number; ds?: number; eflags?: number; cr3?: number; eax?: number },
): void {
  c.ram.fill(0, at, at + 0x68);
  const ds = o.ds ?? SEL_KDATA;
  w32(c, at + 0x1c, o.cr3 ?? 0);
  w32(c, at + 0x20, o.eip);
  w32(c, at + 0x24, o.eflags ?? 2);
  w32(c, at + 0x28, o.eax ?? 0);
  w32(c, at + 0x38, o.esp);
  w16(c, at + 0x48, ds); // ES
  w16(c, at + 0x4c, o.cs ?? SEL_KCODE);
  w16(c, at + 0x50, ds); // SS
  w16(c, at + 0x54, ds);
  w16(c, at + 0x58, ds);
  w16(c, at + 0x5c, ds);
  w16(c, at + 0x66, 0x68);
}

/** Enter flat 32-bit protected mode at CPL 0 with the standard tables (caches loaded from the GDT). */
export function enterProtected(c: CPU, eip = KCODE): void {
  buildTables(c);
  c.r[R_CR0] |= CR0_PE;
  c.setSegCache(CS, SEL_KCODE, 0, -1, 0xc09b);
  for (const s of [DS, ES, SS, FS, GS]) c.setSegCache(s, SEL_KDATA, 0, -1, 0xc093);
  c.r[R_CPL] = 0;
  c.updateCpl();
  c.modeChanged();
  ltr(c, SEL_TSS);
  c.r[R_EIP] = eip;
  c.r[4] = KSTACK;
}

/** From there, CPL 3 at UCODE with the flat ring-3 segments, the ring-3 stack and `eflags`. */
export function enterUser(c: CPU, eflags = 0x202): void {
  c.setSegCache(CS, SEL_UCODE, 0, -1, 0xc0fb);
  for (const s of [DS, ES, SS, FS, GS]) c.setSegCache(s, SEL_UDATA, 0, -1, 0xc0f3);
  c.r[R_CPL] = 3;
  c.updateCpl();
  c.setEflags(eflags);
  c.r[R_EIP] = UCODE;
  c.r[4] = USTACK;
}

/** Interrupt/trap gate in the standard IDT. */
export function setGate(c: CPU, vector: number, off: number, type = 0xe, dpl = 0, sel = SEL_KCODE): void {
  writeGate(c, IDT + vector * 8, sel, off, type, dpl);
}

// ---------------------------------------------------------------- paging (SDM Vol. 3A, 4.3)

export const P = 1;
export const RW = 2;
export const US = 4;
export const PWT = 8;
export const A = 0x20;
export const D = 0x40;
export const PS = 0x80;
export const G = 0x100;

/** Identity-map the first `mib` MiB with 4 KiB pages (flags on both levels), page tables from PT0. */
export function identityMap(c: CPU, flags = P | RW | US, mib = 4): void {
  c.ram.fill(0, PD, PD + 0x1000);
  const tables = Math.ceil(mib / 4);
  for (let t = 0; t < tables; t++) {
    const pt = PT0 + t * 0x1000;
    w32(c, PD + t * 4, pt | P | RW | US);
    for (let k = 0; k < 1024; k++) {
      const phys = t * 0x400000 + k * 0x1000;
      w32(c, pt + k * 4, phys < mib << 20 ? phys | flags : 0);
    }
  }
}

/** Set the PTE for linear page `lin` (in the tables identityMap built). */
export function setPte(c: CPU, lin: number, v: number): void {
  const pt = r32(c, PD + (lin >>> 22) * 4) & ~0xfff;
  w32(c, pt + ((lin >>> 12) & 0x3ff) * 4, v);
}
export function getPte(c: CPU, lin: number): number {
  const pt = r32(c, PD + (lin >>> 22) * 4) & ~0xfff;
  return r32(c, pt + ((lin >>> 12) & 0x3ff) * 4);
}
export function setPde(c: CPU, lin: number, v: number): void {
  w32(c, PD + (lin >>> 22) * 4, v);
}
export function getPde(c: CPU, lin: number): number {
  return r32(c, PD + (lin >>> 22) * 4);
}
