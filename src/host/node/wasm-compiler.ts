// Compiling the accelerator's wasm off the guest's thread (KqemuEngine.remoteCompiler): a worker
// thread runs `new WebAssembly.Module` on each batch's bytes and posts the module back (a compiled
// WebAssembly.Module crosses threads without a copy of its code); the engine polls for it with
// receiveMessageOnPort() between turns of its run loop, so nothing waits for Node's event loop
// (V8's asynchronous WebAssembly.compile() took ~31 ms per module to come back that way: see
// docs/kqemu.md, "Tried and not kept"). The worker shares the process's V8 flags (eager compile).
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import type { RemoteCompiler } from "../../accel/kqemu/engine.ts";

// CommonJS, evaluated in the worker: sleep in Atomics.wait until the engine's thread has counted a
// batch in `queued`, take the batches from the port, compile each, send the module back with the
// bytes' buffer, for the next module (or null and the bytes), then count the reply in `sent`, the
// word the engine's thread reads before it asks the port (postMessage() has queued the reply by
// then). Its event loop never runs: idle there, it spun on cppgc's incremental sweep task, which
// reschedules itself, apparently until V8's helper threads (at nice 19: thread-priority.ts) have
// swept, while the spinning worker took the core they needed (kept after the boot: 680-970 ms of
// CPU per 700-900 ms fork+exec run; sleeping here, <20 ms).
const WORKER = `
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
const { port, sent, queued } = workerData;
run: for (;;) {
  Atomics.wait(queued, 0, 0);
  for (let r = receiveMessageOnPort(port); r !== undefined; r = receiveMessageOnPort(port)) {
    Atomics.sub(queued, 0, 1);
    const m = r.message;
    if (m === null) break run;
    const bytes = new Uint8Array(m.buffer, m.offset, m.length);
    let module = null;
    try { module = new WebAssembly.Module(bytes); } catch {}
    if (module !== null) port.postMessage({ id: m.id, module, spent: m.buffer }, [m.buffer]);
    else port.postMessage({ id: m.id, module, bytes }, [m.buffer]);
    Atomics.add(sent, 0, 1);
    Atomics.notify(sent, 0);
  }
}
`;

/** What the worker posts back: the module, or null and the bytes of a failed compile. */
type Reply = NonNullable<ReturnType<RemoteCompiler["poll"]>>;

/** A worker-thread compiler, or null where none can be started. */
export function workerCompiler(): (RemoteCompiler & { wait(ms: number): void; close(): void }) | null {
  try {
    const { port1, port2 } = new MessageChannel();
    // Replies sent and not yet taken: poll() reads this word, not the port, while it is 0. The engine
    // polls at each turn of its run loop and each dispatcher miss while a batch is away (~110 K
    // times on a boot, 99.7% of them for nothing): receiveMessageOnPort() took 45-52 ms of them.
    const sent = new Int32Array(new SharedArrayBuffer(4));
    // Messages posted to the worker and not yet taken: what it sleeps on.
    const queued = new Int32Array(new SharedArrayBuffer(4));
    const post = (m: unknown, transfer: ArrayBuffer[] = []) => {
      port1.postMessage(m, transfer);
      Atomics.add(queued, 0, 1);
      Atomics.notify(queued, 0);
    };
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: { port: port2, sent, queued },
      transferList: [port2],
    });
    // Neither keeps the process alive: the machine's end ends it.
    worker.unref();
    port1.unref();
    return {
      submit(id, bytes) {
        // Its whole buffer transferred, not copied (copying ~40 KB through postMessage took ~0.12 ms
        // a batch, and so did slicing the module out of its builder's larger buffer).
        post({ id, buffer: bytes.buffer, offset: bytes.byteOffset, length: bytes.byteLength }, [
          bytes.buffer,
        ]);
      },
      poll() {
        if (Atomics.load(sent, 0) === 0) return null;
        const m = receiveMessageOnPort(port1);
        if (m === undefined) return null;
        Atomics.sub(sent, 0, 1);
        return m.message as Reply;
      },
      wait(ms) {
        Atomics.wait(sent, 0, 0, ms);
      },
      close() {
        // Out of its loop (a null message), then gone.
        post(null);
        void worker.terminate();
        port1.close();
      },
    };
  } catch {
    return null;
  }
}
