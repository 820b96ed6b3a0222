// Port I/O dispatch for the PC board (x86 IN/OUT address space, 64 Ki ports).
// Devices register a handler for a range; unclaimed ports read as all-ones and ignore writes,
// as an ISA bus with no device answering does.

export interface IoHandler {
  read8?(port: number): number;
  write8?(port: number, value: number): void;
  /** Optional wide accessors; when absent the bus splits the access into bytes. */
  read16?(port: number): number;
  write16?(port: number, value: number): void;
  read32?(port: number): number;
  write32?(port: number, value: number): void;
}

export class IoBus {
  private readonly handlers: (IoHandler | undefined)[] = new Array(0x10000);
  /** Called for accesses to unclaimed ports (used by `-d unimp`/`guest_errors` logging). */
  onUnassigned: ((port: number, size: number, write: boolean, value: number) => void) | null = null;

  register(start: number, count: number, handler: IoHandler): void {
    for (let p = start; p < start + count; p++) this.handlers[p & 0xffff] = handler;
  }

  unregister(start: number, count: number): void {
    for (let p = start; p < start + count; p++) this.handlers[p & 0xffff] = undefined;
  }

  in8(port: number): number {
    const h = this.handlers[port & 0xffff];
    if (h?.read8) return h.read8(port & 0xffff) & 0xff;
    this.onUnassigned?.(port, 1, false, 0);
    return 0xff;
  }

  out8(port: number, value: number): void {
    const h = this.handlers[port & 0xffff];
    if (h?.write8) h.write8(port & 0xffff, value & 0xff);
    else this.onUnassigned?.(port, 1, true, value);
  }

  in16(port: number): number {
    const h = this.handlers[port & 0xffff];
    if (h?.read16) return h.read16(port & 0xffff) & 0xffff;
    return this.in8(port) | (this.in8(port + 1) << 8);
  }

  out16(port: number, value: number): void {
    const h = this.handlers[port & 0xffff];
    if (h?.write16) h.write16(port & 0xffff, value & 0xffff);
    else {
      this.out8(port, value);
      this.out8(port + 1, value >>> 8);
    }
  }

  in32(port: number): number {
    const h = this.handlers[port & 0xffff];
    if (h?.read32) return h.read32(port & 0xffff) | 0;
    return this.in16(port) | (this.in16(port + 2) << 16) | 0;
  }

  out32(port: number, value: number): void {
    const h = this.handlers[port & 0xffff];
    if (h?.write32) h.write32(port & 0xffff, value | 0);
    else {
      this.out16(port, value);
      this.out16(port + 2, value >>> 16);
    }
  }
}
