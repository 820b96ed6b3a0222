// The kqemu translator against the interpreter, on any host: the host-differential generator's
// cases (test/cpu/hostdiff) run on the interpreter and through the kqemu engine with a threshold
// of 1 (every block compiled on first sight), in normal mode at CPL 3 and in full virtualization
// at CPL 0, and the outcomes are compared with the same masks the host comparison uses
// (architecturally undefined flags and registers left out per case).
// The interpreter is checked against silicon by test/cpu/hostdiff.test.ts where the host can run
// i386 ELF programs; this test keeps the translator honest where it cannot.
import assert from "node:assert/strict";
import { test } from "node:test";
import { generate } from "../cpu/hostdiff/gen.ts";
import { CPL0_GROUPS, diffKqemu } from "./kqemu-diff.ts";

const SEED = 0x4b51;
const CASES = 12000;

test(`kqemu: ${CASES} generated cases compiled to wasm agree with the interpreter (normal mode, CPL 3)`, () => {
  const { bad, faults, stats } = diffKqemu(generate(SEED, CASES), "user", 3);
  assert.deepEqual(bad, []);
  // The comparison means something only if code really ran compiled, faults included.
  assert.ok(stats.insnsCompiled > CASES, `compiled instructions: ${stats.insnsCompiled}`);
  assert.ok(faults > 100);
});

test("kqemu: the translator's groups agree with the interpreter in full virtualization at CPL 0", () => {
  const { bad, faults, stats } = diffKqemu(generate(SEED + 1, 6000, CPL0_GROUPS), "full", 0);
  assert.deepEqual(bad, []);
  assert.ok(stats.insnsCompiled > 6000, `compiled instructions: ${stats.insnsCompiled}`);
  assert.ok(faults > 50);
});

test("kqemu: with paging off, blocks accessing RAM directly (unpaged) agree with the interpreter", () => {
  // Code at 1 MiB and the data window above it: the accesses take the direct path (translate.ts,
  // UNPAGED_LO), at CPL 3 in normal mode (every group) and at CPL 0 in full virtualization.
  const user = diffKqemu(generate(SEED + 2, 4000), "user", 3, true);
  assert.deepEqual(user.bad, []);
  assert.ok(user.stats.unpagedBlocks > 1000, `unpaged blocks: ${user.stats.unpagedBlocks}`);
  const full = diffKqemu(generate(SEED + 3, 3000, CPL0_GROUPS), "full", 0, true);
  assert.deepEqual(full.bad, []);
  assert.ok(full.stats.unpagedBlocks > 1000, `unpaged blocks: ${full.stats.unpagedBlocks}`);
});
