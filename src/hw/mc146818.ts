// Motorola MC146818A real-time clock and CMOS RAM (index 0x70, data 0x71, IRQ8).
//
// The time of day starts from the host's UTC time at power-on and then moves with the
// virtual clock: one update cycle per virtual second, so a paused VM's RTC pauses too and a
// deterministic run reads reproducible dates. Time registers live in the CMOS bytes in the
// format register B selects; an update decodes nothing, it re-encodes the internal seconds.
//
// Reference: MC146818A datasheet: "Address Map" (Fig. 3), "Time, Calendar and Alarm Data
// Modes" (Table 3), registers A-D, "Periodic Interrupt Rate" (Table 5), "Update Cycle"
// (UIP timing, Fig. 7). CMOS layout of memory-size bytes as QEMU's pc_cmos_init()/SeaBIOS.

import type { Clock, Timer } from "../machine/clock.ts";
import type { IoBus } from "../machine/ioport.ts";
import type { SetIrq } from "../machine/irq.ts";

export const RTC_SECONDS = 0x00;
export const RTC_SECONDS_ALARM = 0x01;
export const RTC_MINUTES = 0x02;
export const RTC_MINUTES_ALARM = 0x03;
export const RTC_HOURS = 0x04;
export const RTC_HOURS_ALARM = 0x05;
export const RTC_DAY_OF_WEEK = 0x06;
export const RTC_DAY_OF_MONTH = 0x07;
export const RTC_MONTH = 0x08;
export const RTC_YEAR = 0x09;
export const RTC_REG_A = 0x0a;
export const RTC_REG_B = 0x0b;
export const RTC_REG_C = 0x0c;
export const RTC_REG_D = 0x0d;
export const RTC_CENTURY = 0x32;

export const REG_A_UIP = 0x80;
const REG_A_DV_MASK = 0x70;
const REG_A_DV_32KHZ = 0x20; // divider 010: normal operation with a 32.768 kHz crystal
const REG_A_RS_MASK = 0x0f;
export const REG_B_SET = 0x80;
export const REG_B_PIE = 0x40;
export const REG_B_AIE = 0x20;
export const REG_B_UIE = 0x10;
export const REG_B_SQWE = 0x08;
export const REG_B_DM = 0x04; // 1 = binary, 0 = BCD
export const REG_B_24H = 0x02;
export const REG_B_DSE = 0x01;
export const REG_C_IRQF = 0x80;
export const REG_C_PF = 0x40;
export const REG_C_AF = 0x20;
export const REG_C_UF = 0x10;
export const REG_D_VRT = 0x80;

const NS_PER_SEC = 1e9;
/** UIP goes high this long before an update cycle (tBUC, datasheet Fig. 7). */
const UIP_LEAD_NS = 244_000;
const RTC_CRYSTAL_HZ = 32768;
const ALARM_DONT_CARE = 0xc0;

const KiB = 1024;
const MiB = 1024 * KiB;

export interface Mc146818Options {
  /** Power-on time in ms since the Unix epoch (UTC). Default: the host's Date.now(). */
  baseTimeMs?: number;
  irq?: number;
}

export class Mc146818 {
  readonly cmos = new Uint8Array(128);
  private index = 0;
  /** Bit 7 of the last write to port 0x70: NMI disabled. */
  nmiMasked = false;
  /** RTC time in whole seconds since the Unix epoch. */
  private seconds: number;
  /** Virtual time of the next update cycle. */
  private nextUpdateNs: number;
  /** Periodic interrupt phase origin and the last boundary already folded into PF. */
  private periodicBaseNs = 0;
  private lastPeriodic = 0;
  private irqLevel = false;
  private readonly irq: number;
  private readonly updateTimer: Timer;
  private readonly periodicTimer: Timer;

