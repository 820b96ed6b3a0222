// PCI bus 0 of an i440FX/PIIX3 PC: configuration mechanism #1 (0xCF8 address, 0xCFC-0xCFF
// data), PIIX3's reset control register at 0xCF9, generic devices with a 256-byte config
// space, write masks and BARs, and the three chipset functions every PC guest expects:
//   00:00.0 i440FX host bridge (8086:1237), 00:01.0 PIIX3 PCI-to-ISA bridge (8086:7000) with
//   the PIRQ route registers, 00:01.3 PIIX4 power management (8086:7113) whose PMBA maps the
//   ACPI PM1/PM-timer block (see acpi.ts).
//
// References: PCI Local Bus Specification 2.1 §3.2.2.3.2 (mechanism #1), §6.1-6.2 (header,
// BARs); Intel 82441FX PMC datasheet §3.2 (PAM, SMRAM); 82371SB PIIX3 datasheet §2.2 (PIRQRC,
// RC register at 0xCF9); 82371AB PIIX4 datasheet §3.4 (PMBA 0x40, PMREGMISC 0x80).

import type { IoBus, IoHandler } from "../machine/ioport.ts";
import type { SetIrq } from "../machine/irq.ts";

export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CLASS_DEVICE = 0x0a;
export const PCI_CACHE_LINE_SIZE = 0x0c;
export const PCI_LATENCY_TIMER = 0x0d;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;

export const PCI_COMMAND_IO = 0x0001;
export const PCI_COMMAND_MEMORY = 0x0002;
export const PCI_COMMAND_MASTER = 0x0004;
export const PCI_COMMAND_INTX_DISABLE = 0x0400;
export const PCI_HEADER_TYPE_MULTI_FUNCTION = 0x80;
export const PCI_BASE_ADDRESS_SPACE_IO = 0x01;

/** devfn = slot << 3 | function. */
export const PCI_DEVFN = (slot: number, fn: number): number => ((slot & 0x1f) << 3) | (fn & 7);

const CONFIG_ENABLE = 0x80000000;
/** PIIX3 reset control register bits (0xCF9). */
const RC_SRST = 0x02;
const RC_RCPU = 0x04;

export type PciBarKind = "io" | "mem32";

interface PciBar {
  size: number;
  kind: PciBarKind;
  /** Currently decoded address, -1 when not decoded. */
  mapped: number;
  onMap: (addr: number) => void;
}

/** A PCI function: config space with per-byte write masks. Subclass it for real devices. */
export class PciDevice {
  readonly config = new Uint8Array(256);
  /** Bits the guest may write. */
  readonly wmask = new Uint8Array(256);
  /** Bits cleared by writing 1 (status register). */
  readonly w1cmask = new Uint8Array(256);
  devfn = -1;
  bus: PciBus | null = null;
  private readonly bars: (PciBar | undefined)[] = [];
  private intxLevel = false;

  constructor(vendorId: number, deviceId: number, classCode: number, revision = 0, headerType = 0) {
    this.set16(PCI_VENDOR_ID, vendorId);
    this.set16(PCI_DEVICE_ID, deviceId);
    this.config[PCI_REVISION_ID] = revision;
    this.config[PCI_CLASS_PROG] = classCode & 0xff;
    this.set16(PCI_CLASS_DEVICE, classCode >> 8);
    this.config[PCI_HEADER_TYPE] = headerType;
    const cmd = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | 0x0140 | PCI_COMMAND_INTX_DISABLE;
    this.wmask[PCI_COMMAND] = cmd & 0xff;
    this.wmask[PCI_COMMAND + 1] = cmd >> 8;
    this.w1cmask[PCI_STATUS + 1] = 0xf9; // error bits 15:11 and 8 (master data parity error)
    this.wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    this.wmask[PCI_LATENCY_TIMER] = 0xff;
    this.wmask[PCI_INTERRUPT_LINE] = 0xff;
  }

  set16(addr: number, v: number): void {
    this.config[addr] = v & 0xff;
    this.config[addr + 1] = (v >> 8) & 0xff;
  }

  set32(addr: number, v: number): void {
    this.set16(addr, v & 0xffff);
    this.set16(addr + 2, v >>> 16);
  }

  get16(addr: number): number {
    return this.config[addr]! | (this.config[addr + 1]! << 8);
  }

  get32(addr: number): number {
    return (this.get16(addr) | (this.get16(addr + 2) << 16)) >>> 0;
  }

  /** Make `count` bytes from `addr` fully guest-writable. */
  setWritable(addr: number, count: number, mask = 0xff): void {
    for (let i = 0; i < count; i++) this.wmask[addr + i] = mask;
  }

