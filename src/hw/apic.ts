// Local APIC of the boot processor (Intel SDM Vol. 3A, chapter 11 "Advanced Programmable Interrupt
// Controller"), memory-mapped at 0xFEE00000 as the IA32_APIC_BASE MSR says (§11.4.4).
//
// It is the CPU's interrupt controller: the 8259A pair reaches the CPU through LINT0 when that pin
// is programmed ExtINT (virtual-wire mode, §11.5.1 and MP spec 1.4 §3.6.2.2), and the I/O APIC,
// the APIC timer and self-IPIs set bits in the IRR. Delivery follows §11.8: the highest vector in
// the IRR is dispatched when its priority class is above the processor priority (PPR, §11.8.3.1),
// moves to the ISR, and leaves it at the EOI write; level-triggered vectors (TMR set) broadcast
// their EOI to the I/O APIC (§11.8.5). ExtINT bypasses IRR/ISR: the vector comes from the 8259A's
// INTA cycle.
//
// The state after reset is what a PC BIOS leaves for the OS (there is no BIOS in front of a
// -kernel boot): software-enabled with spurious vector 0xFF, LINT0 = ExtINT and LINT1 = NMI, so
// the 8259A keeps working until the kernel programs the APIC itself.
//
// The timer (§11.5.4) counts at the core crystal clock CPUID leaf 15H reports (1 GHz here, like
// QEMU's APIC bus clock, so the count follows the board's virtual nanoseconds) divided by the
// Divide Configuration Register; one-shot and periodic modes. TSC-deadline mode is not offered
// (CPUID.1:ECX[24] = 0). Thermal, performance counter and CMCI interrupts never occur; the error
// LVT is kept but no error is ever latched except for illegal vectors (§11.5.3).

import { CRYSTAL_HZ } from "../cpu/cpuid.ts";
import type { Clock, Timer } from "../machine/clock.ts";
import type { InterruptController } from "../machine/irq.ts";
import type { MmioHandler } from "../machine/mmio.ts";

export const APIC_DEFAULT_BASE = 0xfee00000;
export const APIC_MMIO_SIZE = 0x1000;

// IA32_APIC_BASE (MSR 0x1B, §11.4.4).
export const APIC_BASE_BSP = 1 << 8;
export const APIC_BASE_ENABLE = 1 << 11;

// Register offsets (§11.4.1, Table 11-1).
export const APIC_ID = 0x20;
export const APIC_LVR = 0x30;
export const APIC_TPR = 0x80;
export const APIC_APR = 0x90;
export const APIC_PPR = 0xa0;
export const APIC_EOI = 0xb0;
export const APIC_RRD = 0xc0;
export const APIC_LDR = 0xd0;
export const APIC_DFR = 0xe0;
export const APIC_SVR = 0xf0;
export const APIC_ISR = 0x100;
export const APIC_TMR = 0x180;
export const APIC_IRR = 0x200;
export const APIC_ESR = 0x280;
export const APIC_ICR_LO = 0x300;
export const APIC_ICR_HI = 0x310;
export const APIC_LVT_TIMER = 0x320;
export const APIC_LVT_THERMAL = 0x330;
export const APIC_LVT_PERF = 0x340;
export const APIC_LVT_LINT0 = 0x350;
export const APIC_LVT_LINT1 = 0x360;
export const APIC_LVT_ERROR = 0x370;
export const APIC_TIMER_ICR = 0x380;
export const APIC_TIMER_CCR = 0x390;
export const APIC_TIMER_DCR = 0x3e0;

/** Version register: integrated APIC version 0x14, six LVT entries (max LVT index 5), as a P6/P4. */
export const APIC_VERSION = 0x00050014;

export const APIC_SVR_ENABLE = 1 << 8;

