// Intel 8042 keyboard controller (data 0x60, status/command 0x64) with a PS/2 keyboard on its
// first port (IRQ1) and a PS/2 mouse on the auxiliary port (IRQ12), plus the output port's
// A20 gate and CPU reset lines.
//
// Commands and bits follow the IBM PS/2 Technical Reference (8042 "Keyboard/Auxiliary Device
// Controller" chapter) and the names Linux uses in drivers/input/serio/i8042.h; the keyboard
// and mouse answer the command sets of the IBM PS/2 keyboard and mouse (ACK 0xFA, BAT 0xAA).
// Enough is modelled for Linux's i8042 probe (self-test, CTR read/write, AUX loop, AUX IRQ
// delivery test) and for atkbd/psmouse to find a keyboard and an IntelliMouse.

import type { IoBus } from "../machine/ioport.ts";
import type { SetIrq } from "../machine/irq.ts";

// Status register (read 0x64).
export const I8042_STR_OBF = 0x01;
export const I8042_STR_IBF = 0x02;
export const I8042_STR_SYSFLAG = 0x04;
export const I8042_STR_CMDDAT = 0x08; // last write went to 0x64
export const I8042_STR_KEYLOCK = 0x10; // 1 = keyboard not inhibited
export const I8042_STR_AUXDATA = 0x20;

// Controller command byte ("CTR").
export const I8042_CTR_KBDINT = 0x01;
export const I8042_CTR_AUXINT = 0x02;
export const I8042_CTR_SYSFLAG = 0x04;
export const I8042_CTR_KBDDIS = 0x10;
export const I8042_CTR_AUXDIS = 0x20;
export const I8042_CTR_XLATE = 0x40;

// Controller commands (write 0x64).
export const I8042_CMD_CTL_RCTR = 0x20;
export const I8042_CMD_CTL_WCTR = 0x60;
export const I8042_CMD_PWD_TEST = 0xa4;
export const I8042_CMD_AUX_DISABLE = 0xa7;
export const I8042_CMD_AUX_ENABLE = 0xa8;
export const I8042_CMD_AUX_TEST = 0xa9;
export const I8042_CMD_CTL_TEST = 0xaa;
export const I8042_CMD_KBD_TEST = 0xab;
export const I8042_CMD_KBD_DISABLE = 0xad;
export const I8042_CMD_KBD_ENABLE = 0xae;
export const I8042_CMD_READ_INPUT = 0xc0;
export const I8042_CMD_READ_OUTPUT = 0xd0;
export const I8042_CMD_WRITE_OUTPUT = 0xd1;
export const I8042_CMD_KBD_LOOP = 0xd2;
export const I8042_CMD_AUX_LOOP = 0xd3;
export const I8042_CMD_AUX_SEND = 0xd4;
export const I8042_CMD_DISABLE_A20 = 0xdd; // HP Vectra extension, QEMU has it too
export const I8042_CMD_ENABLE_A20 = 0xdf;
export const I8042_CMD_READ_TEST = 0xe0;
export const I8042_CMD_PULSE_RESET = 0xfe;

// Output port (0xD0/0xD1).
export const I8042_OUT_RESET = 0x01; // 0 asserts CPU reset
export const I8042_OUT_A20 = 0x02;
const I8042_OUT_KBD_OBF = 0x10;
const I8042_OUT_AUX_OBF = 0x20;
const I8042_OUT_ONES = 0xcc; // clock/data lines idle high

// PS/2 device protocol.
const PS2_ACK = 0xfa;
const PS2_RESEND = 0xfe;
const PS2_BAT_OK = 0xaa;
const PS2_ECHO = 0xee;

const KBD_CMD_SET_LEDS = 0xed;
const KBD_CMD_ECHO = 0xee;
const KBD_CMD_SCANCODE = 0xf0;
const KBD_CMD_GET_ID = 0xf2;
const KBD_CMD_SET_RATE = 0xf3;
const KBD_CMD_ENABLE = 0xf4;
const KBD_CMD_RESET_DISABLE = 0xf5;
const KBD_CMD_RESET_ENABLE = 0xf6;
const KBD_CMD_RESEND = 0xfe;
const KBD_CMD_RESET = 0xff;

