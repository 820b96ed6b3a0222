// The kqemu engine's contract: same results as the interpreter, precise state at faults inside
// compiled blocks, self-modifying code, bounded interrupt latency, and the kqemu_is_ok() modes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { KqemuEngine } from "../../src/accel/kqemu/engine.ts";
import { type CPU, EXIT_BUDGET, EXIT_EXCEPTION } from "../../src/cpu/cpu.ts";
import {
  CR0_PG,
  DS,
  EAX,
  EBP,
  EBX,
  ECX,
  EDI,
  EDX,
  ES,
  ESI,
  ESP,
  FS,
  GS,
  R_CPL,
  R_CR0,
  R_CR2,
  R_CR3,
  R_CR4,
  R_EFLAGS,
  R_EIP,
  R_GDTR_BASE,
  R_GDTR_LIMIT,
  R_SEGATTR,
  R_SEGBASE,
  R_SEGFAST,
  R_SEGFLAT,
  R_SEGLIMIT,
  R_SEGRAW,
  R_SEGRAWCPL,
  R_SEL,
  R_SYSENTER_CS,
  R_SYSENTER_EIP,
  R_SYSENTER_ESP,
} from "../../src/cpu/state.ts";
import { loadSeg } from "../../src/cpu/system.ts";
import { flat32, hex, load, makeCpu } from "../cpu/helpers.ts";

function setup(code: string, cpl = 3, at = 0x1000): { c: CPU; e: KqemuEngine } {
  const c = makeCpu(4);
  flat32(c, cpl);
  c.trapExceptions = true;
  if (code) load(c, at, hex(code));
  c.r[R_EIP] = at;
  c.r[ESP] = 0x80000;
  return { c, e: new KqemuEngine(c, "user", 1) };
}

/** Run until something other than the end of the budget stops the engine (UD2, a fault...). */
function runToEnd(engine: { run(budget: number): number }, budget: number): number {
  let ex: number;
  let turns = 0;
  do {
    ex = engine.run(budget);
    // A guest loop that never ends (a register lost in compiled code) fails instead of hanging.
    assert.ok(++turns < 10_000, "the program ends");
  } while (ex === EXIT_BUDGET);
  return ex;
}

/**
 * Run `code` from 0x1000 compiled (threshold 1) and on the interpreter alone, from the same state
 * (`init` applied to both), up to its final UD2; both must end there with the same registers,
 * flags and memory.
 */
function runBoth(
  code: string,
  init: (c: CPU) => void,
  cpl = 3,
): { a: { c: CPU; e: KqemuEngine }; b: { c: CPU } } {
  const a = setup(code, cpl);
  // At CPL 0 in full virtualization (normal mode leaves the kernel to the interpreter).
  if (cpl === 0) a.e.mode = "full";
  const b = setup(code, cpl);
  init(a.c);
  init(b.c);
  runToEnd(a.e, 10_000);
  runToEnd(b.c, 10_000);
  assert.equal(a.c.excVector, 6, "ends at UD2");
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
  return { a, b };
}

/**
 * Paging on, with the directory at 0x100000 and one table at 0x101000 for directory entry `pde`:
 * its 1024 entries are `pte(k)` (0: not present). CR3 and CR0.PG set, the TLB flushed.
 */
function enablePaging(c: CPU, pte: (k: number) => number, pde = 0): void {
  const pd = 0x100000;
  const pt = 0x101000;
  c.ram.fill(0, pd, pt + 0x1000);
  c.ram32[(pd >>> 2) + pde] = pt | 7;
  for (let k = 0; k < 1024; k++) c.ram32[(pt >>> 2) + k] = pte(k);
  c.r[R_CR3] = pd;
  c.r[R_CR0] |= CR0_PG;
  c.flushTlb(true);
}

/** SETcc of all 16 conditions into the bytes at 0x2080..0x208f (compared by snapshot()). */
const SETCC_ALL = Array.from(
  { length: 16 },
  (_, cc) => `0f${(0x90 + cc).toString(16)}05${(0x80 + cc).toString(16)}200000`,
).join("");

/** What the flag tests end with: SETcc of all 16 conditions, PUSHF, POP to 0x2090, UD2. */
const READ_FLAGS = `${SETCC_ALL} 9c 8f0590200000 0f0b`;

/**
 * runBoth() from EAX, EBX, ESI = 0x2000 and the dword there (ESP too when given); then at most
 * `maxHelped` instructions may have been handed to the interpreter from compiled code (-1: any).
 */
function runOperands(code: string, eax: number, ebx: number, mem: number, maxHelped = -1, esp = -1) {
  const { a } = runBoth(code, (c) => {
    c.r[EAX] = eax;
    c.r[EBX] = ebx;
    c.r[ESI] = 0x2000;
    c.ram32[0x2000 >>> 2] = mem;
    if (esp !== -1) c.r[ESP] = esp;
  });
  if (maxHelped >= 0)
    assert.ok(a.e.stats.insnsHelped <= maxHelped, `${code}: ${a.e.stats.insnsHelped} helped`);
}

/** A dword as the hex of its 4 bytes, little-endian (an instruction's immediate). */
function hexLE(v: number): string {
  return [0, 8, 16, 24].map((s) => ((v >>> s) & 0xff).toString(16).padStart(2, "0")).join("");
}

function snapshot(c: CPU): number[] {
  return [...c.r.subarray(0, 9), c.getEflags(), ...c.ram.subarray(0x2000, 0x2100)];
}

test("compiled loops give the interpreter’s registers, flags and memory", () => {
  // ecx=1000; L: mov eax,[esi]; add eax,ecx; xor eax,0x5a5a; mov [esi+4*? ]... ; dec ecx; jnz L; ud2
  const code =
    "b9e8030000 be00200000 8b06 01c8 355a5a0000 894604 83c604 81e6ff200000 0fafc1 31c3 49 75e4 0f0b";
  const { a } = runBoth(code, (c) => {
    for (let k = 0; k < 0x100; k++) c.ram[0x2000 + k] = (k * 37) & 0xff;
  });
  assert.ok(a.e.stats.insnsCompiled > 5000, `compiled ${a.e.stats.insnsCompiled}`);
  console.log(a.e.infoLines().join("\n"));
});

// L: mov -8(%ebp),%eax; add -12(%ebp),%eax; mov %eax,-4(%ebp); mov -16(%ebp),%edx; xor %eax,%edx;
// mov %edx,-16(%ebp); incl -12(%ebp); dec %ecx; jne L; ud2 — a loop over a frame it does not move.
const FRAME_LOOP = "b9c8000000 8b45f8 0345f4 8945fc 8b55f0 31c2 8955f0 ff45f4 49 75e9 0f0b";

function runFrameLoop(ebp: number, pte?: (k: number) => number, code = FRAME_LOOP) {
  const a = setup(code);
  const b = setup(code);
  a.e.exactCount = true; // icount compared at a fault too
  for (const c of [a.c, b.c]) {
    if (pte) enablePaging(c, pte);
    for (let k = 0; k < 16; k++) c.ram[ebp - 16 + k] = (k * 29 + 3) & 0xff;
    c.r[EBP] = ebp;
  }
  const ex = runToEnd(a.e, 10_000);
  assert.equal(ex, runToEnd(b.c, 10_000));
  assert.equal(a.c.excVector, b.c.excVector);
  assert.deepEqual([...a.c.r.subarray(0, 9), a.c.getEflags()], [...b.c.r.subarray(0, 9), b.c.getEflags()]);
  assert.ok(Buffer.from(a.c.ram.buffer, a.c.ram.byteOffset, a.c.ram.length).equals(b.c.ram), "memory");
  assert.equal(a.c.icount, b.c.icount, "instructions counted");
  return { a, b, ex };
}

test("frame windows: a loop's [EBP-16]..[EBP-1] checked once per iteration, then accessed directly", () => {
  const { a } = runFrameLoop(0x2080);
  assert.equal(a.c.excVector, 6, "ends at UD2");
  assert.ok(a.e.stats.windows >= 1, `${a.e.stats.windows} windows`);
  assert.equal(a.e.stats.windowDrops, 0);
  assert.ok(a.e.stats.insnsCompiled > 1000, `compiled ${a.e.stats.insnsCompiled}`);
});

test("frame windows: once the block writes the base register, its accesses go through the new value", () => {
  // mov -8(%ebp),%eax; add -12(%ebp),%eax; mov %eax,-4(%ebp); mov -16(%ebp),%edx (a window on EBP);
  // mov %esi,%ebp; mov %edx,-8(%ebp) (inside the window's displacements, but through the new EBP); ud2
  const { a } = runBoth("8b45f8 0345f4 8945fc 8b55f0 89f5 8955f8 0f0b", (c) => {
    for (let k = 0; k < 0x100; k++) c.ram[0x2000 + k] = (k * 53 + 1) & 0xff;
    c.r[EBP] = 0x2080;
    c.r[ESI] = 0x20c0;
    c.wr32(0x2070, c.rd32(0x2070)); // the TLB entry is there, with write rights: the check passes
  });
  assert.equal(a.e.stats.windows, 1);
  assert.equal(a.e.stats.windowFails, 0);
});

test("frame windows: after a write to the base register, a later window is checked where its accesses start", () => {
  // Four accesses through EBP (a window at the head); mov %esi,%ebp; four more through the new EBP
  // (mov %edx,-8; mov %eax,-12; addl $3,-4; mov -20,%ecx: a window checked there); ud2.
  const code = "8b45f8 0345f4 8945fc 8b55f0 89f5 8955f8 8945f4 8345fc03 8b4dec 0f0b";
  for (const warm of [true, false]) {
    const { a } = runBoth(code, (c) => {
      for (let k = 0; k < 0x100; k++) c.ram[0x2000 + k] = (k * 71 + 5) & 0xff;
      c.r[EBP] = 0x2080;
      c.r[ESI] = warm ? 0x20c0 : 0x30c0;
      c.wr32(0x2070, c.rd32(0x2070)); // the head's window passes
      if (warm) c.wr32(0x20b0, c.rd32(0x20b0));
    });
    // Not warm: the TLB has no entry for the second frame's page; the block leaves before the
    // instruction there, which the interpreter runs (after a block compiled there fails too).
    if (warm) {
      assert.equal(a.e.stats.windows, 2, "at the head and after the write");
      assert.equal(a.e.stats.windowFails, 0);
    } else assert.ok(a.e.stats.windowFails >= 1, `${a.e.stats.windowFails} failed checks`);
  }
});

test("frame windows: checked once before a loop only when the loop does not move the register", () => {
  // FRAME_LOOP's EBP stays: its window is checked before the loop. Here the loop moves EBP by 4 on
  // its way back, in code the translator follows (L: 4 accesses through EBP; jmp F; B: mov
  // %edx,-16(%ebp); dec %ecx; jne L; ud2; F: add $4,%ebp; jmp B): the window is checked again at
  // every iteration, and the frame's new place is the one accessed.
  const moving = "b932000000 8b45f8 0345f4 8945fc 8b55f0 eb08 8955f0 49 75ec 0f0b 83c504 ebf3";
  const { a } = runFrameLoop(0x2040, undefined, moving);
  assert.equal(a.c.excVector, 6, "ends at UD2");
  assert.ok(a.e.stats.windows >= 1, `${a.e.stats.windows} windows`);
  assert.equal(a.c.r[EBP], 0x2040 + 50 * 4);
});

test("frame windows: a frame straddling two pages fails the check, and the block is compiled again without", () => {
  // [0x2ff8, 0x3008): the window spans two pages at every iteration; linear page 0x3000 is
  // physical page 0x5000 (its accesses through the first page's host address would miss it).
  const { a } = runFrameLoop(0x3008, (p) => ((p === 3 ? 5 : p) << 12) | 7);
  assert.equal(a.c.excVector, 6, "ends at UD2");
  assert.ok(a.e.stats.windowFails >= 8, `${a.e.stats.windowFails} failed checks`);
  assert.ok(a.e.stats.windowDrops >= 1, "translated again without windows");
  assert.ok(a.e.stats.insnsCompiled > 1000, `compiled ${a.e.stats.insnsCompiled}`);
});

test("frame windows: a read-only frame fails the check, and the write faults as in the interpreter", () => {
  // Paging on, page 0x2000 read-only for user code: the store through the window's page raises #PF.
  const { a, ex } = runFrameLoop(0x2080, (p) => (p << 12) | (p === 2 ? 5 : 7));
  assert.equal(ex, EXIT_EXCEPTION);
  assert.equal(a.c.excVector, 14, "#PF");
  assert.equal(a.c.r[R_EIP], 0x1000 + 5 + 3 + 3, "at the first store");
  assert.equal(a.c.r[R_CR2] >>> 0, 0x2080 - 4);
});

test("a loop's head reads the flags carried in locals, not the state block's older ones", () => {
  // cmp %ebx,%eax; jmp *%edx (to L); (32 NOPs); L: setbe %bl; add %ebx,%edi; adc $3,%esi;
  // sbb %edx,%edx; add %edx,%ebp; cmp %ecx,%eax; dec %ecx; jnz L; ud2. The block at L loops to its
  // start: SETBE (CF, ZF) and ADC (CF) read flags of unknown kind: the first CMP's on entry, then
  // DEC's (with the loop's CMP's CF) on every back edge, which the state block does not see. CF
  // clears once ECX falls to EAX; SETBE then reads DEC's ZF (0), not the first CMP's (1 when
  // EAX = EBX). ECX: fewer iterations than one call's limit, so no exit writes the flags back.
  const code = `39d8ffe2${"90".repeat(32)}0f96c301df83d60319d201d539c84975ef0f0b`;
  for (const [eax, ebx, esi] of [
    [100, 100, 0x7ffffff0],
    [150, 5, -40],
    [120, 120, 0],
    [-1, 1, 0x12345678],
  ]) {
    const { a } = runBoth(code, (c) => {
      c.r[EAX] = eax;
      c.r[EBX] = ebx;
      c.r[ESI] = esi;
      c.r[ECX] = 200;
      c.r[EDX] = 0x1024;
    });
    assert.ok(a.e.stats.insnsCompiled > 1000, `compiled ${a.e.stats.insnsCompiled}`);
  }
});

test("a block's own loop: exact state at a fault in a later iteration, and across the iteration limit", () => {
  // L: mov %ecx,%eax; shl $3,%eax; add %eax,%ebx; xor %edx,%edx; mov $1000000,%eax; div %ecx;
  // add %eax,%esi; inc %edi; dec %ecx; jmp L — #DE once ECX reaches 0, after 5,000 iterations (more
  // than one call's iteration limit).
  const code = "89c8 c1e003 01c3 31d2 b840420f00 f7f1 01c6 47 49 ebea";
  const a = setup(code);
  const b = setup(code);
  for (const c of [a.c, b.c]) {
    c.r[ECX] = 5000;
    c.r[EBX] = 7;
  }
  assert.equal(runToEnd(a.e, 10_000), EXIT_EXCEPTION);
  assert.equal(runToEnd(b.c, 10_000), EXIT_EXCEPTION);
  assert.equal(a.c.excVector, 0, "#DE");
  assert.equal(b.c.excVector, 0, "#DE");
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
  assert.equal(a.c.r[EDI], 5000);
  assert.ok(a.e.stats.insnsCompiled > 40_000, `compiled ${a.e.stats.insnsCompiled}`);
});

test("a fault at every position of a block leaves exact EIP, registers and CR2", () => {
  // Five instructions; the memory operand of instruction k points to an unmapped page (beyond RAM
  // with paging would be needed: use a user access to a supervisor page instead).
  // Page tables: identity-map 4 MiB, page 0x300000 supervisor-only.
  for (let k = 0; k < 5; k++) {
    const { c, e } = setup("", 3);
    enablePaging(c, (p) => (p << 12) | (p === 0x300 ? 3 : 7));
    // inc ebx; mov eax,[esi]; inc ebx; mov [edx],eax; inc ebx; add [edi],ecx; inc ebx; push eax; inc ebx; ud2
    load(c, 0x1000, hex("43 8b06 43 8902 43 010f 43 50 43 0f0b"));
    c.r[R_EIP] = 0x1000;
    const bad = 0x300010;
    c.r[ESI] = k === 0 ? bad : 0x2000;
    c.r[EDI] = k === 2 ? bad : 0x2000;
    c.r[EDX] = k === 1 ? bad : 0x2000;
    c.r[ESP] = k === 3 ? bad + 4 : 0x80000;
    c.r[EBX] = 0;
    c.r[ECX] = 5;
    assert.equal(runToEnd(e, 100), EXIT_EXCEPTION);
    const eips = [0x1001, 0x1004, 0x1007, 0x100a, 0x100c];
    if (k < 4) {
      assert.equal(c.excVector, 14, `#PF at position ${k}`);
      assert.equal(c.r[R_EIP], eips[k], `EIP at position ${k}`);
      assert.equal(c.r[EBX], k + 1, `instructions before the fault completed (${k})`);
      assert.equal(c.r[R_CR2] >>> 0, k === 3 ? bad : bad, "CR2");
      const write = k === 1 || k === 2 || k === 3;
      assert.equal(c.excError, 5 | (write ? 2 : 0), `error code at position ${k}`);
      assert.equal(c.r[ESP], k === 3 ? bad + 4 : 0x80000, "ESP unchanged by a faulting push");
    } else {
      assert.equal(c.excVector, 6);
      assert.equal(c.r[EBX], 5);
    }
    // The fault was raised inside compiled code, not by the interpreter: past the block's first
    // instruction the access's slow path ends the block before the instruction (exact state), and
    // the block compiled at once there (threshold 0) raises it from its own first instruction.
    assert.equal(e.stats.exitsFault, k < 4 ? 1 : 0, `faults in compiled code at position ${k}`);
    if (k < 4) assert.ok(e.stats.exitsSlow >= 1, `slow-path exits at position ${k}`);
  }
});