// LVT and ICR fields (§11.5.1, §11.6.1).
export const APIC_LVT_MASKED = 1 << 16;
export const APIC_LVT_LEVEL = 1 << 15;
export const APIC_LVT_REMOTE_IRR = 1 << 14;
export const APIC_LVT_DELIVERY_STATUS = 1 << 12;
export const APIC_DM_FIXED = 0 << 8;
export const APIC_DM_LOWEST = 1 << 8;
export const APIC_DM_SMI = 2 << 8;
export const APIC_DM_NMI = 4 << 8;
export const APIC_DM_INIT = 5 << 8;
export const APIC_DM_STARTUP = 6 << 8;
export const APIC_DM_EXTINT = 7 << 8;
const APIC_DM_MASK = 7 << 8;
export const APIC_TIMER_PERIODIC = 1 << 17;
const APIC_TIMER_MODE_MASK = 3 << 17;
export const APIC_ICR_DEST_LOGICAL = 1 << 11;
const APIC_ICR_SHORTHAND_SHIFT = 18;
export const APIC_ICR_SELF = 1 << APIC_ICR_SHORTHAND_SHIFT;
export const APIC_ICR_ALL = 2 << APIC_ICR_SHORTHAND_SHIFT;
export const APIC_ICR_ALL_BUT_SELF = 3 << APIC_ICR_SHORTHAND_SHIFT;

/** ESR bit 6: "Received Illegal Vector" (§11.5.3), bit 5 "Send Illegal Vector". */
const ESR_SEND_ILLEGAL = 1 << 5;
const ESR_RECV_ILLEGAL = 1 << 6;

const LVT_TIMER = 0;
const LVT_LINT0 = 3;
const LVT_ERROR = 5;
const LVT_COUNT = 6;
/** Writable bits per LVT entry (§11.5.1, Figure 11-8). */
const LVT_WRITABLE = [
  0x700ff | APIC_TIMER_MODE_MASK, // timer: vector, mask, mode (no delivery mode)
  0x107ff, // thermal: vector, delivery mode, mask
  0x107ff, // performance counter
  0x1a7ff, // LINT0: vector, delivery mode, polarity, trigger, mask
  0x1a7ff, // LINT1
  0x100ff, // error: vector, mask
];

/** The timer's clock, the crystal CPUID leaf 15H reports: 1 ns per tick, the board's time unit. */
const NS_PER_BUS_TICK = 1e9 / CRYSTAL_HZ;

/** Where the APIC sends what it does not handle itself. */
export interface ApicHost {
  /** NMI delivery (LINT1 or ICR/I/O APIC NMI). */
  raiseNmi(): void;
  /** EOI of a level-triggered vector: the I/O APIC clears Remote IRR of the pins using it. */
  eoiBroadcast(vector: number): void;
}

export class LocalApic implements InterruptController, MmioHandler {
  /** IA32_APIC_BASE: base address, BSP flag, global enable. */
  apicBase = APIC_DEFAULT_BASE | APIC_BASE_BSP | APIC_BASE_ENABLE;
  id = 0;
  private tpr = 0;
  private ldr = 0;
  private dfr = -1;
  private svr = 0;
  private esr = 0;
  private esrPending = 0;
  private icrLo = 0;
  private icrHi = 0;
  private readonly lvt = new Int32Array(LVT_COUNT);
  /** Interrupt request, in-service and trigger-mode bitmaps: 256 bits each. */
  private readonly irr = new Uint32Array(8);
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  // Timer (§11.5.4).
  private initialCount = 0;
  private dcr = 0;
  private divideShift = 1;
  /** Virtual time (ns) when the current count was last loaded with the initial count. */
  private timerStartNs = 0;
  private readonly timer: Timer;
  /** An ExtINT message (I/O APIC pin in ExtINT mode) waits for the INTA cycle. */
  private extIntMessage = false;
  /** Interrupt line of the CPU: set when a vector became deliverable (the board sets EV_IRQ). */
  onIntrChange: ((level: boolean) => void) | null = null;

  constructor(
    private readonly clock: Clock,
    /** The 8259A pair, the source of ExtINT vectors on LINT0. */
    private readonly pic: InterruptController,
    private readonly host: ApicHost,
  ) {
    this.timer = clock.newTimer(() => this.onTimer());
    this.reset();
  }

