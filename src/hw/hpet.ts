// High Precision Event Timer (IA-PC HPET Specification 1.0a, Intel, October 2004): one timer
// block with a 64-bit up-counting main counter and three comparators, memory-mapped in a 1 KiB
// block (at 0xFED00000 on the PC board, announced by the ACPI HPET table, §3.2.4).
//
// The main counter is not ticked: while ENABLE_CNF is set its value is computed from the board's
// virtual clock, and each comparator's next match is scheduled as a Clock timer (no polling).
// A match is an equality between the main counter (its low 32 bits for a timer in 32-bit mode)
// and the comparator, so a one-shot comparator written in the past matches again only after the
// counter wraps (§2.3.9, one-shot mode); a periodic comparator then advances by the last value written to it
// (§2.3.9, periodic mode). If the board runs a timer late, the matches missed meanwhile are coalesced into one
// interrupt and the periodic comparator catches up.
//
// Interrupts (§2.3.8 Tn_INT_TYPE_CNF, §2.3.6): edge-triggered timers pulse their line; level-triggered ones set their
// bit in the General Interrupt Status register and hold the line until software writes 1 to it.
// With ENABLE_CNF and LEG_RT_CNF both set (LegacyReplacement route, §2.3.5) timer 0 drives
// IRQ0 and timer 1 IRQ8 of the 8259 and the board disconnects the 8254 PIT and the RTC from those
// lines (`onLegacyRoute`). Otherwise timer n drives the IRQ selected by Tn_INT_ROUTE_CNF, among
// those its Tn_INT_ROUTE_CAP offers (the board's choice; none by default). FSB (MSI-style)
// delivery is not implemented (Tn_FSB_INT_DEL_CAP = 0).
//
// Accesses: the register file is 64 bits wide; 32-bit (and 8/16-bit) accesses reach either half
// (§2.3.1: "32-bit or 64-bit"), and read64()/write64() perform a whole 64-bit access at once.

import type { Clock, Timer } from "../machine/clock.ts";
import type { SetIrq } from "../machine/irq.ts";
import type { MmioHandler } from "../machine/mmio.ts";

export const HPET_BASE = 0xfed00000;
/** §2.3.1: the register block is 1024 bytes. */
export const HPET_MMIO_SIZE = 0x400;

// Register offsets (§2.3.1, register overview).
export const HPET_GCAP_ID = 0x000;
/** High half of GCAP_ID: COUNTER_CLK_PERIOD in femtoseconds. */
export const HPET_PERIOD = 0x004;
export const HPET_GEN_CONF = 0x010;
export const HPET_GINTR_STA = 0x020;
export const HPET_MAIN_CTR = 0x0f0;
export const hpetTnConf = (n: number): number => 0x100 + 0x20 * n;
export const hpetTnCmp = (n: number): number => 0x108 + 0x20 * n;
export const hpetTnFsb = (n: number): number => 0x110 + 0x20 * n;

// General Capabilities and ID (§2.3.4).
export const GCAP_REV_ID = 0x01;
export const GCAP_NUM_TIM_SHIFT = 8;
export const GCAP_COUNT_SIZE_CAP = 1 << 13;
export const GCAP_LEG_RT_CAP = 1 << 15;
export const GCAP_VENDOR_SHIFT = 16;
export const HPET_VENDOR_INTEL = 0x8086;

// General Configuration (§2.3.5).
export const GEN_ENABLE_CNF = 1 << 0;
export const GEN_LEG_RT_CNF = 1 << 1;

