// QEMU-style command-line parsing into a MachineOptions record. Errors are OptionError with
// QEMU's one-line wording (`tsqemu: -m foo: ...`); main() prints them and exits 1.
import { parseSocketSpec } from "./chardev.ts";

export type AccelMode = "tcg" | "kqemu-user" | "kqemu-full" | "kvm";

export interface MachineOptions {
  ramMiB: number;
  kernel?: string;
  initrd?: string;
  append: string;
  nographic: boolean;
  serial: string[];
  monitor?: string;
  accel: AccelMode;
  /** True when the user asked for an accelerator explicitly (errors become warnings otherwise). */
  accelExplicit: boolean;
  noReboot: boolean;
  noShutdown: boolean;
  startStopped: boolean;
  logItems: string[];
  logFile?: string;
  name?: string;
  /** Run the project's default Debian guest (fetched on demand). */
  defaultGuest: boolean;
  /** Deterministic virtual clock (instructions drive time): reproducible runs. */
  icount: boolean;
  snapshot: boolean;
}

export class OptionError extends Error {}

/** Items accepted by `-d`, with QEMU's descriptions where it has them. */
export const LOG_ITEMS: Record<string, string> = {
  in_asm: "show target assembly code for each compiled TB",
  int: "show interrupts/exceptions in short format",
  exec: "show trace before each executed TB (lots of logs)",
  cpu: "show CPU registers before entering a TB (lots of logs)",
  cpu_reset: "show CPU state before CPU resets",
  guest_errors: "log when the guest OS does something invalid (eg accessing a non-existent register)",
  unimp: "log unimplemented functionality",
};

const VERSION = "0.1.0";
export const VERSION_TEXT = `tsqemu emulator version ${VERSION} (QEMU-compatible PC emulator in TypeScript)\nCopyright (c) the tsqemu authors`;

export const HELP_TEXT = `usage: tsqemu [options]

Standard options:
-h or -help     display this help and exit
-version        display version information and exit
-name string    set the name of the guest
-m megs         set virtual RAM size to megs MB [default=128] (suffixes M and G accepted)
-snapshot       write to temporary files instead of disk image files (no disks yet)

Linux boot specific:
-kernel bzImage use 'bzImage' as kernel image
-initrd file    use 'file' as initial ram disk
-append cmdline use 'cmdline' as kernel command line

Display and character devices:
-nographic      disable graphical output and redirect serial I/Os to console
-serial dev     redirect the serial port to char device 'dev' (stdio, null, file:PATH,
                tcp:[host]:port,server[,nowait])
-monitor dev    redirect the monitor to char device 'dev' (stdio, none,
                unix:PATH,server[,nowait], tcp:[host]:port,server[,nowait])

Accelerators:
-accel tcg|kqemu|kvm  select the accelerator (tcg: the reference interpreter)
-no-kqemu       disable the kqemu accelerator (everything emulated)
-enable-kqemu   enable the kqemu accelerator for user code (the default)
-kernel-kqemu   enable the kqemu accelerator for user and kernel code
-enable-kvm     enable KVM full virtualization support

Debug/expert options:
-S              freeze CPU at startup (use 'c' in the monitor to start execution)
-d item1,...    enable logging of specified items (use '-d help' for a list)
-D logfile      output log to logfile (default stderr)
-no-reboot      exit instead of rebooting
-no-shutdown    stop before shutdown
-icount auto    deterministic virtual time driven by executed instructions

During emulation, with -nographic, Ctrl-a h lists the console escapes.
`;

function parseMem(arg: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMgGtT]?)[bB]?$/.exec(arg);
  if (!m) throw new OptionError(`-m ${arg}: invalid amount of memory`);
  const n = Number(m[1]);
  const unit = m[2].toUpperCase();
  const mib = unit === "G" ? n * 1024 : unit === "T" ? n * 1024 * 1024 : unit === "K" ? n / 1024 : n;
  if (!Number.isInteger(mib) || mib < 2) throw new OptionError(`-m ${arg}: invalid amount of memory`);
  if (mib > 2047) throw new OptionError(`-m ${arg}: at most 2047 MiB of RAM is supported for a 32-bit guest`);
  return mib;
}

/** QEMU options we know but do not implement yet: a clear message instead of "invalid option". */
const NOT_YET = new Set([
  "hda",
  "hdb",
  "hdc",
  "hdd",
  "cdrom",
  "fda",
  "fdb",
  "drive",
  "boot",
  "net",
  "netdev",
  "device",
  "display",
  "vga",
  "smp",
]);

/** Options that take an argument (all of NOT_YET do). */
const WITH_ARG = new Set([
  "m",
  "kernel",
  "initrd",
  "append",
  "serial",
  "monitor",
  "accel",
  "d",
  "D",
  "name",
  "icount",
  "machine",
  "M",
  "cpu",
  ...NOT_YET,
]);