  reset(): void {
    this.apicBase = APIC_DEFAULT_BASE | APIC_BASE_BSP | APIC_BASE_ENABLE;
    this.tpr = 0;
    this.ldr = 0;
    this.dfr = -1;
    this.esr = 0;
    this.esrPending = 0;
    this.icrLo = 0;
    this.icrHi = 0;
    this.extIntMessage = false;
    this.irr.fill(0);
    this.isr.fill(0);
    this.tmr.fill(0);
    this.lvt.fill(APIC_LVT_MASKED);
    this.initialCount = 0;
    this.dcr = 0;
    this.divideShift = 1;
    this.timer.del();
    // Virtual-wire mode as a BIOS sets it up (MP spec §3.6.2.2): 8259A through LINT0, NMI on LINT1.
    this.svr = APIC_SVR_ENABLE | 0xff;
    this.lvt[LVT_LINT0] = APIC_DM_EXTINT;
    this.lvt[LVT_LINT0 + 1] = APIC_DM_NMI; // LINT1
  }

  /** The IA32_APIC_BASE MSR. The base cannot be moved (writes to it are ignored). */
  readBaseMsr(): number {
    return this.apicBase;
  }

  writeBaseMsr(value: number): void {
    const wasEnabled = this.globallyEnabled;
    this.apicBase = (this.apicBase & ~APIC_BASE_ENABLE) | (value & APIC_BASE_ENABLE);
    // §11.4.3: clearing the global enable resets the APIC to its power-up state, and it stays
    // software-disabled after being enabled again (only a reset re-enables it).
    if (wasEnabled && !this.globallyEnabled) {
      this.reset();
      this.apicBase &= ~APIC_BASE_ENABLE;
      this.svr = 0xff;
      this.lvt.fill(APIC_LVT_MASKED);
    }
    this.update();
  }

  get globallyEnabled(): boolean {
    return (this.apicBase & APIC_BASE_ENABLE) !== 0;
  }

  private get softwareEnabled(): boolean {
    return (this.svr & APIC_SVR_ENABLE) !== 0;
  }

  // ------------------------------------------------------------------ delivery to the CPU

  /** The 8259A's INTR reaches the CPU: LINT0 unmasked in ExtINT mode, or the APIC off altogether. */
  private extIntPending(): boolean {
    if (!this.globallyEnabled) return this.pic.hasInterrupt();
    const l0 = this.lvt[LVT_LINT0]!;
    const lint0 = (l0 & (APIC_LVT_MASKED | APIC_DM_MASK)) === APIC_DM_EXTINT;
    return (lint0 || this.extIntMessage) && this.pic.hasInterrupt();
  }

  /** The highest-priority vector with its IRR bit set, or -1. */
  private highestIrr(): number {
    return highest(this.irr);
  }

  /** §11.8.3.1: PPR = TPR when its class is not below the highest in-service class, else that class. */
  private ppr(): number {
    const isrv = highest(this.isr);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (this.tpr & 0xf0) >= isrClass ? this.tpr & 0xff : isrClass;
  }

  hasInterrupt(): boolean {
    if (this.extIntPending()) return true;
    if (!this.globallyEnabled) return false;
    const v = this.highestIrr();
    return v >= 0 && (v & 0xf0) > (this.ppr() & 0xf0);
  }

  acknowledge(): number {
    if (this.extIntPending()) {
      this.extIntMessage = false;
      return this.pic.acknowledge();
    }
    const v = this.highestIrr();
    // A request withdrawn (or out-prioritised) between INTR and INTA gives the spurious vector,
    // which does not go in service (§11.9).
    if (v < 0 || (v & 0xf0) <= (this.ppr() & 0xf0)) return this.svr & 0xff;
    clearBit(this.irr, v);
    setBit(this.isr, v);
    return v;
  }

  /** Re-evaluate the CPU's interrupt line after a change of IRR, ISR, TPR, LVT or the 8259A. */
  update(): void {
    if (this.hasInterrupt()) this.onIntrChange?.(true);
  }

  /**
   * A fixed or lowest-priority interrupt message for this APIC (from the I/O APIC, an IPI or a
   * local source): IRR set, TMR as the trigger mode says (§11.8.4). Vectors 0-15 are illegal.
   */
  acceptInterrupt(vector: number, level: boolean): void {
    vector &= 0xff;
    if (vector < 16) {
      this.signalError(ESR_RECV_ILLEGAL);
      return;
    }
    setBit(this.irr, vector);
    if (level) setBit(this.tmr, vector);
    else clearBit(this.tmr, vector);
    this.update();
  }

