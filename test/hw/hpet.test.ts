// HPET register-level tests (IA-PC HPET 1.0a §2.3), the ACPI HPET table (§3.2.4), the MMIO
// registry and the board wiring (LegacyReplacement route taking IRQ0/IRQ8 from the PIT and RTC).
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildAcpiTables } from "../../src/hw/acpi.ts";
import {
  GEN_ENABLE_CNF,
  GEN_LEG_RT_CNF,
  HPET_BASE,
  HPET_FREQ_14MHZ,
  HPET_GCAP_ID,
  HPET_GEN_CONF,
  HPET_GINTR_STA,
  HPET_MAIN_CTR,
  HPET_PERIOD,
  Hpet,
  type HpetOptions,
  hpetTnCmp,
  hpetTnConf,
  TN_32MODE_CNF,
  TN_INT_ENB_CNF,
  TN_INT_ROUTE_SHIFT,
  TN_INT_TYPE_CNF,
  TN_TYPE_CNF,
  TN_VAL_SET_CNF,
} from "../../src/hw/hpet.ts";
import { Clock } from "../../src/machine/clock.ts";
import { MmioBus } from "../../src/machine/mmio.ts";
import { PcMachine } from "../../src/machine/pc.ts";
import { IrqRecorder, NS_PER_MS, runUntil } from "./helpers.ts";

function setup(options: HpetOptions = {}) {
  const clock = new Clock("deterministic");
  const irq = new IrqRecorder();
  const legacy: boolean[] = [];
  const hpet = new Hpet(clock, irq.setIrq, { onLegacyRoute: (on) => legacy.push(on), ...options });
  const rd = (off: number): number => hpet.read(off, 4) >>> 0;
  const wr = (off: number, v: number): void => hpet.write(off, 4, v);
  return { clock, irq, hpet, legacy, rd, wr };
}

test("GCAP_ID: Intel vendor, LEG_RT_CAP, 64-bit counter, 3 timers, rev 1; period in fs", () => {
  const { rd, hpet } = setup();
  assert.equal(rd(HPET_GCAP_ID), 0x8086a201);
  assert.equal(rd(HPET_PERIOD), 10_000_000); // 100 MHz = 10 ns
  assert.equal(hpet.read64(HPET_GCAP_ID), 0x00989680_8086a201n);
  const slow = setup({ frequency: HPET_FREQ_14MHZ });
  assert.equal(slow.rd(HPET_PERIOD), 69_841_279); // 0x0429B17F, the ICH's 14.31818 MHz
  // Byte and word reads see the same register.
  assert.equal(hpet.read(HPET_GCAP_ID + 2, 2), 0x8086);
  assert.equal(hpet.read(HPET_GCAP_ID + 1, 1), 0xa2);
});

test("general configuration: only ENABLE_CNF and LEG_RT_CNF are writable; unused space reads 0", () => {
  const { rd, wr } = setup();
  wr(HPET_GEN_CONF, 0xffffffff);
  assert.equal(rd(HPET_GEN_CONF), 3);
  assert.equal(rd(HPET_GEN_CONF + 4), 0);
  assert.equal(rd(0x008), 0);
  assert.equal(rd(0x0c0), 0);
  assert.equal(rd(0x3f8), 0); // beyond timer 2
});

test("main counter: halted at reset, counts at 100 MHz while enabled, holds its value when halted", () => {
  const { clock, rd, wr, hpet } = setup();
  clock.advanceTo(5 * NS_PER_MS);
  assert.equal(rd(HPET_MAIN_CTR), 0);
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF);
  clock.advance(1 * NS_PER_MS);
  assert.equal(rd(HPET_MAIN_CTR), 100_000);
  clock.advance(15);
  assert.equal(rd(HPET_MAIN_CTR), 100_001);
  wr(HPET_MAIN_CTR, 0x1234); // ignored while running (§2.3.7)
  assert.equal(rd(HPET_MAIN_CTR), 100_001);
  wr(HPET_GEN_CONF, 0);
  clock.advance(NS_PER_MS);
  assert.equal(rd(HPET_MAIN_CTR), 100_001);
  wr(HPET_MAIN_CTR, 0x1234);
  assert.equal(hpet.read64(HPET_MAIN_CTR), 0x1234n);
});

