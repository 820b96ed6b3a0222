// tsqemu's command-line entry: parse QEMU-style options, build the PC, connect the serial port and
// the monitor to the host, run, and turn every failure into a one-line message and an exit status.
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { backRamWithFile, type RamFile, RamFileError } from "../host/node/ram-file.ts";
import { lowerHelperThreads } from "../host/node/thread-priority.ts";
import { tuneEngineForV8, tuneV8ForAccelerator } from "../host/node/v8-tuning.ts";
import { LinuxBootError } from "../machine/boot/linux.ts";
import type { GuestMemory } from "../machine/memory.ts";
import type { StopReason } from "../machine/pc.ts";
import { dumpCpu } from "../monitor/cpu-dump.ts";
import { Monitor, type MonitorHost } from "../monitor/monitor.ts";
import { ensureDefaultGuest, GuestFetchError } from "../util/guest-cache.ts";
import { type ByteSink, FileSink, SocketServer, StdioMux } from "./chardev.ts";
import {
  HELP_TEXT,
  LOG_ITEMS,
  type MachineOptions,
  OptionError,
  parseOptions,
  VERSION_TEXT,
} from "./options.ts";

const QEMU_VERSION = "0.1.0 (tsqemu)";

class Fatal extends Error {}

/** strerror()-style text for a Node file-system error. */
export function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
      return "No such file or directory";
    case "EACCES":
      return "Permission denied";
    case "EISDIR":
      return "Is a directory";
    case "ENOTDIR":
      return "Not a directory";
    case "EADDRINUSE":
      return "Address already in use";
    case "EADDRNOTAVAIL":
      return "Cannot assign requested address";
    case "ENXIO":
      return "No such device or address";
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

function readImage(kind: string, path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Fatal(`could not load ${kind} '${path}': ${errnoText(e)}`);
  }
}

