// In-process A/B of engine modes on the kernel workload: one machine boots the bench guest with
// -kernel-kqemu (seconds, not the 2.5 minutes the interpreter needs), then runs getpid x20000 and
// fork+exec x100 RUNS times each, switching the engine at each run's BENCH begin marker in turn
// through the modes given: `user` (normal mode), `full` (-kernel-kqemu) or `tcg` (the run loop calls
// the interpreter alone, as -no-kqemu does). Times are host time between the run's markers.
//
//   node --import tsx bench/mode-ab.ts user tcg        RUNS=6 by default
//
// Why not two processes side by side: on the 2-core VM these benches ran on, two emulators at once
// often ran at unequal speeds (two identical -no-kqemu processes: 39.9 vs 22.9 and 23.6 vs 40.5
// guest MIPS; each alone 42.8-44.6), and separate processes minutes apart drift by 1.3-2x. Here both
// modes run the same guest in the same process, alternating run by run. The price: they share V8's
// state (type feedback, compiled code), and the kernel's blocks compiled at the boot stay in the cache
// (normal mode runs the kernel interpreted anyway; full mode finds them warm).
import { benchMachine } from "./lib/dev-machine.ts";
import { BENCH_DONE, DEFAULT_WORK } from "./lib/guest.ts";

type Mode = "user" | "full" | "tcg";
const modes = process.argv.slice(2);
if (modes.length === 0 || !modes.every((m): m is Mode => m === "user" || m === "full" || m === "tcg")) {
  console.error("usage: bench/mode-ab.ts MODE [MODE...]   MODE: user | full | tcg");
  process.exit(2);
}
const runs = Number(process.env.RUNS ?? 6);
const m = await benchMachine("", "kernel", { ...DEFAULT_WORK, runs });
const engine = m.kqemu;
// The run loop takes the interpreter alone while the board's engine is null (PcMachine.run()).
const board = m as unknown as { kqemu: typeof engine | null };
function use(mode: Mode): void {
  if (mode === "tcg") board.kqemu = null;
  else {
    board.kqemu = engine;
    engine.mode = mode;
  }
}

// Host time in the interpreter's own calls (CPU.run(), whichever engine made them) and the guest
// instructions they ran: in normal mode the rest of a run is compiled user code and the turns
// between the two, in tcg mode there is no rest.
let interpMs = 0;
let interpInsns = 0;
{
  const cpu = m.cpu;
  const run = cpu.run.bind(cpu);
  cpu.run = (budget: number) => {
    const t = performance.now();
    try {
      return run(budget);
    } finally {
      interpMs += performance.now() - t;
      interpInsns += cpu.lastRun;
    }
  };
}

const t0 = performance.now();
const begun = new Map<string, { t: number; mode: Mode; ms: number; insns: number }>();
const times = new Map<string, number[]>();
let line = "";
m.serial.onTransmit = (b) => {
  if (b !== 10) {
    line += String.fromCharCode(b);
    return;
  }
  const l = line;
  line = "";
  const t = performance.now();
  if (l.includes("Run /init"))
    console.log(`boot to /init (-kernel-kqemu): ${((t - t0) / 1000).toFixed(2)} s`);
  const mark = /BENCH (\w+) run=(\d+) (begin|end)/.exec(l);
  if (mark !== null) {
    const key = `${mark[1]} run ${mark[2]}`;
    if (mark[3] === "begin") {
      const mode = modes[(Number(mark[2]) - 1) % modes.length] as Mode;
      use(mode);
      begun.set(key, { t, mode, ms: interpMs, insns: interpInsns });
    } else {
      const b0 = begun.get(key);
      if (b0 !== undefined) {
        const ms = t - b0.t;
        const ims = interpMs - b0.ms;
        const mips = (interpInsns - b0.insns) / ims / 1000;
        console.log(
          `${key.padEnd(16)} ${b0.mode.padEnd(5)} ${ms.toFixed(0).padStart(6)} ms, ${ims.toFixed(0)} ms of it in the interpreter (${mips.toFixed(1)} M guest instructions a second)`,
        );
        const k = `${mark[1]} ${b0.mode}`;
        times.set(k, [...(times.get(k) ?? []), ms]);
      }
    }
  }
  if (l.includes(BENCH_DONE)) {
    console.log("runs after each mode's first (ms):");
    for (const [k, v] of times)
      console.log(
        `  ${k.padEnd(16)} ${v
          .slice(1)
          .map((x) => x.toFixed(0))
          .join(" / ")}`,
      );
    process.exit(0);
  }
};
await m.run();
