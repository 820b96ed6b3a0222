// The human monitor: one command table, each command a small function, output through write().
// Wording follows QEMU's monitor so scripts written for QEMU keep working.
import { CR0_PG, CR4_PSE, R_CPL, R_CR0, R_CR3, R_CR4, R_EIP, R_SEGBASE } from "../cpu/state.ts";
import type { PcMachine } from "../machine/pc.ts";
import { dumpCpu } from "./cpu-dump.ts";
import { type ExprContext, evalExpr } from "./expr.ts";

export type KqemuMode = "disabled" | "user" | "full";

export interface MonitorHost {
  machine: PcMachine;
  name?: string;
  version: string;
  kqemuMode(): KqemuMode;
  kvmEnabled(): boolean;
  /** Accelerator statistics lines printed under `info kqemu` (empty when none). */
  kqemuStats(): string[];
  quit(): void;
  setLogItems(items: string[]): void;
  logItemsHelp(): string;
  disassemble?(addr: number, code32: boolean, count: number, physical: boolean): string[];
  roms(): string[];
  /** The host thread running the CPU, for `info cpus` (a process id under Node; absent in a browser worker). */
  threadId?(): number;
  /**
   * Write `data` to the host file `path` (memsave, pmemsave); throws with QEMU's message ("Could not
   * open 'path': reason"). Absent where there are no host files (a browser).
   */
  saveFile?(path: string, data: Uint8Array): void;
}

interface Command {
  name: string;
  aliases?: string[];
  args: string;
  help: string;
  run(m: Monitor, args: string): void;
}

export class Monitor {
  readonly history: string[] = [];
  constructor(
    readonly host: MonitorHost,
    readonly write: (s: string) => void,
  ) {}

  banner(): string {
    return `QEMU ${this.host.version} monitor - type 'help' for more information\n`;
  }

  readonly prompt = "(qemu) ";

  /** Execute one command line; errors are printed, never thrown. */
  execute(line: string): void {
    const text = line.trim();
    if (text === "") return;
    this.history.push(text);
    const sp = text.search(/\s/);
    const name = sp < 0 ? text : text.slice(0, sp);
    const args = sp < 0 ? "" : text.slice(sp).trim();
    // `x/4x` is written without a space as often as with one.
    const m = /^(x|xp|p|print)(\/.*)$/.exec(name);
    const cmdName = m ? m[1] : name;
    const cmdArgs = m ? `${m[2]} ${args}`.trim() : args;
    const cmd = COMMANDS.find((c) => c.name === cmdName || c.aliases?.includes(cmdName));
    if (!cmd) {
      this.write(`unknown command: '${cmdName}'\n`);
      return;
    }
    try {
      cmd.run(this, cmdArgs);
    } catch (e) {
      this.write(`${e instanceof Error ? e.message : String(e)}\n`);
    }
  }

  exprContext(): ExprContext {
    const c = this.host.machine.cpu;
    return { cpu: c };
  }
}

// Page-table entry bits (SDM Vol. 3A, 4.3, tables 4-4 to 4-6).
const PTE_P = 1;
const PTE_RW = 2;
const PTE_US = 4;
const PTE_PWT = 8;
const PTE_PCD = 0x10;
const PTE_A = 0x20;
const PTE_D = 0x40;
const PTE_PS = 0x80;
const PTE_G = 0x100;

const hex16 = (v: number): string => v.toString(16).padStart(16, "0");

/**
 * The 32-bit page tables CR3 points to, read from physical memory as the guest wrote them (not the
 * emulator's TLB): `page(lin, entry, pde, large)` for each page-table entry, present or not, and
 * each 4 MiB page (CR4.PSE); `hole(lin)` for a directory entry not present. False with paging off.
 */
