// Mode switches, segment-register loads and their checks, privilege rules for flags and I/O,
// system instructions (MSRs, CPUID, TSC, CR0.TS, CR4), SYSENTER/SYSEXIT.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EXIT_EXCEPTION, EXIT_HLT } from "../../src/cpu/cpu.ts";
import {
  CR0_PE,
  CS,
  DS,
  EAX,
  EBX,
  ECX,
  EDX,
  ES,
  ESP,
  EXC_GP,
  EXC_NM,
  EXC_NP,
  EXC_SS,
  EXC_UD,
  FS,
  GS,
  R_CR0,
  R_CR4,
  R_EFLAGS,
  R_EIP,
  R_GDTR_BASE,
  R_GDTR_LIMIT,
  R_SEGATTR,
  R_SEGBASE,
  R_SEGLIMIT,
  R_SEL,
  SS,
} from "../../src/cpu/state.ts";
import {
  Asm,
  AX,
  BX,
  buildTables,
  CX,
  DX,
  enterProtected,
  enterUser,
  GDT,
  GDT_LIMIT,
  HANDLERS,
  IDT,
  IOMAP,
  KCODE,
  KSTACK,
  LDT_BASE,
  r32,
  SEL_CALLGATE,
  SEL_CODE16,
  SEL_DS1,
  SEL_EXPDOWN,
  SEL_KCODE,
  SEL_KDATA,
  SEL_LDT,
  SEL_NP,
  SEL_RO,
  SEL_SMALL,
  SEL_UCODE,
  SEL_UDATA,
  SP,
  TSS,
  UCODE,
  USTACK,
  w16,
  w32,
  writeDesc,
} from "./asm.ts";
import { makeCpu, real16 } from "./helpers.ts";

/** Drop to CPL 3 directly (segment caches for the standard user selectors), code at UCODE. */
const toUser = enterUser;

function expectFault(c: ReturnType<typeof makeCpu>, vector: number, error: number, eip?: number): void {
  c.trapExceptions = true;
  assert.equal(c.run(1000), EXIT_EXCEPTION, "expected an exception");
  assert.equal(c.excVector, vector, `vector ${c.excVector} error ${c.excError}`);
  assert.equal(c.excError, error, "error code");
  if (eip !== undefined) assert.equal(c.r[R_EIP] >>> 0, eip >>> 0, "faulting EIP");
}

test("real → protected mode: LGDT, MOV CR0, far JMP, data segment loads", () => {
  const c = makeCpu();
  real16(c, 0x7c00);
  buildTables(c);
  c.r[R_GDTR_BASE] = 0;
  c.r[R_GDTR_LIMIT] = 0xffff;
  // GDTR pseudo-descriptor at 0x600.
  w16(c, 0x600, 0x8f);
  w32(c, 0x602, GDT);
  const a = new Asm(0x7c00, 16);
  a.cli().lgdt(0x600).movRC(AX, 0).orImm(AX, 1).movCR(0, AX);
  a.jmpFar(SEL_KCODE, 0x7c40, 32);
  a.load(c);
  const b = new Asm(0x7c40, 32);
  b.movImm(AX, SEL_KDATA).movSR(DS, AX).movSR(ES, AX).movSR(SS, AX).movImm(SP, 0x9000);
  b.storeImm(0x500, 0x12345678).push(AX).hlt();
  b.load(c);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.r[R_CR0] & CR0_PE, 1);
  assert.equal(c.r[R_SEL + CS], SEL_KCODE);
  assert.equal(c.codeMode, 1, "32-bit code segment");
  assert.equal(c.r[R_SEGLIMIT + DS], -1);
  assert.equal(c.r[R_SEL + SS], SEL_KDATA);
  assert.ok(c.ss32);
  assert.equal(r32(c, 0x500), 0x12345678);
  assert.equal(c.r[ESP], 0x9000 - 4);
  // The accessed bit was set in the descriptor.
  assert.notEqual(r32(c, GDT + 0x10 + 4) & 0x100, 0);
  assert.equal(c.r[R_GDTR_BASE], GDT);
  assert.equal(c.r[R_GDTR_LIMIT], 0x8f);
});

