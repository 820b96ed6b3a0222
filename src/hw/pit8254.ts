// Intel 8254 programmable interval timer (ports 0x40-0x43) and the PC/AT's system control
// port B (0x61), which holds channel 2's gate, the speaker data bit, and reads back channel
// 2's OUT and the DRAM refresh toggle.
//
// Counters are not ticked: each channel remembers when its count was loaded, and its value
// and OUT pin are computed from the virtual clock (1.193182 MHz input). Channel 0's OUT drives
// IRQ0; its next OUT transition is scheduled as a Clock timer.
//
// Reference: Intel 8254 datasheet (order 231164): "Control Word Format", "Read-Back Command",
// "Counter Latch Command", "Modes" (0-5) and "Gate" table (Figure 20).

import type { Clock, Timer } from "../machine/clock.ts";
import type { IoBus } from "../machine/ioport.ts";
import type { SetIrq } from "../machine/irq.ts";

export const PIT_FREQ = 1193182;
/** DRAM refresh request period on the AT (port 0x61 bit 4 toggles every 15.085 us). */
const REFRESH_PERIOD_NS = 15085;

// Control word (port 0x43) fields.
const PIT_SC_READBACK = 3;
const PIT_RW_LATCH = 0;
const PIT_RW_LSB = 1;
const PIT_RW_MSB = 2;
const PIT_RW_LSB_MSB = 3;
// Read-back command bits (active low).
const PIT_RB_NOT_COUNT = 0x20;
const PIT_RB_NOT_STATUS = 0x10;
// Status byte (read-back).
const PIT_STATUS_OUT = 0x80;
const PIT_STATUS_NULL_COUNT = 0x40;

// Port 0x61 bits.
const PORTB_GATE2 = 0x01;
const PORTB_SPKR_DATA = 0x02;
const PORTB_REFRESH = 0x10;
const PORTB_OUT2 = 0x20;

export const PIT_MODE_INTERRUPT_ON_TC = 0;
export const PIT_MODE_ONESHOT = 1;
export const PIT_MODE_RATE = 2;
export const PIT_MODE_SQUARE = 3;
export const PIT_MODE_SW_STROBE = 4;
export const PIT_MODE_HW_STROBE = 5;

function ticksBetween(fromNs: number, toNs: number): number {
  return Math.floor(((toNs - fromNs) * PIT_FREQ) / 1e9);
}

/** First virtual time at which `ticks` input clocks have elapsed since `loadNs`. */
function timeOfTick(loadNs: number, ticks: number): number {
  let t = loadNs + Math.ceil((ticks * 1e9) / PIT_FREQ);
  // Guard against float rounding so that ticksBetween(load, t) >= ticks always holds.
  while (ticksBetween(loadNs, t) < ticks) t++;
  return t;
}

function bcdToBin(v: number): number {
  return ((v >> 12) & 0xf) * 1000 + ((v >> 8) & 0xf) * 100 + ((v >> 4) & 0xf) * 10 + (v & 0xf);
}

function binToBcd(v: number): number {
  return (
    ((Math.floor(v / 1000) % 10) << 12) |
    ((Math.floor(v / 100) % 10) << 8) |
    ((Math.floor(v / 10) % 10) << 4) |
    (v % 10)
  );
}

class PitChannel {
  mode = PIT_MODE_SQUARE;
  bcd = false;
  rw = PIT_RW_LSB_MSB;
  /** Reload value in input clocks: 1..0x10000 (or 1..10000 in BCD). */
  count = 0x10000;
  /** Virtual time of the count load (or of the gate trigger for modes 1/5). */
  loadNs = 0;
  /** A count is loaded and (for modes 1 and 5) triggered: the counter is running. */
  armed = false;
  gate: boolean;
  /** Time the gate went low (counting suspended in modes 0, 2, 3, 4). */
  gateLowNs = 0;
  nullCount = true;
  /** Value read while not armed. */
  heldCounter = 0;

  // Access state.
  writeLsbNext = true;
  writeLatch = 0;
  readLsbNext = true;
  latched = false;
  latchedValue = 0;
  latchedRw = 0;
  statusLatched = false;
  statusValue = 0;

  constructor(gate: boolean) {
    this.gate = gate;
  }