test("main counter: 64-bit writes and reads, carry into the high half and wrap at 2^64", () => {
  const { clock, rd, wr, hpet } = setup();
  hpet.write64(HPET_MAIN_CTR, 0x00000001_fffffff0n);
  assert.equal(rd(HPET_MAIN_CTR + 4), 1);
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF);
  clock.advance(200); // 20 ticks
  assert.equal(hpet.read64(HPET_MAIN_CTR), 0x00000002_00000004n);
  wr(HPET_GEN_CONF, 0);
  hpet.write64(HPET_MAIN_CTR, 0xffffffff_ffffff00n);
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF);
  clock.advance(3000); // 300 ticks
  assert.equal(hpet.read64(HPET_MAIN_CTR), 0x2cn);
});

test("14.31818 MHz counter: one tick per 69.841279 ns", () => {
  const { clock, rd, wr } = setup({ frequency: HPET_FREQ_14MHZ });
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF);
  clock.advance(1e9);
  assert.equal(rd(HPET_MAIN_CTR), Math.floor(1e15 / 69_841_279));
});

test("timer configuration: capabilities, reserved bits and FSB read 0, route kept when not in the capability", () => {
  const { rd, wr } = setup({ intRouteCap: 1 << 5 });
  // Periodic-capable, 64-bit; Tn_INT_ROUTE_CAP in the high half.
  assert.equal(rd(hpetTnConf(0)), 0x30);
  assert.equal(rd(hpetTnConf(0) + 4), 1 << 5);
  wr(hpetTnConf(1), 0xffffffff); // route 31 is not offered: the field keeps its value
  assert.equal(rd(hpetTnConf(1)), 0x17e);
  wr(hpetTnConf(1), 5 << TN_INT_ROUTE_SHIFT);
  assert.equal(rd(hpetTnConf(1)) >>> TN_INT_ROUTE_SHIFT, 5);
  wr(hpetTnConf(1), 7 << TN_INT_ROUTE_SHIFT);
  assert.equal(rd(hpetTnConf(1)) >>> TN_INT_ROUTE_SHIFT, 5);
  assert.equal(rd(0x110), 0); // FSB route
  // Comparators reset to all ones.
  assert.equal(rd(hpetTnCmp(2)), 0xffffffff);
  assert.equal(rd(hpetTnCmp(2) + 4), 0xffffffff);
});

test("legacy replacement: timer 0 one-shot pulses IRQ0 once at the match, again only after the 32-bit wrap", () => {
  const { clock, irq, rd, wr, legacy, hpet } = setup();
  wr(HPET_GEN_CONF, GEN_LEG_RT_CNF);
  assert.deepEqual(legacy, [], "LEG_RT_CNF alone does not route (both bits needed)");
  // As Linux's hpet_clkevt_set_next_event: 32-bit one-shot, comparator = counter + delta.
  wr(hpetTnConf(0), TN_INT_ENB_CNF | TN_32MODE_CNF);
  wr(hpetTnCmp(0), 1000);
  assert.equal(rd(hpetTnCmp(0) + 4), 0, "32-bit mode clears the comparator's high half");
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF | GEN_LEG_RT_CNF);
  assert.deepEqual(legacy, [true]);
  assert.equal(hpet.legacyRoute, true);
  runUntil(clock, 9_999);
  assert.equal(irq.rising[0], 0);
  runUntil(clock, 10_000); // tick 1000
  assert.equal(irq.rising[0], 1);
  assert.equal(irq.level[0], false, "edge-triggered: a pulse");
  assert.equal(rd(HPET_GINTR_STA), 0, "no status bit for edge-triggered timers");
  runUntil(clock, 40_000 * NS_PER_MS);
  assert.equal(irq.rising[0], 1);
  runUntil(clock, 10_000 + 2 ** 32 * 10);
  assert.equal(irq.rising[0], 2, "matches again after 2^32 ticks");
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF);
  assert.deepEqual(legacy, [true, false]);
});

