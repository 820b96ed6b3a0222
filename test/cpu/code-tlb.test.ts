// Self-modifying code against TLB entries: pages holding decoded or compiled code have no write
// right in the TLB (CPU.markCodePage()), so stores to them take the slow path, which invalidates.
// The entry that matters here was filled *before* the page held code, for another linear page
// mapping the same physical page (an alias), so no instruction fetch refills it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KqemuEngine } from "../../src/accel/kqemu/engine.ts";
import { type CPU, EXIT_BUDGET } from "../../src/cpu/cpu.ts";
import { CR0_PG, EBX, ECX, EDX, ESI, R_CR0, R_CR3, R_EIP } from "../../src/cpu/state.ts";
import { flat32, hex, load, makeCpu } from "./helpers.ts";

type Engine = "interpreter" | "kqemu";

/** A flat CPL-3 CPU with `code` at 0x1000 (EIP there), exceptions trapped. */
function setup(code: string): CPU {
  const c = makeCpu(4);
  flat32(c, 3);
  c.trapExceptions = true;
  load(c, 0x1000, hex(code));
  c.r[R_EIP] = 0x1000;
  return c;
}

/** Run on `engine` (kqemu compiles everything at once) until the final UD2. */
function runToUd2(c: CPU, engine: Engine): void {
  const e = engine === "kqemu" ? new KqemuEngine(c, "user", 1) : c;
  let ex: number;
  do ex = e.run(1000);
  while (ex === EXIT_BUDGET);
  assert.equal(c.excVector, 6, "ends at UD2");
}

// 1000: nop (patched through the alias 0x401000 into inc %ebx); dec %ecx; je 100d;
// movb $0x43,0x401000; jmp 1000; 100d: ud2
const CODE = "90 49 7409 c60500104000 43 ebf3 0f0b";

for (const engine of ["interpreter", "kqemu"] as Engine[]) {
  test(`${engine}: a store through a TLB entry filled before its page held code is seen by the next fetch`, () => {
    const c = setup(CODE);
    identityPaging(c);
    c.wr8(0x401f00, 0); // a writable TLB entry for the alias, before any code in the page is decoded
    c.r[ECX] = 3;
    c.r[EBX] = 0;
    runToUd2(c, engine);
    assert.equal(c.r[EBX], 2, "the patched instruction ran on the second and third passes");
  });
}

for (const engine of ["interpreter", "kqemu"] as Engine[]) {
  test(`${engine}: a store to the very next instruction is seen (a decoded successor is not reused)`, () => {
    // 1000: mov %bl,(%esi) — to data on the first pass, then to 1002; 1002: nop (becomes inc %edx);
    // mov $0x1002,%esi; dec %ecx; jne 1000; ud2. The store's decoded form stays cached across
    // passes (its first store hit data), so it is the one that already knows its old successor.
    const c = setup("881e 90 be02100000 49 75f5 0f0b");
    c.r[ECX] = 3;
    c.r[EBX] = 0x42;
    c.r[ESI] = 0x2000;
    c.r[EDX] = 0;
    runToUd2(c, engine);
    assert.equal(c.r[EDX], 2, "passes 2 and 3 ran the patched instruction");
  });
}

for (const engine of ["interpreter", "kqemu"] as Engine[]) {
  test(`${engine}: a store to a branch's target is seen (the branch's last target is not reused)`, () => {
    // 1000: jmp 1010; 1002: ud2; nops; 1010: inc %ebx (becomes inc %edx); movb $0x42,0x1010;
    // dec %ecx; jne 1000; ud2. The JMP's decoded form keeps the instruction it last went on to.
    const c = setup(`eb0e 0f0b ${"90".repeat(12)} 43 c60510100000 42 49 75e5 0f0b`);
    c.r[ECX] = 3;
    c.r[EBX] = 0;
    c.r[EDX] = 0;
    runToUd2(c, engine);
    assert.deepEqual([c.r[EBX], c.r[EDX]], [1, 2], "passes 2 and 3 ran the patched instruction");
  });
}

