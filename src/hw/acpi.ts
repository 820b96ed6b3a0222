// ACPI for the PC board: the fixed-hardware PM1 event/control registers and PM timer (the
// PIIX4 PM block, mapped by the 00:01.3 function's PMBA), and a builder for the tables a guest
// reads: RSDP (rev 0), RSDT, FADT (rev 1 layout), FACS, a DSDT emitted as AML bytes, and an
// optional HPET table (IA-PC HPET 1.0a §3.2.4).
//
// References: ACPI 1.0b §4.7.3 (PM1 registers: PM1_STS/PM1_EN bit layout, PM1_CNT SLP_TYP/
// SLP_EN, PM timer at 3.579545 MHz), §5.2 (RSDP, SDT header, RSDT, FADT field offsets, FACS),
// §7.5.2 (\_Sx packages), §16 (AML encoding: PkgLength, NameString, data objects).

import type { Clock, Timer } from "../machine/clock.ts";
import type { IoHandler } from "../machine/ioport.ts";
import type { SetIrq } from "../machine/irq.ts";

export const PM_TIMER_FREQ = 3579545;
/** SLP_TYPa value of \_S5_ (soft off) in our DSDT, and what a PM1a_CNT write decodes. */
export const SLP_TYP_S5 = 5;

// PM block layout (offsets from PMBA), as the PIIX4 PM function has it.
export const PM1_STS = 0x00;
export const PM1_EN = 0x02;
export const PM1_CNT = 0x04;
export const PM_TMR = 0x08;
export const PM_BLOCK_SIZE = 64;

export const PM1_TMR_STS = 0x0001;
export const PM1_BM_STS = 0x0010;
export const PM1_GBL_STS = 0x0020;
export const PM1_PWRBTN_STS = 0x0100;
export const PM1_SLPBTN_STS = 0x0200;
export const PM1_RTC_STS = 0x0400;
export const PM1_WAK_STS = 0x8000;
/** Status bits with an enable bit at the same position that raise SCI. */
const PM1_SCI_EVENTS = PM1_TMR_STS | PM1_GBL_STS | PM1_PWRBTN_STS | PM1_SLPBTN_STS | PM1_RTC_STS;
const PM1_EN_MASK = PM1_SCI_EVENTS;

export const PM1_CNT_SCI_EN = 0x0001;
export const PM1_CNT_BM_RLD = 0x0002;
export const PM1_CNT_GBL_RLS = 0x0004;
export const PM1_CNT_SLP_TYP_SHIFT = 10;
export const PM1_CNT_SLP_EN = 0x2000;

const TMR_MSB_TICKS = 1 << 23; // TMR_STS is set when bit 23 of the 24-bit counter toggles

/** PM1a event/control block and PM timer (an I/O handler for the PIIX4 PM function). */
export class AcpiPm implements IoHandler {
  /** PM1a_CNT written with SLP_EN and SLP_TYP = 5 (S5, soft off). */
  onPowerOff: (() => void) | null = null;
  /** Other sleep states requested (S1-S4): SLP_TYP value. */
  onSleep: ((slpTyp: number) => void) | null = null;

  private sts = 0;
  private en = 0;
  /** SCI_EN is set from the start: no SMI_CMD, the machine is always in ACPI mode. */
  private cnt = PM1_CNT_SCI_EN;
  private tmrEpoch = 0;
  private sciLevel = false;
  private readonly tmrTimer: Timer;

  constructor(
    private readonly clock: Clock,
    private readonly setIrq: SetIrq,
    readonly sciIrq = 9,
  ) {
    this.tmrTimer = clock.newTimer(() => this.update());
  }

  /** The 24-bit PM timer value now. */
  timer(): number {
    return this.ticks() & 0xffffff;
  }

  private ticks(): number {
    return Math.floor((this.clock.now() * PM_TIMER_FREQ) / 1e9);
  }

  /** Press the power button: PWRBTN_STS, and SCI if the OS enabled PWRBTN_EN. */
  powerButton(): void {
    this.sts |= PM1_PWRBTN_STS;
    this.update();
  }

  private status(): number {
    if (Math.floor(this.ticks() / TMR_MSB_TICKS) > this.tmrEpoch) this.sts |= PM1_TMR_STS;
    return this.sts;
  }

