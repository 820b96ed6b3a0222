// What the CPU needs from the board: port I/O, memory-mapped I/O for non-RAM physical
// addresses, the interrupt controller (INTR/INTA) and a few notifications.
import type { InterruptController } from "../machine/irq.ts";

export interface CpuBus {
  in8(port: number): number;
  in16(port: number): number;
  in32(port: number): number;
  out8(port: number, value: number): void;
  out16(port: number, value: number): void;
  out32(port: number, value: number): void;
  /** Physical read/write outside RAM (size 1, 2 or 4 bytes). */
  mmioRead(addr: number, size: number): number;
  mmioWrite(addr: number, size: number, value: number): void;
  /** True when the physical page holds RAM (addr is a page-aligned physical address). */
  isRam(addr: number): boolean;
  intc: InterruptController | null;
  /** The local APIC's IA32_APIC_BASE MSR (SDM Vol. 3A §11.4.4), when the board has one. */
  apicBase?: { read(): number; write(value: number): void } | null;
  /** Time-stamp counter source (virtual clock), in CPU cycles. */
  tsc(): number;
}

/** A bus with no devices: RAM only, ports float high. Used by CPU tests and harnesses. */
export function nullBus(ramSize: number): CpuBus {
  return {
    in8: () => 0xff,
    in16: () => 0xffff,
    in32: () => -1,
    out8: () => {},
    out16: () => {},
    out32: () => {},
    mmioRead: (_a, size) => (size === 4 ? -1 : size === 2 ? 0xffff : 0xff),
    mmioWrite: () => {},
    isRam: (addr) => addr >>> 0 < ramSize,
    intc: null,
    tsc: () => 0,
  };
}