  /**
   * Declare BAR `index` (0-5) of `size` bytes (a power of two; I/O BARs at least 4, memory at
   * least 16). `onMap(addr)` is called whenever the decoded address changes (-1: not decoded).
   */
  defineBar(index: number, size: number, kind: PciBarKind, onMap: (addr: number) => void): void {
    const addr = PCI_BASE_ADDRESS_0 + index * 4;
    const mask = ~(size - 1) & (kind === "io" ? 0xfffffffc : 0xfffffff0);
    for (let i = 0; i < 4; i++) this.wmask[addr + i] = (mask >>> (i * 8)) & 0xff;
    this.config[addr] = kind === "io" ? PCI_BASE_ADDRESS_SPACE_IO : 0;
    this.bars[index] = { size, kind, mapped: -1, onMap };
  }

  barAddress(index: number): number {
    return this.bars[index]?.mapped ?? -1;
  }

  configRead(addr: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.config[(addr + i) & 0xff]!;
    return v >>> 0;
  }

  configWrite(addr: number, value: number, size: number): void {
    for (let i = 0; i < size; i++) {
      const a = (addr + i) & 0xff;
      const b = (value >>> (i * 8)) & 0xff;
      const wm = this.wmask[a]!;
      const w1c = this.w1cmask[a]!;
      this.config[a] = ((this.config[a]! & ~wm) | (b & wm)) & ~(b & w1c);
    }
    if (addr < 0x28 && addr + size > PCI_COMMAND) this.updateBars();
    if (addr <= PCI_COMMAND + 1 && addr + size > PCI_COMMAND + 1) this.updateIntx();
    this.onConfigWrite(addr, size);
  }

  /** Hook for device-specific registers; called after the masked write landed. */
  protected onConfigWrite(_addr: number, _size: number): void {}

  private updateBars(): void {
    const cmd = this.get16(PCI_COMMAND);
    for (let i = 0; i < 6; i++) {
      const bar = this.bars[i];
      if (!bar) continue;
      const raw = this.get32(PCI_BASE_ADDRESS_0 + i * 4);
      let addr: number;
      if (bar.kind === "io") {
        addr = (raw & 0xfffffffc) >>> 0;
        if (!(cmd & PCI_COMMAND_IO) || addr === 0 || addr + bar.size > 0x10000) addr = -1;
      } else {
        addr = (raw & 0xfffffff0) >>> 0;
        // A BAR being sized (all ones written) or at 0 is not decoded.
        if (!(cmd & PCI_COMMAND_MEMORY) || addr === 0 || addr + bar.size > 0x100000000) addr = -1;
      }
      if (addr !== bar.mapped) {
        bar.mapped = addr;
        bar.onMap(addr);
      }
    }
  }

  /** Drive this function's INTx pin (the pin in config 0x3D). */
  setIntx(level: boolean): void {
    this.intxLevel = level;
    this.updateIntx();
  }

