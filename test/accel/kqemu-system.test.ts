// System instructions the kqemu translator leaves to the interpreter from inside a block (segment
// loads, POPF, STI, reads of control registers, VERW): the block goes on after them unless what it
// was compiled for changed. Kernel code (CPL 0, full virtualization), each case run compiled
// (threshold 1) and on the interpreter alone from the same state.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KqemuEngine } from "../../src/accel/kqemu/engine.ts";
import { type CPU, EXIT_BUDGET, EXIT_HLT } from "../../src/cpu/cpu.ts";
import {
  CS,
  DS,
  EAX,
  EBP,
  EBX,
  ECX,
  EDI,
  EDX,
  ES,
  ESI,
  FS,
  GS,
  R_CPL,
  R_CR2,
  R_SEGATTR,
  R_SEGBASE,
  R_SEGFLAT,
  R_SEGLIMIT,
  R_SEL,
  SS,
} from "../../src/cpu/state.ts";
import {
  Asm,
  AX,
  BX,
  CX,
  enterProtected,
  enterUser,
  GDT,
  HANDLERS,
  KCODE,
  KSTACK,
  r32,
  SEL_KDATA,
  SEL_SMALL,
  SEL_UDATA,
  setGate,
  TSS,
  UCODE,
  USTACK,
  w32,
} from "../cpu/asm.ts";
import { FakeIntc, makeCpu } from "../cpu/helpers.ts";

function kernel(build: (a: Asm) => void, init?: (c: CPU) => void): CPU {
  const c = makeCpu();
  enterProtected(c);
  const a = new Asm(KCODE);
  build(a);
  a.load(c);
  init?.(c);
  return c;
}

/** Run until HLT (or a budget of turns), compiled or interpreted. */
function runToHlt(engine: { run(budget: number): number }): number {
  for (let turns = 0; turns < 1000; turns++) {
    const ex = engine.run(10_000);
    if (ex !== EXIT_BUDGET) return ex;
  }
  throw new Error("no HLT");
}

function state(c: CPU): number[] {
  return [
    ...c.r.subarray(0, 9),
    c.getEflags(),
    ...c.r.subarray(R_SEL, R_SEL + 6),
    ...c.ram.subarray(0x50000, 0x50040),
  ];
}

test("segment loads, POPF and VERW (interpreter helper; reloads and POPF compiled) and MOV from CR2 (compiled) run inside the block with the interpreter's results", () => {
  // A loop of 200 iterations: pop %ds/%es and mov %eax,%fs (flat), push/pop of flags with DF and
  // CF toggled, mov %cr2,%edx, verw, then data accesses through DS and ES.
  const build = (a: Asm) => {
    a.movImm(CX, 200);
    a.label("top");
    a.pushSeg(DS).pushSeg(ES).popSeg(ES).popSeg(DS); // 1e 06 07 1f
    a.movImm(AX, SEL_KDATA).movSR(FS, AX);
    a.pushf().pop(AX).db(0x35).dd(0x401).push(AX).popf(); // xor $0x401 (CF, DF): popf takes them
    a.db(0x0f, 0x20, 0xd2); // mov %cr2,%edx
    a.db(0x0f, 0x00, 0xe8); // verw %ax (SEL_KDATA ^ 0x401: ZF from the selector check)
    a.db(0x01, 0x15).dd(0x50000); // add %edx,0x50000 (through DS)
    a.db(0x26, 0x01, 0x0d).dd(0x50004); // add %ecx,%es:0x50004
    a.db(0x11, 0x1d).dd(0x50008); // adc %ebx,0x50008: CF from POPF
    a.db(0x49, 0x75); // dec %ecx; jnz top
    a.db((a.addr("top") - (a.here + 1)) & 0xff);
    a.hlt();
  };
  const init = (c: CPU) => {
    c.r[R_CR2] = 0x1234;
    c.r[EBX] = 7;
  };
  const comp = kernel(build, init);
  const interp = kernel(build, init);
  const e = new KqemuEngine(comp, "full", 1);
  assert.equal(runToHlt(e), EXIT_HLT);
  assert.equal(runToHlt(interp), EXIT_HLT);
  assert.deepEqual(state(comp), state(interp));
  assert.equal(comp.r[ECX], 0);
  // Each iteration's VERW ran through the interpreter helper, inside the loop's block: about one
  // dispatch per iteration, not one per such instruction. POPF is compiled (the popf helper). The
  // segment loads reload the selectors the registers hold: compiled after each register's first
  // load (segReload()).
  assert.ok(e.stats.insnsHelped >= 200 && e.stats.insnsHelped <= 200 + 10, `${e.stats.insnsHelped} helped`);
  assert.ok(e.stats.dispatches < 200 * 2, `${e.stats.dispatches} dispatches`);
});

