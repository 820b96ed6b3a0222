// The PC board: guest RAM, port I/O, the chipset devices and the run loop that alternates between
// the CPU engine and the devices' timers (DESIGN.md: "the run loop").

import { KqemuEngine } from "../accel/kqemu/engine.ts";
import type { CpuBus } from "../cpu/bus.ts";
import { CPU, EV_IRQ, EXIT_HLT, EXIT_SHUTDOWN } from "../cpu/cpu.ts";
import type { X87 } from "../cpu/fpu.ts";
import {
  CR0_ET,
  CR0_PE,
  CS,
  DS,
  EAX,
  EBP,
  EBX,
  ECX,
  EDI,
  EDX,
  ES,
  ESI,
  ESP,
  FS,
  GS,
  R_A20_MASK,
  R_CPL,
  R_CR0,
  R_EIP,
  R_GDTR_BASE,
  R_GDTR_LIMIT,
  R_KQ_DONE,
  R_SEGBASE,
  R_SEL,
  SS,
} from "../cpu/state.ts";
import { AcpiPm, buildAcpiTables } from "../hw/acpi.ts";
import { APIC_DEFAULT_BASE, APIC_MMIO_SIZE, LocalApic } from "../hw/apic.ts";
import { HPET_BASE, HPET_FREQ_14MHZ, HPET_MMIO_SIZE, Hpet } from "../hw/hpet.ts";
import { I8042 } from "../hw/i8042.ts";
import { IOAPIC_DEFAULT_BASE, IOAPIC_MMIO_SIZE, IoApic } from "../hw/ioapic.ts";
import { Mc146818 } from "../hw/mc146818.ts";
import { I440fx, PCI_DEVFN, PciBus, Piix3, Piix4Pm } from "../hw/pci.ts";
import { Pic8259 } from "../hw/pic8259.ts";
import { Pit8254 } from "../hw/pit8254.ts";
import { Port80 } from "../hw/port80.ts";
import { Port92 } from "../hw/port92.ts";
import { Uart16550 } from "../hw/uart16550.ts";
import { loadLinux } from "./boot/linux.ts";
import { Clock, type ClockMode } from "./clock.ts";
import { IoBus } from "./ioport.ts";
import { GuestMemory } from "./memory.ts";
import { MmioBus } from "./mmio.ts";
import type { Tracer } from "./trace.ts";

export interface PcConfig {
  ramSize: number;
  /** Engine: the interpreter only (tcg), or kqemu for user code / for user and kernel code. */
  accel?: "tcg" | "kqemu-user" | "kqemu-full";
  kernel?: Uint8Array;
  initrd?: Uint8Array;
  append?: string;
  clockMode?: ClockMode;
  noReboot?: boolean;
  noShutdown?: boolean;
  /** Log lines for `-d` items (guest_errors, unimp, int, cpu_reset). */
  log?: (item: string, line: string) => void;
  logItems?: Set<string>;
  /**
   * Host hook for guest RAM, called right after the memory is created and before anything is
   * loaded into it: the Node CLI maps the kqemu RAM file over it (src/host/node/ram-file.ts).
   */
  backRam?: (mem: GuestMemory) => void;
}

const PM_BASE = 0x600;
const ACPI_RSDP = 0xf0000;
/** The I/O APIC's ID: after the processor's local APIC ID 0 (IDs must be unique on the APIC bus). */
const IOAPIC_ID = 1;
/** ACPI SCI (PIIX4 PM): ISA IRQ 9, level-triggered, active high as QEMU's tables announce it. */
const SCI_IRQ = 9;
// MPS INTI flags of an interrupt source override (ACPI 1.0b §5.2.8.3.1).
const MPS_ACTIVE_HIGH = 1;
const MPS_LEVEL = 3 << 2;
const ACPI_TABLES = 0xf0100;

/** Why the machine stopped running. */
export type StopReason = "poweroff" | "reset" | "triple-fault" | "quit" | "error";

/**
 * Let the host's event loop run (terminal input, sockets, worker messages). Node has setImmediate;
 * browsers and workers get a MessageChannel round trip, which unlike setTimeout(0) is not clamped
 * to 4 ms after a few nested calls.
 */
const hostSetImmediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
const yieldToHost: () => Promise<void> =
  typeof hostSetImmediate === "function"
    ? () => new Promise((resolve) => hostSetImmediate(resolve))
    : (() => {
        const channel = new MessageChannel();
        const waiting: (() => void)[] = [];
        channel.port1.onmessage = () => waiting.shift()?.();
        return () =>
          new Promise<void>((resolve) => {
            waiting.push(resolve);
            channel.port2.postMessage(0);
          });
      })();

