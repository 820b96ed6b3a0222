// POST code port 0x80: firmware and Linux's outb_p() write here; the value is kept for the
// monitor (a POST card's display) and reads return it, as QEMU's debug port does not but
// several chipsets do.

import type { IoBus } from "../machine/ioport.ts";

export class Port80 {
  /** Last byte written (0 before any write). */
  last = 0;
  writes = 0;
  onPostCode: ((code: number) => void) | null = null;

  constructor(io?: IoBus) {
    if (io) this.registerPorts(io);
  }

  registerPorts(io: IoBus): void {
    io.register(0x80, 1, {
      read8: () => this.last,
      write8: (_p, v) => {
        this.last = v;
        this.writes++;
        this.onPostCode?.(v);
      },
    });
  }
}