test("a DS load that is not flat ends the block after it: the next access goes through the new base", () => {
  // mov $SEL_SMALL,%eax; mov %eax,%ds (base 0x50000); mov 0x10,%ebx (reads 0x50010 now);
  // mov %ss,%eax; mov %eax,%ds; mov 0x50010,%esi (flat again); hlt
  const build = (a: Asm) => {
    a.movImm(AX, SEL_SMALL).movSR(DS, AX);
    a.loadMem(BX, 0x10);
    a.db(0x8c, 0xd0).movSR(DS, AX); // mov %ss,%eax; mov %eax,%ds
    a.loadMem(ESI, 0x50010);
    a.hlt();
  };
  const init = (c: CPU) => {
    c.ram32[0x50010 >>> 2] = 0xcafe;
    c.ram32[0x10 >>> 2] = 0xbad;
  };
  for (let round = 0; round < 3; round++) {
    // Round 0 compiles; the next ones run the compiled blocks again.
    const comp = kernel(build, init);
    const interp = kernel(build, init);
    const e = new KqemuEngine(comp, "full", 1);
    assert.equal(runToHlt(e), EXIT_HLT);
    assert.equal(runToHlt(interp), EXIT_HLT);
    assert.equal(comp.r[EBX], 0xcafe, "DS base 0x50000 applied");
    assert.equal(comp.r[ESI], 0xcafe, "flat DS again");
    assert.equal(comp.r[R_SEGBASE + DS], 0);
    assert.deepEqual(state(comp), state(interp));
  }
  // And an ES load that is not flat, read through a string instruction (ES:EDI).
  const buildEs = (a: Asm) => {
    a.movImm(AX, SEL_SMALL).movSR(ES, AX).movImm(7, 0x20); // mov $0x20,%edi
    a.movImm(AX, 0x11223344).db(0xab); // stos %eax,%es:(%edi)
    a.hlt();
  };
  const comp = kernel(buildEs);
  const interp = kernel(buildEs);
  assert.equal(runToHlt(new KqemuEngine(comp, "full", 1)), EXIT_HLT);
  assert.equal(runToHlt(interp), EXIT_HLT);
  assert.equal(comp.ram32[0x50020 >>> 2], 0x11223344, "written at ES base + EDI");
  assert.equal(comp.ram32[0x20 >>> 2], 0);
  assert.deepEqual(state(comp), state(interp));
});

