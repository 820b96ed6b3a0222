// Dev tool: where the boot's time goes, phase by phase. Boots the bench guest to /init in this
// process (-kernel-kqemu, as the CLI tunes V8) and prints each console line with the host time
// since the previous one, the guest instructions run meanwhile and, with MAP (a kallsyms capture,
// see lib/kallsyms.ts; the guest then boots with nokaslr), the kernel functions the engine's run()
// calls ended in, weighted by their host time. Lines that took less than MIN_MS (default 25) are
// left out. The phase before the first line is the bzImage's decompressor (paging off).
// Usage: MAP=kallsyms.txt node --import tsx bench/boot-phases.ts
import { R_EIP } from "../src/cpu/state.ts";
import { INIT_MARKER } from "../src/util/guest-cache.ts";
import { benchMachine } from "./lib/dev-machine.ts";
import { kallsymsLookup } from "./lib/kallsyms.ts";

const map = process.env.MAP;
const symOf = map ? kallsymsLookup(map, (eip) => eip.toString(16)) : null;
const minMs = Number(process.env.MIN_MS ?? 25);
const m = await benchMachine(map ? " nokaslr" : "");
const engine = m.kqemu;

// Host time by the function EIP is in when each run() call returns (a 20,000-instruction budget,
// or an exit): a coarse profile of the guest, per phase.
const spent = new Map<string, number>();
if (symOf !== null) {
  const run = engine.run.bind(engine);
  engine.run = (budget: number) => {
    const t = performance.now();
    const ex = run(budget);
    const k = symOf(m.cpu.r[R_EIP] >>> 0);
    spent.set(k, (spent.get(k) ?? 0) + performance.now() - t);
    return ex;
  };
}

const t0 = performance.now();
let last = t0;
let lastInsns = 0;
let line = "";
m.serial.onTransmit = (b) => {
  if (b !== 10) {
    line += String.fromCharCode(b);
    return;
  }
  const now = performance.now();
  if (now - last >= minMs || line.includes(INIT_MARKER)) {
    const top = [...spent]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(", ");
    const insns = (m.cpu.icount - lastInsns) / 1e6;
    console.log(
      `${(now - t0).toFixed(0).padStart(6)} ms  +${(now - last).toFixed(0).padStart(5)} ms  ${insns.toFixed(0).padStart(5)} M  ${line.slice(0, 80)}`,
    );
    if (top !== "") console.log(`${" ".repeat(31)}in: ${top}`);
  }
  spent.clear();
  last = now;
  lastInsns = m.cpu.icount;
  if (line.includes(INIT_MARKER)) {
    for (const l of engine.infoLines()) console.log(l);
    process.exit(0);
  }
  line = "";
};
await m.run();
