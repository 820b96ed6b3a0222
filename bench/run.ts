// npm run bench [-- options]: the same guest (Debian 12's 686 kernel + the bench initramfs) and
// kernel command line on tsqemu's engines, v86, QEMU TCG, and the user-mode programs natively.
// Prints Markdown tables and writes bench/results/latest.{md,svg,json}. See --help.
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  ENGINES,
  type Engine,
  engineUnavailable,
  engineVersion,
  MIPS_LABELS,
  metricLabels,
  type RunContext,
  type RunResult,
  runOnce,
} from "./lib/engines.ts";
import { DEFAULT_WORK, ensureBenchGuest, type GuestWorkload, type WorkParams } from "./lib/guest.ts";
import { profileBoot } from "./lib/profile.ts";
import { type Cell, type MetricRow, markdownTables, summarize, svgChart } from "./lib/report.ts";

const HERE = join(fileURLToPath(import.meta.url), "..");
const WORKLOADS: GuestWorkload[] = ["boot", "compute", "kernel"];

const HELP = `usage: npm run bench [-- options]

Boots Debian 12's 686 kernel with the bench initramfs (tsqemu.bench=WORKLOAD on the kernel
command line) on each engine, one process at a time (round robin: run 1 of every engine and
workload, then run 2...), and times the marker lines the guest prints on its serial console as
they arrive on the host.

  --engines LIST     comma-separated, from: ${ENGINES.map((e) => e.id).join(", ")}
                     (default: ${ENGINES.filter((e) => e.byDefault)
                       .map((e) => e.id)
                       .join(",")})
  --workloads LIST   boot, compute, kernel (default: all)
  --runs N           outer runs (fresh processes) per cell, median/min/max over them (default 3)
  --tsqemu-runs N     outer runs for tsqemu's engines (default: --runs)
  --guest-runs R     runs of each program inside one boot; run 1 is the warm-up (default ${DEFAULT_WORK.runs})
  --units U          compute work units per run (default ${DEFAULT_WORK.units}, ≈1–2.5 ms each natively)
  --syscalls S       getpid calls per run (default ${DEFAULT_WORK.syscalls})
  --forks F          fork+exec+wait rounds per run (default ${DEFAULT_WORK.forks})
  --mem MiB          guest RAM (default 128)
  --timeout SEC      per run (default 600)
  --keep-going       do all runs of a cell even after one failed
  --out DIR          where latest.{md,svg,json} go (default bench/results)
  --no-write         print only
  --verbose          echo the guests' serial output to stderr
  --profile          instead: the tsqemu boot under node --cpu-prof, top functions by self time
  --profile-seconds N  stop the profiled boot after N s (default 120)
  --profile-engine ID  tsqemu engine to profile (default tsqemu)
`;

