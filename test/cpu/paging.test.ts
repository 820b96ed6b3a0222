// Paging (SDM Vol. 3A, chapter 4): enabling, 4 KiB and 4 MiB pages, A/D bits, #PF error codes
// and CR2, WP, U/S, TLB behaviour (INVLPG, CR3 reloads, global pages), A20.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CPU } from "../../src/cpu/cpu.ts";
import { EXIT_EXCEPTION, EXIT_HLT } from "../../src/cpu/cpu.ts";
import {
  CR0_PG,
  CR0_WP,
  CS,
  DS,
  EAX,
  EBX,
  ECX,
  ESP,
  EXC_PF,
  R_CR0,
  R_CR2,
  R_CR3,
  R_CR4,
  R_EIP,
} from "../../src/cpu/state.ts";
import {
  A,
  Asm,
  AX,
  BX,
  CX,
  D,
  enterProtected,
  enterUser,
  G,
  getPde,
  getPte,
  HANDLERS,
  identityMap,
  KCODE,
  KSTACK,
  P,
  PD,
  PS,
  PT0,
  RW,
  r32,
  SEL_KCODE,
  SEL_UCODE,
  SEL_UDATA,
  setGate,
  setPde,
  setPte,
  UCODE,
  US,
  USTACK,
  w32,
} from "./asm.ts";
import { makeCpu, real16 } from "./helpers.ts";

/** Protected mode, identity-mapped 4 MiB (user, writable), paging on. */
function paged(wp = false): CPU {
  const c = makeCpu();
  enterProtected(c);
  identityMap(c);
  c.r[R_CR3] = PD;
  c.r[R_CR0] |= CR0_PG | (wp ? CR0_WP : 0);
  c.flushTlb(true);
  return c;
}

const toUser = enterUser;

/** A #PF handler that halts with the frame on the stack. */
function haltingPfHandler(c: CPU): void {
  setGate(c, 14, HANDLERS);
  new Asm(HANDLERS).hlt().load(c);
}

function expectPf(c: CPU, error: number, cr2: number, eip: number): void {
  c.trapExceptions = true;
  assert.equal(c.run(1000), EXIT_EXCEPTION, "expected #PF");
  assert.equal(c.excVector, EXC_PF, `vector ${c.excVector}`);
  assert.equal(c.excError, error, "error code");
  assert.equal(c.r[R_CR2] >>> 0, cr2 >>> 0, "CR2");
  assert.equal(c.r[R_EIP] >>> 0, eip >>> 0, "EIP");
}

test("enabling paging with MOV CR3 / MOV CR0; accessed and dirty bits", () => {
  const c = makeCpu();
  enterProtected(c);
  identityMap(c);
  c.ram.set([0x11, 0x22, 0x33, 0x44], 0x300000);
  const a = new Asm(KCODE);
  a.movImm(AX, PD)
    .movCR(3, AX)
    .movRC(AX, 0)
    .orImm(AX, CR0_PG | CR0_WP)
    .movCR(0, AX);
  a.loadMem(BX, 0x300000).store(0x301000, BX).hlt();
  a.load(c);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.r[R_CR0] & CR0_PG, CR0_PG);
  assert.equal(c.r[EBX], 0x44332211);
  assert.equal(r32(c, 0x301000), 0x44332211);
  assert.equal(getPte(c, 0x300000) & (A | D), A, "read sets A only");
  assert.equal(getPte(c, 0x301000) & (A | D), A | D, "write sets A and D");
  assert.equal(getPte(c, KCODE) & A, A, "code fetch sets A");
  assert.equal(getPte(c, 0x302000) & (A | D), 0, "untouched page");
  assert.equal(getPde(c, 0) & A, A, "PDE accessed");
});

test("#PF on a not-present page: error code 0, CR2, the handler maps the page and IRET restarts", () => {
  const c = paged();
  setPte(c, 0x305000, 0);
  c.ram.set([0xef, 0xbe, 0xad, 0xde], 0x305004);
  setGate(c, 14, HANDLERS);
  const h = new Asm(HANDLERS);
  h.pop(BX).store(0x700, BX).movRC(CX, 2).store(0x704, CX).loadInd(CX, 4).store(0x708, CX);
  h.storeImm(PT0 + (0x305000 >>> 12) * 4, 0x305000 | P | RW)
    .incMem(0x70c)
    .iret();
  h.load(c);
  const a = new Asm(KCODE);
  a.label("insn").loadMem(AX, 0x305004).hlt();
  a.load(c);
  w32(c, 0x700, -1);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.r[EAX] >>> 0, 0xdeadbeef);
  assert.equal(r32(c, 0x700), 0, "error code: not present, read, supervisor");
  assert.equal(r32(c, 0x704), 0x305004, "CR2");
  assert.equal(r32(c, 0x708), a.addr("insn"), "pushed EIP is the faulting instruction");
  assert.equal(r32(c, 0x70c), 1, "one fault");
  assert.equal(c.r[ESP], KSTACK);
});

