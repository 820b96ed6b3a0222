// Virtual-8086 mode (SDM Vol. 3A, chapter 20) without VME: entry through IRET with VM=1, the
// IOPL-sensitive instructions trapping to the monitor with #GP(0), interrupts to the ring-0 handler
// with the v8086 frame, IRET back, I/O through the permission bitmap, paging at user privilege.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CPU } from "../../src/cpu/cpu.ts";
import { EXIT_EXCEPTION, EXIT_HLT } from "../../src/cpu/cpu.ts";
import {
  CR0_PG,
  CS,
  DS,
  EAX,
  EBX,
  ES,
  ESP,
  EXC_GP,
  EXC_PF,
  FS,
  GS,
  R_CR0,
  R_CR2,
  R_CR3,
  R_EFLAGS,
  R_EIP,
  R_SEGBASE,
  R_SEGLIMIT,
  R_SEL,
  SS,
} from "../../src/cpu/state.ts";
import type { InterruptController } from "../../src/machine/irq.ts";
import {
  Asm,
  AX,
  BX,
  enterProtected,
  HANDLERS,
  IOMAP,
  identityMap,
  KCODE,
  KSTACK,
  P,
  PD,
  RW,
  r32,
  SEL_KCODE,
  SEL_KDATA,
  SP,
  setGate,
  setPte,
  TSS,
  w16,
} from "./asm.ts";
import { makeCpu } from "./helpers.ts";

const V86_CS = 0x3000; // code at linear 0x30100
const V86_IP = 0x100;
const V86_SS = 0x2000; // stack at 0x2000:0xfffe
const V86_SP = 0xfffe;
const VM = 1 << 17;

/** Enter v8086 mode from ring 0 with a 32-bit IRET (frame: EIP CS EFLAGS ESP SS ES DS FS GS). */
function enterV86(c: CPU, code: Asm, eflags: number): void {
  enterProtected(c);
  setGate(c, 13, HANDLERS);
  // Monitor: halt with the frame on the stack; on resume drop the error code and IRET back.
  new Asm(HANDLERS).hlt().addImm(SP, 4).iret().load(c);
  code.load(c);
  const k = new Asm(KCODE);
  for (const v of [0x4444, 0x3333, 0x2222, 0x1111, V86_SS, V86_SP, eflags | VM, V86_CS, V86_IP]) k.pushImm(v);
  k.iret();
  k.load(c);
}

function monitorFrame(c: CPU): number[] {
  const sp = c.r[ESP];
  return Array.from({ length: 10 }, (_, k) => r32(c, sp + 4 * k));
}

test("IRET with VM=1 enters v8086 mode: real-mode segments, CPL 3, 16-bit code", () => {
  const c = makeCpu();
  const code = new Asm(V86_CS * 16 + V86_IP, 16);
  code.movRS(BX, DS).movImm(AX, 0x5000).movSR(ES, AX).db(0x26).storeImm(0x10, 0x12345678).spin();
  enterV86(c, code, 0x3002);
  c.run(20);
  assert.ok(c.v86);
  assert.equal(c.cpl, 3);
  assert.equal(c.codeMode, 0, "16-bit decoding");
  assert.equal(c.r[R_SEL + CS], V86_CS);
  assert.equal(c.r[R_SEGBASE + CS], V86_CS * 16);
  assert.equal(c.r[R_SEGBASE + SS], V86_SS * 16);
  assert.equal(c.r[R_SEGLIMIT + SS], 0xffff);
  assert.equal(c.r[ESP], V86_SP);
  assert.equal(c.r[R_SEL + DS], 0x2222);
  assert.equal(c.r[R_SEL + FS], 0x3333);
  assert.equal(c.r[R_SEL + GS], 0x4444);
  assert.equal(c.r[EBX] & 0xffff, 0x2222);
  assert.equal(c.r[R_SEGBASE + ES], 0x50000);
  assert.equal(r32(c, 0x50010), 0x12345678);
  assert.equal(c.r[R_EFLAGS] & 0x3000, 0x3000, "IOPL from the image");
});