  constructor(
    private readonly clock: Clock,
    private readonly setIrq: SetIrq,
    io?: IoBus,
    options: Mc146818Options = {},
  ) {
    this.irq = options.irq ?? 8;
    const baseMs = options.baseTimeMs ?? Date.now();
    this.seconds = Math.floor(baseMs / 1000);
    const now = clock.now();
    // Keep the host's sub-second phase so the first tick comes when the host's second ends.
    this.nextUpdateNs = now + (1000 - (baseMs - this.seconds * 1000)) * 1e6;
    this.cmos[RTC_REG_A] = REG_A_DV_32KHZ | 0x06;
    this.cmos[RTC_REG_B] = REG_B_24H;
    this.cmos[RTC_REG_D] = REG_D_VRT;
    this.periodicBaseNs = now;
    this.encodeTime();
    this.updateTimer = clock.newTimer(() => this.catchUp());
    this.periodicTimer = clock.newTimer(() => this.catchUp());
    this.updateTimer.mod(this.nextUpdateNs);
    if (io) this.registerPorts(io);
  }

  registerPorts(io: IoBus): void {
    io.register(0x70, 2, {
      read8: (port) => (port === 0x70 ? 0xff : this.readData()),
      write8: (port, value) => {
        if (port === 0x70) {
          this.index = value & 0x7f;
          this.nmiMasked = (value & 0x80) !== 0;
        } else {
          this.writeData(value);
        }
      },
    });
  }

  /** Read a CMOS byte (as the guest would, with side effects of registers A and C). */
  read(index: number): number {
    this.index = index & 0x7f;
    return this.readData();
  }

  write(index: number, value: number): void {
    this.index = index & 0x7f;
    this.writeData(value);
  }

  /** Board set-up: store a byte without guest-visible side effects. */
  setByte(index: number, value: number): void {
    this.cmos[index & 0x7f] = value & 0xff;
  }

  /**
   * Memory size bytes as QEMU/SeaBIOS lay them out: 0x15/0x16 base memory in KiB (640),
   * 0x17/0x18 and 0x30/0x31 KiB above 1 MiB (capped at 0xFFFF), 0x34/0x35 64 KiB units between
   * 16 MiB and 4 GiB, 0x5B-0x5D 64 KiB units above 4 GiB. Also refreshes the 0x2E/0x2F checksum.
   */
  setMemorySize(belowFourGBytes: number, aboveFourGBytes = 0): void {
    const put16 = (i: number, v: number): void => {
      this.cmos[i] = v & 0xff;
      this.cmos[i + 1] = (v >> 8) & 0xff;
    };
    put16(0x15, Math.min(Math.floor(belowFourGBytes / KiB), 640));
    const ext = belowFourGBytes > MiB ? Math.min(Math.floor((belowFourGBytes - MiB) / KiB), 0xffff) : 0;
    put16(0x17, ext);
    put16(0x30, ext);
    const high =
      belowFourGBytes > 16 * MiB
        ? Math.min(Math.floor((belowFourGBytes - 16 * MiB) / (64 * KiB)), 0xffff)
        : 0;
    put16(0x34, high);
    const above = Math.floor(aboveFourGBytes / (64 * KiB));
    this.cmos[0x5b] = above & 0xff;
    this.cmos[0x5c] = (above >> 8) & 0xff;
    this.cmos[0x5d] = (above >> 16) & 0xff;
    this.updateChecksum();
  }

  /** Standard AT checksum of bytes 0x10-0x2D, stored big-endian at 0x2E/0x2F. */
  updateChecksum(): void {
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += this.cmos[i]!;
    this.cmos[0x2e] = (sum >> 8) & 0xff;
    this.cmos[0x2f] = sum & 0xff;
  }

  /** Current RTC time in ms since the epoch (for `info rtc` style output and tests). */
  timeMs(): number {
    this.catchUp();
    return this.seconds * 1000;
  }

  private readData(): number {
    this.catchUp();
    const i = this.index;
    switch (i) {
      case RTC_REG_A:
        return (this.cmos[RTC_REG_A]! & ~REG_A_UIP) | (this.updateInProgress() ? REG_A_UIP : 0);
      case RTC_REG_C: {
        const v = this.cmos[RTC_REG_C]!;
        // Reading C clears all flags and releases IRQ8.
        this.cmos[RTC_REG_C] = 0;
        this.updateIrq();
        return v;
      }
      default:
        return this.cmos[i]!;
    }
  }

