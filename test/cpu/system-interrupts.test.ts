// Interrupts and exceptions in protected mode (SDM Vol. 3A, chapter 6): interrupt/trap gates,
// the TSS stack switch on CPL3 → CPL0, IRET back, INT n privilege checks, external interrupts with
// IF and the interrupt shadow, NMI, single-step traps, #DF (interrupt gate and task gate) and the
// triple-fault shutdown.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CPU } from "../../src/cpu/cpu.ts";
import { EXIT_EXCEPTION, EXIT_HLT, EXIT_SHUTDOWN } from "../../src/cpu/cpu.ts";
import {
  CR0_PG,
  CS,
  DS,
  EAX,
  EBX,
  ECX,
  EDX,
  ESI,
  ESP,
  EXC_GP,
  R_CR0,
  R_CR2,
  R_CR3,
  R_EFLAGS,
  R_EIP,
  R_IDTR_LIMIT,
  R_SEL,
  SS,
  TR,
} from "../../src/cpu/state.ts";
import {
  Asm,
  AX,
  BX,
  CX,
  DFSTACK,
  DI,
  DX,
  enterProtected,
  enterUser,
  GDT,
  HANDLERS,
  IDT,
  identityMap,
  KCODE,
  KSTACK,
  PD,
  r16,
  r32,
  SEL_KCODE,
  SEL_KDATA,
  SEL_TSS,
  SEL_TSS2,
  SEL_UCODE,
  SEL_UDATA,
  SI,
  SP,
  setGate,
  setPte,
  TSS,
  TSS2,
  UCODE,
  USTACK,
  w16,
  writeGate,
  writeTss,
} from "./asm.ts";
import { FakeIntc, makeCpu } from "./helpers.ts";

const toUser = enterUser;

function withIntc(c: CPU): FakeIntc {
  const ic = new FakeIntc();
  c.bus.intc = ic;
  return ic;
}

function raiseIrq(c: CPU, ic: FakeIntc, vector: number): void {
  ic.pending.push(vector);
  c.checkIrq();
}

test("INT 0x80 through a DPL3 trap gate from CPL 3: TSS stack switch, IF kept, IRET back to CPL 3", () => {
  const c = makeCpu();
  enterProtected(c);
  setGate(c, 0x80, HANDLERS, 0xf, 3);
  const h = new Asm(HANDLERS);
  h.addImm(AX, 1).pushf().pop(CX).movRR(DX, SP).movRS(BX, SS).iret();
  h.load(c);
  const u = new Asm(UCODE);
  u.movImm(AX, 5).label("int").int(0x80).label("ret").movRR(SI, AX).spin();
  u.load(c);
  toUser(c);
  c.run(30);
  assert.equal(c.cpl, 3);
  assert.equal(c.r[R_SEL + CS], SEL_UCODE);
  assert.equal(c.r[R_SEL + SS], SEL_UDATA);
  assert.equal(c.r[ESP], USTACK);
  assert.equal(c.r[ESI], 6);
  assert.equal(c.r[ECX] & 0x200, 0x200, "trap gate keeps IF");
  assert.equal(c.r[EDX], KSTACK - 20, "ring-0 stack from TSS.ESP0 with SS, ESP, EFLAGS, CS, EIP");
  assert.equal(c.r[EBX] & 0xffff, SEL_KDATA, "SS from TSS.SS0");
  assert.equal(r32(c, KSTACK - 20), u.addr("ret"), "pushed EIP is after INT");
  assert.equal(r32(c, KSTACK - 16), SEL_UCODE);
  assert.equal(r32(c, KSTACK - 8), USTACK);
  assert.equal(r32(c, KSTACK - 4), SEL_UDATA);
});

test("INT n through a DPL0 gate from CPL 3 raises #GP(vector*8+2), delivered with its error code", () => {
  const c = makeCpu();
  enterProtected(c);
  setGate(c, 0x81, HANDLERS, 0xe, 0);
  setGate(c, 13, HANDLERS + 0x100, 0xe, 0);
  new Asm(HANDLERS + 0x100).hlt().load(c);
  new Asm(UCODE).int(0x81).load(c);
  toUser(c);
  assert.equal(c.run(30), EXIT_HLT);
  assert.equal(c.cpl, 0);
  const sp = c.r[ESP];
  assert.equal(sp, KSTACK - 24);
  assert.equal(r32(c, sp), 0x81 * 8 + 2, "error code: IDT bit set, EXT clear");
  assert.equal(r32(c, sp + 4), UCODE, "EIP of the INT instruction");
});