// Timer N Configuration and Capabilities (§2.3.8).
export const TN_INT_TYPE_CNF = 1 << 1; // 1 = level-triggered
export const TN_INT_ENB_CNF = 1 << 2;
export const TN_TYPE_CNF = 1 << 3; // 1 = periodic
export const TN_PER_INT_CAP = 1 << 4;
export const TN_SIZE_CAP = 1 << 5; // 1 = 64-bit comparator
export const TN_VAL_SET_CNF = 1 << 6;
export const TN_32MODE_CNF = 1 << 8;
export const TN_INT_ROUTE_SHIFT = 9;
export const TN_INT_ROUTE_MASK = 0x1f << TN_INT_ROUTE_SHIFT;
export const TN_FSB_EN_CNF = 1 << 14;
export const TN_FSB_INT_DEL_CAP = 1 << 15;

/** 100 MHz, the ICH's rate is 14.31818 MHz; both are within §2.3.4's limit (period <= 100 ns). */
export const HPET_FREQ_100MHZ = 100_000_000;
export const HPET_FREQ_14MHZ = 14_318_180;

const TWO32 = 0x1_0000_0000;
/** A Clock timer is never armed further ahead than this; it re-checks and re-arms when it fires. */
const MAX_ARM_NS = 2 ** 40;

export interface HpetOptions {
  /** Main counter frequency in Hz (default 100 MHz). The period register holds 1e15/freq fs, rounded. */
  frequency?: number;
  /** Number of comparators, 3..32 (default 3). */
  timers?: number;
  /** Tn_INT_ROUTE_CAP: the IRQ lines (bit n = IRQ n) each timer may be routed to. Default 0. */
  intRouteCap?: number;
  /**
   * LegacyReplacement route switched on (true) or off: the board disconnects (true) or reconnects
   * the PIT's IRQ0 and the RTC's IRQ8. Called before the HPET drives those lines, and after it has
   * released them.
   */
  onLegacyRoute?: (enabled: boolean) => void;
}

class HpetTimer {
  /** The writable bits of Tn_CONF (capability bits are added when read). */
  config = 0;
  cmpLo = 0xffffffff;
  cmpHi = 0xffffffff;
  /** The last value written to the comparator: the periodic increment. */
  periodLo = 0;
  periodHi = 0;
  /** Tick index (ticks since the counter was started) of the next comparator match, while running. */
  matchTick = 0;
  /** Tick index of the last match processed (-1: none since the counter started). */
  firedTick = -1;
  /** Capability bits of Tn_CONF (read-only). */
  readonly caps: number;

  constructor(
    readonly index: number,
    readonly timer: Timer,
    periodic: boolean,
    size64: boolean,
    readonly routeCap: number,
  ) {
    this.caps = (periodic ? TN_PER_INT_CAP : 0) | (size64 ? TN_SIZE_CAP : 0);
  }

  get is32(): boolean {
    return (this.caps & TN_SIZE_CAP) === 0 || (this.config & TN_32MODE_CNF) !== 0;
  }

  get periodic(): boolean {
    return (this.config & TN_TYPE_CNF) !== 0;
  }

  get level(): boolean {
    return (this.config & TN_INT_TYPE_CNF) !== 0;
  }
}

/** Merge the bytes selected by `mask` of `value` into `old` (32-bit unsigned). */
function merge(old: number, value: number, mask: number): number {
  return ((old & ~mask) | (value & mask)) >>> 0;
}

export class Hpet implements MmioHandler {
  readonly frequency: number;
  /** COUNTER_CLK_PERIOD, femtoseconds per tick. */
  readonly periodFs: number;
  /** The same period in ns: the counter advances by one every periodNs of virtual time. */
  private readonly periodNs: number;
  private readonly timers: HpetTimer[] = [];
  private readonly onLegacyRoute: ((enabled: boolean) => void) | null;

  private genConf = 0;
  private intStatus = 0;
  /** Main counter value (64-bit, as two halves) when halted, or at startNs while running. */
  private baseHi = 0;
  private baseLo = 0;
  private startNs = 0;
  /** IRQ line levels the HPET drives (for level-triggered timers), by IRQ number. */
  private readonly driven = new Uint8Array(32);
  private readonly want = new Uint8Array(32);

