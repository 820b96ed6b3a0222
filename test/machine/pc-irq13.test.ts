// The PC board's x87 error path: FERR# -> IRQ13 (slave PIC input 5) and port F0h, which clears the
// request and asserts IGNNE# (PC/AT, PIIX coprocessor error logic). Real-mode programs with
// CR0.NE = 0 run on the board's CPU with its PIC; the clock is deterministic.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EXIT_HLT } from "../../src/cpu/cpu.ts";
import type { X87 } from "../../src/cpu/fpu.ts";
import { CR0_NE, CS, DS, ES, ESP, R_CR0, R_EIP, SS } from "../../src/cpu/state.ts";
import { PcMachine } from "../../src/machine/pc.ts";
import { hex } from "../cpu/helpers.ts";

function board(): { m: PcMachine; fpu: X87 } {
  const m = new PcMachine({ ramSize: 16 << 20, clockMode: "deterministic" });
  const c = m.cpu;
  c.reset();
  for (const s of [CS, DS, ES, SS]) c.loadSegReal(s, 0);
  c.r[ESP] = 0x7000;
  // PICs as a PC BIOS leaves them: master at 08h, slave at 70h (IRQ13 = vector 75h), cascade on
  // IRQ2; only IRQ2 and IRQ13 unmasked.
  const io = m.io;
  for (const [p, v] of [
    [0x20, 0x11],
    [0x21, 0x08],
    [0x21, 0x04],
    [0x21, 0x01],
    [0xa0, 0x11],
    [0xa1, 0x70],
    [0xa1, 0x02],
    [0xa1, 0x01],
    [0x21, 0xfb],
    [0xa1, 0xdf],
  ])
    io.out8(p, v);
  return { m, fpu: c.fpu as X87 };
}

function load(m: PcMachine, at: number, code: string): void {
  const b = hex(code);
  m.mem.ram.set(b, at);
  m.cpu.notifyRamWrite(at, b.length);
}

function setVector(m: PcMachine, v: number, off: number): void {
  const ram = m.mem.ram;
  ram[v * 4] = off & 0xff;
  ram[v * 4 + 1] = off >> 8;
  ram[v * 4 + 2] = 0;
  ram[v * 4 + 3] = 0;
}

/** Main program: unmask ZE, divide 1 by 0 (ES pending), STI, FWAIT, then a second FWAIT and a marker. */
const MAIN = [
  "dbe3", // fninit
  "d92e1030", // fldcw [0x3010] (037Bh: ZE unmasked)
  "d9ee d9e8", // fldz; fld1
  "d8f1", // fdiv st0, st1: zero divide, unmasked -> ES
  "fb", // sti
  "9b", // fwait: FERR# (CR0.NE = 0)
  "90", // nop
  "9b", // fwait: nothing pending after the handler's FNCLEX
  "fe060230", // inc byte [0x3002]
  "f4", // hlt
].join(" ");

/** IRQ13 handler: port F0h, record the slave ISR, count, FNCLEX, EOI both PICs. */
const HANDLER = [
  "e6f0", // out 0xf0, al
  "b00b e6a0 e4a0 a20130", // OCW3 read ISR; mov [0x3001], al
  "fe060030", // inc byte [0x3000]
  "dbe2", // fnclex
  "b020 e6a0 e620", // EOI slave, master
  "cf", // iret
].join(" ");

function runTo(m: PcMachine): number {
  m.cpu.r[R_EIP] = 0x1000;
  m.cpu.halted = false;
  return m.cpu.run(10000);
}

test("CR0.NE=0: an unmasked x87 exception reaches the guest as IRQ13 (vector 75h) through the slave PIC", () => {
  const { m, fpu } = board();
  load(m, 0x3010, "7b03");
  load(m, 0x1000, MAIN);
  load(m, 0x2000, HANDLER);
  setVector(m, 0x75, 0x2000);
  assert.equal(m.cpu.r[R_CR0] & CR0_NE, 0);
  const ignneSeen: boolean[] = [];
  // Watch IGNNE# as the handler writes port F0h (the CPU's bus calls io.out8).
  const origOut = m.io.out8.bind(m.io);
  m.io.out8 = (p, v) => {
    origOut(p, v);
    if (p === 0xf0) ignneSeen.push(fpu.ignne);
  };
  assert.equal(runTo(m), EXIT_HLT);
  const ram = m.mem.ram;
  assert.equal(ram[0x3000], 1, "handler ran once");
  assert.equal(ram[0x3001], 0x20, "slave ISR bit 5: IRQ13 in service");
  assert.equal(ram[0x3002], 1, "main program resumed and finished");
  assert.equal(m.irqCounts[13], 1, "one IRQ13 request");
  assert.deepEqual(ignneSeen, [true], "port F0h asserted IGNNE# while FERR# was asserted");
  assert.equal(fpu.ferr, false, "FNCLEX negated FERR#");
  assert.equal(fpu.ignne, false, "and IGNNE# with it");
});

test("CR0.NE=1: the same program takes #MF (vector 10h) and IRQ13 stays quiet", () => {
  const { m } = board();
  m.cpu.r[R_CR0] |= CR0_NE;
  load(m, 0x3010, "7b03");
  load(m, 0x1000, MAIN);
  load(m, 0x2000, HANDLER);
  setVector(m, 0x75, 0x2000);
  // #MF handler: count, FNCLEX, IRET (back to the faulting FWAIT, which now passes).
  load(m, 0x2100, "fe060430 dbe2 cf");
  setVector(m, 0x10, 0x2100);
  assert.equal(runTo(m), EXIT_HLT);
  const ram = m.mem.ram;
  assert.equal(ram[0x3004], 1, "#MF once");
  assert.equal(ram[0x3000], 0, "no IRQ13 handler");
  assert.equal(m.irqCounts[13], 0);
  assert.equal(ram[0x3002], 1);
});

test("board wiring: FERR# raises IRQ13, port F0h lowers it and sets IGNNE# only while FERR# is asserted", () => {
  const { m, fpu } = board();
  m.io.out8(0xf0, 0);
  assert.equal(fpu.ignne, false, "no FERR#: F0h has nothing to ignore");
  fpu.setFerr(true);
  assert.equal(m.irqCounts[13], 1);
  // Slave IRR (OCW3 read IRR) shows the request.
  m.io.out8(0xa0, 0x0a);
  assert.equal(m.io.in8(0xa0) & 0x20, 0x20);
  m.io.out8(0xf0, 0);
  assert.equal(fpu.ignne, true);
  fpu.setFerr(false);
  assert.equal(fpu.ignne, false);
  // A new FERR# is a new rising edge on IRQ13.
  fpu.setFerr(true);
  assert.equal(m.irqCounts[13], 2);
  // CPU reset negates FERR# and with it the request.
  m.cpu.reset();
  assert.equal(fpu.ferr, false);
  fpu.setFerr(true);
  assert.equal(m.irqCounts[13], 3);
});
