// National Semiconductor PC16550D UART (COM1 = 0x3F8/IRQ4, COM2 = 0x2F8/IRQ3, ...).
//
// Transmission is instantaneous: a byte written to THR goes straight to the back-end, so
// THR/TSR are always empty again by the time the guest looks (LSR THRE|TEMT). Input is kept
// in an unbounded backlog and moved into the receive FIFO as the guest drains it, so pasted
// text is never overrun. The FIFO character timeout runs on the virtual clock.
//
// References: PC16550D datasheet (June 1995) Table II (registers), Table IV (IIR priorities and
// reset conditions), §8.4 FCR, §8.6 MCR loopback; Linux drivers/tty/serial/8250/8250_port.c
// (autoconfig(), serial8250_do_startup() THRE test) for the behaviour drivers check.

import type { Clock, Timer } from "../machine/clock.ts";
import type { IoBus } from "../machine/ioport.ts";
import type { SetIrq } from "../machine/irq.ts";

// Register offsets.
const UART_RX = 0; // RBR (read), THR (write), DLL with DLAB
const UART_IER = 1; // DLM with DLAB
const UART_IIR = 2; // IIR (read), FCR (write)
const UART_LCR = 3;
const UART_MCR = 4;
const UART_LSR = 5;
const UART_MSR = 6;
const UART_SCR = 7;

export const UART_IER_RDI = 0x01; // ERBFI: received data available / timeout
export const UART_IER_THRI = 0x02; // ETBEI: THR empty
export const UART_IER_RLSI = 0x04; // ELSI: receiver line status
export const UART_IER_MSI = 0x08; // EDSSI: modem status

export const UART_IIR_NO_INT = 0x01;
export const UART_IIR_MSI = 0x00;
export const UART_IIR_THRI = 0x02;
export const UART_IIR_RDI = 0x04;
export const UART_IIR_RLSI = 0x06;
export const UART_IIR_CTI = 0x0c; // character timeout
const UART_IIR_FIFO_ENABLED = 0xc0;

const UART_FCR_ENABLE_FIFO = 0x01;
const UART_FCR_CLEAR_RCVR = 0x02;
const UART_FCR_CLEAR_XMIT = 0x04;
const RX_TRIGGER_LEVELS = [1, 4, 8, 14] as const;

const UART_LCR_DLAB = 0x80;
const UART_LCR_PARITY = 0x08;
const UART_LCR_STOP = 0x04;

export const UART_MCR_DTR = 0x01;
export const UART_MCR_RTS = 0x02;
export const UART_MCR_OUT1 = 0x04;
export const UART_MCR_OUT2 = 0x08;
export const UART_MCR_LOOP = 0x10;

export const UART_LSR_DR = 0x01;
export const UART_LSR_OE = 0x02;
export const UART_LSR_PE = 0x04;
export const UART_LSR_FE = 0x08;
export const UART_LSR_BI = 0x10;
export const UART_LSR_THRE = 0x20;
export const UART_LSR_TEMT = 0x40;
export const UART_LSR_FIFOE = 0x80;
const UART_LSR_ERRORS = UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI;

export const UART_MSR_DCTS = 0x01;
export const UART_MSR_DDSR = 0x02;
export const UART_MSR_TERI = 0x04;
export const UART_MSR_DDCD = 0x08;
export const UART_MSR_CTS = 0x10;
export const UART_MSR_DSR = 0x20;
export const UART_MSR_RI = 0x40;
export const UART_MSR_DCD = 0x80;
const UART_MSR_DELTAS = 0x0f;

const FIFO_SIZE = 16;
/** Divisor 1 = 115200 baud: the 1.8432 MHz crystal divided by 16. */
const BAUD_BASE = 115200;

export class Uart16550 {
  /** Bytes the guest transmits (not called in loopback mode). */
  onTransmit: ((byte: number) => void) | null = null;

  private readonly rxFifo = new Uint8Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  /** Input waiting for room in the receiver: "still on the wire". */
  private backlog: number[] = [];
  private backlogHead = 0;

  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsrErrors = 0;
  private msr = 0;
  private scr = 0;
  private dll = 0x0c; // 9600 baud, the usual power-on value
  private dlm = 0;
  private fifoEnabled = false;
  private rxTrigger = 1;
  private thrIpending = false;
  private timeoutIpending = false;
  private irqLevel = false;
  /** Modem inputs from the back-end when not in loopback: a connected terminal. */
  private externalMsr = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
  private readonly timeoutTimer: Timer;

  constructor(
    private readonly clock: Clock,
    private readonly setIrq: SetIrq,
    io?: IoBus,
    readonly base = 0x3f8,
    readonly irq = 4,
  ) {
    this.timeoutTimer = clock.newTimer(() => this.onTimeout());
    this.msr = this.externalMsr;
    if (io) this.registerPorts(io);
  }

  registerPorts(io: IoBus): void {
    io.register(this.base, 8, {
      read8: (port) => this.read(port - this.base),
      write8: (port, value) => this.write(port - this.base, value),
    });
  }

