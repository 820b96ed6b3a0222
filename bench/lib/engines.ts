// The engines bench/run.ts compares, and how one run of a workload on each is turned into
// figures (milliseconds between marker lines, timestamped on the host as they arrive).
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultGuestPaths, INIT_MARKER } from "../../src/util/guest-cache.ts";
import { exec, which } from "./exec.ts";
import { ensureSeaBios } from "./firmware.ts";
import { BENCH_DONE, type BenchGuest, benchCmdline, type GuestWorkload, type WorkParams } from "./guest.ts";
import { type ChildRun, type Line, runChild } from "./runner.ts";

const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");

export type EngineKind = "tsqemu" | "v86" | "qemu" | "native";

export interface Engine {
  id: string;
  label: string;
  kind: EngineKind;
  /** Extra CLI flags (tsqemu: the accelerator). */
  flags: string[];
  /** v86: JIT on or off. */
  jit?: boolean;
  /** Whether this engine joins the default selection. */
  byDefault: boolean;
}

export const ENGINES: Engine[] = [
  { id: "tsqemu", label: "tsqemu -no-kqemu", kind: "tsqemu", flags: ["-no-kqemu"], byDefault: true },
  { id: "tsqemu-kqemu", label: "tsqemu kqemu", kind: "tsqemu", flags: ["-enable-kqemu"], byDefault: true },
  {
    id: "tsqemu-kernel-kqemu",
    label: "tsqemu -kernel-kqemu",
    kind: "tsqemu",
    flags: ["-kernel-kqemu"],
    byDefault: true,
  },
  { id: "v86", label: "v86 (wasm JIT)", kind: "v86", flags: [], jit: true, byDefault: true },
  { id: "v86-nojit", label: "v86 (no JIT)", kind: "v86", flags: [], jit: false, byDefault: false },
  { id: "qemu", label: "QEMU TCG", kind: "qemu", flags: [], byDefault: true },
  { id: "native", label: "native", kind: "native", flags: [], byDefault: true },
];

export interface RunContext {
  guest: BenchGuest;
  work: WorkParams;
  memMiB: number;
  timeoutMs: number;
  verbose: boolean;
  log: (l: string) => void;
}

/** One outer run: the figures it gave (ms / MIPS by metric id), or why it failed. */
export interface RunResult {
  engine: string;
  workload: GuestWorkload;
  ok: boolean;
  error?: string;
  /** Set when the engine cannot run at all (the remaining runs are skipped). */
  unavailable?: boolean;
  ms: Record<string, number>;
  mips: Record<string, number>;
  checksums: string[];
  /** The programs' own clock readings (information only). */
  guestUs: Record<string, number[]>;
  extra?: Record<string, unknown>;
  wallMs: number;
}

/**
 * The boot's phases, between kernel log lines every engine's boot prints (the same kernel and
 * command line): metric id, the line that ends the phase, label. Each phase starts where the one
 * before it ended (the first at the process's start); the last ends at the /init marker. Where the
 * time goes differs per phase: loading and decompressing the kernel (the first), the kernel's
 * one-time init code (the second; the ISA PnP scan spins ~0.36 s of guest time in `udelay`), its
 * crypto self-tests (RSA loops), and the start of user space.
 */
export const BOOT_PHASES: [id: string, endsAt: string, label: string][] = [
  ["boot.phase.console", "Linux version", "boot phase: start → console (decompressed kernel)"],
  ["boot.phase.kinit", "isapnp: No Plug & Play", "boot phase: → ISA PnP scan's end (kernel init)"],
  ["boot.phase.certs", "Loaded X.509 cert", "boot phase: → X.509 certificates loaded"],
  ["boot.phase.selftests", "clk: Disabling unused clocks", "boot phase: → crypto self-tests' end"],
  ["boot.phase.userspace", INIT_MARKER, "boot phase: → /init (initramfs, /init starts)"],
];

/** Metric ids and labels, in table order. */
export function metricLabels(work: WorkParams): [string, string][] {
  const steady = work.runs > 2 ? `median of runs 2–${work.runs}` : "run 2";
  return [
    ["boot.init", "boot: start → /init"],
    ...BOOT_PHASES.map(([id, , label]): [string, string] => [id, label]),
    ["boot.poweroff", "boot: start → power-off"],
    ["compute.first", `compute ×${work.units} units, run 1 (warm-up)`],
    ["compute.steady", `compute ×${work.units} units, steady (${steady})`],
    ["syscalls.first", `getpid ×${work.syscalls}, run 1`],
    ["syscalls.steady", `getpid ×${work.syscalls}, steady`],
    ["forkexec.first", `fork+exec+wait ×${work.forks}, run 1`],
    ["forkexec.steady", `fork+exec+wait ×${work.forks}, steady`],
  ];
}

