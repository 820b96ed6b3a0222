import assert from "node:assert/strict";
import { test } from "node:test";
import { PIT_FREQ, Pit8254 } from "../../src/hw/pit8254.ts";
import { Clock } from "../../src/machine/clock.ts";
import { IoBus } from "../../src/machine/ioport.ts";
import { IrqRecorder, NS_PER_MS, runUntil } from "./helpers.ts";

function setup(): { clock: Clock; io: IoBus; pit: Pit8254; irq: IrqRecorder } {
  const clock = new Clock("deterministic");
  const io = new IoBus();
  const irq = new IrqRecorder();
  const pit = new Pit8254(clock, irq.setIrq, io);
  return { clock, io, pit, irq };
}

const ticksToNs = (t: number): number => Math.ceil((t * 1e9) / PIT_FREQ);

test("mode 2 at 100 Hz (Linux PIT clockevent, periodic): 100 IRQ0 edges per second", () => {
  const { clock, io, irq } = setup();
  const LATCH = Math.floor((PIT_FREQ + 50) / 100); // 11932
  io.out8(0x43, 0x34); // ch0, lobyte/hibyte, mode 2, binary
  io.out8(0x40, LATCH & 0xff);
  io.out8(0x40, LATCH >> 8);
  assert.equal(irq.level[0], true, "OUT high after the count is loaded");
  const start = irq.rising[0];
  runUntil(clock, 500 * NS_PER_MS);
  assert.equal(irq.rising[0] - start, 49); // edges at 10.0002 ms * k
  runUntil(clock, ticksToNs(100 * LATCH));
  assert.equal(irq.rising[0] - start, 100);
  // OUT is low for exactly one input clock before each reload.
  runUntil(clock, ticksToNs(101 * LATCH - 1) + 10);
  assert.equal(irq.level[0], false);
  runUntil(clock, ticksToNs(101 * LATCH));
  assert.equal(irq.level[0], true);
  assert.equal(irq.rising[0] - start, 101);
});

test("mode 0 on channel 2 as Linux pit_calibrate_tsc polls port 0x61 bit 5", () => {
  const { clock, io } = setup();
  const latch = Math.floor(PIT_FREQ / (1000 / 50)); // 50 ms
  io.out8(0x61, (io.in8(0x61) & ~0x02) | 0x01); // gate high, speaker off
  io.out8(0x43, 0xb0); // ch2, lohi, mode 0
  io.out8(0x42, latch & 0xff);
  io.out8(0x42, latch >> 8);
  assert.equal(io.in8(0x61) & 0x20, 0);
  assert.equal(io.in8(0x61) & 0x01, 0x01);
  clock.advanceTo(49.9 * NS_PER_MS);
  assert.equal(io.in8(0x61) & 0x20, 0);
  // Live read of the counter, LSB then MSB, as quick_pit_calibrate does.
  const v = io.in8(0x42) | (io.in8(0x42) << 8);
  assert.ok(Math.abs(v - Math.round(0.1e-3 * PIT_FREQ)) <= 1, `counter ${v}`);
  clock.advanceTo(50.1 * NS_PER_MS);
  assert.equal(io.in8(0x61) & 0x20, 0x20);
});

test("gate low suspends mode 0 counting on channel 2", () => {
  const { clock, io } = setup();
  io.out8(0x61, 0x01);
  io.out8(0x43, 0xb0);
  io.out8(0x42, 0xe8);
  io.out8(0x42, 0x03); // 1000
  clock.advanceTo(ticksToNs(400));
  io.out8(0x61, 0x00);
  clock.advanceTo(ticksToNs(5000));
  io.out8(0x43, 0x80); // latch ch2
  assert.equal(io.in8(0x42) | (io.in8(0x42) << 8), 600);
  io.out8(0x61, 0x01);
  clock.advance(ticksToNs(599));
  assert.equal(io.in8(0x61) & 0x20, 0);
  clock.advance(ticksToNs(2));
  assert.equal(io.in8(0x61) & 0x20, 0x20);
});

test("counter latch command freezes the value until both bytes are read", () => {
  const { clock, io } = setup();
  io.out8(0x43, 0x34);
  io.out8(0x40, 0x00);
  io.out8(0x40, 0x00); // 0 = 65536
  clock.advanceTo(ticksToNs(1000));
  io.out8(0x43, 0x00); // latch ch0
  clock.advance(ticksToNs(500));
  io.out8(0x43, 0x00); // second latch ignored while the first is unread
  const lo = io.in8(0x40);
  clock.advance(ticksToNs(500));
  const hi = io.in8(0x40);
  assert.equal(lo | (hi << 8), 65536 - 1000);
  // Next reads are live again.
  const live = io.in8(0x40) | (io.in8(0x40) << 8);
  assert.equal(live, 65536 - 2000);
});