test("STI inside a compiled block: a pending interrupt is taken after the next instruction, as the interpreter takes it", () => {
  // cli; L: inc %ebx; sti; inc %ecx; inc %edx; cli; cmp $3000,%ebx; jne L; hlt. The handler adds
  // ECX - EDX to a sum (1 when the interrupt came between INC %ECX, the shadowed instruction, and
  // INC %EDX) and counts. An interrupt is raised before the run, and again while IF is 0 once the
  // previous one was taken (STI's shadow is then what holds it), 10 in all.
  const build = (a: Asm) => {
    a.cli().label("L");
    a.db(0x43).sti().db(0x41, 0x42).cli();
    a.db(0x81, 0xfb).dd(3000).db(0x75);
    a.db((a.addr("L") - (a.here + 1)) & 0xff);
    a.hlt();
  };
  for (const compiled of [true, false]) {
    const c = kernel(build, (x) => {
      x.r[ECX] = 0;
      x.r[EDX] = 0;
    });
    const ic = new FakeIntc();
    c.bus.intc = ic;
    setGate(c, 0x20, HANDLERS);
    // push %ecx; sub %edx,%ecx; add %ecx,0x50020; pop %ecx; incl 0x50024; iret
    const h = new Asm(HANDLERS);
    h.db(0x51, 0x29, 0xd1, 0x01, 0x0d).dd(0x50020).db(0x59);
    h.incMem(0x50024).iret();
    h.load(c);
    ic.pending.push(0x20);
    c.checkIrq();
    const e = compiled ? new KqemuEngine(c, "full", 1) : c;
    let raised = 1;
    for (let turns = 0; turns < 10_000; turns++) {
      const ex = e.run(7);
      if (ic.pending.length === 0 && raised < 10 && (c.getEflags() & 0x200) === 0) {
        raised++;
        ic.pending.push(0x20);
        c.checkIrq();
      }
      if (ex === EXIT_HLT) break;
    }
    const what = compiled ? "compiled" : "interpreted";
    assert.deepEqual([c.r[EBX], c.r[ECX], c.r[EDX]], [3000, 3000, 3000], what);
    const taken = r32(c, 0x50024);
    assert.ok(taken >= 3, `${what}: ${taken} interrupts taken`);
    assert.equal(ic.acks, taken);
    assert.equal(r32(c, 0x50020), taken, `${what}: each interrupt right after the shadowed INC %ECX`);
    if (compiled) {
      const st = (e as KqemuEngine).stats;
      // STI runs compiled at CPL 0 (the sti helper), not through the interpreter helper.
      assert.ok(st.insnsHelped < 100, `${st.insnsHelped} helped`);
      // The shadow ends inside the block: compiled code goes on after it, not the interpreter
      // (left set, it keeps kqemu_is_ok() false: 1,736 instructions interpreted here).
      assert.ok(st.insnsInterpreted < 100, `${st.insnsInterpreted} interpreted`);
    }
  }
});

test("POPF setting TF inside a compiled block: the single-step trap comes after the next instruction, as the interpreter raises it", () => {
  // pushf; pop %eax; or $0x100,%eax; push %eax; popf; inc %ebx; inc %ecx; inc %edx; hlt. The #DB
  // handler counts, records the return EIP, clears TF in the pushed EFLAGS and returns.
  const build = (a: Asm) => {
    a.pushf().pop(AX).orImm(AX, 0x100).push(AX).popf();
    a.label("after").db(0x43).label("second").db(0x41, 0x42).hlt();
  };
  const out: number[][] = [];
  for (const compiled of [true, false]) {
    let second = 0;
    const c = kernel(
      (a) => {
        build(a);
        second = a.addr("second");
      },
      (x) => {
        x.r[EBX] = 0;
        x.r[ECX] = 0;
        x.r[EDX] = 0;
      },
    );
    setGate(c, 1, HANDLERS);
    // incl 0x50030; mov (%esp),%esi... : mov (%esp),%eax -> 0x50034; andl $~0x100,8(%esp); iret
    const h = new Asm(HANDLERS);
    h.incMem(0x50030);
    h.db(0x8b, 0x04, 0x24).db(0xa3).dd(0x50034); // mov (%esp),%eax; mov %eax,0x50034
    h.db(0x81, 0x64, 0x24, 0x08).dd(~0x100 >>> 0); // andl $~TF,8(%esp)
    h.iret();
    h.load(c);
    const e = compiled ? new KqemuEngine(c, "full", 1) : c;
    assert.equal(runToHlt(e), EXIT_HLT);
    assert.equal(r32(c, 0x50030), 1, "one trap");
    assert.equal(r32(c, 0x50034), second, "after the instruction that follows POPF");
    out.push([...c.r.subarray(0, 8), r32(c, 0x50030), r32(c, 0x50034)]);
  }
  assert.deepEqual(out[0], out[1]);
});

/** CPL 3 at UCODE (flat ring-3 segments, IF set), the standard tables of enterProtected(). */
function user(build: (a: Asm) => void, handler: (h: Asm) => void, init?: (c: CPU) => void): CPU {
  const c = makeCpu();
  enterProtected(c);
  const h = new Asm(HANDLERS);
  handler(h);
  h.load(c);
  const u = new Asm(UCODE);
  build(u);
  u.load(c);
  enterUser(c);
  c.trapExceptions = true;
  init?.(c);
  return c;
}