test("INT n with IOPL < 3 → #GP(0) to the monitor with the v8086 frame; IRET returns to v8086", () => {
  const c = makeCpu();
  const code = new Asm(V86_CS * 16 + V86_IP, 16);
  code.movImm(AX, 0x4c00).label("int").int(0x21).movImm(BX, 0x77).spin();
  enterV86(c, code, 0x0202);
  assert.equal(c.run(50), EXIT_HLT);
  assert.ok(!c.v86);
  assert.equal(c.cpl, 0);
  assert.equal(c.r[ESP], KSTACK - 40, "error code + 9 dwords");
  const f = monitorFrame(c);
  assert.equal(f[0], 0, "#GP(0)");
  assert.equal(f[1], V86_IP + 3, "EIP of INT");
  assert.equal(f[2], V86_CS);
  assert.equal(f[3] & (VM | 0x200), VM | 0x200, "EFLAGS with VM");
  assert.equal(f[4], V86_SP);
  assert.equal(f[5], V86_SS);
  assert.deepEqual(f.slice(6), [0x1111, 0x2222, 0x3333, 0x4444], "ES DS FS GS");
  for (const s of [DS, ES, FS, GS]) assert.equal(c.r[R_SEL + s], 0, "data segments nulled in the monitor");
  assert.equal(c.r[R_SEL + CS], SEL_KCODE);
  // Emulate: skip the INT (2 bytes) and return.
  c.ram[KSTACK - 40 + 4] += 2;
  c.halted = false;
  c.run(20);
  assert.ok(c.v86);
  assert.equal(c.r[EBX] & 0xffff, 0x77);
  assert.equal(c.r[R_SEL + DS], 0x2222, "segments restored by IRET");
  assert.equal(c.r[EAX] & 0xffff, 0x4c00);
});

test("v8086 IOPL-sensitive instructions: CLI/STI/PUSHF/POPF/INT/IRET trap with IOPL < 3, run with IOPL 3", () => {
  const ops: [string, number[]][] = [
    ["cli", [0xfa]],
    ["sti", [0xfb]],
    ["pushf", [0x9c]],
    ["popf", [0x9d]],
    ["iret", [0xcf]],
  ];
  for (const [name, bytes] of ops) {
    const c = makeCpu();
    enterV86(c, new Asm(V86_CS * 16 + V86_IP, 16).db(...bytes).spin(), 0x1202);
    assert.equal(c.run(50), EXIT_HLT, name);
    assert.equal(monitorFrame(c)[1], V86_IP, `${name} faults`);
  }
  // IOPL 3: CLI, PUSHF, POPF (IOPL unchanged by POPF in v8086), STI all execute.
  const c = makeCpu();
  const code = new Asm(V86_CS * 16 + V86_IP, 16);
  code.cli().pushf().pop(BX).pushImm(0x0202).popf().pushf().pop(AX).sti().spin();
  enterV86(c, code, 0x3202);
  c.run(50);
  assert.ok(c.v86);
  assert.equal(c.r[EBX] & 0x3200, 0x3000);
  assert.equal(c.r[EAX] & 0x3200, 0x3200, "POPF cannot change IOPL in v8086 mode");
  assert.equal(c.r[R_EFLAGS] & VM, VM);
});