test("user access to a supervisor page: #PF(P|U) through the interrupt gate with a TSS stack switch", () => {
  for (const [write, err] of [
    [false, 5],
    [true, 7],
  ] as const) {
    const c = paged();
    setPte(c, 0x306000, 0x306000 | P | RW);
    haltingPfHandler(c);
    const u = new Asm(UCODE);
    if (write) u.store(0x306010, AX);
    else u.loadMem(AX, 0x306010);
    u.load(c);
    toUser(c);
    assert.equal(c.run(100), EXIT_HLT);
    assert.equal(c.cpl, 0);
    assert.equal(c.r[R_CR2], 0x306010);
    const sp = c.r[ESP];
    assert.equal(sp, KSTACK - 24);
    assert.equal(r32(c, sp), err, "error code");
    assert.equal(r32(c, sp + 4), UCODE, "EIP");
    assert.equal(r32(c, sp + 8) & 0xffff, SEL_UCODE);
    assert.equal(r32(c, sp + 12) & 0x200, 0x200, "EFLAGS.IF pushed");
    assert.equal(r32(c, sp + 16), USTACK);
    assert.equal(r32(c, sp + 20) & 0xffff, SEL_UDATA);
    assert.equal(c.r[0x40 + 9] & 0, 0);
  }
});

test("not-present from user mode: error 4 (read) / 6 (write)", () => {
  for (const [write, err] of [
    [false, 4],
    [true, 6],
  ] as const) {
    const c = paged();
    setPte(c, 0x307000, 0);
    const u = new Asm(UCODE);
    if (write) u.store(0x307ffc, AX);
    else u.loadMem(AX, 0x307ffc);
    u.load(c);
    toUser(c);
    expectPf(c, err, 0x307ffc, UCODE);
  }
});

test("user write to a read-only user page: #PF(7); PDE and PTE rights are ANDed", () => {
  const c = paged();
  setPte(c, 0x308000, 0x308000 | P | US);
  new Asm(UCODE).loadMem(BX, 0x308000).store(0x308000, AX).load(c);
  toUser(c);
  expectPf(c, 7, 0x308000, UCODE + 6);

  // PDE without U/S: every page under it is supervisor-only even if the PTE says user.
  const c2 = paged();
  setPde(c2, 0x400000, (PT0 + 0x1000) | P | RW);
  for (let k = 0; k < 1024; k++) w32(c2, PT0 + 0x1000 + k * 4, (0x400000 + k * 0x1000) | P | RW | US);
  new Asm(UCODE).loadMem(BX, 0x400010).load(c2);
  toUser(c2);
  expectPf(c2, 5, 0x400010, UCODE);
});

test("CR0.WP: supervisor writes to read-only pages succeed with WP=0 and fault (#PF 3) with WP=1", () => {
  const c = paged(false);
  setPte(c, 0x309000, 0x309000 | P | US);
  new Asm(KCODE).storeImm(0x309000, 0x1234).hlt().load(c);
  assert.equal(c.run(10), EXIT_HLT);
  assert.equal(r32(c, 0x309000), 0x1234);
  assert.equal(getPte(c, 0x309000) & D, D, "dirty set by the supervisor write");

  const c2 = paged(true);
  setPte(c2, 0x309000, 0x309000 | P | US);
  new Asm(KCODE).loadMem(BX, 0x309000).storeImm(0x309000, 0x1234).hlt().load(c2);
  expectPf(c2, 3, 0x309000, KCODE + 6);
  assert.equal(r32(c2, 0x309000), 0);

  // Setting WP after a write through a TLB entry filled with WP=0 must take effect at once.
  const c3 = paged(false);
  setPte(c3, 0x309000, 0x309000 | P | US);
  const a = new Asm(KCODE);
  a.storeImm(0x309000, 1).movRC(AX, 0).orImm(AX, CR0_WP).movCR(0, AX).label("w").storeImm(0x309000, 2);
  a.load(c3);
  expectPf(c3, 3, 0x309000, a.addr("w"));
  assert.equal(r32(c3, 0x309000), 1);
});