const AUX_SET_SCALE11 = 0xe6;
const AUX_SET_SCALE21 = 0xe7;
const AUX_SET_RES = 0xe8;
const AUX_GET_SCALE = 0xe9; // status request
const AUX_SET_STREAM = 0xea;
const AUX_POLL = 0xeb;
const AUX_RESET_WRAP = 0xec;
const AUX_SET_WRAP = 0xee;
const AUX_SET_REMOTE = 0xf0;
const AUX_GET_TYPE = 0xf2;
const AUX_SET_SAMPLE = 0xf3;
const AUX_ENABLE_DEV = 0xf4;
const AUX_DISABLE_DEV = 0xf5;
const AUX_SET_DEFAULT = 0xf6;
const AUX_RESET = 0xff;

/** Device queues are bounded like a real device's buffer; excess input is dropped. */
const QUEUE_MAX = 256;

class Ps2Keyboard {
  readonly queue: number[] = [];
  scanning = true;
  scancodeSet = 2;
  leds = 0;
  private pendingCmd = 0;

  constructor(private readonly translated: () => boolean) {}

  private reply(...bytes: number[]): void {
    for (const b of bytes) if (this.queue.length < QUEUE_MAX) this.queue.push(b);
  }

  write(val: number): void {
    if (this.pendingCmd !== 0) {
      const cmd = this.pendingCmd;
      this.pendingCmd = 0;
      switch (cmd) {
        case KBD_CMD_SET_LEDS:
          this.leds = val & 7;
          this.reply(PS2_ACK);
          return;
        case KBD_CMD_SET_RATE:
          this.reply(PS2_ACK);
          return;
        case KBD_CMD_SCANCODE:
          if (val === 0) {
            // Current set, reported as the controller would pass it on.
            this.reply(
              PS2_ACK,
              this.translated() ? [0, 0x43, 0x41, 0x3f][this.scancodeSet]! : this.scancodeSet,
            );
          } else if (val >= 1 && val <= 3) {
            this.scancodeSet = val;
            this.reply(PS2_ACK);
          } else {
            this.reply(PS2_RESEND);
          }
          return;
      }
    }
    switch (val) {
      case KBD_CMD_SET_LEDS:
      case KBD_CMD_SET_RATE:
      case KBD_CMD_SCANCODE:
        this.pendingCmd = val;
        this.reply(PS2_ACK);
        break;
      case KBD_CMD_ECHO:
        this.reply(PS2_ECHO);
        break;
      case KBD_CMD_GET_ID:
        // MF2 keyboard: AB 83, which the controller translates to AB 41.
        this.reply(PS2_ACK, 0xab, this.translated() ? 0x41 : 0x83);
        break;
      case KBD_CMD_ENABLE:
        this.queue.length = 0;
        this.scanning = true;
        this.reply(PS2_ACK);
        break;
      case KBD_CMD_RESET_DISABLE:
        this.scanning = false;
        this.scancodeSet = 2;
        this.reply(PS2_ACK);
        break;
      case KBD_CMD_RESET_ENABLE:
        this.scanning = true;
        this.scancodeSet = 2;
        this.reply(PS2_ACK);
        break;
      case KBD_CMD_RESET:
        this.queue.length = 0;
        this.scanning = true;
        this.scancodeSet = 2;
        this.leds = 0;
        this.reply(PS2_ACK, PS2_BAT_OK);
        break;
      case KBD_CMD_RESEND:
        this.reply(PS2_ACK);
        break;
      default:
        if (val >= 0xf7 && val <= 0xfd)
          this.reply(PS2_ACK); // scan set 3 key type commands
        else this.reply(PS2_RESEND);
    }
  }

  /** Scancode bytes from the host, already in the set the guest expects. */
  input(bytes: ArrayLike<number>): void {
    if (!this.scanning) return;
    for (let i = 0; i < bytes.length; i++) this.reply(bytes[i]! & 0xff);
  }
}

class Ps2Mouse {
  readonly queue: number[] = [];
  enabled = false;
  remote = false;
  wrap = false;
  scaling21 = false;
  resolution = 2;
  sampleRate = 100;
  /** 0 = standard PS/2 mouse, 3 = IntelliMouse (wheel, 4-byte packets). */
  id = 0;
  private pendingCmd = 0;
  private readonly rateHistory = [0, 0, 0];
  private buttons = 0;
  private dx = 0;
  private dy = 0;
  private dz = 0;