function walkPageTables(
  m: Monitor,
  page: (lin: number, entry: number, pde: number, large: boolean) => void,
  hole: (lin: number) => void,
): boolean {
  const cpu = m.host.machine.cpu;
  const r = cpu.r;
  if ((r[R_CR0] & CR0_PG) === 0) return false;
  const pd = r[R_CR3] & ~0xfff;
  for (let l1 = 0; l1 < 1024; l1++) {
    const pde = cpu.physRead32((pd + l1 * 4) >>> 0);
    const lin = l1 * 0x400000;
    if ((pde & PTE_P) === 0) hole(lin);
    else if ((pde & PTE_PS) !== 0 && (r[R_CR4] & CR4_PSE) !== 0) page(lin, pde, pde, true);
    else
      for (let l2 = 0; l2 < 1024; l2++)
        page(lin + l2 * 0x1000, cpu.physRead32(((pde & ~0xfff) + l2 * 4) >>> 0), pde, false);
  }
  return true;
}

/** `info tlb`, as QEMU prints it for 32-bit paging: each present page, its frame and flags. */
function infoTlb(m: Monitor): void {
  const flag = (e: number, bit: number, c: string) => ((e & bit) !== 0 ? c : "-");
  const ok = walkPageTables(
    m,
    (lin, e, _pde, large) => {
      if ((e & PTE_P) === 0) return;
      // QEMU's masks: ~0xfff for a 4 KiB frame, ~(2 MiB - 1) for a 4 MiB one.
      const frame = large ? e & ~0x1fffff : e & ~0xfff;
      const flags = `-${flag(e, PTE_G, "G")}${large ? "P" : "-"}${flag(e, PTE_D, "D")}${flag(e, PTE_A, "A")}${flag(e, PTE_PCD, "C")}${flag(e, PTE_PWT, "T")}${flag(e, PTE_US, "U")}${flag(e, PTE_RW, "W")}`;
      m.write(`${hex16(lin >>> 0)}: ${hex16(frame >>> 0)} ${flags}\n`);
    },
    () => {},
  );
  if (!ok) m.write("PG disabled\n");
}

/**
 * `info mem`, as QEMU prints it for 32-bit paging: virtually contiguous ranges of one protection
 * (user, writable: a 4 KiB page's own bits ANDed with its directory entry's).
 */
function infoMem(m: Monitor): void {
  const PROT = PTE_US | PTE_RW | PTE_P;
  let start = -1;
  let last = 0;
  const at = (end: number, prot: number) => {
    if (prot === last) return;
    if (start !== -1)
      m.write(
        `${hex16(start)}-${hex16(end)} ${hex16(end - start)} ${last & PTE_US ? "u" : "-"}r${last & PTE_RW ? "w" : "-"}\n`,
      );
    start = prot !== 0 ? end : -1;
    last = prot;
  };
  const ok = walkPageTables(
    m,
    (lin, e, pde, large) => at(lin >>> 0, (e & PTE_P) === 0 ? 0 : large ? e & PROT : e & pde & PROT),
    (lin) => at(lin >>> 0, 0),
  );
  if (!ok) {
    m.write("PG disabled\n");
    return;
  }
  at(2 ** 32, 0);
}

