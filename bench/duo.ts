// In-process A/B of two accelerator settings: two machines boot the bench guest at once in this
// process (the run loop gives each 10 ms slices in turn), so this VM's speed drift, which reaches
// 2x over minutes and hides effects of a few percent between separate runs, falls on both alike.
// Each machine's time is the host time spent in its own run-loop calls (compiling included), read
// when its serial output reaches each mark. Two machines with the same settings agree within ~1%.
//
//   node --import tsx bench/duo.ts threshold=64 threshold=48
//   MARKS='Linux version|Run /init' node --import tsx bench/duo.ts mode=full mode=full
//
// A setting is `key=value[,key=value]`: accel (kqemu-full, the default, kqemu-user or tcg: the
// interpreter alone, -no-kqemu), threshold (blocks are compiled after that many executions), mode
// (user or full, switched at run time). Two different accels in one process bias the comparison:
// V8's type feedback for the interpreter is shared, and sees both run loops (measured: normal mode
// 13% slower than tcg on getpid in one process, level in separate ones); a warning says so. Nor
// does it judge settings that change how much V8 compiles (the threshold: 256 looked better than 64
// in every pair here, and made fork+exec's steady runs 20-60% slower in separate processes): two
// machines in one process share V8's compile threads and code space.
// $RUNS and $FORKS set the workload after the boot (default:
// one run of getpid x20000 and of fork+exec x10); with RUNS=3, MARKS='BENCH forkexec run=3 end'
// times up to the end of the third fork+exec run.
import { readFileSync } from "node:fs";
import { tuneV8ForAccelerator } from "../src/host/node/v8-tuning.ts";
import { PcMachine } from "../src/machine/pc.ts";
import { benchCmdline, DEFAULT_WORK, ensureBenchGuest } from "./lib/guest.ts";

interface Knobs {
  accel: "tcg" | "kqemu-user" | "kqemu-full";
  threshold?: number;
  mode?: "user" | "full";
}

function parse(spec: string): Knobs {
  const k: Knobs = { accel: "kqemu-full" };
  for (const kv of spec.split(",").filter((s) => s !== "")) {
    const [key, value] = kv.split("=");
    if (key === "accel" && (value === "tcg" || value === "kqemu-user" || value === "kqemu-full"))
      k.accel = value;
    else if (key === "threshold" && /^\d+$/.test(value)) k.threshold = Number(value);
    else if (key === "mode" && (value === "user" || value === "full")) k.mode = value;
    else
      throw new Error(`unknown setting ${kv} (accel=tcg|kqemu-user|kqemu-full, threshold=N, mode=user|full)`);
  }
  if (k.accel === "tcg" && (k.threshold !== undefined || k.mode !== undefined))
    throw new Error("threshold and mode need a kqemu accel");
  return k;
}

const specs = process.argv.slice(2);
if (specs.length !== 2) {
  console.error("usage: bench/duo.ts <settings A> <settings B>   e.g. threshold=64 threshold=48");
  process.exit(2);
}
const marks = (process.env.MARKS ?? "Linux version|Run /init|BENCH done").split("|");
const guest = await ensureBenchGuest((l) => console.error(l));
tuneV8ForAccelerator();
const kernel = readFileSync(guest.kernel);
const initrd = readFileSync(guest.initrd);
// A short workload after the boot by default: one run of getpid and of fork+exec x10.
const work = { ...DEFAULT_WORK, forks: Number(process.env.FORKS ?? 10), runs: Number(process.env.RUNS ?? 1) };
const append = benchCmdline("kernel", work);

function boot(label: string, knobs: Knobs): Promise<string> {
  const m = new PcMachine({
    ramSize: 128 << 20,
    kernel,
    initrd,
    append,
    noReboot: true,
    accel: knobs.accel,
  });
  const k = m.kqemu ?? m.cpu; // the run loop's engine: its calls are timed
  if (m.kqemu !== null) {
    if (knobs.threshold !== undefined) m.kqemu.threshold = knobs.threshold;
    if (knobs.mode !== undefined) m.kqemu.mode = knobs.mode;
  }
  let host = 0;
  const run = k.run.bind(k);
  k.run = (budget: number) => {
    const t0 = performance.now();
    try {
      return run(budget);
    } finally {
      host += performance.now() - t0;
    }
  };
  const seen: string[] = [];
  let line = "";
  return new Promise((resolve) => {
    m.serial.onTransmit = (b) => {
      if (b !== 10) {
        line += String.fromCharCode(b);
        return;
      }
      for (const mark of marks) if (line.includes(mark)) seen.push(`${mark}: ${host.toFixed(0)} ms`);
      if (line.includes(marks[marks.length - 1])) {
        m.requestStop("quit");
        resolve(`${label.padEnd(24)} ${seen.join(", ")}`);
      }
      line = "";
    };
    void m.run();
  });
}

const knobs = specs.map(parse);
if (knobs[0].accel !== knobs[1].accel)
  console.error("warning: different accels in one process share V8's type feedback (see bench/duo.ts)");
const results = await Promise.all(specs.map((s, k) => boot(s, knobs[k])));
for (const r of results) console.log(r);
process.exit(0);
