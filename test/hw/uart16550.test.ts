import assert from "node:assert/strict";
import { test } from "node:test";
import {
  UART_IER_MSI,
  UART_IER_RDI,
  UART_IER_RLSI,
  UART_IER_THRI,
  UART_LSR_BI,
  UART_LSR_DR,
  UART_LSR_TEMT,
  UART_LSR_THRE,
  Uart16550,
} from "../../src/hw/uart16550.ts";
import { Clock } from "../../src/machine/clock.ts";
import { IoBus } from "../../src/machine/ioport.ts";
import { IrqRecorder, runUntil } from "./helpers.ts";

const COM1 = 0x3f8;
const RX = COM1;
const IER = COM1 + 1;
const IIR = COM1 + 2;
const FCR = COM1 + 2;
const LCR = COM1 + 3;
const MCR = COM1 + 4;
const LSR = COM1 + 5;
const MSR = COM1 + 6;
const SCR = COM1 + 7;

function setup(): { clock: Clock; io: IoBus; uart: Uart16550; irq: IrqRecorder; sent: number[] } {
  const clock = new Clock("deterministic");
  const io = new IoBus();
  const irq = new IrqRecorder();
  const uart = new Uart16550(clock, irq.setIrq, io, COM1, 4);
  const sent: number[] = [];
  uart.onTransmit = (b) => sent.push(b);
  return { clock, io, uart, irq, sent };
}

test("Linux 8250 autoconfig identifies a 16550A", () => {
  const { io } = setup();
  // Existence test: IER reads back what was written, low nibble only.
  const scratch = io.in8(IER);
  io.out8(IER, 0);
  const scratch2 = io.in8(IER) & 0x0f;
  io.out8(IER, 0x0f);
  const scratch3 = io.in8(IER) & 0x0f;
  io.out8(IER, scratch);
  assert.equal(scratch2, 0);
  assert.equal(scratch3, 0x0f);
  io.out8(IER, 0xff);
  assert.equal(io.in8(IER), 0x0f, "IER bits 7:4 (UUE etc.) read as zero");
  io.out8(IER, 0);
  // Loopback test: RTS|OUT2 in loop mode must read back CTS|DCD.
  const saveMcr = io.in8(MCR);
  io.out8(MCR, 0x10 | 0x0a);
  assert.equal(io.in8(MSR) & 0xf0, 0x90);
  io.out8(MCR, saveMcr);
  // EFR (=FCR here) zeroed with LCR=0xBF, then enable FIFO: IIR[7:6] = 11 means 16550A.
  io.out8(LCR, 0xbf);
  assert.notEqual(io.in8(IIR), 0, "no EFR: port 2 reads IIR, never 0 with DLAB set");
  io.out8(FCR, 0);
  io.out8(LCR, 0);
  io.out8(FCR, 0x01);
  assert.equal(io.in8(IIR) >> 6, 3);
  // Not a 16750: IIR bit 5 never sets, with or without DLAB.
  io.out8(FCR, 0x21);
  assert.equal(io.in8(IIR) & 0xe0, 0xc0);
  io.out8(LCR, 0x80);
  io.out8(FCR, 0x21);
  assert.equal(io.in8(IIR) & 0xe0, 0xc0);
  io.out8(LCR, 0);
  // Scratch register.
  io.out8(SCR, 0xa5);
  assert.equal(io.in8(SCR), 0xa5);
});

test("THRE re-arm rules of serial8250_do_startup", () => {
  const { io, irq } = setup();
  io.out8(FCR, 0x07);
  assert.equal(io.in8(LSR) & (UART_LSR_THRE | UART_LSR_TEMT), UART_LSR_THRE | UART_LSR_TEMT);
  io.out8(IER, UART_IER_THRI);
  assert.equal(irq.level[4], true);
  const iir1 = io.in8(IIR);
  assert.equal(iir1, 0xc2, "THRE pending");
  assert.equal(irq.level[4], false, "reading IIR cleared THRE");
  assert.equal(io.in8(IIR), 0xc1);
  io.out8(IER, 0);
  io.out8(IER, UART_IER_THRI);
  assert.equal(io.in8(IIR), 0xc2, "enabling ETBEI with THR empty re-raises THRE");
  io.out8(IER, 0);
  assert.equal(io.in8(IIR), 0xc1);
  assert.equal(irq.level[4], false);
});

test("writing THR transmits, clears THRE, and re-raises it when the byte is gone", () => {
  const { io, irq, sent } = setup();
  io.out8(LCR, 0x03);
  io.out8(IER, UART_IER_THRI);
  assert.equal(io.in8(IIR) & 0x0f, 0x02);
  const edges = irq.rising[4];
  io.out8(RX, 0x41);
  io.out8(RX, 0x42);
  assert.deepEqual(sent, [0x41, 0x42]);
  assert.equal(irq.rising[4], edges + 2, "one new THRE interrupt per byte");
  assert.equal(io.in8(IIR) & 0x0f, 0x02);
});