const INFO: Record<string, { help: string; run: (m: Monitor) => void }> = {
  version: { help: "show the version of QEMU", run: (m) => m.write(`${m.host.version}\n`) },
  status: {
    help: "show the current VM status (running|paused)",
    run: (m) => m.write(`VM status: ${m.host.machine.paused ? "paused" : "running"}\n`),
  },
  name: {
    help: "show the current VM name",
    run: (m) => {
      if (m.host.name) m.write(`${m.host.name}\n`);
    },
  },
  registers: { help: "show the cpu registers", run: (m) => m.write(dumpCpu(m.host.machine.cpu)) },
  cpus: {
    help: "show infos for each CPU",
    run: (m) => {
      const c = m.host.machine.cpu;
      const pc = (c.r[R_SEGBASE + 1] + c.r[R_EIP]) >>> 0;
      m.write(
        `* CPU #0: pc=0x${pc.toString(16).padStart(8, "0")}${c.halted ? " (halted)" : ""} thread_id=${m.host.threadId?.() ?? 0}\n`,
      );
    },
  },
  kqemu: {
    help: "show KQEMU information",
    run: (m) => {
      const mode = m.host.kqemuMode();
      const text =
        mode === "disabled"
          ? "kqemu support: disabled"
          : mode === "user"
            ? "kqemu support: enabled for user code"
            : "kqemu support: enabled for user and kernel code";
      m.write(`${text}\n`);
      for (const l of m.host.kqemuStats()) m.write(`${l}\n`);
    },
  },
  kvm: {
    help: "show KVM information",
    run: (m) => m.write(`kvm support: ${m.host.kvmEnabled() ? "enabled" : "disabled"}\n`),
  },
  mtree: {
    help: "show memory tree",
    run: (m) => {
      const ram = m.host.machine.mem.ramSize;
      const h = (v: number) => v.toString(16).padStart(16, "0");
      m.write("address-space: memory\n");
      m.write(`  ${h(0)}-${h(0xffffffff)} (prio 0, i/o): system\n`);
      m.write(`    ${h(0)}-${h(0x9ffff)} (prio 0, ram): pc.ram\n`);
      m.write(`    ${h(0xa0000)}-${h(0xbffff)} (prio 1, i/o): vga-lowmem (unassigned)\n`);
      m.write(`    ${h(0xc0000)}-${h(ram - 1)} (prio 0, ram): pc.ram\n`);
      m.write(`    ${h(0xfec00000)}-${h(0xfec00fff)} (prio 0, i/o): ioapic\n`);
      m.write(`    ${h(0xfed00000)}-${h(0xfed003ff)} (prio 0, i/o): hpet\n`);
      m.write(`    ${h(0xfee00000)}-${h(0xfee00fff)} (prio 4096, i/o): apic-msi\n`);
      m.write("address-space: I/O\n");
      m.write(`  ${h(0)}-${h(0xffff)} (prio 0, i/o): io\n`);
      for (const [a, b, n] of [
        [0x20, 0x21, "pic"],
        [0x40, 0x43, "pit"],
        [0x61, 0x61, "pcspk"],
        [0x70, 0x71, "rtc"],
        [0x80, 0x80, "ioport80"],
        [0xa0, 0xa1, "pic"],
        [0x3f8, 0x3ff, "serial"],
        [0x4d0, 0x4d1, "elcr"],
      ] as const)
        m.write(`    ${h(a)}-${h(b)} (prio 0, i/o): ${n}\n`);
    },
  },
  tlb: { help: "show virtual to physical memory mappings", run: infoTlb },
  mem: { help: "show the active virtual memory mappings", run: infoMem },
  irq: {
    help: "show the interrupts statistics (if available)",
    run: (m) => {
      const counts = m.host.machine.irqCounts;
      m.write("IRQ statistics:\n");
      for (let k = 0; k < 16; k++) if (counts[k] > 0) m.write(`${k.toString().padStart(2)}: ${counts[k]}\n`);
    },
  },
  pic: {
    help: "show PIC state",
    run: (m) => {
      const machine = m.host.machine;
      m.write(`${machine.pic.dump().replace(/\n+$/, "")}\n${machine.ioapic.dump()}\n`);
    },
  },
  lapic: { help: "show local apic state", run: (m) => m.write(`${m.host.machine.lapic.dump()}\n`) },
  roms: {
    help: "show roms",
    run: (m) => {
      for (const l of m.host.roms()) m.write(`${l}\n`);
    },
  },
  history: {
    help: "show the command line history",
    run: (m) => {
      m.history.forEach((l, k) => {
        m.write(`${k}: '${l}'\n`);
      });
    },
  },
};