/** Registers, EFLAGS, CPL, the segment caches and the ring-0 stack's top. */
function sysState(c: CPU): number[] {
  const segs = [ES, CS, SS, DS, FS, GS].flatMap((s) => [
    c.r[R_SEL + s],
    c.r[R_SEGBASE + s],
    c.r[R_SEGLIMIT + s],
    c.r[R_SEGATTR + s],
    c.r[R_SEGFLAT + s],
  ]);
  return [
    ...c.r.subarray(0, 9),
    c.getEflags(),
    c.r[R_CPL],
    c.excVector,
    c.excError,
    ...segs,
    ...c.ram.subarray(KSTACK - 0x40, KSTACK),
    ...c.ram.subarray(GDT, GDT + 0x30),
  ];
}

test("INT 0x80 from user mode and the handler's IRET run compiled: stack switches, pushes, caches and IF as the interpreter's", () => {
  // User: L: int $0x80; add %ecx,%esi; add %edx,%edi; dec %ebp; jnz L; int $0x81 (a DPL 0 gate:
  // #GP, which stops both runs). Handler: inc %eax; pushf; pop %ecx; and $0x200,%ecx (IF);
  // mov %esp,%edx; iret.
  const build = (a: Asm) => {
    a.label("L").int(0x80).db(0x01, 0xce, 0x01, 0xd7, 0x4d, 0x75);
    a.db((a.addr("L") - (a.here + 1)) & 0xff);
    a.int(0x81);
  };
  const handler = (h: Asm) => {
    h.db(0x40).pushf().pop(CX).db(0x81, 0xe1).dd(0x200).db(0x89, 0xe2).iret();
  };
  for (const gate of [0xe, 0xf]) {
    const init = (c: CPU) => {
      setGate(c, 0x80, HANDLERS, gate, 3);
      setGate(c, 0x81, HANDLERS, 0xe, 0);
      c.r[EBP] = 100;
    };
    const comp = user(build, handler, init);
    const interp = user(build, handler, init);
    const e = new KqemuEngine(comp, "full", 1);
    runToEnd(e);
    runToEnd(interp);
    const what = `gate type ${gate}`;
    assert.deepEqual([comp.excVector, comp.r[EAX], comp.r[R_CPL]], [13, 100, 3], what);
    assert.equal(comp.r[EDI], 100 * (KSTACK - 20), `${what}: the handler's ESP, 20 bytes under ESP0`);
    assert.equal(comp.r[ESI], 100 * (gate === 0xf ? 0x200 : 0), `${what}: IF as the gate leaves it`);
    assert.deepEqual(sysState(comp), sysState(interp), what);
    // After the first INT and IRET (the interpreter's: they set the descriptors' accessed bits and
    // fill the TLB), each one runs compiled.
    assert.ok(e.stats.insnsHelped <= 4, `${what}: ${e.stats.insnsHelped} helped`);
    // Normal mode: the INT compiled in user code hands the kernel to the interpreter.
    const normal = user(build, handler, init);
    const ne = new KqemuEngine(normal, "user", 1);
    runToEnd(ne);
    assert.deepEqual(sysState(normal), sysState(interp), `${what}, normal mode`);
    assert.ok(ne.stats.insnsInterpreted >= 100 * 5, `${what}, normal mode: the handlers interpreted`);
    assert.ok(ne.stats.insnsHelped <= 4, `${what}, normal mode: ${ne.stats.insnsHelped} helped`);
  }
});