test("a comparator written in the past does not fire until the wrap (equality match)", () => {
  const { clock, irq, wr, rd } = setup();
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF | GEN_LEG_RT_CNF);
  clock.advance(NS_PER_MS); // counter 100000
  wr(hpetTnConf(0), TN_INT_ENB_CNF | TN_32MODE_CNF);
  wr(hpetTnCmp(0), rd(HPET_MAIN_CTR) - 128);
  runUntil(clock, 1000 * NS_PER_MS);
  assert.equal(irq.rising[0], 0);
  // Linux's retry: a comparator ahead of the counter fires.
  wr(hpetTnCmp(0), rd(HPET_MAIN_CTR) + 192);
  runUntil(clock, 1001 * NS_PER_MS);
  assert.equal(irq.rising[0], 1);
});

test("periodic mode programmed as Linux does (SETVAL write, then the period): IRQ0 every period", () => {
  const { clock, irq, rd, wr } = setup();
  const delta = 400_000; // 4 ms at 100 MHz (HZ=250)
  wr(HPET_GEN_CONF, GEN_LEG_RT_CNF); // hpet_stop_counter
  wr(HPET_MAIN_CTR, 1_000_000);
  const now = rd(HPET_MAIN_CTR);
  wr(hpetTnConf(0), TN_INT_ENB_CNF | TN_TYPE_CNF | TN_VAL_SET_CNF | TN_32MODE_CNF);
  assert.ok(rd(hpetTnConf(0)) & TN_VAL_SET_CNF);
  wr(hpetTnCmp(0), now + delta);
  assert.equal(rd(hpetTnConf(0)) & TN_VAL_SET_CNF, 0, "VAL_SET cleared by the comparator write");
  wr(hpetTnCmp(0), delta); // sets only the period now
  assert.equal(rd(hpetTnCmp(0)), now + delta);
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF | GEN_LEG_RT_CNF); // hpet_start_counter
  runUntil(clock, 1000 * NS_PER_MS);
  assert.equal(irq.rising[0], 250);
  assert.equal(rd(hpetTnCmp(0)), now + 251 * delta, "the comparator advanced by the period at each match");
  runUntil(clock, 1000 * NS_PER_MS + 4 * NS_PER_MS - 1);
  assert.equal(irq.rising[0], 250);
  runUntil(clock, 1004 * NS_PER_MS);
  assert.equal(irq.rising[0], 251);
});

test("periodic timer run late: missed matches coalesce into one interrupt, the comparator catches up", () => {
  const { clock, irq, rd, wr, hpet } = setup();
  wr(hpetTnConf(0), TN_INT_ENB_CNF | TN_TYPE_CNF | TN_VAL_SET_CNF);
  hpet.write64(hpetTnCmp(0), 1000n); // 64-bit timer: both halves (the high half resets to all ones)
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF | GEN_LEG_RT_CNF);
  clock.advanceTo(10_500 * 10); // tick 10500: matches at 1000, 2000, ..., 10000 all missed
  clock.runTimers();
  assert.equal(irq.rising[0], 1);
  assert.equal(rd(hpetTnCmp(0)), 11_000);
  assert.equal(rd(hpetTnCmp(0) + 4), 0);
  runUntil(clock, 11_000 * 10);
  assert.equal(irq.rising[0], 2);
});