function parseFmt(arg: string, defCount = 1): { count: number; fmt: string; size: number; rest: string } {
  let count = defCount;
  let fmt = "x";
  let size = 4;
  let rest = arg;
  const m = /^\/(\d*)([xduoci]?)([bhwg]?)([xduoci]?)\s*(.*)$/.exec(arg);
  if (m) {
    if (m[1]) count = Number(m[1]);
    fmt = m[2] || m[4] || "x";
    if (m[3]) size = { b: 1, h: 2, w: 4, g: 8 }[m[3]] ?? 4;
    else if (fmt === "c") size = 1;
    rest = m[5];
  }
  return { count, fmt, size, rest };
}

function formatValue(v: bigint, fmt: string, size: number): string {
  const bits = BigInt(size * 8);
  const u = BigInt.asUintN(Number(bits), v);
  switch (fmt) {
    case "d":
      return BigInt.asIntN(Number(bits), v).toString();
    case "u":
      return u.toString();
    case "o":
      return `0${u.toString(8)}`;
    case "c": {
      const ch = Number(u & 0xffn);
      return ch >= 32 && ch < 127
        ? `'${String.fromCharCode(ch)}'`
        : `'\\x${ch.toString(16).padStart(2, "0")}'`;
    }
    default:
      return `0x${u.toString(16).padStart(size * 2, "0")}`;
  }
}

function memoryDump(m: Monitor, args: string, physical: boolean): void {
  const { count, fmt, size, rest } = parseFmt(args);
  if (rest === "") throw new Error("memory dump: missing address");
  const addr = Number(BigInt.asUintN(32, evalExpr(rest, m.exprContext())));
  const cpu = m.host.machine.cpu;
  if (fmt === "i") {
    if (!m.host.disassemble) throw new Error("disassembler not available");
    const code32 = (cpu.codeMode & 1) !== 0;
    for (const l of m.host.disassemble(addr, code32, count, physical)) m.write(`${l}\n`);
    return;
  }
  const readByte = (a: number): number => {
    const v = cpu.debugRead8(a, physical);
    if (v < 0) throw new Error(`Cannot access memory at 0x${(a >>> 0).toString(16)}`);
    return v;
  };
  const perLine = fmt === "c" ? 16 : Math.max(1, 16 / size);
  let line = "";
  for (let k = 0; k < count; k++) {
    const a = (addr + k * size) >>> 0;
    if (k % perLine === 0) {
      if (line) m.write(`${line}\n`);
      line = physical ? `${a.toString(16).padStart(16, "0")}:` : `${a.toString(16).padStart(8, "0")}:`;
    }
    let v = 0n;
    for (let b = size - 1; b >= 0; b--) v = (v << 8n) | BigInt(readByte(a + b));
    line += ` ${formatValue(v, fmt, size)}`;
  }
  if (line) m.write(`${line}\n`);
}

/**
 * memsave / pmemsave: `addr size file` (addr and size are expressions, as x's address is). A virtual
 * range goes through the current page tables as a supervisor read; any unmapped byte fails the whole
 * command with QEMU's message, before the file is written.
 */