  /** An interrupt message with a delivery mode (I/O APIC redirection entry or IPI). */
  deliver(mode: number, vector: number, level: boolean): void {
    switch (mode & APIC_DM_MASK) {
      case APIC_DM_FIXED:
      case APIC_DM_LOWEST:
        this.acceptInterrupt(vector, level);
        break;
      case APIC_DM_NMI:
        this.host.raiseNmi();
        break;
      case APIC_DM_EXTINT:
        // An I/O APIC pin in ExtINT mode: the vector comes from the 8259A's INTA, as through LINT0.
        this.extIntMessage = true;
        this.update();
        break;
      default:
        // SMI, INIT and STARTUP have no effect on a single, already running processor.
        break;
    }
  }

  /** Destination match for an interrupt message (§11.6.2): physical ID, or logical flat/cluster. */
  matchesDestination(dest: number, logical: boolean): boolean {
    dest &= 0xff;
    if (!logical) return dest === 0xff || dest === this.id;
    if (dest === 0xff) return true;
    const logicalId = this.ldr >>> 24;
    if (this.dfr >>> 28 === 0xf) return (logicalId & dest) !== 0; // flat model
    return dest >>> 4 === logicalId >>> 4 && (dest & logicalId & 0xf) !== 0; // cluster model
  }

  private signalError(bits: number): void {
    this.esrPending |= bits;
    const l = this.lvt[LVT_ERROR]!;
    if ((l & APIC_LVT_MASKED) === 0) this.acceptInterrupt(l & 0xff, false);
  }

  private eoi(): void {
    const v = highest(this.isr);
    if (v < 0) return;
    clearBit(this.isr, v);
    if (testBit(this.tmr, v)) {
      clearBit(this.tmr, v);
      this.host.eoiBroadcast(v);
    }
    this.update();
  }

  /** Interrupt Command Register low half written: send the IPI (§11.6.1). Only "self" can arrive. */
  private sendIpi(): void {
    const lo = this.icrLo;
    const mode = lo & APIC_DM_MASK;
    const vector = lo & 0xff;
    const level = (lo & APIC_LVT_LEVEL) !== 0;
    let toSelf: boolean;
    switch (lo & (3 << APIC_ICR_SHORTHAND_SHIFT)) {
      case APIC_ICR_SELF:
      case APIC_ICR_ALL:
        toSelf = true;
        break;
      case APIC_ICR_ALL_BUT_SELF:
        toSelf = false;
        break;
      default:
        toSelf = this.matchesDestination(this.icrHi >>> 24, (lo & APIC_ICR_DEST_LOGICAL) !== 0);
    }
    if ((mode === APIC_DM_FIXED || mode === APIC_DM_LOWEST) && vector < 16) {
      this.signalError(ESR_SEND_ILLEGAL);
      return;
    }
    // INIT level de-assert is a synchronisation message with no target effect.
    if (mode === APIC_DM_INIT && !level) return;
    if (toSelf) this.deliver(mode, vector, false);
  }

  // ------------------------------------------------------------------ timer

  private get timerPeriodNs(): number {
    return this.initialCount * NS_PER_BUS_TICK * 2 ** this.divideShift;
  }

  /** Current Count: counts down from the initial count at bus clock / divisor, 0 once a one-shot ends. */
  private currentCount(): number {
    if (this.initialCount === 0) return 0;
    const ticks = Math.floor(
      (this.clock.now() - this.timerStartNs) / (NS_PER_BUS_TICK * 2 ** this.divideShift),
    );
    if ((this.lvt[LVT_TIMER]! & APIC_TIMER_PERIODIC) !== 0)
      return this.initialCount - (ticks % this.initialCount);
    return ticks >= this.initialCount ? 0 : this.initialCount - ticks;
  }

  /**
   * Schedule the next interrupt. `started`: the count was just loaded (Initial Count written), so a
   * one-shot must fire even if its deadline is already behind the clock by the time we look again
   * (a count of a few ticks is shorter than two reads of a host clock): it fires at the next
   * runTimers(). Otherwise (mode or divider change) an expired one-shot is left as it is.
   */
  private armTimer(started: boolean): void {
    if (this.initialCount === 0) {
      this.timer.del();
      return;
    }
    const period = this.timerPeriodNs;
    if ((this.lvt[LVT_TIMER]! & APIC_TIMER_PERIODIC) !== 0) {
      // Next multiple of the period after now; missed periods are coalesced into one interrupt.
      const k = Math.max(1, Math.floor((this.clock.now() - this.timerStartNs) / period) + 1);
      this.timer.mod(this.timerStartNs + k * period);
    } else {
      const end = this.timerStartNs + period;
      if (started || end > this.clock.now()) this.timer.mod(end);
    }
  }

