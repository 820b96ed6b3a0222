// Long host-CPU differential runs: npm run hostdiff -- --cases 1000000 --seed 7 --group shift,bt
// Prints per-group counts and the first mismatches; exits 1 if any case disagrees. With --kqemu the
// cases run through the kqemu translator (normal mode, CPL 3, threshold 1: every block compiled on
// first sight, as in test/accel/kqemu-hostdiff.test.ts) instead of the interpreter.

import { KqemuEngine } from "../src/accel/kqemu/engine.ts";
import { HostUnavailable } from "../test/cpu/hostdiff/elf32.ts";
import { GROUPS, generate } from "../test/cpu/hostdiff/gen.ts";
import { describe, type RunResult, runCases, summary } from "../test/cpu/hostdiff/run.ts";

function arg(name: string, def: string): string {
  const k = process.argv.indexOf(`--${name}`);
  return k >= 0 && k + 1 < process.argv.length ? process.argv[k + 1] : def;
}

if (process.argv.includes("--help")) {
  console.log(
    `usage: npm run hostdiff -- [--cases N] [--seed S] [--group g1,g2] [--show K] [--kqemu]\ngroups: ${Object.keys(GROUPS).join(" ")}`,
  );
  process.exit(0);
}

const total = Number(arg("cases", "100000"));
const seed = Number(arg("seed", String(Date.now() % 100000)));
const groups = arg("group", "")
  .split(",")
  .filter((g) => g);
const show = Number(arg("show", "10"));
const kqemu = process.argv.includes("--kqemu");
let compiled = 0;
const CHUNK = 50000;

const all: RunResult = { total: 0, groups: new Map(), mismatches: [] };
const t0 = performance.now();
for (let done = 0, chunk = 0; done < total; chunk++) {
  const n = Math.min(CHUNK, total - done);
  // each chunk has its own derived seed so that a chunk can be replayed alone
  let engine: KqemuEngine | null = null;
  let res: RunResult;
  try {
    res = await runCases(
      generate((seed * 1000003 + chunk) >>> 0, n, groups),
      show,
      kqemu
        ? (c) => {
            engine = new KqemuEngine(c, "user", 1);
            return engine;
          }
        : undefined,
    );
  } catch (e) {
    // No oracle here (a kernel without IA-32 emulation): say so, without a stack trace.
    if (!(e instanceof HostUnavailable)) throw e;
    console.error(`hostdiff: ${e.message}`);
    console.error(
      "hostdiff: the host CPU cannot be the oracle here; npm run kqemudiff compares the translator with the interpreter instead",
    );
    process.exit(2);
  }
  compiled += (engine as KqemuEngine | null)?.stats.insnsCompiled ?? 0;
  done += n;
  all.total += res.total;
  for (const [g, s] of res.groups) {
    const a = all.groups.get(g) ?? { cases: 0, faults: 0, mismatches: 0 };
    a.cases += s.cases;
    a.faults += s.faults;
    a.mismatches += s.mismatches;
    all.groups.set(g, a);
  }
  for (const m of res.mismatches) if (all.mismatches.length < show) all.mismatches.push(m);
  const bad = [...all.groups.values()].reduce((s, g) => s + g.mismatches, 0);
  const secs = (performance.now() - t0) / 1000;
  process.stdout.write(`\r${done} cases, ${bad} mismatches, ${(done / secs).toFixed(0)} cases/s   `);
}
console.log(`\nseed ${seed}${groups.length ? `, groups ${groups.join(",")}` : ""}${kqemu ? ", kqemu" : ""}:`);
if (kqemu) console.log(`instructions run compiled: ${compiled}`);
console.log(summary(all));
for (const m of all.mismatches) console.log(describe(m));
const bad = [...all.groups.values()].reduce((s, g) => s + g.mismatches, 0);
process.exit(bad ? 1 : 0);