  constructor(
    private readonly clock: Clock,
    private readonly setIrq: SetIrq,
    options: HpetOptions = {},
  ) {
    this.frequency = options.frequency ?? HPET_FREQ_100MHZ;
    this.periodFs = Math.round(1e15 / this.frequency);
    if (this.periodFs > 100_000_000 || this.periodFs <= 0)
      throw new Error("HPET period must be at most 100 ns (§2.3.4)");
    this.periodNs = this.periodFs / 1e6;
    const n = options.timers ?? 3;
    if (n < 3 || n > 32) throw new Error("an HPET block has 3 to 32 timers (§2.3.4)");
    for (let i = 0; i < n; i++) {
      const t: HpetTimer = new HpetTimer(
        i,
        clock.newTimer(() => this.onTimer(t)),
        true,
        true,
        options.intRouteCap ?? 0,
      );
      this.timers.push(t);
    }
    this.onLegacyRoute = options.onLegacyRoute ?? null;
  }

  /** Low 32 bits of GCAP_ID (also the ACPI HPET table's Event Timer Block ID, §3.2.4). */
  get capabilities(): number {
    return (
      ((HPET_VENDOR_INTEL << GCAP_VENDOR_SHIFT) |
        GCAP_LEG_RT_CAP |
        GCAP_COUNT_SIZE_CAP |
        ((this.timers.length - 1) << GCAP_NUM_TIM_SHIFT) |
        GCAP_REV_ID) >>>
      0
    );
  }

  private get running(): boolean {
    return (this.genConf & GEN_ENABLE_CNF) !== 0;
  }

  /** LegacyReplacement route in effect: both ENABLE_CNF and LEG_RT_CNF set (§2.3.5). */
  get legacyRoute(): boolean {
    return (this.genConf & (GEN_ENABLE_CNF | GEN_LEG_RT_CNF)) === (GEN_ENABLE_CNF | GEN_LEG_RT_CNF);
  }

  // ------------------------------------------------------------------------------ main counter

  /** Ticks elapsed since the counter was started, at virtual time `ns`. */
  private ticksAt(ns: number): number {
    return Math.max(0, Math.floor((ns - this.startNs) / this.periodNs));
  }

  private nowTick(): number {
    return this.running ? this.ticksAt(this.clock.now()) : 0;
  }

  /** Virtual time at which tick `k` begins. */
  private timeOfTick(k: number): number {
    let t = this.startNs + Math.ceil(k * this.periodNs);
    // Float rounding must not leave the deadline just before tick k (bounded: huge values are
    // re-checked when the timer fires).
    for (let i = 0; i < 4 && this.ticksAt(t) < k; i++) t++;
    return t;
  }

  /** Main counter at tick `k`: high and low halves. */
  private counterHi(k: number): number {
    const lo = this.baseLo + (k % TWO32);
    return (this.baseHi + Math.floor(k / TWO32) + (lo >= TWO32 ? 1 : 0)) % TWO32;
  }

  private counterLo(k: number): number {
    return (this.baseLo + (k % TWO32)) % TWO32;
  }

  // ------------------------------------------------------------------------------ comparators

  /** Schedule timer `t`'s next match, seen from tick `k` (the comparator may match at `k` itself). */
  private computeMatch(t: HpetTimer, k: number): void {
    const cLo = this.counterLo(k);
    let d: number;
    if (t.is32) {
      d = (t.cmpLo - cLo) >>> 0;
    } else {
      const dLo = t.cmpLo - cLo;
      const dHi = (t.cmpHi - this.counterHi(k) - (dLo < 0 ? 1 : 0)) >>> 0;
      d = dHi * TWO32 + (dLo >>> 0);
    }
    // A match in the very tick just processed does not happen twice.
    if (d === 0 && k === t.firedTick) d = t.is32 ? TWO32 : TWO32 * TWO32;
    t.matchTick = k + d;
  }