test("with exactCount, a fault inside a block counts the instructions it completed (as the interpreter)", () => {
  // Page 0x300000 is supervisor-only; user code faults on it: at each position of a straight block,
  // in a later iteration of a block's own loop, and inside an instruction the block hands to the
  // interpreter (REP MOVSD).
  const programs: [string, (c: CPU) => void][] = [];
  for (let k = 0; k < 4; k++)
    programs.push([
      // inc ebx; mov eax,[esi]; inc ebx; mov [edx],eax; inc ebx; add [edi],ecx; inc ebx; push eax; inc ebx; ud2
      "43 8b06 43 8902 43 010f 43 50 43 0f0b",
      (c) => {
        const bad = 0x300010;
        c.r[ESI] = k === 0 ? bad : 0x2000;
        c.r[EDX] = k === 1 ? bad : 0x2000;
        c.r[EDI] = k === 2 ? bad : 0x2000;
        c.r[ESP] = k === 3 ? bad + 4 : 0x80000;
      },
    ]);
  // loop: inc ebx; mov eax,[esi]; add esi,0x400; dec ecx; jnz loop; ud2 — the 9th read faults.
  programs.push(["43 8b06 81c600040000 49 75f5 0f0b", (c) => (c.r[ESI] = 0x2fe000)]);
  // inc ebx; inc ebx; rep movsd (from the supervisor page); inc ebx; ud2
  programs.push([
    "43 43 f3a5 43 0f0b",
    (c) => {
      c.r[ESI] = 0x300000;
      c.r[EDI] = 0x2000;
    },
  ]);
  for (const [code, init] of programs) {
    const runs = [0, 1].map(() => {
      const r = setup("", 3);
      enablePaging(r.c, (p) => (p << 12) | (p === 0x300 ? 3 : 7));
      load(r.c, 0x1000, hex(code));
      r.c.r[R_EIP] = 0x1000;
      r.c.r[ECX] = 100;
      init(r.c);
      return r;
    });
    const [a, b] = runs;
    a.e.exactCount = true;
    assert.equal(runToEnd(a.e, 1000), EXIT_EXCEPTION);
    assert.equal(runToEnd(b.c, 1000), EXIT_EXCEPTION);
    assert.equal(a.c.excVector, 14, `${code}: #PF`);
    assert.equal(a.e.stats.exitsFault, 1, `${code}: the fault was raised inside compiled code`);
    assert.equal(a.c.r[R_EIP], b.c.r[R_EIP], `${code}: EIP`);
    assert.ok(a.c.icount > 0, `${code}: instructions ran before the fault`);
    assert.equal(a.c.icount, b.c.icount, `${code}: instructions counted`);
  }
});

test("self-modifying code: a store into the running block is seen by the next execution", () => {
  // L: mov byte [0x1011], 0x42 (patches the imm of "mov eax, imm32" below); nop; mov eax, 0x11111111; ud2
  // First execution writes 0x42 into the low byte of the immediate before reaching it.
  const { c, e } = setup("c6051110000042 90 90 90 90 90 90 90 90 90 b811111111 0f0b");
  runToEnd(e, 100);
  assert.equal(c.excVector, 6);
  assert.equal(c.r[EAX] >>> 0, 0x11111142, "the patched immediate was executed");
  assert.ok(e.stats.invalidatedBlocks >= 1);
});

