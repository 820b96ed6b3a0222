// 82093AA I/O APIC tests (datasheet 290566-001 §3): indirect registers, edge and level pins with
// Remote IRR and EOI, masking, destinations, and the PC board's wiring (IRQ0 on pin 2).
import assert from "node:assert/strict";
import { test } from "node:test";
import { APIC_EOI, APIC_ISR, APIC_LDR, LocalApic } from "../../src/hw/apic.ts";
import {
  IOAPIC_DEST_LOGICAL,
  IOAPIC_IOREGSEL,
  IOAPIC_IOWIN,
  IOAPIC_LEVEL,
  IOAPIC_MASKED,
  IOAPIC_REG_REDTBL,
  IOAPIC_REMOTE_IRR,
  IoApic,
} from "../../src/hw/ioapic.ts";
import { Clock } from "../../src/machine/clock.ts";
import { PcMachine } from "../../src/machine/pc.ts";

function setup() {
  const clock = new Clock("deterministic");
  const noPic = { hasInterrupt: () => false, acknowledge: () => 0 };
  let ioapic: IoApic | null = null;
  let nmis = 0;
  const lapic = new LocalApic(clock, noPic, { raiseNmi: () => nmis++, eoiBroadcast: (v) => ioapic!.eoi(v) });
  ioapic = new IoApic(lapic, 1);
  const io = ioapic;
  const reg = (index: number): number => {
    io.write(IOAPIC_IOREGSEL, 4, index);
    return io.read(IOAPIC_IOWIN, 4) >>> 0;
  };
  const setReg = (index: number, v: number): void => {
    io.write(IOAPIC_IOREGSEL, 4, index);
    io.write(IOAPIC_IOWIN, 4, v);
  };
  const route = (pin: number, low: number, dest = 0): void => {
    setReg(IOAPIC_REG_REDTBL + 2 * pin + 1, dest << 24);
    setReg(IOAPIC_REG_REDTBL + 2 * pin, low);
  };
  /** Take the next interrupt the CPU would get, and EOI it. */
  const take = (): number => {
    if (!lapic.hasInterrupt()) return -1;
    const v = lapic.acknowledge();
    lapic.write(APIC_EOI, 4, 0);
    return v;
  };
  return { lapic, ioapic: io, reg, setReg, route, take, nmis: () => nmis };
}

test("ID, version (24 pins), arbitration; entries reset masked", () => {
  const { reg, setReg } = setup();
  assert.equal(reg(0), 1 << 24);
  assert.equal(reg(1), 0x00170011);
  assert.equal(reg(2), 1 << 24);
  for (let pin = 0; pin < 24; pin++) assert.equal(reg(IOAPIC_REG_REDTBL + 2 * pin), IOAPIC_MASKED);
  setReg(0, 0x0a000000);
  assert.equal(reg(0), 0x0a000000);
  setReg(IOAPIC_REG_REDTBL + 2 * 5, 0xffffffff);
  assert.equal(reg(IOAPIC_REG_REDTBL + 2 * 5), 0x1afff, "delivery status and Remote IRR are read-only");
});

test("edge pin: one interrupt per rising edge; masked edges are lost", () => {
  const { ioapic, route, take } = setup();
  route(2, 0x30);
  ioapic.setPin(2, true);
  ioapic.setPin(2, true);
  assert.equal(take(), 0x30);
  assert.equal(take(), -1, "holding the line high is not a new edge");
  ioapic.setPin(2, false);
  ioapic.setPin(2, true);
  assert.equal(take(), 0x30);
  ioapic.setPin(2, false);
  route(2, 0x30 | IOAPIC_MASKED);
  ioapic.setPin(2, true);
  route(2, 0x30);
  assert.equal(take(), -1);
});

