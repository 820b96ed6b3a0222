// The kqemu translator against the interpreter, on any host: the host-differential generator's
// cases (test/cpu/hostdiff) run on the interpreter and through the kqemu engine with a threshold
// of 1 (every block compiled on first sight), and the outcomes are compared with the same masks
// the host comparison uses (architecturally undefined flags and registers left out per case).
// The interpreter is checked against silicon by test/cpu/hostdiff.test.ts where the host can run
// i386 ELF programs; this test keeps the translator honest where it cannot.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KqemuEngine } from "../../src/accel/kqemu/engine.ts";
import { buildElf } from "../cpu/hostdiff/elf32.ts";
import { generate } from "../cpu/hostdiff/gen.ts";
import { compare, makeDiffCpu, mapLikeHost, runInterp } from "../cpu/hostdiff/interp.ts";
import { describe } from "../cpu/hostdiff/run.ts";

const SEED = 0x4b51;
const CASES = 12000;
const BATCH = 4000;

test(`kqemu: ${CASES} generated cases compiled to wasm agree with the interpreter`, () => {
  const cases = generate(SEED, CASES);
  const ref = makeDiffCpu();
  const jit = makeDiffCpu();
  const engine = new KqemuEngine(jit, "user", 1);
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
      const want = runInterp(ref, c, codeAddr[j]);
      const got = runInterp(jit, c, codeAddr[j], engine);
      groups.add(c.group);
      if (want.vector >= 0) faults++;
      const diffs = compare(want, got, c);
      if (diffs.length > 0 && bad.length < 10) bad.push(describe({ c, diffs }));
    }
  }
  const s = engine.stats;
  console.log(
    `${CASES} cases in ${groups.size} groups, ${faults} faulting; compiled ${s.insnsCompiled} instructions, helped ${s.insnsHelped}`,
  );
  assert.deepEqual(bad, []);
  // The comparison means something only if code really ran compiled, faults included.
  assert.ok(s.insnsCompiled > CASES, `compiled instructions: ${s.insnsCompiled}`);
  assert.ok(faults > 100);
});