  /** Host input. Bytes beyond what the receiver holds wait and follow as the guest reads. */
  receive(bytes: ArrayLike<number> | string): void {
    if (typeof bytes === "string") {
      for (const b of new TextEncoder().encode(bytes)) this.backlog.push(b);
    } else {
      for (let i = 0; i < bytes.length; i++) this.backlog.push(bytes[i]! & 0xff);
    }
    this.fillReceiver();
    this.update();
  }

  /** A break condition on the line: a zero character with LSR BI set. */
  receiveBreak(): void {
    if (this.rxCount < this.rxCapacity()) {
      this.pushRx(0);
      this.lsrErrors |= UART_LSR_BI;
      this.restartTimeout();
    } else {
      this.lsrErrors |= UART_LSR_OE;
    }
    this.update();
  }

  /** Modem status inputs from the back-end (UART_MSR_CTS|DSR|RI|DCD bits). */
  setModemInputs(lines: number): void {
    this.externalMsr = lines & 0xf0;
    this.updateMsr();
    this.update();
  }

  /** Bytes received but not yet read by the guest (FIFO + backlog). */
  get pendingInput(): number {
    return this.rxCount + this.backlog.length - this.backlogHead;
  }

  read(offset: number): number {
    switch (offset & 7) {
      case UART_RX:
        if (this.lcr & UART_LCR_DLAB) return this.dll;
        return this.readRbr();
      case UART_IER:
        if (this.lcr & UART_LCR_DLAB) return this.dlm;
        return this.ier;
      case UART_IIR: {
        const iir = this.computeIir();
        // Reading IIR while THRE is the reported source clears it (Table IV).
        if ((iir & 0x0f) === UART_IIR_THRI) {
          this.thrIpending = false;
          this.update();
        }
        return iir;
      }
      case UART_LCR:
        return this.lcr;
      case UART_MCR:
        return this.mcr;
      case UART_LSR: {
        const v = this.lsr();
        this.lsrErrors = 0;
        this.update();
        return v;
      }
      case UART_MSR: {
        const v = this.msr;
        this.msr &= ~UART_MSR_DELTAS;
        this.update();
        return v;
      }
      case UART_SCR:
        return this.scr;
      default:
        return 0xff;
    }
  }

  write(offset: number, value: number): void {
    value &= 0xff;
    switch (offset & 7) {
      case UART_RX:
        if (this.lcr & UART_LCR_DLAB) this.dll = value;
        else this.transmit(value);
        break;
      case UART_IER: {
        if (this.lcr & UART_LCR_DLAB) {
          this.dlm = value;
          break;
        }
        const changed = (this.ier ^ value) & 0x0f;
        this.ier = value & 0x0f;
        // Enabling ETBEI with THR empty raises THRE even if an IIR read had cleared it; Linux's
        // startup THRE test toggles IER to check exactly this (QEMU and Bochs agree).
        if (changed & UART_IER_THRI) this.thrIpending = (this.ier & UART_IER_THRI) !== 0;
        break;
      }
      case UART_IIR:
        this.writeFcr(value);
        break;
      case UART_LCR:
        this.lcr = value;
        break;
      case UART_MCR:
        this.mcr = value & 0x1f;
        this.updateMsr();
        break;
      case UART_LSR:
      case UART_MSR:
        break; // factory test registers: writes ignored
      case UART_SCR:
        this.scr = value;
        break;
    }
    this.update();
  }

  private readRbr(): number {
    let v = 0;
    if (this.rxCount > 0) {
      v = this.rxFifo[this.rxHead]!;
      this.rxHead = (this.rxHead + 1) % FIFO_SIZE;
      this.rxCount--;
    }
    this.timeoutIpending = false;
    this.fillReceiver();
    this.restartTimeout();
    this.update();
    return v;
  }

  private transmit(byte: number): void {
    // THR is written, then immediately shifted out: the THRE indication drops and re-arms.
    this.thrIpending = false;
    this.update();
    if (this.mcr & UART_MCR_LOOP) {
      this.backlog.push(byte);
      this.fillReceiver();
    } else {
      this.onTransmit?.(byte);
    }
    this.thrIpending = (this.ier & UART_IER_THRI) !== 0;
  }

  private writeFcr(value: number): void {
    const enable = (value & UART_FCR_ENABLE_FIFO) !== 0;
    if (enable !== this.fifoEnabled) {
      // Changing the FIFO mode clears both FIFOs (§8.4).
      this.fifoEnabled = enable;
      value |= UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT;
    }
    if (value & UART_FCR_CLEAR_RCVR) {
      this.rxHead = 0;
      this.rxCount = 0;
      this.timeoutIpending = false;
      this.timeoutTimer.del();
    }
    if (value & UART_FCR_CLEAR_XMIT) {
      // Nothing is ever held in the transmitter; THR stays empty.
    }
    this.rxTrigger = RX_TRIGGER_LEVELS[value >> 6]!;
    this.fillReceiver();
    this.restartTimeout();
  }

  private rxCapacity(): number {
    return this.fifoEnabled ? FIFO_SIZE : 1;
  }