const { values: opt } = parseArgs({
  options: {
    engines: { type: "string" },
    workloads: { type: "string" },
    runs: { type: "string", default: "3" },
    "tsqemu-runs": { type: "string" },
    "guest-runs": { type: "string", default: String(DEFAULT_WORK.runs) },
    units: { type: "string", default: String(DEFAULT_WORK.units) },
    syscalls: { type: "string", default: String(DEFAULT_WORK.syscalls) },
    forks: { type: "string", default: String(DEFAULT_WORK.forks) },
    mem: { type: "string", default: "128" },
    timeout: { type: "string", default: "600" },
    "keep-going": { type: "boolean", default: false },
    out: { type: "string", default: join(HERE, "results") },
    "no-write": { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    "profile-seconds": { type: "string", default: "120" },
    "profile-engine": { type: "string", default: "tsqemu" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (opt.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const num = (name: string, v: string | undefined, min: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`bench: --${name} wants an integer ≥ ${min}, not ${v}\n`);
    process.exit(2);
  }
  return n;
};
const list = <T extends string>(name: string, v: string | undefined, all: readonly T[], dflt: T[]): T[] => {
  if (!v) return dflt;
  const items = v.split(",").map((s) => s.trim()) as T[];
  for (const it of items)
    if (!all.includes(it)) {
      process.stderr.write(`bench: --${name}: unknown ${it} (known: ${all.join(", ")})\n`);
      process.exit(2);
    }
  return items;
};

const work: WorkParams = {
  units: num("units", opt.units, 1),
  runs: num("guest-runs", opt["guest-runs"], 1),
  syscalls: num("syscalls", opt.syscalls, 1),
  forks: num("forks", opt.forks, 1),
};
const outerRuns = num("runs", opt.runs, 1);
/** tsqemu's engines are slow today (a boot takes minutes): their own run count. */
const tsqemuRuns = opt["tsqemu-runs"] === undefined ? outerRuns : num("tsqemu-runs", opt["tsqemu-runs"], 1);
const memMiB = num("mem", opt.mem, 16);
const log = (l: string) => process.stderr.write(`${l}\n`);

const guest = await ensureBenchGuest(log);

if (opt.profile) {
  const eng = ENGINES.find((e) => e.id === opt["profile-engine"] && e.kind === "tsqemu");
  if (!eng) {
    process.stderr.write(`bench: --profile-engine must be a tsqemu engine\n`);
    process.exit(2);
  }
  const text = await profileBoot(guest, work, {
    memMiB,
    seconds: num("profile-seconds", opt["profile-seconds"], 1),
    top: 15,
    flags: eng.flags,
    log,
  });
  process.stdout.write(text);
  process.exit(0);
}

const engineIds = list(
  "engines",
  opt.engines,
  ENGINES.map((e) => e.id),
  ENGINES.filter((e) => e.byDefault).map((e) => e.id),
);
// In the order given (run order and table columns).
const engines: Engine[] = engineIds.map((id) => ENGINES.find((e) => e.id === id)!);
const workloads = list("workloads", opt.workloads, WORKLOADS, WORKLOADS);
const ctx: RunContext = {
  guest,
  work,
  memMiB,
  timeoutMs: num("timeout", opt.timeout, 1) * 1000,
  verbose: opt.verbose,
  log,
};

const results: RunResult[] = [];
/** 1-minute load averages seen before each run: other work on the machine skews the figures. */
const loads: number[] = [];
/** Per engine and workload: why no (more) runs were made. */
const skipped = new Map<string, string>();
const key = (e: string, w: string) => `${e}/${w}`;
const versions: Record<string, string> = {};

const active: Engine[] = [];
for (const engine of engines) {
  const why = await engineUnavailable(engine);
  if (why) {
    log(`${engine.id}: skipped — ${why}`);
    for (const w of workloads) skipped.set(key(engine.id, w), `skipped: ${why}`);
    continue;
  }
  versions[engine.id] = await engineVersion(engine);
  active.push(engine);
}
// Round robin: run i of every engine and workload before run i+1 of any, so that all engines meet
// the same periods of a host whose speed drifts (this VM's swings by up to 2× over minutes, which
// skewed the ratios when each engine's runs came in one block).
const runsOf = (e: Engine) => (e.kind === "tsqemu" ? tsqemuRuns : outerRuns);
const bootBroken = new Map<string, string>();
const cellDone = new Set<string>();
const rounds = Math.max(0, ...active.map(runsOf));
for (let i = 1; i <= rounds; i++) {
  for (const w of workloads) {
    for (const engine of active) {
      const k = key(engine.id, w);
      if (cellDone.has(k) || i > runsOf(engine)) continue;
      const broken = bootBroken.get(engine.id);
      if (broken) {
        skipped.set(k, broken);
        cellDone.add(k);
        continue;
      }
      loads.push(loadavg()[0]!);
      const r = await runOnce(engine, w, ctx);
      results.push(r);
      await report(false);
      const figures = Object.entries(r.ms)
        .map(([k, v]) => `${k}=${v.toFixed(0)}ms`)
        .join(" ");
      const mips = Object.entries(r.mips)
        .map(([k, v]) => `mips.${k}=${v.toFixed(1)}`)
        .join(" ");
      log(`${engine.id} ${w} #${i}: ${r.ok ? "ok" : `FAILED: ${r.error}`} ${figures} ${mips}`.trimEnd());
      if (r.unavailable) {
        skipped.set(k, r.error ?? "n/a");
        if (engine.kind !== "native") bootBroken.set(engine.id, r.error ?? "not available");
        cellDone.add(k);
        continue;
      }
      if (!r.ok && !opt["keep-going"]) {
        if (!("boot.init" in r.ms) && engine.kind !== "native")
          bootBroken.set(engine.id, "not run: the boot fails (see the boot rows)");
        cellDone.add(k);
      }
    }
  }
}

/** Renders the tables from the runs so far; writes the files (after every run, so a stopped benchmark keeps what it measured). */
async function report(final: boolean): Promise<void> {
  // Checksums: every engine must compute what the host computes.
  const reference = results.find((r) => r.engine === "native" && r.checksums.length)?.checksums[0];
  if (reference) {
    for (const r of results) {
      const bad = r.checksums.find((c) => c !== reference);
      if (r.ok && bad) {
        r.ok = false;
        r.error = `wrong compute checksum ${bad} (native: ${reference})`;
      }
    }
  }

  // ---- tables ------------------------------------------------------------------------------

  const workloadOf = (metric: string): GuestWorkload =>
    metric.startsWith("boot") ? "boot" : metric.startsWith("compute") ? "compute" : "kernel";

  const rows: MetricRow[] = [];
  for (const [id, label] of metricLabels(work)) {
    const w = workloadOf(id);
    if (!workloads.includes(w)) continue;
    if (work.runs < 2 && id.endsWith(".steady")) continue;
    const cells: Record<string, Cell> = {};
    const rounds: Record<string, (number | null)[]> = {};
    for (const e of engines) {
      // In round order: run k of every engine came in round k (see the loop above).
      const runs = results.filter((r) => r.engine === e.id && r.workload === w);
      rounds[e.id] = runs.map((r) => (r.ok && id in r.ms ? r.ms[id]! : null));
      const vals = runs.filter((r) => r.ok && id in r.ms).map((r) => r.ms[id]!);
      const s = summarize(vals);
      if (s) cells[e.id] = { kind: "value", summary: s };
      else {
        const failed = runs.find((r) => !r.ok);
        const why = skipped.get(key(e.id, w)) ?? (failed ? `FAIL: ${failed.error}` : "no data");
        cells[e.id] = { kind: "missing", why };
      }
    }
    rows.push({ id, label, unit: "ms", cells, rounds });
  }
  for (const [id, label] of MIPS_LABELS) {
    const cells: Record<string, Cell> = {};
    for (const e of engines) {
      if (e.kind !== "tsqemu" && e.kind !== "v86") continue;
      const w: GuestWorkload = id === "run" ? "boot" : id.startsWith("compute") ? "compute" : "kernel";
      if (!workloads.includes(w)) continue;
      const runs = results.filter((r) => r.engine === e.id && r.workload === w && id in r.mips);
      const okRuns = runs.filter((r) => r.ok);
      const use = okRuns.length ? okRuns : runs;
      const s = summarize(use.map((r) => r.mips[id]!));
      if (s) cells[e.id] = { kind: "value", summary: s, note: okRuns.length ? undefined : "(failed runs)" };
    }
    if (Object.keys(cells).length)
      rows.push({ id: `mips.${id}`, label: id === "run" ? "boot, whole run" : label, unit: "mips", cells });
  }

  // ---- environment and evidence -------------------------------------------------------------

  const cpuModel = cpus()[0]?.model ?? "unknown CPU";
  const v86Version = (
    JSON.parse(readFileSync(join(HERE, "..", "node_modules", "v86", "package.json"), "utf8")) as {
      version: string;
    }
  ).version;
  const date = new Date();
  const machine = `${cpuModel}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}`;

  const jitRuns = results.filter((r) => r.engine === "v86" && r.extra && "jit" in r.extra);
  let jitEvidence = "";
  if (jitRuns.length) {
    type Jit = {
      wasmFile: string;
      wasmSha256: string;
      wasmLoadedByUs: boolean;
      jitDisabledConfig: number;
      compiledModules: number;
      compiledWasmBytes: number;
    };
    const jits = jitRuns.map((r) => (r.extra as { jit: Jit }).jit);
    const mods = jits.map((j) => j.compiledModules);
    const bytes = jits.map((j) => j.compiledWasmBytes);
    const j0 = jits[0]!;
    jitEvidence =
      `v86 JIT: core \`${j0.wasmFile.replace(/^.*node_modules\//, "")}\` (sha256 ${j0.wasmSha256}…) instantiated by the harness ` +
      `(no fallback possible: ${jits.every((j) => j.wasmLoadedByUs)}), JIT_DISABLED=${j0.jitDisabledConfig}; ` +
      `JIT-compiled wasm modules per run: ${Math.min(...mods)}–${Math.max(...mods)} ` +
      `(${(Math.min(...bytes) / 2 ** 20).toFixed(1)}–${(Math.max(...bytes) / 2 ** 20).toFixed(1)} MiB of generated wasm).`;
  }

  const failures = results.filter((r) => !r.ok && !r.unavailable);
  const workDesc =
    `compute ${work.units} units, getpid ×${work.syscalls}, fork+exec+wait ×${work.forks}; ` +
    `${work.runs} runs of each program per boot; ${outerRuns} boots (processes) per cell` +
    (tsqemuRuns !== outerRuns ? ` (tsqemu: ${tsqemuRuns})` : "") +
    ", in rounds (run 1 of every cell, then run 2...)";
  const cmdlineDesc = "console=ttyS0 tsqemu.bench=WORKLOAD tsqemu.units=… (the same on every emulator)";
  let md = `## Benchmark — ${date.toISOString().slice(0, 16).replace("T", " ")} UTC\n\n`;
  md += `- Machine: ${machine}\n`;
  md += `- Guest: Linux ${guest.kernelVersion.split(" ")[0]} (Debian 12 686), bench initramfs, ${memMiB} MiB RAM; kernel command line \`${cmdlineDesc}\`\n`;
  md += `- Work: ${workDesc}\n`;
  if (loads.length)
    md += `- Host load (1-min average before each run; ${cpus().length} cores): ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}, median ${summarize(loads)!.median.toFixed(1)}\n`;
  md += `- Engines: ${engines
    .map(
      (e) =>
        `${e.label}${versions[e.id] ? ` (${versions[e.id]})` : e.kind === "v86" ? ` (v86 ${v86Version}, SeaBIOS from Debian)` : ""}`,
    )
    .join("; ")}\n`;
  md +=
    "- Times are wall-clock on the host between serial marker lines (boot rows: from process spawn); native runs the same static i386 programs directly, timed by their own CLOCK_MONOTONIC (forkexec execs the guest's busybox `true`).\n";
  if (jitEvidence) md += `- ${jitEvidence}\n`;
  md += `\n${markdownTables(
    rows,
    engines.map((e) => ({ id: e.id, label: e.label })),
    { native: "native", v86: "v86" },
  )}`;
  if (failures.length) {
    md += "\n### Failures\n\n";
    for (const f of failures) md += `- ${f.engine} ${f.workload}: ${f.error}\n`;
  }

  if (final) process.stdout.write(`\n${md}`);
  if (!opt["no-write"]) {
    await mkdir(opt.out, { recursive: true });
    await writeFile(join(opt.out, "latest.md"), md);
    await writeFile(
      join(opt.out, "latest.svg"),
      svgChart(
        rows,
        engines.map((e) => ({ id: e.id, label: e.label })),
        `tsqemu benchmark ${date.toISOString().slice(0, 10)} — ${cpuModel}`,
      ),
    );
    await writeFile(
      join(opt.out, "latest.json"),
      `${JSON.stringify({ date: date.toISOString(), machine, work, outerRuns, tsqemuRuns, memMiB, engines: engineIds, versions, v86Version, kernel: guest.kernelVersion, results }, null, 1)}\n`,
    );
    if (final) log(`wrote ${join(opt.out, "latest.md")}, latest.svg, latest.json`);
  }
}

await report(true);