  private onTimer(): void {
    const l = this.lvt[LVT_TIMER]!;
    if ((l & APIC_LVT_MASKED) === 0) this.acceptInterrupt(l & 0xff, false);
    if ((l & APIC_TIMER_PERIODIC) !== 0) this.armTimer(false);
  }

  // ------------------------------------------------------------------ registers

  read(offset: number, size: number): number {
    const v = this.readReg(offset & ~0xf);
    // Registers are 32 bits on 16-byte boundaries; narrower reads take the addressed bytes.
    const shift = (offset & 3) * 8;
    return size === 4 ? v : (v >>> shift) & (size === 2 ? 0xffff : 0xff);
  }

  write(offset: number, size: number, value: number): void {
    // §11.4.1: the registers must be written as aligned 32-bit quantities; others are dropped.
    if (size !== 4 || (offset & 0xf) !== 0) return;
    this.writeReg(offset, value | 0);
  }

  private readReg(reg: number): number {
    switch (reg) {
      case APIC_ID:
        return this.id << 24;
      case APIC_LVR:
        return APIC_VERSION;
      case APIC_TPR:
        return this.tpr;
      case APIC_APR:
        return 0;
      case APIC_PPR:
        return this.ppr();
      case APIC_LDR:
        return this.ldr;
      case APIC_DFR:
        return this.dfr;
      case APIC_SVR:
        return this.svr;
      case APIC_ESR:
        return this.esr;
      case APIC_ICR_LO:
        return this.icrLo & ~APIC_LVT_DELIVERY_STATUS; // always idle: IPIs are sent at once
      case APIC_ICR_HI:
        return this.icrHi;
      case APIC_LVT_TIMER:
      case APIC_LVT_THERMAL:
      case APIC_LVT_PERF:
      case APIC_LVT_LINT0:
      case APIC_LVT_LINT1:
      case APIC_LVT_ERROR:
        return this.lvt[(reg - APIC_LVT_TIMER) >> 4]!;
      case APIC_TIMER_ICR:
        return this.initialCount;
      case APIC_TIMER_CCR:
        return this.currentCount();
      case APIC_TIMER_DCR:
        return this.dcr;
      default:
        if (reg >= APIC_ISR && reg < APIC_ISR + 0x80) return this.isr[(reg - APIC_ISR) >> 4]! | 0;
        if (reg >= APIC_TMR && reg < APIC_TMR + 0x80) return this.tmr[(reg - APIC_TMR) >> 4]! | 0;
        if (reg >= APIC_IRR && reg < APIC_IRR + 0x80) return this.irr[(reg - APIC_IRR) >> 4]! | 0;
        return 0;
    }
  }