  /** Arm timer `t`'s Clock timer if a match can have an effect (an interrupt or a status bit). */
  private arm(t: HpetTimer): void {
    if (!this.running || (t.config & (TN_INT_ENB_CNF | TN_INT_TYPE_CNF)) === 0) {
      t.timer.del();
      return;
    }
    const now = this.clock.now();
    // Never at or before now: a callback that found nothing due must not re-fire in the same pass.
    t.timer.mod(Math.max(now + 1, Math.min(this.timeOfTick(t.matchTick), now + MAX_ARM_NS)));
  }

  /**
   * Process the matches of timer `t` up to now: advance a periodic comparator past them and raise
   * one interrupt. Returns true if anything matched.
   */
  private process(t: HpetTimer): boolean {
    if (!this.running) return false;
    const k = this.nowTick();
    if (t.matchTick > k) return false;
    const period = t.is32 ? t.periodLo : t.periodHi * TWO32 + t.periodLo;
    if (t.periodic && period > 0) {
      const m = Math.floor((k - t.matchTick) / period) + 1;
      const step = m * period;
      const lo = t.cmpLo + (step % TWO32);
      if (!t.is32) t.cmpHi = (t.cmpHi + Math.floor(step / TWO32) + (lo >= TWO32 ? 1 : 0)) % TWO32;
      t.cmpLo = lo % TWO32;
      t.firedTick = t.matchTick + (m - 1) * period;
      t.matchTick += step;
    } else {
      t.firedTick = t.matchTick;
      t.matchTick += t.is32 ? TWO32 : TWO32 * TWO32;
    }
    this.fire(t);
    return true;
  }

  private onTimer(t: HpetTimer): void {
    this.process(t);
    this.arm(t);
  }

  /** The IRQ line timer `t` drives, or -1. */
  private route(t: HpetTimer): number {
    if (this.legacyRoute && t.index < 2) return t.index === 0 ? 0 : 8;
    const r = (t.config & TN_INT_ROUTE_MASK) >>> TN_INT_ROUTE_SHIFT;
    return (t.routeCap >>> r) & 1 ? r : -1;
  }

  private fire(t: HpetTimer): void {
    if (t.level) {
      this.intStatus |= 1 << t.index;
      this.updateLines();
      return;
    }
    if ((t.config & TN_INT_ENB_CNF) === 0) return;
    const irq = this.route(t);
    // An edge on a line some level-triggered timer already holds high is lost (wired OR).
    if (irq >= 0 && !this.driven[irq]) {
      this.setIrq(irq, true);
      this.setIrq(irq, false);
    }
  }

  /** Drive the lines of level-triggered timers: active while their status bit is set. */
  private updateLines(): void {
    const want = this.want;
    want.fill(0);
    if (this.running) {
      for (const t of this.timers) {
        if (!t.level || (t.config & TN_INT_ENB_CNF) === 0 || !(this.intStatus & (1 << t.index))) continue;
        const irq = this.route(t);
        if (irq >= 0) want[irq] = 1;
      }
    }
    for (let irq = 0; irq < 32; irq++) {
      if (want[irq] !== this.driven[irq]) {
        this.driven[irq] = want[irq]!;
        this.setIrq(irq, want[irq] === 1);
      }
    }
  }

  // ------------------------------------------------------------------------------ registers

  private writeGenConf(value: number): void {
    const wasRunning = this.running;
    const wasLegacy = this.legacyRoute;
    if (wasRunning) for (const t of this.timers) this.process(t);
    const k = this.nowTick();
    const next = value & (GEN_ENABLE_CNF | GEN_LEG_RT_CNF);
    if (wasRunning && !(next & GEN_ENABLE_CNF)) {
      // Halt: the counter keeps its value.
      const hi = this.counterHi(k);
      this.baseLo = this.counterLo(k);
      this.baseHi = hi;
    }
    this.genConf = next;
    if (!wasRunning && this.running) {
      this.startNs = this.clock.now();
      for (const t of this.timers) {
        t.firedTick = -1;
        this.computeMatch(t, 0);
      }
    }
    for (const t of this.timers) this.arm(t);
    const legacy = this.legacyRoute;
    if (legacy && !wasLegacy) this.onLegacyRoute?.(true);
    this.updateLines();
    if (!legacy && wasLegacy) this.onLegacyRoute?.(false);
  }

