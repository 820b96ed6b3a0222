// The kqemu translator against the interpreter (shared by kqemu-interpdiff.test.ts and
// kqemu-turbofan.test.ts): generated cases run on the interpreter and through the kqemu engine with
// a threshold of 1 (every block compiled on first sight); the outcomes are compared with the masks
// the host comparison uses (architecturally undefined flags and registers left out per case).
import { KqemuEngine, type KqemuMode } from "../../src/accel/kqemu/engine.ts";
import { CR0_PG, R_CR0 } from "../../src/cpu/state.ts";
import { BSS_BASE, BSS_SIZE, buildElf } from "../cpu/hostdiff/elf32.ts";
import type { Case } from "../cpu/hostdiff/gen.ts";
import { compare, makeDiffCpu, mapLikeHost, runInterp } from "../cpu/hostdiff/interp.ts";
import { describe } from "../cpu/hostdiff/run.ts";

const BATCH = 4000;

/** Groups without privileged or I/O instructions, which at CPL 0 would really change the machine. */
export const CPL0_GROUPS = [
  ..."alu mov cond stack seq pf lea unary shift xchg mul div".split(" "),
  "flagchain",
  "flagloop",
  "twoheads",
];

/**
 * Runs `cases` on the interpreter and through kqemu (threshold 1); returns the differences found.
 * `unpaged`: with paging off (the same linear layout, nothing unmapped), as the accelerator's
 * direct RAM accesses see it.
 */
export function diffKqemu(cases: readonly Case[], mode: KqemuMode, cpl: number, unpaged = false) {
  const ref = makeDiffCpu();
  const jit = makeDiffCpu();
  const engine = new KqemuEngine(jit, mode, 1);
  const bad: string[] = [];
  let mismatches = 0;
  let faults = 0;
  const groups = new Set<string>();
  for (let k = 0; k < cases.length; k += BATCH) {
    const batch = cases.slice(k, k + BATCH);
    const { image, codeAddr, codeEnd } = buildElf(batch);
    for (const c of [ref, jit]) {
      // Unpaged, what the host leaves unmapped is RAM: HLT there (#GP at CPL 3) ends a case that
      // jumps into it at once, as the #PF does when paged; its reads see the same bytes both ways.
      if (unpaged) {
        c.ram.fill(0xf4);
        c.ram.fill(0, BSS_BASE, BSS_BASE + BSS_SIZE);
      }
      mapLikeHost(c, image, codeEnd);
      if (unpaged) {
        c.r[R_CR0] &= ~CR0_PG;
        c.flushTlb(true);
      }
    }
    engine.flush();
    for (let j = 0; j < batch.length; j++) {
      const c = batch[j];
      const want = runInterp(ref, c, codeAddr[j], undefined, cpl);
      const got = runInterp(jit, c, codeAddr[j], engine, cpl);
      groups.add(c.group);
      if (want.vector >= 0) faults++;
      const diffs = compare(want, got, c);
      if (diffs.length > 0) mismatches++;
      if (diffs.length > 0 && bad.length < 10) bad.push(describe({ c, diffs }));
    }
  }
  const s = engine.stats;
  console.log(
    `${cases.length} cases in ${groups.size} groups at CPL ${cpl}, ${faults} faulting; compiled ${s.insnsCompiled} instructions, helped ${s.insnsHelped}${unpaged ? `, ${s.unpagedBlocks} unpaged blocks` : ""}`,
  );
  return { bad, mismatches, faults, stats: s };
}