test("same-privilege interrupt gate: no stack switch, IF cleared, IRET restores IF", () => {
  const c = makeCpu();
  enterProtected(c);
  setGate(c, 0x40, HANDLERS, 0xe, 0);
  new Asm(HANDLERS).pushf().pop(CX).movRR(DX, SP).iret().load(c);
  new Asm(KCODE).sti().int(0x40).pushf().pop(BX).hlt().load(c);
  c.r[ESP] = 0x8000;
  assert.equal(c.run(30), EXIT_HLT);
  assert.equal(c.r[ECX] & 0x200, 0, "interrupt gate clears IF");
  assert.equal(c.r[EBX] & 0x200, 0x200, "IRET restores IF");
  assert.equal(c.r[EDX], 0x8000 - 12);
  assert.equal(c.r[ESP], 0x8000);
});

test("IRET at CPL 3 cannot change IOPL, and IF only when CPL <= IOPL", () => {
  const c = makeCpu();
  enterProtected(c);
  // IRET to the same privilege level (CPL 3) with IOPL=3, IF=0 in the image.
  const u = new Asm(UCODE);
  u.pushImm(0x3002)
    .pushImm(SEL_UCODE)
    .pushImm(UCODE + 0x20)
    .iret();
  u.load(c);
  new Asm(UCODE + 0x20).pushf().pop(BX).spin().load(c);
  toUser(c, 0x202);
  c.run(20);
  assert.equal(c.r[EBX] & 0x3200, 0x200, "IOPL and IF unchanged");
});

test("external interrupt: taken at an instruction boundary with IF=1; held while IF=0; CLI;HLT halts", () => {
  const c = makeCpu();
  enterProtected(c);
  const ic = withIntc(c);
  setGate(c, 0x20, HANDLERS);
  new Asm(HANDLERS).incMem(0x600).iret().load(c);
  const a = new Asm(KCODE);
  a.cli().label("l1").nop().label("l2").nop().sti().nop().label("l3").nop().nop().cli().hlt();
  a.load(c);
  c.run(2); // CLI, NOP
  raiseIrq(c, ic, 0x20);
  c.run(2); // NOP, STI: the request waits with IF=0 and through the STI shadow
  assert.equal(r32(c, 0x600), 0);
  assert.equal(c.r[R_EIP], a.addr("l2") + 2);
  c.run(1); // the shadowed NOP, then the interrupt
  assert.equal(ic.acks, 1);
  assert.equal(c.r[R_EIP], HANDLERS);
  assert.equal(r32(c, KSTACK - 12), a.addr("l3"), "pushed EIP is the next instruction");
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(r32(c, 0x600), 1);
  // Halted with IF=0: a new request does not wake the CPU.
  raiseIrq(c, ic, 0x20);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(ic.acks, 1);
});

test("STI; HLT with an interrupt pending wakes at once: the handler runs, return EIP after HLT", () => {
  const c = makeCpu();
  enterProtected(c);
  const ic = withIntc(c);
  setGate(c, 0x20, HANDLERS);
  new Asm(HANDLERS).incMem(0x600).iret().load(c);
  const a = new Asm(KCODE);
  a.cli().sti().hlt().label("after").movImm(BX, 7).cli().hlt();
  a.load(c);
  c.run(1);
  raiseIrq(c, ic, 0x20);
  const exit = c.run(100);
  assert.equal(r32(c, 0x600), 1, "handler ran");
  assert.equal(c.r[EBX], 7, "execution resumed after HLT without an EXIT_HLT round trip");
  assert.equal(exit, EXIT_HLT);
  assert.equal(c.r[R_EIP], a.here);
});

test("HLT with IF=1 returns EXIT_HLT; a later interrupt wakes it", () => {
  const c = makeCpu();
  enterProtected(c);
  const ic = withIntc(c);
  setGate(c, 0x21, HANDLERS);
  new Asm(HANDLERS).incMem(0x600).iret().load(c);
  const a = new Asm(KCODE);
  a.sti().label("h").hlt().label("after").movImm(BX, 9).cli().hlt();
  a.load(c);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.run(100), EXIT_HLT, "still halted without a request");
  raiseIrq(c, ic, 0x21);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(r32(c, 0x600), 1);
  assert.equal(c.r[EBX], 9);
});

test("MOV SS shadow: no interrupt between MOV SS and the next instruction, even across run() calls", () => {
  const c = makeCpu();
  enterProtected(c);
  const ic = withIntc(c);
  setGate(c, 0x20, HANDLERS);
  new Asm(HANDLERS).hlt().load(c);
  const a = new Asm(KCODE);
  a.movImm(AX, SEL_KDATA).sti().nop().movSR(SS, AX).movImm(SP, 0x8800).label("next").nop().hlt();
  a.load(c);
  c.run(4); // mov, sti, nop, mov ss
  raiseIrq(c, ic, 0x20);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.r[R_EIP], HANDLERS + 1);
  assert.equal(c.r[ESP], 0x8800 - 12, "frame on the new stack");
  assert.equal(r32(c, 0x8800 - 12), a.addr("next"));
});

