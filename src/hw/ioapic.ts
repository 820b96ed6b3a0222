// Intel 82093AA I/O APIC (datasheet 290566-001, May 1996): 24 interrupt pins, each with a 64-bit
// redirection entry, behind an index/data register pair at 0xFEC00000 (IOREGSEL at +0x00, IOWIN
// at +0x10, §3.0).
//
// A pin whose entry is unmasked sends an interrupt message to the local APICs its destination
// names: on each rising edge when edge-triggered; while asserted when level-triggered, and then
// not again until the local APIC's EOI for that vector clears Remote IRR (§3.2.4). Masked edges
// are lost; a masked level request is sent when the entry is unmasked while the line is still
// asserted.
//
// The board's interrupt lines carry logical levels (asserted / not asserted), so the polarity bit
// is kept for software but does not invert anything, as in QEMU's model.
//
// Wiring on the PC board (as QEMU's and Intel's chipsets do it, announced in the ACPI MADT): ISA
// IRQ n drives pin n, except the timer IRQ0 which drives pin 2; the SCI is IRQ 9, level-triggered.

import type { MmioHandler } from "../machine/mmio.ts";
import type { LocalApic } from "./apic.ts";

export const IOAPIC_DEFAULT_BASE = 0xfec00000;
export const IOAPIC_MMIO_SIZE = 0x1000;
export const IOAPIC_PINS = 24;

// Direct registers (§3.0) and indirect registers (§3.2).
export const IOAPIC_IOREGSEL = 0x00;
export const IOAPIC_IOWIN = 0x10;
export const IOAPIC_REG_ID = 0x00;
export const IOAPIC_REG_VER = 0x01;
export const IOAPIC_REG_ARB = 0x02;
export const IOAPIC_REG_REDTBL = 0x10;
/** IOAPICVER: version 0x11 and the maximum redirection entry index (23). */
export const IOAPIC_VERSION = ((IOAPIC_PINS - 1) << 16) | 0x11;

// Redirection entry, low dword (§3.2.4).
export const IOAPIC_DELIVERY_STATUS = 1 << 12;
export const IOAPIC_POLARITY_LOW = 1 << 13;
export const IOAPIC_REMOTE_IRR = 1 << 14;
export const IOAPIC_LEVEL = 1 << 15;
export const IOAPIC_MASKED = 1 << 16;
export const IOAPIC_DEST_LOGICAL = 1 << 11;
/** Bits software may write in the low dword (delivery status and Remote IRR are read-only). */
const LOW_WRITABLE = 0x1afff;

export class IoApic implements MmioHandler {
  id: number;
  private regsel = 0;
  private readonly low = new Int32Array(IOAPIC_PINS);
  private readonly high = new Int32Array(IOAPIC_PINS);
  /** Current level of each input pin. */
  private levels = 0;

  constructor(
    private readonly lapic: LocalApic,
    private readonly resetId = 0,
  ) {
    this.id = resetId;
    this.reset();
  }

  reset(): void {
    this.id = this.resetId;
    this.regsel = 0;
    this.low.fill(IOAPIC_MASKED);
    this.high.fill(0);
    this.levels = 0;
  }

  /** An input pin changed level (true = asserted). */
  setPin(pin: number, level: boolean): void {
    if (pin < 0 || pin >= IOAPIC_PINS) return;
    const bit = 1 << pin;
    const was = (this.levels & bit) !== 0;
    this.levels = level ? this.levels | bit : this.levels & ~bit;
    if (!level) return;
    const e = this.low[pin]!;
    if ((e & IOAPIC_LEVEL) !== 0) this.service(pin);
    else if (!was && (e & IOAPIC_MASKED) === 0) this.send(pin);
  }

  /** Level-triggered pin: send when asserted, unmasked and not already waiting for its EOI. */
  private service(pin: number): void {
    const e = this.low[pin]!;
    if ((this.levels & (1 << pin)) === 0 || (e & (IOAPIC_MASKED | IOAPIC_REMOTE_IRR)) !== 0) return;
    this.send(pin);
  }

