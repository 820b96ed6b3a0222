// The kqemu translator against the interpreter, on any host: the host-differential generator's
// cases (test/cpu/hostdiff) run on the interpreter and through the kqemu engine with a threshold
// of 1 (every block compiled on first sight), in normal mode at CPL 3 and in full virtualization
// at CPL 0, and the outcomes are compared with the same masks the host comparison uses
// (architecturally undefined flags and registers left out per case).
// The interpreter is checked against silicon by test/cpu/hostdiff.test.ts where the host can run
// i386 ELF programs; this test keeps the translator honest where it cannot.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KqemuEngine, type KqemuMode } from "../../src/accel/kqemu/engine.ts";
import { buildElf } from "../cpu/hostdiff/elf32.ts";
import { type Case, generate } from "../cpu/hostdiff/gen.ts";
import { compare, makeDiffCpu, mapLikeHost, runInterp } from "../cpu/hostdiff/interp.ts";
import { describe } from "../cpu/hostdiff/run.ts";

const SEED = 0x4b51;
const CASES = 12000;
const BATCH = 4000;

/** Runs `cases` on the interpreter and through kqemu (threshold 1); returns the differences found. */
function diff(cases: readonly Case[], mode: KqemuMode, cpl: number) {
  const ref = makeDiffCpu();
  const jit = makeDiffCpu();
  const engine = new KqemuEngine(jit, mode, 1);
  const bad: string[] = [];
  let faults = 0;
  const groups = new Set<string>();
  for (let k = 0; k < cases.length; k += BATCH) {
    const batch = cases.slice(k, k + BATCH);
    const { image, codeAddr, codeEnd } = buildElf(batch);
    mapLikeHost(ref, image, codeEnd);
    mapLikeHost(jit, image, codeEnd);
    engine.flush();
    for (let j = 0; j < batch.length; j++) {
      const c = batch[j];
      const want = runInterp(ref, c, codeAddr[j], undefined, cpl);
      const got = runInterp(jit, c, codeAddr[j], engine, cpl);
      groups.add(c.group);
      if (want.vector >= 0) faults++;
      const diffs = compare(want, got, c);
      if (diffs.length > 0 && bad.length < 10) bad.push(describe({ c, diffs }));
    }
  }
  const s = engine.stats;
  console.log(
    `${cases.length} cases in ${groups.size} groups at CPL ${cpl}, ${faults} faulting; compiled ${s.insnsCompiled} instructions, helped ${s.insnsHelped}`,
  );
  return { bad, faults, stats: s };
}

test(`kqemu: ${CASES} generated cases compiled to wasm agree with the interpreter (normal mode, CPL 3)`, () => {
  const { bad, faults, stats } = diff(generate(SEED, CASES), "user", 3);
  assert.deepEqual(bad, []);
  // The comparison means something only if code really ran compiled, faults included.
  assert.ok(stats.insnsCompiled > CASES, `compiled instructions: ${stats.insnsCompiled}`);
  assert.ok(faults > 100);
});

test("kqemu: the translator's groups agree with the interpreter in full virtualization at CPL 0", () => {
  // Groups without privileged or I/O instructions, which at CPL 0 would really change the machine.
  const groups = ["alu", "mov", "cond", "stack", "seq", "pf", "lea", "unary", "shift", "xchg", "mul", "div"];
  const { bad, faults, stats } = diff(generate(SEED + 1, 6000, groups), "full", 0);
  assert.deepEqual(bad, []);
  assert.ok(stats.insnsCompiled > 6000, `compiled instructions: ${stats.insnsCompiled}`);
  assert.ok(faults > 50);
});