test("read-back command: status byte (OUT, null count, RW, mode) then count", () => {
  const { clock, io } = setup();
  io.out8(0x43, 0x34);
  io.out8(0x43, 0xe2); // read-back status only, ch0
  assert.equal(io.in8(0x40), 0x40 | 0x34 | 0x80, "null count set before the count is written");
  io.out8(0x40, 100);
  io.out8(0x40, 0);
  clock.advanceTo(ticksToNs(10));
  io.out8(0x43, 0xc2); // count and status, ch0
  assert.equal(io.in8(0x40), 0x80 | 0x34);
  assert.equal(io.in8(0x40), 90);
  assert.equal(io.in8(0x40), 0);
});

test("mode 3 square wave: half high, half low; OUT2 seen in port 0x61", () => {
  const { clock, io, pit } = setup();
  io.out8(0x61, 0x03);
  io.out8(0x43, 0xb6); // ch2 lohi mode 3 (speaker tone)
  io.out8(0x42, 1000 & 0xff);
  io.out8(0x42, 1000 >> 8);
  clock.advanceTo(ticksToNs(499));
  assert.equal(pit.out(2), true);
  clock.advanceTo(ticksToNs(501));
  assert.equal(pit.out(2), false);
  assert.equal(io.in8(0x61) & 0x20, 0);
  clock.advanceTo(ticksToNs(1001));
  assert.equal(io.in8(0x61) & 0x20, 0x20);
  // Counter decrements by two in mode 3.
  clock.advanceTo(ticksToNs(1010));
  io.out8(0x43, 0x80);
  assert.equal(io.in8(0x42) | (io.in8(0x42) << 8), 1000 - 2 * 10);
  assert.deepEqual(pit.speaker(), { enabled: true, frequency: PIT_FREQ / 1000 });
});

test("LSB-only and MSB-only access modes", () => {
  const { clock, io } = setup();
  io.out8(0x43, 0x50); // ch1 LSB only, mode 0
  io.out8(0x41, 200);
  clock.advanceTo(ticksToNs(50));
  assert.equal(io.in8(0x41), 150);
  assert.equal(io.in8(0x41), 150, "no byte toggle in LSB-only mode");
  io.out8(0x43, 0x60); // ch1 MSB only, mode 0
  io.out8(0x41, 0x02); // 0x200
  clock.advance(ticksToNs(256));
  assert.equal(io.in8(0x41), 0x01);
});

test("BCD counting", () => {
  const { clock, io } = setup();
  io.out8(0x43, 0x31); // ch0 lohi mode 0 BCD
  io.out8(0x40, 0x00);
  io.out8(0x40, 0x10); // 1000 decimal
  clock.advanceTo(ticksToNs(1));
  assert.equal(io.in8(0x40) | (io.in8(0x40) << 8), 0x0999);
});

test("mode 0 one-shot on channel 0 (Linux oneshot clockevent): one edge at terminal count", () => {
  const { clock, io, irq } = setup();
  io.out8(0x43, 0x30);
  assert.equal(irq.level[0], false, "OUT low after mode 0 control word");
  io.out8(0x40, 0x10);
  io.out8(0x40, 0x27); // 10000
  const before = irq.rising[0];
  runUntil(clock, ticksToNs(9999));
  assert.equal(irq.rising[0], before);
  runUntil(clock, ticksToNs(10000));
  assert.equal(irq.rising[0], before + 1);
  runUntil(clock, 1e9);
  assert.equal(irq.rising[0], before + 1);
  assert.equal(clock.nextDeadline(), Number.POSITIVE_INFINITY);
  // Reprogramming: first byte stops the count and drops OUT.
  io.out8(0x40, 0x64);
  assert.equal(irq.level[0], false);
  io.out8(0x40, 0x00);
  runUntil(clock, clock.now() + ticksToNs(100));
  assert.equal(irq.rising[0], before + 2);
});

test("mode 1 hardware one-shot waits for a gate edge (channel 2)", () => {
  const { clock, io, pit } = setup();
  io.out8(0x43, 0xb2);
  io.out8(0x42, 100);
  io.out8(0x42, 0);
  clock.advanceTo(ticksToNs(500));
  assert.equal(pit.out(2), true);
  io.out8(0x61, 0x01); // trigger
  clock.advance(ticksToNs(50));
  assert.equal(pit.out(2), false);
  clock.advance(ticksToNs(51));
  assert.equal(pit.out(2), true);
});

test("port 0x61 refresh toggle flips every 15 us", () => {
  const { clock, io } = setup();
  const a = io.in8(0x61) & 0x10;
  clock.advance(15085);
  const b = io.in8(0x61) & 0x10;
  assert.notEqual(a, b);
  io.out8(0x61, 0x0c);
  assert.equal(io.in8(0x61) & 0x0f, 0x0c);
});