  private writeData(value: number): void {
    this.catchUp();
    const i = this.index;
    switch (i) {
      case RTC_SECONDS:
      case RTC_MINUTES:
      case RTC_HOURS:
      case RTC_DAY_OF_WEEK:
      case RTC_DAY_OF_MONTH:
      case RTC_MONTH:
      case RTC_YEAR:
      case RTC_CENTURY:
        this.cmos[i] = value;
        // Without SET the new value takes effect at once; with SET, when SET is cleared.
        if ((this.cmos[RTC_REG_B]! & REG_B_SET) === 0) this.decodeTime();
        break;
      case RTC_REG_A: {
        const wasRunning = this.dividerRunning();
        this.cmos[RTC_REG_A] = value & ~REG_A_UIP;
        const running = this.dividerRunning();
        if (running && !wasRunning) {
          // Leaving divider reset: the first update comes 500 ms later (datasheet, reg A DV).
          this.nextUpdateNs = this.clock.now() + NS_PER_SEC / 2;
          this.periodicBaseNs = this.clock.now();
          this.lastPeriodic = 0;
        }
        this.resetPeriodic();
        this.scheduleTimers();
        break;
      }
      case RTC_REG_B: {
        const old = this.cmos[RTC_REG_B]!;
        if (value & REG_B_SET) value &= ~REG_B_UIE; // SET going high clears UIE
        this.cmos[RTC_REG_B] = value;
        if (old & REG_B_SET && !(value & REG_B_SET)) {
          this.decodeTime();
        } else if ((old ^ value) & (REG_B_DM | REG_B_24H) && !(value & REG_B_SET)) {
          this.encodeTime();
        }
        this.updateIrq();
        this.scheduleTimers();
        break;
      }
      case RTC_REG_C:
      case RTC_REG_D:
        break; // read-only
      default:
        this.cmos[i] = value;
    }
  }

  private dividerRunning(): boolean {
    return (this.cmos[RTC_REG_A]! & REG_A_DV_MASK) === REG_A_DV_32KHZ;
  }

  private updatesEnabled(): boolean {
    return this.dividerRunning() && (this.cmos[RTC_REG_B]! & REG_B_SET) === 0;
  }

  private updateInProgress(): boolean {
    return this.updatesEnabled() && this.nextUpdateNs - this.clock.now() <= UIP_LEAD_NS;
  }

  /** Periodic interrupt period for RS (Table 5); 0 when disabled. RS 1 and 2 alias 8 and 9. */
  private periodicNs(): number {
    let rs = this.cmos[RTC_REG_A]! & REG_A_RS_MASK;
    if (rs === 0 || !this.dividerRunning()) return 0;
    if (rs <= 2) rs += 7;
    return ((1 << (rs - 1)) * NS_PER_SEC) / RTC_CRYSTAL_HZ;
  }

  private resetPeriodic(): void {
    const p = this.periodicNs();
    this.lastPeriodic = p > 0 ? Math.floor((this.clock.now() - this.periodicBaseNs) / p) : 0;
  }

  /** Bring flags and time up to the current virtual time. Timers and port accesses both call it. */
  private catchUp(): void {
    const now = this.clock.now();
    let changed = false;
    while (this.nextUpdateNs <= now && this.dividerRunning()) {
      this.nextUpdateNs += NS_PER_SEC;
      if (this.cmos[RTC_REG_B]! & REG_B_SET) continue; // updates inhibited
      this.seconds++;
      this.encodeTime();
      let flags = REG_C_UF;
      if (this.alarmMatches()) flags |= REG_C_AF;
      this.cmos[RTC_REG_C]! |= flags;
      changed = true;
    }
    const p = this.periodicNs();
    if (p > 0) {
      const k = Math.floor((now - this.periodicBaseNs) / p);
      if (k > this.lastPeriodic) {
        this.lastPeriodic = k;
        this.cmos[RTC_REG_C]! |= REG_C_PF;
        changed = true;
      }
    }
    if (changed) this.updateIrq();
    this.scheduleTimers();
  }

  private scheduleTimers(): void {
    if (this.dividerRunning()) this.updateTimer.mod(this.nextUpdateNs);
    else this.updateTimer.del();
    const p = this.periodicNs();
    // PF is computed lazily on access; a timer is only needed to raise IRQ8 when PIE is on.
    if (p > 0 && this.cmos[RTC_REG_B]! & REG_B_PIE) {
      const k = this.lastPeriodic + 1;
      let t = Math.ceil(this.periodicBaseNs + k * p);
      // Float rounding must not leave the deadline just short of boundary k (it would re-fire).
      while (Math.floor((t - this.periodicBaseNs) / p) < k) t++;
      this.periodicTimer.mod(t);
    } else {
      this.periodicTimer.del();
    }
  }

