// V8 settings for the kqemu accelerator on Node (a browser keeps its own).
//
// V8 runs a compiled block's wasm first with its baseline compiler (Liftoff) and re-compiles it with
// its optimizing one (TurboFan, on background threads) once the function has used up a "tiering
// budget" of executed code. The boot runs thousands of blocks a few thousand times each: with the
// default budget most of them get optimized, and that background work takes the CPU from the
// emulator's own thread on small hosts. Measured on the 2-core VM (Debian boot to /init,
// -kernel-kqemu, interleaved runs, medians), before branch hints: 11.2 s with the default 1.8 M,
// 10.6 s with 5 M, 10.1 s with 20 M.
//
// Branch hints (the translator marks TLB hits, loop back edges and helper results as likely or
// not; wasm-builder.ts) let TurboFan move the slow paths' write-backs out of the hot path. Liftoff
// ignores them. With them, optimized code pays off sooner: a bare-CPU loop over 2,000 distinct
// functions (bench/user-run.ts, 301 M instructions) 3.6 s -> 2.8 s at the default budget, and the
// boot measures the same at 5 M as at 20 M (4 interleaved pairs: 9.7 / 11.6 / 11.9 / 10.5 s vs
// 9.1 / 11.6 / 13.7 / 10.7 s) while fork+exec's kernel paths reach TurboFan: steady runs 7-9 of
// fork+exec x100 900-1,010 ms vs 1,235-1,323 ms at 20 M in the same period. Later, in a calmer
// period, 20 M booted 3% faster in 4 of 4 pairs (8.6-9.1 vs 8.8-9.2 s); 20 M until the first user
// code and 1.8 M after (V8 reads the budget when a module is instantiated) left fork+exec's second
// and third runs 15-30% slower than 5 M throughout: its kernel paths were compiled at boot.
//
// Once the guest runs user code its boot is over, and what follows repeats: system calls, page
// faults, fork and exec run the same kernel paths over and over, a few hundred times a second each,
// which never use up the tiering budget, so they stayed in baseline code for good (fork+exec ran at
// ~60 M guest instructions a second, 10-19 ns per instruction in its blocks, against 0.4-1 ns in
// optimized loops). tuneV8ForSteadyState() then has every module compiled from there on optimized
// in the background as soon as it exists (V8's dynamic tiering off; a module reads the flag when it
// is compiled: the boot's modules keep theirs), with one compile task per spare core. Measured
// (bench guest through the CLI, fork+exec x100, separate processes in rounds, host time): steady
// runs 471-617 ms vs 740-1,360 ms, first run (which compiles the new paths) 1.73-1.90 s vs
// 1.68-2.19 s. With every compile task: steady 381-666 ms, first run 1.99-2.21 s (the compiles take
// the emulator's core). A 50 K budget instead: steady 693-845 ms, first run 2.16-2.34 s. The
// compute workload level (its loops get optimized either way); turned on from the start, the boot
// to /init was 8% slower: boot code mostly runs a few times.
import { availableParallelism } from "node:os";
import { setFlagsFromString } from "node:v8";
import type { KqemuEngine } from "../../accel/kqemu/engine.ts";
import { workerCompiler } from "./wasm-compiler.ts";

/** Tiering budget (V8's rough count of bytes executed before a wasm function is optimized). */
const WASM_TIERING_BUDGET = 5_000_000;