test("4 MiB pages with CR4.PSE: translation, A/D on the PDE, user/supervisor", () => {
  const c = paged();
  c.r[R_CR4] |= 0x10;
  setPde(c, 0x800000, 0x000000 | P | RW | PS);
  setPde(c, 0xc00000, 0x000000 | P | RW | PS | US);
  c.ram.set([1, 2, 3, 4], 0x1234);
  new Asm(KCODE).loadMem(AX, 0x801234).store(0xc05678, AX).hlt().load(c);
  assert.equal(c.run(10), EXIT_HLT);
  assert.equal(c.r[EAX], 0x04030201);
  assert.equal(r32(c, 0x5678), 0x04030201);
  assert.equal(getPde(c, 0x800000) & (A | D), A);
  assert.equal(getPde(c, 0xc00000) & (A | D), A | D);
  // The supervisor-only large page faults from user mode with P|U.
  new Asm(UCODE).loadMem(AX, 0xc00000).loadMem(AX, 0x800004).load(c);
  c.halted = false;
  toUser(c);
  expectPf(c, 5, 0x800004, UCODE + 6);
});

test("INVLPG drops a stale translation; other pages stay cached", () => {
  const c = paged();
  w32(c, 0x310000, 0xaaaa);
  w32(c, 0x312000, 0xbbbb);
  w32(c, 0x311000, 0xcccc);
  w32(c, 0x313000, 0xdddd);
  const pte0 = PT0 + (0x310000 >>> 12) * 4;
  const pte1 = PT0 + (0x311000 >>> 12) * 4;
  const a = new Asm(KCODE);
  a.loadMem(AX, 0x310000).loadMem(AX, 0x311000);
  a.storeImm(pte0, 0x312000 | P | RW).storeImm(pte1, 0x313000 | P | RW);
  a.loadMem(AX, 0x310000).store(0x600, AX);
  a.invlpg(0x310abc).loadMem(AX, 0x310000).store(0x604, AX);
  a.loadMem(AX, 0x311000).store(0x608, AX).hlt();
  a.load(c);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(r32(c, 0x600), 0xaaaa, "stale entry used before INVLPG (as hardware may)");
  assert.equal(r32(c, 0x604), 0xbbbb, "new mapping after INVLPG");
  assert.equal(r32(c, 0x608), 0xcccc, "other page untouched by INVLPG");
});

test("CR3 reload flushes non-global pages; global pages survive with CR4.PGE until PGE is cleared", () => {
  const c = paged();
  w32(c, 0x320000, 0x1111);
  w32(c, 0x321000, 0x2222);
  w32(c, 0x322000, 0x3333);
  w32(c, 0x323000, 0x4444);
  setPte(c, 0x320000, 0x320000 | P | RW | G);
  setPte(c, 0x321000, 0x321000 | P | RW);
  const a = new Asm(KCODE);
  a.movImm(AX, 0x80 | 0x10).movCR(4, AX);
  a.loadMem(AX, 0x320000).loadMem(AX, 0x321000);
  a.storeImm(PT0 + 0x320 * 4, 0x322000 | P | RW | G).storeImm(PT0 + 0x321 * 4, 0x323000 | P | RW);
  a.movRC(AX, 3).movCR(3, AX);
  a.loadMem(AX, 0x320000).store(0x600, AX).loadMem(AX, 0x321000).store(0x604, AX);
  a.movImm(AX, 0x10).movCR(4, AX); // clear PGE: flushes global entries too
  a.loadMem(AX, 0x320000).store(0x608, AX).hlt();
  a.load(c);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(r32(c, 0x600), 0x1111, "global entry kept across the CR3 load");
  assert.equal(r32(c, 0x604), 0x4444, "non-global entry flushed");
  assert.equal(r32(c, 0x608), 0x3333, "global entry flushed by clearing CR4.PGE");
});

test("instruction fetch from a not-present page: #PF with CR2 = EIP (error 0 / 4 from user)", () => {
  const c = paged();
  setPte(c, 0x330000, 0);
  new Asm(KCODE).movImm(AX, 0x330000).db(0xff, 0xe0).load(c); // jmp eax
  expectPf(c, 0, 0x330000, 0x330000);

  // An instruction straddling into a not-present page faults on the second page.
  const c2 = paged();
  setPte(c2, 0x332000, 0);
  new Asm(0x331ffe).movImm(AX, 0x12345678).load(c2);
  c2.r[R_EIP] = 0x331ffe;
  expectPf(c2, 0, 0x332000, 0x331ffe);

  const c3 = paged();
  setPte(c3, UCODE, UCODE | P | RW);
  toUser(c3);
  expectPf(c3, 5, UCODE, UCODE);
});