  private reply(...bytes: number[]): void {
    for (const b of bytes) if (this.queue.length < QUEUE_MAX) this.queue.push(b);
  }

  private setDefaults(): void {
    this.sampleRate = 100;
    this.resolution = 2;
    this.scaling21 = false;
    this.enabled = false;
  }

  write(val: number): void {
    if (this.wrap && val !== AUX_RESET_WRAP && val !== AUX_RESET) {
      this.reply(val);
      return;
    }
    if (this.pendingCmd !== 0) {
      const cmd = this.pendingCmd;
      this.pendingCmd = 0;
      if (cmd === AUX_SET_SAMPLE) {
        this.sampleRate = val;
        // IntelliMouse knock: sample rates 200, 100, 80 switch the ID to 3.
        this.rateHistory.shift();
        this.rateHistory.push(val);
        const [a, b, c] = this.rateHistory;
        if (a === 200 && b === 100 && c === 80) this.id = 3;
      } else {
        this.resolution = val & 3;
      }
      this.reply(PS2_ACK);
      return;
    }
    switch (val) {
      case AUX_SET_SAMPLE:
      case AUX_SET_RES:
        this.pendingCmd = val;
        this.reply(PS2_ACK);
        break;
      case AUX_SET_SCALE11:
      case AUX_SET_SCALE21:
        this.scaling21 = val === AUX_SET_SCALE21;
        this.reply(PS2_ACK);
        break;
      case AUX_GET_SCALE:
        this.reply(
          PS2_ACK,
          (this.remote ? 0x40 : 0) | (this.enabled ? 0x20 : 0) | (this.scaling21 ? 0x10 : 0) | this.buttons,
          this.resolution,
          this.sampleRate,
        );
        break;
      case AUX_SET_STREAM:
      case AUX_SET_REMOTE:
        this.remote = val === AUX_SET_REMOTE;
        this.reply(PS2_ACK);
        break;
      case AUX_POLL:
        this.reply(PS2_ACK);
        this.sendPacket();
        break;
      case AUX_RESET_WRAP:
      case AUX_SET_WRAP:
        this.wrap = val === AUX_SET_WRAP;
        this.reply(PS2_ACK);
        break;
      case AUX_GET_TYPE:
        this.reply(PS2_ACK, this.id);
        break;
      case AUX_ENABLE_DEV:
        this.enabled = true;
        this.reply(PS2_ACK);
        break;
      case AUX_DISABLE_DEV:
        this.enabled = false;
        this.reply(PS2_ACK);
        break;
      case AUX_SET_DEFAULT:
        this.setDefaults();
        this.reply(PS2_ACK);
        break;
      case AUX_RESET:
        this.queue.length = 0;
        this.setDefaults();
        this.remote = false;
        this.wrap = false;
        this.id = 0;
        this.reply(PS2_ACK, PS2_BAT_OK, this.id);
        break;
      default:
        this.reply(PS2_RESEND);
    }
  }

  /** Host pointer motion: dy positive = up (PS/2 convention). buttons: bit0 L, bit1 R, bit2 M. */
  input(dx: number, dy: number, dz: number, buttons: number): void {
    this.dx += dx;
    this.dy += dy;
    this.dz += dz;
    this.buttons = buttons & 7;
    if (this.enabled && !this.remote) this.sendPacket();
  }

  private sendPacket(): void {
    const clamp = (v: number): number => Math.max(-256, Math.min(255, v));
    const dx = clamp(this.dx);
    const dy = clamp(this.dy);
    const dz = Math.max(-8, Math.min(7, this.dz));
    this.dx = this.dy = this.dz = 0;
    this.reply(0x08 | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0) | this.buttons, dx & 0xff, dy & 0xff);
    if (this.id === 3) this.reply(dz & 0xff);
  }
}

export class I8042 {
  /** Output port bit 0 pulsed low (command 0xFE, or 0xD1 with bit 0 clear): CPU reset. */
  onReset: (() => void) | null = null;
  /** Output port bit 1 changed: the A20 gate. */
  onA20: ((enabled: boolean) => void) | null = null;