test("real mode keeps cached protected-mode limits (big real mode) and back-to-real switch", () => {
  const c = makeCpu();
  enterProtected(c);
  // Load a 4 GiB FS in protected mode, go through a 16-bit code segment, clear PE, far-jump to
  // real-mode code and use a 32-bit offset through the cached FS limit.
  const a = new Asm(KCODE, 32);
  a.movImm(AX, SEL_KDATA).movSR(FS, AX).jmpFar(SEL_CODE16, 0x8000, 32);
  a.load(c);
  const p = new Asm(0x8000, 16);
  p.movRC(AX, 0).db(0x66, 0x81, 0xe0).dd(~1).movCR(0, AX).jmpFar(0x2000, 0x20, 16);
  p.load(c);
  // mov eax, 0x1234 ; mov fs:[0x200000], eax (addr32) ; hlt
  const bytes = [0x66, 0xb8, 0x34, 0x12, 0, 0, 0x64, 0x67, 0x66, 0x89, 0x05, 0, 0, 0x20, 0, 0xf4];
  c.ram.set(bytes, 0x20020);
  c.notifyRamWrite(0x20020, bytes.length);
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.protectedMode, false);
  assert.equal(c.r[R_SEL + CS], 0x2000);
  assert.equal(c.r[R_SEGBASE + CS], 0x20000);
  assert.equal(r32(c, 0x200000), 0x1234);
});

test("null selectors: DS may be null (access → #GP(0)), SS may not", () => {
  const c = makeCpu();
  enterProtected(c);
  const a = new Asm(KCODE);
  a.xorRR(AX, AX).movSR(DS, AX).label("acc").loadMem(BX, 0x500);
  a.load(c);
  expectFault(c, EXC_GP, 0, a.addr("acc"));
  assert.equal(c.r[R_SEL + DS], 0);

  const c2 = makeCpu();
  enterProtected(c2);
  const b = new Asm(KCODE);
  b.xorRR(AX, AX).label("ss").movSR(SS, AX);
  b.load(c2);
  expectFault(c2, EXC_GP, 0, b.addr("ss"));
  assert.equal(c2.r[R_SEL + SS], SEL_KDATA);
});

test("segment loads: not present → #NP(sel), DPL below CPL → #GP(sel), outside GDT → #GP(sel)", () => {
  for (const [sel, cpl, vec] of [
    [SEL_NP, 0, EXC_NP],
    [SEL_KDATA, 3, EXC_GP],
    [0x1f0, 0, EXC_GP],
    [SEL_DS1 | 2, 0, EXC_GP], // RPL 2 > DPL 1
  ] as const) {
    const c = makeCpu();
    enterProtected(c);
    const a = new Asm(cpl === 3 ? UCODE : KCODE);
    a.movImm(AX, sel).label("l").movSR(DS, AX);
    a.load(c);
    if (cpl === 3) toUser(c);
    expectFault(c, vec, sel & ~3, a.addr("l"));
  }
  // SS with RPL != CPL → #GP; not-present SS → #SS? (not present is checked after type: #SS(sel))
  const c = makeCpu();
  enterProtected(c);
  const a = new Asm(KCODE);
  a.movImm(AX, SEL_UDATA).movSR(SS, AX);
  a.load(c);
  expectFault(c, EXC_GP, SEL_UDATA & ~3);
});