test("periodic comparator read advances even with interrupts disabled", () => {
  const { clock, rd, wr, irq, hpet } = setup();
  wr(hpetTnConf(2), TN_TYPE_CNF | TN_VAL_SET_CNF);
  hpet.write64(hpetTnCmp(2), 100n);
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF);
  runUntil(clock, 1050 * 10);
  assert.equal(rd(hpetTnCmp(2)), 1100);
  assert.equal(
    irq.rising.reduce((a, b) => a + b, 0),
    0,
  );
});

test("timer 1 drives IRQ8 in legacy mode; level-triggered: status bit holds the line until written 1", () => {
  const { clock, irq, rd, wr } = setup();
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF | GEN_LEG_RT_CNF);
  wr(hpetTnConf(1), TN_INT_ENB_CNF | TN_INT_TYPE_CNF | TN_32MODE_CNF);
  wr(hpetTnCmp(1), 500);
  runUntil(clock, 5000);
  assert.equal(irq.level[8], true);
  assert.equal(rd(HPET_GINTR_STA), 0b10);
  wr(HPET_GINTR_STA, 0b01); // other bits: no effect
  assert.equal(irq.level[8], true);
  wr(HPET_GINTR_STA, 0b10);
  assert.equal(irq.level[8], false);
  assert.equal(rd(HPET_GINTR_STA), 0);
  // Halting the counter drops the line; status stays until cleared.
  wr(hpetTnCmp(1), rd(HPET_MAIN_CTR) + 10);
  runUntil(clock, 6000);
  assert.equal(irq.level[8], true);
  wr(HPET_GEN_CONF, 0);
  assert.equal(irq.level[8], false);
  assert.equal(rd(HPET_GINTR_STA), 0b10);
});

test("level-triggered status is set with interrupts disabled, without driving a line", () => {
  const { clock, irq, rd, wr } = setup();
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF | GEN_LEG_RT_CNF);
  wr(hpetTnConf(0), TN_INT_TYPE_CNF | TN_32MODE_CNF);
  wr(hpetTnCmp(0), 10);
  runUntil(clock, 1000);
  assert.equal(rd(HPET_GINTR_STA), 1);
  assert.equal(irq.rising[0], 0);
  // Enabling the interrupt now asserts the line (the status is still set).
  wr(hpetTnConf(0), TN_INT_TYPE_CNF | TN_INT_ENB_CNF | TN_32MODE_CNF);
  assert.equal(irq.level[0], true);
  // Switching to edge-triggered clears the status and releases the line.
  wr(hpetTnConf(0), TN_INT_ENB_CNF | TN_32MODE_CNF);
  assert.equal(irq.level[0], false);
  assert.equal(rd(HPET_GINTR_STA), 0);
});

test("without legacy route, a timer drives the IRQ its Tn_INT_ROUTE_CNF selects", () => {
  const { clock, irq, wr } = setup({ intRouteCap: (1 << 5) | (1 << 11) });
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF);
  wr(hpetTnConf(0), TN_INT_ENB_CNF | TN_32MODE_CNF | (11 << TN_INT_ROUTE_SHIFT));
  wr(hpetTnConf(2), TN_INT_ENB_CNF | TN_32MODE_CNF | (5 << TN_INT_ROUTE_SHIFT));
  wr(hpetTnCmp(0), 100);
  wr(hpetTnCmp(2), 200);
  runUntil(clock, 3000);
  assert.equal(irq.rising[11], 1);
  assert.equal(irq.rising[5], 1);
  assert.equal(irq.rising[0], 0);
  // Timer 1 with route 0 (not in the capability): no line at all.
  wr(hpetTnConf(1), TN_INT_ENB_CNF | TN_32MODE_CNF);
  wr(hpetTnCmp(1), 400);
  runUntil(clock, 5000);
  assert.equal(irq.rising[0], 0);
});

