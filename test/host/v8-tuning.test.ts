import assert from "node:assert/strict";
import { test } from "node:test";
import { tuneEngineForV8, v8Before } from "../../src/host/node/v8-tuning.ts";

test("v8-tuning: branch hints need their flag only on V8 before 13.7", () => {
  assert.equal(v8Before(13, 7, "11.3.244.8-node.33"), true); // Node 20
  assert.equal(v8Before(13, 7, "12.4.254.21-node.33"), true); // Node 22
  assert.equal(v8Before(13, 7, "13.6.233.10-node.18"), true); // Node 24
  assert.equal(v8Before(13, 7, "13.7.152.9"), false);
  assert.equal(v8Before(13, 7, "14.1.146.11"), false);
});

test("tuneEngineForV8: a worker compiler in full virtualization (while the guest boots), none in normal mode", () => {
  type Tunable = Parameters<typeof tuneEngineForV8>[0];
  const engine = (mode: "user" | "full"): Tunable => ({
    mode,
    onFirstUserBlock: null,
    compileHot: null,
    remoteCompiler: null,
    stopRemoteCompiler() {
      this.remoteCompiler = null;
    },
  });
  const normal = engine("user");
  tuneEngineForV8(normal);
  assert.equal(normal.remoteCompiler, null, "normal mode: no worker");
  assert.notEqual(normal.onFirstUserBlock, null, "normal mode: the steady-state hook");
  const full = engine("full");
  tuneEngineForV8(full);
  if (process.env.TSQEMU_SYNC_COMPILE) return;
  const remote = full.remoteCompiler as { close?: () => void } | null;
  assert.notEqual(remote, null, "full virtualization: a worker compiler");
  remote?.close?.();
});
