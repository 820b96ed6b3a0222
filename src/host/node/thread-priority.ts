// The emulator's own thread first (Linux hosts): the guest CPU runs on Node's main thread, and V8's
// helper threads (the platform workers: wasm and JavaScript compiles in the background, concurrent
// GC) share the host's cores with it. On a small host they take it from the emulator: measured on
// the 2-core VM (/proc/self/task/<tid>/schedstat), the main thread waited on the run queue 484-684
// ms of a boot to /init (-kernel-kqemu) and ~430 ms of fork+exec x100's first run, in which the four
// workers used 2.36 s of CPU optimizing the new kernel paths' blocks. With the workers at nice 19
// the waits fell to 78-94 ms and 0-48 ms: they still get every cycle a spare core has, but no longer
// preempt the guest's thread. Through the CLI (4 alternating pairs, bench guest): boot to /init
// 7.00-7.21 s vs 7.58-8.02 s, fork+exec's first run 1.34-1.72 s vs 1.86-1.99 s. The price: the
// background work now done on one core only finishes later, so the first getpid runs after the boot
// wait longer for their optimized code (in-process: 151 / 157 ms vs 117 / 90 ms on the first run,
// level from the fourth).
//
// Linux keeps a nice value per thread (setpriority(2) with PRIO_PROCESS and a thread id), reached
// through koffi (libc.ts) as the RAM file's mmap is; elsewhere, or without koffi, nothing changes.
import { readdirSync } from "node:fs";
import { libc } from "./libc.ts";

const PRIO_PROCESS = 0;
/** The helper threads' nice value: the lowest priority short of SCHED_IDLE. */
export const HELPER_NICE = 19;

type SetPriority = (which: number, who: number, prio: number) => number;
let setpriority: SetPriority | null | undefined;

function loadSetPriority(): SetPriority | null {
  if (setpriority === undefined) {
    setpriority = null;
    const c = libc();
    if (!("why" in c))
      try {
        setpriority = c.lib.func("int setpriority(int which, int who, int prio)") as SetPriority;
      } catch {
        // No setpriority in this libc: the threads keep their priority.
      }
  }
  return setpriority;
}

/**
 * Lower every thread of this process but the main one to HELPER_NICE (call once V8's workers
 * exist: Node starts them with the process). Returns how many threads were lowered (0 where it
 * cannot be done). Threads started later keep the default priority.
 */
export function lowerHelperThreads(nice = HELPER_NICE): number {
  const set = loadSetPriority();
  if (set === null) return 0;
  let tasks: string[];
  try {
    tasks = readdirSync("/proc/self/task");
  } catch {
    return 0;
  }
  let lowered = 0;
  for (const t of tasks) {
    const tid = Number(t);
    if (tid === process.pid || !Number.isInteger(tid)) continue;
    if (set(PRIO_PROCESS, tid, nice) === 0) lowered++;
  }
  return lowered;
}