  private suspendedByGate(): boolean {
    return !this.gate && this.mode !== PIT_MODE_ONESHOT && this.mode !== PIT_MODE_HW_STROBE;
  }

  /** Input clocks counted since load at `now` (frozen while the gate suspends counting). */
  elapsed(now: number): number {
    const t = this.suspendedByGate() ? Math.min(now, this.gateLowNs) : now;
    return t > this.loadNs ? ticksBetween(this.loadNs, t) : 0;
  }

  out(now: number): boolean {
    if (!this.armed) return this.mode !== PIT_MODE_INTERRUPT_ON_TC; // mode 0 OUT low after CW
    const d = this.elapsed(now);
    const n = this.count;
    switch (this.mode) {
      case PIT_MODE_INTERRUPT_ON_TC:
        return d >= n;
      case PIT_MODE_ONESHOT:
        return d >= n;
      case PIT_MODE_RATE:
        // Low for the one clock when the counter reads 1 (datasheet mode 2); gate low forces high.
        if (!this.gate) return true;
        return d % n !== n - 1;
      case PIT_MODE_SQUARE:
        // High for ceil(N/2) clocks, low for floor(N/2).
        if (!this.gate) return true;
        return d % n < (n + 1) >> 1;
      default: // 4, 5: one-clock low strobe when the count expires
        return d !== n;
    }
  }

  /** Tick count (since load) of the next OUT transition after `now`, or -1 if none is due. */
  nextTransitionTick(now: number): number {
    if (!this.armed || this.suspendedByGate()) return -1;
    const d = this.elapsed(now);
    const n = this.count;
    switch (this.mode) {
      case PIT_MODE_INTERRUPT_ON_TC:
      case PIT_MODE_ONESHOT:
        return d < n ? n : -1;
      case PIT_MODE_RATE: {
        const base = d - (d % n);
        if (n === 1) return d + 1;
        return d % n < n - 1 ? base + n - 1 : base + n;
      }
      case PIT_MODE_SQUARE: {
        const base = d - (d % n);
        const half = (n + 1) >> 1;
        return d % n < half ? base + half : base + n;
      }
      default:
        if (d < n) return n;
        return d === n ? n + 1 : -1;
    }
  }

  counter(now: number): number {
    if (!this.armed) return this.heldCounter;
    const d = this.elapsed(now);
    const n = this.count;
    let v: number;
    switch (this.mode) {
      case PIT_MODE_RATE:
        v = n - (d % n);
        break;
      case PIT_MODE_SQUARE:
        // Mode 3 decrements by two each clock.
        v = n - ((2 * d) % n);
        break;
      default:
        v = (n - d) % 0x10000;
        if (v < 0) v += 0x10000;
    }
    if (this.bcd) return binToBcd(v % 10000);
    return v & 0xffff;
  }

  status(now: number): number {
    return (
      (this.out(now) ? PIT_STATUS_OUT : 0) |
      (this.nullCount ? PIT_STATUS_NULL_COUNT : 0) |
      (this.rw << 4) |
      (this.mode << 1) |
      (this.bcd ? 1 : 0)
    );
  }
}

export class Pit8254 {
  readonly channels: PitChannel[] = [new PitChannel(true), new PitChannel(true), new PitChannel(false)];
  private readonly timer: Timer;
  private irqLevel = false;
  private speakerData = false;
  /** Port 0x61 bits 2-3 (parity/channel check enables) read back as written. */
  private portBLatch = 0;

  constructor(
    private readonly clock: Clock,
    private readonly setIrq: SetIrq,
    io?: IoBus,
  ) {
    this.timer = clock.newTimer(() => this.onTimer());
    if (io) this.registerPorts(io);
  }

  registerPorts(io: IoBus): void {
    io.register(0x40, 4, {
      read8: (port) => this.readPort(port),
      write8: (port, value) => this.writePort(port, value),
    });
    io.register(0x61, 1, {
      read8: () => this.readPortB(),
      write8: (_port, value) => this.writePortB(value),
    });
  }

  /** OUT pin of a channel now (channel 2 OUT is port 0x61 bit 5). */
  out(channel: number): boolean {
    return this.channels[channel]!.out(this.clock.now());
  }