  private update(): void {
    const level = (this.cnt & PM1_CNT_SCI_EN) !== 0 && (this.status() & this.en & PM1_SCI_EVENTS) !== 0;
    if (level !== this.sciLevel) {
      this.sciLevel = level;
      this.setIrq(this.sciIrq, level);
    }
    if (this.en & PM1_TMR_STS && !(this.sts & PM1_TMR_STS)) {
      // Next bit-23 toggle, in virtual ns.
      const next = (this.tmrEpoch + 1) * TMR_MSB_TICKS;
      this.tmrTimer.mod(Math.ceil((next * 1e9) / PM_TIMER_FREQ));
    } else {
      this.tmrTimer.del();
    }
  }

  /** 16/32-bit register read at `offset` in the block. */
  private readReg(offset: number): number {
    switch (offset) {
      case PM1_STS:
        return this.status();
      case PM1_EN:
        return this.en;
      case PM1_CNT:
        return this.cnt; // SLP_EN is write-only and reads 0
      case PM_TMR:
        return this.timer();
      default:
        return 0;
    }
  }

  private writeReg(offset: number, value: number, byteMask: number): void {
    switch (offset) {
      case PM1_STS: {
        this.status();
        // Write 1 to clear. Clearing TMR_STS starts waiting for the next toggle.
        const clear = value & byteMask;
        if (clear & PM1_TMR_STS) this.tmrEpoch = Math.floor(this.ticks() / TMR_MSB_TICKS);
        this.sts &= ~clear;
        break;
      }
      case PM1_EN:
        this.en = ((this.en & ~byteMask) | (value & byteMask)) & PM1_EN_MASK;
        if (this.en & PM1_TMR_STS && !(this.sts & PM1_TMR_STS))
          this.tmrEpoch = Math.max(this.tmrEpoch, Math.floor(this.ticks() / TMR_MSB_TICKS));
        break;
      case PM1_CNT: {
        const v = (this.cnt & ~byteMask) | (value & byteMask);
        // SCI_EN stays set (no SMI_CMD to leave ACPI mode); SLP_EN is a trigger.
        this.cnt = (v & ~PM1_CNT_SLP_EN) | PM1_CNT_SCI_EN;
        if (v & PM1_CNT_SLP_EN) {
          const typ = (v >> PM1_CNT_SLP_TYP_SHIFT) & 7;
          if (typ === SLP_TYP_S5) this.onPowerOff?.();
          else this.onSleep?.(typ);
        }
        break;
      }
      default:
        break;
    }
    this.update();
  }

  private regBase(port: number): number {
    const off = port & (PM_BLOCK_SIZE - 1);
    return off >= PM_TMR && off < PM_TMR + 4 ? PM_TMR : off & ~1;
  }

  read8(port: number): number {
    const off = port & (PM_BLOCK_SIZE - 1);
    const base = this.regBase(port);
    return (this.readReg(base) >>> ((off - base) * 8)) & 0xff;
  }

  read16(port: number): number {
    const off = port & (PM_BLOCK_SIZE - 1);
    const base = this.regBase(port);
    return (this.readReg(base) >>> ((off - base) * 8)) & 0xffff;
  }

  read32(port: number): number {
    const off = port & (PM_BLOCK_SIZE - 1);
    if (off === PM_TMR) return this.timer();
    return this.read16(port) | (this.read16(port + 2) << 16);
  }

  write8(port: number, value: number): void {
    const off = port & (PM_BLOCK_SIZE - 1);
    const base = this.regBase(port);
    const shift = (off - base) * 8;
    this.writeReg(base, (value & 0xff) << shift, 0xff << shift);
  }

  write16(port: number, value: number): void {
    const off = port & (PM_BLOCK_SIZE - 1);
    this.writeReg(off & ~1, value & 0xffff, 0xffff);
  }

  write32(port: number, value: number): void {
    this.write16(port, value & 0xffff);
    this.write16(port + 2, value >>> 16);
  }
}

// ---------------------------------------------------------------------------------------------
// A tiny AML emitter (ACPI 1.0b §16.2). Each function returns the encoded bytes.

export type Aml = number[];