  private status = I8042_STR_KEYLOCK | I8042_STR_SYSFLAG;
  /** As a PC BIOS leaves it: translation on, keyboard interrupt on, system flag set. */
  private ctr = I8042_CTR_XLATE | I8042_CTR_SYSFLAG | I8042_CTR_KBDINT;
  private outport = I8042_OUT_ONES | I8042_OUT_A20 | I8042_OUT_RESET;
  private obf = -1; // byte in the output buffer, -1 when empty
  private obfAux = false;
  /** Controller replies, tagged aux for 0xD3 loop data. */
  private readonly ctrlQueue: number[] = [];
  private readonly ctrlQueueAux: boolean[] = [];
  /** Command whose parameter the next 0x60 write supplies (0 = none: data goes to the keyboard). */
  private pendingCmd = 0;
  private irq1 = false;
  private irq12 = false;
  readonly keyboard: Ps2Keyboard;
  readonly mouse = new Ps2Mouse();

  constructor(
    private readonly setIrq: SetIrq,
    io?: IoBus,
  ) {
    this.keyboard = new Ps2Keyboard(() => (this.ctr & I8042_CTR_XLATE) !== 0);
    if (io) this.registerPorts(io);
  }

  registerPorts(io: IoBus): void {
    io.register(0x60, 1, { read8: () => this.readData(), write8: (_p, v) => this.writeData(v) });
    io.register(0x64, 1, { read8: () => this.readStatus(), write8: (_p, v) => this.writeCommand(v) });
  }

  get a20(): boolean {
    return (this.outport & I8042_OUT_A20) !== 0;
  }

  /** Scancode bytes from the host keyboard (set 1 while CTR XLATE is on, else the device's set). */
  keyboardInput(bytes: ArrayLike<number>): void {
    this.keyboard.input(bytes);
    this.refill();
  }

  mouseInput(dx: number, dy: number, dz: number, buttons: number): void {
    this.mouse.input(dx, dy, dz, buttons);
    this.refill();
  }

  readStatus(): number {
    let s = this.status & ~(I8042_STR_OBF | I8042_STR_AUXDATA | I8042_STR_IBF);
    if (this.obf >= 0) s |= I8042_STR_OBF | (this.obfAux ? I8042_STR_AUXDATA : 0);
    return s;
  }

  readData(): number {
    if (this.obf < 0) return 0; // Reading an empty buffer returns stale data on hardware.
    const v = this.obf;
    this.obf = -1;
    this.updateIrq();
    this.refill();
    return v;
  }

  writeData(val: number): void {
    this.status &= ~I8042_STR_CMDDAT;
    const cmd = this.pendingCmd;
    this.pendingCmd = 0;
    switch (cmd) {
      case I8042_CMD_CTL_WCTR:
        this.writeCtr(val);
        break;
      case I8042_CMD_WRITE_OUTPUT:
        this.writeOutport(val);
        break;
      case I8042_CMD_KBD_LOOP:
        this.queueCtrl(val, false);
        break;
      case I8042_CMD_AUX_LOOP:
        this.queueCtrl(val, true);
        break;
      case I8042_CMD_AUX_SEND:
        // Talking to the mouse re-enables the aux interface (as on real controllers, and QEMU).
        this.ctr &= ~I8042_CTR_AUXDIS;
        this.mouse.write(val);
        break;
      default:
        if (cmd >= 0x61 && cmd <= 0x7f) break; // controller RAM write: ignored
        this.ctr &= ~I8042_CTR_KBDDIS;
        this.keyboard.write(val);
    }
    this.refill();
  }

