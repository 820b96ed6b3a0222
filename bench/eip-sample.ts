// Dev tool: boots the default guest (nokaslr) and attributes host time to guest kernel functions
// by the EIP after each run-loop chunk. Debian's image ships no real System.map: capture the text
// symbols from the guest once (boot with `-append "console=ttyS0 nokaslr"`, run
// `grep " [tT] " /proc/kallsyms`) and pass that file. Usage:
//   MAP=/path/kallsyms.txt ACCEL=kqemu-full node --import tsx bench/eip-sample.ts SECONDS
import { readFileSync } from "node:fs";
import { R_EIP } from "../src/cpu/state.ts";
import { devMachine } from "./lib/dev-machine.ts";

const syms = readFileSync(process.env.MAP ?? "kallsyms.txt", "utf8")
  .split("\n")
  .map((l) => l.split(" "))
  // Only "address type name" lines: a stray console line in a captured file would sort as NaN.
  .filter((p) => p.length === 3 && /^[0-9a-f]+$/i.test(p[0]) && /^[tTwW]$/.test(p[1]))
  .map((p) => [Number.parseInt(p[0], 16), p[2]] as const)
  .sort((a, b) => a[0] - b[0]);
const symOf = (eip: number): string => {
  let lo = 0;
  let hi = syms.length - 1;
  if (eip < syms[0][0]) return `?${eip.toString(16)}`;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (syms[mid][0] <= eip) lo = mid;
    else hi = mid - 1;
  }
  return syms[lo][1];
};
const { m, serial } = devMachine("console=ttyS0 nokaslr");
const hist = new Map<string, number>();
const eng = m.kqemu;
const cpu = m.cpu;
const target: { run(n: number): number } = eng ?? cpu;
const orig = target.run.bind(target);
let last = performance.now();
target.run = (n: number) => {
  const t0 = performance.now();
  const ex = orig(n);
  const t1 = performance.now();
  const k = symOf(cpu.r[R_EIP] >>> 0);
  hist.set(k, (hist.get(k) ?? 0) + (t1 - t0));
  last = t1;
  return ex;
};
const secs = Number(process.argv[2] ?? 60);
setTimeout(() => {
  const rows = [...hist].sort((a, b) => b[1] - a[1]).slice(0, 40);
  for (const [k, v] of rows) console.log(v.toFixed(0).padStart(8), "ms", k);
  console.log(serial().split("\n").slice(-3).join("\n"));
  if (eng) console.log(eng.infoLines().join("\n"));
  process.exit(0);
}, secs * 1000);
void last;
await m.run();