test("INT n the compiled path refuses goes to the interpreter: 16-bit gate, gate not present, DPL 0 gate, TF set, a stack outside the RAM, a bad TSS.SS0", () => {
  const build = (a: Asm) => {
    a.int(0x80).db(0x40).int(0x81);
  };
  const handler = (h: Asm) => {
    h.db(0x43).pushf().pop(CX).db(0x89, 0xe2).iret();
  };
  const cases: Array<[string, (c: CPU) => void]> = [
    [
      "16-bit interrupt gate",
      (c) => {
        // To a HLT below 64 KiB (the 32-bit handler's IRET would not match the 16-bit frame).
        setGate(c, 0x80, 0x6800, 0x6, 3);
        c.ram[0x6800] = 0xf4;
      },
    ],
    ["gate not present", (c) => w32(c, 0x2000 + 0x80 * 8 + 4, r32(c, 0x2000 + 0x80 * 8 + 4) & ~0x8000)],
    ["DPL 0 gate", (c) => setGate(c, 0x80, HANDLERS, 0xe, 0)],
    ["TF set", (c) => c.setEflags(0x302)],
    ["ESP0 past the RAM", (c) => w32(c, TSS + 4, 0x7ffffff0)],
    ["TSS.SS0 null", (c) => w32(c, TSS + 8, 0)],
    ["TSS.SS0 with RPL 3", (c) => w32(c, TSS + 8, SEL_KDATA | 3)],
    ["TSS.SS0 a ring-3 segment", (c) => w32(c, TSS + 8, SEL_UDATA & ~3)],
  ];
  for (const [what, tweak] of cases) {
    const init = (c: CPU) => {
      setGate(c, 0x80, HANDLERS, 0xe, 3);
      setGate(c, 0x81, HANDLERS, 0xe, 0);
      // The descriptors already accessed, so the compiled path has no reason of its own to refuse.
      for (const at of [GDT + 0x0c, GDT + 0x14]) c.ram[at + 1] |= 1;
      // The tables' and the ring-0 stack's pages in the TLB (a miss alone sends INT to the interpreter).
      for (const lin of [GDT, 0x2000, TSS, KSTACK - 0x1000]) c.tlbLookup(lin, true, false);
      tweak(c);
    };
    sameAsInterpreter(build, handler, init, what);
  }
  // Where nothing is refused (the first case, with the tables in the TLB) INT ran compiled: the
  // interpreter helper ran only the handler's IRET and the final INT; the others, INT too.
  const plain = user(build, handler, (c) => {
    setGate(c, 0x80, HANDLERS, 0xe, 3);
    setGate(c, 0x81, HANDLERS, 0xe, 0);
    for (const at of [GDT + 0x0c, GDT + 0x14]) c.ram[at + 1] |= 1;
    for (const lin of [GDT, 0x2000, TSS, KSTACK - 0x1000]) c.tlbLookup(lin, true, false);
  });
  const pe = new KqemuEngine(plain, "full", 1);
  runToEnd(pe);
  assert.equal(plain.excVector, 13);
  assert.ok(pe.stats.insnsHelped <= 2, `${pe.stats.insnsHelped} helped`);
});

/**
 * The user program and handler run compiled (full virtualization, threshold 1) and on the
 * interpreter alone from the same state, until a fault or HLT stops them: the same end state.
 */
function sameAsInterpreter(
  build: (a: Asm) => void,
  handler: (h: Asm) => void,
  init: (c: CPU) => void,
  what: string,
): KqemuEngine {
  const comp = user(build, handler, init);
  const interp = user(build, handler, init);
  const e = new KqemuEngine(comp, "full", 1);
  runToEnd(e);
  runToEnd(interp);
  assert.ok(comp.excVector >= 0 || comp.halted, what);
  assert.deepEqual(sysState(comp), sysState(interp), what);
  return e;
}

/** Run until a fault stops the CPU (trapExceptions) or HLT, compiled or interpreted. */
function runToEnd(engine: { run(budget: number): number }): void {
  for (let turns = 0; turns < 1000; turns++) {
    const ex = engine.run(10_000);
    if (ex !== EXIT_BUDGET) return;
  }
  throw new Error("did not stop");
}

