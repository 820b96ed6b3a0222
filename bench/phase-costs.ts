// Dev tool: what each phase of the boot costs, by part of the engine. Boots the bench guest to /init
// in this process (-kernel-kqemu, as the CLI tunes V8), with the phases of `npm run bench` (the boot
// phase rows, cut at the same kernel log lines, the first split where the kernel's first paged
// instruction runs: the XZ decompressor before it), and prints per phase the host time and the
// part of it in the dispatcher (compiled code, and the instructions the interpreter runs for it),
// the interpreter's stretches, block-map lookups, translating, building modules and GC, the guest
// instructions interpreted and compiled, and the engine's counters that moved in the last phase.
// The parts overlap a little (GC happens inside the others; lookups run inside the interpreter's
// stretches and are left out of its column; translating runs inside lookups and is left out of
// theirs). Then the instructions the interpreter ran for compiled code, by EIP and host time (MAP: a
// kallsyms capture, see lib/kallsyms.ts, names them; the guest then boots with nokaslr).
// The timers cost a few % of the boot. Usage: MAP=kallsyms.txt node --import tsx bench/phase-costs.ts
import { PerformanceObserver } from "node:perf_hooks";
import type { KqemuEngine, KqemuStats } from "../src/accel/kqemu/engine.ts";
import { R_EIP } from "../src/cpu/state.ts";
import { benchMachine } from "./lib/dev-machine.ts";
import { BOOT_PHASES } from "./lib/engines.ts";
import { kallsymsLookup } from "./lib/kallsyms.ts";

const KERNEL_BASE = 0xc0000000;
const map = process.env.MAP;
const symOf = map ? kallsymsLookup(map, (eip) => eip.toString(16)) : (eip: number) => eip.toString(16);
const m = await benchMachine(map ? " nokaslr" : "");
const cpu = m.cpu;
const engine: KqemuEngine = m.kqemu;
// The engine's private run-loop parts, reached for timing only.
interface EngineParts {
  dispatch: (budget: number) => number;
  lookup: (eip: number) => boolean;
  moduleBytes: (...args: unknown[]) => Uint8Array;
  stepForBlock: () => number;
  translator: { translate: (...args: unknown[]) => unknown };
}
const eng = engine as unknown as EngineParts;

const parts = { dispatch: 0, interp: 0, lookup: 0, translate: 0, build: 0, gc: 0 };
type Part = keyof typeof parts;
function timed<A extends unknown[], R>(part: Part, f: (...a: A) => R): (...a: A) => R {
  return (...a: A) => {
    const t = performance.now();
    try {
      return f(...a);
    } finally {
      parts[part] += performance.now() - t;
    }
  };
}
eng.dispatch = timed("dispatch", eng.dispatch);
eng.lookup = timed("lookup", eng.lookup.bind(eng));
eng.moduleBytes = timed("build", eng.moduleBytes.bind(eng));
eng.translator.translate = timed("translate", eng.translator.translate.bind(eng.translator));
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) parts.gc += e.duration;
}).observe({ entryTypes: ["gc"] });

// Instructions the interpreter runs for compiled code, by EIP: [count, ms].
const helped = new Map<number, [number, number]>();
const step = eng.stepForBlock.bind(eng);
eng.stepForBlock = () => {
  const eip = cpu.r[R_EIP] >>> 0;
  const t = performance.now();
  const ev = step();
  const h = helped.get(eip) ?? [0, 0];
  h[0]++;
  h[1] += performance.now() - t;
  helped.set(eip, h);
  return ev;
};

// The interpreter's stretches; lookups (and so translating) run inside them, at its branches.
const cpuRun = cpu.run.bind(cpu);
let paged = false;
cpu.run = (budget: number) => {
  if (!paged && cpu.r[R_EIP] >>> 0 >= KERNEL_BASE) {
    paged = true;
    phaseEnd("(decompressor: to the first kernel-virtual EIP)");
  }
  const t = performance.now();
  const l = parts.lookup;
  try {
    return cpuRun(budget);
  } finally {
    parts.interp += performance.now() - t - (parts.lookup - l);
  }
};

type Snap = typeof parts & { t: number; stats: KqemuStats };
const snap = (): Snap => ({ ...parts, t: performance.now(), stats: { ...engine.stats } });
let prev = snap();
const ms = (v: number) => v.toFixed(0).padStart(6);
console.log(
  `${"phase (ends at)".padEnd(52)}  wall  disp interp lookup transl build    gc  M interp  M compiled`,
);
function phaseEnd(label: string, last = false): void {
  const now = snap();
  const d = (k: Part | "t") => now[k] - prev[k];
  const insns = (k: "insnsInterpreted" | "insnsCompiled") => (now.stats[k] - prev.stats[k]) / 1e6;
  console.log(
    `${label.slice(0, 52).padEnd(52)}${ms(d("t"))}${ms(d("dispatch"))} ${ms(d("interp"))} ${ms(d("lookup") - d("translate"))} ${ms(d("translate"))}${ms(d("build"))}${ms(d("gc"))} ${insns("insnsInterpreted").toFixed(2).padStart(8)} ${insns("insnsCompiled").toFixed(0).padStart(11)}`,
  );
  if (last) {
    const moved = Object.entries(now.stats)
      .map(([k, v]) => [k, v - prev.stats[k as keyof KqemuStats]] as const)
      .filter(([, v]) => v !== 0)
      .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(0)}`);
    console.log(`  counters in that phase: ${moved.join(", ")}`);
  }
  prev = now;
}

let line = "";
let phase = 0;
m.serial.onTransmit = (b) => {
  if (b !== 10) {
    line += String.fromCharCode(b);
    return;
  }
  const next = BOOT_PHASES[phase];
  if (next !== undefined && line.includes(next[1])) {
    phase++;
    phaseEnd(next[2].replace(/^boot phase: /, ""), phase === BOOT_PHASES.length);
    if (phase === BOOT_PHASES.length) {
      const bySym = new Map<string, [number, number]>();
      for (const [eip, [n, t]] of helped) {
        const s = bySym.get(symOf(eip)) ?? [0, 0];
        s[0] += n;
        s[1] += t;
        bySym.set(symOf(eip), s);
      }
      console.log("\ninstructions run for compiled code, by host time (count, ms):");
      for (const [sym, [n, t]] of [...bySym].sort((a, b) => b[1][1] - a[1][1]).slice(0, 15))
        console.log(`  ${sym.padEnd(40)} ${String(n).padStart(8)} ${t.toFixed(1).padStart(7)}`);
      process.exit(0);
    }
  }
  line = "";
};
await m.run();
console.error("the guest stopped before /init");
process.exit(1);