test("segment limit checks: byte-granular limit, expand-down, read-only, #SS for the stack", () => {
  const c = makeCpu();
  enterProtected(c);
  const a = new Asm(KCODE);
  a.movImm(AX, SEL_SMALL).movSR(ES, AX);
  a.db(0x26).loadMem(BX, 0xffc); // es: mov ebx,[0xffc] ok (last byte 0xfff)
  a.label("bad").db(0x26).loadMem(BX, 0xffd); // crosses the limit
  a.load(c);
  c.ram.set([1, 2, 3, 4], 0x50ffc);
  expectFault(c, EXC_GP, 0, a.addr("bad"));
  assert.equal(c.r[EBX], 0x04030201);

  // Expand-down: offsets <= limit fault, above are fine.
  const c2 = makeCpu();
  enterProtected(c2);
  const b = new Asm(KCODE);
  b.movImm(AX, SEL_EXPDOWN).movSR(ES, AX);
  b.db(0x26).store(0x1000, AX);
  b.label("bad").db(0x26).store(0xffe, AX);
  b.load(c2);
  expectFault(c2, EXC_GP, 0, b.addr("bad"));
  assert.equal(r32(c2, 0x1000), SEL_EXPDOWN);

  // Read-only data: reads fine, writes #GP(0).
  const c3 = makeCpu();
  enterProtected(c3);
  const d = new Asm(KCODE);
  d.movImm(AX, SEL_RO).movSR(ES, AX).db(0x26).loadMem(BX, 0x100).label("bad").db(0x26).store(0x100, AX);
  d.load(c3);
  expectFault(c3, EXC_GP, 0, d.addr("bad"));

  // Stack limit: SS with a small limit; a push below 0 wraps past the limit → #SS(0).
  const c4 = makeCpu();
  enterProtected(c4);
  const e = new Asm(KCODE);
  e.movImm(AX, SEL_SMALL).movSR(SS, AX).movImm(SP, 2).label("bad").push(AX);
  e.load(c4);
  expectFault(c4, EXC_SS, 0, e.addr("bad"));
  assert.equal(c4.r[ESP], 2, "ESP unchanged by the faulting push");
});

test("far RET to an outer privilege level nulls DS/ES/FS/GS that the new CPL may not use", () => {
  const c = makeCpu();
  enterProtected(c);
  const a = new Asm(KCODE);
  a.movImm(AX, SEL_UDATA).movSR(FS, AX); // FS stays usable at CPL 3
  a.pushImm(SEL_UDATA).pushImm(USTACK).pushImm(SEL_UCODE).pushImm(UCODE).retf();
  a.load(c);
  new Asm(UCODE).movRS(BX, DS).movRS(CX, FS).spin().load(c);
  c.run(20);
  assert.equal(c.cpl, 3);
  assert.equal(c.r[R_SEL + CS], SEL_UCODE);
  assert.equal(c.r[R_SEL + SS], SEL_UDATA);
  assert.equal(c.r[ESP], USTACK);
  assert.equal(c.r[R_SEL + DS], 0, "DS (DPL 0) nulled");
  assert.equal(c.r[R_SEL + ES], 0);
  assert.equal(c.r[R_SEL + GS], 0);
  assert.equal(c.r[R_SEL + FS], SEL_UDATA);
  assert.equal(c.r[EBX] & 0xffff, 0);
  assert.equal(c.r[ECX] & 0xffff, SEL_UDATA);
  assert.equal(c.r[R_SEGATTR + DS] & 0x80, 0, "nulled DS is unusable");
});

test("CALL through a DPL3 call gate switches to the ring-0 stack from the TSS; RETF returns", () => {
  const c = makeCpu();
  enterProtected(c);
  new Asm(UCODE).pushImm(0x1111).callFar(SEL_CALLGATE, 0).movRR(BX, AX).spin().load(c);
  const h = new Asm(HANDLERS + 0x800);
  h.movRR(AX, SP).movRS(CX, SS).movRS(DX, CS).retf();
  h.load(c);
  toUser(c);
  c.run(30);
  assert.equal(c.cpl, 3);
  assert.equal(c.r[ECX] & 0xffff, SEL_KDATA, "SS in the gate handler");
  assert.equal(c.r[EDX] & 0xffff, SEL_KCODE, "CS in the gate handler");
  // The ring-0 stack holds: EIP, CS, ESP, SS (no parameters).
  const esp0 = c.r[EBX];
  assert.equal(esp0, KSTACK - 16);
  assert.equal(r32(c, esp0 + 4) & 0xffff, SEL_UCODE);
  assert.equal(r32(c, esp0 + 8), USTACK - 4);
  assert.equal(r32(c, esp0 + 12) & 0xffff, SEL_UDATA);
  assert.equal(c.r[ESP], USTACK - 4);
  assert.equal(c.r[R_SEL + SS], SEL_UDATA);
});

