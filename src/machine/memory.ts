// Guest memory: one WebAssembly.Memory holds the CPU state block, the software TLB and guest
// physical RAM, so the interpreter, the JIT's modules and the devices share the same bytes.
//
//   0x0000_0000  CPU state block (cpu/state.ts), 4 KiB
//   0x0010_0000  software TLB: Int32Array[1 << 20], one entry per 4 KiB linear page
//   0x0050_0000  code-page map: one byte per physical page (self-modifying code detection)
//   0x0060_0000  kqemu jump cache (accel/kqemu/engine.ts), 1 MiB
//   0x0100_0000  guest physical RAM (ramSize bytes, physical address 0 at this offset)

export const TLB_BYTE_OFFSET = 0x0010_0000;
export const TLB_ENTRIES = 1 << 20;
/** One byte per physical RAM page: 1 when the page holds decoded or translated code. */
export const CODEPAGE_BYTE_OFFSET = 0x0050_0000;
/** The kqemu accelerator's jump cache: compiled code finds its next block here without JavaScript. */
export const KQ_JC_BYTE_OFFSET = 0x0060_0000;
export const RAM_BYTE_OFFSET = 0x0100_0000;
const WASM_PAGE = 0x10000;

export class GuestMemory {
  readonly memory: WebAssembly.Memory;
  readonly buffer: ArrayBuffer;
  /** Guest physical RAM; index = physical address. */
  readonly ram: Uint8Array;
  readonly ramSize: number;

  constructor(ramSize: number) {
    if (ramSize <= 0 || ramSize % 0x100000 !== 0)
      throw new RangeError("RAM size must be a positive multiple of 1 MiB");
    if (ramSize > 0x7ff0_0000) throw new RangeError("RAM size too large (at most 2047 MiB)");
    const pages = (RAM_BYTE_OFFSET + ramSize) / WASM_PAGE;
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.buffer = this.memory.buffer;
    this.ramSize = ramSize;
    this.ram = new Uint8Array(this.buffer, RAM_BYTE_OFFSET, ramSize);
  }
}