test("NMI: taken with IF=0, wakes HLT, blocked until IRET", () => {
  const c = makeCpu();
  enterProtected(c);
  setGate(c, 2, HANDLERS);
  const h = new Asm(HANDLERS);
  h.incMem(0x600).label("spin").loadMem(AX, 0x604).addImm(AX, 0).jcc8(4, "spin").iret();
  h.load(c);
  new Asm(KCODE).cli().hlt().incMem(0x608).cli().hlt().load(c);
  assert.equal(c.run(10), EXIT_HLT);
  c.raiseNmi();
  c.run(20);
  assert.equal(r32(c, 0x600), 1, "NMI handler entered");
  c.raiseNmi(); // a second NMI while the handler runs is held
  c.run(50);
  assert.equal(r32(c, 0x600), 1, "second NMI blocked");
  c.ram[0x604] = 1; // let the handler IRET
  c.run(50);
  assert.equal(r32(c, 0x600), 2, "second NMI taken after IRET");
  c.run(50);
  assert.equal(r32(c, 0x608), 1);
});

test("single step: TF set by POPF traps after the following instruction; clearing TF still traps; DR6.BS", () => {
  const c = makeCpu();
  enterProtected(c);
  setGate(c, 1, HANDLERS);
  // #DB handler: log the pushed EIP at [EDI], EDI += 4.
  new Asm(HANDLERS).loadInd(DX, SP).storeInd(DI, DX).addImm(DI, 4).iret().load(c);
  const a = new Asm(KCODE);
  a.movImm(DI, 0x700).pushImm(0x102).popf();
  a.label("l1").movImm(BX, 1).label("l2").movImm(CX, 2).label("l3").pushImm(2);
  a.label("l4").popf().label("l5").movImm(SI, 3).hlt();
  a.load(c);
  assert.equal(c.run(100), EXIT_HLT);
  const log = [0, 1, 2, 3, 4].map((k) => r32(c, 0x700 + 4 * k));
  assert.deepEqual(log, [a.addr("l2"), a.addr("l3"), a.addr("l4"), a.addr("l5"), 0]);
  assert.equal(c.r[DI], 0x710);
  assert.equal(c.dr[6] & 0x4000, 0x4000, "DR6.BS");
  assert.equal(c.r[R_EFLAGS] & 0x100, 0);
});

test("single step: IRET that sets TF traps after the first instruction it returns to", () => {
  const c = makeCpu();
  enterProtected(c);
  setGate(c, 1, HANDLERS);
  new Asm(HANDLERS).loadInd(DX, SP).storeInd(DI, DX).addImm(DI, 4).pushImm(0x2).popf().iret().load(c);
  const a = new Asm(KCODE);
  a.movImm(DI, 0x700)
    .pushImm(0x102)
    .pushImm(SEL_KCODE)
    .pushImm(KCODE + 0x40)
    .iret();
  a.load(c);
  const b = new Asm(KCODE + 0x40);
  b.nop().label("x").hlt();
  b.load(c);
  // The #DB handler's IRET restores TF=1 from the frame: the HLT traps too.
  c.run(100);
  assert.equal(r32(c, 0x700), b.addr("x"));
  assert.equal(r32(c, 0x704), b.addr("x") + 1, "HLT traps after it completes");
});

test("#DF: a fault while delivering a contributory exception goes to vector 8 with error code 0", () => {
  const c = makeCpu();
  enterProtected(c);
  setGate(c, 8, HANDLERS);
  new Asm(HANDLERS).hlt().load(c);
  w16(c, IDT + 13 * 8 + 4, 0x0e00); // #GP gate not present
  const a = new Asm(KCODE);
  a.xorRR(AX, AX).movSR(DS, AX).label("f").loadMem(BX, 0x500);
  a.load(c);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.r[ESP], KSTACK - 16);
  assert.equal(r32(c, KSTACK - 16), 0, "#DF error code");
  assert.equal(r32(c, KSTACK - 12), a.addr("f"), "saved EIP");
});

