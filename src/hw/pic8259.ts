// Intel 8259A programmable interrupt controller, PC/AT pair: master at 0x20/0x21, slave at
// 0xA0/0xA1 cascaded on the master's IR2, plus the PIIX3 edge/level control registers
// (ELCR1/ELCR2 at 0x4D0/0x4D1).
//
// References: Intel 8259A datasheet (order 231468), sections "Programming the 8259A"
// (ICW1-ICW4, OCW1-OCW3), "The Fully Nested Mode", "End of Interrupt", "Special Mask Mode",
// "Poll Command", "Edge and Level Triggered Modes"; PIIX3 datasheet §2.7 (ELCR).

import type { IoBus } from "../machine/ioport.ts";
import type { InterruptController } from "../machine/irq.ts";

// ICW1 (written to the even port with bit 4 set).
const ICW1_IC4 = 0x01; // ICW4 needed
const ICW1_SNGL = 0x02; // single 8259, no ICW3
const ICW1_LTIM = 0x08; // level triggered mode for all inputs
const ICW1_INIT = 0x10;
// ICW4
const ICW4_AEOI = 0x02;
const ICW4_SFNM = 0x10; // special fully nested mode
// OCW3 (even port, bits 4:3 = 01)
const OCW3_SELECT = 0x08;
const OCW3_RIS = 0x01; // read ISR (1) or IRR (0)
const OCW3_RR = 0x02; // RIS is valid
const OCW3_P = 0x04; // poll command
const OCW3_SMM = 0x20; // special mask mode value
const OCW3_ESMM = 0x40; // SMM is valid
// OCW2 commands (bits 7:5 = R SL EOI)
const OCW2_ROTATE_AEOI_CLEAR = 0;
const OCW2_NONSPECIFIC_EOI = 1;
const OCW2_SPECIFIC_EOI = 3;
const OCW2_ROTATE_AEOI_SET = 4;
const OCW2_ROTATE_NONSPECIFIC_EOI = 5;
const OCW2_SET_PRIORITY = 6;
const OCW2_ROTATE_SPECIFIC_EOI = 7;

/** IRQ lines whose ELCR bit is hardwired to edge on PIIX3 (0, 1, 2, 8, 13). */
const ELCR_MASK = [0xf8, 0xde] as const;

const CASCADE_IRQ = 2;

class Pic8259Chip {
  irr = 0;
  imr = 0;
  isr = 0;
  /** Input levels as last seen, for edge detection. */
  lastIrr = 0;
  /** IR level that currently has the lowest priority is (priorityAdd - 1) & 7 ("rotation"). */
  priorityAdd = 0;
  irqBase = 0;
  readIsr = false;
  poll = false;
  specialMask = false;
  /** 0 = ready (OCW mode), 1 = expecting ICW2, 2 = ICW3, 3 = ICW4. */
  initState = 0;
  icw4Needed = false;
  single = false;
  levelAll = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  elcr = 0;

  constructor(
    readonly isMaster: boolean,
    readonly elcrMask: number,
  ) {}

  /** ICW1 initialisation: datasheet "Initialization Command Words", what ICW1 clears. */
  initReset(): void {
    this.lastIrr = 0;
    // Level-triggered requests are re-latched from the live line; edges are forgotten.
    this.irr &= this.elcr;
    this.imr = 0;
    this.isr = 0;
    this.priorityAdd = 0;
    this.irqBase = 0;
    this.readIsr = false;
    this.poll = false;
    this.specialMask = false;
    this.initState = 0;
    this.icw4Needed = false;
    this.single = false;
    this.levelAll = false;
    this.autoEoi = false;
    this.rotateOnAutoEoi = false;
    this.specialFullyNested = false;
  }

  isLevel(mask: number): boolean {
    return this.levelAll || (this.elcr & mask) !== 0;
  }

  setInput(irq: number, level: boolean): void {
    const mask = 1 << irq;
    if (this.isLevel(mask)) {
      if (level) {
        this.irr |= mask;
        this.lastIrr |= mask;
      } else {
        this.irr &= ~mask;
        this.lastIrr &= ~mask;
      }
    } else if (level) {
      if ((this.lastIrr & mask) === 0) this.irr |= mask;
      this.lastIrr |= mask;
    } else {
      // An edge request stays latched in IRR after the line drops (as QEMU models it).
      this.lastIrr &= ~mask;
    }
  }