/** PkgLength: the length of what follows the opcode, including the PkgLength bytes themselves. */
export function amlPkgLength(bodyLen: number): Aml {
  if (bodyLen + 1 <= 0x3f) return [bodyLen + 1];
  for (let n = 1; n <= 3; n++) {
    const total = bodyLen + 1 + n;
    if (total < 1 << (4 + 8 * n)) {
      const out = [(n << 6) | (total & 0x0f)];
      for (let i = 0; i < n; i++) out.push((total >> (4 + 8 * i)) & 0xff);
      return out;
    }
  }
  throw new Error("AML package too large");
}

function nameSeg(seg: string): Aml {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(seg)) throw new Error(`bad AML name segment ${seg}`);
  const s = seg.padEnd(4, "_");
  return [...s].map((c) => c.charCodeAt(0));
}

/** NameString: optional root '\' or parent '^' prefixes, then dotted 4-char segments. */
export function amlName(path: string): Aml {
  const out: Aml = [];
  let i = 0;
  while (path[i] === "\\" || path[i] === "^") out.push(path.charCodeAt(i++));
  const segs = path
    .slice(i)
    .split(".")
    .filter((s) => s.length > 0);
  if (segs.length === 0)
    out.push(0x00); // NullName
  else if (segs.length === 2)
    out.push(0x2e); // DualNamePrefix
  else if (segs.length > 2) out.push(0x2f, segs.length); // MultiNamePrefix
  for (const s of segs) out.push(...nameSeg(s));
  return out;
}

export function amlInteger(v: number): Aml {
  if (v === 0) return [0x00]; // ZeroOp
  if (v === 1) return [0x01]; // OneOp
  if (v <= 0xff) return [0x0a, v]; // BytePrefix
  if (v <= 0xffff) return [0x0b, v & 0xff, v >> 8]; // WordPrefix
  if (v <= 0xffffffff) return [0x0c, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24]; // DWordPrefix
  throw new Error("AML integers above 32 bits are not needed here");
}

export function amlString(s: string): Aml {
  return [0x0d, ...[...s].map((c) => c.charCodeAt(0) & 0x7f), 0x00];
}

/** EISA ID ("PNP0501") as the 32-bit value _HID uses. */
export function amlEisaId(id: string): Aml {
  const c = (i: number): number => (id.charCodeAt(i) - 0x40) & 0x1f;
  const hex = Number.parseInt(id.slice(3), 16);
  const v = ((c(0) << 26) | (c(1) << 21) | (c(2) << 16) | hex) >>> 0;
  // Stored byte-swapped: the compressed vendor ID is big-endian.
  const swapped = ((v >>> 24) | ((v >>> 8) & 0xff00) | ((v << 8) & 0xff0000) | ((v & 0xff) << 24)) >>> 0;
  return amlInteger(swapped);
}

export function amlPackage(elements: Aml[]): Aml {
  const body = [elements.length, ...elements.flat()];
  return [0x12, ...amlPkgLength(body.length), ...body];
}

export function amlNameDecl(path: string, value: Aml): Aml {
  return [0x08, ...amlName(path), ...value];
}

export function amlScope(path: string, body: Aml[]): Aml {
  const inner = [...amlName(path), ...body.flat()];
  return [0x10, ...amlPkgLength(inner.length), ...inner];
}

export function amlDevice(path: string, body: Aml[]): Aml {
  const inner = [...amlName(path), ...body.flat()];
  return [0x5b, 0x82, ...amlPkgLength(inner.length), ...inner];
}

export function amlMethod(path: string, argCount: number, body: Aml[], serialized = false): Aml {
  const inner = [...amlName(path), (argCount & 7) | (serialized ? 0x08 : 0), ...body.flat()];
  return [0x14, ...amlPkgLength(inner.length), ...inner];
}

export function amlReturn(value: Aml): Aml {
  return [0xa4, ...value];
}

export function amlProcessor(
  path: string,
  procId: number,
  pblkAddr: number,
  pblkLen: number,
  body: Aml[] = [],
): Aml {
  const inner = [
    ...amlName(path),
    procId,
    pblkAddr & 0xff,
    (pblkAddr >> 8) & 0xff,
    (pblkAddr >> 16) & 0xff,
    pblkAddr >>> 24,
    pblkLen,
    ...body.flat(),
  ];
  return [0x5b, 0x83, ...amlPkgLength(inner.length), ...inner];
}