export class PcMachine {
  readonly mem: GuestMemory;
  readonly io = new IoBus();
  /** Memory-mapped devices outside RAM (the HPET). */
  readonly mmio = new MmioBus();
  readonly clock: Clock;
  readonly pic: Pic8259;
  /** The boot processor's local APIC: the CPU's interrupt controller (8259A via LINT0). */
  readonly lapic: LocalApic;
  readonly ioapic: IoApic;
  readonly pit: Pit8254;
  readonly rtc: Mc146818;
  readonly hpet: Hpet;
  readonly serial: Uart16550;
  readonly kbc: I8042;
  readonly port92: Port92;
  readonly pci: PciBus;
  readonly acpi: AcpiPm;
  readonly cpu: CPU;
  readonly config: PcConfig;
  /** The kqemu accelerator when enabled (null with -no-kqemu). */
  readonly kqemu: KqemuEngine | null = null;

  /** Set when the guest or the user asked the machine to stop; the run loop returns it. */
  private stopReason: StopReason | null = null;
  private resetRequested = false;
  paused = false;
  private wake: (() => void) | null = null;
  readonly irqCounts = new Float64Array(16);
  /** ACPI power button (monitor `system_powerdown`); set by the ACPI device when present. */
  onPowerButton: (() => void) | null = null;
  /** `-d in_asm/exec/cpu`: while active, the CPU runs one instruction at a time (see trace.ts). */
  tracer: Tracer | null = null;
  /** Host milliseconds spent waiting with the CPU halted (guest idle). */
  idleMs = 0;
  /** Instructions executed since power-on, and host time spent in the engine. */
  instructions = 0;
  private readonly start = performance.now();

