// Hardware task switching (SDM Vol. 3A, chapter 7): JMP/CALL to a TSS or task gate, INT through a
// task gate, IRET with NT, busy bits, back links, state save/restore, CR3 and LDT loads, LTR.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CPU } from "../../src/cpu/cpu.ts";
import { EXIT_EXCEPTION, EXIT_HLT } from "../../src/cpu/cpu.ts";
import {
  CR0_PG,
  CS,
  EAX,
  EBX,
  ECX,
  ESP,
  EXC_GP,
  EXC_TS,
  GS,
  LDTR,
  R_CR0,
  R_CR3,
  R_EFLAGS,
  R_EIP,
  R_SEGBASE,
  R_SEL,
  SS,
  TR,
} from "../../src/cpu/state.ts";
import { ltr } from "../../src/cpu/system.ts";
import {
  Asm,
  AX,
  BX,
  CX,
  DATA32,
  enterProtected,
  enterUser,
  GDT,
  HANDLERS,
  IDT,
  identityMap,
  KCODE,
  KSTACK,
  LDT_BASE,
  P,
  PD,
  RW,
  r16,
  r32,
  SEL_KCODE,
  SEL_KDATA,
  SEL_LDT,
  SEL_TSS,
  SEL_TSS2,
  SEL_TSS3,
  SEL_UCODE,
  SEL_UDATA,
  TSS,
  TSS2,
  TSS3,
  UCODE,
  USTACK,
  w16,
  w32,
  writeDesc,
  writeGate,
  writeTss,
} from "./asm.ts";
import { makeCpu } from "./helpers.ts";

const BUSY = 0xb;
const AVAIL = 0x9;

function tssType(c: CPU, sel: number): number {
  return (r32(c, GDT + (sel & ~7) + 4) >> 8) & 0xf;
}

const toUser = enterUser;

test("JMP to a TSS: state saved in the old TSS, loaded from the new one, busy bits moved, no nesting", () => {
  const c = makeCpu();
  enterProtected(c);
  writeTss(c, TSS2, { eip: HANDLERS, esp: 0xa000, eax: 0xabcd, eflags: 0x2 | 0x1 });
  new Asm(HANDLERS).movRR(BX, AX).hlt().load(c);
  const a = new Asm(KCODE);
  a.movImm(AX, 0x1111).movImm(CX, 0x2222).label("j").jmpFar(SEL_TSS2, 0).label("after");
  a.load(c);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.r[R_SEL + TR], SEL_TSS2);
  assert.equal(c.r[EBX], 0xabcd, "EAX from the new TSS");
  assert.equal(c.r[ESP], 0xa000);
  assert.equal(c.r[R_EFLAGS] & 0x4001, 0x1, "EFLAGS from the TSS, NT clear");
  assert.equal(r32(c, TSS + 0x20), a.addr("after"), "old EIP saved: the instruction after JMP");
  assert.equal(r32(c, TSS + 0x28), 0x1111, "old EAX");
  assert.equal(r32(c, TSS + 0x2c), 0x2222, "old ECX");
  assert.equal(r32(c, TSS + 0x38), KSTACK, "old ESP");
  assert.equal(r16(c, TSS + 0x4c), SEL_KCODE, "old CS");
  assert.equal(r16(c, TSS2), 0, "JMP writes no back link");
  assert.equal(tssType(c, SEL_TSS), AVAIL, "old TSS no longer busy");
  assert.equal(tssType(c, SEL_TSS2), BUSY);
  assert.notEqual(c.r[R_CR0] & 8, 0, "CR0.TS");
});