test("block modules whose blocks were all dropped are freed (the helper tables they import do not keep them all)", async () => {
  // V8's collector, reached without --expose-gc: the flag set at run time makes gc() exist in a new context.
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const Instance = WebAssembly.Instance;
  let live = 0;
  const gone = new FinalizationRegistry<number>(() => {
    live--;
  });
  // Count the instances the engine makes (block modules and its own), and those still reachable.
  WebAssembly.Instance = class extends Instance {
    constructor(module: WebAssembly.Module, imports?: WebAssembly.Imports) {
      super(module, imports);
      live++;
      gone.register(this, 0);
    }
  };
  const ROUNDS = 200;
  try {
    const { c, e } = setup("");
    for (let k = 0; k < ROUNDS; k++) {
      // mov eax, k; ud2 — written over the last one: its block is dropped, a new module compiled.
      load(c, 0x1000, [0xb8, k & 0xff, k >> 8, 0, 0, 0x0f, 0x0b]);
      c.r[R_EIP] = 0x1000;
      assert.equal(runToEnd(e, 100), EXIT_EXCEPTION);
      assert.equal(c.r[EAX], k, "the new code ran");
    }
    assert.ok(e.stats.modules >= ROUNDS, `${e.stats.modules} modules compiled`);
    for (let k = 0; k < 3; k++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    // The engine's own instances (dispatcher, helpers) and those sharing a helper table with the
    // last block's (up to 32) stay; with one helper table for all (Node 20) all ROUNDS block
    // instances did.
    assert.ok(live <= 40, `${live} of ${e.stats.modules + 2} instances still alive`);
  } finally {
    WebAssembly.Instance = Instance;
  }
});

test("a store beside compiled code in its page leaves the blocks there; ones that keep coming drop the page", () => {
  // L: inc ebx; mov [0x1f00],bl; dec ecx; jnz L; ud2 — the store goes to the page of its own loop,
  // outside the loop's bytes (the slow path: the page holds code). Blocks are dropped only where
  // the bytes they were translated from are written; after 32 stores that hit no code in a row the
  // page is taken for data and dropped whole (its stores then go fast until code runs there again).
  for (const [n, maxDrops] of [
    [10, 0],
    [100, 3],
  ]) {
    const { c, e } = setup("43 881d001f0000 49 75f6 0f0b");
    c.r[ECX] = n;
    runToEnd(e, 10_000);
    assert.equal(c.excVector, 6);
    assert.equal(c.r[EBX], n);
    assert.equal(c.ram[0x1f00], n);
    assert.ok(e.stats.codeWritesKept > 0, "the stores were seen as writes to a code page");
    assert.ok(
      e.stats.invalidatedPages <= maxDrops,
      `${n} stores: ${e.stats.invalidatedPages} drops (the whole page: ${n})`,
    );
    assert.ok(
      e.stats.blocksCompiled <= 4 + maxDrops * 3,
      `${e.stats.blocksCompiled} blocks compiled (drops ${e.stats.invalidatedPages})`,
    );
  }
});

test("interrupts are taken within a bounded number of instructions in a compiled loop", () => {
  const { c, e } = setup("eb fe"); // jmp $ forever
  let iterations = 0;
  for (let k = 0; k < 100; k++) {
    e.run(1000);
    iterations += c.lastRun;
    // A looping block goes around again only while the dispatcher's budget lasts (R_KQ_BUDGET):
    // at most one iteration (one instruction here) past it.
    assert.ok(c.lastRun <= 1000 + 1, `run returned after ${c.lastRun}`);
  }
  assert.ok(iterations >= 100_000);
  assert.ok(e.stats.insnsCompiled > 90_000);
});

test("kqemu_is_ok(): normal mode leaves CPL 0 to the interpreter, full mode compiles it", () => {
  const user = setup("b9e8030000 49 75fd 0f0b", 0);
  runToEnd(user.e, 1000);
  assert.equal(user.e.stats.insnsCompiled, 0);
  assert.equal(user.c.r[ECX], 0);
  const full = setup("b9e8030000 49 75fd 0f0b", 0);
  full.e.mode = "full";
  runToEnd(full.e, 1000);
  assert.ok(full.e.stats.insnsCompiled > 1000);
  assert.equal(full.c.r[ECX], 0);
});

test("normal mode: user code after a system call runs compiled at once, not in the kernel's interpreter stretch", () => {
  // User (CPL 3): 1000: inc %ebx; cmp $1000,%ebx; je 1012; mov %esp,%ecx; mov $1000,%edx; sysenter;
  // 1012: ud2. Kernel (CPL 0, SYSENTER_EIP): 3000: inc %esi; sysexit (to EDX with ESP = ECX).
  const { c, e } = setup("43 81fbe8030000 7409 89e1 ba00100000 0f34 0f0b");
  load(c, 0x3000, hex("46 0f35"));
  c.r[R_SYSENTER_CS] = 0x08;
  c.r[R_SYSENTER_ESP] = 0x70000;
  c.r[R_SYSENTER_EIP] = 0x3000;
  assert.equal(runToEnd(e, 100_000), EXIT_EXCEPTION);
  assert.equal(
    c.excVector,
    6,
    `ends at UD2 (eip ${c.r[R_EIP].toString(16)} ebx ${c.r[EBX]} esi ${c.r[ESI]})`,
  );
  assert.equal(c.r[EBX], 1000);
  assert.equal(c.r[ESI], 999, "one kernel entry per pass but the last");
  // 999 passes of five user instructions before SYSENTER: compiled, unless the interpreter kept
  // running after SYSEXIT (it did, up to 2,048 instructions per turn, before EV_YIELD).
  assert.ok(e.stats.insnsCompiled >= 999 * 5 - 50, `compiled ${e.stats.insnsCompiled}`);
});

test("normal mode: a system call from interpreted user code runs the kernel in the same turn, which ends at the return to CPL 3", () => {
  // The SYSENTER/SYSEXIT loop of the test above, with user code too cold to compile: the interpreter
  // runs SYSENTER, the kernel and SYSEXIT in one stretch. It used to stop at the kernel's first
  // branch (compiled code may not run there) for a second turn, 999 of them here.
  const { c } = setup("43 81fbe8030000 7409 89e1 ba00100000 0f34 0f0b");
  const e = new KqemuEngine(c, "user", 1_000_000);
  load(c, 0x3000, hex("46 eb00 0f35")); // inc %esi; jmp .+2 (a branch in the kernel); sysexit
  c.r[R_SYSENTER_CS] = 0x08;
  c.r[R_SYSENTER_ESP] = 0x70000;
  c.r[R_SYSENTER_EIP] = 0x3000;
  let calls = 0;
  const run = c.run.bind(c);
  c.run = (n: number) => {
    calls++;
    return run(n);
  };
  assert.equal(runToEnd(e, 100_000), EXIT_EXCEPTION);
  assert.equal(c.excVector, 6, "ends at UD2");
  assert.equal(c.r[EBX], 1000);
  assert.equal(c.r[ESI], 999, "one kernel entry per pass but the last");
  assert.equal(e.stats.exitsNotOk, 0, "no turn started in the kernel");
  // One stretch per kernel entry (it ends at SYSEXIT), not two.
  assert.ok(calls <= 1000 + 10, `CPU.run called ${calls} times`);
});

test("normal mode: kernel code runs in one stretch up to the return to CPL 3, however long", () => {
  // User: mov %esp,%ecx; mov $1011,%edx; sysenter; 1011: ud2. Kernel: mov $30000,%edi;
  // L: dec %edi; jnz L; sysexit — 60,000 instructions at CPL 0, which used to be cut into 2,048-
  // instruction turns (29 of them), each through the run loop's checks again.
  const { c, e } = setup("89e1 baf3100000 0f34 0f0b");
  load(c, 0x10f3, hex("0f0b"));
  load(c, 0x3000, hex("bf30750000 4f 75fd 0f35"));
  c.r[R_SYSENTER_CS] = 0x08;
  c.r[R_SYSENTER_ESP] = 0x70000;
  c.r[R_SYSENTER_EIP] = 0x3000;
  assert.equal(runToEnd(e, 100_000), EXIT_EXCEPTION);
  assert.equal(c.excVector, 6, `ends at UD2 (eip ${c.r[R_EIP].toString(16)})`);
  assert.equal(c.r[R_EIP], 0x10f3);
  assert.equal(c.r[EDI], 0);
  assert.ok(e.stats.exitsNotOk <= 1, `${e.stats.exitsNotOk} turns in the interpreter`);
});

test("an instruction no block can start with is sent to the interpreter by its jump-cache entry, without a block-map lookup each time", () => {
  // CPL 0, full mode. L: inc %ebx; wbinvd (ends the block: a block would start with it); dec %ecx;
  // jnz L; ud2
  const code = "43 0f09 49 75fa 0f0b";
  const a = setup(code, 0);
  a.e.mode = "full";
  const b = setup(code, 0);
  for (const x of [a, b]) x.c.r[ECX] = 2000;
  runToEnd(a.e, 10_000);
  runToEnd(b.c, 10_000);
  assert.equal(a.c.excVector, 6, "ends at UD2");
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
  assert.equal(a.c.r[EBX], 2000);
  assert.ok(a.e.stats.insnsCompiled >= 2000, `compiled ${a.e.stats.insnsCompiled}`); // INC, each pass
  // Without the entry, every pass looked the WBINVD up in the block maps again.
  assert.ok(a.e.stats.lookups < 100, `${a.e.stats.lookups} lookups`);
});

test("hot blocks compiled in batches, chained by the wasm dispatcher, untranslated instructions run from inside", () => {
  // ecx=10000; L: call F; rcl eax,3 (run by the interpreter from the block); add ebx,eax; dec ecx;
  // jnz L; ud2.  F: lea eax,[ecx+ecx*2]; mul ecx; xor eax,edx; ret
  // Blocks translated during one run() call are compiled at the start of the next.
  const code = "b910270000 e80a000000 c1d003 01c3 49 75f3 0f0b 8d0449 f7e1 31d0 c3";
  const a = setup(code);
  const b = setup(code);
  const e = new KqemuEngine(a.c, "user"); // default threshold: batched compilation
  runToEnd(e, 10_000);
  runToEnd(b.c, 10_000);
  assert.equal(a.c.excVector, 6, "ends at UD2");
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
  const s = e.stats;
  assert.ok(s.insnsCompiled > 50_000, `compiled ${s.insnsCompiled}`);
  // The iterations of the first run() call (about 1,100) are interpreted, before the batch compiles.
  assert.ok(s.insnsHelped >= 8000, `rcl run from compiled code ${s.insnsHelped} times`);
  assert.ok(s.modules < s.blocksCompiled, `${s.blocksCompiled} blocks in ${s.modules} modules`);
});

/** A remote compiler under the test's control: modules come back only when release() says so. */
function heldCompiler() {
  const queue: { id: number; bytes: Uint8Array<ArrayBuffer> }[] = [];
  const done: { id: number; module: WebAssembly.Module | null; bytes?: Uint8Array<ArrayBuffer> }[] = [];
  let submits = 0;
  return {
    submitted: () => submits,
    /** Compile the batches submitted so far (`fail`: report them as not compiled, bytes sent back). */
    release(fail = false) {
      for (const q of queue.splice(0))
        done.push(
          fail
            ? { id: q.id, module: null, bytes: q.bytes }
            : { id: q.id, module: new WebAssembly.Module(q.bytes) },
        );
    },
    compiler: {
      submit: (id: number, bytes: Uint8Array<ArrayBuffer>) => {
        submits++;
        // Taken over, as a transfer would: the engine must not use them again.
        queue.push({ id, bytes: bytes.slice() });
        bytes.fill(0);
      },
      poll: () => done.shift() ?? null,
    },
  };
}

test("batches compiled by a remote compiler: interpreted until the module comes back, then run compiled; a failed compile is done here from the bytes sent back; batches still away when remote compiling stops are translated again and compiled here", () => {
  // The loop of the batching test: ecx=10000; L: call F; rcl eax,3; add ebx,eax; dec ecx; jnz L; ud2.
  const code = "b910270000 e80a000000 c1d003 01c3 49 75f3 0f0b 8d0449 f7e1 31d0 c3";
  for (const how of ["back", "failed", "stopped"]) {
    const a = setup(code);
    const b = setup(code);
    const e = new KqemuEngine(a.c, "user"); // default threshold: batched compilation
    const held = heldCompiler();
    e.remoteCompiler = held.compiler;
    // Until the compiler answers, the hot blocks wait: everything is interpreted.
    for (let k = 0; k < 5; k++) e.run(2_000);
    assert.ok(held.submitted() >= 1, `${how}: a batch was submitted`);
    assert.equal(e.stats.insnsCompiled, 0, `${how}: nothing ran compiled while the batch was away`);
    if (how === "stopped") e.stopRemoteCompiler();
    else held.release(how === "failed");
    runToEnd(e, 10_000);
    runToEnd(b.c, 10_000);
    assert.equal(a.c.excVector, 6, "ends at UD2");
    assert.deepEqual(snapshot(a.c), snapshot(b.c));
    assert.ok(e.stats.insnsCompiled > 50_000, `${how}: compiled ${e.stats.insnsCompiled}`);
    assert.equal(
      e.stats.remoteModules > 0,
      how === "back",
      `${how}: ${e.stats.remoteModules} remote modules`,
    );
  }
});

test("a remote compiler that never answers is given up after a second: its batches' blocks are translated again and compiled here", () => {
  // L: add eax,ecx; xor eax,0x5a5a; dec ecx; jnz L; ud2 — ecx large: it runs for as long as asked.
  const code = "b9ffffff7f 01c8 355a5a0000 49 75f6 0f0b";
  const a = setup(code);
  const e = new KqemuEngine(a.c, "user"); // default threshold: batched compilation
  const held = heldCompiler();
  e.remoteCompiler = held.compiler;
  const t0 = Date.now();
  while (Date.now() - t0 < 1_300) e.run(20_000);
  assert.ok(held.submitted() >= 1, "a batch was submitted");
  assert.equal(e.remoteCompiler, null, "given up");
  assert.equal(e.stats.remoteModules, 0);
  assert.ok(e.stats.blocksCompiled >= 1, "compiled here since");
  const before = e.stats.insnsCompiled;
  e.run(20_000);
  assert.ok(e.stats.insnsCompiled > before, "the loop runs compiled");
});

test("a block whose code is written while its batch is with the remote compiler is left out when the module comes back", () => {
  // ecx=5000; L: mov eax,0x11111111 (at 0x1005, rewritten below); add ebx,eax; dec ecx; jnz L; ud2.
  const code = "b988130000 b811111111 01c3 49 75f6 0f0b";
  const a = setup(code);
  const b = setup(code);
  const e = new KqemuEngine(a.c, "user", 8);
  const held = heldCompiler();
  e.remoteCompiler = held.compiler;
  for (let k = 0; k < 20 && held.submitted() === 0; k++) e.run(200);
  assert.ok(held.submitted() >= 1, "the loop's batch was submitted");
  // The immediate rewritten (by the host, as a DMA would) in both at the same instruction, then the
  // batch comes back.
  b.c.run(a.c.icount - b.c.icount);
  assert.equal(b.c.icount, a.c.icount);
  for (const { c } of [a, b]) c.physWrite32(0x1006, 0x22222222);
  held.release();
  runToEnd(e, 1_000);
  runToEnd(b.c, 1_000);
  assert.equal(a.c.excVector, 6, "ends at UD2");
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
});

test("FS/GS-based accesses (per-CPU data, TLS): base added in compiled code, checked again when FS is reloaded", () => {
  // L: mov eax,fs:[0x10]; add eax,ecx; mov fs:[0x14],eax; inc dword fs:[0x18]; mov [0x2020],al;
  //    mov ebx,gs:[esi]; dec ecx; jnz L; ud2       (FS base 0x2000, GS base 0x2040, 4 GiB limits)
  const code = "64a110000000 01c8 64a314000000 64ff0518000000 a220200000 658b1e 49 75e0 0f0b";
  const seg = (c: CPU, limit: number) => {
    c.setSegCache(FS, 0x33, 0x2000, limit, 0xc0f3);
    c.setSegCache(GS, 0x3b, 0x2040, -1, 0xc0f3);
  };
  const { a, b } = runBoth(code, (c) => {
    seg(c, -1);
    c.r[ECX] = 500;
    c.r[ESI] = 8;
    for (let k = 0; k < 0x100; k++) c.ram[0x2000 + k] = (k * 29) & 0xff;
  });
  assert.ok(a.e.stats.insnsCompiled > 3000, `compiled ${a.e.stats.insnsCompiled}`);
  // The same compiled block with FS now a 16-byte segment: fs:[0x10] is beyond the limit, #GP(0).
  for (const x of [a, b]) {
    seg(x.c, 0xf);
    x.c.r[R_EIP] = 0x1000;
    x.c.r[ECX] = 5;
  }
  const compiled = a.e.stats.insnsCompiled;
  runToEnd(a.e, 10_000);
  runToEnd(b.c, 10_000);
  assert.equal(a.c.excVector, 13, "#GP from the limit check");
  assert.equal(a.c.r[R_EIP], 0x1000);
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
  assert.equal(a.e.stats.insnsCompiled, compiled, "nothing completed in compiled code");
});

test("an FS-based instruction whose check fails at run time keeps its own flags, not the block's deferred ones", () => {
  // L: sub eax,edx; add fs:[0x10],ecx; pushfd; pop ebx; dec esi; jnz L; ud2   (FS base 0x2000)
  // SUB leaves CF=0 deferred in the block, ADD of -1 to a non-zero dword sets CF=1. With FS no
  // longer a 4 GiB segment (a 4 KiB limit that still admits fs:[0x10]) the compiled check fails
  // and the interpreter runs the ADD: its flags must be what PUSHFD sees, not SUB's written back
  // over them.
  const code = "29d0 64010d10000000 9c 5b 4e 75f2 0f0b";
  const seg = (c: CPU, limit: number) => c.setSegCache(FS, 0x33, 0x2000, limit, 0xc0f3);
  const init = (c: CPU) => {
    seg(c, -1);
    c.r[EAX] = 5;
    c.r[EDX] = 0;
    c.r[ECX] = -1;
    c.r[ESI] = 300;
    c.ram[0x2012] = 1; // [0x2010] = 0x10000
  };
  const { a, b } = runBoth(code, init);
  assert.ok(a.e.stats.insnsCompiled > 1000, `compiled ${a.e.stats.insnsCompiled}`);
  for (const x of [a, b]) {
    seg(x.c, 0xfff);
    x.c.r[R_EIP] = 0x1000;
    x.c.r[ESI] = 20;
  }
  runToEnd(a.e, 10_000);
  runToEnd(b.c, 10_000);
  assert.equal(a.c.excVector, 6, "ends at UD2");
  assert.equal(b.c.r[EBX] & 1, 1, "CF from the ADD");
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
});

test("a UD2 behind a branch (BUG()) ends only its own path: the loop runs on compiled, and a UD2 reached raises #UD with the block's registers", () => {
  // L: cmp ecx,0x7fffffff; jbe skip; ud2; skip: add eax,ecx; dec ecx; jnz L; ud2
  const code = "81f9ffffff7f 7602 0f0b 01c8 49 75f1 0f0b";
  const { a } = runBoth(code, (c) => {
    c.r[ECX] = 1000;
  });
  assert.equal(a.c.r[R_EIP], 0x1000 + 15, "the UD2 after the loop");
  assert.ok(a.e.stats.insnsCompiled > 3000, `compiled ${a.e.stats.insnsCompiled}`);
  // Again from ECX = 0: the first pass adds and decrements (ECX = 0xffffffff), the second one's CMP
  // sends the path to the UD2 inside the loop, with registers the compiled code changed.
  const b2 = setup(code);
  for (const x of [a.c, b2.c]) {
    x.r[R_EIP] = 0x1000;
    x.r[ECX] = 0;
    x.r[EAX] = 7;
    x.excVector = -1;
  }
  runToEnd(a.e, 10_000);
  runToEnd(b2.c, 10_000);
  assert.equal(a.c.excVector, 6);
  assert.equal(a.c.r[R_EIP], 0x1000 + 8, "#UD at the inner UD2");
  assert.deepEqual(snapshot(a.c), snapshot(b2.c));
});

test("LEAVE and MOV with a moffs operand run compiled with the interpreter’s results", () => {
  // L: push ebp; mov ebp,esp; push ecx; mov eax,[0x2010]; add eax,[ebp-4]; mov [0x2014],eax;
  //    mov al,[0x2018]; mov [0x2019],al; leave; dec ecx; jnz L; ud2
  const code = "55 89e5 51 a110200000 0345fc a314200000 a018200000 a219200000 c9 49 75e1 0f0b";
  const { a } = runBoth(code, (c) => {
    c.r[ECX] = 300;
    c.r[EBP] = 0x1234;
  });
  assert.equal(a.c.r[EBP], 0x1234);
  assert.ok(a.e.stats.insnsCompiled > 2500, `compiled ${a.e.stats.insnsCompiled}`);
});

test("an instruction straddling a page boundary: same results as the interpreter, and a precise #PF when the second page goes away", () => {
  // 0x1fe0: mov ecx,100; L (0x1fe5): add eax,ecx; 23×nop; (0x1ffe) add eax,1 — its immediate lies in
  // the next page —; dec ecx; jnz L; ud2. Paging identity-maps the first 4 MiB. The block at L is
  // compiled up to where an instruction could reach into the next page; the rest is interpreted.
  const code = `b964000000 01c8 ${"90".repeat(23)} 0501000000 49 75df 0f0b`;
  const page = (c: CPU) => enablePaging(c, (p) => (p << 12) | 7);
  const a = setup("");
  const b = setup("");
  for (const x of [a, b]) {
    page(x.c);
    load(x.c, 0x1fe0, hex(code));
    x.c.r[R_EIP] = 0x1fe0;
  }
  runToEnd(a.e, 1000);
  runToEnd(b.c, 1000);
  assert.equal(a.c.excVector, 6, "ends at UD2");
  assert.equal(a.c.r[EAX], 5050 + 100);
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
  assert.ok(a.e.stats.insnsCompiled >= 1000, `compiled ${a.e.stats.insnsCompiled}`);
  // Unmap the second page: the fetch of the straddling instruction faults with CR2 = 0x2000 and
  // EIP on the instruction; the ones before it in the block completed.
  a.c.ram32[(0x101000 >>> 2) + 2] = 0;
  a.c.flushTlb(true);
  a.c.r[R_EIP] = 0x1fe5;
  a.c.r[EAX] = 0;
  a.c.r[ECX] = 3;
  assert.equal(runToEnd(a.e, 1000), EXIT_EXCEPTION);
  assert.equal(a.c.excVector, 14);
  assert.equal(a.c.r[R_EIP], 0x1ffe);
  assert.equal(a.c.r[R_CR2], 0x2000);
  // User, not present, read: I/D (bit 4) is only reported with NX or SMEP on (SDM Vol. 3A 4.7).
  assert.equal(a.c.excError, 4);
  assert.equal(a.c.r[EAX], 3, "add eax,ecx completed");
});

test("INC at the start of a block takes CF from the state block exactly (ADC with a full carry-out)", () => {
  // stc; adc eax,ebx (1 + 0xffffffff + 1: result 1 = the first operand, CF=1); push 0x1009; ret
  // 0x1009: inc ecx (keeps CF, read back from the state block: FOP_ADC); setc dl; ud2
  const code = "f9 11d8 6809100000 c3 41 0f92c2 0f0b";
  const { a } = runBoth(code, (c) => {
    c.r[EAX] = 1;
    c.r[EBX] = -1;
    c.r[EDX] = 0;
  });
  assert.equal(a.c.r[EDX], 1, "CF survived INC");
  assert.ok(a.e.stats.insnsCompiled >= 4, `compiled ${a.e.stats.insnsCompiled}`);
});

/** EIPs at which the engine holds a compiled block. */
function compiledStarts(e: KqemuEngine): number[] {
  const blocks = (e as unknown as { blocks: Map<number, Map<number, { eip: number; slot: number }>> }).blocks;
  const out: number[] = [];
  for (const inPage of blocks.values()) for (const b of inPage.values()) if (b.slot >= 0) out.push(b.eip);
  return out.sort((x, y) => x - y);
}

/**
 * runBoth() for branchy code reading bytes `data(k)` at 0x2000 and with more code at 0x2800 (in
 * another page); at least `minCompiled` instructions must run compiled, and the instruction count
 * must be exact although paths of different lengths were taken.
 */
function runBranchy(
  code: string,
  data: (k: number) => number,
  far: string,
  minCompiled: number,
  farAt = 0x2800,
) {
  const { a, b } = runBoth(code, (c) => {
    for (let k = 0; k < 0x100; k++) c.ram[0x2000 + k] = data(k) & 0xff;
    load(c, farAt, hex(far));
  });
  assert.ok(a.e.stats.insnsCompiled > minCompiled, `compiled ${a.e.stats.insnsCompiled}`);
  assert.equal(a.c.icount, b.c.icount, "instructions counted");
  return a;
}

test("forward branches inside a block: both paths join with the interpreter’s registers, flags and memory", () => {
  // L: movzbl (%esi),%ebx; test $1,%bl; je skip1; add %ebx,%edx; inc %edi; test $2,%bl; jne skip2;
  //    sub $3,%edx; cmp $0x80,%bl; ja skip1; push %edx; pop %ebp; skip2: xor %ebx,%eax;
  //    skip1: adc %ecx,%eax (CF from either path); inc %esi; and $0x20ff,%esi; dec %ecx; jne L
  // then test/js/mov/jmp (a skip whose straight path jumps away), and M: dec %ecx; je out; test $1,%cl;
  // jne M (a loop back-edge inside a skip); ...; jne M2; jmp far (out of the page: the taken path
  // goes on alone); M2: jmp M; out: ud2. far (0x3800, two pages on, out of a block's reach): xor
  // $0x55,%edx; jmp M2.
  const code =
    "b92c01000031c031d2be002000000fb61ef6c301741401da47f6c302750a83ea0380fb807704525d31d811c84681e6ff2000004975d885c07807bd01000000eb05bd02000000b928000000497413f6c10175f801ca83f9077505e9a1270000ebea0f0b";
  const a = runBranchy(code, (k) => k * 113 + 7, "83f255e957d8ffff", 3000, 0x3800);
  // Taken skips stay in their block: no block starts at skip2, skip1, the else part, the join or M2.
  const starts = compiledStarts(a.e);
  for (const join of [0x1028, 0x102a, 0x1041, 0x1046, 0x105f])
    assert.ok(
      !starts.includes(join),
      `a block starts at ${join.toString(16)}: ${starts.map((s) => s.toString(16))}`,
    );
  assert.ok(starts.includes(0x100e), "L compiled");
});

test("if/else inside a block: then and else parts join with the interpreter’s registers, flags and memory", () => {
  // L: movzbl (%esi),%ebx; cmp $0x40,%bl; jb else1; add %ebx,%eax; test $4,%bl; je else2; inc %edi;
  //    jmp join2; else2: dec %ebp; sub $1,%edx; join2: jmp join1 (nested if/else in the then part);
  //    else1: sub %ebx,%edx; lea 1(%eax),%eax; cmp $0x20,%bl; ja join1 (a skip in the else part);
  //    xor $0x11,%edx; join1: adc %ecx,%eax; sbb %edx,%ebp (CF from either part); test $0x80,%bl;
  //    jne else3; cmp $0x7f,%bl; jne outside (leaves the page); jmp join3; else3: rol $3,%eax;
  //    join3: inc %esi; and $0x20ff,%esi; back: dec %ecx; jne L; ud2. outside (0x2800): xor $0x3c,%eax; jmp back.
  const code =
    "b9c800000031c031d2be002000000fb61e80fb40721001d8f6c304740347eb044d83ea01eb0d29da8d400180fb20770383f21111c819d5f6c380750b80fb7f0f85bb170000eb03c1c0034681e6ff2000004975ba0f0b";
  runBranchy(code, (k) => k * 167 + 91, "83f03ce949e8ffff", 2500);
});

test("INC/DEC keep CF unless the next instructions overwrite it without a chance to fault", () => {
  // mov $-1,%eax; add $1,%eax (CF=1); inc %ecx; adc $0,%edx (CF read: kept); inc %esi;
  // mov %esi,%edi; lea 3(%esi),%ebp; sub $2,%edi (CF overwritten: dead); setb %bl;
  // xor %eax,%eax; sub $1,%eax (CF=1); inc %ebx; jb +2 (CF read: kept); xor %edi,%edi; ud2
  const code = "b8ffffffff 83c001 41 83d200 46 89f7 8d6e03 83ef02 0f92c3 31c0 83e801 43 7202 31ff 0f0b";
  runBoth(code, (c) => {
    c.r[ESI] = 1;
  });
});

test("shift flags deferred in the block: every condition, ADC and INC after a shift read them as the interpreter does", () => {
  // mov $0x80000001,%eax; shl %eax (CF=1, OF=1); seto %bl; setb %bh; sete %cl; setbe %ch; sets %dl;
  // setl %dh; setle 0x2000; setp 0x2001; shr $2,%eax (zero result, CF=1, OF=0); sete 0x2002;
  // seto 0x2005; setl 0x2006; adc $5,%esi;
  // sar $3,%edi; inc %ebp (CF kept from the SAR); setb 0x2003; seto 0x2004; shl $1,%di (16-bit); ud2
  const code =
    "b801000080 d1e0 0f90c3 0f92c7 0f94c1 0f96c5 0f98c2 0f9cc6 0f9e0500200000 0f9a0501200000 c1e802 0f940502200000 0f900505200000 0f9c0506200000 83d605 c1ff03 45 0f920503200000 0f900504200000 66d1e7 0f0b";
  for (const edi of [0x80000010, 0x7ffffff4, 0x12345678]) {
    runBoth(code, (c) => {
      c.r[EDI] = edi;
      c.r[ESI] = 7;
      c.r[EBP] = -1;
    });
  }
});

test("ROL/ROR after a logic op, a shift or an ADD/SUB-type op (flags kept deferred): every flag as the interpreter has it", () => {
  // [stc|clc]; PRODUCER %eax,%ebx; ROTATE (%ebx or the dword at (%esi)); SETcc of all 16
  // conditions into 0x2080..0x208f; pushf; pop 0x2090; ud2. ZF/SF/PF/AF come from the producer,
  // CF/OF from the rotate (OF also for counts above 1: the interpreter's value, which compiled code
  // must match even where silicon leaves it undefined).
  const producers = [
    "31c3", // xor %eax,%ebx
    "21c3", // and %eax,%ebx
    "30c3", // xor %al,%bl (8-bit result)
    "01c3", // add %eax,%ebx
    "29c3", // sub %eax,%ebx
    "11c3", // adc %eax,%ebx
    "19c3", // sbb %eax,%ebx
    "00c3", // add %al,%bl
    "43", // inc %ebx
    "4b", // dec %ebx
    "c1e303", // shl $3,%ebx
    "c1c305", // rol $5,%ebx (a rotate after a rotate)
    "29c3 c1c305", // sub %eax,%ebx; rol $5,%ebx (two rotates after a SUB keep its AF)
    "01c3 d1cb", // add %eax,%ebx; ror %ebx
    "c1e303 c1c305", // shl $3,%ebx; rol $5,%ebx
  ];
  const rotates = ["d1c3", "c1c307", "d1cb", "c1cb0d", "c1061f", "d10e"]; // rol/ror %ebx, rol $31/ror (%esi)
  const values = [
    [0x7fffffff, 1],
    [0x0f, 0x01],
    [0x80000000, 0x80000000],
    [0, 0],
    [0x12345678, 0x9abcdef0],
    [-1, 1],
  ];
  for (const p of producers)
    for (const rot of rotates)
      for (const [k, [eax, ebx]] of values.entries()) {
        const carry = k % 2 === 0 ? "f9" : "f8";
        runOperands(`${carry} ${p} ${rot} ${READ_FLAGS}`, eax, ebx, ebx ^ 0x5a5a5a5a);
      }
});

test("CLD, STD and CLI run compiled (CLI at CPL 0 only): string direction and IF as the interpreter has them; CLI at CPL 3 raises #GP", () => {
  // add %eax,%ebx (flags deferred); std; movsb; cld; movsb; cli; pushf; pop 0x2090; ud2
  const code = "01c3 fd a4 fc a4 fa 9c 8f0590200000 0f0b";
  const init = (c: CPU) => {
    c.r[EAX] = 0x7fffffff;
    c.r[EBX] = 1;
    c.r[ESI] = 0x2010;
    c.r[EDI] = 0x2040;
    for (let k = 0; k < 0x20; k++) c.ram[0x2000 + k] = k + 1;
  };
  const a = setup(code, 0);
  a.e.mode = "full";
  const b = setup(code, 0);
  for (const x of [a, b]) {
    init(x.c);
    x.c.setEflags(x.c.getEflags() | 0x200); // IF set
  }
  runToEnd(a.e, 1000);
  runToEnd(b.c, 1000);
  assert.equal(a.c.excVector, 6, "ends at UD2");
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
  assert.equal(a.c.ram32[0x2090 >>> 2] & 0x600, 0, "DF and IF clear in the pushed flags");
  assert.equal(a.c.r[EDI], 0x2040, "one byte down, one up");
  assert.ok(a.e.stats.insnsHelped <= 2, `${a.e.stats.insnsHelped} helped (PUSHF and POP are)`);
  // CPL 3, IOPL 0: CLI faults, compiled or not.
  const u = setup("fc fa 0f0b");
  const v = setup("fc fa 0f0b");
  runToEnd(u.e, 1000);
  runToEnd(v.c, 1000);
  assert.equal(u.c.excVector, 13, "#GP");
  assert.equal(u.c.r[R_EIP], 0x1001);
  assert.deepEqual(snapshot(u.c), snapshot(v.c));
});

test("BT/BTS/BTR/BTC with a constant bit run compiled; CF and the other flags as the interpreter has them", () => {
  // PRODUCER; BTx $bit,%ebx or (%esi); SETcc of all 16 conditions; pushf; pop 0x2090; ud2.
  // xor, and, shl $1 (OF set), shr $5 (flags deferred); add, inc (through the setcf helper)
  const producers = ["31c3", "21c3", "d1e3", "c1eb05", "01c3", "43"];
  for (const p of producers)
    for (let op = 4; op < 8; op++)
      for (const modrm of [0xe3, 0x26]) // %ebx or (%esi), with /op in bits 3-5
        for (const bit of [0, 5, 31])
          for (const [eax, ebx] of [
            [0x80000001, 0xc0000021],
            [0x12345678, 0x9abcdef0],
          ]) {
            const m = ((modrm & ~0x38) | (op << 3)).toString(16);
            // Compiled: only PUSHF and POP are handed to the interpreter.
            const code = `${p} 0fba ${m} ${bit.toString(16).padStart(2, "0")} ${READ_FLAGS}`;
            runOperands(code, eax, ebx, ebx ^ 0x80000021, 2);
          }
});

test("PUSHF and XADD run compiled with the interpreter's results and flags", () => {
  // PRODUCER; pushf; XADD; SETcc of all 16 conditions; pushf; ud2 (the stack at 0x2100).
  const producers = ["f9", "01c3", "29c3", "31c3", "d1e3", "43", "c1c307"]; // stc add sub xor shl inc rol
  const xadds = ["0fc1c3", "0fc1db", "0fc106"]; // xadd %eax,%ebx / %ebx,%ebx / %eax,(%esi)
  for (const p of producers)
    for (const x of xadds)
      for (const [eax, ebx] of [
        [0x7fffffff, 1],
        [0x80000000, 0x80000000],
        [0x0f, 0xf1],
      ]) {
        // Compiled: only STC is handed to the interpreter.
        runOperands(`${p} 9c ${x} ${SETCC_ALL} 9c 0f0b`, eax, ebx, ebx ^ 0x10000001, 1, 0x2100);
      }
});

test("PUSH of a segment register runs compiled: ESP moves by 4, the selector's 2 bytes written, the slot's upper half kept", () => {
  // push %es; push %cs; push %ss; push %ds; push %fs; push %gs; ud2 — the stack at 0x2100, its
  // slots filled with 0xa5 first (the interpreter writes 2 bytes of each, as Intel's parts do).
  const { a } = runBoth("06 0e 16 1e 0fa0 0fa8 0f0b", (c) => {
    c.r[ESP] = 0x2100;
    c.ram.fill(0xa5, 0x20e0, 0x2100);
    c.r[R_SEL + FS] = 0x1234;
    c.r[R_SEL + GS] = 0x5678;
  });
  assert.equal(a.c.r[ESP], 0x2100 - 24);
  assert.equal(a.c.ram32[(0x2100 - 24) >>> 2] >>> 0, 0xa5a55678);
  assert.equal(a.e.stats.insnsHelped, 0, "compiled, not handed to the interpreter");
});

test("SHLD/SHRD by a constant (register and memory destinations) run compiled with the interpreter's results and flags", () => {
  // SHxD $n,%eax,%ebx or SHxD $n,%eax,(%esi); SETcc of all 16 conditions; pushf; pop 0x2090; ud2.
  // OF is the interpreter's for counts above 1 too (silicon leaves it undefined).
  for (const opc of ["a4", "ac"])
    for (const count of [1, 4, 12, 31])
      for (const modrm of ["c3", "06"])
        for (const [eax, ebx] of [
          [0x80000001, 0x40000003],
          [0x12345678, 0x9abcdef0],
          [0, 0x80000000],
        ]) {
          // Compiled: only PUSHF and POP are handed to the interpreter.
          const code = `0f${opc} ${modrm} ${count.toString(16).padStart(2, "0")} ${READ_FLAGS}`;
          runOperands(code, eax, ebx, ebx ^ 0x0ff0f00f, 2);
        }
});

test("16-bit ALU ops (register, memory, AX and sign-extended immediate forms) run compiled with the interpreter's results and flags", () => {
  // [stc|clc]; OP (one of the forms below, for each of ADD OR ADC SBB AND SUB XOR CMP); SETcc of
  // all 16 conditions into 0x2080..0x208f; pushf; pop 0x2090; ud2. The upper halves of EAX/EBX
  // must survive; a sign-extended imm8 (0x83) is a 16-bit operand (CF of SUB/CMP depends on it).
  const h = (n: number) => n.toString(16).padStart(2, "0");
  const forms = (op: number) => [
    `66 83 ${h(0xc3 | (op << 3))} ff`, // op $-1,%bx
    `66 83 ${h(0xc3 | (op << 3))} 80`, // op $-128,%bx
    `66 81 ${h(0xc3 | (op << 3))} 3480`, // op $0x8034,%bx
    `66 ${h((op << 3) | 5)} 01ff`, // op $0xff01,%ax
    `66 ${h((op << 3) | 1)} c3`, // op %ax,%bx
    `66 ${h((op << 3) | 3)} 06`, // op (%esi),%ax
    `66 83 ${h(0x06 | (op << 3))} f0`, // op $-16,(%esi)
  ];
  const values = [
    [0x12348000, 0xabcd7fff],
    [0xffff0001, 0x0000ffff],
    [0x00000000, 0x00010000],
    [0x00007fff, 0x00008001],
  ];
  for (let op = 0; op < 8; op++)
    for (const form of forms(op))
      for (const [k, [eax, ebx]] of values.entries()) {
        const carry = k % 2 === 0 ? "f9" : "f8";
        // The op itself compiled, not handed to the interpreter from the block (STC/CLC, PUSHF and
        // POP to memory are: 3).
        runOperands(`${carry} ${form} ${READ_FLAGS}`, eax, ebx, (ebx * 7) ^ 0x5a5a8001, 3);
      }
});

test("conditions after ADD, ADC and SBB (8 and 32 bits, carry-in 0 and 1, carry chains), read in the block, agree with the interpreter", () => {
  // SETcc of all 16 conditions into 16 bytes of memory after each flag producer. The ADC/SBB
  // cases set their operands with MOV and the carry-in with STC/CLC, or take it from the ADC/SBB
  // before them (a chain, flags deferred with a run-time FOP); the boundary cases (RES == A after
  // ADC, A == B in SBB, with a carry-in) separate "<=" from "<" in the carry-out.
  const le32 = (v: number) =>
    [v, v >>> 8, v >>> 16, v >>> 24].map((b) => (b & 0xff).toString(16).padStart(2, "0")).join("");
  let at = 0x2000;
  const setAll = () => {
    const t = Array.from({ length: 16 }, (_, cc) => `0f${(0x90 + cc).toString(16)}05${le32(at + cc)}`).join(
      " ",
    );
    at += 16;
    return t;
  };
  const carry = (c: number | null) => (c === null ? "" : c ? "f9" : "f8"); // STC / CLC / the chain's
  // adc %esi,%edx (32) / adc %dh,%dl (8); sbb %esi,%edi (32) / sbb %cl,%bl (8)
  const adc32 = (a: number, b: number, c: number | null) =>
    `ba${le32(a)} be${le32(b)} ${carry(c)} 11f2 ${setAll()}`;
  const sbb32 = (a: number, b: number, c: number | null) =>
    `bf${le32(a)} be${le32(b)} ${carry(c)} 19f7 ${setAll()}`;
  const adc8 = (a: number, b: number, c: number | null) =>
    `ba${le32(a | (b << 8))} ${carry(c)} 10f2 ${setAll()}`;
  const sbb8 = (a: number, b: number, c: number | null) =>
    `bb${le32(a)} b9${le32(b)} ${carry(c)} 18cb ${setAll()}`;
  const code = [
    `01d8 ${setAll()}`, // add %ebx,%eax
    `00d9 ${setAll()}`, // add %bl,%cl
    adc32(0x80, 0xffffffff, 1),
    adc32(0x80, 0xffffffff, 0),
    adc32(0x7fffffff, 0, 1),
    adc32(0x20, 0xffffffe0, null), // carry-in: the ADC before's carry-out (0)
    sbb32(5, 5, 1),
    sbb32(5, 5, 0),
    sbb32(0x80000000, 0, 1),
    sbb32(7, 7, null), // carry-in: the SBB before's borrow (1)
    adc8(0x10, 0xff, 1),
    adc8(0x7f, 0x00, 1),
    sbb8(0x33, 0x33, 1),
    sbb8(0x80, 0x00, null),
    adc32(0xffffffff, 0, null),
    "0f0b",
  ].join(" ");
  assert.ok(at <= 0x2100, "all results inside the compared memory");
  const pairs = [
    [0x7fffffff, 1],
    [0xffffffff, 1],
    [0x80000000, 0x80000000],
    [0x12345678, 0x11111111],
    [0x0000007f, 0x00000081],
    [0, 0],
  ];
  for (const [x, y] of pairs) {
    runBoth(code, (c) => {
      c.r[EAX] = x;
      c.r[EBX] = y;
      c.r[ECX] = x ^ 0x5a;
    });
  }
});

test("loops carrying their flags around the back edge in locals: the head reads them as the interpreter does", () => {
  // Six loops whose first instruction reads the flags the previous iteration left (ADC), each
  // branching back after a different kind of flag producer, results recorded with SETcc:
  //   1: adc %ebx,%eax; setb/seto 0x2000/0x2040(%esi); inc %esi; shr $1,%ebx; jnz 1b  (a shift)
  //   2: adc %ecx,%edx; setb 0x2080(%ecx); sub $1,%ecx; jnz 2b   (SUB; 300 iterations: the block
  //      leaves at its iteration limit, with the flags written back, and is entered again)
  //      then mov %edx,0x2074
  //   3: setb 0x20a0(%ecx); lea -1(%ecx),%ecx; adc $3,%edx; jns 3b; mov %edx,0x2078  (ADC itself)
  //   4: setb 0x20c0(%ecx); sbb %ecx,%edi; cmc; jc 4b            (CMC: flags in the state block)
  //   5: adc %ebp,%edi; setb 0x20e0(%ebp); and $0x3f,%ebp; dec %ebp; jns 5b           (DEC)
  //   6: adc %ecx,%ebx; setb 0x20f0(%ecx); lea -1(%ecx),%ecx; test %ecx,%ecx; jnz 6b  (a logic op)
  //   mov %eax,0x2070 (loop 1's sum); add %al,%al (8 bits, SF set); jmp *%edx (to 7, a block entered with the byte op's flags);
  //   7: sets 0x20fb(%ecx); setb 0x20f7(%ecx); sub $1,%ecx; jnz 7b
  //   8: setp %al; add %eax,%edi; add $-1,%ecx; jnz 8b (300 times: a parity read at the head after
  //      the iteration limit); mov %edi,0x207c
  //   9: sets %al; add %eax,%edi; sub $1,%cl; jnz 9b  (a byte op's flags around the back edge)
  //  10: adc $-1,%edx; shr $1,%ebx; jnc 10b; setb 0x2068; mov %edx,0x2064  (the loop's exit path
  //      keeps the last shift's CF, not the one the back edge wrote for the iteration before)
  const code =
    "bb1d3a5c9b31f6f811d80f9286002000000f90864020000046d1eb75ebb92c01000011ca0f92818020000083e90175f2891574200000b910000000bae0ffff7ff90f9281a02000008d49ff83d20379f1891578200000b908000000bf640000000f9281c020000019cff572f4bd5a00000011ef0f9285e020000083e53f4d79f1b90900000011cb0f9281f02000008d49ff85c975f0a370200000b8c0000000baad100000b90300000000c0ffe20f9881fb2000000f9281f720000083e90175edb92c01000031ffb8001000000f9ac001c783c1ff75f6893d7c200000b9850000000f98c001c780e90175f6bb000f0000ba9999000083d2ffd1eb73f90f9205682000008915642000000f0b";
  for (const [x, y] of [
    [0x12345678, 0xfedcba98],
    [0xffffffff, 1],
    [0x80000000, 0x7fffffff],
  ]) {
    const { a } = runBoth(code, (c) => {
      c.r[EAX] = x;
      c.r[EDX] = y;
    });
    assert.ok(a.e.stats.insnsCompiled > 300, `compiled ${a.e.stats.insnsCompiled}`);
  }
});

test("MOVS/STOS/LODS/SCAS without REP (bytes, words, dwords, both directions) and BSWAP run compiled with the interpreter’s results", () => {
  // mov $0x2010,%esi; mov $0x2080,%edi; then twice (DF=0, then after STD DF=1): lodsb; lodsl; lodsw;
  // stosb; stosl; stosw; movsb; movsl; movsw; scasb; sbb %ecx,%ecx; scasl; setb %dl; scasw; seto %dh;
  // bswap %eax; finally cld; ud2
  const seq = "ac ad 66ad aa ab 66ab a4 a5 66a5 ae 19c9 af 0f92c2 66af 0f90c6 0fc8";
  const code = `be10200000 bf80200000 ${seq} fd ${seq} fc 0f0b`;
  for (const eax of [0x12345678, 0xffffff80]) {
    const { a } = runBoth(code, (c) => {
      for (let k = 0; k < 0x100; k++) c.ram[0x2000 + k] = (k * 29 + 3) & 0xff;
      c.r[EAX] = eax;
    });
    // Only STD and CLD go to the interpreter.
    assert.ok(a.e.stats.insnsHelped <= 2, `${a.e.stats.insnsHelped} instructions helped`);
  }
});

test("CMPXCHG (register and memory, equal and unequal, EAX as destination) runs compiled with the interpreter’s results", () => {
  // cmpxchg %ebx,0x2000 (ds prefix); setz %cl; cmpxchg %edx,0x2004; cmpxchg %esi,%edi;
  // cmpxchg %ebp,%eax; setz %ch; ud2
  const code = "3e0fb11d00200000 0f94c1 0fb11504200000 0fb1f7 0fb1e8 0f94c5 0f0b";
  for (const [eax, m0, edi] of [
    [5, 5, 9],
    [5, 6, 5],
    [0x2a, 0x2a, 0x2a],
  ]) {
    const { a } = runBoth(code, (c) => {
      c.r[EAX] = eax;
      c.ram32[0x2000 >> 2] = m0;
      c.ram32[0x2004 >> 2] = 0x2a;
      c.r[EBX] = 0x111;
      c.r[EDX] = 0x222;
      c.r[ESI] = 0x333;
      c.r[EDI] = edi;
      c.r[EBP] = 0x444;
    });
    assert.equal(a.e.stats.insnsHelped, 0);
  }
});

test("page memos: accesses through one base register skip the TLB only inside the page it checked, with its rights, on every path", () => {
  // Paging maps the code page, data pages 0x2000 and 0x4000 (identity, user, writable) and page
  // 0x3000 in one of three ways: absent, read-only, or to physical 0x5000 (so an access wrongly
  // served from the 0x2000 memo would read other bytes). Each program walks a base register across
  // the 0x2000/0x3000 boundary from a range of starting points (byte, word and dword accesses,
  // some straddling); compiled and interpreted runs must stop in the same state (fault or UD2).
  const programs: [string, string][] = [
    // mov eax,[esi]; mov ebx,[esi+4]; mov ecx,[esi+8]; mov al,[esi+0x11]; mov cx,[esi+0x12];
    // mov edx,[esi+0x14]; mov ebp,[esi+0x18]; ud2
    ["reads", "8b06 8b5e04 8b4e08 8a4611 668b4e12 8b5614 8b6e18 0f0b"],
    // reads, then writes through the same base (a read memo gives no write right):
    // mov eax,[esi]; mov ebx,[esi+4]; mov [esi+8],ecx; mov [esi+0xc],eax; mov [esi+0x11],al; ud2
    ["read then write", "8b06 8b5e04 894e08 89460c 884611 0f0b"],
    // read-modify-writes: add [esi],eax; add [esi+4],eax; add [esi+8],eax; add [esi+0xe],ax; ud2
    ["read-modify-write", "0106 014604 014608 6601460e 0f0b"],
    // a forward branch around the access that would set the memo: test edx,edx; jz L;
    // mov eax,[esi]; mov ebx,[esi+4]; L: mov ecx,[esi+8]; mov [esi+0xc],ecx; mov ebp,[esi+0x10]; ud2
    ["branch", "85d2 7405 8b06 8b5e04 8b4e08 894e0c 8b6e10 0f0b"],
    // the stack: ESP = ESI + 0x1000 falls from page 0x4000 into 0x3000 as it pushes:
    // lea esp,[esi+0x1010]; push eax; push ebx; push ecx; push edx; pop edi; push ebp; ud2
    ["stack", "8da610100000 50 53 51 52 5f 55 0f0b"],
    // a read memo before a branch whose straight path sets a write memo on another page: after the
    // join only read rights hold (the taken path left the read memo). mov eax,[esi];
    // mov ebx,[esi+4]; mov ecx,[esi+8]; test edx,edx; jz L; mov [esi+0x1000],eax;
    // mov [esi+0x1004],eax; mov [esi+0x1008],eax; L: mov [esi+0xc],ecx; ud2
    ["rights at a join", "8b06 8b5e04 8b4e08 85d2 7412 898600100000 898604100000 898608100000 894e0c 0f0b"],
    // the other way round: a write memo before the branch; the straight path runs CPUID (the
    // interpreter helper: memos dropped) and reads through ESI (a read memo on its page).
    // mov [esi+0x1000],eax; mov [esi+0x1004],eax; mov [esi+0x1008],eax; test edx,edx; jz L;
    // cpuid; mov eax,[esi]; mov ebx,[esi+4]; mov ecx,[esi+8]; L: mov [esi+0xc],ecx; ud2
    [
      "rights at a join 2",
      "898600100000 898604100000 898608100000 85d2 740a 0fa2 8b06 8b5e04 8b4e08 894e0c 0f0b",
    ],
    // a read memo, then a read-modify-write that straddles two writable pages (slow path, no
    // fault): it leaves no write memo, so the store after it still checks page 0x3000's rights.
    // mov eax,[esi]; mov ebx,[esi+4]; mov ecx,[esi+8]; add [esi+0x1ffe],eax; mov [esi+0xc],ecx; ud2
    ["slow path voids", "8b06 8b5e04 8b4e08 0186fe1f0000 894e0c 0f0b"],
    // Loops: the head assumes the memo the previous iteration left (see loopMemo), so each access
    // is checked against the page the last one hit; 64 iterations walk ESI over the boundary.
    // mov ecx,64; L: mov eax,[esi]; add esi,4; dec ecx; jnz L; ud2
    ["loop reads", "b940000000 8b06 83c604 49 75f8 0f0b"],
    // mov ecx,64; L: mov eax,[esi]; mov [esi],eax; add esi,4; dec ecx; jnz L; ud2
    ["loop read and write", "b940000000 8b06 8906 83c604 49 75f6 0f0b"],
    // lea esp,[esi+0x1010]; mov ecx,1100; L: push eax; dec ecx; jnz L; ud2 (from 0x4000 into 0x3000)
    ["loop push", "8da610100000 b94c040000 50 49 75fc 0f0b"],
    // the interpreter helper (CPUID) inside the loop drops the memos: the back edge voids them.
    // mov edi,64; L: mov ebx,[esi]; mov [esi],ebx; cpuid; add esi,4; dec edi; jnz L; ud2
    ["loop with a helper", "bf40000000 8b1e 891e 0fa2 83c604 4f 75f4 0f0b"],
  ];
  const mappings = ["absent", "read-only", "elsewhere"];
  let totalMemo = 0;
  let faults = 0;
  for (const [name, code] of programs)
    for (const map of mappings)
      for (const edx of name === "branch" || name.startsWith("rights") ? [0, 1] : [0])
        for (let esi = 0x2fe2; esi <= 0x3002; esi += 4) {
          const runs = [setup(""), setup("")];
          for (const { c } of runs) {
            const page3 = map === "absent" ? 0 : map === "read-only" ? 0x3000 | 5 : 0x5000 | 7;
            enablePaging(c, (p) => (p === 3 ? page3 : [1, 2, 4, 5].includes(p) ? (p << 12) | 7 : 0));
            for (let a = 0x2000; a < 0x6000; a++) c.ram[a] = (a * 7 + (a >> 8)) & 0xff;
            load(c, 0x1000, hex(code));
            c.r[R_EIP] = 0x1000;
            c.r[ESI] = esi;
            c.r[EDX] = edx;
            c.r[EAX] = 0x11223344;
            c.r[ECX] = 0x55667788;
            c.r[EBP] = 0x99aabbcc;
          }
          const [a, b] = runs;
          runToEnd(a.e, 1000);
          runToEnd(b.c, 1000);
          const what = `${name}, page 0x3000 ${map}, ESI=${esi.toString(16)}, EDX=${edx}`;
          const state = (c: CPU) => [
            ...c.r.subarray(0, 9),
            c.getEflags(),
            c.r[R_CR2],
            c.excVector,
            c.excVector === 14 ? c.excError : -1,
            ...c.ram.subarray(0x2f00, 0x3100),
            ...c.ram.subarray(0x3f00, 0x4100),
            ...c.ram.subarray(0x5000, 0x5100),
          ];
          assert.deepEqual(state(a.c), state(b.c), what);
          if (a.c.excVector === 14) faults++;
          // (A fault in the first block leaves no completed block to count, only the fault.)
          assert.ok(a.e.stats.insnsCompiled + a.e.stats.exitsFault > 0, `${what}: ran compiled`);
          totalMemo += a.e.stats.memoAccesses;
        }
  // The programs really were compiled with memos, and really faulted in many of the cases.
  assert.ok(totalMemo > 100, `accesses compiled with a page memo: ${totalMemo}`);
  assert.ok(faults > 50, `faulting cases: ${faults}`);
});

test("straight-line code: a block cut by its size compiles its successors with it, cold code stops at a page crossing, and code at a page's end compiles", () => {
  // Two loops of 2000 iterations, the accelerator's threshold 32 (as in a boot, blocks compile only
  // once hot, in batches), compared with the interpreter alone. Counted: instructions left to the
  // interpreter (a batch waits up to 256 lookups or 50 ms: a slower host only lowers the counts).
  // `high`: the code runs at linear 0x80000000 + `at` (paging maps it to `at`): EIPs of 2 GiB and
  // up are negative int32 values inside the engine, as all of a Linux kernel's are.
  const run = (code: string, at: number, high = false) => {
    const a = setup("");
    const b = setup("");
    for (const x of [a, b]) {
      load(x.c, at, hex(code));
      x.c.r[R_EIP] = at;
      if (!high) continue;
      enablePaging(x.c, (p) => (p < 4 ? (p << 12) | 7 : 0), 0x200);
      x.c.r[R_EIP] = 0x80000000 + at;
    }
    a.e.threshold = 32;
    runToEnd(a.e, 100_000);
    runToEnd(b.c, 100_000);
    assert.equal(a.c.excVector, 6, "ends at UD2");
    assert.deepEqual(snapshot(a.c), snapshot(b.c));
    return a.e.stats;
  };
  // mov ecx,2000; L: 300 × (inc eax | inc ebx | add edx,eax), no branch; dec ecx; jnz L; ud2.
  // Blocks stop at 64 instructions: without the successors compiled along, each waits for its own
  // misses, and each miss interprets the rest of the line (288,100 interpreted; with: 100,266).
  const body = "40 43 01c2".repeat(100);
  const long = run(
    `b9d0070000 ${body} 49 0f85${le32(-(body.replace(/ /g, "").length / 2 + 7))} 0f0b`,
    0x1000,
  );
  assert.ok(
    long.insnsInterpreted < 150_000,
    `interpreted ${long.insnsInterpreted} of ${long.insnsCompiled + long.insnsInterpreted}`,
  );
  const longHigh = run(
    `b9d0070000 ${body} 49 0f85${le32(-(body.replace(/ /g, "").length / 2 + 7))} 0f0b`,
    0x1000,
    true,
  );
  assert.ok(
    longHigh.insnsInterpreted < 150_000,
    `at 0x80001000: interpreted ${longHigh.insnsInterpreted} of ${longHigh.insnsCompiled + longHigh.insnsInterpreted}`,
  );
  // mov ecx,2000 at 0x1f00; L: 100 × add eax,imm32 (the 51st straddles 0x2000); inc ebx; dec ecx;
  // jnz L; ud2. No block can start at the straddling add or just before it (0x1ff5): the
  // interpreter takes those three and used to go on to the JNZ (156,610 interpreted); it now stops
  // at the first instruction of the next page, where a block starts once hot (103,102).
  const adds = Array.from({ length: 100 }, (_, k) => `05${le32(k * 0x01010101 + 7)}`).join(" ");
  const cross = run(`b9d0070000 ${adds} 43 49 0f85${le32(-(500 + 2 + 6))} 0f0b`, 0x1f00);
  assert.ok(
    cross.insnsInterpreted < 130_000,
    `interpreted ${cross.insnsInterpreted} of ${cross.insnsCompiled + cross.insnsInterpreted}`,
  );
  // A loop in the last 16 bytes of a page (which an instruction starting there might leave): once
  // the interpreter has run it, its instructions are known to end in the page and it compiles.
  // mov ecx,60000; 15 × nop; L (0x1ff4): inc eax; inc ebx; add edx,eax; dec ecx; jnz L; ud2.
  // The batch holding it compiles at the engine's next run() (budget 100,000): before, all
  // 300,017 instructions were interpreted.
  const tail = run(`b960ea0000 ${"90".repeat(15)} 40 43 01c2 49 75f9 0f0b`, 0x1fe0);
  assert.ok(
    tail.insnsInterpreted < 150_000,
    `interpreted ${tail.insnsInterpreted} of ${tail.insnsCompiled + tail.insnsInterpreted}`,
  );
});

/**
 * Run `code` (ending at UD2) with the default threshold, 64, in small budgets, and on the
 * interpreter alone: same state at the end; returns the blocks translated.
 */
function blocksTranslatedAt64(code: string): number {
  const a = setup(code);
  const b = setup(code);
  a.e.threshold = 64;
  runToEnd(a.e, 1_000);
  runToEnd(b.c, 1_000);
  assert.equal(a.c.excVector, 6, "ends at UD2");
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
  return a.e.stats.blocksTranslated;
}

test("cold code that runs long between branches gets hot in fewer visits; short runs still take the threshold", () => {
  // mov ecx,N; L: call F; dec ecx; jnz L; ud2; F: K × (inc eax | inc ebx | add edx,eax); ret. The
  // default threshold (64 visits); each visit to F interprets its whole body up to the RET.
  const run = (visits: number, k: number) =>
    blocksTranslatedAt64(`b9${le32(visits)} e805000000 49 75f8 0f0b ${"40 43 01c2".repeat(k)} c3`);
  // 181 instructions from F to its RET: 1 + 11 bonus a visit, hot at its 6th visit (its block and
  // the two its size cut off are translated). A visit only counted would need 64.
  assert.ok(run(8, 60) >= 1, "F translated within 8 visits");
  // 31 instructions (no bonus below 16, one above): the threshold's 64 visits / 2 = 32.
  assert.equal(run(20, 10), 0, "F, 31 instructions, not translated after 20 visits");
  assert.ok(run(40, 10) >= 1, "F, 31 instructions, translated within 40 visits");
  // 13 instructions: no bonus; nothing translated after 60 visits, as before.
  assert.equal(run(60, 4), 0, "F, 13 instructions, not translated after 60 visits");
});

test("cold code reached from compiled code (a jump-cache miss, a run-loop turn) gets hot in half the visits", () => {
  // mov ebx,N; mov esi,A; O: mov ecx,200; I: dec ecx; jnz I; jmp esi; A: inc eax; dec ebx; jnz O;
  // ud2. The inner loop compiles in the first pass; from then on A is reached from its block through
  // the dispatcher, which misses there: each such visit counts 2 toward the threshold of 64.
  const run = (outer: number) =>
    blocksTranslatedAt64(`bb${le32(outer)} be14100000 b9c8000000 49 75fd ffe6 40 4b 75f2 0f0b`);
  assert.equal(run(20), 1, "after 20 passes only the inner loop is translated");
  assert.ok(run(40) >= 2, "after 40 passes A is translated too (40 visits counted once would not do)");
});

test("while the guest boots with paging on, a block ends where another block starts and goes on there; after user code, or with paging off, it runs through", () => {
  // mov esi,P; call esi; mov esi,A; call esi; ud2; (nops) A: inc ebx; inc ebx; P: inc eax; ret.
  // P is translated first; A then reaches P's start. Threshold 1: every target is hot at once.
  const code = `be20100000 ffd6 be1e100000 ffd6 0f0b ${"90".repeat(14)} 4343 40 c3`;
  const translated = (cpl: number, paging: boolean) => {
    const { c } = setup(code, cpl);
    if (paging) enablePaging(c, (k) => (k << 12) | 7, 0);
    const e = new KqemuEngine(c, cpl === 0 ? "full" : "user", 1);
    runToEnd(e, 10_000);
    assert.equal(c.excVector, 6, "ends at UD2");
    assert.deepEqual([c.r[EAX], c.r[EBX]], [2, 2]);
    return e.stats.insnsTranslated;
  };
  // Kernel code before any user code (the boot): A holds its two INCs and exits to P's block. In
  // user code (the boot is over), A's block runs on through P's INC and RET as well.
  assert.equal(translated(3, true) - translated(0, true), 2);
  // Paging off (the kernel's decompressor), booting or not: A runs through.
  assert.equal(translated(0, false), translated(3, true));
});

test("a block whose loop body holds another block's start still loops inside wasm", () => {
  // CPL 0, full mode: mov ecx,1000; mov esi,P; jmp esi; nop; nop; L: inc ebx; P: inc eax; dec ecx;
  // jnz L; ud2. P is translated first (it exits to L); L then reaches P's start, but the code from
  // there branches back to L: L's block takes the whole loop instead of two dispatches a turn.
  const { c } = setup("b9e8030000 be0f100000 ffe6 9090 43 40 49 75fb 0f0b", 0);
  const e = new KqemuEngine(c, "full", 1);
  runToEnd(e, 100_000);
  assert.equal(c.excVector, 6, "ends at UD2");
  assert.deepEqual([c.r[EAX], c.r[EBX], c.r[ECX]], [1000, 999, 0]);
  assert.ok(e.stats.dispatches < 100, `${e.stats.dispatches} dispatches`);
});

test("an instruction no block starts with, inside a compiled loop, is run from the dispatcher: no run-loop turn each time", () => {
  // CPL 0, full mode: mov ecx,2000; L: inc eax; wbinvd; inc ebx; dec ecx; jnz L; ud2. WBINVD is
  // left to the interpreter (its jump-cache entry says so); the dispatcher steps it and goes on.
  const code = "b9d0070000 40 0f09 43 49 75f9 0f0b";
  const a = setup(code, 0);
  const b = setup(code, 0);
  const e = new KqemuEngine(a.c, "full", 1);
  let turns = 0;
  const run = a.c.run.bind(a.c);
  a.c.run = (budget: number) => {
    turns++;
    return run(budget);
  };
  runToEnd(e, 100_000);
  runToEnd(b.c, 100_000);
  assert.equal(a.c.excVector, 6, "ends at UD2");
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
  assert.ok(e.stats.insnsHelped >= 1990, `WBINVD run for compiled code: ${e.stats.insnsHelped}`);
  assert.ok(turns < 50, `interpreter turns: ${turns}`);
});

/** Little-endian hex of a 32-bit value. */
function le32(v: number): string {
  const b = v >>> 0;
  return [b & 255, (b >>> 8) & 255, (b >>> 16) & 255, b >>> 24]
    .map((x) => x.toString(16).padStart(2, "0"))
    .join("");
}

test("code compiled at one EIP and reached at another (each process's vDSO): translated there only after 3× the threshold in lookups more", () => {
  // Linear page 5 maps the physical page of F (0x1000): inc eax; inc ebx; ret. From 0x2000: mov
  // ecx,200; mov esi,0x1000; L1: call esi; dec ecx; jnz L1; mov ecx,M; mov esi,0x5000; L2: call
  // esi; dec ecx; jnz L2; ud2. F is compiled at 0x1000 in L1's calls; L2 calls the same bytes at
  // 0x5000, where the EIPs baked into F's wasm are wrong: a short-lived process calling its vDSO a
  // few dozen times got its own translation of it, one compile per fork+exec.
  const run = (m: number, relocHeat: number) => {
    const code = `b9${le32(200)} be00100000 ffd6 49 75fb b9${le32(m)} be00500000 ffd6 49 75fb 0f0b`;
    const a = setup(code, 3, 0x2000);
    const b = setup(code, 3, 0x2000);
    for (const { c } of [a, b]) {
      enablePaging(c, (k) => (k === 5 ? 0x1000 : k << 12) | 7);
      load(c, 0x1000, hex("40 43 c3"));
    }
    a.e.threshold = 64;
    a.e.relocHeat = relocHeat;
    runToEnd(a.e, 1_000);
    runToEnd(b.c, 1_000);
    assert.equal(a.c.excVector, 6, "ends at UD2");
    assert.deepEqual(snapshot(a.c), snapshot(b.c));
    return { at5000: compiledStarts(a.e).includes(0x5000), relocations: a.e.stats.relocations };
  };
  // Hot at 0x5000 after 32 visits from compiled code (each counts 2), then 192 lookups more.
  assert.deepEqual(run(100, 3), { at5000: false, relocations: 0 }, "100 calls at 0x5000: interpreted there");
  assert.deepEqual(run(300, 3), { at5000: true, relocations: 1 }, "300 calls at 0x5000: translated there");
  // As before the rule: translated again at the alias once hot there (then waiting for its batch).
  assert.equal(run(100, 0).relocations, 1, "without the rule");
});

test("code compiled at several EIPs (the same bytes mapped at each) and then rewritten: no translation runs on", () => {
  // F (physical 0x1000; linear 0x1000 and pages 5-14): mov eax,0x11111111; ret. From 0x2000: 20
  // rounds calling F at each of its 11 EIPs in turn (translated at each, more than the 8 kept
  // besides the current one), mov dword [0x1001],0x22222222 (F's immediate rewritten), then one
  // call at each EIP with EAX added into EBX; ud2.
  const eips = [0x1000, ...Array.from({ length: 10 }, (_, k) => (5 + k) << 12)];
  const calls = eips.map((at) => `be${le32(at)} ffd6`).join(" ");
  const sums = eips.map((at) => `be${le32(at)} ffd6 01c3`).join(" ");
  const back = (0x100 - (7 * eips.length + 3)) & 0xff; // jnz back to the first call
  const code = `b914000000 ${calls} 49 75${back.toString(16)} c705011000002222222231db ${sums} 0f0b`;
  const a = setup(code, 3, 0x2000);
  const b = setup(code, 3, 0x2000);
  for (const { c } of [a, b]) {
    enablePaging(c, (k) => (k >= 5 && k <= 14 ? 0x1000 : k << 12) | 7);
    load(c, 0x1000, hex("b811111111 c3"));
  }
  // Threshold 1: compiled on first sight, no batches (relocated code after 3 lookups more).
  a.e.threshold = 1;
  runToEnd(a.e, 1_000);
  runToEnd(b.c, 1_000);
  assert.equal(a.c.excVector, 6, "ends at UD2");
  assert.ok(a.e.stats.relocations >= 10, `F translated at each EIP (${a.e.stats.relocations} relocations)`);
  assert.equal(
    a.c.r[EBX],
    Math.imul(0x22222222, eips.length),
    "every call after the write runs the new code",
  );
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
});

test("two-page blocks: a loop across a page boundary runs as one block; a remapped, absent or rewritten second page is seen", () => {
  // Paging maps 0x1000 and 0x2000 identity (user, writable). 0x1fe0: mov ecx,5000; xor ebx,ebx;
  // 17 × nop; L (0x1ff8): add eax,ecx; xor eax,0x12345; rol eax,3 (straddles 0x2000); inc ebx;
  // dec ecx; jnz L; ud2. Then linear 0x2000 changes and the program runs again from 0x1fe0:
  // "remapped" to physical 0x3000 (a copy with rol eax,5), "absent" (#PF at 0x2000 on the first
  // fetch there, CR2 0x2000), "rewritten" (a store changes rol's count in place, then the run).
  const code = `b988130000 31db ${"90".repeat(17)} 01c8 3545230100 c1c003 43 49 75f2 0f0b`;
  for (const change of ["remapped", "absent", "rewritten"]) {
    const runs = [setup(""), setup("")];
    for (const { c } of runs) {
      enablePaging(c, (p) => ([1, 2, 4, 5].includes(p) ? (p << 12) | 7 : 0));
      load(c, 0x1fe0, hex(code));
      c.ram.copyWithin(0x3000, 0x2000, 0x2010);
      c.ram[0x3001] = 5;
    }
    const [a, b] = runs;
    const state = (c: CPU) => [...c.r.subarray(0, 9), c.getEflags(), c.r[R_CR2], c.excVector, c.r[R_EIP]];
    const go = () => {
      for (const { c } of runs) {
        c.r[R_EIP] = 0x1fe0;
        c.r[EAX] = 0x1234567;
      }
      runToEnd(a.e, 100_000);
      runToEnd(b.c, 100_000);
      assert.deepEqual(state(a.c), state(b.c), change);
    };
    go();
    assert.equal(a.c.excVector, 6, "ends at UD2");
    // One self-looping block for L, entered once per dispatcher run; without two-page blocks,
    // L's page holds one block and the next page another, entered 5,000 times each.
    assert.ok(a.e.stats.crossBlocks >= 1, `${a.e.stats.crossBlocks} blocks across two pages`);
    assert.ok(a.e.stats.insnsCompiled > 25_000, `compiled ${a.e.stats.insnsCompiled}`);
    assert.ok(a.e.stats.blocksCompiled <= 2, `${a.e.stats.blocksCompiled} blocks`);
    for (const { c } of runs) {
      if (change === "rewritten") {
        c.r[EDI] = 0x2001;
        c.wr8(0x2001, 7);
        continue;
      }
      const pte = (0x101000 >>> 2) + 2;
      c.ram32[pte] = change === "remapped" ? 0x3000 | 7 : 0;
      c.invlpg(0x2000);
    }
    go();
    assert.equal(a.c.excVector, change === "absent" ? 14 : 6, change);
    if (change === "absent") assert.equal(a.c.r[R_EIP], 0x1fff, "the straddling ROL faults");
  }
});

test("INVLPG runs from inside compiled code and ends its block: the next read goes through the new mapping", () => {
  // CPL 0, paging on. mov ecx,2000; mov edx,0x2007; L: xor edx,0x1000 (the PTE of linear page 2
  // alternates between physical 0x3000 and 0x2000); mov [0x101008],edx; invlpg [0x2000];
  // mov eax,[0x2004]; add ebx,eax; dec ecx; jnz L; ud2. A read through a stale translation would
  // add the other page's word.
  const code = "b9d0070000 ba07200000 81f200100000 891508101000 0f013d00200000 a104200000 01c3 49 75e3 0f0b";
  const { a } = runBoth(
    code,
    (c) => {
      enablePaging(c, (p) => (p < 0x200 ? (p << 12) | 7 : 0));
      c.ram32[0x2004 >>> 2] = 0x1111;
      c.ram32[0x3004 >>> 2] = 0x22000;
    },
    0,
  );
  assert.equal(a.c.r[EBX], 1000 * 0x1111 + 1000 * 0x22000);
  assert.ok(a.e.stats.insnsCompiled > 10_000, `compiled ${a.e.stats.insnsCompiled}`);
  // Run by the interpreter helper from the block, not by the run loop after the block ended before
  // it (then 2,005 instructions were interpreted).
  assert.ok(a.e.stats.insnsInterpreted < 100, `interpreted ${a.e.stats.insnsInterpreted}`);
  assert.ok(a.e.stats.insnsHelped >= 2000, `run from compiled code ${a.e.stats.insnsHelped}`);
});

test("side traces: a loop whose usual path branches out and back to its start runs as one block", () => {
  // mov ecx,3000; mov esi,0x2000; mov edi,2000; L: movzbl (%esi),%eax; inc %esi; and $0x20ff,%esi;
  // cmp $0xe8,%al; jne far; n × add %eax,%ebx; far: `tail`; dec %ecx; jnz L; ud2. One byte in 16 is
  // 0xe8 (as in the x86 BCJ filter of the kernel's XZ decompressor). n = 150 puts far out of reach of
  // a forward skip (a side exit), n = 100 in reach but past the block's size (a skip never joined).
  // Either way the jne's taken path is traced inside L's block back to L: the usual iteration stays
  // in the block's wasm loop instead of costing two dispatches.
  const program = (n: number, tail: string) => {
    const t = hex(tail).length;
    return `b9b80b0000 be00200000 bfd0070000 0fb606 46 81e6ff200000 3ce8 0f85${le32(2 * n)} ${"01c3".repeat(n)} ${tail} 49 0f85${le32(-(25 + 2 * n + t))} 0f0b`;
  };
  const init = (c: CPU) => {
    for (let k = 0; k < 0x100; k++) c.ram[0x2000 + k] = k % 16 === 5 ? 0xe8 : (k * 29) & 0xff;
  };
  for (const n of [150, 100]) {
    // far: add %eax,%edx
    const { a } = runBoth(program(n, "01c2"), init);
    // 3,000 iterations, 188 through the long path; without the trace, at least 6,000 dispatches.
    assert.ok(a.e.stats.dispatches < 1500, `n=${n}: ${a.e.stats.dispatches} dispatches`);
    // A fault inside the trace: far: add %eax,%ebx; xor %edx,%edx; mov %ebx,%eax; div %edi (#DE
    // once EDI reaches 0); dec %edi.
    const code = program(n, "01c3 31d2 89d8 f7f7 4f");
    const x = setup(code);
    const y = setup(code);
    init(x.c);
    init(y.c);
    assert.equal(runToEnd(x.e, 10_000), EXIT_EXCEPTION);
    assert.equal(runToEnd(y.c, 10_000), EXIT_EXCEPTION);
    assert.equal(x.c.excVector, 0, "#DE");
    assert.equal(x.c.r[R_EIP], 0x1000 + 33 + 2 * n + 6, "at the DIV");
    assert.deepEqual(snapshot(x.c), snapshot(y.c));
    assert.ok(x.e.stats.dispatches < 1000, `n=${n}, #DE: ${x.e.stats.dispatches} dispatches`);
  }
});

test("side traces: a loop with two heads stays in the block at its second head, whichever path each iteration takes", () => {
  // mov $0x12345678,%esi; mov $3000,%ecx; mov $EDI,%edi; xor %ebp,%ebp; jmp S;
  // H0: mov %ecx,%eax; xor %edx,%edx; div %edi; dec %edi; dec %ecx; je out; nop;
  // S: 9 × add %esi,%ebx; ror $1,%esi; jnc H0; inc %ebp; add %ebx,%ebp; dec %ecx; jne S; out: ud2.
  // The shape of the XZ decompressor's bit-tree loops: H0 (bit 0) runs on into S, whose JNC (the
  // bit) goes back to H0 and whose JNE to S. The block at S takes H0's code in as a side trace that
  // runs on into its start, so both paths loop inside it; H0's block cannot take S's code in (it is
  // longer than a trace), so without that trace every change of the bit costs a dispatch.
  const program = (edi: number) =>
    `be78563412 b9b80b0000 bf${le32(edi)} 31ed eb0b 89c8 31d2 f7f7 4f 49 741d 90 ${"01f3".repeat(9)} d1ce 73df 45 01dd 49 75e4 0f0b`;
  const { a, b } = runBoth(program(5000), () => {});
  assert.equal(a.c.icount, b.c.icount, "instructions counted");
  // 3,000 iterations, the bit changing at ~1,500 of them.
  assert.ok(a.e.stats.dispatches < 100, `${a.e.stats.dispatches} dispatches`);
  assert.ok(a.e.stats.runOnTraces >= 1, `${a.e.stats.runOnTraces} traces running on into their start`);
  // #DE inside the trace once EDI reaches 0 (after 700 iterations through H0): precise state.
  const x = setup(program(700));
  const y = setup(program(700));
  x.e.exactCount = true;
  assert.equal(runToEnd(x.e, 10_000), EXIT_EXCEPTION);
  assert.equal(runToEnd(y.c, 10_000), EXIT_EXCEPTION);
  assert.equal(x.c.excVector, 0, "#DE");
  assert.equal(x.c.r[R_EIP], 0x1017, "at the DIV");
  assert.deepEqual(snapshot(x.c), snapshot(y.c));
  assert.equal(x.c.icount, y.c.icount, "instructions counted");
  assert.ok(x.e.stats.dispatches < 100, `#DE: ${x.e.stats.dispatches} dispatches`);
});

test("a JMP into the head of another loop ends its block: the loop runs in the block at its head", () => {
  // mov $200,%edi; mov $0x12345678,%esi; O: mov $8,%ecx; jmp S; H0: inc %eax; dec %ecx; je done;
  // nop; S: 9 × add %esi,%ebx; ror $1,%esi; jnc H0; inc %ebp; add %ebx,%ebp; dec %ecx; jne S;
  // done: dec %edi; jne O; ud2 — 200 calls of an 8-bit loop with two heads entered by a JMP, as
  // the XZ decompressor's bit-tree decoder is. O's block ends at its JMP, and S's block loops on both
  // paths: ~3 dispatches per outer iteration (O, S, done). Following the JMP, O's block ran S's
  // code once and left at the first back edge, and the first H0 took one more block.
  const code =
    "bfc8000000 be78563412 b908000000 eb05 40 49 741d 90 " +
    "01f3".repeat(9) +
    " d1ce 73e5 45 01dd 49 75e4 4f 75d5 0f0b";
  const { a, b } = runBoth(code, () => {});
  assert.equal(a.c.icount, b.c.icount, "instructions counted");
  assert.ok(a.e.stats.dispatches <= 3 * 200 + 20, `${a.e.stats.dispatches} dispatches`);
  assert.ok(a.e.stats.loopHeadEnds >= 1, `${a.e.stats.loopHeadEnds} blocks ended at a loop's head`);
  // Not when the loop calls a function on its way back: it leaves its block at each iteration anyway,
  // and the block the return lands in goes on into the loop's head. mov $100,%esi; jmp H; H: dec
  // %esi; je out; call F (0x3000, another page); jmp H; out: ud2; F: inc %eax; ret — two dispatches
  // per iteration (F, the return), not three (F, the return, H).
  const calls = runBoth("be64000000 eb00 4e 7407 e8f11f0000 ebf6 0f0b", (c) => load(c, 0x3000, hex("40c3")));
  assert.equal(calls.a.c.icount, calls.b.c.icount, "instructions counted");
  assert.ok(calls.a.e.stats.dispatches <= 2 * 100 + 10, `calls: ${calls.a.e.stats.dispatches} dispatches`);
});

test("loops carry registers around the back edge in locals: one the interpreter changed inside the loop is read again", () => {
  // mov ecx,1000; mov edx,0x12345; L: add %edx,%ebx; add %ecx,%eax; bsr %ax,%dx (16-bit: run by
  // the interpreter from inside the block: EDX changes in the state block); dec %ecx; jnz L; ud2.
  // The next iteration's head must use that EDX, not the one its local held before the helper.
  const code = "b9e8030000 ba45230100 01d3 01c8 660fbdd0 49 75f5 0f0b";
  const { a } = runBoth(code, () => {});
  assert.ok(a.e.stats.insnsHelped >= 900, `${a.e.stats.insnsHelped} helped`);
  // And a fault in a later iteration finds every carried register written back: the same loop
  // storing EBX through EDI from 0x2100 up to the end of the mapped pages (#PF at 0x3000, iteration 961).
  const faulting = "b9e8030000 ba45230100 bf00210000 01d3 01c8 891f 83c704 49 75f4 0f0b";
  const x = setup(faulting);
  const y = setup(faulting);
  enablePaging(x.c, (k) => (k < 3 ? (k << 12) | 7 : 0));
  enablePaging(y.c, (k) => (k < 3 ? (k << 12) | 7 : 0));
  assert.equal(runToEnd(x.e, 10_000), EXIT_EXCEPTION);
  assert.equal(runToEnd(y.c, 10_000), EXIT_EXCEPTION);
  assert.equal(x.c.excVector, 14, "#PF");
  assert.deepEqual(snapshot(x.c), snapshot(y.c));
});

test("self-modifying code through PUSH, STOS, CALL and read-modify-writes: the instruction completes before the block ends", () => {
  // Each program writes into the page holding its own code, which takes the slow path: beside the
  // code (0x1800: the page's blocks stay) and over bytes of the running block it already executed
  // (which drops it). Either way the block must finish the instruction (ESP, EDI, flags, the
  // exchanged register) before it ends.
  const programs: [string, boolean][] = [
    // mov esp,0x1800; mov eax,0x11223344; push eax; push eax; mov ebx,esp; ud2
    ["bc00180000 b844332211 50 50 89e3 0f0b", false],
    // mov edi,0x1800; mov eax,0x55667788; cld; stosd; stosd; mov ebx,edi; ud2
    ["bf00180000 b888776655 fc ab ab 89fb 0f0b", false],
    // mov esp,0x1800; call next; pop ebx; ud2
    ["bc00180000 e800000000 5b 0f0b", false],
    // mov esi,0x1800; mov eax,5; mov dword [esi],-1; add [esi],eax; setc cl; xchg [esi],eax; ud2
    ["be00180000 b805000000 c706ffffffff 0106 0f92c1 8706 0f0b", false],
    // The same over their own first instructions: pushes to 0x1006 and 0x1002 (both MOVs' bytes)
    ["bc0a100000 b844332211 50 50 89e3 0f0b", true],
    // stosd to 0x1001 and 0x1005
    ["bf01100000 b888776655 fc ab ab 89fb 0f0b", true],
    // CALL pushes its return address over its own bytes (0x1005..0x1008)
    ["bc09100000 e800000000 5b 0f0b", true],
    // read-modify-writes of 0x1001 (the first MOV's immediate)
    ["be01100000 b805000000 c706ffffffff 0106 0f92c1 8706 0f0b", true],
  ];
  for (const [code, own] of programs) {
    const { a, b } = runBoth(code, () => {});
    assert.deepEqual([...a.c.ram.subarray(0xff0, 0x1810)], [...b.c.ram.subarray(0xff0, 0x1810)], code);
    assert.equal(a.c.icount, b.c.icount, `${code}: instructions counted`);
    if (own) assert.ok(a.e.stats.invalidatedPages > 0, `${code}: the block was dropped`);
    else {
      assert.equal(a.e.stats.invalidatedPages, 0, `${code}: no block was dropped`);
      assert.ok(a.e.stats.codeWritesKept > 0, `${code}: the stores went through the code page's slow path`);
    }
  }
});

test("onFirstUserBlock: called once, when the first block of user code is translated, not for kernel blocks", () => {
  // CPL 0: a loop compiled in full mode calls nothing.
  const kernel = setup("b9e8030000 49 75fd 0f0b", 0);
  kernel.e.mode = "full";
  let calls = 0;
  kernel.e.onFirstUserBlock = () => calls++;
  runToEnd(kernel.e, 1000);
  assert.ok(kernel.e.stats.blocksCompiled > 0);
  assert.equal(calls, 0, "no user code yet");
  // CPL 3: two blocks (the loop, then the code after it), one call.
  const user = setup("b9e8030000 49 75fd 43 eb00 0f0b", 3);
  user.e.onFirstUserBlock = () => calls++;
  runToEnd(user.e, 1000);
  assert.ok(user.e.stats.blocksCompiled >= 2, `${user.e.stats.blocksCompiled} blocks`);
  assert.equal(calls, 1);
});

test("BT/BTS/BTR/BTC with a register bit offset: compiled, the memory form addressing the bit string", () => {
  // [ESI+0x40] (ESI = 0x2000) with offsets either side of it, and register forms (BTS EBX,EBX: the
  // offset read before the register changes); each after a logic op (flags left deferred) and after
  // an ADD (the setcf helper), then every condition and EFLAGS read back. No more instructions go
  // to the interpreter than with a NOP in the bit op's place (READ_FLAGS's POP m32 and UD2 do).
  const init = (ebx: number) => (c: CPU) => {
    c.r[EAX] = 0x5a5aa5a5;
    c.r[ECX] = 0x7fffffff;
    c.r[EBX] = ebx;
    c.r[ESI] = 0x2000;
    for (let k = 0; k < 0x100; k++) c.ram[0x2000 + k] = (k * 73 + 11) & 0xff;
  };
  const helped = (form: string, pre: string, ebx: number) => {
    const s = runBoth(`${pre} ${form} ${READ_FLAGS}`, init(ebx)).a.e.stats;
    return s.insnsHelped + s.insnsInterpreted;
  };
  const forms = [
    "0fa35e40",
    "0fab5e40",
    "0fb35e40",
    "0fbb5e40",
    "0fa3d8",
    "0fabd8",
    "0fb3d8",
    "0fbbd8",
    "0fabdb",
    "0fb3db",
  ];
  for (const pre of ["21c0", "01c8"]) {
    const base = helped("90", pre, 5);
    for (const form of forms)
      for (const ebx of [5, 37, -3, -70, 1000, 31, 32])
        assert.equal(helped(form, pre, ebx), base, `${pre} ${form} (EBX ${ebx}): run compiled`);
  }
});

/**
 * `code` from 0x1000, compiled at once (exact instruction counts) and on the interpreter, with page
 * 0xa not present and `init` applied to both: both must stop at the same fault after the same count.
 */
function faultBoth(code: string, init: (c: CPU) => void): CPU[] {
  const runs = [setup(code), setup(code)];
  for (const { c } of runs) {
    enablePaging(c, (k) => (k === 0xa ? 0 : (k << 12) | 7));
    init(c);
  }
  runs[0].e.exactCount = true;
  runToEnd(runs[0].e, 1000);
  runToEnd(runs[1].c, 1000);
  assert.equal(runs[0].c.icount, runs[1].c.icount, "instructions counted");
  assert.ok(runs[0].e.stats.exitsFault + runs[0].e.stats.exitsSlow > 0, "compiled code reached the access");
  return runs.map((r) => r.c);
}

test("BT with a register bit offset: a bit string reaching an unmapped page faults precisely in compiled code", () => {
  // mov $1,%edx; bts %ebx,0x40(%esi); inc %edx; ud2 — the offset 0x40000 bits = 0x8000 bytes past
  // 0x2040: page 0xa is not present, so #PF with CR2 0xa040, EDX already 1, EIP at the BTS.
  const cpus = faultBoth("ba01000000 0fab5e40 42 0f0b", (c) => {
    c.r[EBX] = 0x40000;
    c.r[ESI] = 0x2000;
  });
  for (const c of cpus) {
    assert.equal(c.excVector, 14);
    assert.equal(c.r[R_CR2] >>> 0, 0xa040);
    assert.equal(c.r[R_EIP], 0x1005);
    assert.equal(c.r[EDX], 1);
  }
});

test("CMPXCHG8B compiled: equal and unequal, the other flags kept, as the interpreter", () => {
  // cmpxchg8b 0x40(%esi) after a logic op (flags deferred) and after an ADD; EDX:EAX matching the
  // quadword at 0x2040 or not in its low or high half; then every condition and EFLAGS read back.
  const init = (eax: number, edx: number) => (c: CPU) => {
    for (let k = 0; k < 0x100; k++) c.ram[0x2000 + k] = (k * 73 + 11) & 0xff;
    c.ram32[0x2040 >>> 2] = 0x11223344;
    c.ram32[0x2044 >>> 2] = 0x55667788;
    c.r[EAX] = eax;
    c.r[EDX] = edx;
    c.r[EBX] = 0x0badf00d;
    c.r[ECX] = 0x7eadbeef;
    c.r[ESI] = 0x2000;
  };
  const handedOff = (code: string, eax: number, edx: number) => {
    const s = runBoth(code, init(eax, edx)).a.e.stats;
    return s.insnsHelped + s.insnsInterpreted;
  };
  for (const pre of ["21c0", "01c8", "39c0"]) {
    const base = handedOff(`${pre} 90 ${READ_FLAGS}`, 0, 0);
    for (const [eax, edx] of [
      [0x11223344, 0x55667788],
      [0x11223345, 0x55667788],
      [0x11223344, 0x55667789],
      [0, 0],
    ])
      assert.equal(
        handedOff(`${pre} 0fc74e40 ${READ_FLAGS}`, eax, edx),
        base,
        `${pre} EDX:EAX ${edx}:${eax}: compiled`,
      );
  }
});

test("CMPXCHG8B compiled: a quadword reaching an unmapped page faults before anything is written", () => {
  // mov $1,%edi; cmpxchg8b 0x40(%esi); inc %edi; ud2 with ESI = 0x9fbc: the quadword at 0x9ffc..0xa003,
  // page 0xa not present: #PF with CR2 0xa000, EDI 1, EIP at CMPXCHG8B, the low dword unchanged.
  const cpus = faultBoth("bf01000000 0fc74e40 47 0f0b", (c) => {
    c.r[ESI] = 0x9fbc;
    c.ram32[0x9ffc >>> 2] = 0x12345678;
    c.r[EAX] = 0x12345678;
  });
  for (const c of cpus) {
    assert.equal(c.excVector, 14);
    assert.equal(c.r[R_CR2] >>> 0, 0xa000);
    assert.equal(c.r[R_EIP], 0x1005);
    assert.equal(c.r[EDI], 1);
    assert.equal(c.ram32[0x9ffc >>> 2], 0x12345678, "nothing written");
  }
});

test("unpaged blocks: direct RAM accesses with paging off; once paging is on, the same code goes through the TLB", () => {
  // mov eax,[0x200000]; mov dword [0x200004],0x11111111; ud2 — data above UNPAGED_LO (translate.ts)
  const { c, e } = setup("a100002000 c70504002000 11111111 0f0b");
  c.ram32[0x200000 >>> 2] = 0xaaaa;
  c.ram32[0x300000 >>> 2] = 0xbbbb;
  runToEnd(e, 100);
  assert.equal(c.excVector, 6);
  assert.equal(c.r[EAX], 0xaaaa);
  assert.equal(c.ram32[0x200004 >>> 2], 0x11111111);
  assert.equal(e.stats.unpagedBlocks, 1);
  assert.equal(e.stats.exitsSlow, 0, "both accesses went straight to RAM");
  // Paging on: linear 0x200000 is physical 0x300000 now, the code's page still maps to itself.
  // Entered from a paged block in that page (jmp eax at 0x1800), whose lookup filled the page's TLB
  // entry: the dispatcher finds the jump cache's entry for 0x1000 with the same physical page, and
  // only the entry's unpaged bit tells it that the block there is not for paging.
  c.ram32[0x200004 >>> 2] = 0;
  load(c, 0x1800, hex("ffe0"));
  enablePaging(c, (p) => (p === 0x200 ? 0x300000 : p << 12) | 7);
  c.r[EAX] = 0x1000;
  c.r[R_EIP] = 0x1800;
  c.excVector = -1;
  runToEnd(e, 100);
  assert.equal(c.excVector, 6);
  assert.equal(c.r[EAX], 0xbbbb, "read through the page tables");
  assert.equal(c.ram32[0x300004 >>> 2], 0x11111111, "written through the page tables");
  assert.equal(c.ram32[0x200004 >>> 2], 0);
  assert.equal(e.stats.unpagedBlocks, 1, "translated again, paged");
  assert.ok(e.stats.blocksCompiled >= 2);
});

test("unpaged blocks: the end of RAM, a gate A20 closed and low memory are reached as by the interpreter", () => {
  // mov eax,[0x3ffffc] (RAM's last dword); mov ebx,[0x3ffffe] (across its end); movzx ecx,byte
  // [0x3fffff]; mov edx,[0x400000] (past it); mov esi,[0x100010] (wraps to 0x10 with A20 closed);
  // mov edi,[0xbfffe] (across the VGA window's end); mov [0x3ffffc],edi; mov [0xc0000],eax;
  // stores below the direct range and across its ends: mov [0xbfff8],eax (the VGA window, not RAM);
  // mov [0xbfffe],ebx; mov [0x3ffffe],ecx; ud2
  const code =
    "a1fcff3f00 8b1dfeff3f00 0fb60dffff3f00 8b1500004000 8b3510001000 8b3dfeff0b00 893dfcff3f00 a300000c00 a3f8ff0b00 891dfeff0b00 890dfeff3f00 0f0b";
  for (const a20 of [true, false]) {
    const { a, b } = runBoth(code, (c) => {
      c.setA20(a20);
      for (let k = 0; k < 16; k++) {
        c.ram[0x3ffff0 + k] = 0x40 + k;
        c.ram[0x100010 + k] = 0x80 + k;
        c.ram[0x10 + k] = 0xc0 + k;
        c.ram[0xbfff8 + k] = 0x20 + k;
      }
    });
    assert.deepEqual(
      [...a.c.ram.subarray(0x3ffff0), ...a.c.ram.subarray(0xbfff0, 0xc0010)],
      [...b.c.ram.subarray(0x3ffff0), ...b.c.ram.subarray(0xbfff0, 0xc0010)],
    );
    assert.equal(a.e.stats.unpagedBlocks > 0, a20, `A20 ${a20 ? "open" : "closed"}: unpaged blocks`);
  }
});

test("unpaged blocks: a store to a page holding code (direct-path addresses) is seen by the next execution", () => {
  // At 0x200000: mov byte [0x200011],0x42 (the imm of "mov eax" below); nops; mov eax,0x11111111;
  // mov [0x200f00],eax (beside the code: the page's blocks stay); ud2
  const { c, e } = setup("c6051100200042 90 90 90 90 90 90 90 90 90 b811111111 a3000f2000 0f0b", 3, 0x200000);
  runToEnd(e, 100);
  assert.equal(c.excVector, 6);
  assert.equal(c.r[EAX] >>> 0, 0x11111142, "the patched immediate was executed");
  assert.equal(c.ram32[0x200f00 >>> 2] >>> 0, 0x11111142);
  assert.ok(e.stats.unpagedBlocks >= 1);
  assert.ok(e.stats.invalidatedBlocks >= 1);
  assert.ok(e.stats.codeWritesKept >= 1, "the store beside the code went through the code page's slow path");
});

test("LOCK on a read-modify-write of memory runs compiled as without it; LOCK anywhere else is #UD, as in the interpreter", () => {
  // OP with LOCK on (%esi) (or 0x7fffc: the kernel's smp_mb(), lock addl $0,-4(%esp)); SETcc of all
  // 16 conditions; pushf; pop 0x2090; ud2. Only PUSHF and POP go to the interpreter.
  const locked = [
    ["0106", "0906", "1106", "1906", "2106", "2906", "3106"], // add or adc sbb and sub xor %eax,(%esi)
    ["830601", "8136ff00ff00", "80260f"], // addl $1, xorl $0xff00ff, andb $0xf
    ["ff06", "ff0e"], // incl, decl
    ["0fc106", "0fb11e", "0fba2e07"], // xadd cmpxchg btsl $7
    ["834424fc00"], // lock addl $0,-4(%esp)
  ].flat();
  for (const x of locked)
    for (const [eax, ebx, mem] of [
      [0x7fffffff, 1, 0x80000001],
      [3, 0xfffffffd, 3],
    ])
      runOperands(`f0${x} ${READ_FLAGS}`, eax, ebx, mem, 2);
  // A register destination, CMP, and NOP with LOCK: #UD at the LOCK, in both engines.
  for (const x of ["01c0", "3906", "90"]) {
    const { a } = runBoth(`f0${x} 0f0b`, () => {});
    assert.equal(a.c.r[R_EIP], 0x1000, `lock ${x}: #UD where it stands`);
  }
});

test("MOV from a segment register, and from CR0/CR2/CR3/CR4 at CPL 0, run compiled; above CPL 0 reading a CR is #GP", () => {
  // mov %es,%eax; mov %cs,%ebx; mov %ss,%ecx; mov %ds,%edx; mov %fs,(%esi); mov %gs,%edi;
  // then at CPL 0: mov %cr0,%ebp; mov %cr2,%eax; mov %cr3,%ebx; mov %cr4,%ecx; ud2
  const segs = "8cc0 8ccb 8cd1 8cda 8c26 8cef";
  const crs = "0f20c5 0f20d0 0f20db 0f20e1";
  const init = (c: CPU) => {
    c.r[ESI] = 0x2000;
    c.ram32[0x2000 >>> 2] = 0xa5a5a5a5;
    c.r[R_SEL + FS] = 0x1234;
    c.r[R_SEL + GS] = 0xfedc;
    c.r[R_CR2] = 0xdeadbeef;
    c.r[R_CR3] = 0x123000;
    c.r[R_CR4] = 0x10;
    c.r[EBP] = c.r[EDI] = -1;
  };
  const { a } = runBoth(`${segs} ${crs} 0f0b`, init, 0);
  assert.equal(a.c.r[EDI], 0xfedc, "the selector zero-extended");
  assert.equal(a.c.ram32[0x2000 >>> 2] >>> 0, 0xa5a51234, "two bytes written to memory");
  assert.equal(a.c.r[EAX] >>> 0, 0xdeadbeef);
  assert.equal(a.e.stats.insnsHelped, 0, "compiled, not handed to the interpreter");
  // CPL 3: the selectors compiled, MOV from CR0 raises #GP where it stands.
  const u = setup(`${segs} 0f20c5 0f0b`);
  const v = setup(`${segs} 0f20c5 0f0b`);
  init(u.c);
  init(v.c);
  runToEnd(u.e, 1000);
  runToEnd(v.c, 1000);
  assert.equal(u.c.excVector, 13, "#GP");
  assert.equal(u.c.r[R_EIP], 0x1000 + 12);
  assert.deepEqual(snapshot(u.c), snapshot(v.c));
});

test("TEST of 16-bit operands (register, memory, AX with an immediate) runs compiled with the interpreter's flags", () => {
  // test %ax,%bx; test %ax,(%esi); test $0x8001,%ax; SETcc of all 16 conditions; pushf; pop; ud2
  for (const x of ["6685c3", "668506", "66a90180"])
    for (const [eax, ebx, mem] of [
      [0x12348001, 0xffff8000, 0x00018000],
      [0xffff0000, 0x0000ffff, 0xffff0000],
      [0x00000f0f, 0x0000f0f0, 0x00000001],
    ])
      runOperands(`${x} ${READ_FLAGS}`, eax, ebx, mem, 2);
});

test("REP MOVS/STOS (bytes, dwords) run compiled within a page; across one, with DF set or a destination inside the source, in the interpreter — the same results", () => {
  // mov $n,%ecx; [std;] rep movsb/movsl/stosb/stosl; ud2 — ESI/EDI at chosen offsets of the pages
  // 0x2000 and 0x3000 (snapshot() compares 0x2000..0x20ff; the whole 0x1f00..0x3100 below).
  const cases: [string, number, number, number, number, boolean][] = [
    // [op, ECX, ESI, EDI, EAX, compiled]
    ["f3a4", 0x40, 0x3010, 0x2020, 0, true], // movsb
    ["f3a5", 0x10, 0x3004, 0x2008, 0, true], // movsl
    ["f3a5", 0x400, 0x3000, 0x2000, 0, true], // copy_page
    ["f3aa", 0x33, 0, 0x2011, 0x5a, true], // stosb
    ["f3ab", 0x20, 0, 0x2010, 0, true], // stosl of zero (memory.fill)
    ["f3ab", 0x20, 0, 0x2010, 0x12345678, true], // stosl of a pattern (a loop)
    ["f3ab", 0x0, 0, 0x2010, 0x12345678, true], // ECX = 0
    ["f3aa", 0x20, 0, 0x2ff0, 0x77, false], // crosses into 0x3000
    ["f3a4", 0x40, 0x2010, 0x2020, 0, false], // destination inside the source: bytes repeat
    ["f3a4", 0x40, 0x2020, 0x2010, 0, true], // destination below the source: as memmove
    ["fd f3a4", 0x10, 0x3040, 0x2080, 0, false], // DF set
    ["66f3a5", 0x10, 0x3000, 0x2000, 0, false], // movsw: left to the interpreter
  ];
  for (const [op, ecx, esi, edi, eax, compiled] of cases) {
    const code = `b9${hexLE(ecx)} ${op} 0f0b`;
    const { a, b } = runBoth(code, (c) => {
      c.r[ESI] = esi;
      c.r[EDI] = edi;
      c.r[EAX] = eax;
      for (let k = 0x1f00; k < 0x3100; k++) c.ram[k] = (k * 7) & 0xff;
      // Both pages in the TLB (a miss sends the instruction to the interpreter, which fills it).
      c.tlbLookup(0x2000, true, true);
      c.tlbLookup(0x3000, true, true);
    });
    assert.deepEqual([...a.c.ram.subarray(0x1f00, 0x3100)], [...b.c.ram.subarray(0x1f00, 0x3100)], op);
    assert.equal(a.c.icount, b.c.icount, `${op}: instructions counted`);
    if (compiled) assert.equal(a.e.stats.insnsHelped, 0, `${op} ecx=${ecx}: compiled`);
    if (!compiled) assert.ok(a.e.stats.insnsHelped > 0, `${op} ecx=${ecx}: the interpreter's`);
  }
});

test("REP STOS into the page of the running code goes to the interpreter, which invalidates it", () => {
  // mov $4,%ecx; mov $0x1011,%edi; mov $0x90909090,%eax; rep stosl (over the 16 INT3s that follow,
  // which become NOPs); mov $1,%ebx; ud2 — the stores reach the block's own page.
  const code = `b904000000 bf11100000 b890909090 f3ab ${"cc".repeat(16)} bb01000000 0f0b`;
  const { a } = runBoth(code, () => {});
  assert.equal(a.c.r[EBX], 1, "the rewritten bytes ran as NOPs");
  assert.ok(a.e.stats.insnsHelped > 0, "the interpreter ran the stores");
});

test("RDTSC at CPL 0 runs compiled (the rdtsc helper): EDX:EAX as the interpreter reads them; above CPL 0 the interpreter's", () => {
  // mov $-1,%edx; rdtsc; mov %eax,%ebx; mov %edx,%ecx; rdtsc; ud2 — the test bus's clock stands
  // still, so both reads give the offset: above 2^32, EDX non-zero.
  const code = "baffffffff 0f31 89c3 89d1 0f31 0f0b";
  for (const cpl of [0, 3]) {
    const { a } = runBoth(
      code,
      (c) => {
        c.tscOffset = 0x1_2345_6789;
      },
      cpl,
    );
    assert.deepEqual([a.c.r[EDX], a.c.r[EAX], a.c.r[ECX]], [1, 0x23456789, 1]);
    if (cpl === 0) assert.equal(a.e.stats.insnsHelped, 0, "compiled");
    else assert.equal(a.e.stats.insnsHelped, 2, "the interpreter's at CPL 3");
  }
});

test("SHLD/SHRD by CL (register and memory destinations, counts 0 to 33) run compiled with the interpreter's results and flags", () => {
  // PRODUCER; mov $n,%ecx; SHxD %cl,%eax,%ebx or SHxD %cl,%eax,(%esi); SETcc of all 16 conditions;
  // pushf; pop 0x2090; ud2. A zero count (0 or 32) leaves the producer's flags: ADD's deferred, a
  // logic op's, INC's. Only PUSHF and POP go to the interpreter.
  for (const p of ["01c3", "21c3", "43"])
    for (const opc of ["a5", "ad"])
      for (const count of [0, 1, 4, 31, 32, 33])
        for (const modrm of ["c3", "06"])
          for (const [eax, ebx] of [
            [0x80000001, 0x40000003],
            [0x12345678, 0x9abcdef0],
            [0xffffffff, 0x80000001], // ADD sets CF
            [0x7fffffff, 0x7fffffff], // ADD sets OF
          ]) {
            const code = `${p} b9${hexLE(count)} 0f${opc} ${modrm} ${READ_FLAGS}`;
            runOperands(code, eax, ebx, ebx ^ 0x0ff0f00f, 2);
          }
});

test("REPE/REPNE CMPSB and SCASB run compiled up to the end of a page, the interpreter going on from there; results and flags as the interpreter's", () => {
  // mov $n,%ecx; [std;] repe/repne cmpsb/scasb; SETcc of all 16 conditions; pushf; pop 0x2090;
  // ud2 — strings at 0x2100.. (EDI) and 0x3100.. (ESI), equal up to 0x20 bytes, then different;
  // AL = 0x11 appears first at EDI + 0x30.
  const cases: [string, number, number, number, boolean][] = [
    // [op, ECX, ESI, EDI, compiled]
    ["f3a6", 0x10, 0x3100, 0x2100, true], // repe cmpsb: equal all the way
    ["f3a6", 0x40, 0x3100, 0x2100, true], // stops at the first difference
    ["f2a6", 0x40, 0x3120, 0x2100, true], // repne cmpsb: stops at an equal pair
    ["f2ae", 0xffffffff, 0, 0x2100, true], // repne scasb (strlen-like): finds AL
    ["f3ae", 0x40, 0, 0x2130, true], // repe scasb: the run of AL's
    ["f3a6", 0, 0x3100, 0x2100, false], // ECX = 0: nothing, flags kept
    ["f2ae", 0xffffffff, 0, 0x2ff8, false], // reaches the page's end: the interpreter goes on
    ["f3a6", 0x40, 0x3ffc, 0x20fc, false], // equal up to the end of the source's page: the interpreter goes on
    ["fd f3a6", 0x10, 0x3110, 0x2110, false], // DF set
  ];
  for (const [op, ecx, esi, edi, compiled] of cases) {
    const code = `01c3 b9${hexLE(ecx)} ${op} ${READ_FLAGS}`; // add %eax,%ebx first: flags to keep
    const { a } = runBoth(code, (c) => {
      c.r[EAX] = 0xffffff11;
      c.r[EBX] = 0x7fffffff;
      c.r[ESI] = esi;
      c.r[EDI] = edi;
      for (let k = 0; k < 0x1000; k++) c.ram[0x2000 + k] = c.ram[0x3000 + k] = (k * 13) & 0xff;
      c.ram.fill(0x5a, 0x2120, 0x2130);
      c.ram.fill(0x11, 0x2130, 0x2138);
      c.ram.fill(0x11, 0x3140, 0x3148);
      c.ram.fill(0x22, 0x2ff0, 0x3000);
      c.ram[0x3000] = 0x11;
      // Both pages in the TLB (a miss sends the instruction to the interpreter, which fills it).
      c.tlbLookup(0x2000, false, true);
      c.tlbLookup(0x3000, false, true);
    });
    const helped = a.e.stats.insnsHelped;
    if (compiled) assert.equal(helped, 1, `${op} ecx=${ecx}: compiled (the final UD2 helped)`);
    else assert.ok(helped > 1, `${op} ecx=${ecx}: the interpreter's`);
  }
});

test("a reload compiled at CPL 3 of a selector DS got at CPL 0 goes to the interpreter: #GP for a DPL 0 segment, as the interpreter raises it", () => {
  // SYSEXIT returns to CPL 3 with DS as the kernel left it (SDM Vol. 2B, SYSEXIT: no segment
  // checks): here the flat ring-0 data segment 0x10, loaded at CPL 0. At CPL 3 a MOV of that
  // selector (RPL 0) must fault (SDM Vol. 3A, 5.4.1: DPL 0 < CPL 3), although the descriptor bytes
  // are those DS was loaded from: what compiled code compares records the CPL of the load too.
  // mov ds,ax; mov edx,[0x2000]; ud2
  const code = "8ed8 8b1500200000 0f0b";
  const a = setup(code);
  const b = setup(code);
  for (const c of [a.c, b.c]) {
    c.ram.set(hex("0000000000000000 0000000000000000 ffff00000093cf00"), 0x2080);
    c.r[R_GDTR_BASE] = 0x2080;
    c.r[R_GDTR_LIMIT] = 0x17;
    c.r[R_CPL] = 0;
    loadSeg(c, DS, 0x10);
    c.r[R_CPL] = 3;
    c.r[EAX] = 0x10;
  }
  runToEnd(a.e, 1000);
  runToEnd(b.c, 1000);
  for (const c of [a.c, b.c]) assert.deepEqual([c.excVector, c.excError, c.r[R_EIP]], [13, 0x10, 0x1000]);
  assert.ok(a.e.stats.blocksCompiled > 0, "the MOV's block was compiled");
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
});

test("a DS or ES loaded with a segment that is not flat stops compiled code: the next block, compiled for flat segments, does not run", () => {
  // GDT: 0x10 flat data, 0x18 data based at 0x4000 (both DPL 3, 4 GiB).
  const gdt = "0000000000000000 0000000000000000 ffff000000f3cf00 ffff004000f3cf00";
  for (const [load, use] of [
    ["8ed8", "a110000000"], // mov ds,ax; mov eax,[0x10]
    ["07", "26a110000000"], // pop es; mov eax,es:[0x10]
  ]) {
    const code = `${load} ${use} 0f0b`;
    const start = 0x1000 + load.length / 2;
    const init = (c: CPU) => {
      load === "07" ? c.ram.set([0x1b, 0, 0, 0], 0x7fffc) : (c.r[EAX] = 0x1b);
      c.r[ESP] = load === "07" ? 0x7fffc : 0x80000;
      c.ram[0x10] = 0x11;
      c.ram[0x4010] = 0x44;
    };
    const a = setup(`${code}`);
    const b = setup(`${code}`);
    for (const x of [a.c, b.c]) {
      x.ram.set(hex(gdt), 0x3000);
      x.r[R_GDTR_BASE] = 0x3000;
      x.r[R_GDTR_LIMIT] = 0x1f;
    }
    // The block after the load compiled first (the engine compiles on first sight here), and in
    // the jump cache: the load's block ends where it starts.
    a.c.r[R_EIP] = start;
    runToEnd(a.e, 1000);
    assert.ok(a.e.stats.insnsCompiled > 0);
    a.c.r[R_EIP] = 0x1000;
    init(a.c);
    init(b.c);
    runToEnd(a.e, 1000);
    runToEnd(b.c, 1000);
    assert.equal(b.c.r[EAX] & 0xff, 0x44, "read through the segment's base");
    assert.deepEqual(snapshot(a.c), snapshot(b.c));
  }
});

test("the jump cache keeps two blocks whose EIPs share a set: a loop between them needs no block-map lookups; either one rewritten is dropped", () => {
  // 0x2000, 0x4ac2 and 0x11037 hash to one set (Fibonacci hash, 2^15 sets).
  // A (0x2000): dec ecx; jz 0x3000; jmp B     B (0x4ac2): inc ebx; jmp A     0x3000: ud2
  const rel = (from: number, to: number) => hexLE((to - from) | 0);
  const a = `49 0f84${rel(0x2007, 0x3000)} e9${rel(0x200c, 0x4ac2)}`;
  const b = `43 e9${rel(0x4ac8, 0x2000)}`;
  const x = setup(a, 3, 0x2000);
  const y = setup(a, 3, 0x2000);
  for (const m of [x, y]) {
    load(m.c, 0x4ac2, hex(b));
    load(m.c, 0x3000, hex("0f0b"));
    m.c.r[ECX] = 2000;
  }
  runToEnd(x.e, 100_000);
  runToEnd(y.c, 100_000);
  assert.deepEqual(snapshot(x.c), snapshot(y.c));
  assert.equal(x.c.r[EBX], 1999);
  assert.ok(x.e.stats.lookups < 20, `${x.e.stats.lookups} block-map lookups for 4,000 transitions`);
  // A third block of that set (C at 0x11037: inc edx; jmp A) evicts the older one only.
  // Then A, now the older entry of its set, is rewritten (dec ecx → dec edi): its block must go.
  for (const m of [x, y]) {
    load(m.c, 0x11037, hex(`42 e9${rel(0x1103d, 0x2000)}`));
    m.c.r[R_EIP] = 0x11037;
    m.c.r[ECX] = 10;
    runToEnd(m === x ? x.e : y.c, 100_000);
    load(m.c, 0x2000, [0x4f]);
    m.c.r[R_EIP] = 0x2000;
    m.c.r[EDI] = 3;
    m.c.r[ECX] = 1000;
    runToEnd(m === x ? x.e : y.c, 100_000);
  }
  assert.deepEqual(snapshot(x.c), snapshot(y.c));
  assert.equal(x.c.r[EDI], 0, "the rewritten instruction ran");
});

test("MOV/POP of the selector a data segment register holds, from unchanged descriptor bytes, runs compiled; a changed descriptor goes to the interpreter (accessed bit set again, #NP)", () => {
  // GDT at 0x2080: 0x10 a flat ring-0 data segment, its accessed bit clear at first (0x92).
  // L: mov ds,ax; push eax; pop es; mov edx,[0x2000]; add esi,edx; test cl,7; jnz +7;
  //    and byte [0x2095],0xfe (every 8th time round: the accessed bit cleared); dec ecx; jnz L; ud2
  const code = "8ed8 50 07 8b1500200000 01d6 f6c107 7507 802595200000fe 49 75e5 0f0b";
  const init = (c: CPU) => {
    c.ram.set(hex("0000000000000000 0000000000000000 ffff00000092cf00"), 0x2080);
    c.r[R_GDTR_BASE] = 0x2080;
    c.r[R_GDTR_LIMIT] = 0x17;
    c.r[EAX] = 0x10;
    c.r[ECX] = 40;
    c.ram32[0x2000 >>> 2] = 0x1234;
  };
  const { a, b } = runBoth(code, init, 0);
  assert.equal(a.c.ram[0x2095], 0x93, "the last reload set the accessed bit again");
  assert.equal(a.c.r[ESI], 40 * 0x1234);
  // The first load of each register and the reloads after each clearing of the accessed bit (6)
  // are the interpreter's; the other 74 run compiled.
  assert.ok(a.e.stats.insnsHelped <= 10, `${a.e.stats.insnsHelped} instructions handed to the interpreter`);
  for (const x of [a.c, b.c]) assert.deepEqual([x.r[R_SEL + DS], x.r[R_SEL + ES]], [0x10, 0x10]);
  // Another selector whose descriptor has the same bytes: loaded (the interpreter's), not kept.
  for (const x of [a, b]) {
    x.c.ram.set(hex("ffff00000093cf00"), 0x2098);
    x.c.r[R_GDTR_LIMIT] = 0x1f;
    x.c.r[EAX] = 0x18;
    x.c.r[R_EIP] = 0x1000;
    x.c.r[ECX] = 3;
  }
  runToEnd(a.e, 1000);
  runToEnd(b.c, 1000);
  for (const x of [a.c, b.c]) assert.deepEqual([x.r[R_SEL + DS], x.r[R_SEL + ES]], [0x18, 0x18]);
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
  // Not present now: the next reload raises #NP(0x10) at the MOV, in both.
  for (const x of [a, b]) {
    x.c.ram[0x2095] = 0x13;
    x.c.r[EAX] = 0x10;
    x.c.r[R_EIP] = 0x1000;
    x.c.r[ECX] = 5;
  }
  runToEnd(a.e, 1000);
  runToEnd(b.c, 1000);
  for (const x of [a.c, b.c]) assert.deepEqual([x.excVector, x.excError, x.r[R_EIP]], [11, 0x10, 0x1000]);
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
});

/** FS's and GS's descriptor caches as the state block holds them (what compiled code writes). */
function fsGsCache(c: CPU): number[] {
  return [FS, GS].flatMap((s) => [
    c.r[R_SEL + s],
    c.r[R_SEGBASE + s],
    c.r[R_SEGLIMIT + s],
    c.r[R_SEGATTR + s],
    c.r[R_SEGFAST + s],
    c.r[R_SEGFLAT + s],
    c.r[R_SEGRAW + 2 * s],
    c.r[R_SEGRAW + 2 * s + 1],
    c.r[R_SEGRAWCPL + s],
  ]);
}

// GDT at 0x3000 for the FS/GS loads: 0x10 flat ring-0 data; 0x18 ring-0 data based at 0x4000 (4 GiB,
// accessed); 0x20 like 0x10 with its accessed bit clear; 0x28 not present; 0x30 execute-only code;
// 0x38 readable conforming code; 0x40 data based at 0x5000 with a byte-granular limit of 0xfff;
// 0x48 ring-3 flat data.
const FSGS_GDT =
  "0000000000000000 0000000000000000 ffff00000093cf00 ffff00400093cf00 ffff00000092cf00 " +
  "ffff00000013cf00 ffff00000099cf00 ffff0000009fcf00 ff0f00500093 0000 ffff000000f3cf00";

function fsGsSetup(code: string, cpl: number) {
  const x = setup(code, cpl);
  if (cpl === 0) x.e.mode = "full";
  x.c.ram.set(hex(FSGS_GDT), 0x3000);
  x.c.r[R_GDTR_BASE] = 0x3000;
  x.c.r[R_GDTR_LIMIT] = 0x4f;
  return x;
}

test("MOV/POP to FS and GS run compiled, null selector included: the same caches, flatness and reads as the interpreter's", () => {
  // L: mov fs,eax (0x18, base 0x4000); mov edx,fs:[0x10]; add esi,edx; push 0; pop gs (null);
  //    push ebx; pop gs (0x10, flat); mov edi,gs:[0x2010]; add esi,edi; mov fs,ebp (0x40: base
  //    0x5000, limit 0xfff); dec ecx; jnz L; add esi,fs:[0x20]; mov gs,ebp; ud2
  const code =
    "8ee0 648b1510000000 01d6 6a00 0fa9 53 0fa9 658b3d10200000 01fe 8ee5 49 75e0 64033520000000 8eed 0f0b";
  const init = (c: CPU) => {
    c.r[EAX] = 0x18;
    c.r[EBX] = 0x10;
    c.r[EBP] = 0x40;
    c.r[ECX] = 50;
    c.ram32[0x4010 >>> 2] = 3;
    c.ram32[0x2010 >>> 2] = 5;
    c.ram32[0x5020 >>> 2] = 7;
    // The pages it touches in the TLB (a miss sends the instruction to the interpreter, which fills it).
    for (const lin of [0x2000, 0x3000, 0x4000, 0x5000, 0x7f000]) c.tlbLookup(lin, true, false);
  };
  const a = fsGsSetup(code, 0);
  const b = fsGsSetup(code, 0);
  init(a.c);
  init(b.c);
  runToEnd(a.e, 10_000);
  runToEnd(b.c, 10_000);
  for (const x of [a.c, b.c]) assert.deepEqual([x.excVector, x.r[ESI]], [6, 50 * 8 + 7]);
  assert.deepEqual(snapshot(a.c), snapshot(b.c));
  assert.deepEqual(fsGsCache(a.c), fsGsCache(b.c));
  assert.deepEqual([...a.c.segFlat], [...b.c.segFlat]);
  assert.equal(a.c.r[R_SEGBASE + FS], 0x5000);
  assert.deepEqual([a.c.segFlat[FS], a.c.segFlat[GS]], [0, 0]);
  // Every load ran in compiled code; only the access through FS's segment with a 4 KiB limit
  // (after the loop) is the interpreter's (compiled code takes only 4 GiB ones: R_SEGFAST).
  assert.ok(a.e.stats.insnsCompiled >= 50 * 12, `${a.e.stats.insnsCompiled} compiled`);
  assert.equal(a.e.stats.insnsHelped, 1);
});

test("MOV to FS or GS the compiled check refuses goes to the interpreter: accessed bit set, #GP, #NP, at CPL 0 and 3", () => {
  // mov fs,eax; mov gs,eax; ud2
  const code = "8ee0 8ee8 0f0b";
  for (const [cpl, sel, want] of [
    [0, 0x20, 6], // accessed bit clear: the interpreter sets it, then UD2
    [0, 0x28, 11], // not present: #NP
    [0, 0x30, 13], // execute-only code: #GP
    [0, 0x38, 6], // readable conforming code: loaded
    [0, 0x13, 13], // RPL 3 > DPL 0 (a data segment): #GP
    [0, 0x50, 13], // past the GDT's limit
    [0, 0x0c, 13], // LDT selector, no LDT
    [3, 0x4b, 6], // ring-3 data at CPL 3
    [3, 0x10, 13], // ring-0 data at CPL 3: #GP
    [3, 0x03, 6], // null with RPL 3
  ]) {
    const a = fsGsSetup(code, cpl);
    const b = fsGsSetup(code, cpl);
    for (const x of [a.c, b.c]) {
      x.r[EAX] = sel;
      // The GDT's page in the TLB, readable at this CPL, so that compiled code makes the checks.
      x.tlbLookup(0x3000, false, cpl === 3);
    }
    runToEnd(a.e, 1000);
    runToEnd(b.c, 1000);
    const what = `cpl ${cpl} selector ${sel.toString(16)}`;
    assert.equal(a.c.excVector, want, what);
    assert.deepEqual(
      [a.c.excVector, a.c.excError, a.c.r[R_EIP]],
      [b.c.excVector, b.c.excError, b.c.r[R_EIP]],
      what,
    );
    assert.deepEqual(fsGsCache(a.c), fsGsCache(b.c), what);
    assert.deepEqual([...a.c.segFlat], [...b.c.segFlat], what);
    assert.deepEqual(snapshot(a.c), snapshot(b.c), what);
    assert.deepEqual([...a.c.ram.subarray(0x3000, 0x3050)], [...b.c.ram.subarray(0x3000, 0x3050)], what);
    if (want === 6 && sel !== 0x20) assert.equal(a.e.stats.insnsHelped, 0, `${what}: compiled`);
  }
});

test("after the boot, a user block translated as a loop is compiled at once in a module of its own, optimized through compileHot once the dispatcher stopped 4 times at its head; during the boot or at CPL 0, batched", () => {
  // ecx=1000; L: add eax,ecx; xor eax,0x5a5a; dec ecx; jnz L; ud2
  const code = "b9e8030000 01c8 355a5a0000 49 75f6 0f0b";
  const hot = (cpl: number, budget: number, booted = false) => {
    const a = setup(code, cpl);
    if (cpl === 0) a.e.mode = "full";
    // As if user code had run before (the boot is over when the first user block is translated).
    if (booted) (a.e as unknown as { booting: boolean }).booting = false;
    const modules: Uint8Array[] = [];
    a.e.compileHot = (bytes) => {
      modules.push(bytes.slice());
      return new WebAssembly.Module(bytes);
    };
    const b = setup(code, cpl);
    runToEnd(a.e, budget);
    runToEnd(b.c, 10_000);
    assert.deepEqual(snapshot(a.c), snapshot(b.c));
    return { modules, stats: a.e.stats };
  };
  // CPL 3: the first user block ends the boot; the loop's translation comes after, alone. Run to
  // its end in one turn, it stays in baseline code.
  const once = hot(3, 10_000);
  assert.equal(once.stats.loopsAlone, 1, "the loop compiled alone");
  assert.equal(once.modules.length, 0, "not optimized");
  assert.equal(once.stats.hotLoops, 0);
  // Stopped at its head by the budget again and again: optimized at the 4th stop, from bytes that
  // differ from its baseline module's (V8 would return the cached module for the same bytes), and
  // the program goes on in the new code to the same end.
  const long = hot(3, 100);
  assert.equal(long.stats.loopsAlone, 1);
  assert.equal(long.modules.length, 1, "optimized once");
  assert.equal(long.stats.hotLoops, 1);
  assert.deepEqual(
    [...(long.modules[0] as Uint8Array).subarray(-4)],
    [0, 2, 1, 0x6f],
    "a custom section appended",
  );
  // CPL 0 before any user code: still booting, the loop waits in a batch like any block.
  const boot = hot(0, 100);
  assert.equal(boot.modules.length, 0);
  assert.equal(boot.stats.loopsAlone, 0);
  assert.ok(boot.stats.insnsCompiled > 1000, "compiled all the same");
  // CPL 0 after the boot: the kernel's loops run briefly at each call, batched too.
  const kernel = hot(0, 100, true);
  assert.equal(kernel.modules.length, 0);
  assert.equal(kernel.stats.loopsAlone, 0);
  assert.ok(kernel.stats.insnsCompiled > 1000, "compiled all the same");
});

test("BSF/BSR (register and memory sources) run compiled: the index, ZF, a zero source leaving the destination, the other flags kept", () => {
  // PRODUCER; BSF/BSR %ebx or (%esi) into %eax; READ_FLAGS (every condition, PUSHF, POP m32).
  // xor, add, inc, shl (flags deferred or in the state block), and none.
  const producers = ["31c9", "01c9", "41", "d1e1", "90"];
  for (const p of producers)
    for (const op of ["bc", "bd"])
      for (const modrm of ["c3", "06"])
        for (const src of [0, 1, 0x80000000, 0x00f0f000, -1]) {
          const code = `b9f0ffff7f ${p} 0f${op}${modrm} ${READ_FLAGS}`;
          // Only the final UD2 is handed to the interpreter (which raises the #UD): BSF/BSR, PUSHF
          // and POP m32 are compiled.
          runOperands(code, 0x12345678, src, src, 1);
        }
});

test("POPF runs compiled at CPL 0 and 3: the bits CPL and IOPL let change, as the interpreter; TF set ends the block with the interpreter's #DB", () => {
  // PRODUCER; push $value; popf; READ_FLAGS — from IOPL 0 or 3, IF clear or set.
  const values = [0, 0x0ed5, 0x3200, 0x40cd5, 0x200000 | 0x2d5, 0x4000 | 0x200];
  for (const cpl of [0, 3])
    for (const start of [0x002, 0x3202, 0x0202])
      for (const p of ["31c0", "01c0", "90"])
        for (const v of values) {
          const { a } = runBoth(
            `${p} 68${hexLE(v)} 9d ${READ_FLAGS}`,
            (c) => {
              c.r[R_EFLAGS] = start;
            },
            cpl,
          );
          // The final UD2 only (the interpreter raises its #UD).
          assert.equal(
            a.e.stats.insnsHelped,
            1,
            `cpl ${cpl} eflags ${start.toString(16)} popf ${v.toString(16)}: compiled`,
          );
        }
  // TF popped: the single-step trap comes after the next instruction (inc %ecx), in both; its
  // delivery finds no IDT here (#GP at 0x1007, after one INC).
  for (const cpl of [0, 3]) {
    const code = "68 00010000 9d 41 41 0f0b";
    const a = setup(code, cpl);
    if (cpl === 0) a.e.mode = "full";
    const b = setup(code, cpl);
    runToEnd(a.e, 1000);
    runToEnd(b.c, 1000);
    assert.deepEqual([b.c.r[R_EIP], b.c.r[ECX]], [0x1007, 1], "trapped after one instruction");
    assert.deepEqual(
      [a.c.excVector, a.c.r[R_EIP], a.c.r[ECX], a.c.getEflags()],
      [b.c.excVector, b.c.r[R_EIP], b.c.r[ECX], b.c.getEflags()],
    );
  }
});

test("POP m32 runs compiled unless its address uses ESP; a faulting write leaves ESP as it was", () => {
  // push $0x11111111; push $0x22222222; push $0x33333333; pop (%esi); pop 0x10(%esi,%ebx,4);
  // pop 8(%esp) (the address after the increment: the interpreter's); READ_FLAGS.
  const { a } = runBoth(`6811111111 6822222222 6833333333 8f06 8f449e10 8f442408 ${READ_FLAGS}`, (c) => {
    c.r[ESI] = 0x2000;
    c.r[EBX] = 3;
    c.r[ESP] = 0x2100;
  });
  assert.deepEqual(
    [...a.e.untranslated].map(([k, n]) => [k >> 3, n]),
    [
      [0x8f, 1],
      [0x10b, 1],
    ],
    "only the ESP-based POP (and the final UD2) left untranslated",
  );
  // mov $1,%edi; pop 0x40(%esi) into unmapped page 0xa; inc %edi; ud2.
  const cpus = faultBoth("bf01000000 8f4640 47 0f0b", (c) => {
    c.r[ESI] = 0x9fe0;
    c.r[ESP] = 0x8000;
  });
  for (const c of cpus) {
    assert.equal(c.excVector, 14);
    assert.equal(c.r[R_CR2] >>> 0, 0xa020);
    assert.equal(c.r[R_EIP], 0x1005);
    assert.equal(c.r[ESP], 0x8000, "ESP as before the POP");
    assert.equal(c.r[EDI], 1);
  }
});
