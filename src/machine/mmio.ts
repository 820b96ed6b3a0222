// Memory-mapped I/O dispatch for the PC board: physical addresses outside RAM that devices claim
// (the HPET at 0xFED00000, later the local APIC, I/O APIC, VGA memory...). The CPU sends every
// access to a non-RAM page here (its TLB marks such pages as I/O); unclaimed addresses read as
// all-ones and ignore writes, as an open bus does.

export interface MmioHandler {
  /** Read `size` (1, 2 or 4) bytes at `offset` from the region's base; returns the value. */
  read(offset: number, size: number): number;
  /** Write the low `size` bytes of `value` at `offset` from the region's base. */
  write(offset: number, size: number, value: number): void;
}

interface Region {
  base: number;
  size: number;
  handler: MmioHandler;
}

export class MmioBus {
  private regions: Region[] = [];
  /** Called for accesses nobody claims (used by `-d unimp`/`guest_errors` logging). */
  onUnassigned: ((addr: number, size: number, write: boolean, value: number) => void) | null = null;

  /** Claim [base, base + size). Regions must not overlap. */
  register(base: number, size: number, handler: MmioHandler): void {
    base >>>= 0;
    if (size <= 0 || base + size > 0x1_0000_0000) throw new Error("MMIO region outside the 4 GiB space");
    for (const r of this.regions)
      if (base < r.base + r.size && r.base < base + size)
        throw new Error(`MMIO region 0x${base.toString(16)} overlaps 0x${r.base.toString(16)}`);
    this.regions.push({ base, size, handler });
    this.regions.sort((a, b) => a.base - b.base);
  }

  unregister(base: number): void {
    this.regions = this.regions.filter((r) => r.base !== base >>> 0);
  }

  /** The region holding `addr`, if any. */
  private find(addr: number): Region | undefined {
    for (const r of this.regions) if (addr >= r.base && addr < r.base + r.size) return r;
    return undefined;
  }

  read(addr: number, size: number): number {
    addr >>>= 0;
    const r = this.find(addr);
    if (r) {
      const v = r.handler.read(addr - r.base, size);
      return size === 4 ? v | 0 : v & (size === 2 ? 0xffff : 0xff);
    }
    this.onUnassigned?.(addr, size, false, 0);
    return size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
  }

  write(addr: number, size: number, value: number): void {
    addr >>>= 0;
    const r = this.find(addr);
    if (r)
      r.handler.write(addr - r.base, size, size === 4 ? value | 0 : value & (size === 2 ? 0xffff : 0xff));
    else this.onUnassigned?.(addr, size, true, value);
  }
}