  /** Priority index (0 = highest) of the best bit in `mask`, 8 if none. */
  priorityOf(mask: number): number {
    if (mask === 0) return 8;
    let p = 0;
    while ((mask & (1 << ((p + this.priorityAdd) & 7))) === 0) p++;
    return p;
  }

  /** The IR line that would be delivered now, or -1. Fully nested mode rules. */
  pendingIrq(): number {
    const req = this.priorityOf(this.irr & ~this.imr);
    if (req === 8) return -1;
    let inService = this.isr;
    // Special mask mode: masked in-service levels do not block lower priorities.
    if (this.specialMask) inService &= ~this.imr;
    // Special fully nested: a slave's further requests may interrupt its own service.
    if (this.specialFullyNested && this.isMaster) inService &= ~(1 << CASCADE_IRQ);
    const cur = this.priorityOf(inService);
    return req < cur ? (req + this.priorityAdd) & 7 : -1;
  }

  /** INTA (or poll) for `irq`: move the request into service. */
  ack(irq: number): void {
    const mask = 1 << irq;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (irq + 1) & 7;
    } else {
      this.isr |= mask;
    }
    // A level request stays in IRR while the line is held.
    if (!this.isLevel(mask)) this.irr &= ~mask;
  }

  writeCommand(val: number): void {
    if (val & ICW1_INIT) {
      this.initReset();
      this.initState = 1;
      this.icw4Needed = (val & ICW1_IC4) !== 0;
      this.single = (val & ICW1_SNGL) !== 0;
      this.levelAll = (val & ICW1_LTIM) !== 0;
      return;
    }
    if (val & OCW3_SELECT) {
      if (val & OCW3_P) this.poll = true;
      if (val & OCW3_RR) this.readIsr = (val & OCW3_RIS) !== 0;
      if (val & OCW3_ESMM) this.specialMask = (val & OCW3_SMM) !== 0;
      return;
    }
    const level = val & 7;
    switch (val >> 5) {
      case OCW2_ROTATE_AEOI_CLEAR:
        this.rotateOnAutoEoi = false;
        break;
      case OCW2_ROTATE_AEOI_SET:
        this.rotateOnAutoEoi = true;
        break;
      case OCW2_NONSPECIFIC_EOI:
      case OCW2_ROTATE_NONSPECIFIC_EOI: {
        const p = this.priorityOf(this.isr);
        if (p !== 8) {
          const irq = (p + this.priorityAdd) & 7;
          this.isr &= ~(1 << irq);
          if (val >> 5 === OCW2_ROTATE_NONSPECIFIC_EOI) this.priorityAdd = (irq + 1) & 7;
        }
        break;
      }
      case OCW2_SPECIFIC_EOI:
        this.isr &= ~(1 << level);
        break;
      case OCW2_SET_PRIORITY:
        // "level" becomes the lowest priority.
        this.priorityAdd = (level + 1) & 7;
        break;
      case OCW2_ROTATE_SPECIFIC_EOI:
        this.isr &= ~(1 << level);
        this.priorityAdd = (level + 1) & 7;
        break;
      default: // 2: no operation
        break;
    }
  }

  writeData(val: number): void {
    switch (this.initState) {
      case 0: // OCW1
        this.imr = val;
        break;
      case 1: // ICW2: vector base (T7-T3)
        this.irqBase = val & 0xf8;
        this.initState = this.single ? (this.icw4Needed ? 3 : 0) : 2;
        break;
      case 2: // ICW3: cascade wiring is fixed on the PC, nothing to keep
        this.initState = this.icw4Needed ? 3 : 0;
        break;
      case 3: // ICW4
        this.specialFullyNested = (val & ICW4_SFNM) !== 0;
        this.autoEoi = (val & ICW4_AEOI) !== 0;
        this.initState = 0;
        break;
    }
  }
}

export class Pic8259 implements InterruptController {
  readonly master = new Pic8259Chip(true, ELCR_MASK[0]);
  readonly slave = new Pic8259Chip(false, ELCR_MASK[1]);
  /** INTR pin to the CPU. */
  private intr = false;
  /** Called when INTR changes, so the run loop can leave the engine to take the interrupt. */
  onIntrChange: ((level: boolean) => void) | null = null;