test("INT n with IOPL 3 goes through the IDT: a DPL3 gate to a ring-0 handler with the v8086 frame", () => {
  const c = makeCpu();
  const code = new Asm(V86_CS * 16 + V86_IP, 16);
  code.int(0x30).movImm(BX, 0x55).spin();
  enterV86(c, code, 0x3202);
  setGate(c, 0x30, HANDLERS + 0x40, 0xe, 3);
  new Asm(HANDLERS + 0x40).hlt().iret().load(c);
  assert.equal(c.run(50), EXIT_HLT);
  assert.equal(c.r[R_EIP], HANDLERS + 0x41);
  assert.equal(c.r[ESP], KSTACK - 36, "no error code");
  assert.equal(r32(c, KSTACK - 36), V86_IP + 2);
  assert.equal(c.r[R_EFLAGS] & (VM | 0x200), 0, "VM and IF cleared");
  c.halted = false;
  c.run(20);
  assert.ok(c.v86);
  assert.equal(c.r[EBX] & 0xffff, 0x55);
  // A DPL0 gate from v8086 mode → #GP(vector*8+2).
  const c2 = makeCpu();
  enterV86(c2, new Asm(V86_CS * 16 + V86_IP, 16).int(0x31).spin(), 0x3202);
  setGate(c2, 0x31, HANDLERS + 0x40, 0xe, 0);
  assert.equal(c2.run(50), EXIT_HLT);
  assert.equal(monitorFrame(c2)[0], 0x31 * 8 + 2);
});

test("external interrupt in v8086 mode: ring-0 handler, IRET back to v8086", () => {
  const c = makeCpu();
  const code = new Asm(V86_CS * 16 + V86_IP, 16);
  code.nop(4).spin();
  enterV86(c, code, 0x0202);
  const pending: number[] = [];
  const ic: InterruptController = {
    hasInterrupt: () => pending.length > 0,
    acknowledge: () => pending.shift() ?? 0,
  };
  c.bus.intc = ic;
  setGate(c, 0x20, HANDLERS + 0x40);
  new Asm(HANDLERS + 0x40).movRS(BX, DS).movImm(AX, SEL_KDATA).movSR(DS, AX).incMem(0x600).iret().load(c);
  c.run(12); // the kernel's pushes and IRET, then a couple of v8086 NOPs
  assert.ok(c.v86);
  pending.push(0x20);
  c.checkIrq();
  c.run(20);
  assert.equal(r32(c, 0x600), 1);
  assert.equal(c.r[EBX] & 0xffff, 0, "DS null in the handler");
  assert.ok(c.v86);
  assert.equal(c.r[R_SEL + DS], 0x2222);
});

test("I/O in v8086 mode consults the bitmap whatever IOPL is", () => {
  const c = makeCpu();
  const ports: number[] = [];
  c.bus.out8 = (p: number) => {
    ports.push(p);
  };
  const code = new Asm(V86_CS * 16 + V86_IP, 16);
  code.outAL(0x60).label("bad").outAL(0x64).spin();
  enterV86(c, code, 0x3202);
  c.ram[TSS + IOMAP + 0x0c] = 0x10; // deny port 0x64
  assert.equal(c.run(50), EXIT_HLT);
  assert.deepEqual(ports, [0x60]);
  assert.equal(monitorFrame(c)[1], V86_IP + 2);
  void w16;
});

test("v8086 accesses are user-level under paging: supervisor page → #PF(U)", () => {
  const c = makeCpu();
  const code = new Asm(V86_CS * 16 + V86_IP, 16);
  code.movImm(AX, 0x6000).movSR(DS, AX).db(0x8b, 0x1e).dw(0x0010); // mov bx,[0x10] → linear 0x60010
  enterV86(c, code, 0x0202);
  identityMap(c);
  setPte(c, 0x60000, 0x60000 | P | RW);
  c.r[R_CR3] = PD;
  c.r[R_CR0] |= CR0_PG;
  c.flushTlb(true);
  c.trapExceptions = true;
  let exit = 0;
  for (let k = 0; k < 50 && exit === 0; k++) exit = c.run(1);
  assert.equal(exit, EXIT_EXCEPTION);
  assert.equal(c.excVector, EXC_PF);
  assert.equal(c.excError, 5);
  assert.equal(c.r[R_CR2], 0x60010);
  assert.ok(c.v86);
  void EXC_GP;
});