test("CALL to a TSS nests (NT, back link, both busy); IRET returns to the caller after the CALL", () => {
  const c = makeCpu();
  enterProtected(c);
  writeTss(c, TSS2, { eip: HANDLERS, esp: 0xa000 });
  const h = new Asm(HANDLERS);
  h.pushf().pop(CX).movImm(AX, 0x77).iret().label("again").movImm(AX, 0x88).iret();
  h.load(c);
  const a = new Asm(KCODE);
  a.movImm(BX, 5).callFar(SEL_TSS2, 0).label("ret").pushf().pop(2).hlt();
  a.load(c);
  c.run(5); // mov, call, pushf, pop, mov
  assert.equal(c.r[R_SEL + TR], SEL_TSS2);
  assert.equal(c.r[ECX] & 0x4000, 0x4000, "NT set in the called task");
  assert.equal(r16(c, TSS2), SEL_TSS, "back link");
  assert.equal(tssType(c, SEL_TSS), BUSY, "caller stays busy");
  assert.equal(tssType(c, SEL_TSS2), BUSY);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.r[R_SEL + TR], SEL_TSS);
  assert.equal(c.r[R_EIP], a.addr("ret") + 3);
  assert.equal(c.r[EBX], 5, "caller's registers restored");
  assert.equal(c.r[EAX], 0, "caller's EAX, not the nested task's");
  assert.equal(tssType(c, SEL_TSS2), AVAIL, "IRET frees the nested task");
  assert.equal(tssType(c, SEL_TSS), BUSY);
  assert.equal(r32(c, TSS2 + 0x20), h.addr("again"), "nested task saved at the instruction after IRET");
  assert.equal(r32(c, TSS2 + 0x24) & 0x4000, 0, "saved NT cleared by IRET");
  assert.equal(r32(c, TSS2 + 0x28), 0x77);
});

test("JMP/CALL to a busy TSS → #GP(sel); IRET with NT to a non-busy TSS → #TS(sel)", () => {
  const c = makeCpu();
  enterProtected(c);
  new Asm(KCODE).jmpFar(SEL_TSS, 0).load(c);
  c.trapExceptions = true;
  assert.equal(c.run(10), EXIT_EXCEPTION);
  assert.equal(c.excVector, EXC_GP);
  assert.equal(c.excError, SEL_TSS);

  const c2 = makeCpu();
  enterProtected(c2);
  new Asm(KCODE).callFar(SEL_TSS, 0).load(c2);
  c2.trapExceptions = true;
  assert.equal(c2.run(10), EXIT_EXCEPTION);
  assert.equal(c2.excVector, EXC_GP);
  assert.equal(c2.excError, SEL_TSS);

  const c3 = makeCpu();
  enterProtected(c3);
  w16(c3, TSS, SEL_TSS3); // back link to an available TSS
  new Asm(KCODE).pushImm(0x4002).popf().iret().load(c3);
  c3.trapExceptions = true;
  assert.equal(c3.run(10), EXIT_EXCEPTION);
  assert.equal(c3.excVector, EXC_TS);
  assert.equal(c3.excError, SEL_TSS3);
  assert.equal(c3.r[R_SEL + TR], SEL_TSS, "no switch happened");
});

test("INT through a task gate from CPL 3: the handler task runs at CPL 0, IRET returns to ring 3", () => {
  const c = makeCpu();
  enterProtected(c);
  writeGate(c, IDT + 0x50 * 8, SEL_TSS3, 0, 0x5, 3);
  writeTss(c, TSS3, { eip: HANDLERS, esp: 0xa000 });
  new Asm(HANDLERS).movRS(BX, CS).store(0x600, BX).iret().load(c);
  const u = new Asm(UCODE);
  u.movImm(AX, 0x99).int(0x50).label("back").movRR(CX, AX).spin();
  u.load(c);
  toUser(c);
  c.run(50);
  assert.equal(r32(c, 0x600) & 0xffff, SEL_KCODE);
  assert.equal(c.cpl, 3);
  assert.equal(c.r[R_SEL + TR], SEL_TSS);
  assert.equal(c.r[R_SEL + CS], SEL_UCODE);
  assert.equal(c.r[R_SEL + SS], SEL_UDATA);
  assert.equal(c.r[ESP], USTACK);
  assert.equal(c.r[ECX], 0x99);
  assert.equal(r16(c, TSS3), SEL_TSS);
  assert.equal(r32(c, TSS + 0x20), u.addr("back"));
  assert.equal(r16(c, TSS + 0x4c), SEL_UCODE, "user CS saved");
});