test("level pin: Remote IRR until EOI, resent while still asserted, sent on unmask", () => {
  const { lapic, ioapic, reg, route, take } = setup();
  route(9, 0x39 | IOAPIC_LEVEL);
  ioapic.setPin(9, true);
  assert.equal(reg(IOAPIC_REG_REDTBL + 18) & IOAPIC_REMOTE_IRR, IOAPIC_REMOTE_IRR);
  assert.equal(lapic.acknowledge(), 0x39);
  assert.notEqual(lapic.read(APIC_ISR + 0x10, 4), 0);
  // EOI with the line still asserted: Remote IRR clears and the interrupt comes again.
  lapic.write(APIC_EOI, 4, 0);
  assert.equal(reg(IOAPIC_REG_REDTBL + 18) & IOAPIC_REMOTE_IRR, IOAPIC_REMOTE_IRR);
  ioapic.setPin(9, false);
  assert.equal(take(), 0x39);
  assert.equal(reg(IOAPIC_REG_REDTBL + 18) & IOAPIC_REMOTE_IRR, 0);
  assert.equal(take(), -1);
  // Masked while asserted: nothing; unmasking sends it.
  route(9, 0x39 | IOAPIC_LEVEL | IOAPIC_MASKED);
  ioapic.setPin(9, true);
  assert.equal(take(), -1);
  route(9, 0x39 | IOAPIC_LEVEL);
  assert.equal(take(), 0x39);
});

test("destinations: physical ID, logical flat; NMI delivery mode", () => {
  const { lapic, ioapic, route, take, nmis } = setup();
  route(4, 0x34, 1); // physical APIC 1: nobody
  ioapic.setPin(4, true);
  ioapic.setPin(4, false);
  assert.equal(take(), -1);
  lapic.write(APIC_LDR, 4, 0x01000000);
  route(4, 0x34 | IOAPIC_DEST_LOGICAL | (1 << 8), 1); // logical 1, lowest priority
  ioapic.setPin(4, true);
  ioapic.setPin(4, false);
  assert.equal(take(), 0x34);
  route(5, 4 << 8); // NMI
  ioapic.setPin(5, true);
  assert.equal(nmis(), 1);
});

test("PC board: the PIT's IRQ0 reaches I/O APIC pin 2", () => {
  const m = new PcMachine({ ramSize: 16 << 20, clockMode: "deterministic" });
  const wr = (index: number, v: number): void => {
    m.mmio.write(0xfec00000, 4, index);
    m.mmio.write(0xfec00010, 4, v);
  };
  wr(IOAPIC_REG_REDTBL + 4, 0x30);
  wr(IOAPIC_REG_REDTBL + 5, 0);
  // Mask LINT0 so only the I/O APIC path can deliver.
  m.mmio.write(0xfee00350, 4, 0x10700);
  // PIT channel 0, mode 2, count 100: IRQ0 rises within 100 ticks.
  m.io.out8(0x43, 0x34);
  m.io.out8(0x40, 100);
  m.io.out8(0x40, 0);
  for (let i = 0; i < 100 && !m.lapic.hasInterrupt(); i++) {
    m.clock.advance(10_000);
    m.clock.runTimers();
  }
  assert.equal(m.lapic.hasInterrupt(), true);
  assert.equal(m.lapic.acknowledge(), 0x30);
});

test("an ExtINT pin takes the vector from the 8259A even with LINT0 masked", () => {
  const clock = new Clock("deterministic");
  let pending = -1;
  const pic = { hasInterrupt: () => pending >= 0, acknowledge: () => pending };
  const lapic = new LocalApic(clock, pic, { raiseNmi: () => {}, eoiBroadcast: () => {} });
  const io = new IoApic(lapic, 1);
  lapic.write(0x350, 4, 0x10700); // LINT0 masked
  io.write(IOAPIC_IOREGSEL, 4, IOAPIC_REG_REDTBL);
  io.write(IOAPIC_IOWIN, 4, 7 << 8); // pin 0: ExtINT
  pending = 0x20;
  assert.equal(lapic.hasInterrupt(), false);
  io.setPin(0, true);
  assert.equal(lapic.hasInterrupt(), true);
  assert.equal(lapic.acknowledge(), 0x20);
});
