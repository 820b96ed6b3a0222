// The emulator's Web Worker: builds the PC board from the images the page sends, runs it off the
// page's thread (so the page never freezes), forwards serial output in batches, takes terminal
// input and button actions, answers monitor command lines and reports status twice a second.
import { PcMachine } from "../src/machine/pc.ts";
import { Monitor, type MonitorHost } from "../src/monitor/monitor.ts";
import type { FromWorker, RunState, StartRequest, Status, ToWorker } from "./protocol.ts";

const VERSION = "0.1.0 (tsqemu)";
const ENGINE = "interpreter (tcg)";
const STATUS_MS = 500;
const SERIAL_FLUSH_MS = 16;

/** The worker global scope, typed with only what this file uses (the page's tsconfig has DOM types). */
interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
}
const scope = self as unknown as WorkerScope;
const post = (message: FromWorker, transfer: Transferable[] = []): void =>
  scope.postMessage(message, transfer);

let machine: PcMachine | null = null;
let monitor: Monitor | null = null;
let stopReason: string | null = null;
let serialOut: number[] = [];
let flushPending = false;
let lastSample = { t: 0, instructions: 0, mips: 0 };

function flushSerial(): void {
  flushPending = false;
  if (serialOut.length === 0) return;
  const data = Uint8Array.from(serialOut);
  serialOut = [];
  post({ type: "serial", data }, [data.buffer]);
}

/** The status; `sample` starts a new MIPS interval (the periodic report does, immediate ones don't). */
function status(sample = false): Status {
  const m = machine;
  const now = performance.now();
  let state: RunState = "running";
  if (!m || stopReason) state = "stopped";
  else if (m.paused) state = "paused";
  else if (m.cpu.halted) state = "halted";
  const instructions = m?.instructions ?? 0;
  let mips = lastSample.mips;
  if (sample) {
    const dt = now - lastSample.t;
    mips = dt > 0 ? (instructions - lastSample.instructions) / dt / 1000 : 0;
    lastSample = { t: now, instructions, mips };
  }
  return {
    engine: m?.kqemu ? "kqemu (wasm translator) + interpreter" : ENGINE,
    kqemu: m?.kqemu ? m.kqemu.mode : "disabled",
    state,
    ...(stopReason ? { reason: stopReason } : {}),
    mips,
    avgMips: m?.mips() ?? 0,
    instructions,
  };
}

function start(req: StartRequest): void {
  if (machine) {
    post({ type: "error", message: "a machine is already running in this worker" });
    return;
  }
  const m = new PcMachine({
    ramSize: req.ramMiB << 20,
    kernel: new Uint8Array(req.kernel),
    initrd: req.initrd ? new Uint8Array(req.initrd) : undefined,
    append: req.append,
    clockMode: "realtime",
    // The accelerator runs the same in a browser (no RAM file there); normal mode by default.
    accel: req.accel ?? "kqemu-user",
  });
  machine = m;
  m.serial.onTransmit = (byte) => {
    serialOut.push(byte);
    if (!flushPending) {
      flushPending = true;
      setTimeout(flushSerial, SERIAL_FLUSH_MS);
    }
  };
  const host: MonitorHost = {
    machine: m,
    name: "tsqemu-web",
    version: VERSION,
    kqemuMode: () => (m.kqemu ? m.kqemu.mode : "disabled"),
    kvmEnabled: () => false,
    kqemuStats: () => m.kqemu?.infoLines() ?? [],
    quit: () => m.requestStop("quit"),
    setLogItems: (items) => {
      if (items.length > 0) throw new Error("logging is not available in the browser");
    },
    logItemsHelp: () => "Logging is not available in the browser.\n",
    roms: () => [
      `addr=0000000000100000 size=0x${req.kernel.byteLength.toString(16).padStart(6, "0")} mem=ram name="${req.kernelName}"`,
      ...(req.initrd
        ? [
            `addr=(top of RAM) size=0x${req.initrd.byteLength.toString(16).padStart(6, "0")} mem=ram name="${req.initrdName}"`,
          ]
        : []),
    ],
  };
  monitor = new Monitor(host, (text) => post({ type: "monitor", text }));
  post({ type: "monitor", text: monitor.banner() });
  lastSample = { t: performance.now(), instructions: 0, mips: 0 };
  const timer = setInterval(() => post({ type: "status", status: status(true) }), STATUS_MS);
  m.run().then(
    (reason) => {
      stopReason = reason;
      clearInterval(timer);
      flushSerial();
      post({ type: "status", status: status() });
    },
    (e: unknown) => {
      stopReason = "error";
      clearInterval(timer);
      flushSerial();
      post({ type: "status", status: status() });
      post({
        type: "error",
        message: `emulator error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
      });
    },
  );
  post({ type: "status", status: status() });
}

function handle(msg: ToWorker): void {
  if (msg.type === "start") {
    start(msg);
    return;
  }
  const m = machine;
  if (!m) {
    if (msg.type === "monitor") post({ type: "monitor", text: "no machine is running yet\n" });
    return;
  }
  switch (msg.type) {
    case "input":
      m.serial.receive(msg.data);
      break;
    case "pause":
      m.pause();
      break;
    case "resume":
      m.resume();
      break;
    case "reset":
      // As QEMU's system_reset: a paused machine resets when it is resumed.
      m.requestReset();
      break;
    case "powerdown":
      m.powerButton();
      break;
    case "quit":
      m.requestStop("quit");
      break;
    case "monitor":
      monitor?.execute(msg.line);
      break;
  }
  // Buttons and monitor commands change the state: report it now rather than at the next tick.
  if (msg.type !== "input") post({ type: "status", status: status() });
}

scope.onmessage = (event) => {
  try {
    handle(event.data);
  } catch (e) {
    post({ type: "error", message: e instanceof Error ? e.message : String(e) });
  }
};
post({ type: "ready" });
