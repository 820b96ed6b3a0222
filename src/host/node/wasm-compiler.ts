// Compiling the accelerator's wasm off the guest's thread (KqemuEngine.remoteCompiler): a worker
// thread runs `new WebAssembly.Module` on each batch's bytes and posts the module back (a compiled
// WebAssembly.Module crosses threads without a copy of its code); the engine polls for it with
// receiveMessageOnPort() between turns of its run loop, so nothing waits for Node's event loop
// (V8's asynchronous WebAssembly.compile() took ~31 ms per module to come back that way: see
// docs/kqemu.md, "Tried and not kept"). The worker shares the process's V8 flags (eager compile).
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import type { RemoteCompiler } from "../../accel/kqemu/engine.ts";

// CommonJS, evaluated in the worker: compile each batch, send the module (or null) back.
const WORKER = `
const { workerData } = require("node:worker_threads");
const port = workerData.port;
port.on("message", (m) => {
  let module = null;
  try { module = new WebAssembly.Module(m.bytes); } catch {}
  port.postMessage({ id: m.id, module });
});
`;

interface Reply {
  id: number;
  module: WebAssembly.Module | null;
}

/** A worker-thread compiler, or null where none can be started. */
export function workerCompiler(): (RemoteCompiler & { close(): void }) | null {
  try {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(WORKER, { eval: true, workerData: { port: port2 }, transferList: [port2] });
    // Neither keeps the process alive: the machine's end ends it.
    worker.unref();
    port1.unref();
    return {
      submit(id, bytes) {
        port1.postMessage({ id, bytes });
      },
      poll() {
        const m = receiveMessageOnPort(port1);
        return m === undefined ? null : (m.message as Reply);
      },
      close() {
        void worker.terminate();
        port1.close();
      },
    };
  } catch {
    return null;
  }
}
