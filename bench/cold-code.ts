// Dev tool: where a -kernel-kqemu boot of the bench guest to /init spends its time on cold code.
// Wraps the run loop's calls (the dispatcher, the interpreter's stretches, block-map lookups, the
// translator) with timers and prints their counts and host time, then the interpreter's stretches
// of kernel code by length (fixed and per-instruction cost) and by the EIP they started at: how many
// of the interpreted instructions are warm-up of code that got compiled, and how many are in code
// run too few times to get compiled at all. The timers cost ~5% of the boot.
// Usage: node --import tsx bench/cold-code.ts [KALLSYMS]   (KALLSYMS: `grep " [tT] " /proc/kallsyms`
//        of the guest booted with nokaslr, as bench/eip-sample.ts takes it; the boot then adds
//        nokaslr and names the top stretch starts)
import type { KqemuEngine } from "../src/accel/kqemu/engine.ts";
import { disassembleBytes } from "../src/cpu/disasm.ts";
import { R_EIP } from "../src/cpu/state.ts";
import { benchMachine, runToInit } from "./lib/dev-machine.ts";
import { kallsymsLookup } from "./lib/kallsyms.ts";

const KERNEL_BASE = 0xc0000000;
/** INTERP_COLD in engine.ts: the budget of a cold stretch (a single step has budget 1). */
const STRETCH_BUDGET = 2048;

const map = process.argv[2];
const symOf = map
  ? kallsymsLookup(map, (eip) => `?${eip.toString(16)}`)
  : (eip: number) => `?${eip.toString(16)}`;
const m = await benchMachine(map ? " nokaslr" : "");
const cpu = m.cpu;
// The engine's private run-loop parts, reached for timing only.
interface EngineParts {
  dispatch: (budget: number) => number;
  lookup: (eip: number) => boolean;
  translator: { translate: (...args: unknown[]) => unknown };
  blocks: Map<number, Map<number, { eip: number; slot: number; heat: number }>>;
}
const engine: KqemuEngine = m.kqemu;
const eng = engine as unknown as EngineParts;

const timed = { dispatch: [0, 0], interp: [0, 0], lookup: [0, 0], translate: [0, 0] };
function wrap<A extends unknown[], R>(slot: number[], f: (...a: A) => R): (...a: A) => R {
  return (...a: A) => {
    const t = performance.now();
    try {
      return f(...a);
    } finally {
      slot[0] += performance.now() - t;
      slot[1]++;
    }
  };
}
eng.dispatch = wrap(timed.dispatch, eng.dispatch);
eng.lookup = wrap(timed.lookup, eng.lookup.bind(eng));
eng.translator.translate = wrap(timed.translate, eng.translator.translate.bind(eng.translator));

/** Cold stretches of kernel code: by log2 length [count, instructions, ms], by start "eip mnemonic". */
const byLength = new Map<number, number[]>();
const byStart = new Map<string, number[]>();
const cpuRun = cpu.run.bind(cpu);
cpu.run = (budget: number) => {
  const eip = cpu.r[R_EIP] >>> 0;
  const i0 = cpu.icount;
  const c0 = engine.stats.compileMs;
  const t = performance.now();
  const exit = cpuRun(budget);
  const ms = performance.now() - t;
  timed.interp[0] += ms;
  timed.interp[1]++;
  if (budget === STRETCH_BUDGET && eip >= KERNEL_BASE) {
    const n = cpu.icount - i0;
    const b = n === 0 ? -1 : Math.floor(Math.log2(n));
    const l = byLength.get(b) ?? [0, 0, 0];
    l[0]++;
    l[1] += n;
    l[2] += ms - (engine.stats.compileMs - c0); // translations started by the stretch's branches left out
    byLength.set(b, l);
    let op = "?";
    try {
      op = disassembleBytes(m.mem.ram, eip - KERNEL_BASE, eip, true, "intel").text.split(/\s+/)[0];
    } catch {}
    const key = `${eip.toString(16)} ${op}`;
    const s = byStart.get(key) ?? [0, 0];
    s[0]++;
    s[1] += n;
    byStart.set(key, s);
  }
  return exit;
};

/** Whether a block was compiled (or is queued) for kernel `eip`, through the page tables now. */
function compiledAt(eip: number): boolean {
  let e = 0;
  try {
    e = cpu.tlbLookup(eip | 0, false, false);
  } catch {
    return false; // unmapped since (init code freed)
  }
  const inPage = eng.blocks.get(((e & ~0xfff) | (eip & 0xfff)) >>> 12);
  if (inPage === undefined) return false;
  for (const b of inPage.values()) if (b.eip === (eip | 0) && (b.slot >= 0 || b.heat === -2)) return true;
  return false;
}

function report(): void {
  const total = performance.now() - t0;
  const row = (name: string, [ms, n]: number[]) => `${name} ${ms.toFixed(0)} ms (${n} calls)`;
  console.log(`/init: ${total.toFixed(0)} ms, ${cpu.icount} instructions`);
  console.log(
    [
      row("dispatcher", timed.dispatch),
      row("interpreter", timed.interp),
      row("block-map lookups (with translation)", timed.lookup),
      row("translate()", timed.translate),
    ].join("; "),
  );
  console.log(`info kqemu: ${engine.infoLines().slice(1, 3).join(" | ")}`);
  console.log("cold kernel stretches by length (ms without the translations they started):");
  for (const [b, [n, insns, ms]] of [...byLength].sort((x, y) => x[0] - y[0]))
    console.log(
      `  ${b < 0 ? "0" : `2^${b}`}: ${n} stretches, ${insns} instructions, ${ms.toFixed(0)} ms, ${((ms * 1e6) / n).toFixed(0)} ns each, ${((ms * 1e6) / Math.max(1, insns)).toFixed(0)} ns per instruction`,
    );
  const rows = [...byStart].sort((x, y) => y[1][1] - x[1][1]);
  const never = new Map<string, number[]>();
  let warm = 0;
  for (const [key, [n, insns]] of rows) {
    if (compiledAt(Number.parseInt(key, 16))) {
      warm += insns;
      continue;
    }
    const k = n < 2 ? "1" : n < 4 ? "2-3" : n < 16 ? "4-15" : n < 64 ? "16-63" : "64+";
    const v = never.get(k) ?? [0, 0, 0];
    v[0]++;
    v[1] += n;
    v[2] += insns;
    never.set(k, v);
  }
  console.log(`stretches from EIPs compiled by /init (warm-up): ${warm} instructions`);
  for (const k of ["1", "2-3", "4-15", "16-63", "64+"]) {
    const v = never.get(k);
    if (v)
      console.log(
        `  from EIPs never compiled, started ${k} times: ${v[0]} EIPs, ${v[1]} stretches, ${v[2]} instructions`,
      );
  }
  console.log("top stretch starts (instructions, stretches, EIP, first instruction, function):");
  for (const [key, [n, insns]] of rows.slice(0, 25))
    console.log(`  ${insns} ${n} ${key} ${symOf(Number.parseInt(key, 16))}`);
}

const t0 = performance.now();
await runToInit(m, () => {
  report();
  process.exit(0);
});
