import assert from "node:assert/strict";
import { test } from "node:test";
import { v8Before } from "../../src/host/node/v8-tuning.ts";

test("v8-tuning: branch hints need their flag only on V8 before 13.7", () => {
  assert.equal(v8Before(13, 7, "11.3.244.8-node.33"), true); // Node 20
  assert.equal(v8Before(13, 7, "12.4.254.21-node.33"), true); // Node 22
  assert.equal(v8Before(13, 7, "13.6.233.10-node.18"), true); // Node 24
  assert.equal(v8Before(13, 7, "13.7.152.9"), false);
  assert.equal(v8Before(13, 7, "14.1.146.11"), false);
});