  private intxOut = false;
  private updateIntx(): void {
    const out = this.intxLevel && !(this.get16(PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
    if (out === this.intxOut) return;
    this.intxOut = out;
    const pin = this.config[PCI_INTERRUPT_PIN]!;
    if (pin >= 1 && pin <= 4) this.bus?.intxChanged(this, pin - 1, out);
  }
}

/** Bus 0 with configuration mechanism #1. */
export class PciBus {
  readonly devices: (PciDevice | undefined)[] = new Array(256);
  private address = 0;
  private rcr = 0;
  /** PIIX3 RC register write with RCPU set: reset the machine. */
  onReset: (() => void) | null = null;
  /** PCI INTA#-INTD# → PIRQ[A-D]# line levels, consumed by the PIIX3 router. */
  private readonly pirqCount = [0, 0, 0, 0];
  onPirqChange: ((pirq: number, level: boolean) => void) | null = null;

  constructor(io?: IoBus) {
    if (io) this.registerPorts(io);
  }

  registerPorts(io: IoBus): void {
    const handler: IoHandler = {
      read8: (port) => this.ioRead(port, 1),
      read16: (port) => this.ioRead(port, 2),
      read32: (port) => this.ioRead(port, 4),
      write8: (port, v) => this.ioWrite(port, v, 1),
      write16: (port, v) => this.ioWrite(port, v, 2),
      write32: (port, v) => this.ioWrite(port, v, 4),
    };
    io.register(0xcf8, 8, handler);
  }

  addDevice(dev: PciDevice, devfn: number): void {
    if (this.devices[devfn]) throw new Error(`PCI devfn ${devfn.toString(16)} already in use`);
    dev.devfn = devfn;
    dev.bus = this;
    this.devices[devfn] = dev;
  }

  /** First free slot (function 0) from `from` on, for cards added after the chipset. */
  freeSlot(from = 2): number {
    for (let s = from; s < 32; s++) if (!this.devices[PCI_DEVFN(s, 0)]) return s;
    throw new Error("no free PCI slot");
  }

  configRead(bus: number, devfn: number, addr: number, size: number): number {
    const dev = bus === 0 ? this.devices[devfn] : undefined;
    if (!dev) return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    return dev.configRead(addr, size);
  }

  configWrite(bus: number, devfn: number, addr: number, value: number, size: number): void {
    const dev = bus === 0 ? this.devices[devfn] : undefined;
    dev?.configWrite(addr, value, size);
  }

  private ioRead(port: number, size: number): number {
    if (port >= 0xcfc) {
      if (!(this.address & CONFIG_ENABLE)) return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
      const a = this.address;
      return this.configRead((a >> 16) & 0xff, (a >> 8) & 0xff, (a & 0xfc) | (port & 3), size);
    }
    if (port === 0xcf8 && size === 4) return this.address >>> 0;
    if (port === 0xcf9 && size === 1) return this.rcr;
    return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
  }

  private ioWrite(port: number, value: number, size: number): void {
    if (port >= 0xcfc) {
      if (!(this.address & CONFIG_ENABLE)) return;
      const a = this.address;
      this.configWrite((a >> 16) & 0xff, (a >> 8) & 0xff, (a & 0xfc) | (port & 3), value, size);
      return;
    }
    // Only a dword write to 0xCF8 loads the address (byte writes are other chipset registers).
    if (port === 0xcf8 && size === 4) {
      this.address = (value & 0x80fffffc) >>> 0;
    } else if (port === 0xcf9 && size === 1) {
      this.rcr = value & RC_SRST;
      if (value & RC_RCPU) this.onReset?.();
    }
  }

  /** i440FX wiring: slot N's INTx lands on PIRQ[(N + x - 1) & 3] (QEMU/SeaBIOS convention). */
  intxChanged(dev: PciDevice, pin: number, level: boolean): void {
    const pirq = ((dev.devfn >> 3) + pin - 1) & 3;
    const before = this.pirqCount[pirq]! > 0;
    this.pirqCount[pirq]! += level ? 1 : -1;
    const after = this.pirqCount[pirq]! > 0;
    if (before !== after) this.onPirqChange?.(pirq, after);
  }

  pirqLevel(pirq: number): boolean {
    return this.pirqCount[pirq]! > 0;
  }
}

export const PAM0 = 0x59;
export const SMRAM = 0x72;

/** 82441FX PCI and memory controller: host bridge 00:00.0. */
export class I440fx extends PciDevice {
  /** PAM register written (BIOS shadowing of C0000-FFFFF): register offset and value. */
  onPamChange: ((reg: number, value: number) => void) | null = null;

  constructor() {
    super(0x8086, 0x1237, 0x060000, 0x02);
    this.setWritable(PAM0, 7, 0x33); // each PAM nibble: RE (bit 0/4) and WE (bit 1/5)
    this.wmask[PAM0] = 0x30;
    this.config[SMRAM] = 0x02;
    this.wmask[SMRAM] = 0x78;
  }

  protected override onConfigWrite(addr: number, size: number): void {
    for (let r = PAM0; r < PAM0 + 7; r++)
      if (r >= addr && r < addr + size) this.onPamChange?.(r, this.config[r]!);
  }
}

export const PIIX_PIRQCA = 0x60;
const PIIX_PIRQ_DISABLE = 0x80;

/** 82371SB PIIX3 function 0: PCI-to-ISA bridge 00:01.0 with the PIRQ router. */
export class Piix3 extends PciDevice {
  private readonly isaLevel: boolean[] = new Array<boolean>(16).fill(false);

  constructor(
    private readonly pciBus: PciBus,
    private readonly setIsaIrq: SetIrq,
  ) {
    super(0x8086, 0x7000, 0x060100, 0x00, PCI_HEADER_TYPE_MULTI_FUNCTION);
    this.wmask[PCI_COMMAND] = 0; // the ISA bridge's command bits are hardwired
    this.wmask[PCI_COMMAND + 1] = 0;
    this.set16(PCI_COMMAND, 0x0007);
    this.set16(PCI_STATUS, 0x0200); // DEVSEL medium
    for (let i = 0; i < 4; i++) this.config[PIIX_PIRQCA + i] = PIIX_PIRQ_DISABLE;
    this.setWritable(PIIX_PIRQCA, 4, 0x8f);
    this.setWritable(0x4c, 4); // IORT, XBCS
    this.setWritable(0x69, 3); // TOM, MSTAT
    this.setWritable(0x70, 1, 0xcf); // MBIRQ0
    this.setWritable(0x76, 2); // MBDMA
    this.setWritable(0x78, 2); // PCSC
    this.setWritable(0x80, 1); // APICBASE
    this.setWritable(0x82, 1); // DLC
    this.setWritable(0xa0, 16); // SMI control
    this.config[0x4c] = 0x4d;
    this.config[0x4e] = 0x03;
    this.config[0x69] = 0x02;
    pciBus.onPirqChange = () => this.updateIrqs();
  }

  /** ISA IRQ a PIRQ line is routed to, or -1 when routing is disabled. */
  pirqRoute(pirq: number): number {
    const v = this.config[PIIX_PIRQCA + pirq]!;
    return v & PIIX_PIRQ_DISABLE ? -1 : v & 0x0f;
  }

  /** What SeaBIOS programs when there is no firmware: PIRQA-D → IRQ 10, 10, 11, 11. */
  setDefaultRouting(irqs: readonly number[] = [10, 10, 11, 11]): void {
    for (let i = 0; i < 4; i++) this.config[PIIX_PIRQCA + i] = irqs[i]! & 0x0f;
    this.updateIrqs();
  }

  protected override onConfigWrite(addr: number, size: number): void {
    if (addr < PIIX_PIRQCA + 4 && addr + size > PIIX_PIRQCA) this.updateIrqs();
  }

  private updateIrqs(): void {
    const want: boolean[] = new Array<boolean>(16).fill(false);
    for (let p = 0; p < 4; p++) {
      const irq = this.pirqRoute(p);
      if (irq >= 0 && this.pciBus.pirqLevel(p)) want[irq] = true;
    }
    for (let irq = 0; irq < 16; irq++) {
      if (want[irq] !== this.isaLevel[irq]) {
        this.isaLevel[irq] = want[irq]!;
        this.setIsaIrq(irq, want[irq]!);
      }
    }
  }
}

export const PIIX4_PMBA = 0x40;
export const PIIX4_PMREGMISC = 0x80;
const PMREGMISC_PMIOSE = 0x01;

/**
 * 82371AB PIIX4 function 3: power management (00:01.3). Maps `pmHandler` (the ACPI PM1 event,
 * PM1 control and PM timer block, 64 bytes) at PMBA when PMREGMISC.PMIOSE is set.
 */
export class Piix4Pm extends PciDevice {
  private mappedBase = -1;

  constructor(
    private readonly io: IoBus,
    private readonly pmHandler: IoHandler,
    private readonly pmSize = 64,
  ) {
    super(0x8086, 0x7113, 0x068000, 0x03);
    this.config[PCI_INTERRUPT_PIN] = 1;
    this.config[PCI_INTERRUPT_LINE] = 9; // SCI
    this.set32(PIIX4_PMBA, PCI_BASE_ADDRESS_SPACE_IO);
    this.setWritable(PIIX4_PMBA, 4);
    this.wmask[PIIX4_PMBA] = 0xc0; // 64-byte aligned, bit 0 reads 1
    this.wmask[PIIX4_PMBA + 2] = 0;
    this.wmask[PIIX4_PMBA + 3] = 0;
    this.wmask[PIIX4_PMREGMISC] = PMREGMISC_PMIOSE;
    this.setWritable(0x90, 4); // SMBBA
    this.wmask[0x90] = 0xf0;
    this.config[0x90] = PCI_BASE_ADDRESS_SPACE_IO;
    this.wmask[0xd2] = 0x0f; // SMBHSTCFG
  }

  /** Firmware's job done by the board: PMBA = `base`, PM I/O space enabled. */
  setBase(base: number): void {
    this.configWrite(PIIX4_PMBA, base | PCI_BASE_ADDRESS_SPACE_IO, 4);
    this.configWrite(PIIX4_PMREGMISC, PMREGMISC_PMIOSE, 1);
  }

  /** Where the PM block is decoded now, -1 if disabled. */
  get pmBase(): number {
    return this.mappedBase;
  }

  protected override onConfigWrite(addr: number, size: number): void {
    const touches = (r: number, n: number): boolean => addr < r + n && addr + size > r;
    if (!touches(PIIX4_PMBA, 4) && !touches(PIIX4_PMREGMISC, 1)) return;
    let base = this.config[PIIX4_PMREGMISC]! & PMREGMISC_PMIOSE ? this.get32(PIIX4_PMBA) & 0xffc0 : -1;
    if (base === 0) base = -1; // never decode over the DMA controller at 0
    if (base === this.mappedBase) return;
    if (this.mappedBase > 0) this.io.unregister(this.mappedBase, this.pmSize);
    this.mappedBase = base;
    if (base > 0) this.io.register(base, this.pmSize, this.pmHandler);
  }
}