  private writeTnConf(t: HpetTimer, value: number, mask: number): void {
    this.process(t);
    const old = t.config;
    let writable = TN_INT_TYPE_CNF | TN_INT_ENB_CNF | TN_VAL_SET_CNF;
    if (t.caps & TN_PER_INT_CAP) writable |= TN_TYPE_CNF;
    if (t.caps & TN_SIZE_CAP) writable |= TN_32MODE_CNF;
    // Tn_INT_ROUTE_CNF keeps its old value when the new one is not in Tn_INT_ROUTE_CAP (§2.3.8).
    const route = (merge(old, value, mask) & TN_INT_ROUTE_MASK) >>> TN_INT_ROUTE_SHIFT;
    if ((t.routeCap >>> route) & 1) writable |= TN_INT_ROUTE_MASK;
    let next = merge(old, value, mask & writable);
    // VAL_SET_CNF is only ever set by software; the next comparator write clears it.
    if (!(value & mask & TN_VAL_SET_CNF)) next = (next & ~TN_VAL_SET_CNF) | (old & TN_VAL_SET_CNF);
    t.config = next;
    if (next & TN_32MODE_CNF && !(old & TN_32MODE_CNF)) {
      t.cmpHi = 0;
      t.periodHi = 0;
    }
    // The status bit means nothing for an edge-triggered timer.
    if (!t.level) this.intStatus &= ~(1 << t.index);
    if (this.running) this.computeMatch(t, this.nowTick());
    this.arm(t);
    this.updateLines();
  }

  private writeTnCmp(t: HpetTimer, lo: number, hi: number, maskLo: number, maskHi: number): void {
    this.process(t);
    if (t.is32) maskHi = 0;
    if (!t.periodic || t.config & TN_VAL_SET_CNF) {
      t.cmpLo = merge(t.cmpLo, lo, maskLo);
      t.cmpHi = merge(t.cmpHi, hi, maskHi);
    }
    t.periodLo = merge(t.periodLo, lo, maskLo);
    t.periodHi = merge(t.periodHi, hi, maskHi);
    if (maskLo | maskHi) t.config &= ~TN_VAL_SET_CNF;
    if (t.is32) {
      t.cmpHi = 0;
      t.periodHi = 0;
    }
    if (this.running) {
      t.firedTick = -1;
      this.computeMatch(t, this.nowTick());
    }
    this.arm(t);
  }

  /** Read one 32-bit half (0 = low, 1 = high) of the 64-bit register at `reg` (8-aligned). */
  private readHalf(reg: number, half: number): number {
    switch (reg) {
      case HPET_GCAP_ID:
        return half ? this.periodFs : this.capabilities;
      case HPET_GEN_CONF:
        return half ? 0 : this.genConf;
      case HPET_GINTR_STA:
        return half ? 0 : this.intStatus >>> 0;
      case HPET_MAIN_CTR: {
        const k = this.nowTick();
        return half ? this.counterHi(k) : this.counterLo(k);
      }
      default:
        break;
    }
    if (reg < 0x100) return 0;
    const t = this.timers[(reg - 0x100) >>> 5];
    if (!t) return 0;
    switch ((reg - 0x100) & 0x1f) {
      case 0x00:
        return half ? t.routeCap >>> 0 : (t.config | t.caps) >>> 0;
      case 0x08:
        if (t.periodic && this.process(t)) this.arm(t);
        return half ? t.cmpHi : t.cmpLo;
      default:
        return 0; // FSB route: no FSB delivery
    }
  }

