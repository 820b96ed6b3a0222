import assert from "node:assert/strict";
import { test } from "node:test";
import { Mc146818 } from "../../src/hw/mc146818.ts";
import { Clock } from "../../src/machine/clock.ts";
import { IoBus } from "../../src/machine/ioport.ts";
import { IrqRecorder, NS_PER_MS, runUntil } from "./helpers.ts";

// Thursday 2024-02-29 23:59:58.250 UTC
const BASE = Date.UTC(2024, 1, 29, 23, 59, 58, 250);

function setup(baseTimeMs = BASE): { clock: Clock; io: IoBus; rtc: Mc146818; irq: IrqRecorder } {
  const clock = new Clock("deterministic");
  const io = new IoBus();
  const irq = new IrqRecorder();
  const rtc = new Mc146818(clock, irq.setIrq, io, { baseTimeMs });
  return { clock, io, rtc, irq };
}

const cmos = (io: IoBus, i: number): number => {
  io.out8(0x70, i);
  return io.in8(0x71);
};
const cmosWrite = (io: IoBus, i: number, v: number): void => {
  io.out8(0x70, i);
  io.out8(0x71, v);
};

const readTime = (io: IoBus): number[] => [0, 2, 4, 6, 7, 8, 9, 0x32].map((i) => cmos(io, i));

test("power-on time from the host clock, BCD 24h; registers A-D defaults", () => {
  const { io } = setup();
  assert.deepEqual(readTime(io), [0x58, 0x59, 0x23, 0x05, 0x29, 0x02, 0x24, 0x20]);
  assert.equal(cmos(io, 0x0a), 0x26);
  assert.equal(cmos(io, 0x0b), 0x02);
  assert.equal(cmos(io, 0x0c), 0x00);
  assert.equal(cmos(io, 0x0d), 0x80);
});

test("update cycles advance the time (leap day rollover), first one at the host second edge", () => {
  const { clock, io } = setup();
  runUntil(clock, 749 * NS_PER_MS);
  assert.equal(cmos(io, 0), 0x58);
  runUntil(clock, 751 * NS_PER_MS);
  assert.equal(cmos(io, 0), 0x59);
  runUntil(clock, 1751 * NS_PER_MS);
  assert.deepEqual(readTime(io), [0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x24, 0x20]);
});

test("binary and 12-hour formats per register B", () => {
  const { io } = setup();
  cmosWrite(io, 0x0b, 0x04); // binary, 12h
  assert.equal(cmos(io, 4), 0x80 | 11, "23h = 11 PM");
  assert.equal(cmos(io, 0), 58);
  assert.equal(cmos(io, 9), 24);
  assert.equal(cmos(io, 0x32), 20);
  cmosWrite(io, 0x0b, 0x00); // BCD 12h
  assert.equal(cmos(io, 4), 0x91);
});

test("SET inhibits updates; the time written while SET is taken when SET clears", () => {
  const { clock, io, rtc } = setup();
  cmosWrite(io, 0x0b, 0x82);
  cmosWrite(io, 0x00, 0x30);
  cmosWrite(io, 0x02, 0x15);
  cmosWrite(io, 0x04, 0x08);
  cmosWrite(io, 0x07, 0x01);
  cmosWrite(io, 0x08, 0x01);
  cmosWrite(io, 0x09, 0x99);
  cmosWrite(io, 0x32, 0x19);
  runUntil(clock, 3000 * NS_PER_MS);
  assert.equal(cmos(io, 0), 0x30, "frozen while SET");
  cmosWrite(io, 0x0b, 0x02);
  assert.equal(rtc.timeMs(), Date.UTC(1999, 0, 1, 8, 15, 30));
  runUntil(clock, 4000 * NS_PER_MS);
  assert.equal(cmos(io, 0), 0x31);
});

test("UIP is set in the 244 us before an update", () => {
  const { clock, io } = setup();
  clock.advanceTo(750 * NS_PER_MS - 300_000);
  assert.equal(cmos(io, 0x0a) & 0x80, 0);
  clock.advanceTo(750 * NS_PER_MS - 200_000);
  assert.equal(cmos(io, 0x0a) & 0x80, 0x80);
  clock.advanceTo(750 * NS_PER_MS + 1);
  assert.equal(cmos(io, 0x0a) & 0x80, 0);
  assert.equal(cmos(io, 0), 0x59, "update done even before the timer ran");
});

