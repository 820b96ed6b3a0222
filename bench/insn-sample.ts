// Dev tool: where the boot's guest instructions go, by kernel function. Boots the default guest
// (nokaslr) on the interpreter to /init, stopping it every 1009 instructions to charge them to the
// function EIP is in (an exact instruction count per chunk, unlike eip-sample.ts's host time, so a
// function called rarely but run long is weighed right). EIPs below the kernel's first symbol
// (the bzImage's self-decompressor) are grouped by 64 KiB. Needs a kallsyms capture (see
// lib/kallsyms.ts). Takes as long as a `-no-kqemu` boot (≈2.5 min here). Usage:
//   MAP=/path/kallsyms.txt node --import tsx bench/insn-sample.ts [ROWS]
import { R_EIP } from "../src/cpu/state.ts";
import { devMachine } from "./lib/dev-machine.ts";
import { kallsymsLookup } from "./lib/kallsyms.ts";

const symOf = kallsymsLookup(
  process.env.MAP ?? "kallsyms.txt",
  (eip) => `(below the kernel) ${(eip >>> 16).toString(16)}xxxx`,
);
const rows = Number(process.argv[2] ?? 40);
const { m, serial } = devMachine("console=ttyS0 nokaslr", "tcg");
const cpu = m.cpu;
const hist = new Map<string, number>();
let total = 0;
let seen = 0;
const report = (why: string) => {
  console.log(`${why}: ${(total / 1e9).toFixed(3)} G guest instructions`);
  for (const [k, v] of [...hist].sort((a, b) => b[1] - a[1]).slice(0, rows))
    console.log(`${(v / 1e6).toFixed(1).padStart(9)} M ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
  process.exit(0);
};
const run = cpu.run.bind(cpu);
cpu.run = (n: number) => {
  const ex = run(Math.min(n, 1009));
  const k = symOf(cpu.r[R_EIP] >>> 0);
  hist.set(k, (hist.get(k) ?? 0) + cpu.lastRun);
  total += cpu.lastRun;
  const out = serial();
  if (out.length !== seen) {
    seen = out.length;
    if (out.includes("Run /init")) report("boot to /init");
  }
  return ex;
};
setTimeout(() => report("time limit (600 s)"), 600_000).unref();
await m.run();
report("machine stopped");