  private updateIrq(): void {
    const b = this.cmos[RTC_REG_B]!;
    let c = this.cmos[RTC_REG_C]! & ~REG_C_IRQF;
    // Flag and enable bits line up: PF/PIE = 0x40, AF/AIE = 0x20, UF/UIE = 0x10.
    const pending = c & (REG_C_PF | REG_C_AF | REG_C_UF) & b;
    if (pending) c |= REG_C_IRQF;
    this.cmos[RTC_REG_C] = c;
    const level = pending !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.setIrq(this.irq, level);
    }
  }

  private alarmMatches(): boolean {
    const m = (alarm: number, reg: number): boolean => {
      const a = this.cmos[alarm]!;
      return a >= ALARM_DONT_CARE || a === this.cmos[reg];
    };
    return (
      m(RTC_SECONDS_ALARM, RTC_SECONDS) && m(RTC_MINUTES_ALARM, RTC_MINUTES) && m(RTC_HOURS_ALARM, RTC_HOURS)
    );
  }

  private toReg(v: number): number {
    return this.cmos[RTC_REG_B]! & REG_B_DM ? v : (Math.floor(v / 10) << 4) | (v % 10);
  }

  private fromReg(v: number): number {
    return this.cmos[RTC_REG_B]! & REG_B_DM ? v : (v >> 4) * 10 + (v & 0xf);
  }

  /** Internal seconds -> time registers in the current format. */
  private encodeTime(): void {
    const d = new Date(this.seconds * 1000);
    const c = this.cmos;
    c[RTC_SECONDS] = this.toReg(d.getUTCSeconds());
    c[RTC_MINUTES] = this.toReg(d.getUTCMinutes());
    const h = d.getUTCHours();
    if (c[RTC_REG_B]! & REG_B_24H) c[RTC_HOURS] = this.toReg(h);
    else c[RTC_HOURS] = this.toReg(h % 12 || 12) | (h >= 12 ? 0x80 : 0);
    c[RTC_DAY_OF_WEEK] = this.toReg(d.getUTCDay() + 1); // 1 = Sunday
    c[RTC_DAY_OF_MONTH] = this.toReg(d.getUTCDate());
    c[RTC_MONTH] = this.toReg(d.getUTCMonth() + 1);
    const year = d.getUTCFullYear();
    c[RTC_YEAR] = this.toReg(year % 100);
    c[RTC_CENTURY] = this.toReg(Math.floor(year / 100));
  }

  /** Time registers -> internal seconds (after the guest set the clock). */
  private decodeTime(): void {
    const c = this.cmos;
    const sec = this.fromReg(c[RTC_SECONDS]!);
    const min = this.fromReg(c[RTC_MINUTES]!);
    const hv = c[RTC_HOURS]!;
    let hour: number;
    if (c[RTC_REG_B]! & REG_B_24H) hour = this.fromReg(hv);
    else hour = (this.fromReg(hv & 0x7f) % 12) + (hv & 0x80 ? 12 : 0);
    const day = this.fromReg(c[RTC_DAY_OF_MONTH]!);
    const month = this.fromReg(c[RTC_MONTH]!);
    let century = this.fromReg(c[RTC_CENTURY]!);
    const yy = this.fromReg(c[RTC_YEAR]!);
    if (century < 19 || century > 29) century = yy < 70 ? 20 : 19;
    this.seconds = Math.floor(Date.UTC(century * 100 + yy, month - 1, day, hour, min, sec) / 1000);
  }

  reset(): void {
    // RESET pin: clears PIE/AIE/UIE/SQWE and the flags; time and RAM are kept.
    this.cmos[RTC_REG_B]! &= ~(REG_B_PIE | REG_B_AIE | REG_B_UIE | REG_B_SQWE);
    this.cmos[RTC_REG_C] = 0;
    this.updateIrq();
    this.scheduleTimers();
  }
}