test("page-crossing write with the second page not present writes nothing; CR2 is in the second page", () => {
  for (const size of [2, 4]) {
    const c = paged();
    setPte(c, 0x341000, 0);
    w32(c, 0x340ffc, 0x11111111);
    const a = new Asm(KCODE);
    a.movImm(AX, 0x55667788);
    if (size === 2) a.db(0x66);
    a.store(0x341000 - size / 2, AX).hlt();
    a.load(c);
    c.trapExceptions = true;
    assert.equal(c.run(10), EXIT_EXCEPTION);
    assert.equal(c.excVector, EXC_PF);
    assert.equal(c.excError, 2);
    assert.equal(c.r[R_CR2], 0x341000, `CR2 for a ${size}-byte access`);
    assert.equal(r32(c, 0x340ffc), 0x11111111, "first page untouched");
  }
});

test("dirty bit: a write after a read-filled TLB entry walks again and sets D", () => {
  const c = paged();
  new Asm(KCODE).loadMem(AX, 0x350000).storeImm(0x350000, 5).loadMem(BX, 0x350000).hlt().load(c);
  assert.equal(c.run(10), EXIT_HLT);
  assert.equal(getPte(c, 0x350000) & (A | D), A | D);
  assert.equal(c.r[EBX], 5);
  // Clearing D in memory and INVLPG: the next write sets it again.
  setPte(c, 0x350000, 0x350000 | P | RW | US | A);
  c.halted = false;
  new Asm(KCODE + 0x100).invlpg(0x350000).storeImm(0x350000, 6).hlt().load(c);
  c.r[R_EIP] = KCODE + 0x100;
  assert.equal(c.run(10), EXIT_HLT);
  assert.equal(getPte(c, 0x350000) & D, D);
});

test("system structures are accessed with supervisor rights from CPL 3 (IDT/GDT/TSS on supervisor pages)", () => {
  const c = paged();
  for (const page of [0x1000, 0x2000, 0xb000, 0x9000 - 0x1000]) setPte(c, page, page | P | RW);
  setGate(c, 0x80, HANDLERS, 0xf, 3);
  new Asm(HANDLERS).movRS(BX, CS).hlt().load(c);
  new Asm(UCODE).int(0x80).load(c);
  toUser(c);
  assert.equal(c.run(10), EXIT_HLT);
  assert.equal(c.r[EBX] & 0xffff, SEL_KCODE);
  assert.equal(c.r[ESP], KSTACK - 20);
});

test("A20 gate: setA20(false) wraps at 1 MiB and takes effect on cached translations", () => {
  const c = makeCpu();
  real16(c, 0x1000);
  c.ram[0x100010] = 0x42;
  c.ram[0x000010] = 0x24;
  // mov ax,0xffff; mov ds,ax; mov bl,[0x20] (linear 0x100010); hlt
  const a = new Asm(0x1000, 16);
  a.movImm(AX, 0xffff).movSR(DS, AX).db(0x8a, 0x1e).dw(0x20).hlt();
  a.load(c);
  assert.equal(c.run(10), EXIT_HLT);
  assert.equal(c.r[EBX] & 0xff, 0x42);
  c.setA20(false);
  c.halted = false;
  c.r[R_EIP] = 0x1000 + 5;
  assert.equal(c.run(10), EXIT_HLT);
  assert.equal(c.r[EBX] & 0xff, 0x24, "wrapped to 0x10 with A20 masked");
  c.setA20(true);
  c.halted = false;
  c.r[R_EIP] = 0x1000 + 5;
  assert.equal(c.run(10), EXIT_HLT);
  assert.equal(c.r[EBX] & 0xff, 0x42);
  void ECX;
});

test("A20 off: code at FFFF:0010 executes the bytes at physical 0", () => {
  const c = makeCpu();
  real16(c, 0);
  new Asm(0x100000, 16).movImm(AX, 1).hlt().load(c);
  new Asm(0, 16).movImm(AX, 2).hlt().load(c);
  c.loadSegReal(CS, 0xffff);
  c.r[R_EIP] = 0x10;
  assert.equal(c.run(10), EXIT_HLT);
  assert.equal(c.r[EAX] & 0xffff, 1);
  c.setA20(false);
  c.halted = false;
  c.r[R_EIP] = 0x10;
  assert.equal(c.run(10), EXIT_HLT);
  assert.equal(c.r[EAX] & 0xffff, 2);
});