test("CLI/STI/POPF at CPL 3: IOPL rules (CLI #GP, POPF leaves IF and IOPL alone)", () => {
  const c = makeCpu();
  enterProtected(c);
  new Asm(UCODE).label("cli").cli().load(c);
  toUser(c, 0x202);
  expectFault(c, EXC_GP, 0, UCODE);

  const c2 = makeCpu();
  enterProtected(c2);
  // POPF with IF=0, IOPL=3, CF=1: only CF changes.
  new Asm(UCODE).pushImm(0x3001).popf().pushf().pop(BX).spin().load(c2);
  toUser(c2, 0x202);
  c2.run(10);
  assert.equal(c2.r[EBX] & 0x3201, 0x201, "IF still set, IOPL still 0, CF set");

  // With IOPL 3 at CPL 3, CLI/STI are allowed and POPF may change IF but not IOPL.
  const c3 = makeCpu();
  enterProtected(c3);
  new Asm(UCODE).cli().pushf().pop(BX).pushImm(0x0202).popf().pushf().pop(CX).spin().load(c3);
  toUser(c3, 0x3202);
  c3.run(20);
  assert.equal(c3.r[EBX] & 0x3200, 0x3000);
  assert.equal(c3.r[ECX] & 0x3200, 0x3200, "IOPL unchanged at CPL 3, IF set again");

  // CPL 0 POPF changes IOPL.
  const c4 = makeCpu();
  enterProtected(c4);
  new Asm(KCODE).pushImm(0x3002).popf().pushf().pop(BX).hlt().load(c4);
  c4.run(10);
  assert.equal(c4.r[EBX] & 0x3200, 0x3000);
});

test("IN/OUT at CPL 3: IOPL, then the TSS I/O permission bitmap", () => {
  const ports: number[] = [];
  const c = makeCpu();
  c.bus.out8 = (p: number) => {
    ports.push(p);
  };
  enterProtected(c);
  // Deny port 0x71 (bit 1 of byte 0x0e) and 0x80.
  c.ram[TSS + IOMAP + 0x0e] = 0x02;
  c.ram[TSS + IOMAP + 0x10] = 0x01;
  const a = new Asm(UCODE);
  a.outAL(0x70).movImm(DX, 0x3f8).outDXAL().label("bad").outAL(0x71);
  a.load(c);
  toUser(c, 0x202);
  expectFault(c, EXC_GP, 0, a.addr("bad"));
  assert.deepEqual(ports, [0x70, 0x3f8]);

  // A 16-bit access to 0x70 covers 0x71 too: denied.
  const c2 = makeCpu();
  enterProtected(c2);
  c2.ram[TSS + IOMAP + 0x0e] = 0x02;
  new Asm(UCODE).db(0x66, 0xe7, 0x70).load(c2); // out 0x70, ax
  toUser(c2, 0x202);
  expectFault(c2, EXC_GP, 0, UCODE);

  // IOPL 3: the bitmap is not consulted.
  const c3 = makeCpu();
  enterProtected(c3);
  c3.ram[TSS + IOMAP + 0x0e] = 0x02;
  new Asm(UCODE).outAL(0x71).spin().load(c3);
  toUser(c3, 0x3202);
  c3.trapExceptions = true;
  c3.run(5);
  assert.equal(c3.r[R_EIP], UCODE + 2);

  // A bitmap offset beyond the TSS limit denies everything.
  const c4 = makeCpu();
  enterProtected(c4);
  w16(c4, TSS + 0x66, 0x4000);
  new Asm(UCODE).outAL(0x70).load(c4);
  toUser(c4, 0x202);
  expectFault(c4, EXC_GP, 0, UCODE);
});