// Supervisor accesses (descriptor tables, TSS, interrupt frames) take the TLB fast path too: only
// with the rights the walk would grant, so a clean page still gets its dirty bit and a page holding
// code still has its decoded instructions dropped.
test("supervisor writes through the TLB: the first write to a clean page sets its dirty bit", () => {
  const c = setup("0f0b");
  const { pt } = identityPaging(c);
  const pte = (pt >>> 2) + 5;
  c.ram32[pte] = 0x5000 | 3; // present, writable, not accessed, clean
  assert.equal(c.readLinear32Sup(0x5000), 0, "a read fills the TLB entry");
  assert.equal(c.ram32[pte] & 0x60, 0x20, "accessed, still clean");
  c.writeLinear32Sup(0x5000, 0x12345678);
  assert.equal(c.ram32[pte] & 0x60, 0x60, "accessed and dirty");
  assert.equal(c.readLinear32Sup(0x5000), 0x12345678);
  c.writeLinear16Sup(0x5ffe, 0xabcd);
  c.writeLinear8Sup(0x5001, 0x99);
  assert.equal(c.readLinear16Sup(0x5ffe), 0xabcd);
  assert.equal(c.readLinear8Sup(0x5001), 0x99);
  assert.equal(c.readLinear32Sup(0x5000), 0x12349978);
});

for (const engine of ["interpreter", "kqemu"] as Engine[]) {
  test(`${engine}: a supervisor write into decoded code (an interrupt frame pushed over it) is seen by the next fetch`, () => {
    // 1000: nop (becomes inc %ebx); dec %ecx; jne 1000; ud2
    const c = setup("90 49 75fc 0f0b");
    identityPaging(c);
    c.wr8(0x1f00, 0); // a writable, dirty TLB entry for the page before it holds code
    c.r[ECX] = 1;
    runToUd2(c, engine);
    c.writeLinear32Sup(0x1000, 0xfc754943 | 0); // inc %ebx; dec %ecx; jne 1000
    c.r[R_EIP] = 0x1000;
    c.r[ECX] = 2;
    c.r[EBX] = 0;
    runToUd2(c, engine);
    assert.equal(c.r[EBX], 2, "the patched instruction ran on both passes");
  });
}

test("CPU.cachedInsn: the decode cache's instruction once the interpreter ran it, in its decode mode only, and none after a write to its bytes", () => {
  // 1000: nop; inc %ebx; ud2 — the accelerator's translator reads hot code from here.
  const c = setup("90 43 0f0b");
  assert.equal(c.cachedInsn(0x1000), null, "nothing decoded yet");
  runToUd2(c, "interpreter");
  const nop = c.cachedInsn(0x1000);
  const inc = c.cachedInsn(0x1001);
  assert.deepEqual([nop?.op, nop?.len, inc?.op, inc?.len], [0x90, 1, 0x43, 1]);
  assert.equal(c.cachedInsn(0x1005), null, "never decoded");
  c.codeMode = 0; // as if CS were a 16-bit segment now
  assert.equal(c.cachedInsn(0x1000), null, "decoded for another mode");
  c.codeMode = 1;
  c.wr8(0x1800, 0x41); // data beside the code: the decoded instructions stay
  assert.equal(c.cachedInsn(0x1000), nop, "kept after a write elsewhere in its page");
  assert.equal(nop?.link, inc, "the interpreter linked the NOP to its successor");
  c.wr8(0x1000, 0x41); // over the NOP's byte
  assert.equal(c.cachedInsn(0x1000), null, "written since");
  assert.equal(c.cachedInsn(0x1001), inc, "its neighbour was not written");
  c.wr8(0x1002, 0x90); // over UD2's first byte: the INC before it may no longer fall through to it
  assert.equal(inc?.link, null, "a link to a dropped instruction is cut");
});

/** Paging on: 0-4 MiB identity-mapped, and again at 4-8 MiB (the same page table). */
function identityPaging(c: CPU): { pd: number; pt: number } {
  const pd = 0x300000;
  const pt = 0x301000;
  c.ram.fill(0, pd, pt + 0x1000);
  c.ram32[pd >>> 2] = pt | 7;
  c.ram32[(pd >>> 2) + 1] = pt | 7;
  for (let p = 0; p < 1024; p++) c.ram32[(pt >>> 2) + p] = (p << 12) | 7;
  c.r[R_CR3] = pd;
  c.r[R_CR0] |= CR0_PG;
  c.flushTlb(true);
  return { pd, pt };
}