  /** Write the bytes selected by the masks into the 64-bit register at `reg` (8-aligned). */
  private writeReg(reg: number, lo: number, hi: number, maskLo: number, maskHi: number): void {
    switch (reg) {
      case HPET_GEN_CONF:
        if (maskLo) this.writeGenConf(merge(this.genConf, lo, maskLo));
        return;
      case HPET_GINTR_STA:
        // Write 1 to clear (level-triggered timers only keep status bits).
        if (lo & maskLo) {
          this.intStatus = (this.intStatus & ~(lo & maskLo)) >>> 0;
          this.updateLines();
        }
        return;
      case HPET_MAIN_CTR:
        // §2.3.7: software writes the counter only while it is halted; writes while it runs are ignored.
        if (this.running) return;
        this.baseLo = merge(this.baseLo, lo, maskLo);
        this.baseHi = merge(this.baseHi, hi, maskHi);
        return;
      default:
        break;
    }
    if (reg < 0x100) return;
    const t = this.timers[(reg - 0x100) >>> 5];
    if (!t) return;
    switch ((reg - 0x100) & 0x1f) {
      case 0x00:
        if (maskLo) this.writeTnConf(t, lo, maskLo);
        return;
      case 0x08:
        this.writeTnCmp(t, lo, hi, maskLo, maskHi);
        return;
      default:
        return;
    }
  }

  // ------------------------------------------------------------------------------ bus interface

  read(offset: number, size: number): number {
    offset &= HPET_MMIO_SIZE - 1;
    const v = this.readHalf(offset & ~7, (offset >>> 2) & 1);
    if (size === 4) return v | 0;
    const shift = (offset & 3) * 8;
    return (v >>> shift) & (size === 2 ? 0xffff : 0xff);
  }

  write(offset: number, size: number, value: number): void {
    offset &= HPET_MMIO_SIZE - 1;
    const shift = (offset & 3) * 8;
    const mask = size === 4 ? 0xffffffff : ((size === 2 ? 0xffff : 0xff) << shift) >>> 0;
    const v = (value << shift) >>> 0;
    if (offset & 4) this.writeReg(offset & ~7, 0, v, 0, mask);
    else this.writeReg(offset & ~7, v, 0, mask, 0);
  }

  /** A 64-bit read (one access: both halves from the same instant). */
  read64(offset: number): bigint {
    offset &= (HPET_MMIO_SIZE - 1) & ~7;
    if (offset === HPET_MAIN_CTR) {
      const k = this.nowTick();
      return (BigInt(this.counterHi(k)) << 32n) | BigInt(this.counterLo(k));
    }
    const lo = this.readHalf(offset, 0);
    return (BigInt(this.readHalf(offset, 1)) << 32n) | BigInt(lo >>> 0);
  }

  /** A 64-bit write (one access). */
  write64(offset: number, value: bigint): void {
    offset &= (HPET_MMIO_SIZE - 1) & ~7;
    const lo = Number(value & 0xffffffffn);
    const hi = Number((value >> 32n) & 0xffffffffn);
    this.writeReg(offset, lo, hi, 0xffffffff, 0xffffffff);
  }

  /** Power-on state: counter halted at 0, legacy route off, comparators all ones (§2.3.9). */
  reset(): void {
    const wasLegacy = this.legacyRoute;
    this.genConf = 0;
    this.intStatus = 0;
    this.baseHi = 0;
    this.baseLo = 0;
    for (const t of this.timers) {
      t.config = 0;
      t.cmpLo = 0xffffffff;
      t.cmpHi = 0xffffffff;
      t.periodLo = 0;
      t.periodHi = 0;
      t.firedTick = -1;
      t.timer.del();
    }
    this.updateLines();
    if (wasLegacy) this.onLegacyRoute?.(false);
  }
}
