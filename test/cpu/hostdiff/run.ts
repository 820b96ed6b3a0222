// Drives the host-differential harness: generate cases, run them in batches on the host CPU (one
// process per batch, several at once) and on the interpreter, compare, and collect statistics.
import { availableParallelism } from "node:os";
import type { CPU } from "../../../src/cpu/cpu.ts";
import { hexBytes, REG32 } from "./asm.ts";
import { HostCrash, runHost } from "./elf32.ts";
import { type Case, generate } from "./gen.ts";
import { compare, flagText, hex32, makeDiffCpu, mapLikeHost, type RunEngine, runInterp } from "./interp.ts";

export interface Mismatch {
  c: Case;
  diffs: string[];
}

export interface GroupStats {
  cases: number;
  faults: number;
  mismatches: number;
}

export interface RunResult {
  total: number;
  groups: Map<string, GroupStats>;
  mismatches: Mismatch[];
}

const BATCH = 4000;

export async function runCases(
  cases: readonly Case[],
  keep = 50,
  makeEngine?: (c: CPU) => RunEngine,
): Promise<RunResult> {
  const groups = new Map<string, GroupStats>();
  const mismatches: Mismatch[] = [];
  const cpu = makeDiffCpu();
  const engine = makeEngine?.(cpu);
  const batches: Case[][] = [];
  for (let k = 0; k < cases.length; k += BATCH) batches.push(cases.slice(k, k + BATCH));
  const parallel = Math.max(1, Math.min(4, availableParallelism() - 1));
  const pending = new Map<number, Promise<Awaited<ReturnType<typeof runHost>>>>();
  const start = (k: number) => {
    if (k >= batches.length) return;
    const p = runHost(batches[k]);
    p.catch(() => {}); // awaited below; keeps a failure of a batch not yet awaited from going unhandled
    pending.set(k, p);
  };
  for (let k = 0; k < parallel; k++) start(k);
  for (let k = 0; k < batches.length; k++) {
    const res = await pending.get(k)!.catch((e: unknown) => {
      if (e instanceof HostCrash) {
        const c = batches[k][e.completed];
        throw new Error(`${e.message}\nthe case that killed it:\n${describe({ c, diffs: [] })}`);
      }
      throw e;
    });
    pending.delete(k);
    start(k + parallel);
    const batch = batches[k];
    mapLikeHost(cpu, res.image, res.codeEnd);
    for (let j = 0; j < batch.length; j++) {
      const c = batch[j];
      const host = res.out[j];
      const ours = runInterp(cpu, c, res.codeAddr[j], engine);
      const diffs = compare(host, ours, c);
      let g = groups.get(c.group);
      if (!g) groups.set(c.group, (g = { cases: 0, faults: 0, mismatches: 0 }));
      g.cases++;
      if (host.vector >= 0) g.faults++;
      if (diffs.length) {
        g.mismatches++;
        if (mismatches.length < keep) mismatches.push({ c, diffs });
      }
    }
  }
  return { total: cases.length, groups, mismatches };
}

export function runSeed(seed: number, n: number, groups?: string[]): Promise<RunResult> {
  return runCases(generate(seed, n, groups));
}

export function describe(m: Mismatch): string {
  const c = m.c;
  const lines = [
    `[${c.group}] ${c.text}`,
    `  bytes: ${hexBytes(c.code)}`,
    `  initial: ${Array.from(c.regs, (v, k) => `${REG32[k]}=${hex32(v)}`).join(" ")}`,
    `           flags ${flagText(c.eflags)}; window seed ${hex32(c.memSeed)}${c.patches.length ? `; patches ${c.patches.map(([o, v]) => `+0x${o.toString(16)}=${hex32(v)}`).join(" ")}` : ""}`,
    ...m.diffs.map((d) => `  ${d}`),
  ];
  return lines.join("\n");
}

export function summary(r: RunResult): string {
  const rows = [...r.groups.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  return rows
    .map(
      ([g, s]) =>
        `  ${g.padEnd(8)} ${String(s.cases).padStart(8)} cases ${String(s.faults).padStart(6)} faulting ${String(s.mismatches).padStart(6)} mismatches`,
    )
    .join("\n");
}