  constructor(config: PcConfig) {
    this.config = config;
    this.mem = new GuestMemory(config.ramSize);
    config.backRam?.(this.mem);
    this.clock = new Clock(config.clockMode ?? "realtime");
    const io = this.io;
    this.pic = new Pic8259(io);
    this.lapic = new LocalApic(this.clock, this.pic, {
      raiseNmi: () => this.cpu.raiseNmi(),
      eoiBroadcast: (vector) => this.ioapic.eoi(vector),
    });
    this.ioapic = new IoApic(this.lapic, IOAPIC_ID);
    this.mmio.register(APIC_DEFAULT_BASE, APIC_MMIO_SIZE, this.lapic);
    this.mmio.register(IOAPIC_DEFAULT_BASE, IOAPIC_MMIO_SIZE, this.ioapic);
    // Every ISA line goes to the 8259A and to the I/O APIC pin of the same number, except IRQ0
    // which drives pin 2 (announced by an interrupt source override in the MADT).
    // Count rising edges per IRQ line for `info irq`.
    const levels = new Uint8Array(16);
    const setIrq = (irq: number, level: boolean): void => {
      if (level && !levels[irq]) this.irqCounts[irq]++;
      levels[irq] = level ? 1 : 0;
      this.pic.setIrq(irq, level);
      this.ioapic.setPin(irq === 0 ? 2 : irq, level);
    };
    // The HPET's LegacyReplacement route (IA-PC HPET 1.0a §2.3.5) takes IRQ0 and IRQ8 from the PIT
    // and the RTC: their outputs pass through this switch, which remembers their levels meanwhile.
    let legacyReplaced = false;
    const legacyLevels = new Uint8Array(16);
    const pitRtcIrq = (irq: number, level: boolean): void => {
      legacyLevels[irq] = level ? 1 : 0;
      if (!legacyReplaced) setIrq(irq, level);
    };
    this.pit = new Pit8254(this.clock, pitRtcIrq, io);
    this.rtc = new Mc146818(this.clock, pitRtcIrq, io);
    // 14.31818 MHz as on the ICH: Linux wants a comparator 128 ticks ahead of the counter it read
    // back (HPET_MIN_CYCLES), 9 us at this rate, which an interpreted guest comfortably meets.
    this.hpet = new Hpet(this.clock, setIrq, {
      frequency: HPET_FREQ_14MHZ,
      onLegacyRoute: (on) => {
        legacyReplaced = on;
        for (const irq of [0, 8]) if (legacyLevels[irq]) setIrq(irq, !on);
      },
    });
    this.mmio.register(HPET_BASE, HPET_MMIO_SIZE, this.hpet);
    this.rtc.setMemorySize(config.ramSize);
    this.serial = new Uart16550(this.clock, setIrq, io, 0x3f8, 4);
    this.kbc = new I8042(setIrq, io);
    this.port92 = new Port92(io);
    new Port80(io);
    this.pci = new PciBus(io);
    this.pci.addDevice(new I440fx(), PCI_DEVFN(0, 0));
    const piix3 = new Piix3(this.pci, setIrq);
    this.pci.addDevice(piix3, PCI_DEVFN(1, 0));
    piix3.setDefaultRouting();
    // Without firmware nobody else marks the PCI interrupt lines (IRQ 10, 11) level-triggered in ELCR2.
    io.out8(0x4d1, 0x0c);
    this.pci.onReset = () => this.requestReset();
    // ACPI: PIIX4 power management function with the PM1 block at 0x600, SCI on IRQ 9.
    this.acpi = new AcpiPm(this.clock, setIrq);
    const pm = new Piix4Pm(io, this.acpi);
    this.pci.addDevice(pm, PCI_DEVFN(1, 3));
    pm.setBase(PM_BASE);
    this.acpi.onPowerOff = () => {
      if (config.noShutdown) this.pause();
      else this.requestStop("poweroff");
    };
    this.onPowerButton = () => this.acpi.powerButton();
    // The unused port 0xED is written by kernels for I/O delays.
    io.register(0xed, 1, { write8: () => {} });
    const bus: CpuBus = {
      in8: (p) => io.in8(p),
      in16: (p) => io.in16(p),
      in32: (p) => io.in32(p),
      out8: (p, v) => io.out8(p, v),
      out16: (p, v) => io.out16(p, v),
      out32: (p, v) => io.out32(p, v),
      mmioRead: (addr, size) => this.mmioRead(addr, size),
      mmioWrite: (addr, size, value) => this.mmioWrite(addr, size, value),
      isRam: (addr) => addr >>> 0 < config.ramSize,
      intc: this.lapic,
      apicBase: { read: () => this.lapic.readBaseMsr(), write: (v) => this.lapic.writeBaseMsr(v) },
      tsc: () => this.clock.now(), // a 1 GHz time-stamp counter
    };
    this.cpu = new CPU(this.mem, bus);
    // x87 FERR# drives IRQ13 as on the PC/AT; a write to port F0h clears that request and asserts
    // IGNNE# until FERR# goes away (PIIX/PIIX4 coprocessor error logic). Used with CR0.NE = 0 only.
    const x87 = this.cpu.fpu as X87 | null;
    if (x87) {
      x87.onFerr = (on) => setIrq(13, on);
      io.register(0xf0, 1, {
        write8: () => {
          setIrq(13, false);
          if (x87.ferr) x87.ignne = true;
        },
      });
    }
    if (config.accel === "kqemu-user" || config.accel === "kqemu-full") {
      this.kqemu = new KqemuEngine(this.cpu, config.accel === "kqemu-full" ? "full" : "user");
      // -icount: the clock is the instruction count, exact at faults inside compiled blocks too.
      if (this.clock.mode === "deterministic") this.kqemu.exactCount = true;
      this.kqemu.onHostWork = (ms) => this.clock.steal(ms);
    }
    this.kbc.onReset = () => this.requestReset();
    this.port92.onReset = () => this.requestReset();
    const a20 = (enabled: boolean) => this.setA20(enabled);
    this.kbc.onA20 = a20;
    this.port92.onA20 = a20;
    // The 8259A's INTR goes to LINT0 of the local APIC, which raises the CPU's interrupt line.
    this.pic.onIntrChange = () => this.lapic.update();
    this.lapic.onIntrChange = (level) => {
      if (level) this.cpu.events |= EV_IRQ;
      this.wake?.();
    };
    // `-d` hooks stay installed and consult the item set at each call, so the monitor's `log` can
    // change it at run time.
    const logItems = config.logItems ?? new Set<string>();
    const h8 = (v: number) => (v >>> 0).toString(16).padStart(8, "0");
    const h4 = (v: number) => (v & 0xffff).toString(16).padStart(4, "0");
    this.cpu.onUnimplemented = (eip, bytes) => {
      if (!logItems.has("unimp") && !logItems.has("guest_errors")) return;
      const hex = bytes.map((b) => b.toString(16).padStart(2, "0")).join(" ");
      config.log?.("unimp", `unimplemented instruction at ${h4(this.cpu.r[R_SEL + CS])}:${h8(eip)}: ${hex}`);
    };
    // QEMU's `-d int` line (do_interrupt_all): count, vector, error code, software int, CPL, CS:EIP.
    let intCount = 0;
    this.cpu.onInterrupt = (vector, error, hw) => {
      if (!logItems.has("int")) return;
      const r = this.cpu.r;
      const eip = hw ? r[R_EIP] : this.cpu.eipStart;
      const head = `${String(intCount++).padStart(6)}: v=${vector.toString(16).padStart(2, "0")} e=${h4(Math.max(error, 0))}`;
      config.log?.(
        "int",
        `${head} i=${!hw && (vector === 3 || vector === 4 || vector >= 32) ? 1 : 0} cpl=${r[R_CPL]} IP=${h4(r[R_SEL + CS])}:${h8(eip)} pc=${h8(r[R_SEGBASE + CS] + eip)} SP=${h4(r[R_SEL + SS])}:${h8(r[ESP])} EAX=${h8(r[EAX])}`,
      );
    };
    this.mmio.onUnassigned = (addr, size, write, value) => {
      if (!logItems.has("guest_errors")) return;
      config.log?.(
        "guest_errors",
        `unassigned mmio ${write ? "write" : "read"} addr 0x${(addr >>> 0).toString(16)} size ${size}${write ? ` value 0x${(value >>> 0).toString(16)}` : ""}`,
      );
    };
    io.onUnassigned = (port, size, write, value) => {
      if (!logItems.has("guest_errors")) return;
      config.log?.(
        "guest_errors",
        `unassigned io ${write ? "write" : "read"} port 0x${port.toString(16)} size ${size}${write ? ` value 0x${(value >>> 0).toString(16)}` : ""}`,
      );
    };
    this.loadFirmware();
  }