export const MIPS_LABELS: [string, string][] = [
  ["run", "whole run (boot or workload boot)"],
  ["compute.steady", "compute, steady runs"],
  ["kernel.steady", "syscalls+forkexec, steady runs"],
];

const MARK = /^BENCH (\w+) run=(\d+) (begin|end)\b(.*)$/;
const POWEROFF = /reboot: (Power down|System halted)/;

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** begin/end pairs per program and run from the marker lines. */
function phases(lines: Line[]): Map<string, Map<number, { begin?: number; end?: number; rest: string }>> {
  const out = new Map<string, Map<number, { begin?: number; end?: number; rest: string }>>();
  for (const l of lines) {
    const m = MARK.exec(l.text);
    if (!m) continue;
    const prog = m[1]!;
    const run = Number(m[2]);
    let byRun = out.get(prog);
    if (!byRun) out.set(prog, (byRun = new Map()));
    const p = byRun.get(run) ?? { rest: "" };
    if (m[3] === "begin") p.begin = l.t;
    else {
      p.end = l.t;
      p.rest = m[4]!;
    }
    byRun.set(run, p);
  }
  return out;
}

function lastMeaningful(lines: Line[]): string | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const t = lines[i]!.text.trim();
    if (t && !t.startsWith("tsqemu-stats:") && !t.startsWith("v86-stats:"))
      return t.length > 120 ? `${t.slice(0, 117)}…` : t;
  }
  return null;
}

/** Fills ms/checksums from the marker lines of a guest or native run; returns an error or null. */
function collect(
  res: RunResult,
  lines: Line[],
  programs: string[],
  runs: number,
  /** Native runs: the program's own monotonic clock is exact there (host pipes add ms of jitter). */
  ownClock = false,
): string | null {
  const ph = phases(lines);
  for (const prog of programs) {
    const byRun = ph.get(prog);
    const times: number[] = [];
    for (let r = 1; r <= runs; r++) {
      const p = byRun?.get(r);
      if (p?.begin === undefined || p.end === undefined)
        return `no ${prog} run=${r} ${p?.begin === undefined ? "begin" : "end"} marker`;
      const gus = /guest_us=(\d+)/.exec(p.rest);
      if (gus) (res.guestUs[prog] ??= []).push(Number(gus[1]));
      times.push(ownClock && gus ? Number(gus[1]) / 1000 : p.end - p.begin);
      const ck = /checksum=([0-9a-f]+)/.exec(p.rest);
      if (ck) res.checksums.push(ck[1]!);
      const fail = /failures=(\d+)/.exec(p.rest);
      if (fail && fail[1] !== "0") return `${prog} run=${r}: ${fail[1]} failed fork/exec rounds`;
    }
    res.ms[`${prog}.first`] = times[0]!;
    if (runs > 1) res.ms[`${prog}.steady`] = median(times.slice(1));
  }
  return null;
}

const workloadPrograms = (w: GuestWorkload): string[] =>
  w === "compute" ? ["compute"] : w === "kernel" ? ["syscalls", "forkexec"] : [];

/** Instruction-counter samples: [ms, instructions] from `tsqemu-stats:` / `v86-stats:` lines. */
function samples(errLines: Line[]): { why: string; ms: number; insns: number }[] {
  const out: { why: string; ms: number; insns: number }[] = [];
  for (const l of errLines) {
    let m = /^tsqemu-stats: (\w+) instructions=(\d+) ms=([\d.]+)/.exec(l.text);
    if (m) {
      out.push({ why: m[1]!, insns: Number(m[2]), ms: Number(m[3]) });
      continue;
    }
    m = /^v86-stats: (\{.*\})$/.exec(l.text);
    if (m) {
      const j = JSON.parse(m[1]!) as { why: string; ms?: number; instructions?: number };
      if (j.instructions !== undefined && j.ms !== undefined)
        out.push({ why: j.why, insns: j.instructions, ms: j.ms });
    }
  }
  return out;
}