  /** Speaker state for a sound back-end: gate2 && data bit, square wave at this frequency. */
  speaker(): { enabled: boolean; frequency: number } {
    const c = this.channels[2]!;
    return {
      enabled: c.gate && this.speakerData && c.mode === PIT_MODE_SQUARE,
      frequency: PIT_FREQ / c.count,
    };
  }

  readPort(port: number): number {
    const idx = port & 3;
    if (idx === 3) return 0xff; // control word register is write-only
    const c = this.channels[idx]!;
    const now = this.clock.now();
    if (c.statusLatched) {
      c.statusLatched = false;
      return c.statusValue;
    }
    if (c.latched) {
      let byte: number;
      if (c.latchedRw === PIT_RW_MSB) {
        byte = c.latchedValue >> 8;
        c.latched = false;
      } else if (c.latchedRw === PIT_RW_LSB) {
        byte = c.latchedValue & 0xff;
        c.latched = false;
      } else if (c.readLsbNext) {
        byte = c.latchedValue & 0xff;
        c.readLsbNext = false;
      } else {
        byte = c.latchedValue >> 8;
        c.readLsbNext = true;
        c.latched = false;
      }
      return byte;
    }
    const v = c.counter(now);
    switch (c.rw) {
      case PIT_RW_LSB:
        return v & 0xff;
      case PIT_RW_MSB:
        return v >> 8;
      default:
        c.readLsbNext = !c.readLsbNext;
        return c.readLsbNext ? v >> 8 : v & 0xff;
    }
  }

  writePort(port: number, value: number): void {
    const idx = port & 3;
    const now = this.clock.now();
    if (idx === 3) {
      this.writeControl(value, now);
      return;
    }
    const c = this.channels[idx]!;
    switch (c.rw) {
      case PIT_RW_LSB:
        this.loadCount(idx, value, now);
        break;
      case PIT_RW_MSB:
        this.loadCount(idx, value << 8, now);
        break;
      default:
        if (c.writeLsbNext) {
          c.writeLatch = value;
          c.writeLsbNext = false;
          // Mode 0: writing the first byte stops the count (datasheet, mode 0).
          if (c.mode === PIT_MODE_INTERRUPT_ON_TC && c.armed) {
            c.heldCounter = c.counter(now);
            c.armed = false;
            this.channelChanged(idx);
          }
        } else {
          c.writeLsbNext = true;
          this.loadCount(idx, c.writeLatch | (value << 8), now);
        }
    }
  }

  private writeControl(value: number, now: number): void {
    const sc = value >> 6;
    if (sc === PIT_SC_READBACK) {
      for (let i = 0; i < 3; i++) {
        if ((value & (2 << i)) === 0) continue;
        const c = this.channels[i]!;
        if ((value & PIT_RB_NOT_COUNT) === 0) this.latchCount(c, now);
        if ((value & PIT_RB_NOT_STATUS) === 0 && !c.statusLatched) {
          c.statusLatched = true;
          c.statusValue = c.status(now);
        }
      }
      return;
    }
    const c = this.channels[sc]!;
    const rw = (value >> 4) & 3;
    if (rw === PIT_RW_LATCH) {
      this.latchCount(c, now);
      return;
    }
    c.heldCounter = c.counter(now);
    c.rw = rw;
    let mode = (value >> 1) & 7;
    if (mode > 5) mode -= 4; // 110 and 111 are aliases of modes 2 and 3
    c.mode = mode;
    c.bcd = (value & 1) !== 0;
    c.armed = false;
    c.nullCount = true;
    c.writeLsbNext = true;
    c.readLsbNext = true;
    c.latched = false;
    c.statusLatched = false;
    this.channelChanged(sc);
  }

  /** Counter latch: ignored while a previous latch is still unread (datasheet). */
  private latchCount(c: PitChannel, now: number): void {
    if (c.latched) return;
    c.latched = true;
    c.latchedValue = c.counter(now);
    c.latchedRw = c.rw;
    c.readLsbNext = true;
  }

