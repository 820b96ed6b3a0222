// The translator's code as V8's optimizing tier (TurboFan) compiles it, with branch hints on (the
// production setting on Node 20, src/host/node/v8-tuning.ts): the other kqemu tests run blocks once
// each, in V8's baseline tier, which ignores hints. Here every block is compiled by TurboFan
// (--no-liftoff, set before this process compiles any wasm), and generated cases are compared with
// the interpreter as in kqemu-interpdiff.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { generate } from "../cpu/hostdiff/gen.ts";
import { CPL0_GROUPS, diffKqemu } from "./kqemu-diff.ts";

setFlagsFromString("--no-liftoff");
setFlagsFromString("--experimental-wasm-branch-hinting");

test("kqemu: generated cases agree with the interpreter when V8's optimizing tier compiles the blocks, hints on", () => {
  const user = diffKqemu(generate(0x7f31, 3000), "user", 3);
  assert.deepEqual(user.bad, []);
  assert.ok(user.stats.insnsCompiled > 3000, `compiled instructions: ${user.stats.insnsCompiled}`);
  const full = diffKqemu(generate(0x7f32, 2000, CPL0_GROUPS), "full", 0);
  assert.deepEqual(full.bad, []);
  assert.ok(full.stats.insnsCompiled > 2000 && full.faults > 10);
});
