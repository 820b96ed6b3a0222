// Interrupt plumbing between devices, the interrupt controller and the CPU.

/** A device's view of its interrupt line: level-triggered input of the interrupt controller. */
export type SetIrq = (irq: number, level: boolean) => void;

/** The CPU's view of the interrupt controller (INTR pin and the INTA cycle). */
export interface InterruptController {
  /** True when INTR is asserted (an unmasked request is pending). */
  hasInterrupt(): boolean;
  /** The INTA cycle: returns the vector and updates ISR/IRR as the 8259A does. */
  acknowledge(): number;
}
