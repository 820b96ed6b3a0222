// The worker-thread compiler the Node host gives the kqemu engine (src/host/node/wasm-compiler.ts):
// modules compiled there come back, polled without waiting, and run here.
import assert from "node:assert/strict";
import { test } from "node:test";
import { workerCompiler } from "../../src/host/node/wasm-compiler.ts";

// (module (func (export "f") (result i32) i32.const 42))
const ANSWER = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x02, 0x01,
  0x00, 0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, 0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x2a, 0x0b,
]);

async function reply(poll: () => { id: number; module: WebAssembly.Module | null } | null) {
  const until = Date.now() + 10_000;
  for (;;) {
    const r = poll();
    if (r !== null) return r;
    assert.ok(Date.now() < until, "the worker answers");
    await new Promise((res) => setTimeout(res, 1));
  }
}

test("workerCompiler: bytes transferred to the worker, the module compiled there comes back by poll() and runs here; bad bytes come back with a null module; wait() returns once a reply is there", async () => {
  const rc = workerCompiler();
  assert.ok(rc !== null, "a worker starts");
  assert.equal(rc.poll(), null, "nothing before a submit");
  const bytes = ANSWER.slice();
  rc.submit(7, bytes);
  assert.equal(bytes.byteLength, 0, "transferred, not copied");
  const r = await reply(() => rc.poll());
  assert.equal(r.id, 7);
  assert.ok(r.module instanceof WebAssembly.Module);
  const f = new WebAssembly.Instance(r.module).exports.f as () => number;
  assert.equal(f(), 42);
  // The bytes' buffer comes back for the next module.
  const spent = (r as { spent?: ArrayBuffer }).spent;
  assert.ok(spent instanceof ArrayBuffer && spent.byteLength === ANSWER.length, "the buffer handed back");
  // A view on part of a buffer (a module builder's, with room to spare): the whole buffer goes,
  // the module is the view's bytes.
  const big = new Uint8Array(ANSWER.length + 16);
  big.set(ANSWER, 8);
  rc.submit(9, big.subarray(8, 8 + ANSWER.length));
  assert.equal(big.byteLength, 0, "the whole buffer transferred");
  const r9 = await reply(() => rc.poll());
  assert.equal(r9.id, 9);
  assert.equal(
    (r9 as { spent?: ArrayBuffer }).spent?.byteLength,
    ANSWER.length + 16,
    "the whole buffer back",
  );
  assert.equal((new WebAssembly.Instance(r9.module as WebAssembly.Module).exports.f as () => number)(), 42);
  rc.submit(8, new Uint8Array([0, 1, 2, 3]));
  const t0 = Date.now();
  rc.wait(10_000);
  assert.ok(Date.now() - t0 < 5_000, "wait() ended with the reply");
  const bad = rc.poll();
  assert.equal(bad?.id, 8);
  assert.equal(bad?.module, null);
  assert.deepEqual([...(bad?.bytes ?? [])], [0, 1, 2, 3], "the bytes sent back");
  assert.equal(rc.poll(), null);
  rc.close();
});