// ---------------------------------------------------------------------------------------------
// Tables.

const OEM_ID = "TSQEMU";
const OEM_TABLE_ID = "TSQEMUPC";
const CREATOR_ID = "TSQM";

export const SDT_HEADER_SIZE = 36;
export const FADT_REV1_SIZE = 116;
export const FACS_SIZE = 64;
export const RSDP_REV0_SIZE = 20;

// FADT field offsets (ACPI 1.0b Table 5-7).
export const FADT_FIRMWARE_CTRL = 36;
export const FADT_DSDT = 40;
export const FADT_SCI_INT = 46;
export const FADT_SMI_CMD = 48;
export const FADT_PM1A_EVT_BLK = 56;
export const FADT_PM1A_CNT_BLK = 64;
export const FADT_PM_TMR_BLK = 76;
export const FADT_PM1_EVT_LEN = 88;
export const FADT_PM1_CNT_LEN = 89;
export const FADT_PM_TMR_LEN = 91;
export const FADT_P_LVL2_LAT = 96;
export const FADT_P_LVL3_LAT = 98;
export const FADT_CENTURY = 108;
export const FADT_FLAGS = 112;

const FADT_F_WBINVD = 1 << 0;
const FADT_F_PROC_C1 = 1 << 2;
const FADT_F_SLP_BUTTON = 1 << 5; // no fixed-feature sleep button
const FADT_F_RTC_S4 = 1 << 7;

export interface AcpiOptions {
  /** I/O base of the PM block (PMBA). Default 0x600, like QEMU's PIIX4 PM. */
  pmBase?: number;
  /** SCI interrupt (ISA IRQ). Default 9. */
  sciIrq?: number;
  /** CMOS index of the RTC century byte. Default 0x32. */
  centuryIndex?: number;
  /** Extra AML appended to the DSDT's definition block (devices, processors...). */
  dsdtExtra?: Aml[];
  /** An HPET timer block to announce with an HPET table (IA-PC HPET 1.0a §3.2.4). */
  hpet?: AcpiHpet;
  /** Local APIC and I/O APIC to announce with a MADT (ACPI 1.0b §5.2.8). */
  apic?: AcpiApic;
}

export interface AcpiApic {
  /** Physical address of the local APIC. */
  lapicAddress: number;
  /** The processor's local APIC ID (one processor). */
  lapicId: number;
  ioapicAddress: number;
  ioapicId: number;
  /**
   * ISA IRQs that do not reach the I/O APIC pin of the same number, or not as ISA edge/high:
   * Interrupt Source Override entries (§5.2.8.3.1). `flags`: MPS INTI flags (polarity bits 0-1,
   * trigger mode bits 2-3; 0 = conforms to the bus).
   */
  overrides: { irq: number; gsi: number; flags: number }[];
  /** LINT pin wired to NMI on every processor (Local APIC NMI entry), or -1 for none. */
  nmiLint: number;
}

export interface AcpiHpet {
  /** Physical address of the register block (in system memory space). */
  address: number;
  /** Event Timer Block ID: the low 32 bits of the block's GCAP_ID register. */
  blockId: number;
  /** HPET sequence number (default 0). */
  number?: number;
  /** Main counter minimum clock tick in periodic mode (default 128). */
  minTick?: number;
}

export const HPET_TABLE_SIZE = 56;
/** MADT fixed part: SDT header, local APIC address, flags. */
export const MADT_HEADER_SIZE = 44;

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

export interface AcpiTables {
  rsdp: number;
  rsdt: number;
  fadt: number;
  facs: number;
  dsdt: number;
  /** The HPET table, when options.hpet was given. */
  hpet?: number;
  /** The MADT, when options.apic was given. */
  madt?: number;
  /** First guest-physical address after the tables (rsdp excluded). */
  end: number;
}

function putAscii(mem: Uint8Array, addr: number, s: string, len: number): void {
  for (let i = 0; i < len; i++) mem[addr + i] = i < s.length ? s.charCodeAt(i) : 0x20;
}

function put16(mem: Uint8Array, addr: number, v: number): void {
  mem[addr] = v & 0xff;
  mem[addr + 1] = (v >> 8) & 0xff;
}