export async function main(argv: string[]): Promise<number> {
  let opts: MachineOptions;
  try {
    const parsed = parseOptions(argv);
    if (parsed === "help") {
      process.stdout.write(HELP_TEXT);
      return 0;
    }
    if (parsed === "version") {
      process.stdout.write(`${VERSION_TEXT}\n`);
      return 0;
    }
    if (parsed === "log-help") {
      process.stdout.write(logHelp());
      return 0;
    }
    opts = parsed;
  } catch (e) {
    if (e instanceof OptionError) {
      process.stderr.write(`tsqemu: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  try {
    return await runMachine(opts);
  } catch (e) {
    if (e instanceof RamFileError) {
      // QEMU's own lines (several, no prefix), then exit(1) as kqemu_vmalloc did.
      process.stderr.write(e.message);
      return 1;
    }
    if (e instanceof Fatal || e instanceof LinuxBootError || e instanceof GuestFetchError) {
      process.stderr.write(`tsqemu: ${e.message}\n`);
      return 1;
    }
    // An internal error: one line for the user, the stack only on request.
    process.stderr.write(`tsqemu: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.TSQEMU_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return 2;
  }
}

function logHelp(): string {
  let s = "Log items (comma separated):\n";
  for (const [k, v] of Object.entries(LOG_ITEMS)) s += `${k.padEnd(12)} ${v}\n`;
  return s;
}

async function listen(srv: SocketServer, opt: string): Promise<void> {
  try {
    await srv.listen();
  } catch (e) {
    throw new Fatal(`${opt} ${srv.spec}: Failed to bind socket: ${errnoText(e)}`);
  }
}

async function runMachine(opts: MachineOptions): Promise<number> {
  if (opts.defaultGuest && !opts.kernel) {
    const g = await ensureDefaultGuest({ quiet: true });
    opts.kernel = g.kernel;
    opts.initrd ??= g.initrd;
    if (!opts.append) opts.append = g.cmdline;
    opts.nographic = true;
  }
  if (!opts.kernel)
    throw new Fatal(
      "no -kernel given: tsqemu has no BIOS yet and boots Linux kernels directly (try `npm start` for the default Debian guest)",
    );
  const kernel = readImage("kernel", opts.kernel);
  const initrd = opts.initrd ? readImage("initrd", opts.initrd) : undefined;

  // Accelerators: report what cannot start, then run emulated (as QEMU did).
  if (opts.accel === "kvm") {
    let why = "Could not initialize KVM: the kvm engine is not part of this build yet";
    try {
      closeSync(openSync("/dev/kvm", "r+"));
    } catch (e) {
      why = `Could not open '/dev/kvm' - ${errnoText(e)}`;
    }
    process.stderr.write(`${why}, will disable KVM support (running emulated: tcg)\n`);
    opts.accel = "tcg";
  }

  // -D: opened (and truncated) at start, written synchronously so a crash loses nothing.
  let logFd = 2;
  if (opts.logFile) {
    try {
      logFd = openSync(opts.logFile, "w");
    } catch (e) {
      throw new Fatal(`-D ${opts.logFile}: Error opening logfile: ${errnoText(e)}`);
    }
  }
  const logItems = new Set(opts.logItems);
  const log = (item: string, line: string) => {
    let text = `${line}\n`;
    if (item === "cpu_reset") text += dumpCpu(machine.cpu);
    writeSync(logFd, text);
  };

  const { PcMachine } = await import("../machine/pc.ts");
  const { Tracer } = await import("../machine/trace.ts");
  // Loaded here, not at startup: -version, -help and option errors stay quick.
  const { disassemble } = await import("../cpu/disasm.ts");
  let machine: InstanceType<typeof PcMachine>;
  // kqemu backs guest RAM with a hidden file in $QEMU_TMPDIR or /dev/shm, as QEMU did; -no-kqemu does not.
  let ramFile: RamFile | null = null;
  const kqemu = opts.accel === "kqemu-user" || opts.accel === "kqemu-full";
  if (kqemu) tuneV8ForAccelerator();
  // The guest's CPU runs on this thread: V8's background compiles and GC take spare cores only.
  if (!process.env.TSQEMU_NO_RENICE) lowerHelperThreads();
  const backRam = kqemu
    ? (mem: GuestMemory) => {
        ramFile = backRamWithFile(mem, {
          debug: (t) => {
            if (logItems.has("guest_errors") || process.env.TSQEMU_DEBUG) log("guest_errors", t);
          },
        });
      }
    : undefined;
  try {
    machine = new PcMachine({
      ramSize: opts.ramMiB << 20,
      accel: opts.accel,
      kernel,
      initrd,
      append: opts.append,
      noReboot: opts.noReboot,
      noShutdown: opts.noShutdown,
      clockMode: opts.icount ? "deterministic" : "realtime",
      logItems,
      log,
      backRam,
    });
  } catch (e) {
    if (e instanceof LinuxBootError) throw new Fatal(`${opts.kernel}: ${e.message}`);
    if (e instanceof RangeError) throw new Fatal(`-m ${opts.ramMiB}: ${e.message}`);
    throw e;
  }
  machine.tracer = new Tracer(machine.cpu, logItems, log, dumpCpu, disassemble);
  if (machine.kqemu !== null) tuneEngineForV8(machine.kqemu);

  let quitRequested = false;
  const host: MonitorHost = {
    machine,
    name: opts.name,
    version: QEMU_VERSION,
    kqemuMode: () => (machine.kqemu ? machine.kqemu.mode : "disabled"),
    kvmEnabled: () => false,
    kqemuStats: () =>
      machine.kqemu
        ? [
            ...machine.kqemu.infoLines(),
            ramFile
              ? `RAM file: ${ramFile.path} (deleted), ${ramFile.size >> 20} MB mapped over guest RAM`
              : "RAM file: none (guest RAM in the wasm memory)",
          ]
        : [],
    quit: () => {
      quitRequested = true;
      machine.requestStop("quit");
    },
    setLogItems: (items) => {
      for (const it of items)
        if (!(it in LOG_ITEMS)) throw new Error(`Invalid parameter 'log': unknown item '${it}'`);
      logItems.clear();
      for (const it of items) logItems.add(it);
    },
    logItemsHelp: logHelp,
    threadId: () => process.pid,
    saveFile: (path, data) => {
      try {
        writeFileSync(path, data);
      } catch (e) {
        throw new Error(`Could not open '${path}': ${errnoText(e)}`);
      }
    },
    disassemble: (addr, code32, count, physical) => {
      const cpu = machine.cpu;
      const lines: string[] = [];
      let a = addr >>> 0;
      for (let n = 0; n < count; n++) {
        const base = a;
        const fetch = (k: number): number => {
          const v = cpu.debugRead8(base + k, physical);
          if (v < 0) throw new RangeError("unreadable");
          return v;
        };
        let d: { length: number; text: string };
        try {
          d = disassemble(fetch, base, code32);
        } catch {
          d = { length: 1, text: "(bad)" };
        }
        lines.push(`0x${base.toString(16).padStart(physical ? 16 : 8, "0")}:  ${d.text}`);
        a = (a + d.length) >>> 0;
      }
      return lines;
    },
    roms: () => [
      `addr=0000000000100000 size=0x${kernel.length.toString(16).padStart(6, "0")} mem=ram name="${opts.kernel}"`,
      ...(initrd
        ? [
            `addr=(top of RAM) size=0x${initrd.length.toString(16).padStart(6, "0")} mem=ram name="${opts.initrd}"`,
          ]
        : []),
    ],
  };

  // Character devices.
  const closers: (() => void)[] = [];
  let mux: StdioMux | null = null;
  const serialSpec = opts.serial[0] ?? (opts.nographic ? "mon:stdio" : "null");
  const monitorSpec = opts.monitor ?? (opts.nographic && serialSpec.endsWith("stdio") ? "mux" : "none");
  const serialSink: ByteSink = { receive: (d) => machine.serial.receive(d) };
  const needMux =
    serialSpec === "stdio" || serialSpec === "mon:stdio" || monitorSpec === "stdio" || monitorSpec === "mux";
  if (needMux) {
    mux = new StdioMux({
      onExit: () => host.quit(),
      onBreak: () => machine.serial.receiveBreak(),
    });
    closers.push(() => mux?.close());
  }
  if (serialSpec === "stdio" || serialSpec === "mon:stdio") {
    mux!.add(serialSink);
    machine.serial.onTransmit = (b) => mux!.writeByte(b);
  } else if (serialSpec.startsWith("file:")) {
    let f: FileSink;
    try {
      f = new FileSink(serialSpec.slice(5));
    } catch (e) {
      throw new Fatal(`-serial ${serialSpec}: Could not open '${serialSpec.slice(5)}': ${errnoText(e)}`);
    }
    machine.serial.onTransmit = (b) => f.writeByte(b);
    closers.push(() => f.close());
  } else if (serialSpec.startsWith("tcp:") || serialSpec.startsWith("unix:")) {
    const srv = new SocketServer(serialSpec, serialSink);
    await listen(srv, "-serial");
    machine.serial.onTransmit = (b) => srv.writeByte(b);
    closers.push(() => srv.close());
  }

  const attachMonitor = (write: (s: string) => void): ByteSink => {
    const mon = new Monitor(host, write);
    let line = "";
    let lastCr = false;
    write(mon.banner());
    write(mon.prompt);
    return {
      receive: (d) => {
        for (const b of d) {
          // CR, LF and CR LF (telnet, socket clients) each end one line.
          const crlf = lastCr && b === 0x0a;
          lastCr = b === 0x0d;
          if (crlf) continue;
          if (b === 0x0d || b === 0x0a) {
            if (mux && write === muxWrite) write("\r\n");
            mon.execute(line);
            line = "";
            if (!quitRequested) write(mon.prompt);
          } else if (b === 0x7f || b === 0x08) {
            if (line.length > 0) {
              line = line.slice(0, -1);
              if (write === muxWrite) write("\b \b");
            }
          } else if (b >= 0x20) {
            line += String.fromCharCode(b);
            if (write === muxWrite) write(String.fromCharCode(b));
          }
        }
      },
    };
  };
  const muxWrite = (s: string) => mux!.write(s.replace(/\r?\n/g, "\r\n"));
  if (monitorSpec === "mux" || monitorSpec === "stdio") {
    if (monitorSpec === "stdio" && serialSpec !== "stdio" && serialSpec !== "mon:stdio") {
      mux!.add(attachMonitor(muxWrite));
    } else {
      // Created lazily so the banner appears when the user switches with Ctrl-A c.
      let sink: ByteSink | null = null;
      mux!.add({
        receive: (d) => {
          sink ??= attachMonitor(muxWrite);
          sink.receive(d);
        },
        // The first switch shows the banner and prompt; later ones show the prompt again.
        focused: () => {
          if (sink) muxWrite("\n(qemu) ");
          else sink = attachMonitor(muxWrite);
        },
      });
    }
  } else if (monitorSpec.startsWith("unix:") || monitorSpec.startsWith("tcp:")) {
    let sink: ByteSink = { receive: () => {} };
    const srv = new SocketServer(monitorSpec, { receive: (d) => sink.receive(d) });
    closers.push(() => srv.close());
    srv.onConnect = (write) => {
      sink = attachMonitor((s) => write(s.replace(/\r?\n/g, "\r\n")));
    };
    await listen(srv, "-monitor");
  }
  mux?.open();

  // TSQEMU_STATS=1 (for bench/run.ts): a stats line on stderr at exit and on SIGUSR2.
  const stats = process.env.TSQEMU_STATS !== undefined;
  const statsLine = (why: string) =>
    process.stderr.write(
      `tsqemu-stats: ${why} instructions=${machine.instructions} ms=${(performance.now() - machineStart).toFixed(1)} mips=${machine.mips().toFixed(2)}\n`,
    );
  const machineStart = performance.now();
  // SIGINT, SIGTERM and SIGHUP end the run as QEMU's do: "terminating on signal N" and a normal
  // exit (status 0), with the terminal restored and files closed by the same path as `quit`. A
  // second signal while stopping exits at once.
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) process.exit(1);
    signalled = true;
    process.stderr.write(`tsqemu: terminating on signal ${osConstants.signals[sig]}\n`);
    machine.requestStop("quit");
  };
  const handlers: [NodeJS.Signals, () => void][] = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((sig) => [
    sig,
    () => onSignal(sig),
  ]);
  if (stats) handlers.push(["SIGUSR2", () => statsLine("sample")]);
  for (const [sig, fn] of handlers) process.on(sig, fn);
  if (opts.startStopped) machine.pause();
  let reason: StopReason;
  try {
    reason = await machine.run();
  } finally {
    for (const c of closers) c();
    for (const [sig, fn] of handlers) process.off(sig, fn);
    if (stats) statsLine("exit");
    if (logFd !== 2) closeSync(logFd);
  }
  switch (reason) {
    case "poweroff":
    case "quit":
      return 0;
    case "reset":
      // -no-reboot: the guest asked for a reboot; QEMU exits normally.
      return 0;
    case "triple-fault":
      process.stderr.write("tsqemu: guest triple fault (shutdown) with -no-reboot; CPU state:\n");
      process.stderr.write(dumpCpu(machine.cpu));
      return 1;
    default:
      return 1;
  }
}