/** Set the accelerator's V8 flags, before the first wasm module is instantiated. */
export function tuneV8ForAccelerator(): void {
  setFlagsFromString(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`);
  // Wasm functions compiled with their module, not at their first call. On the 2-core AMD EPYC VM
  // of 2026-12-07 a boot to /init took 5.96-6.42 s (median 6.27) instead of 6.36-6.64 s (median
  // 6.51), 5 of 5 alternating process rounds, its modules' compile ~1.3 s instead of ~0.97 s: V8's
  // lazy compile of each block at its first call, counted in the dispatcher's time, cost more than
  // compiling the batch at once. getpid, fork+exec and compute runs level. (On an Intel host in
  // 2026-12-05 the two had measured level.)
  setFlagsFromString("--no-wasm-lazy-compilation");
  // Read when a module is compiled. V8 shipped branch hints in 13.7 (Chrome 137); before that they
  // sit behind this flag (Node 20: V8 11.3). Not set on newer V8, which may no longer know the flag
  // and would print "unrecognized flag" at every start.
  if (v8Before(13, 7)) setFlagsFromString("--experimental-wasm-branch-hinting");
}

/** Set when the guest first runs user code (see above): later modules are optimized at once. */
export function tuneV8ForSteadyState(): void {
  setFlagsFromString("--no-wasm-dynamic-tiering");
  setFlagsFromString(`--wasm-num-compilation-tasks=${Math.max(1, availableParallelism() - 1)}`);
}

/**
 * The Node host's hooks on an accelerator engine: once the guest runs user code, later modules are
 * optimized at once (tuneV8ForSteadyState()), and user loops seen running long are compiled
 * optimized (compileOptimized()).
 */
export function tuneEngineForV8(
  engine: Pick<
    KqemuEngine,
    "mode" | "onFirstUserBlock" | "compileHot" | "remoteCompiler" | "stopRemoteCompiler"
  >,
): void {
  // While the guest boots, batches are compiled on a worker thread (wasm-compiler.ts), unless
  // $TSQEMU_SYNC_COMPILE: the boot to /init through the CLI 0.2-0.7 s shorter in 9 of 10 alternating
  // pairs (medians 6.35 / 6.38 s against 6.44 / 6.61 s). The worker goes at the first user code:
  // while it lived, fork+exec's steady runs after a -kernel-kqemu boot took 930-990 ms against
  // 560-670 without a worker (kept idle after the boot; 563-841 with it gone) — its idle event loop
  // spun then (see wasm-compiler.ts); sleeping in Atomics.wait instead and kept compiling after
  // the boot (4 alternating rounds), getpid's first run took 38-46 ms against 31-32 and fork+exec's
  // 993-1,548 ms against 1,088-1,311, /init's phase 356-507 ms against 416-442: still closed here.
  // Normal mode compiles no kernel code, so nothing while the guest boots: no worker there.
  const remote = process.env.TSQEMU_SYNC_COMPILE || engine.mode !== "full" ? null : workerCompiler();
  engine.remoteCompiler = remote;
  engine.onFirstUserBlock = () => {
    engine.stopRemoteCompiler();
    remote?.close();
    tuneV8ForSteadyState();
  };
  engine.compileHot = compileOptimized;
}

/**
 * Compile `bytes` with V8's optimizing tier only, on this thread: for hot loops, which otherwise run
 * in baseline code until a background thread, busy with other modules' tier-ups, gets to them.
 * Node 20's V8 compiles wasm lazily (`--wasm-lazy-compilation` is on by default): a function is
 * compiled at its first call, with the flags of that moment. So `--no-liftoff` alone around the
 * Module changed nothing (a loop's first call of 50 M iterations: 147-162 ms with it or without,
 * then 73 ms); with eager compilation too the first call takes 73 ms. Measured on the bench guest's
 * compute (3 alternating process pairs): run 1 187-277 ms instead of 309-430, run 2 161-228
 * instead of 294-379.
 */
export function compileOptimized(bytes: Uint8Array<ArrayBuffer>): WebAssembly.Module {
  setFlagsFromString("--no-liftoff");
  setFlagsFromString("--no-wasm-lazy-compilation");
  try {
    return new WebAssembly.Module(bytes);
  } finally {
    // Eager compilation stays on (see tuneV8ForAccelerator()).
    setFlagsFromString("--liftoff");
  }
}

/** Whether V8 `version` (this process's by default, e.g. "11.3.244.8-node.33") is older than major.minor. */
export function v8Before(major: number, minor: number, version = process.versions.v8): boolean {
  const [ma, mi] = version.split(".").map(Number);
  return ma < major || (ma === major && mi < minor);
}
