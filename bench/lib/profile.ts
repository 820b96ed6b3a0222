// `npm run bench -- --profile`: the tsqemu boot under `node --cpu-prof`, and the top functions
// by self time from the .cpuprofile (V8's JSON: nodes with call frames, samples, time deltas).
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchGuest, benchCmdline, type WorkParams } from "./guest.ts";
import { runChild } from "./runner.ts";

const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

/** Self time per function (same name and source position merged), largest first. */
export function selfTimes(profile: CpuProfile): SelfTime[] {
  const byNode = new Map<number, CpuProfileNode>();
  for (const n of profile.nodes) byNode.set(n.id, n);
  const perNode = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to sample i's node.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    perNode.set(id, (perNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const merged = new Map<string, SelfTime>();
  let total = 0;
  for (const [id, us] of perNode) {
    const f = byNode.get(id)?.callFrame;
    if (!f) continue;
    total += us;
    const file = f.url.replace(/^file:\/\//, "").replace(`${ROOT}/`, "");
    // tsx-compiled modules report every function on line 0: show the file alone then.
    const where = !f.url ? "" : f.lineNumber > 0 ? `${file}:${f.lineNumber + 1}` : file;
    const name = f.functionName || (f.url ? "(anonymous)" : "(native)");
    const key = `${name}@${where}`;
    const e = merged.get(key) ?? { name, where, selfMs: 0, share: 0 };
    e.selfMs += us / 1000;
    merged.set(key, e);
  }
  const list = [...merged.values()].sort((a, b) => b.selfMs - a.selfMs);
  for (const e of list) e.share = total > 0 ? (e.selfMs * 1000) / total : 0;
  return list;
}

/** Runs the boot workload on tsqemu under --cpu-prof and prints the top `top` functions. */
export async function profileBoot(
  guest: BenchGuest,
  work: WorkParams,
  opts: { memMiB: number; seconds: number; top: number; flags: string[]; log: (l: string) => void },
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "tsqemu-prof-"));
  opts.log(`Profiling the tsqemu boot for up to ${opts.seconds} s (node --cpu-prof, output in ${dir})`);
  const run = await runChild({
    cmd: process.execPath,
    args: [
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      join(ROOT, "bin", "tsqemu.mjs"),
      "-m",
      String(opts.memMiB),
      "-kernel",
      guest.kernel,
      "-initrd",
      guest.initrd,
      "-append",
      benchCmdline("boot", work),
      "-nographic",
      "-no-reboot",
      ...opts.flags,
    ],
    // TSQEMU_STATS makes SIGTERM stop the machine cleanly, so node exits normally and writes the profile.
    env: { TSQEMU_STATS: "1" },
    timeoutMs: opts.seconds * 1000,
    doneOn: /reboot: (Power down|System halted)/,
  });
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no .cpuprofile written in ${dir} (exit ${run.code ?? run.signal})`);
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
  const list = selfTimes(profile);
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const stats = run.errLines.map((l) => l.text).filter((t) => t.startsWith("tsqemu-stats:"));
  const lines = [
    `CPU profile of tsqemu ${opts.flags.join(" ")} booting (${(totalMs / 1000).toFixed(1)} s profiled${run.timedOut ? ", stopped at the time limit" : ""}): ${join(dir, file)}`,
    ...(stats.length ? [stats[stats.length - 1]!] : []),
    "",
    `| # | self ms | self % | function | where |`,
    `| ---: | ---: | ---: | --- | --- |`,
    ...list
      .slice(0, opts.top)
      .map(
        (e, i) =>
          `| ${i + 1} | ${e.selfMs.toFixed(0)} | ${(e.share * 100).toFixed(1)} | ${e.name.replace(/\|/g, "\\|")} | ${e.where} |`,
      ),
  ];
  return `${lines.join("\n")}\n`;
}