test("64-bit comparator: matches on the full 64-bit counter; 64-bit write sets both halves at once", () => {
  const { clock, irq, hpet, wr } = setup();
  hpet.write64(HPET_MAIN_CTR, 0x00000000_fffffff0n);
  wr(hpetTnConf(0), TN_INT_ENB_CNF);
  hpet.write64(hpetTnCmp(0), 0x00000001_00000010n);
  assert.equal(hpet.read64(hpetTnCmp(0)), 0x00000001_00000010n);
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF | GEN_LEG_RT_CNF);
  runUntil(clock, 31 * 10);
  assert.equal(irq.rising[0], 0);
  runUntil(clock, 32 * 10);
  assert.equal(irq.rising[0], 1);
  // The next 64-bit match is 2^64 ticks away: nothing more for the next 73 minutes.
  runUntil(clock, 2 ** 42);
  assert.equal(irq.rising[0], 1);
  // Switching to 32-bit mode zeroes the high half.
  wr(hpetTnConf(0), TN_INT_ENB_CNF | TN_32MODE_CNF);
  assert.equal(hpet.read64(hpetTnCmp(0)), 0x10n);
});

test("reset: counter 0 and halted, comparators all ones, legacy route released", () => {
  const { clock, rd, wr, hpet, legacy } = setup();
  wr(HPET_GEN_CONF, GEN_ENABLE_CNF | GEN_LEG_RT_CNF);
  wr(hpetTnConf(0), TN_INT_ENB_CNF | TN_32MODE_CNF);
  wr(hpetTnCmp(0), 5);
  clock.advance(1000);
  hpet.reset();
  assert.deepEqual(legacy, [true, false]);
  assert.equal(rd(HPET_GEN_CONF), 0);
  assert.equal(rd(HPET_MAIN_CTR), 0);
  assert.equal(rd(hpetTnConf(0)), 0x30);
  assert.equal(rd(hpetTnCmp(0)), 0xffffffff);
  assert.equal(clock.nextDeadline(), Number.POSITIVE_INFINITY);
});

test("MMIO registry: dispatch by offset, open bus elsewhere, overlaps refused", () => {
  const bus = new MmioBus();
  const seen: string[] = [];
  bus.register(0xfed00000, 0x400, {
    read: (off, size) => {
      seen.push(`r${off.toString(16)}/${size}`);
      return 0x12345678;
    },
    write: (off, size, v) => void seen.push(`w${off.toString(16)}/${size}=${v.toString(16)}`),
  });
  assert.equal(bus.read(0xfed000f0, 4), 0x12345678);
  assert.equal(bus.read(0xfed000f0, 1), 0x78);
  bus.write(0xfed00010, 4, 3);
  assert.equal(bus.read(0xfed00400, 4), -1);
  assert.equal(bus.read(0xfecffffc, 2), 0xffff);
  bus.write(0xfed00400, 4, 1);
  assert.deepEqual(seen, ["rf0/4", "rf0/1", "w10/4=3"]);
  assert.throws(() => bus.register(0xfed003fc, 8, { read: () => 0, write: () => {} }), /overlaps/);
});

test("ACPI: HPET table in the RSDT with block ID, base address GAS, number and minimum tick", () => {
  const mem = new Uint8Array(0x100000);
  const t = buildAcpiTables(mem, 0xf0100, 0xf0000, { hpet: { address: HPET_BASE, blockId: 0x8086a201 } });
  const rd32 = (a: number): number =>
    (mem[a]! | (mem[a + 1]! << 8) | (mem[a + 2]! << 16) | (mem[a + 3]! << 24)) >>> 0;
  assert.equal(rd32(t.rsdt + 4), 36 + 8, "RSDT holds two entries");
  assert.equal(rd32(t.rsdt + 36), t.fadt);
  const h = rd32(t.rsdt + 40);
  assert.equal(h, t.hpet);
  assert.equal(String.fromCharCode(...mem.subarray(h, h + 4)), "HPET");
  assert.equal(rd32(h + 4), 56);
  assert.equal(mem.subarray(h, h + 56).reduce((s, b) => s + b, 0) & 0xff, 0, "checksum");
  assert.equal(mem.subarray(t.rsdt, t.rsdt + 44).reduce((s, b) => s + b, 0) & 0xff, 0, "RSDT checksum");
  assert.equal(rd32(h + 36), 0x8086a201);
  assert.equal(mem[h + 40], 0, "system memory space");
  assert.equal(mem[h + 41], 64);
  assert.equal(rd32(h + 44), HPET_BASE);
  assert.equal(rd32(h + 48), 0);
  assert.equal(mem[h + 52], 0);
  assert.equal(mem[h + 53]! | (mem[h + 54]! << 8), 128);
  // Without the option the RSDT lists the FADT alone.
  const u = buildAcpiTables(new Uint8Array(0x100000), 0xf0100, 0xf0000);
  assert.equal(u.hpet, undefined);
});