test("IRET from ring 0 to ring 0 (an interrupt taken in kernel code, sync_core()'s IRET to itself) runs compiled with the interpreter's results; what it refuses faults as there", () => {
  // mov $200,%ecx; top: pushf; push %cs; push $back; [the case's change to the frame]; iret;
  // back (at KCODE + 0x40): inc %eax; dec %ecx; jnz top; hlt.
  const back = KCODE + 0x40;
  const frame = (k: number, v: number) => (a: Asm) => a.db(0xc7, 0x44, 0x24, 4 * k).dd(v); // movl $v,4k(%esp)
  const cases: Array<[string, (a: Asm) => void, ((c: CPU) => void)?]> = [
    ["plain", () => {}],
    ["IOPL 3, AC and IF from the stack", (a) => a.db(0x81, 0x4c, 0x24, 0x08).dd(0x43200)], // orl $0x43200,8(%esp)
    ["null CS", frame(1, 0)],
    ["CS of a data segment", frame(1, SEL_KDATA)],
    // The kernel code segment's limit lowered to 256 MiB first.
    ["EIP past the limit", frame(0, 0x1000_0000), (c) => (c.ram[GDT + 0x08 + 6] &= 0xf0)],
  ];
  for (const [what, tweak, setup] of cases) {
    const build = (a: Asm) => {
      a.movImm(CX, 200);
      a.label("top");
      a.pushf().pushSeg(CS).pushImm(back);
      tweak(a);
      a.iret();
      a.nop(back - a.here);
      a.db(0x40, 0x49, 0x75); // inc %eax; dec %ecx; jnz top
      a.db((a.addr("top") - (a.here + 1)) & 0xff);
      a.hlt();
    };
    const init = (c: CPU) => {
      c.trapExceptions = true;
      setup?.(c);
    };
    const comp = kernel(build, init);
    const interp = kernel(build, init);
    const e = new KqemuEngine(comp, "full", 1);
    runToHlt(e);
    runToHlt(interp);
    assert.deepEqual(
      [...state(comp), comp.excVector, comp.excError, comp.r[R_CPL]],
      [...state(interp), interp.excVector, interp.excError, interp.r[R_CPL]],
      what,
    );
    if (what === "plain" || what.startsWith("IOPL")) {
      assert.equal(comp.r[EAX], 200, what);
      // The IRETs ran compiled: at most the first ones handed to the interpreter (which sets CS's
      // accessed bit there).
      assert.ok(e.stats.insnsHelped <= 2, `${what}: ${e.stats.insnsHelped} helped`);
    } else assert.equal(comp.excVector, 13, `${what}: #GP`);
  }
});

test("IRET the compiled path refuses goes to the interpreter: NT, VM or TF in the flags, a return to ring 0, a conforming or ring-0 CS, a bad SS, EIP past the limit; data segments nulled", () => {
  // User: int $0x80; inc %eax; int $0x81 (#GP: stops). Handler: the case's tweak of the frame
  // (or of its own state) with EDI = its ESP; iret.
  const build = (a: Asm) => {
    a.int(0x80).db(0x40).int(0x81);
  };
  const frame = (k: number, v: number) => (h: Asm) => h.db(0xc7, 0x47, 4 * k).dd(v); // movl $v,4k(%edi)
  const cases: Array<[string, (h: Asm) => void, ((c: CPU) => void)?]> = [
    ["plain", () => {}],
    ["NT set in the handler", (h) => h.pushf().pop(AX).orImm(AX, 0x4000).push(AX).popf()],
    ["VM in the popped flags", frame(2, 0x20202)],
    ["TF in the popped flags", frame(2, 0x302)],
    ["NT in the popped flags", frame(2, 0x4202)],
    ["IOPL 3 and AC from the stack", frame(2, 0x43202)],
    ["to ring 0", frame(1, 0x08)],
    [
      "to ring 0 with a ring-0 SS in the frame",
      (h) => {
        frame(1, 0x08)(h);
        frame(4, 0x10)(h);
      },
    ],
    ["conforming CS", frame(1, 0x63)],
    ["SS of another RPL", frame(4, 0x20)],
    ["null SS", frame(4, 0x03)],
    // The user code segment's limit lowered to 256 MiB first.
    ["EIP past the limit", frame(0, 0x1000_0000), (c) => (c.ram[GDT + 0x18 + 6] &= 0xf0)],
    ["DS of DPL 0 nulled", (h) => h.movImm(AX, 0x10).movSR(DS, AX).movImm(AX, 0x68).movSR(ES, AX)],
  ];
  for (const [what, tweak, setup] of cases) {
    const handler = (h: Asm) => {
      h.db(0x89, 0xe7); // mov %esp,%edi
      tweak(h);
      h.iret();
    };
    const init = (c: CPU) => {
      setGate(c, 0x80, HANDLERS, 0xe, 3);
      setGate(c, 0x81, HANDLERS, 0xe, 0);
      for (const at of [GDT + 0x0c, GDT + 0x14, GDT + 0x1c, GDT + 0x24, GDT + 0x64, GDT + 0x6c])
        c.ram[at + 1] |= 1;
      for (const lin of [GDT, 0x2000, TSS, KSTACK - 0x1000, USTACK - 0x1000]) c.tlbLookup(lin, true, false);
      setup?.(c);
    };
    const e = sameAsInterpreter(build, handler, init, what);
    if (what === "plain" || what.startsWith("IOPL") || what.startsWith("DS"))
      assert.ok(e.stats.insnsHelped <= 2, `${what}: ${e.stats.insnsHelped} helped`);
  }
});