test("privileged instructions at CPL 3 raise #GP(0)", () => {
  const cases: [string, (a: Asm) => Asm][] = [
    ["hlt", (a) => a.hlt()],
    ["mov cr0", (a) => a.movRC(AX, 0)],
    ["mov cr3", (a) => a.movCR(3, AX)],
    ["lgdt", (a) => a.lgdt(0x600)],
    ["ltr", (a) => a.ltr(AX)],
    ["rdmsr", (a) => a.rdmsr()],
    ["wrmsr", (a) => a.wrmsr()],
    ["clts", (a) => a.clts()],
    ["invlpg", (a) => a.invlpg(0x1000)],
    ["mov dr7", (a) => a.movRD(AX, 7)],
    ["sysexit", (a) => a.sysexit()],
  ];
  for (const [name, f] of cases) {
    const c = makeCpu();
    enterProtected(c);
    f(new Asm(UCODE)).load(c);
    toUser(c);
    c.trapExceptions = true;
    assert.equal(c.run(5), EXIT_EXCEPTION, name);
    assert.equal(c.excVector, EXC_GP, name);
    assert.equal(c.excError, 0, name);
  }
});

test("RDMSR/WRMSR (SYSENTER MSRs, unknown MSR #GP), CPUID, RDTSC and CR4.TSD", () => {
  const c = makeCpu();
  enterProtected(c);
  const tsc = 1000;
  c.bus.tsc = () => tsc;
  const a = new Asm(KCODE);
  a.movImm(CX, 0x175).movImm(AX, 0xcafe0).movImm(DX, 0).wrmsr();
  a.movImm(AX, 0).rdmsr().store(0x530, AX);
  a.movImm(AX, 0).cpuid().store(0x500, BX).store(0x504, DX).store(0x508, CX);
  a.movImm(AX, 1).cpuid().store(0x510, DX);
  a.rdtsc().store(0x520, AX);
  a.movImm(CX, 0x10).movImm(AX, 5000).movImm(DX, 0).wrmsr();
  a.rdtsc().store(0x524, AX);
  a.movImm(CX, 0x12345).label("bad").rdmsr();
  a.load(c);
  c.trapExceptions = true;
  assert.equal(c.run(100), EXIT_EXCEPTION);
  assert.equal(c.excVector, EXC_GP);
  assert.equal(c.r[R_EIP], a.addr("bad"));
  assert.equal(r32(c, 0x1000 * 0 + 0x500), 0x756e6547); // "Genu"
  assert.equal(r32(c, 0x504), 0x49656e69); // "ineI"
  assert.equal(r32(c, 0x508), 0x6c65746e); // "ntel"
  const feat = r32(c, 0x510);
  for (const bit of [3, 4, 5, 8, 11, 13, 15]) assert.ok(feat & (1 << bit), `CPUID.1:EDX bit ${bit}`);
  assert.equal(feat & 2, 0, "VME is not claimed");
  assert.equal(r32(c, 0x530), 0xcafe0);
  assert.equal(r32(c, 0x520), 1000);
  assert.equal(r32(c, 0x524), 5000);

  // CR4.TSD: RDTSC at CPL 3 → #GP(0).
  const c2 = makeCpu();
  enterProtected(c2);
  c2.r[R_CR4] |= 4;
  new Asm(UCODE).rdtsc().load(c2);
  toUser(c2);
  expectFault(c2, EXC_GP, 0, UCODE);
});

test("CR4: VME/PVI are not supported (#GP), PSE/PGE/TSD/DE accepted", () => {
  for (const [v, ok] of [
    [0x01, false],
    [0x02, false],
    [0x10 | 0x80 | 0x04 | 0x08, true],
    [0x20, false], // PAE is not reported by CPUID
  ] as const) {
    const c = makeCpu();
    enterProtected(c);
    new Asm(KCODE).movImm(AX, v).movCR(4, AX).hlt().load(c);
    c.trapExceptions = true;
    const exit = c.run(10);
    if (ok) {
      assert.equal(exit, EXIT_HLT, `CR4=${v.toString(16)}`);
      assert.equal(c.r[R_CR4], v);
    } else {
      assert.equal(exit, EXIT_EXCEPTION, `CR4=${v.toString(16)}`);
      assert.equal(c.excVector, EXC_GP);
      assert.equal(c.r[R_CR4], 0);
    }
  }
});