  private send(pin: number): void {
    const e = this.low[pin]!;
    const level = (e & IOAPIC_LEVEL) !== 0;
    if (!this.lapic.matchesDestination(this.high[pin]! >>> 24, (e & IOAPIC_DEST_LOGICAL) !== 0)) return;
    const mode = e & (7 << 8);
    // Remote IRR is set when a local APIC accepts a level-triggered fixed/lowest-priority message.
    if (level && mode <= 1 << 8) this.low[pin] = e | IOAPIC_REMOTE_IRR;
    this.lapic.deliver(mode, e & 0xff, level);
  }

  /** EOI broadcast from the local APIC (§3.2.4, Remote IRR): level pins with that vector may resend. */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const e = this.low[pin]!;
      if ((e & 0xff) !== vector || (e & IOAPIC_REMOTE_IRR) === 0) continue;
      this.low[pin] = e & ~IOAPIC_REMOTE_IRR;
      this.service(pin);
    }
  }

  read(offset: number, size: number): number {
    let v: number;
    if ((offset & ~3) === IOAPIC_IOREGSEL) v = this.regsel;
    else if ((offset & ~3) === IOAPIC_IOWIN) v = this.readIndirect(this.regsel);
    else return 0;
    const shift = (offset & 3) * 8;
    return size === 4 ? v : (v >>> shift) & (size === 2 ? 0xffff : 0xff);
  }

  write(offset: number, size: number, value: number): void {
    if (offset === IOAPIC_IOREGSEL) this.regsel = value & 0xff;
    else if (offset === IOAPIC_IOWIN && size === 4) this.writeIndirect(this.regsel, value | 0);
  }

  private readIndirect(index: number): number {
    if (index === IOAPIC_REG_ID || index === IOAPIC_REG_ARB) return (this.id & 0xf) << 24;
    if (index === IOAPIC_REG_VER) return IOAPIC_VERSION;
    const pin = (index - IOAPIC_REG_REDTBL) >> 1;
    if (index < IOAPIC_REG_REDTBL || pin >= IOAPIC_PINS) return 0;
    return (index & 1) === 0 ? this.low[pin]! : this.high[pin]!;
  }

  private writeIndirect(index: number, v: number): void {
    if (index === IOAPIC_REG_ID) {
      this.id = (v >>> 24) & 0xf;
      return;
    }
    const pin = (index - IOAPIC_REG_REDTBL) >> 1;
    if (index < IOAPIC_REG_REDTBL || pin >= IOAPIC_PINS) return;
    if ((index & 1) === 1) {
      this.high[pin] = v & 0xff000000;
      return;
    }
    let e = (this.low[pin]! & ~LOW_WRITABLE) | (v & LOW_WRITABLE);
    // An edge-triggered entry has no Remote IRR to wait on.
    if ((e & IOAPIC_LEVEL) === 0) e &= ~IOAPIC_REMOTE_IRR;
    this.low[pin] = e;
    if ((e & (IOAPIC_LEVEL | IOAPIC_MASKED)) === IOAPIC_LEVEL) this.service(pin);
  }

  /** `info pic`'s I/O APIC part: one line per redirection entry. */
  dump(): string {
    const modes = ["fixed", "lowest", "SMI", "res", "NMI", "INIT", "res", "ExtINT"];
    const lines = [
      `ioapic0: ver=0x${(IOAPIC_VERSION & 0xff).toString(16)} id=0x${this.id.toString(16).padStart(2, "0")} sel=0x${this.regsel.toString(16).padStart(2, "0")}`,
    ];
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const e = this.low[pin]!;
      const dest = this.high[pin]! >>> 24;
      lines.push(
        `  pin ${String(pin).padStart(2)} 0x${(this.high[pin]! >>> 0).toString(16).padStart(8, "0")}${(e >>> 0).toString(16).padStart(8, "0")}` +
          ` ${(e & IOAPIC_DEST_LOGICAL) !== 0 ? "logical" : "physical"} dest=0x${dest.toString(16)}` +
          ` ${(e & IOAPIC_LEVEL) !== 0 ? "level" : "edge"} ${(e & IOAPIC_POLARITY_LOW) !== 0 ? "active-lo" : "active-hi"}` +
          ` ${modes[(e >> 8) & 7]} vec=${e & 0xff}${(e & IOAPIC_MASKED) !== 0 ? " (masked)" : ""}${(e & IOAPIC_REMOTE_IRR) !== 0 ? " (IRR)" : ""}`,
      );
    }
    return lines.join("\n");
  }
}
