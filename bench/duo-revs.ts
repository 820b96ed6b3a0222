// In-process A/B of two code revisions, the way bench/duo.ts compares two settings: each round is
// one fresh process in which a machine built from revision A and one built from revision B boot the
// bench guest at the same time (the run loop gives each 10 ms slices in turn), so this VM's speed
// drift, which reaches 2x over minutes and hides effects of a few percent between separate runs,
// falls on both alike. Each machine's time is the host time spent in its own engine's run() calls
// (compiling included), read when its serial output reaches each mark. The two start in turn first
// from round to round: the one started second measured ~2% faster in such pairs.
//
//   node --import tsx bench/duo-revs.ts HEAD~1 .            (. = the working tree as it is)
//   node --import tsx bench/duo-revs.ts a708563 HEAD --rounds 6 --marks 'Linux version|Run /init'
//   node --import tsx bench/duo-revs.ts HEAD . --workload kernel --marks 'Run /init|BENCH done'
//
// A revision is exported with `git archive` (src/ and bench/lib/) into a temporary directory and
// bundled there with esbuild together with the runner below, which therefore must compile against
// that revision's PcMachine (revisions from 2026-12 on do). Like bench/duo.ts, it does not judge
// changes to how much V8 compiles: the two machines share V8's compile threads and code space.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { ensureBenchGuest } from "./lib/guest.ts";

const ROOT = join(fileURLToPath(import.meta.url), "..", "..");

/** One machine of a pair: boots the bench guest, resolves with the host ms at each mark. */
const RUNNER = `import { readFileSync } from "node:fs";
import { tuneEngineForV8, tuneV8ForAccelerator } from "../src/host/node/v8-tuning.ts";
import { PcMachine } from "../src/machine/pc.ts";
import { benchCmdline, DEFAULT_WORK } from "./lib/guest.ts";
export async function boot(marks: string[], workload: "boot" | "kernel", kernel: string, initrd: string): Promise<number[]> {
  tuneV8ForAccelerator();
  const work = { ...DEFAULT_WORK, runs: 1, forks: 10 };
  const m = new PcMachine({ ramSize: 128 << 20, kernel: readFileSync(kernel), initrd: readFileSync(initrd),
    append: benchCmdline(workload, work), noReboot: true, accel: "kqemu-full" });
  const k = m.kqemu;
  if (k === null) throw new Error("no kqemu engine");
  tuneEngineForV8(k);
  let host = 0;
  const run = k.run.bind(k);
  k.run = (budget: number) => { const t0 = performance.now(); try { return run(budget); } finally { host += performance.now() - t0; } };
  const at: number[] = marks.map(() => Number.NaN);
  let line = "";
  return new Promise((resolve) => {
    m.serial.onTransmit = (b: number) => {
      if (b !== 10) { line += String.fromCharCode(b); return; }
      marks.forEach((mark, j) => { if (Number.isNaN(at[j]) && line.includes(mark)) at[j] = host; });
      if (line.includes(marks[marks.length - 1])) { m.requestStop("quit"); resolve(at); }
      line = "";
    };
    void m.run();
  });
}
`;

/** A pair in one process: argv = bundle A, bundle B, which starts first ("A" or "B"), marks, workload, kernel, initrd. */
const PAIR = `const [a, b, first, marks, workload, kernel, initrd] = process.argv.slice(2);
const ms = marks.split("|");
const A = await import(a), B = await import(b);
const go = (M) => M.boot(ms, workload, kernel, initrd);
const runs = first === "A" ? [go(A), go(B)] : [go(B), go(A)].reverse();
const [ra, rb] = await Promise.all(runs);
console.log(JSON.stringify({ a: ra, b: rb }));
process.exit(0);
`;

function usage(msg?: string): never {
  if (msg) console.error(`duo-revs: ${msg}`);
  console.error(
    "usage: node --import tsx bench/duo-revs.ts REV_A REV_B [--rounds N] [--marks 'a|b'] [--workload boot|kernel]\n" +
      "  REV: a git revision, or . for the working tree",
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const revs: string[] = [];
let rounds = 4;
let marks = "Linux version|Run /init|tsqemu: /init started";
let workload = "boot";
for (let k = 0; k < args.length; k++) {
  const a = args[k];
  if (a === "--rounds") rounds = Number(args[++k]);
  else if (a === "--marks") marks = args[++k] ?? usage("--marks needs a value");
  else if (a === "--workload") workload = args[++k] ?? usage("--workload needs a value");
  else if (a.startsWith("--")) usage(`unknown option ${a}`);
  else revs.push(a);
}
if (revs.length !== 2) usage();
if (!Number.isInteger(rounds) || rounds < 1) usage("--rounds must be a positive integer");
if (workload !== "boot" && workload !== "kernel") usage("--workload is boot or kernel");

const guest = await ensureBenchGuest((l) => console.error(l));
const work = mkdtempSync(join(tmpdir(), "tsqemu-duo-"));
try {
  const bundles = await Promise.all(revs.map((rev, k) => bundle(rev, join(work, k === 0 ? "a" : "b"))));
  writeFileSync(join(work, "pair.mjs"), PAIR);
  const markList = marks.split("|");
  const ratios: number[][] = markList.map(() => []);
  const msA: number[][] = markList.map(() => []);
  const msB: number[][] = markList.map(() => []);
  for (let r = 0; r < rounds; r++) {
    const first = r % 2 === 0 ? "A" : "B";
    const out = execFileSync(
      process.execPath,
      [join(work, "pair.mjs"), bundles[0], bundles[1], first, marks, workload, guest.kernel, guest.initrd],
      {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const { a, b } = JSON.parse(out.trim().split("\n").pop() ?? "{}") as { a: number[]; b: number[] };
    const cells = markList.map((m, j) => {
      msA[j].push(a[j]);
      msB[j].push(b[j]);
      ratios[j].push(b[j] / a[j]);
      return `${m.slice(0, 16)} ${a[j].toFixed(0)} / ${b[j].toFixed(0)} ms`;
    });
    console.log(`round ${r + 1} (${first} first): ${cells.join(", ")}`);
  }
  console.log(
    `\nA = ${revs[0]}, B = ${revs[1]}: host ms in each engine's run() at each mark, medians of ${rounds}`,
  );
  markList.forEach((m, j) => {
    const rs = ratios[j].map((x) => x.toFixed(3)).join(" ");
    console.log(
      `  ${m.padEnd(28)} A ${median(msA[j]).toFixed(0).padStart(6)}  B ${median(msB[j]).toFixed(0).padStart(6)}  B/A ${median(ratios[j]).toFixed(3)} (${rs})`,
    );
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** Export `rev` (or the working tree) with the runner into `dir` and bundle it; the bundle's path. */
async function bundle(rev: string, dir: string): Promise<string> {
  let root = ROOT;
  if (rev !== ".") {
    mkdirSync(dir, { recursive: true });
    const tar = execFileSync("git", ["-C", ROOT, "archive", rev, "src", "bench/lib"], { maxBuffer: 1 << 28 });
    execFileSync("tar", ["-x", "-C", dir], { input: tar });
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
    root = dir;
  }
  const entry = join(root, "bench", `duo-runner-${process.pid}.ts`);
  writeFileSync(entry, RUNNER);
  const out = join(dir, "boot.mjs");
  mkdirSync(dir, { recursive: true });
  try {
    await build({
      entryPoints: [entry],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      outfile: out,
      logLevel: "error",
    });
  } finally {
    rmSync(entry, { force: true });
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