  private writeReg(reg: number, v: number): void {
    switch (reg) {
      case APIC_ID:
        this.id = (v >>> 24) & 0xff;
        break;
      case APIC_TPR:
        this.tpr = v & 0xff;
        this.update();
        break;
      case APIC_EOI:
        this.eoi();
        break;
      case APIC_LDR:
        this.ldr = v & 0xff000000;
        break;
      case APIC_DFR:
        this.dfr = v | 0x0fffffff;
        break;
      case APIC_SVR:
        this.svr = v & 0x1ff;
        // §11.4.7.2: software-disabling masks every LVT entry.
        if (!this.softwareEnabled) for (let i = 0; i < LVT_COUNT; i++) this.lvt[i]! |= APIC_LVT_MASKED;
        this.update();
        break;
      case APIC_ESR:
        // A write latches the errors detected since the last write (§11.5.3).
        this.esr = this.esrPending;
        this.esrPending = 0;
        break;
      case APIC_ICR_LO:
        this.icrLo = v & ~APIC_LVT_DELIVERY_STATUS;
        this.sendIpi();
        break;
      case APIC_ICR_HI:
        this.icrHi = v & 0xff000000;
        break;
      case APIC_LVT_TIMER:
      case APIC_LVT_THERMAL:
      case APIC_LVT_PERF:
      case APIC_LVT_LINT0:
      case APIC_LVT_LINT1:
      case APIC_LVT_ERROR: {
        const i = (reg - APIC_LVT_TIMER) >> 4;
        let nv = v & LVT_WRITABLE[i]!;
        if (!this.softwareEnabled) nv |= APIC_LVT_MASKED;
        const wasPeriodic = (this.lvt[i]! & APIC_TIMER_PERIODIC) !== 0;
        this.lvt[i] = nv;
        if (i === LVT_TIMER && wasPeriodic !== ((nv & APIC_TIMER_PERIODIC) !== 0)) {
          // A mode change restarts neither count; re-arm for the new mode from the same start.
          this.armTimer(false);
        }
        this.update();
        break;
      }
      case APIC_TIMER_ICR:
        this.initialCount = v >>> 0;
        this.timerStartNs = this.clock.now();
        this.armTimer(true);
        break;
      case APIC_TIMER_DCR: {
        // Current count continues from where it was at the old rate (re-based at the new one).
        const cur = this.currentCount();
        this.dcr = v & 0xb;
        const d = (this.dcr & 3) | ((this.dcr & 8) >> 1);
        this.divideShift = d === 7 ? 0 : d + 1;
        if (this.initialCount !== 0 && cur > 0) {
          const perTick = NS_PER_BUS_TICK * 2 ** this.divideShift;
          this.timerStartNs = this.clock.now() - (this.initialCount - cur) * perTick;
          this.armTimer(false);
        }
        break;
      }
      default:
        // Read-only registers (version, PPR, APR, ISR/TMR/IRR, current count) ignore writes.
        break;
    }
  }

  /** `info lapic`: the registers a QEMU user looks at. */
  dump(): string {
    const h = (v: number, w = 8): string => (v >>> 0).toString(16).padStart(w, "0");
    const bits = (a: Uint32Array): string => {
      const out: number[] = [];
      for (let v = 255; v >= 0; v--) if (testBit(a, v)) out.push(v);
      return out.length ? out.map((v) => `0x${h(v, 2)}`).join(" ") : "(none)";
    };
    const names = ["LVTT", "LVTTHMR", "LVTPC", "LVT0", "LVT1", "LVTERR"];
    const lines = [
      `dumping local APIC state for CPU 0`,
      `APIC_BASE 0x${h(this.apicBase)} (${this.globallyEnabled ? "enabled" : "disabled"})  ID 0x${h(this.id, 2)}  version 0x${h(APIC_VERSION)}`,
      names.map((n, i) => `${n}\t 0x${h(this.lvt[i]!)}`).join("\n"),
      `Timer\t DCR=0x${h(this.dcr, 1)} initial_count=${this.initialCount} current_count=${this.currentCount()}`,
      `SPIV\t 0x${h(this.svr)} APIC ${this.softwareEnabled ? "enabled" : "disabled"}, spurious vector 0x${h(this.svr & 0xff, 2)}`,
      `ICR\t 0x${h(this.icrLo)} ICR2 0x${h(this.icrHi)}`,
      `ESR\t 0x${h(this.esr)}`,
      `ISR\t ${bits(this.isr)}`,
      `IRR\t ${bits(this.irr)}`,
      `TMR\t ${bits(this.tmr)}`,
      `APR 0x00 TPR 0x${h(this.tpr, 2)} DFR 0x${h(this.dfr >>> 28, 1)} LDR 0x${h(this.ldr >>> 24, 2)} PPR 0x${h(this.ppr(), 2)}`,
    ];
    return lines.join("\n");
  }
}

// 256-bit vector bitmaps kept as eight 32-bit words (the register layout).
function setBit(a: Uint32Array, v: number): void {
  a[v >>> 5]! |= 1 << (v & 31);
}

function clearBit(a: Uint32Array, v: number): void {
  a[v >>> 5]! &= ~(1 << (v & 31));
}

function testBit(a: Uint32Array, v: number): boolean {
  return (a[v >>> 5]! & (1 << (v & 31))) !== 0;
}

function highest(a: Uint32Array): number {
  for (let w = 7; w >= 0; w--) {
    const x = a[w]!;
    if (x !== 0) return w * 32 + 31 - Math.clz32(x);
  }
  return -1;
}
