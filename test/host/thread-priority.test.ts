// The emulator's thread first: V8's helper threads are lowered to nice 19, the main thread is not.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { HELPER_NICE, lowerHelperThreads } from "../../src/host/node/thread-priority.ts";

/** The nice value of thread `tid` (field 19 of /proc/<pid>/task/<tid>/stat). */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
}

test("lowerHelperThreads(): every thread but the main one at nice 19, the main thread unchanged", (t) => {
  if (process.platform !== "linux") return t.skip("per-thread nice values are Linux's");
  const helpers = readdirSync("/proc/self/task")
    .map(Number)
    .filter((tid) => tid !== process.pid);
  assert.ok(helpers.length > 0, "Node runs V8's worker threads beside the main one");
  const mainBefore = niceOf(process.pid);
  const lowered = lowerHelperThreads();
  assert.equal(lowered, helpers.length);
  for (const tid of helpers) assert.equal(niceOf(tid), HELPER_NICE, `thread ${tid}`);
  assert.equal(niceOf(process.pid), mainBefore);
});