test("MCR loopback: transmitted bytes come back, modem lines follow MCR", () => {
  const { io, sent } = setup();
  io.out8(MCR, 0x10);
  assert.equal(io.in8(MSR), 0x0b, "lines dropped on entering loop mode: DCTS|DDSR|DDCD");
  assert.equal(io.in8(MSR), 0x00, "nothing asserted in loop mode with MCR=0x10");
  io.out8(RX, 0x55);
  assert.deepEqual(sent, []);
  assert.equal(io.in8(LSR) & UART_LSR_DR, UART_LSR_DR);
  assert.equal(io.in8(RX), 0x55);
  assert.equal(io.in8(LSR) & UART_LSR_DR, 0);
  io.out8(MCR, 0x10 | 0x01); // DTR -> DSR
  assert.equal(io.in8(MSR), 0x20 | 0x02, "DSR with DDSR delta");
  assert.equal(io.in8(MSR), 0x20, "delta cleared by the read");
  io.out8(MCR, 0x10 | 0x04); // OUT1 -> RI, DTR off
  assert.equal(io.in8(MSR), 0x40 | 0x02);
  io.out8(MCR, 0x10);
  assert.equal(io.in8(MSR) & 0x04, 0x04, "TERI on RI trailing edge");
  io.out8(MCR, 0x08); // leave loopback: external lines (DCD, DSR, CTS) back
  assert.equal(io.in8(MSR) & 0xf0, 0xb0);
});

test("FIFO trigger level, received data interrupt, character timeout", () => {
  const { clock, io, uart, irq } = setup();
  io.out8(LCR, 0x80);
  io.out8(RX, 0x01); // 115200 baud
  io.out8(IER, 0x00);
  io.out8(LCR, 0x03); // 8N1
  io.out8(FCR, 0x81); // FIFO, trigger 8
  io.out8(IER, UART_IER_RDI);
  uart.receive([1, 2, 3, 4, 5, 6, 7]);
  assert.equal(io.in8(IIR), 0xc1, "below trigger: nothing yet");
  uart.receive([8]);
  assert.equal(io.in8(IIR), 0xc4);
  assert.equal(irq.level[4], true);
  assert.equal(io.in8(RX), 1);
  assert.equal(io.in8(IIR), 0xc1, "back below trigger");
  assert.equal(irq.level[4], false);
  // Four character times (10 bits at 115200 baud each) without activity -> timeout.
  const charNs = (10 * 1e9) / 115200;
  runUntil(clock, clock.now() + 4 * charNs - 100);
  assert.equal(io.in8(IIR), 0xc1);
  runUntil(clock, clock.now() + 200);
  assert.equal(io.in8(IIR), 0xcc);
  assert.equal(irq.level[4], true);
  const got: number[] = [];
  while (io.in8(LSR) & UART_LSR_DR) got.push(io.in8(RX));
  assert.deepEqual(got, [2, 3, 4, 5, 6, 7, 8]);
  assert.equal(io.in8(IIR), 0xc1, "reading RBR cleared the timeout");
  assert.equal(irq.level[4], false);
});

test("input beyond the FIFO is queued and delivered in order as the guest reads", () => {
  const { io, uart } = setup();
  io.out8(FCR, 0xc7);
  const text = "The quick brown fox jumps over the lazy dog, 0123456789 times!";
  uart.receive(text);
  assert.equal(uart.pendingInput, text.length);
  let got = "";
  while (io.in8(LSR) & UART_LSR_DR) got += String.fromCharCode(io.in8(RX));
  assert.equal(got, text);
  assert.equal(uart.pendingInput, 0);
  assert.equal(io.in8(LSR) & 0x02, 0, "no overrun");
});

test("16450 mode (FIFO off): one-byte holding register", () => {
  const { io, uart } = setup();
  io.out8(IER, UART_IER_RDI);
  uart.receive([0x10, 0x20]);
  assert.equal(io.in8(IIR), 0x04);
  assert.equal(io.in8(RX), 0x10);
  assert.equal(io.in8(IIR), 0x04);
  assert.equal(io.in8(RX), 0x20);
  assert.equal(io.in8(IIR), 0x01);
});

test("IIR priority: line status > RX data > THRE > modem status", () => {
  const { io, uart } = setup();
  io.out8(FCR, 0x01);
  io.out8(IER, UART_IER_RDI | UART_IER_THRI | UART_IER_RLSI | UART_IER_MSI);
  uart.setModemInputs(0x30); // DCD drops -> DDCD
  uart.receiveBreak();
  assert.equal(io.in8(IIR), 0xc6);
  assert.equal(io.in8(LSR) & UART_LSR_BI, UART_LSR_BI);
  assert.equal(io.in8(IIR), 0xc4, "LSR read cleared the line status source");
  assert.equal(io.in8(RX), 0);
  assert.equal(io.in8(IIR), 0xc2);
  assert.equal(io.in8(IIR), 0xc0, "modem status (id 0, pending)");
  assert.equal(io.in8(MSR) & 0x0f, 0x08);
  assert.equal(io.in8(IIR), 0xc1);
});

test("DLAB selects the divisor latch; char time follows it", () => {
  const { io, uart } = setup();
  io.out8(LCR, 0x83);
  io.out8(RX, 0x0c);
  io.out8(IER, 0x00);
  assert.equal(io.in8(RX), 0x0c);
  assert.equal(io.in8(IER), 0x00);
  io.out8(LCR, 0x03);
  io.out8(IER, 0x05);
  assert.equal(io.in8(IER), 0x05);
  io.out8(LCR, 0x80);
  assert.equal(io.in8(IER), 0x00, "DLM, not IER");
  assert.equal(Math.round(uart.charTimeNs()), Math.round((7 * 1e9 * 12) / 115200)); // 5N1 = 7 bits
});