/** The markers at which the harness samples the emulator's instruction counter. */
function sampleWanted(text: string, work: WorkParams): boolean {
  const m = MARK.exec(text);
  if (!m) return false;
  const run = Number(m[2]);
  const prog = m[1]!;
  // Steady phase = from `begin run=2` of the first program to `end run=R` of the last one
  // (for kernel: syscalls 2..R … forkexec 2..R, which includes forkexec's warm-up run).
  if (prog === "compute") return (m[3] === "begin" && run === 2) || (m[3] === "end" && run === work.runs);
  if (prog === "syscalls") return m[3] === "begin" && run === 2;
  if (prog === "forkexec") return m[3] === "end" && run === work.runs;
  return false;
}

async function runGuest(engine: Engine, workload: GuestWorkload, ctx: RunContext): Promise<RunResult> {
  const { guest, work } = ctx;
  const cmdline = benchCmdline(workload, work);
  const res: RunResult = {
    engine: engine.id,
    workload,
    ok: false,
    ms: {},
    mips: {},
    checksums: [],
    guestUs: {},
    wallMs: 0,
  };
  let cmd: string;
  let args: string[];
  const env: Record<string, string> = {};
  if (engine.kind === "tsqemu") {
    cmd = process.execPath;
    args = [
      join(ROOT, "bin", "tsqemu.mjs"),
      "-m",
      String(ctx.memMiB),
      "-kernel",
      guest.kernel,
      "-initrd",
      guest.initrd,
      "-append",
      cmdline,
      "-nographic",
      "-no-reboot",
      ...engine.flags,
    ];
    env.TSQEMU_STATS = "1";
  } else if (engine.kind === "v86") {
    const bios = await ensureSeaBios(ctx.log);
    cmd = process.execPath;
    args = [
      "--import",
      "tsx",
      join(ROOT, "bench", "v86-child.ts"),
      JSON.stringify({
        kernel: guest.kernel,
        initrd: guest.initrd,
        cmdline,
        memMiB: ctx.memMiB,
        bios: bios.bios,
        vgaBios: bios.vgaBios,
        jit: engine.jit !== false,
      }),
    ];
    res.extra = { seabios: bios.version };
  } else {
    cmd = "qemu-system-i386";
    args = [
      "-accel",
      "tcg",
      "-m",
      String(ctx.memMiB),
      "-kernel",
      guest.kernel,
      "-initrd",
      guest.initrd,
      "-append",
      cmdline,
      "-nographic",
      "-no-reboot",
    ];
  }
  const sampled = engine.kind === "tsqemu" || engine.kind === "v86";
  let unavailable: string | null = null;
  const run: ChildRun = await runChild({
    cmd,
    args,
    env,
    timeoutMs: ctx.timeoutMs,
    echo: ctx.verbose,
    doneOn: POWEROFF,
    graceMs: 10000,
    onLine: (line, child) => {
      if (sampled && sampleWanted(line.text, work)) child.kill("SIGUSR2");
    },
    onErrLine: (line, child) => {
      // The CLI falls back to the interpreter when an accelerator is missing: not what we measure.
      if (/Could not (start the kqemu accelerator|initialize KVM)/.test(line.text)) {
        unavailable = line.text.replace(/^.*?: /, "").replace(/ - .*$/, "");
        child.kill("SIGKILL");
      }
    },
  });
  res.wallMs = run.exitT;
  const smp = samples(run.errLines);
  const last = smp[smp.length - 1];
  if (last && last.ms > 0) res.mips.run = last.insns / last.ms / 1000;
  const steady = smp.filter((s) => s.why === "sample");
  if (steady.length === 2 && steady[1]!.ms > steady[0]!.ms) {
    const key = workload === "compute" ? "compute.steady" : "kernel.steady";
    res.mips[key] = (steady[1]!.insns - steady[0]!.insns) / (steady[1]!.ms - steady[0]!.ms) / 1000;
  }
  const jit = run.errLines.map((l) => /^v86-stats: (\{.*"jit".*\})$/.exec(l.text)?.[1]).find((s) => s);
  if (jit) res.extra = { ...res.extra, ...(JSON.parse(jit) as Record<string, unknown>) };
  if (unavailable) {
    res.unavailable = true;
    res.error = `not available: ${unavailable}`;
    return res;
  }

  const init = run.lines.find((l) => l.text.includes(INIT_MARKER));
  const off = run.lines.find((l) => POWEROFF.test(l.text));
  const done = run.lines.some((l) => l.text === BENCH_DONE);
  const errs = run.lines.filter((l) => l.text.startsWith("BENCH error")).map((l) => l.text);
  if (!init || !off || !done || errs.length > 0) {
    const what =
      errs[0] ?? (!init ? "no /init marker" : !done ? "no BENCH done marker" : "no power-off message");
    const how = run.timedOut
      ? `timed out after ${(ctx.timeoutMs / 1000).toFixed(0)} s`
      : `exit ${run.code ?? run.signal} after ${(run.exitT / 1000).toFixed(1)} s`;
    const insns = last ? `, ${(last.insns / 1e9).toFixed(2)}e9 insns` : "";
    const stderrLast = lastMeaningful(run.errLines);
    const serialLast = lastMeaningful(run.lines);
    const tail = stderrLast
      ? `; stderr: ${stderrLast}`
      : serialLast
        ? `; last serial line: ${serialLast}`
        : "; no serial output";
    res.error = `${what} (${how}${insns})${tail}`;
    return res;
  }
  res.ms["boot.init"] = init.t;
  res.ms["boot.poweroff"] = off.t;
  bootPhases(res, run.lines);
  const err = collect(res, run.lines, workloadPrograms(workload), work.runs);
  if (err) {
    res.error = err;
    return res;
  }
  res.ok = true;
  return res;
}