test("CR0.TS: WAIT with MP|TS and x87 with TS raise #NM; CLTS clears TS", () => {
  const c = makeCpu();
  enterProtected(c);
  c.r[R_CR0] |= 0x2 | 0x8; // MP | TS
  new Asm(KCODE).label("w").wait().load(c);
  expectFault(c, EXC_NM, -1, KCODE);
  const c2 = makeCpu();
  enterProtected(c2);
  c2.r[R_CR0] |= 0x2 | 0x8;
  new Asm(KCODE).clts().wait().movRC(BX, 0).hlt().load(c2);
  assert.equal(c2.run(10), EXIT_HLT);
  assert.equal(c2.r[EBX] & 8, 0);
  assert.equal(c2.r[R_CR0] & 8, 0);
  const c3 = makeCpu();
  enterProtected(c3);
  c3.r[R_CR0] |= 0x8;
  new Asm(KCODE).fnop().load(c3);
  expectFault(c3, EXC_NM, -1, KCODE);
});

test("SYSENTER to ring 0 and SYSEXIT back to ring 3 (Linux's vsyscall path)", () => {
  const c = makeCpu();
  enterProtected(c);
  const k = new Asm(KCODE);
  k.movImm(CX, 0x174).movImm(AX, SEL_KCODE).movImm(DX, 0).wrmsr();
  k.movImm(CX, 0x175).movImm(AX, KSTACK).wrmsr();
  k.movImm(CX, 0x176).movImm(AX, HANDLERS).wrmsr();
  k.pushImm(SEL_UDATA).pushImm(USTACK).pushImm(0x202).pushImm(SEL_UCODE).pushImm(UCODE).iret();
  k.load(c);
  new Asm(UCODE)
    .movImm(AX, 42)
    .movImm(CX, USTACK - 0x10)
    .movImm(DX, UCODE + 0x40)
    .sysenter()
    .load(c);
  new Asm(UCODE + 0x40).movRR(BX, AX).spin().load(c);
  // Kernel entry: record CS/SS/ESP/EFLAGS, then SYSEXIT to EDX/ECX.
  // IRET to ring 3 nulled DS; SYSENTER does not touch it, so the kernel reloads it (as Linux does).
  new Asm(HANDLERS)
    .movImm(BX, SEL_KDATA)
    .movSR(DS, BX)
    .movRS(BX, CS)
    .store(0x600, BX)
    .movRS(BX, SS)
    .store(0x604, BX)
    .store(0x608, SP)
    .pushf()
    .pop(BX)
    .store(0x60c, BX)
    .addImm(AX, 1)
    .sti()
    .sysexit()
    .load(c);
  c.run(200);
  assert.equal(r32(c, 0x600), SEL_KCODE);
  assert.equal(r32(c, 0x604), SEL_KDATA);
  assert.equal(r32(c, 0x608), KSTACK);
  assert.equal(r32(c, 0x60c) & 0x200, 0, "SYSENTER clears IF");
  assert.equal(c.cpl, 3);
  assert.equal(c.r[R_SEL + CS], SEL_UCODE);
  assert.equal(c.r[R_SEL + SS], SEL_UDATA);
  assert.equal(c.r[ESP], USTACK - 0x10);
  assert.equal(c.r[EBX], 43);
  assert.equal(c.r[R_SEGATTR + CS] & 0x60, 0x60, "CS DPL 3");
  assert.equal(c.r[R_EFLAGS] & 0x200, 0x200);
});

test("SYSENTER with SYSENTER_CS = 0 raises #GP(0); SYSENTER in real mode #GP(0)", () => {
  const c = makeCpu();
  enterProtected(c);
  new Asm(UCODE).sysenter().load(c);
  toUser(c);
  expectFault(c, EXC_GP, 0, UCODE);
  const c2 = makeCpu();
  real16(c2, 0x1000);
  new Asm(0x1000, 16).sysenter().load(c2);
  expectFault(c2, EXC_GP, 0, 0x1000);
});