test("INVLPG and refill of a global page do not grow the TLB's page list; CR3 reloads keep it valid", () => {
  const c = paged();
  c.r[R_CR4] |= 0x80 | 0x10;
  setPte(c, 0x360000, 0x360000 | P | RW | G);
  w32(c, 0x360000, 0x5a5a);
  const listed = () => {
    const lists = c as unknown as { tlbCount: number; tlbGCount: number };
    return lists.tlbCount + lists.tlbGCount;
  };
  const a = new Asm(KCODE);
  a.movImm(CX, 200).label("loop").invlpg(0x360000).loadMem(AX, 0x360000).movRC(BX, 3).movCR(3, BX);
  a.db(0xe2, (a.addr("loop") - (a.here + 2)) & 0xff); // loop
  a.hlt();
  a.load(c);
  c.run(10);
  const before = listed();
  assert.equal(c.run(5000), EXIT_HLT);
  assert.equal(c.r[EAX], 0x5a5a);
  assert.ok(listed() <= before + 2, `TLB list grew from ${before} to ${listed()}`);
});

test("a CR3 reload drops every non-global entry, also one refilled non-global where a global one was; global ones stay", () => {
  const c = paged();
  c.r[R_CR4] |= 0x80; // PGE
  const page = (lin: number) => c.tlb[lin >>> 12];
  // Global, then (after INVLPG) refilled without G and elsewhere.
  setPte(c, 0x360000, 0x360000 | P | RW | G);
  c.tlbLookup(0x360000, false, false);
  setPte(c, 0x360000, 0x370000 | P | RW);
  c.invlpg(0x360000);
  assert.equal(c.tlbLookup(0x360000, false, false) & ~0xfff, 0x370000);
  // Not global, then refilled global.
  setPte(c, 0x361000, 0x361000 | P | RW);
  c.tlbLookup(0x361000, false, false);
  setPte(c, 0x361000, 0x361000 | P | RW | G);
  c.invlpg(0x361000);
  c.tlbLookup(0x361000, false, false);
  setPte(c, 0x362000, 0x362000 | P | RW);
  c.tlbLookup(0x362000, false, false);
  c.flushTlb(false); // MOV CR3
  assert.equal(page(0x360000), 0, "refilled non-global: dropped");
  assert.equal(page(0x362000), 0, "non-global: dropped");
  assert.notEqual(page(0x361000), 0, "refilled global: kept");
  // Kept across any number of reloads, and refilled as before once dropped.
  c.flushTlb(false);
  assert.notEqual(page(0x361000), 0);
  c.flushTlb(true); // CR4.PGE toggled
  assert.equal(page(0x361000), 0, "a global flush drops it");
  setPte(c, 0x360000, 0x360000 | P | RW | G);
  assert.equal(c.tlbLookup(0x360000, false, false) & ~0xfff, 0x360000);
  c.flushTlb(false);
  assert.notEqual(page(0x360000), 0);
});

test("tlbProbe: a translation without a fault (the accelerator looking at a page it may run), CR2 and the pending exception kept", () => {
  const c = paged();
  setPte(c, 0x320000, 0x330000 | P | RW); // supervisor only
  setPte(c, 0x321000, 0); // not present
  c.r[R_CR2] = 0x1234;
  c.excVector = 13;
  c.excError = 0x55;
  const e = c.tlbProbe(0x320abc, false);
  assert.equal(e & ~0xfff, 0x330000, "maps like a walk");
  assert.equal(c.tlbProbe(0x320abc, true), 0, "a user probe of a supervisor page fails");
  assert.equal(c.tlbProbe(0x321000, false), 0, "not present");
  assert.deepEqual([c.r[R_CR2], c.excVector, c.excError], [0x1234, 13, 0x55], "nothing raised");
  // The real access still faults, with its own CR2.
  assert.throws(() => c.tlbLookup(0x321004, false, false));
  assert.equal(c.r[R_CR2], 0x321004);
  assert.equal(c.excVector, EXC_PF);
});

test("debugRead8: a debugger's read (monitor x, memsave, -d in_asm) — -1 where unmapped, CR2 and the pending exception kept", () => {
  const c = paged();
  setPte(c, 0x320000, 0x330000 | P | RW); // supervisor only: a debugger reads it
  setPte(c, 0x321000, 0); // not present
  c.physWrite8(0x330abc, 0x5a);
  c.r[R_CR2] = 0x1234;
  c.excVector = 13;
  c.excError = 0x55;
  assert.equal(c.debugRead8(0x320abc), 0x5a);
  assert.equal(c.debugRead8(0x321000), -1);
  assert.deepEqual([c.r[R_CR2], c.excVector, c.excError], [0x1234, 13, 0x55], "nothing raised");
  // The supervisor read through readLinear8Sup, which the monitor used before, raised a #PF.
  assert.throws(() => c.readLinear8Sup(0x321000));
  assert.equal(c.r[R_CR2], 0x321000);
});