/** The boot's phases (BOOT_PHASES) in `res.ms`; a phase whose lines did not both come is left out. */
export function bootPhases(res: Pick<RunResult, "ms">, lines: Line[]): void {
  let from: number | undefined = 0;
  for (const [id, endsAt] of BOOT_PHASES) {
    const to = lines.find((l) => l.text.includes(endsAt))?.t;
    if (from !== undefined && to !== undefined && to >= from) res.ms[id] = to - from;
    from = to;
  }
}

async function runNative(workload: GuestWorkload, ctx: RunContext): Promise<RunResult> {
  const res: RunResult = {
    engine: "native",
    workload,
    ok: false,
    ms: {},
    mips: {},
    checksums: [],
    guestUs: {},
    wallMs: 0,
  };
  if (workload === "boot") {
    res.unavailable = true;
    res.error = "n/a";
    return res;
  }
  const { guest, work } = ctx;
  const lines: Line[] = [];
  const t0 = performance.now();
  const args: Record<string, string[]> = {
    compute: [String(work.units)],
    syscalls: [String(work.syscalls)],
    forkexec: [String(work.forks)],
  };
  for (const prog of workloadPrograms(workload)) {
    for (let r = 1; r <= work.runs; r++) {
      const extra = prog === "forkexec" ? [guest.busybox, "true"] : [];
      const p = guest.programs[prog as keyof typeof guest.programs];
      const run = await runChild({
        cmd: p,
        args: [...args[prog]!, String(r), ...extra],
        timeoutMs: ctx.timeoutMs,
      });
      const base = lines.length ? lines[lines.length - 1]!.t + 1 : 0;
      // Each run is its own process: offset its timestamps so markers stay ordered.
      for (const l of run.lines) lines.push({ t: base + l.t, text: l.text });
      if (run.code !== 0) {
        res.error = `${prog} run=${r} exited ${run.code ?? run.signal}`;
        return res;
      }
    }
  }
  res.wallMs = performance.now() - t0;
  const err = collect(res, lines, workloadPrograms(workload), work.runs, true);
  if (err) res.error = err;
  else res.ok = true;
  return res;
}

/** Why an engine cannot run on this machine at all (null: it can). */
export async function engineUnavailable(engine: Engine): Promise<string | null> {
  if (engine.kind === "qemu") {
    if (!which("qemu-system-i386")) return "qemu-system-i386 not installed (apt-get install qemu-system-x86)";
  }
  if (engine.kind === "native") {
    if (process.arch !== "x64" && process.arch !== "ia32") return `host is ${process.arch}, not x86`;
    // The programs are static i386 ELF: an x86-64 kernel without IA-32 emulation refuses them.
    const busybox = join(defaultGuestPaths().dir, "busybox");
    if ((await exec(busybox, ["true"])).code !== 0)
      return "this host's kernel cannot run i386 ELF programs (no IA-32 emulation)";
  }
  return null;
}

export async function engineVersion(engine: Engine): Promise<string> {
  if (engine.kind === "qemu") {
    const r = await exec("qemu-system-i386", ["--version"]);
    return r.stdout.split("\n")[0]?.trim() ?? "";
  }
  return "";
}

export function runOnce(engine: Engine, workload: GuestWorkload, ctx: RunContext): Promise<RunResult> {
  return engine.kind === "native" ? runNative(workload, ctx) : runGuest(engine, workload, ctx);
}