  constructor(io?: IoBus) {
    if (io) this.registerPorts(io);
  }

  registerPorts(io: IoBus): void {
    const handler = {
      read8: (port: number) => this.ioRead(port),
      write8: (port: number, value: number) => this.ioWrite(port, value),
    };
    io.register(0x20, 2, handler);
    io.register(0xa0, 2, handler);
    io.register(0x4d0, 2, handler);
  }

  /** A device's interrupt line. IRQ 0-7 on the master, 8-15 on the slave; IRQ2 is the cascade. */
  readonly setIrq = (irq: number, level: boolean): void => {
    if (irq >= 8) this.slave.setInput(irq - 8, level);
    else if (irq !== CASCADE_IRQ) this.master.setInput(irq, level);
    else return;
    this.update();
  };

  hasInterrupt(): boolean {
    return this.intr;
  }

  /** The INTA cycle. With nothing pending the 8259A answers IR7 without setting ISR (spurious). */
  acknowledge(): number {
    const m = this.master;
    const irq = m.pendingIrq();
    let vector: number;
    if (irq < 0) {
      vector = m.irqBase + 7;
    } else {
      m.ack(irq);
      if (irq === CASCADE_IRQ) {
        const irq2 = this.slave.pendingIrq();
        if (irq2 >= 0) {
          this.slave.ack(irq2);
          vector = this.slave.irqBase + irq2;
        } else {
          vector = this.slave.irqBase + 7; // spurious IRQ15
        }
      } else {
        vector = m.irqBase + irq;
      }
    }
    this.update();
    return vector;
  }

  /** Recompute the cascade input and INTR after any state change. */
  private update(): void {
    this.master.setInput(CASCADE_IRQ, this.slave.pendingIrq() >= 0);
    const level = this.master.pendingIrq() >= 0;
    if (level !== this.intr) {
      this.intr = level;
      this.onIntrChange?.(level);
    }
  }

  /** Poll command read: acts as an INTA and returns 0x80 | level, or 0 when nothing pends. */
  private pollRead(chip: Pic8259Chip): number {
    chip.poll = false;
    const irq = chip.pendingIrq();
    if (irq < 0) {
      this.update();
      return 0;
    }
    chip.ack(irq);
    if (chip === this.slave) {
      // The slave's request reached the master through IR2; polling consumes it there too.
      this.master.irr &= ~(1 << CASCADE_IRQ);
      this.master.isr &= ~(1 << CASCADE_IRQ);
    }
    this.update();
    return 0x80 | irq;
  }

  ioRead(port: number): number {
    if (port === 0x4d0) return this.master.elcr;
    if (port === 0x4d1) return this.slave.elcr;
    const chip = port & 0x80 ? this.slave : this.master;
    if (chip.poll) return this.pollRead(chip);
    if ((port & 1) === 0) return chip.readIsr ? chip.isr : chip.irr;
    return chip.imr;
  }

  ioWrite(port: number, value: number): void {
    if (port === 0x4d0 || port === 0x4d1) {
      const chip = port === 0x4d0 ? this.master : this.slave;
      chip.elcr = value & chip.elcrMask;
    } else {
      const chip = port & 0x80 ? this.slave : this.master;
      if ((port & 1) === 0) chip.writeCommand(value);
      else chip.writeData(value);
    }
    this.update();
  }

  /** Power-on state. */
  reset(): void {
    for (const c of [this.master, this.slave]) {
      c.initReset();
      c.irr = 0;
      c.elcr = 0;
    }
    this.update();
  }

  /** QEMU `info pic` format. */
  dump(): string {
    const line = (n: number, c: Pic8259Chip): string =>
      `pic${n}: irr=${hex2(c.irr)} imr=${hex2(c.imr)} isr=${hex2(c.isr)} hprio=${c.priorityAdd} ` +
      `irq_base=${hex2(c.irqBase)} rr_sel=${c.readIsr ? 1 : 0} elcr=${hex2(c.elcr)} ` +
      `fnm=${c.specialFullyNested ? 1 : 0}\n`;
    return line(0, this.master) + line(1, this.slave);
  }
}

function hex2(v: number): string {
  return v.toString(16).padStart(2, "0");
}