function memorySave(m: Monitor, args: string, physical: boolean): void {
  const [addrText, sizeText, ...rest] = args.split(/\s+/);
  // A file name may be quoted (QEMU's monitor strips the quotes).
  const file = rest.join(" ").replace(/^"(.*)"$/, "$1");
  if (!addrText || !sizeText || file === "")
    throw new Error(`${physical ? "pmemsave" : "memsave"}: usage: addr size file`);
  const ctx = m.exprContext();
  const addr = BigInt.asUintN(32, evalExpr(addrText, ctx));
  const size = evalExpr(sizeText, ctx);
  if (size < 0n || size > 0xffffffffn) throw new Error(`Invalid size ${size}`);
  if (!m.host.saveFile) throw new Error("no host files here: memory cannot be saved");
  const n = Number(size);
  const out = new Uint8Array(n);
  const cpu = m.host.machine.cpu;
  const a0 = Number(addr);
  const ram = m.host.machine.mem.ram;
  // Plain RAM in one copy (a pmemsave of all of it); anything else byte by byte.
  if (physical && a0 + n <= ram.length) out.set(ram.subarray(a0, a0 + n));
  else
    for (let k = 0; k < n; k++) {
      const v = cpu.debugRead8(a0 + k, physical);
      if (v < 0)
        throw new Error(`Error: Invalid addr 0x${addr.toString(16).padStart(16, "0")}/size ${n} specified`);
      out[k] = v;
    }
  try {
    m.host.saveFile(file, out);
  } catch (e) {
    // QEMU's monitor prints a failed QMP-backed command's error so.
    throw new Error(`Error: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const COMMANDS: Command[] = [
  {
    name: "help",
    aliases: ["?"],
    args: "[cmd]",
    help: "show the help",
    run: (m, args) => {
      for (const c of COMMANDS) {
        if (args && c.name !== args && !c.aliases?.includes(args)) continue;
        const names = [c.name, ...(c.aliases ?? [])].join("|");
        m.write(`${names} ${c.args} -- ${c.help}\n`);
      }
    },
  },
  {
    name: "info",
    args: "[subcommand]",
    help: "show various information about the system state",
    run: (m, args) => {
      const sub = args.split(/\s+/)[0];
      if (sub === "") {
        for (const [k, v] of Object.entries(INFO)) m.write(`info ${k}  -- ${v.help}\n`);
        return;
      }
      const i = INFO[sub];
      if (!i) throw new Error(`unknown info subcommand: '${sub}'`);
      i.run(m);
    },
  },
  {
    name: "stop",
    aliases: ["s"],
    args: "",
    help: "stop emulation",
    run: (m) => m.host.machine.pause(),
  },
  {
    name: "cont",
    aliases: ["c"],
    args: "",
    help: "resume emulation",
    run: (m) => m.host.machine.resume(),
  },
  {
    name: "system_reset",
    args: "",
    help: "reset the system",
    run: (m) => m.host.machine.requestReset(),
  },
  {
    name: "system_powerdown",
    args: "",
    help: "send system power down event",
    run: (m) => m.host.machine.powerButton(),
  },
  { name: "quit", aliases: ["q"], args: "", help: "quit the emulator", run: (m) => m.host.quit() },
  { name: "nmi", args: "", help: "inject an NMI", run: (m) => m.host.machine.nmi() },
  {
    name: "x",
    args: "/fmt addr",
    help: "virtual memory dump starting at addr",
    run: (m, args) => memoryDump(m, args, false),
  },
  {
    name: "xp",
    args: "/fmt addr",
    help: "physical memory dump starting at addr",
    run: (m, args) => memoryDump(m, args, true),
  },
  {
    name: "memsave",
    args: "addr size file",
    help: "save to disk virtual memory dump starting at 'addr' of size 'size'",
    run: (m, args) => memorySave(m, args, false),
  },
  {
    name: "pmemsave",
    args: "addr size file",
    help: "save to disk physical memory dump starting at 'addr' of size 'size'",
    run: (m, args) => memorySave(m, args, true),
  },
  {
    name: "print",
    aliases: ["p"],
    args: "/fmt expr",
    help: "print expression value (use $reg for CPU register access)",
    run: (m, args) => {
      const { fmt, rest } = parseFmt(args);
      const v = evalExpr(rest, m.exprContext());
      m.write(
        `${fmt === "x" && !args.startsWith("/") ? `0x${BigInt.asUintN(32, v).toString(16)}` : formatValue(v, fmt, 4)}\n`,
      );
    },
  },
  {
    name: "log",
    args: "item1[,...]",
    help: "activate logging of the specified items",
    run: (m, args) => {
      if (args === "" || args === "help" || args === "?") {
        m.write(m.host.logItemsHelp());
        return;
      }
      m.host.setLogItems(args === "none" ? [] : args.split(","));
    },
  },
];

export { R_CPL };
