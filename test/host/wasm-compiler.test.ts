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

test("workerCompiler: a module compiled on the worker comes back by poll() and runs here; bad bytes come back as null", async () => {
  const rc = workerCompiler();
  assert.ok(rc !== null, "a worker starts");
  assert.equal(rc.poll(), null, "nothing before a submit");
  rc.submit(7, ANSWER.slice());
  const r = await reply(() => rc.poll());
  assert.equal(r.id, 7);
  assert.ok(r.module instanceof WebAssembly.Module);
  const f = new WebAssembly.Instance(r.module).exports.f as () => number;
  assert.equal(f(), 42);
  rc.submit(8, new Uint8Array([0, 1, 2, 3]));
  assert.deepEqual(await reply(() => rc.poll()), { id: 8, module: null });
});