export function parseOptions(argv: string[]): MachineOptions | "help" | "version" | "log-help" {
  const o: MachineOptions = {
    ramMiB: 128,
    append: "",
    nographic: false,
    serial: [],
    accel: "kqemu-user",
    accelExplicit: false,
    noReboot: false,
    noShutdown: false,
    startStopped: false,
    logItems: [],
    defaultGuest: false,
    icount: false,
    snapshot: false,
  };
  let kvm = false;
  let kernelKqemu = false;
  let noKqemu = false;
  for (let k = 0; k < argv.length; k++) {
    const raw = argv[k];
    if (!raw.startsWith("-"))
      throw new OptionError(`${raw}: drive images are not supported yet (no disk controller)`);
    const name = raw.replace(/^--?/, "");
    let arg = "";
    if (WITH_ARG.has(name)) {
      if (k + 1 >= argv.length) throw new OptionError(`${raw}: requires an argument`);
      arg = argv[++k];
    }
    if (NOT_YET.has(name)) throw new OptionError(`${raw} ${arg}: option not supported by tsqemu yet`);
    switch (name) {
      case "h":
      case "help":
        return "help";
      case "version":
        return "version";
      case "m":
        o.ramMiB = parseMem(arg.replace(/^size=/, ""));
        break;
      case "kernel":
        o.kernel = arg;
        break;
      case "initrd":
        o.initrd = arg;
        break;
      case "append":
        o.append = arg;
        break;
      case "nographic":
        o.nographic = true;
        break;
      case "serial":
        checkChardev(raw, arg, ["stdio", "null", "none", "file:", "tcp:", "unix:", "mon:stdio"]);
        o.serial.push(arg);
        break;
      case "monitor":
        checkChardev(raw, arg, ["stdio", "none", "null", "unix:", "tcp:"]);
        o.monitor = arg;
        break;
      case "accel": {
        const a = arg.split(",")[0];
        if (a === "tcg") o.accel = "tcg";
        else if (a === "kqemu") o.accel = "kqemu-user";
        else if (a === "kvm") kvm = true;
        else if (a === "help") throw new OptionError("Accelerators supported: tcg kqemu kvm");
        else throw new OptionError(`-accel ${arg}: invalid accelerator ${a}`);
        o.accelExplicit = true;
        if (a === "tcg") noKqemu = true;
        break;
      }
      case "no-kqemu":
        noKqemu = true;
        o.accelExplicit = true;
        break;
      case "enable-kqemu":
        o.accelExplicit = true;
        break;
      case "kernel-kqemu":
        kernelKqemu = true;
        o.accelExplicit = true;
        break;
      case "enable-kvm":
        kvm = true;
        o.accelExplicit = true;
        break;
      case "no-reboot":
        o.noReboot = true;
        break;
      case "no-shutdown":
        o.noShutdown = true;
        break;
      case "S":
        o.startStopped = true;
        break;
      case "snapshot":
        o.snapshot = true;
        break;
      case "d": {
        if (arg === "help") return "log-help";
        for (const item of arg.split(",")) {
          if (!(item in LOG_ITEMS))
            throw new OptionError(`-d ${arg}: unknown logging item '${item}' (use -d help)`);
          o.logItems.push(item);
        }
        break;
      }
      case "D":
        o.logFile = arg;
        break;
      case "name":
        o.name = arg.replace(/^guest=/, "").split(",")[0];
        break;
      case "icount":
        o.icount = true;
        break;
      case "machine":
      case "M":
        if (!/^(pc|pc-i440fx[\w.-]*|help)(,|$)/.test(arg))
          throw new OptionError(`-machine ${arg}: unsupported machine type (only 'pc' is emulated)`);
        if (arg === "help")
          throw new OptionError("Supported machines are:\npc  Standard PC (i440FX + PIIX, 1996)");
        break;
      case "cpu":
        if (!/^(qemu32|pentium2|pentiumpro|486|host|max|base)$/.test(arg.split(",")[0]))
          throw new OptionError(`-cpu ${arg}: unable to find CPU model '${arg.split(",")[0]}'`);
        break;
      case "default-guest":
        o.defaultGuest = true;
        break;
      default:
        throw new OptionError(`${raw}: invalid option`);
    }
  }
  if (kvm && kernelKqemu) throw new OptionError("You can not enable both KVM and kqemu at the same time");
  if (kvm && noKqemu && argv.includes("-no-kqemu")) {
    // -enable-kvm -no-kqemu is fine: KVM wins, as in QEMU 0.10.
  }
  if (kvm) o.accel = "kvm";
  else if (noKqemu) o.accel = "tcg";
  else if (kernelKqemu) o.accel = "kqemu-full";
  if (o.initrd && !o.kernel && !o.defaultGuest)
    throw new OptionError("-initrd only allowed with -kernel option");
  if (o.append && !o.kernel && !o.defaultGuest)
    throw new OptionError("-append only allowed with -kernel option");
  return o;
}

function checkChardev(opt: string, arg: string, kinds: string[]): void {
  if (!kinds.some((k) => (k.endsWith(":") ? arg.startsWith(k) : arg === k)))
    throw new OptionError(`${opt} ${arg}: '${arg.split(":")[0]}' is not a valid char driver`);
  if (arg.startsWith("tcp:") || arg.startsWith("unix:")) {
    try {
      parseSocketSpec(arg);
    } catch (e) {
      throw new OptionError(`${opt} ${arg}: ${(e as Error).message}`);
    }
  }
  if (arg === "file:") throw new OptionError(`${opt} ${arg}: missing file name`);
}