  private pushRx(byte: number): void {
    this.rxFifo[(this.rxHead + this.rxCount) % FIFO_SIZE] = byte;
    this.rxCount++;
  }

  private fillReceiver(): void {
    const cap = this.rxCapacity();
    let moved = false;
    while (this.rxCount < cap && this.backlogHead < this.backlog.length) {
      this.pushRx(this.backlog[this.backlogHead++]!);
      moved = true;
    }
    if (this.backlogHead === this.backlog.length) {
      this.backlog.length = 0;
      this.backlogHead = 0;
    } else if (this.backlogHead > 4096) {
      this.backlog = this.backlog.slice(this.backlogHead);
      this.backlogHead = 0;
    }
    if (moved) {
      this.timeoutIpending = false;
      this.restartTimeout();
    }
  }

  /** Character timeout: data in the FIFO and no activity for four character times. */
  private restartTimeout(): void {
    if (!this.fifoEnabled || this.rxCount === 0) {
      this.timeoutTimer.del();
      return;
    }
    this.timeoutTimer.mod(this.clock.now() + 4 * this.charTimeNs());
  }

  private onTimeout(): void {
    if (this.fifoEnabled && this.rxCount > 0) this.timeoutIpending = true;
    this.update();
  }

  /** One character's time on the wire at the programmed divisor and frame format. */
  charTimeNs(): number {
    const divisor = (this.dlm << 8) | this.dll || 0x10000;
    const dataBits = 5 + (this.lcr & 3);
    const stopBits = this.lcr & UART_LCR_STOP ? (dataBits === 5 ? 1.5 : 2) : 1;
    const bits = 1 + dataBits + (this.lcr & UART_LCR_PARITY ? 1 : 0) + stopBits;
    return (bits * 1e9 * divisor) / BAUD_BASE;
  }

  private lsr(): number {
    let v = UART_LSR_THRE | UART_LSR_TEMT | this.lsrErrors;
    if (this.rxCount > 0) v |= UART_LSR_DR;
    if (this.fifoEnabled && this.lsrErrors & (UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)) v |= UART_LSR_FIFOE;
    return v;
  }

  /** MCR loopback wiring (§8.6): RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD. */
  private updateMsr(): void {
    let lines: number;
    if (this.mcr & UART_MCR_LOOP) {
      lines =
        (this.mcr & UART_MCR_RTS ? UART_MSR_CTS : 0) |
        (this.mcr & UART_MCR_DTR ? UART_MSR_DSR : 0) |
        (this.mcr & UART_MCR_OUT1 ? UART_MSR_RI : 0) |
        (this.mcr & UART_MCR_OUT2 ? UART_MSR_DCD : 0);
    } else {
      lines = this.externalMsr;
    }
    const old = this.msr & 0xf0;
    let delta = this.msr & UART_MSR_DELTAS;
    const changed = old ^ lines;
    if (changed & UART_MSR_CTS) delta |= UART_MSR_DCTS;
    if (changed & UART_MSR_DSR) delta |= UART_MSR_DDSR;
    if (changed & UART_MSR_DCD) delta |= UART_MSR_DDCD;
    if (old & UART_MSR_RI && !(lines & UART_MSR_RI)) delta |= UART_MSR_TERI; // trailing edge
    this.msr = lines | delta;
  }

  /** IIR by Table IV priority: line status > received data/timeout > THRE > modem status. */
  private computeIir(): number {
    let id = UART_IIR_NO_INT;
    const rxReady = this.fifoEnabled ? this.rxCount >= this.rxTrigger : this.rxCount > 0;
    if (this.ier & UART_IER_RLSI && this.lsrErrors & UART_LSR_ERRORS) id = UART_IIR_RLSI;
    else if (this.ier & UART_IER_RDI && rxReady) id = UART_IIR_RDI;
    else if (this.ier & UART_IER_RDI && this.timeoutIpending) id = UART_IIR_CTI;
    else if (this.ier & UART_IER_THRI && this.thrIpending) id = UART_IIR_THRI;
    else if (this.ier & UART_IER_MSI && this.msr & UART_MSR_DELTAS) id = UART_IIR_MSI;
    return id | (this.fifoEnabled ? UART_IIR_FIFO_ENABLED : 0);
  }

  private update(): void {
    // The INTR pin follows IIR. (On a real PC board OUT2 gates it onto the bus; QEMU does not
    // model that gate and neither do we, so guests that forget OUT2 still work.)
    const level = (this.computeIir() & UART_IIR_NO_INT) === 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.setIrq(this.irq, level);
    }
  }

  reset(): void {
    this.ier = 0;
    this.lcr = 0;
    this.mcr = 0;
    this.lsrErrors = 0;
    this.scr = 0;
    this.fifoEnabled = false;
    this.rxTrigger = 1;
    this.rxHead = 0;
    this.rxCount = 0;
    this.thrIpending = false;
    this.timeoutIpending = false;
    this.timeoutTimer.del();
    this.msr = this.externalMsr;
    this.fillReceiver();
    this.update();
  }
}
