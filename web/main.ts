// The page: picks the guest images (the default guest from the local cache, or files from the
// user's machine), loads them with a progress bar, starts the emulator worker, and connects the
// serial port to an xterm.js terminal, the buttons and the monitor panel to the worker.
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import type { FromWorker, PageApi, Status, ToWorker } from "./protocol.ts";

/** What /guest/info.json answers (web/guest-server.ts). */
interface GuestInfo {
  available: boolean;
  name: string;
  cmdline: string;
  files: Record<string, number>;
  hint?: string;
}

declare global {
  interface Window {
    tsqemu: PageApi;
  }
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page element #${id} missing`);
  return el as T;
};

const ui = {
  bootDefault: $<HTMLButtonElement>("boot-default"),
  guestInfo: $("guest-info"),
  kernelFile: $<HTMLInputElement>("kernel-file"),
  initrdFile: $<HTMLInputElement>("initrd-file"),
  bootFiles: $<HTMLButtonElement>("boot-files"),
  cmdline: $<HTMLInputElement>("cmdline"),
  accel: $<HTMLSelectElement>("accel"),
  ram: $<HTMLSelectElement>("ram"),
  progressRow: $("progress-row"),
  progress: $<HTMLProgressElement>("progress"),
  progressText: $("progress-text"),
  message: $("message"),
  reset: $<HTMLButtonElement>("reset"),
  pause: $<HTMLButtonElement>("pause"),
  power: $<HTMLButtonElement>("power"),
  statusEngine: $("status-engine"),
  statusKqemu: $("status-kqemu"),
  statusMips: $("status-mips"),
  statusState: $("status-state"),
  terminal: $("terminal"),
  monitorOutput: $("monitor-output"),
  monitorForm: $<HTMLFormElement>("monitor-form"),
  monitorInput: $<HTMLInputElement>("monitor-input"),
};

// ---- terminal ----

const term = new Terminal({
  cols: 100,
  rows: 30,
  scrollback: 5000,
  cursorBlink: true,
  fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace',
  fontSize: 14,
  theme: { background: "#000000" },
});
const fit = new FitAddon();
term.loadAddon(fit);
term.open(ui.terminal);
fit.fit();
window.addEventListener("resize", () => fit.fit());
term.writeln(
  "\x1b[90mtsqemu: boot the default guest or pick a kernel to start; the serial console appears here.\x1b[0m",
);

const encoder = new TextEncoder();
term.onData((s) => send({ type: "input", data: encoder.encode(s) }));

function terminalText(): string {
  const buf = term.buffer.active;
  let text = "";
  for (let y = 0; y < buf.length; y++) {
    const line = buf.getLine(y);
    if (!line) continue;
    if (y > 0 && !line.isWrapped) text += "\n";
    text += line.translateToString(true);
  }
  return text;
}

// ---- messages ----

function showMessage(text: string, kind: "error" | "info" = "error"): void {
  ui.message.hidden = text === "";
  ui.message.textContent = text;
  ui.message.className = kind === "info" ? "info" : "";
}

function monitorWrite(text: string): void {
  const out = ui.monitorOutput;
  out.textContent = (out.textContent + text).slice(-200_000);
  out.scrollTop = out.scrollHeight;
}

// ---- the worker ----

let worker: Worker | null = null;
let lastStatus: Status | null = null;
let powerPressedAt = 0;

function send(msg: ToWorker, transfer: Transferable[] = []): void {
  worker?.postMessage(msg, transfer);
}

function setRunning(running: boolean): void {
  ui.reset.disabled = !running;
  ui.pause.disabled = !running;
  ui.power.disabled = !running;
}

function showStatus(s: Status): void {
  lastStatus = s;
  ui.statusEngine.textContent = s.engine;
  ui.statusKqemu.textContent = s.kqemu;
  ui.statusMips.textContent =
    s.state === "stopped" ? "–" : `${s.mips.toFixed(1)} MIPS (avg ${s.avgMips.toFixed(1)})`;
  ui.statusState.textContent = s.state === "stopped" ? `stopped (${s.reason ?? "unknown"})` : s.state;
  ui.pause.textContent = s.state === "paused" ? "Resume" : "Pause";
  if (s.state === "stopped") {
    setRunning(false);
    ui.pause.textContent = "Pause";
    term.writeln(`\r\n\x1b[90mtsqemu: machine stopped (${s.reason ?? "unknown"})\x1b[0m`);
    setBootEnabled(true);
  }
}

function onWorkerMessage(msg: FromWorker): void {
  switch (msg.type) {
    case "ready":
      break;
    case "serial":
      term.write(msg.data);
      break;
    case "status":
      showStatus(msg.status);
      break;
    case "monitor":
      monitorWrite(msg.text);
      break;
    case "error":
      showMessage(msg.message);
      break;
  }
}

function startWorker(req: Extract<ToWorker, { type: "start" }>): void {
  worker?.terminate();
  const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module", name: "tsqemu-cpu" });
  worker = w;
  w.onmessage = (e: MessageEvent<FromWorker>) => onWorkerMessage(e.data);
  w.onerror = (e) => {
    showMessage(`emulator worker failed: ${e.message || "could not load the worker script"}`);
    setRunning(false);
    setBootEnabled(true);
  };
  const transfer = [req.kernel, ...(req.initrd ? [req.initrd] : [])];
  w.postMessage(req, transfer);
  term.reset();
  ui.monitorOutput.textContent = "";
  powerPressedAt = 0;
  setRunning(true);
  term.focus();
}

// ---- loading images with progress ----

interface Source {
  name: string;
  /** Expected size in bytes (0 when unknown). */
  size: number;
  open(): Promise<ReadableStream<Uint8Array>>;
}