function put32(mem: Uint8Array, addr: number, v: number): void {
  put16(mem, addr, v & 0xffff);
  put16(mem, addr + 2, v >>> 16);
}

/** Byte that makes `len` bytes at `addr` sum to 0 (mod 256), written at `addr + at`. */
function checksum(mem: Uint8Array, addr: number, len: number, at: number): void {
  mem[addr + at] = 0;
  let sum = 0;
  for (let i = 0; i < len; i++) sum += mem[addr + i]!;
  mem[addr + at] = (0x100 - (sum & 0xff)) & 0xff;
}

function sdtHeader(mem: Uint8Array, addr: number, sig: string, len: number, rev: number): void {
  putAscii(mem, addr, sig, 4);
  put32(mem, addr + 4, len);
  mem[addr + 8] = rev;
  putAscii(mem, addr + 10, OEM_ID, 6);
  putAscii(mem, addr + 16, OEM_TABLE_ID, 8);
  put32(mem, addr + 24, 1);
  putAscii(mem, addr + 28, CREATOR_ID, 4);
  put32(mem, addr + 32, 1);
}

/** The DSDT's AML body: \_S5_ (soft off) and whatever the board adds. */
export function buildDsdtAml(extra: Aml[] = []): Aml {
  // Package {SLP_TYPa, SLP_TYPb, reserved, reserved}; only PM1a exists.
  const s5 = amlNameDecl(
    "\\_S5_",
    amlPackage([amlInteger(SLP_TYP_S5), amlInteger(SLP_TYP_S5), amlInteger(0), amlInteger(0)]),
  );
  return [...s5, ...extra.flat()];
}

/**
 * Write FACS, DSDT, FADT and RSDT from `baseAddr` upward and the RSDP at `rsdpAddr` (which
 * must be 16-byte aligned and, for a BIOS-style scan, in E0000-FFFFF) into `mem`, a view of
 * guest-physical memory indexed by physical address.
 */
