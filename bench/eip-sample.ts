// Dev tool: boots the default guest (nokaslr) and attributes host time to guest kernel functions
// by the EIP after each run-loop chunk. Debian's image ships no real System.map: capture the text
// symbols from the guest once (boot with `-append "console=ttyS0 nokaslr"`, run
// `grep " [tT] " /proc/kallsyms`) and pass that file. Usage:
//   MAP=/path/kallsyms.txt ACCEL=kqemu-full node --import tsx bench/eip-sample.ts SECONDS
import { R_EIP } from "../src/cpu/state.ts";
import { devMachine } from "./lib/dev-machine.ts";
import { kallsymsLookup } from "./lib/kallsyms.ts";

const symOf = kallsymsLookup(process.env.MAP ?? "kallsyms.txt", (eip) => `?${eip.toString(16)}`);
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