  private mmioRead(addr: number, size: number): number {
    return this.mmio.read(addr, size);
  }

  private mmioWrite(addr: number, size: number, value: number): void {
    this.mmio.write(addr, size, value);
  }

  /** Put the boot state in place: the Linux kernel via the 32-bit boot protocol. */
  private loadFirmware(): void {
    const cfg = this.config;
    const cpu = this.cpu;
    cpu.reset();
    // ACPI tables live in the reserved BIOS area; Linux finds the RSDP by scanning E0000-FFFFF.
    buildAcpiTables(this.mem.ram, ACPI_TABLES, ACPI_RSDP, {
      pmBase: PM_BASE,
      hpet: { address: HPET_BASE, blockId: this.hpet.capabilities },
      apic: {
        lapicAddress: APIC_DEFAULT_BASE,
        lapicId: 0,
        ioapicAddress: IOAPIC_DEFAULT_BASE,
        ioapicId: IOAPIC_ID,
        overrides: [
          { irq: 0, gsi: 2, flags: 0 },
          { irq: SCI_IRQ, gsi: SCI_IRQ, flags: MPS_ACTIVE_HIGH | MPS_LEVEL },
        ],
        nmiLint: 1,
      },
    });
    if (!cfg.kernel) return;
    const boot = loadLinux(this.mem.ram, cfg.kernel, {
      cmdline: cfg.append ?? "",
      initrd: cfg.initrd,
      ramSize: cfg.ramSize,
      video: "none",
    });
    cpu.notifyRamWrite(0, cfg.ramSize);
    const r = cpu.r;
    r[R_CR0] = CR0_PE | CR0_ET;
    r[R_GDTR_BASE] = boot.gdtBase;
    r[R_GDTR_LIMIT] = boot.gdtLimit;
    cpu.setSegCache(CS, boot.csSel, 0, -1, 0xc09b);
    for (const s of [DS, ES, SS, FS, GS]) cpu.setSegCache(s, boot.dsSel, 0, -1, 0xc093);
    cpu.modeChanged();
    r[EAX] = 0;
    r[EBX] = 0;
    r[ECX] = 0;
    r[EDX] = 0;
    r[EBP] = 0;
    r[EDI] = 0;
    r[ESI] = boot.esi;
    r[ESP] = boot.esp;
    r[R_EIP] = boot.entry;
    cpu.setEflags(2);
    r[R_A20_MASK] = -1;
    cpu.flushTlb(true);
  }

  /** A20 gate: with it off, physical address bit 20 is forced to 0 (1 MiB wrap, as on an 8086). */
  setA20(enabled: boolean): void {
    const cpu = this.cpu;
    cpu.r[R_A20_MASK] = enabled ? -1 : ~0x100000;
    cpu.flushTlb(true);
  }

  /** Guest- or user-initiated reset (keyboard controller, port 0x92, triple fault, system_reset). */
  requestReset(): void {
    this.resetRequested = true;
    this.cpu.requestStop();
    this.wake?.();
  }