function formatMiB(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Read every source completely, updating the progress bar over their total size. */
async function loadAll(sources: Source[]): Promise<ArrayBuffer[]> {
  const total = sources.reduce((n, s) => n + s.size, 0);
  let done = 0;
  ui.progressRow.hidden = false;
  const update = (name: string) => {
    ui.progress.value = total > 0 ? Math.min(1, done / total) : 0;
    ui.progressText.textContent = `loading ${name}: ${formatMiB(done)} of ${formatMiB(total)}`;
  };
  const out: ArrayBuffer[] = [];
  for (const src of sources) {
    update(src.name);
    const reader = (await src.open()).getReader();
    const chunks: Uint8Array[] = [];
    let length = 0;
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      chunks.push(value);
      length += value.length;
      done += value.length;
      update(src.name);
    }
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    out.push(bytes.buffer);
  }
  ui.progress.value = 1;
  ui.progressText.textContent = `loaded ${sources.map((s) => s.name).join(" and ")} (${formatMiB(done)})`;
  return out;
}

function urlSource(name: string, url: string, size: number): Source {
  return {
    name,
    size,
    open: async () => {
      const res = await fetch(url, { cache: "no-store" });
      if (!res.ok || !res.body)
        throw new Error(`${url}: ${res.status} ${res.statusText} ${await res.text()}`.trim());
      return res.body;
    },
  };
}

function fileSource(file: File): Source {
  return { name: file.name, size: file.size, open: async () => file.stream() };
}

function setBootEnabled(enabled: boolean): void {
  ui.bootDefault.disabled = !enabled || !guest?.available;
  ui.bootFiles.disabled = !enabled || !ui.kernelFile.files?.length;
}

async function boot(kind: "default" | "files"): Promise<void> {
  setBootEnabled(false);
  showMessage("");
  try {
    let sources: Source[];
    let names: string[];
    if (kind === "default") {
      if (!guest?.available) throw new Error(guest?.hint ?? "the default guest is not available");
      sources = [
        urlSource("vmlinuz", "./guest/vmlinuz", guest.files.vmlinuz ?? 0),
        urlSource("initrd.img", "./guest/initrd.img", guest.files["initrd.img"] ?? 0),
      ];
      names = [`${guest.name}/vmlinuz`, `${guest.name}/initrd.img`];
    } else {
      const kernel = ui.kernelFile.files?.[0];
      if (!kernel) throw new Error("pick a kernel file first");
      const initrd = ui.initrdFile.files?.[0];
      sources = [fileSource(kernel), ...(initrd ? [fileSource(initrd)] : [])];
      names = sources.map((s) => s.name);
    }
    const [kernel, initrd] = await loadAll(sources);
    startWorker({
      type: "start",
      kernel,
      initrd: initrd ?? null,
      kernelName: names[0],
      initrdName: names[1] ?? null,
      append: ui.cmdline.value,
      ramMiB: Number(ui.ram.value),
      accel: ui.accel.value as "tcg" | "kqemu-user" | "kqemu-full",
    });
  } catch (e) {
    showMessage(`could not start: ${e instanceof Error ? e.message : String(e)}`);
    setBootEnabled(true);
  }
}

// ---- controls ----

ui.bootDefault.addEventListener("click", () => void boot("default"));
ui.bootFiles.addEventListener("click", () => void boot("files"));
ui.kernelFile.addEventListener("change", () => setBootEnabled(true));
ui.reset.addEventListener("click", () => {
  send({ type: "reset" });
  term.focus();
});
ui.pause.addEventListener("click", () => {
  send({ type: lastStatus?.state === "paused" ? "resume" : "pause" });
});
ui.power.addEventListener("click", () => {
  // First press: the ACPI power button (the guest decides). A second press within 30 s forces it off.
  const now = performance.now();
  if (powerPressedAt > 0 && now - powerPressedAt < 30_000) {
    send({ type: "quit" });
    return;
  }
  powerPressedAt = now;
  send({ type: "powerdown" });
  showMessage("ACPI power button pressed; press Power off again to force the machine off.", "info");
});

const history: string[] = [];
let historyAt = 0;
ui.monitorForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const line = ui.monitorInput.value;
  ui.monitorInput.value = "";
  monitorWrite(`(qemu) ${line}\n`);
  if (line.trim() !== "") history.push(line);
  historyAt = history.length;
  if (worker) send({ type: "monitor", line });
  else monitorWrite("no machine is running yet\n");
});
ui.monitorInput.addEventListener("keydown", (e) => {
  if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
  e.preventDefault();
  historyAt = Math.max(0, Math.min(history.length, historyAt + (e.key === "ArrowUp" ? -1 : 1)));
  ui.monitorInput.value = history[historyAt] ?? "";
});

// ---- the default guest ----

let guest: GuestInfo | null = null;

async function findDefaultGuest(): Promise<void> {
  try {
    const res = await fetch("./guest/info.json", { cache: "no-store" });
    if (!res.ok) throw new Error(`${res.status}`);
    guest = (await res.json()) as GuestInfo;
  } catch {
    guest = null;
  }
  if (guest?.available) {
    const size = Object.values(guest.files).reduce((a, b) => a + b, 0);
    ui.guestInfo.textContent = `${guest.name} from the local cache (${formatMiB(size)})`;
    ui.cmdline.value = guest.cmdline;
  } else {
    ui.guestInfo.textContent =
      guest?.hint ??
      "No default guest served here: run `npm run guests` and `npm run web`, or pick a kernel (and initrd) below.";
  }
  setBootEnabled(true);
}

window.tsqemu = {
  terminalText,
  monitorText: () => ui.monitorOutput.textContent ?? "",
  status: () => lastStatus,
};

void findDefaultGuest();