  private loadCount(idx: number, raw: number, now: number): void {
    const c = this.channels[idx]!;
    let n = c.bcd ? bcdToBin(raw) : raw;
    if (n === 0) n = c.bcd ? 10000 : 0x10000;
    c.count = n;
    c.nullCount = false;
    if (c.mode === PIT_MODE_ONESHOT || c.mode === PIT_MODE_HW_STROBE) {
      // Hardware-triggered modes wait for a gate rising edge; a running count continues.
      if (!c.armed) c.heldCounter = n & 0xffff;
    } else {
      // Modes 2/3 would normally pick up a new count at the end of the current period;
      // reloading at once (as QEMU does) is indistinguishable for the guests we run.
      c.loadNs = now;
      c.armed = true;
      if (!c.gate) c.gateLowNs = now;
    }
    this.channelChanged(idx);
  }

  /** Gate input (channel 2's comes from port 0x61 bit 0; 0 and 1 are tied high). */
  setGate(idx: number, level: boolean): void {
    const c = this.channels[idx]!;
    if (c.gate === level) return;
    const now = this.clock.now();
    c.gate = level;
    if (!level) {
      c.gateLowNs = now;
    } else {
      switch (c.mode) {
        case PIT_MODE_INTERRUPT_ON_TC:
        case PIT_MODE_SW_STROBE:
          // Counting resumes where it stopped.
          if (c.armed && now > c.gateLowNs) c.loadNs += now - c.gateLowNs;
          break;
        case PIT_MODE_ONESHOT:
        case PIT_MODE_HW_STROBE:
          // Rising edge (re)triggers the count.
          if (!c.nullCount) {
            c.loadNs = now;
            c.armed = true;
          }
          break;
        default:
          // Modes 2/3: rising edge reloads the count.
          if (c.armed) c.loadNs = now;
      }
    }
    this.channelChanged(idx);
  }

  private readPortB(): number {
    const now = this.clock.now();
    const refresh = Math.floor(now / REFRESH_PERIOD_NS) & 1;
    return (
      (this.channels[2]!.gate ? PORTB_GATE2 : 0) |
      (this.speakerData ? PORTB_SPKR_DATA : 0) |
      this.portBLatch |
      (refresh ? PORTB_REFRESH : 0) |
      (this.channels[2]!.out(now) ? PORTB_OUT2 : 0)
    );
  }

  private writePortB(value: number): void {
    this.speakerData = (value & PORTB_SPKR_DATA) !== 0;
    this.portBLatch = value & 0x0c;
    this.setGate(2, (value & PORTB_GATE2) !== 0);
  }

  /** Re-evaluate IRQ0 and its timer after channel 0 changed. */
  private channelChanged(idx: number): void {
    if (idx === 0) this.updateIrq(this.clock.now());
  }

  private updateIrq(now: number): void {
    const c = this.channels[0]!;
    const level = c.out(now);
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.setIrq(0, level);
    }
    const tick = c.nextTransitionTick(now);
    if (tick < 0) this.timer.del();
    else this.timer.mod(timeOfTick(c.loadNs, tick));
  }

  private onTimer(): void {
    // Evaluate at the deadline, not at now: a late timer still produces every edge in order,
    // each one a separate IRQ0 pulse, like QEMU's catch-up. A long stall is not replayed.
    const now = this.clock.now();
    const at = now - this.timer.deadline > 1e8 ? now : this.timer.deadline;
    this.updateIrq(at);
  }

  reset(): void {
    for (let i = 0; i < 3; i++) {
      const c = this.channels[i]!;
      c.mode = PIT_MODE_SQUARE;
      c.armed = false;
      c.nullCount = true;
      c.rw = PIT_RW_LSB_MSB;
      c.latched = false;
      c.statusLatched = false;
      c.writeLsbNext = true;
      c.readLsbNext = true;
    }
    this.updateIrq(this.clock.now());
  }

  /** `info pit`-style dump. */
  dump(): string {
    const now = this.clock.now();
    let s = "";
    this.channels.forEach((c, i) => {
      s +=
        `ch${i}: mode=${c.mode} bcd=${c.bcd ? 1 : 0} rw=${c.rw} count=${c.count} ` +
        `counter=${c.counter(now)} gate=${c.gate ? 1 : 0} out=${c.out(now) ? 1 : 0}\n`;
    });
    return s;
  }
}