test("#DF through a task gate (Linux i386): #PF while pushing the #PF frame switches to the double-fault TSS", () => {
  const c = makeCpu();
  enterProtected(c);
  identityMap(c);
  c.r[R_CR3] = PD;
  c.r[R_CR0] |= CR0_PG;
  c.flushTlb(true);
  setGate(c, 14, HANDLERS);
  writeGate(c, IDT + 8 * 8, SEL_TSS2, 0, 0x5, 0);
  writeTss(c, TSS2, { eip: HANDLERS + 0x100, esp: DFSTACK, cr3: PD });
  new Asm(HANDLERS + 0x100).movRC(AX, 2).hlt().load(c);
  setPte(c, 0x8000, 0); // the kernel stack page below KSTACK is not present
  const a = new Asm(KCODE);
  a.movImm(SP, 0x9000).movImm(BX, 0x12345678).label("f").push(AX).push(AX).push(AX);
  a.load(c);
  // The first push writes 0x8ffc, in the not-present page; pushing the #PF frame faults again.
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.r[R_SEL + TR], SEL_TSS2);
  assert.equal(c.r[R_EIP], HANDLERS + 0x104);
  assert.equal(c.r[EAX], 0x8ffc, "CR2 of the first #PF");
  assert.equal(c.r[R_CR2], 0x8ffc);
  assert.equal(c.r[ESP], DFSTACK - 4, "error code pushed on the new task's stack");
  assert.equal(r32(c, DFSTACK - 4), 0);
  assert.equal(c.r[R_EFLAGS] & 0x4000, 0x4000, "NT set: nested task");
  assert.equal(r16(c, TSS2), SEL_TSS, "back link");
  assert.equal(r32(c, TSS + 0x20), a.addr("f"), "old task's EIP saved");
  assert.equal(r32(c, TSS + 0x28 + 3 * 4), 0x12345678, "old task's EBX saved");
  assert.equal(r32(c, TSS + 0x38), 0x9000, "old task's ESP saved");
  assert.equal((r32(c, GDT + SEL_TSS + 4) >> 8) & 0xf, 0xb, "old TSS still busy (CALL-like)");
  assert.equal((r32(c, GDT + SEL_TSS2 + 4) >> 8) & 0xf, 0xb, "new TSS busy");
  assert.notEqual(c.r[R_CR0] & 8, 0, "CR0.TS set by the task switch");
});

test("triple fault: LIDT with limit 0 then INT3 (Linux's reboot) → EXIT_SHUTDOWN", () => {
  const c = makeCpu();
  enterProtected(c);
  w16(c, 0x600, 0);
  new Asm(KCODE).lidt(0x600).int3().load(c);
  assert.equal(c.run(100), EXIT_SHUTDOWN);
  assert.equal(c.r[R_IDTR_LIMIT], 0);
});

test("triple fault: #DF gate not present", () => {
  const c = makeCpu();
  enterProtected(c);
  // Every gate empty: #GP(null DS) → gate 13 not present (#NP) → #DF → gate 8 not present → shutdown.
  new Asm(KCODE).xorRR(AX, AX).movSR(DS, AX).loadMem(BX, 0).load(c);
  assert.equal(c.run(100), EXIT_SHUTDOWN);
});

test("benign + contributory is not a double fault: #NP while delivering an external interrupt", () => {
  const c = makeCpu();
  enterProtected(c);
  const ic = withIntc(c);
  setGate(c, 11, HANDLERS);
  new Asm(HANDLERS).hlt().load(c);
  new Asm(KCODE).sti().nop().nop().load(c);
  w16(c, IDT + 0x30 * 8 + 4, 0x0e00); // interrupt gate, not present
  raiseIrq(c, ic, 0x30); // → #NP(0x30*8+2+EXT)
  assert.equal(c.run(10), EXIT_HLT);
  assert.equal(r32(c, KSTACK - 16), 0x30 * 8 + 3, "error code with IDT and EXT bits");
});

test("exceptions in user mode are delivered on the ring-0 stack with error codes (#GP from a segment load)", () => {
  const c = makeCpu();
  enterProtected(c);
  setGate(c, 13, HANDLERS);
  new Asm(HANDLERS).hlt().load(c);
  new Asm(UCODE).movImm(AX, SEL_KDATA).movSR(DS, AX).load(c);
  toUser(c);
  c.trapExceptions = false;
  assert.equal(c.run(10), EXIT_HLT);
  assert.equal(r32(c, KSTACK - 24), SEL_KDATA, "#GP(selector)");
  assert.equal(r32(c, KSTACK - 20), UCODE + 5);
  void EXC_GP;
  void EXIT_EXCEPTION;
  void EBX;
  void BX;
  void SI;
});

test("run() on a halted CPU reports EXIT_HLT with lastRun = 0", () => {
  const c = makeCpu();
  enterProtected(c);
  new Asm(KCODE).nop().nop().cli().hlt().load(c);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.lastRun, 4);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.lastRun, 0, "nothing ran");
});