test("board: the HPET answers at 0xFED00000 through the CPU; legacy route takes IRQ0 from the PIT", () => {
  const m = new PcMachine({ ramSize: 16 << 20, clockMode: "deterministic" });
  // The CPU reaches the block through its TLB's I/O path (paging off: linear = physical).
  assert.equal(m.cpu.readLinear32Sup(HPET_BASE) >>> 0, 0x8086a201);
  assert.equal(m.cpu.readLinear32Sup(0xfed01000) >>> 0, 0xffffffff, "nothing is mapped after the block");
  // The ACPI tables built at power-on list an HPET table (after the FADT; the MADT follows).
  const ram = m.mem.ram;
  const rd32 = (a: number): number =>
    (ram[a]! | (ram[a + 1]! << 8) | (ram[a + 2]! << 16) | (ram[a + 3]! << 24)) >>> 0;
  const rsdt = rd32(0xf0010);
  const listed = Array.from({ length: (rd32(rsdt + 4) - 36) / 4 }, (_, i) => rd32(rsdt + 36 + 4 * i));
  const sigs = listed.map((a) => String.fromCharCode(...ram.subarray(a, a + 4)));
  assert.deepEqual(sigs, ["FACP", "HPET", "APIC"]);
  // PIT channel 0, mode 2 at ~1 kHz: IRQ0 edges reach the PIC.
  m.io.out8(0x43, 0x34);
  m.io.out8(0x40, 1193 & 0xff);
  m.io.out8(0x40, 1193 >> 8);
  runUntil(m.clock, 10 * NS_PER_MS);
  const fromPit = m.irqCounts[0]!;
  assert.ok(fromPit >= 9, `PIT edges ${fromPit}`);
  // HPET legacy replacement on: the PIT no longer reaches IRQ0, HPET timer 0 (1 ms periodic) does.
  m.mmio.write(HPET_BASE + hpetTnConf(0), 4, TN_INT_ENB_CNF | TN_TYPE_CNF | TN_VAL_SET_CNF | TN_32MODE_CNF);
  m.mmio.write(HPET_BASE + hpetTnCmp(0), 4, Math.round(m.hpet.frequency / 1000));
  m.mmio.write(HPET_BASE + HPET_GEN_CONF, 4, GEN_ENABLE_CNF | GEN_LEG_RT_CNF);
  const t0 = m.clock.now();
  runUntil(m.clock, t0 + 100 * NS_PER_MS);
  const fromHpet = m.irqCounts[0]! - fromPit;
  assert.ok(fromHpet >= 99 && fromHpet <= 101, `only the HPET's 1 kHz ticks: ${fromHpet}`);
  assert.equal(m.hpet.frequency, HPET_FREQ_14MHZ, "the ICH's rate");
  // Legacy route off: the PIT is reconnected (and the HPET's timer 0 has no route).
  m.mmio.write(HPET_BASE + HPET_GEN_CONF, 4, GEN_ENABLE_CNF);
  const before = m.irqCounts[0]!;
  runUntil(m.clock, t0 + 110 * NS_PER_MS);
  const after = m.irqCounts[0]! - before;
  assert.ok(after >= 9 && after <= 11, `PIT edges again: ${after}`);
});