test("periodic interrupt at 1024 Hz; register C read acknowledges it", () => {
  const { clock, io, irq } = setup();
  cmosWrite(io, 0x0a, 0x26);
  cmosWrite(io, 0x0b, 0x42); // PIE
  let count = 0;
  for (let t = 0; t <= 100 * NS_PER_MS; t += 50_000) {
    runUntil(clock, t);
    if (irq.level[8]) {
      count++;
      const c = cmos(io, 0x0c);
      assert.equal(c & 0xc0, 0xc0, "IRQF|PF");
      assert.equal(irq.level[8], false, "reading C lowers IRQ8");
    }
  }
  assert.equal(count, Math.floor((100 * NS_PER_MS) / 976562.5));
  cmosWrite(io, 0x0a, 0x2f); // 2 Hz
  cmos(io, 0x0c);
  const before = irq.rising[8];
  runUntil(clock, clock.now() + 499 * NS_PER_MS);
  const c1 = irq.rising[8];
  cmos(io, 0x0c);
  runUntil(clock, clock.now() + 1000 * NS_PER_MS);
  cmos(io, 0x0c);
  assert.ok(c1 - before <= 1 && irq.rising[8] - before >= 2);
});

test("PF is set even with PIE off, without an interrupt", () => {
  const { clock, io, irq } = setup();
  cmos(io, 0x0c);
  runUntil(clock, 2 * NS_PER_MS);
  assert.equal(cmos(io, 0x0c) & 0x40, 0x40);
  assert.equal(irq.rising[8], 0);
});

test("update-ended and alarm interrupts", () => {
  const { clock, io, irq } = setup();
  cmosWrite(io, 0x01, 0x01); // alarm 00:00:01 -> next day
  cmosWrite(io, 0x03, 0x00);
  cmosWrite(io, 0x05, 0x00);
  cmos(io, 0x0c);
  cmosWrite(io, 0x0b, 0x32); // AIE|UIE
  runUntil(clock, 751 * NS_PER_MS);
  assert.equal(irq.level[8], true);
  assert.equal(cmos(io, 0x0c) & 0xb0, 0x90, "IRQF|UF (PF too, PIE being off does not stop it)");
  assert.equal(cmos(io, 0x0c) & 0xb0, 0x00);
  runUntil(clock, 2751 * NS_PER_MS); // 23:59:59 -> 00:00:00 -> 00:00:01
  assert.equal(cmos(io, 0x0c) & 0xb0, 0xb0, "IRQF|AF|UF");
  cmosWrite(io, 0x0b, 0x22); // AIE only, alarm: don't care hours/minutes, second 0x05
  cmosWrite(io, 0x03, 0xff);
  cmosWrite(io, 0x05, 0xff);
  cmosWrite(io, 0x01, 0x05);
  runUntil(clock, 5751 * NS_PER_MS);
  assert.equal(irq.level[8], false);
  runUntil(clock, 6751 * NS_PER_MS);
  assert.equal(irq.level[8], true);
  assert.equal(cmos(io, 0x0c) & 0xa0, 0xa0);
});

test("NMI mask bit of port 0x70, CMOS RAM, memory size bytes", () => {
  const { io, rtc } = setup();
  io.out8(0x70, 0x80 | 0x40);
  assert.equal(rtc.nmiMasked, true);
  io.out8(0x71, 0x5a);
  io.out8(0x70, 0x40);
  assert.equal(rtc.nmiMasked, false);
  assert.equal(io.in8(0x71), 0x5a);
  rtc.setMemorySize(128 * 1024 * 1024);
  const w = (i: number): number => cmos(io, i) | (cmos(io, i + 1) << 8);
  assert.equal(w(0x15), 640);
  assert.equal(w(0x17), 0xffff);
  assert.equal(w(0x30), 0xffff);
  assert.equal(w(0x34), (128 - 16) * 16);
  rtc.setMemorySize(32 * 1024 * 1024);
  assert.equal(w(0x17), 31 * 1024);
  assert.equal(w(0x34), 256);
  let sum = 0;
  for (let i = 0x10; i <= 0x2d; i++) sum += cmos(io, i);
  assert.equal((cmos(io, 0x2e) << 8) | cmos(io, 0x2f), sum);
});

test("rate select 1 and 2 alias rates 8 and 9 (256 Hz, 128 Hz)", () => {
  const { clock, io, irq } = setup();
  cmosWrite(io, 0x0a, 0x21);
  cmosWrite(io, 0x0b, 0x42);
  cmos(io, 0x0c);
  const start = irq.rising[8];
  for (let t = 0; t <= 100 * NS_PER_MS; t += 100_000) {
    runUntil(clock, t);
    if (irq.level[8]) cmos(io, 0x0c);
  }
  assert.equal(irq.rising[8] - start, 25); // 100 ms / 3.90625 ms
});