  /** Stop the run loop with a reason (ACPI power-off, monitor quit). */
  requestStop(reason: StopReason): void {
    this.stopReason = reason;
    this.cpu.requestStop();
    this.wake?.();
  }

  /** The monitor's `nmi`: a non-maskable interrupt for the CPU (QEMU injects one into every CPU). */
  nmi(): void {
    this.cpu.raiseNmi();
    this.wake?.(); // a halted CPU takes it at once
  }

  powerButton(): void {
    if (!this.onPowerButton) throw new Error("system_powerdown: no ACPI power button on this board");
    this.onPowerButton();
  }

  pause(): void {
    this.paused = true;
    this.clock.pause();
    this.cpu.requestStop();
  }

  resume(): void {
    this.paused = false;
    this.clock.resume();
    this.wake?.();
  }

  private doReset(): void {
    this.resetRequested = false;
    if (this.config.logItems?.has("cpu_reset")) this.config.log?.("cpu_reset", "CPU Reset (CPU 0)");
    this.tracer?.flush();
    this.pic.reset();
    this.lapic.reset();
    this.ioapic.reset();
    this.pit.reset();
    this.rtc.reset();
    this.hpet.reset();
    this.serial.reset();
    this.mem.ram.fill(0);
    this.cpu.flushCodeCache();
    this.kqemu?.flush();
    this.loadFirmware();
  }

  /** Guest MIPS since power-on (for status lines and benchmarks). */
  mips(): number {
    const ms = performance.now() - this.start;
    return ms > 0 ? this.instructions / ms / 1000 : 0;
  }

  /**
   * Run until the machine stops. Returns the reason. Yields to the host event loop every few
   * milliseconds so terminal input, sockets and the monitor are served.
   */
  async run(): Promise<StopReason> {
    const cpu = this.cpu;
    const clock = this.clock;
    this.clock.resume();
    const SLICE_MS = 10;
    const CHUNK = 20000;
    const r = cpu.r;
    clock.capByInstructions(() => cpu.icount + r[R_KQ_DONE]);
    for (;;) {
      if (this.stopReason) return this.stopReason;
      if (this.paused) {
        // A timer holds the host's event loop open meanwhile: with nothing else pending (stdin
        // closed, no monitor socket), Node would end the process instead of waiting, where QEMU
        // stays stopped until told otherwise.
        const hold = setInterval(() => {}, 1 << 30);
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        clearInterval(hold);
        this.wake = null;
        continue;
      }
      const sliceEnd = performance.now() + SLICE_MS;
      let halted = false;
      clock.capped = true;
      do {
        const tracer = this.tracer?.active ? this.tracer : null;
        tracer?.step();
        const exit = tracer || !this.kqemu ? cpu.run(tracer ? 1 : CHUNK) : this.kqemu.run(CHUNK);
        this.instructions += cpu.lastRun;
        if (clock.mode === "deterministic") clock.advance(cpu.lastRun);
        clock.runTimers();
        if (this.resetRequested) {
          if (this.config.noReboot) return "reset";
          this.doReset();
          continue;
        }
        if (this.stopReason) return this.stopReason;
        if (exit === EXIT_SHUTDOWN) {
          if (this.config.noReboot) return "triple-fault";
          if (this.config.logItems?.has("cpu_reset")) this.config.log?.("guest_errors", "Triple fault");
          this.doReset();
          continue;
        }
        if (exit === EXIT_HLT) {
          halted = true;
          break;
        }
        if (this.paused) break;
      } while (performance.now() < sliceEnd);
      clock.capped = false;
      if (halted) {
        // Idle: sleep until the next timer or an interrupt from the host side (input).
        if (clock.mode === "deterministic") {
          clock.advanceTo(clock.nextDeadline());
          clock.runTimers();
          if (clock.nextDeadline() === Number.POSITIVE_INFINITY && !this.lapic.hasInterrupt())
            await yieldToHost();
          continue;
        }
        // Time stolen from the guest while it ran is given back here, as a shorter wait.
        const untilDeadlineMs = (clock.nextDeadline() - clock.now()) / 1e6;
        const paid = untilDeadlineMs > 0 ? clock.payBack(untilDeadlineMs) : 0;
        const waitMs = Math.max(0, Math.min(50, untilDeadlineMs - paid));
        const idleStart = performance.now();
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, waitMs);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = null;
        this.idleMs += performance.now() - idleStart;
        clock.runTimers();
      } else {
        // The guest did not see the host run its event loop: its clock stands still meanwhile.
        const y0 = performance.now();
        await yieldToHost();
        clock.steal(performance.now() - y0);
      }
    }
  }
}