export function buildAcpiTables(
  mem: Uint8Array,
  baseAddr: number,
  rsdpAddr: number,
  options: AcpiOptions = {},
): AcpiTables {
  const pmBase = options.pmBase ?? 0x600;
  const sciIrq = options.sciIrq ?? 9;
  const align = (a: number, n: number): number => Math.ceil(a / n) * n;

  // FACS: 64-byte aligned (§5.2.9), no checksum.
  const facs = align(baseAddr, 64);
  mem.fill(0, facs, facs + FACS_SIZE);
  putAscii(mem, facs, "FACS", 4);
  put32(mem, facs + 4, FACS_SIZE);

  const aml = buildDsdtAml(options.dsdtExtra);
  const dsdt = align(facs + FACS_SIZE, 16);
  const dsdtLen = SDT_HEADER_SIZE + aml.length;
  mem.fill(0, dsdt, dsdt + dsdtLen);
  sdtHeader(mem, dsdt, "DSDT", dsdtLen, 1); // revision 1: 32-bit AML integers
  mem.set(aml, dsdt + SDT_HEADER_SIZE);
  checksum(mem, dsdt, dsdtLen, 9);

  const fadt = align(dsdt + dsdtLen, 16);
  mem.fill(0, fadt, fadt + FADT_REV1_SIZE);
  sdtHeader(mem, fadt, "FACP", FADT_REV1_SIZE, 1);
  put32(mem, fadt + FADT_FIRMWARE_CTRL, facs);
  put32(mem, fadt + FADT_DSDT, dsdt);
  put16(mem, fadt + FADT_SCI_INT, sciIrq);
  put32(mem, fadt + FADT_SMI_CMD, 0); // no SMI command port: ACPI mode is always on
  put32(mem, fadt + FADT_PM1A_EVT_BLK, pmBase + PM1_STS);
  put32(mem, fadt + FADT_PM1A_CNT_BLK, pmBase + PM1_CNT);
  put32(mem, fadt + FADT_PM_TMR_BLK, pmBase + PM_TMR);
  mem[fadt + FADT_PM1_EVT_LEN] = 4;
  mem[fadt + FADT_PM1_CNT_LEN] = 2;
  mem[fadt + FADT_PM_TMR_LEN] = 4;
  put16(mem, fadt + FADT_P_LVL2_LAT, 0x0fff); // > 100: C2 not supported
  put16(mem, fadt + FADT_P_LVL3_LAT, 0x0fff); // > 1000: C3 not supported
  mem[fadt + FADT_CENTURY] = options.centuryIndex ?? 0x32;
  put32(mem, fadt + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_RTC_S4);
  checksum(mem, fadt, FADT_REV1_SIZE, 9);

  // HPET description table (IA-PC HPET 1.0a §3.2.4): block ID at 36, base address as a Generic
  // Address Structure at 40 (system memory, 64-bit registers), HPET number at 52, minimum tick
  // at 53, page protection at 55 (1: the block's 4 KiB page holds nothing else).
  let hpet: number | undefined;
  const tables = [fadt];
  let next = fadt + FADT_REV1_SIZE;
  if (options.hpet) {
    hpet = align(next, 16);
    mem.fill(0, hpet, hpet + HPET_TABLE_SIZE);
    sdtHeader(mem, hpet, "HPET", HPET_TABLE_SIZE, 1);
    put32(mem, hpet + 36, options.hpet.blockId);
    mem[hpet + 40] = 0; // address space: system memory
    mem[hpet + 41] = 64; // register bit width
    mem[hpet + 42] = 0; // register bit offset
    put32(mem, hpet + 44, options.hpet.address);
    put32(mem, hpet + 48, 0);
    mem[hpet + 52] = options.hpet.number ?? 0;
    put16(mem, hpet + 53, options.hpet.minTick ?? 128);
    mem[hpet + 55] = 1;
    checksum(mem, hpet, HPET_TABLE_SIZE, 9);
    tables.push(hpet);
    next = hpet + HPET_TABLE_SIZE;
  }

  // MADT (ACPI 1.0b §5.2.8): local APIC address and PCAT_COMPAT (8259As present) after the header,
  // then one Processor Local APIC entry, the I/O APIC, the interrupt source overrides and the
  // Local APIC NMI entry.
  let madt: number | undefined;
  if (options.apic) {
    const a = options.apic;
    const entries: number[] = [];
    entries.push(0, 8, 0, a.lapicId, 1, 0, 0, 0); // processor 0, enabled
    entries.push(1, 12, a.ioapicId, 0, ...le32(a.ioapicAddress), ...le32(0)); // GSI base 0
    for (const o of a.overrides) entries.push(2, 10, 0, o.irq, ...le32(o.gsi), o.flags & 0xff, o.flags >> 8);
    if (a.nmiLint >= 0) entries.push(4, 6, 0xff, 0, 0, a.nmiLint); // all processors
    const len = MADT_HEADER_SIZE + entries.length;
    madt = align(next, 16);
    mem.fill(0, madt, madt + len);
    sdtHeader(mem, madt, "APIC", len, 1);
    put32(mem, madt + 36, a.lapicAddress);
    put32(mem, madt + 40, 1); // PCAT_COMPAT
    mem.set(entries, madt + MADT_HEADER_SIZE);
    checksum(mem, madt, len, 9);
    tables.push(madt);
    next = madt + len;
  }

  const rsdt = align(next, 16);
  const rsdtLen = SDT_HEADER_SIZE + 4 * tables.length;
  mem.fill(0, rsdt, rsdt + rsdtLen);
  sdtHeader(mem, rsdt, "RSDT", rsdtLen, 1);
  for (let i = 0; i < tables.length; i++) put32(mem, rsdt + SDT_HEADER_SIZE + 4 * i, tables[i]!);
  checksum(mem, rsdt, rsdtLen, 9);

  if (rsdpAddr & 15) throw new Error("RSDP must be 16-byte aligned");
  mem.fill(0, rsdpAddr, rsdpAddr + RSDP_REV0_SIZE);
  putAscii(mem, rsdpAddr, "RSD PTR ", 8);
  putAscii(mem, rsdpAddr + 9, OEM_ID, 6);
  mem[rsdpAddr + 15] = 0; // revision 0 (ACPI 1.0)
  put32(mem, rsdpAddr + 16, rsdt);
  checksum(mem, rsdpAddr, RSDP_REV0_SIZE, 8);

  return { rsdp: rsdpAddr, rsdt, fadt, facs, dsdt, hpet, madt, end: rsdt + rsdtLen };
}