test("LAR/LSL/VERR/VERW from CPL 3", () => {
  const c = makeCpu();
  enterProtected(c);
  const a = new Asm(UCODE);
  // lar ebx, ax (0F 02 /r) ; setz [0x600]
  a.movImm(AX, SEL_UDATA).db(0x0f, 0x02, 0xd8).db(0x0f, 0x94, 0x05).dd(0x600);
  // lsl ecx, ax
  a.db(0x0f, 0x03, 0xc8).db(0x0f, 0x94, 0x05).dd(0x601);
  // verw ax with KDATA (DPL 0 from CPL 3 → ZF=0)
  a.movImm(AX, SEL_KDATA).db(0x0f, 0x00, 0xe8).db(0x0f, 0x94, 0x05).dd(0x602);
  // verr on the TSS → ZF=0 ; lsl of the TSS (system segment) → ZF=0 at CPL3 (DPL 0)
  a.movImm(AX, SEL_RO | 3)
    .db(0x0f, 0x00, 0xe0)
    .db(0x0f, 0x94, 0x05)
    .dd(0x603);
  a.spin();
  a.load(c);
  toUser(c);
  c.run(50);
  assert.equal(c.ram[0x600], 1);
  // Bits 19:16 are undefined; the accessed bit is clear (the caches were set without a load).
  assert.equal(c.r[EBX] & 0xfff0ffff, 0x00c0f200);
  assert.equal(c.ram[0x601], 1);
  assert.equal(c.r[ECX], -1);
  assert.equal(c.ram[0x602], 0);
  assert.equal(c.ram[0x603], 0, "read-only DPL0 segment not visible at CPL 3");
});

test("MOV to CR0 with PG without PE raises #GP(0); LMSW cannot clear PE", () => {
  const c = makeCpu();
  enterProtected(c);
  new Asm(KCODE).movImm(AX, 0x80000000).movCR(0, AX).load(c);
  expectFault(c, EXC_GP, 0, KCODE + 5);
  const c2 = makeCpu();
  enterProtected(c2);
  new Asm(KCODE).movImm(AX, 0).db(0x0f, 0x01, 0xf0).movRC(BX, 0).hlt().load(c2); // lmsw ax
  c2.run(10);
  assert.equal(c2.r[EBX] & 1, 1);
  void EXC_UD;
  void EAX;
  void KSTACK;
});

test("LLDT: LDT selectors resolve through LDTR; with a null LDTR they fault #GP(sel); SGDT/SIDT at CPL 3", () => {
  const c = makeCpu();
  enterProtected(c);
  writeDesc(c, LDT_BASE + 8, 0x60000, 0xfff, 0xf2, 4); // LDT entry 1: DPL3 data at 0x60000
  const a = new Asm(KCODE);
  a.movImm(AX, 0x0c).label("bad").movSR(ES, AX);
  a.load(c);
  expectFault(c, EXC_GP, 0x0c, a.addr("bad"));

  const c2 = makeCpu();
  enterProtected(c2);
  writeDesc(c2, LDT_BASE + 8, 0x60000, 0xfff, 0xf2, 4);
  w32(c2, 0x60010, 0xfeed);
  const b = new Asm(KCODE);
  b.movImm(AX, SEL_LDT).lldt(AX).movImm(AX, 0x0f).movSR(ES, AX).db(0x26).loadMem(BX, 0x10);
  b.db(0x0f, 0x00, 0xc1); // sldt ecx
  b.hlt();
  b.load(c2);
  assert.equal(c2.run(20), EXIT_HLT);
  assert.equal(c2.r[EBX], 0xfeed);
  assert.equal(c2.r[ECX] & 0xffff, SEL_LDT);
  assert.equal(c2.r[R_SEGBASE + ES], 0x60000);

  const c3 = makeCpu();
  enterProtected(c3);
  new Asm(UCODE).db(0x0f, 0x01, 0x05).dd(0x600).db(0x0f, 0x01, 0x0d).dd(0x610).spin().load(c3); // sgdt, sidt
  toUser(c3);
  c3.run(5);
  assert.equal(c3.ram[0x600] | (c3.ram[0x601] << 8), GDT_LIMIT);
  assert.equal(r32(c3, 0x602), GDT);
  assert.equal(r32(c3, 0x612), IDT);
});