test("JMP through a task gate in the GDT", () => {
  const c = makeCpu();
  enterProtected(c);
  writeGate(c, GDT + 0x80, SEL_TSS2, 0, 0x5, 0);
  writeTss(c, TSS2, { eip: HANDLERS, esp: 0xa000 });
  new Asm(HANDLERS).hlt().load(c);
  new Asm(KCODE).jmpFar(0x80, 0).load(c);
  assert.equal(c.run(10), EXIT_HLT);
  assert.equal(c.r[R_SEL + TR], SEL_TSS2);
});

test("task switch loads CR3 (paging on) and the LDT from the new TSS", () => {
  const c = makeCpu();
  enterProtected(c);
  identityMap(c);
  // A second page directory sharing the page tables but mapping 0x300000 to 0x301000.
  const PD2 = 0x14000;
  const PT2 = 0x15000;
  c.ram.copyWithin(PD2, PD, PD + 0x1000);
  c.ram.copyWithin(PT2, 0x11000, 0x12000);
  w32(c, PD2, PT2 | P | RW | 4);
  w32(c, PT2 + 0x300 * 4, 0x301000 | P | RW | 4);
  w32(c, 0x300000, 0xaaaa);
  w32(c, 0x301000, 0xbbbb);
  c.r[R_CR3] = PD;
  c.r[R_CR0] |= CR0_PG;
  c.flushTlb(true);
  // LDT with one data segment (selector 0x04 | TI) based at 0x50000.
  writeDesc(c, LDT_BASE, 0x50000, 0xffff, DATA32, 4);
  w32(c, 0x50010, 0xcccc);
  writeTss(c, TSS2, { eip: HANDLERS, esp: 0xa000, cr3: PD2 });
  w16(c, TSS2 + 0x60, SEL_LDT);
  w16(c, TSS2 + 0x5c, 0x04); // GS = LDT selector 0
  const h = new Asm(HANDLERS);
  h.loadMem(AX, 0x300000).db(0x65).loadMem(BX, 0x10).hlt();
  h.load(c);
  new Asm(KCODE).loadMem(CX, 0x300000).store(0x600, CX).jmpFar(SEL_TSS2, 0).load(c);
  assert.equal(c.run(20), EXIT_HLT);
  assert.equal(r32(c, 0x600), 0xaaaa, "old mapping before the switch (and now in the TLB)");
  assert.equal(c.r[R_CR3], PD2);
  assert.equal(c.r[EAX], 0xbbbb, "stale TLB entry dropped with the CR3 load");
  assert.equal(c.r[R_SEL + LDTR], SEL_LDT);
  assert.equal(c.r[R_SEGBASE + LDTR], LDT_BASE);
  assert.equal(c.r[R_SEGBASE + GS], 0x50000);
  assert.equal(c.r[EBX], 0xcccc);
  assert.equal(r32(c, TSS + 0x1c), 0, "the old TSS's CR3 field is not written");
});

test("LTR marks the TSS busy; LTR of a busy TSS → #GP(sel); STR reads TR", () => {
  const c = makeCpu();
  enterProtected(c);
  assert.equal(tssType(c, SEL_TSS), BUSY);
  new Asm(KCODE).movImm(AX, SEL_TSS2).ltr(AX).db(0x0f, 0x00, 0xcb).movImm(AX, SEL_TSS).ltr(AX).load(c); // str bx
  c.trapExceptions = true;
  assert.equal(c.run(10), EXIT_EXCEPTION);
  assert.equal(c.excVector, EXC_GP);
  assert.equal(c.excError, SEL_TSS);
  assert.equal(c.r[EBX] & 0xffff, SEL_TSS2);
  assert.equal(tssType(c, SEL_TSS2), BUSY);
  assert.throws(() => ltr(c, SEL_KDATA));
});