  writeCommand(val: number): void {
    this.status |= I8042_STR_CMDDAT;
    switch (val) {
      case I8042_CMD_CTL_RCTR:
        this.queueCtrl(this.ctr, false);
        break;
      case I8042_CMD_CTL_WCTR:
      case I8042_CMD_WRITE_OUTPUT:
      case I8042_CMD_KBD_LOOP:
      case I8042_CMD_AUX_LOOP:
      case I8042_CMD_AUX_SEND:
        this.pendingCmd = val;
        break;
      case I8042_CMD_PWD_TEST:
        this.queueCtrl(0xf1, false); // no password installed
        break;
      case I8042_CMD_AUX_DISABLE:
        this.ctr |= I8042_CTR_AUXDIS;
        break;
      case I8042_CMD_AUX_ENABLE:
        this.ctr &= ~I8042_CTR_AUXDIS;
        break;
      case I8042_CMD_AUX_TEST:
      case I8042_CMD_KBD_TEST:
        this.queueCtrl(0x00, false); // no clock/data line stuck
        break;
      case I8042_CMD_CTL_TEST:
        this.status |= I8042_STR_SYSFLAG;
        this.queueCtrl(0x55, false);
        break;
      case I8042_CMD_KBD_DISABLE:
        this.ctr |= I8042_CTR_KBDDIS;
        break;
      case I8042_CMD_KBD_ENABLE:
        this.ctr &= ~I8042_CTR_KBDDIS;
        break;
      case I8042_CMD_READ_INPUT:
        this.queueCtrl(0x80, false); // bit 7: keyboard not inhibited
        break;
      case I8042_CMD_READ_OUTPUT: {
        let v = this.outport & ~(I8042_OUT_KBD_OBF | I8042_OUT_AUX_OBF);
        if (this.obf >= 0) v |= this.obfAux ? I8042_OUT_AUX_OBF : I8042_OUT_KBD_OBF;
        this.queueCtrl(v, false);
        break;
      }
      case I8042_CMD_DISABLE_A20:
        this.writeOutport(this.outport & ~I8042_OUT_A20);
        break;
      case I8042_CMD_ENABLE_A20:
        this.writeOutport(this.outport | I8042_OUT_A20);
        break;
      case I8042_CMD_READ_TEST:
        this.queueCtrl(0x00, false);
        break;
      default:
        if (val >= 0x20 && val <= 0x3f) {
          this.queueCtrl(0x00, false); // controller RAM read
        } else if (val >= 0x61 && val <= 0x7f) {
          this.pendingCmd = val;
        } else if (val >= 0xf0) {
          // Pulse output port bits 0-3 whose command bit is 0; bit 0 is CPU reset.
          if ((val & 1) === 0) this.onReset?.();
        }
    }
    this.updateIrq();
    this.refill();
  }

  private writeCtr(val: number): void {
    this.ctr = val;
    if (val & I8042_CTR_SYSFLAG) this.status |= I8042_STR_SYSFLAG;
    else this.status &= ~I8042_STR_SYSFLAG;
    this.updateIrq();
  }

  private writeOutport(val: number): void {
    const old = this.outport;
    this.outport = val | I8042_OUT_RESET;
    if ((old ^ val) & I8042_OUT_A20) this.onA20?.((val & I8042_OUT_A20) !== 0);
    if ((val & I8042_OUT_RESET) === 0) this.onReset?.();
  }

  private queueCtrl(val: number, aux: boolean): void {
    this.ctrlQueue.push(val & 0xff);
    this.ctrlQueueAux.push(aux);
  }

  /** Move the next byte into the output buffer: controller replies, keyboard, then mouse. */
  private refill(): void {
    if (this.obf >= 0) return;
    if (this.ctrlQueue.length > 0) {
      this.obf = this.ctrlQueue.shift()!;
      this.obfAux = this.ctrlQueueAux.shift()!;
    } else if (this.keyboard.queue.length > 0 && !(this.ctr & I8042_CTR_KBDDIS)) {
      this.obf = this.keyboard.queue.shift()!;
      this.obfAux = false;
    } else if (this.mouse.queue.length > 0 && !(this.ctr & I8042_CTR_AUXDIS)) {
      this.obf = this.mouse.queue.shift()!;
      this.obfAux = true;
    } else {
      return;
    }
    this.updateIrq();
  }

  private updateIrq(): void {
    const full = this.obf >= 0;
    const irq1 = full && !this.obfAux && (this.ctr & I8042_CTR_KBDINT) !== 0;
    const irq12 = full && this.obfAux && (this.ctr & I8042_CTR_AUXINT) !== 0;
    if (irq1 !== this.irq1) {
      this.irq1 = irq1;
      this.setIrq(1, irq1);
    }
    if (irq12 !== this.irq12) {
      this.irq12 = irq12;
      this.setIrq(12, irq12);
    }
  }
}
