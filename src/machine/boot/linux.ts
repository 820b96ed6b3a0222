// Linux x86 boot protocol, 32-bit entry path (Documentation/arch/x86/boot.rst, "32-bit BOOT
// PROTOCOL"): parse a bzImage's setup header, lay the protected-mode kernel, the boot_params
// "zero page", the command line, a GDT and the initrd out in guest RAM, and return the CPU state
// the kernel expects at its 32-bit entry point. Pure functions over a view of guest-physical RAM
// (`ram[i]` is the byte at physical address i); no CPU or device is involved.
//
// Guest-physical layout used (all in conventional memory, clear of the IVT/BDA at 0–0x4FF, the
// boot sector area at 0x7C00, the EBDA at 0x9FC00 and the legacy hole at 0xA0000–0xFFFFF):
//
//   0x0F000 – 0x0FFFF  stack given to the kernel (ESP = 0x10000; the kernel switches at once)
//   0x10000 – 0x10FFF  boot_params (zero page); ESI points here
//   0x11000 – 0x1101F  GDT: null, null, 0x10 flat code, 0x18 flat data
//   0x20000 – 0x2FFFF  kernel command line, NUL-terminated
//   0x100000 –         protected-mode kernel (the bzImage after its real-mode setup sectors)
//   top of RAM         initrd, at the highest page-aligned address that fits below both
//                      initrd_addr_max and the end of usable RAM (board-reserved areas excluded)
//
// The kernel's decompressor works in [max(alignUp(0x100000, kernel_alignment), pref_address),
// + init_size) for a relocatable kernel; the initrd is kept above that ("kernelReservedEnd").

export const LINUX_BOOT_LAYOUT = {
  stackTop: 0x10000,
  zeroPage: 0x10000,
  gdt: 0x11000,
  cmdline: 0x20000,
  cmdlineCapacity: 0x10000,
  kernel: 0x100000,
} as const;

/** e820 memory types as the BIOS reports them (INT 15h, AX=E820h). */
export const E820_RAM = 1;
export const E820_RESERVED = 2;
export const E820_ACPI = 3;
export const E820_NVS = 4;
export const E820_UNUSABLE = 5;

export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

// Setup header field offsets (in the bzImage file and, identically, in boot_params).
const HDR_SETUP_SECTS = 0x1f1;
const HDR_BOOT_FLAG = 0x1fe;
const HDR_JUMP = 0x200;
const HDR_HEADER = 0x202;
const HDR_VERSION = 0x206;
const HDR_KERNEL_VERSION = 0x20e;
const HDR_TYPE_OF_LOADER = 0x210;
const HDR_LOADFLAGS = 0x211;
const HDR_CODE32_START = 0x214;
const HDR_RAMDISK_IMAGE = 0x218;
const HDR_RAMDISK_SIZE = 0x21c;
const HDR_HEAP_END_PTR = 0x224;
const HDR_CMD_LINE_PTR = 0x228;
const HDR_INITRD_ADDR_MAX = 0x22c;
const HDR_KERNEL_ALIGNMENT = 0x230;
const HDR_RELOCATABLE_KERNEL = 0x234;
const HDR_MIN_ALIGNMENT = 0x235;
const HDR_XLOADFLAGS = 0x236;
const HDR_CMDLINE_SIZE = 0x238;
const HDR_PAYLOAD_OFFSET = 0x248;
const HDR_PAYLOAD_LENGTH = 0x24c;
const HDR_PREF_ADDRESS = 0x258;
const HDR_INIT_SIZE = 0x260;

// boot_params (zero page) offsets outside the setup header.
const BP_EXT_MEM_K = 0x002; // screen_info.ext_mem_k
const BP_ALT_MEM_K = 0x1e0;
const BP_E820_ENTRIES = 0x1e8;
const BP_E820_TABLE = 0x2d0;
const E820_MAX_ENTRIES_ZEROPAGE = 128;
const ZERO_PAGE_SIZE = 0x1000;

export const HDRS_MAGIC = 0x53726448; // "HdrS"
export const LOADED_HIGH = 0x01;
export const KASLR_FLAG = 0x02;
export const QUIET_FLAG = 0x20;
export const KEEP_SEGMENTS = 0x40;
export const CAN_USE_HEAP = 0x80;

/** heap_end_ptr: end of the setup heap relative to the real-mode code, minus 0x200 (boot.rst). */
export const HEAP_END_PTR = 0xe000 - 0x200;

/** The setup header of a bzImage, with the defaults the protocol gives older versions. */
export interface SetupHeader {
  /** Protocol version, e.g. 0x020f for 2.15. */
  version: number;
  /** Number of 512-byte setup sectors after the boot sector (0 in the file means 4). */
  setupSects: number;
  rootFlags: number;
  syssize: number;
  vidMode: number;
  rootDev: number;
  bootFlag: number;
  loadflags: number;
  code32Start: number;
  /** Highest address the initrd may occupy (its last byte). */
  initrdAddrMax: number;
  kernelAlignment: number;
  relocatableKernel: boolean;
  minAlignment: number;
  xloadflags: number;
  /** Maximum command line length, not counting the terminating NUL. */
  cmdlineSize: number;
  payloadOffset: number;
  payloadLength: number;
  /** Preferred load address (LOAD_PHYSICAL_ADDR); null before protocol 2.10. */
  prefAddress: number | null;
  /** Linear memory the kernel needs from its load/run address; null before protocol 2.10. */
  initSize: number | null;
  /** Offset one past the last byte of the setup header (0x202 + the byte at 0x201). */
  headerEnd: number;
}

export interface BzImage {
  header: SetupHeader;
  /** Bytes of real-mode code (boot sector + setup sectors), i.e. where the protected-mode kernel starts. */
  setupSize: number;
  /** The protected-mode kernel, loaded at 0x100000. */
  kernel: Uint8Array;
  /** The kernel version string the header points to ("6.1.0-… (…) #1 SMP …"), if any. */
  versionString: string | null;
}

export class LinuxBootError extends Error {
  override name = "LinuxBootError";
}

const u8 = (b: Uint8Array, o: number): number => b[o]!;
const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number): number =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const u64 = (b: Uint8Array, o: number): number => u32(b, o) + u32(b, o + 4) * 0x1_0000_0000;

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}
function put64(b: Uint8Array, o: number, v: number): void {
  put32(b, o, v % 0x1_0000_0000);
  put32(b, o + 4, Math.floor(v / 0x1_0000_0000));
}

const hex = (v: number): string => `0x${v.toString(16)}`;
const versionText = (v: number): string => `${v >> 8}.${(v & 0xff).toString().padStart(2, "0")}`;
const alignUp = (v: number, a: number): number => Math.ceil(v / a) * a;
const alignDown = (v: number, a: number): number => Math.floor(v / a) * a;

/** Parses and checks a bzImage's setup header. Throws LinuxBootError with a clear reason. */
export function parseBzImage(image: Uint8Array): BzImage {
  if (image.length < 0x264 || u32(image, HDR_HEADER) !== HDRS_MAGIC) {
    throw new LinuxBootError('not a bzImage (no "HdrS" setup header signature at offset 0x202)');
  }
  if (u16(image, HDR_BOOT_FLAG) !== 0xaa55) {
    throw new LinuxBootError(`not a bzImage (boot_flag is ${hex(u16(image, HDR_BOOT_FLAG))}, not 0xaa55)`);
  }
  const version = u16(image, HDR_VERSION);
  if (version < 0x0203) {
    throw new LinuxBootError(`kernel boot protocol too old (${versionText(version)}; need 2.03 or later)`);
  }
  const loadflags = u8(image, HDR_LOADFLAGS);
  if (!(loadflags & LOADED_HIGH)) {
    throw new LinuxBootError(
      "zImage kernels (loaded low, LOADED_HIGH clear) are not supported; use a bzImage",
    );
  }
  const setupSects = u8(image, HDR_SETUP_SECTS) || 4;
  const setupSize = (setupSects + 1) * 512;
  if (image.length <= setupSize) {
    throw new LinuxBootError(
      `truncated bzImage (${image.length} bytes, but the setup code alone is ${setupSize} bytes)`,
    );
  }
  const headerEnd = HDR_JUMP + 2 + u8(image, HDR_JUMP + 1);
  const has = (v: number): boolean => version >= v;
  const initrdAddrMax = u32(image, HDR_INITRD_ADDR_MAX) || 0x37ffffff;
  const header: SetupHeader = {
    version,
    setupSects,
    rootFlags: u16(image, 0x1f2),
    syssize: u32(image, 0x1f4),
    vidMode: u16(image, 0x1fa),
    rootDev: u16(image, 0x1fc),
    bootFlag: u16(image, HDR_BOOT_FLAG),
    loadflags,
    code32Start: u32(image, HDR_CODE32_START),
    initrdAddrMax,
    kernelAlignment: has(0x0205) ? u32(image, HDR_KERNEL_ALIGNMENT) : 0,
    relocatableKernel: has(0x0205) ? u8(image, HDR_RELOCATABLE_KERNEL) !== 0 : false,
    minAlignment: has(0x020a) ? u8(image, HDR_MIN_ALIGNMENT) : 0,
    xloadflags: has(0x020c) ? u16(image, HDR_XLOADFLAGS) : 0,
    cmdlineSize: has(0x0206) ? u32(image, HDR_CMDLINE_SIZE) : 255,
    payloadOffset: has(0x0208) ? u32(image, HDR_PAYLOAD_OFFSET) : 0,
    payloadLength: has(0x0208) ? u32(image, HDR_PAYLOAD_LENGTH) : 0,
    prefAddress: has(0x020a) ? u64(image, HDR_PREF_ADDRESS) : null,
    initSize: has(0x020a) ? u32(image, HDR_INIT_SIZE) : null,
    headerEnd,
  };
  if (headerEnd > setupSize || headerEnd > ZERO_PAGE_SIZE) {
    throw new LinuxBootError(`not a bzImage (setup header would end at ${hex(headerEnd)})`);
  }
  let versionString: string | null = null;
  const kv = u16(image, HDR_KERNEL_VERSION);
  if (kv !== 0 && 0x200 + kv < setupSize) {
    const start = 0x200 + kv;
    let end = start;
    while (end < setupSize && end - start < 256 && image[end] !== 0) end++;
    versionString = new TextDecoder("latin1").decode(image.subarray(start, end));
  }
  return { header, setupSize, kernel: image.subarray(setupSize), versionString };
}

/**
 * The BIOS-style e820 map for a PC with `ramSize` bytes of RAM mapped from address 0: usable
 * 0–0x9FC00, the EBDA (0x9FC00–0xA0000) and the BIOS ROM (0xF0000–0x100000) reserved, usable from
 * 1 MiB to the end of RAM. `reserved` regions (e.g. ACPI tables at the top of RAM as E820_ACPI,
 * the BIOS flash alias below 4 GiB) are cut out of those default ranges and listed with their
 * type; they must not overlap each other. Sorted by address, adjacent entries of the same type
 * merged. RAM is taken to be contiguous from 0 (a 32-bit guest's RAM below the PCI hole).
 */
export function buildE820Map(ramSize: number, reserved: readonly E820Entry[] = []): E820Entry[] {
  if (!Number.isInteger(ramSize) || ramSize <= 0x100000) {
    throw new LinuxBootError(`RAM size ${hex(ramSize)} too small (need more than 1 MiB)`);
  }
  // The PC's own map; the board's regions are cut out of it (they win over the defaults).
  let base: E820Entry[] = [
    { addr: 0, size: 0x9fc00, type: E820_RAM },
    { addr: 0x9fc00, size: 0x400, type: E820_RESERVED },
    { addr: 0xf0000, size: 0x10000, type: E820_RESERVED },
    { addr: 0x100000, size: ramSize - 0x100000, type: E820_RAM },
  ];
  for (const r of reserved) {
    if (!Number.isInteger(r.addr) || !Number.isInteger(r.size) || r.addr < 0 || r.size <= 0) {
      throw new LinuxBootError(`bad reserved region ${hex(r.addr)}+${hex(r.size)}`);
    }
    if (r.type === E820_RAM) throw new LinuxBootError("a reserved region cannot have type E820_RAM");
    const rEnd = r.addr + r.size;
    const next: E820Entry[] = [];
    for (const u of base) {
      const uEnd = u.addr + u.size;
      if (rEnd <= u.addr || r.addr >= uEnd) {
        next.push(u);
        continue;
      }
      if (u.addr < r.addr) next.push({ addr: u.addr, size: r.addr - u.addr, type: u.type });
      if (rEnd < uEnd) next.push({ addr: rEnd, size: uEnd - rEnd, type: u.type });
    }
    base = next;
  }
  const all = [...base, ...reserved.map((r) => ({ addr: r.addr, size: r.size, type: r.type }))].sort(
    (a, b) => a.addr - b.addr,
  );
  for (let i = 1; i < all.length; i++) {
    const prev = all[i - 1]!;
    const cur = all[i]!;
    if (prev.addr + prev.size > cur.addr) {
      throw new LinuxBootError(
        `reserved regions overlap: ${hex(prev.addr)}+${hex(prev.size)} and ${hex(cur.addr)}+${hex(cur.size)}`,
      );
    }
  }
  const merged: E820Entry[] = [];
  for (const e of all) {
    const last = merged[merged.length - 1];
    if (last && last.type === e.type && last.addr + last.size === e.addr) last.size += e.size;
    else merged.push({ ...e });
  }
  return merged;
}

export interface LinuxBootOptions {
  /** Kernel command line (e.g. "console=ttyS0"); written NUL-terminated at 0x20000. */
  cmdline?: string;
  /** Initial RAM disk image, placed at the top of usable RAM. */
  initrd?: Uint8Array;
  /** Bytes of RAM from address 0; defaults to the length of the RAM view. */
  ramSize?: number;
  /** Board-reserved regions for the e820 map (e.g. ACPI tables at the top of RAM). */
  reserved?: readonly E820Entry[];
  /**
   * What boot_params.screen_info describes: "vga-text" (80×25 colour text mode 3, as a BIOS leaves
   * a VGA) or "none" (zero lines/columns: the kernel's VGA console stays off). Default "vga-text".
   */
  video?: "vga-text" | "none";
}

/** The CPU state for the 32-bit entry and where everything was put. */
export interface LinuxBootResult {
  /** EIP: code32_start, the protected-mode kernel's load address (0x100000). */
  entry: number;
  /** ESI: physical address of boot_params. */
  esi: number;
  eax: 0;
  ebx: 0;
  ecx: 0;
  edx: 0;
  ebp: 0;
  edi: 0;
  /** A usable stack top below the zero page; the kernel does not rely on it. */
  esp: number;
  /** EFLAGS: only the reserved bit 1; IF = 0 (interrupts off). */
  eflags: 0x2;
  /** CR0: PE (and ET, which reads as 1 on i486 and later); PG = 0. */
  cr0: 0x11;
  gdtBase: number;
  gdtLimit: number;
  csSel: 0x10;
  dsSel: 0x18;
  /**
   * Hidden descriptor-cache contents for CS and DS/ES/SS/FS/GS after the loads: base 0, limit
   * 0xFFFFFFFF, 4 KiB granularity, 32-bit; access byte 0x9B (code: present, DPL 0, execute/read,
   * accessed) and 0x93 (data: present, DPL 0, read/write, accessed).
   */
  segments: { base: 0; limit: 0xffffffff; codeAccess: 0x9b; dataAccess: 0x93 };
  zeroPage: number;
  cmdlineAddr: number;
  cmdlineSize: number;
  kernelAddr: number;
  /** One past the last byte of the loaded protected-mode kernel. */
  kernelEnd: number;
  /** One past the memory the kernel's decompressor may use (init_size from its run address). */
  kernelReservedEnd: number;
  initrdAddr: number;
  initrdSize: number;
  e820: E820Entry[];
  header: SetupHeader;
  versionString: string | null;
}

/** The four GDT entries: null, unused (0x08), flat code (0x10), flat data (0x18); high then low dword. */
const GDT_DESCRIPTORS: readonly [number, number][] = [
  [0, 0],
  [0, 0],
  [0x00cf9b00, 0x0000ffff],
  [0x00cf9300, 0x0000ffff],
];

/**
 * Loads a bzImage for the 32-bit boot protocol into `ram` and fills in boot_params. Everything it
 * writes is listed in the file comment; nothing else in `ram` is touched.
 */
export function loadLinux(
  ram: Uint8Array,
  image: Uint8Array,
  options: LinuxBootOptions = {},
): LinuxBootResult {
  const L = LINUX_BOOT_LAYOUT;
  const bz = parseBzImage(image);
  const h = bz.header;
  const ramSize = options.ramSize ?? ram.length;
  if (ramSize > ram.length) {
    throw new LinuxBootError(`RAM size ${hex(ramSize)} exceeds the RAM view (${hex(ram.length)} bytes)`);
  }
  const e820 = buildE820Map(ramSize, options.reserved ?? []);
  if (e820.length > E820_MAX_ENTRIES_ZEROPAGE) {
    throw new LinuxBootError(`too many e820 entries (${e820.length} > ${E820_MAX_ENTRIES_ZEROPAGE})`);
  }

  // Command line.
  const cmdline = new TextEncoder().encode(options.cmdline ?? "");
  const cmdlineMax = Math.min(h.cmdlineSize, L.cmdlineCapacity - 1);
  if (cmdline.length > cmdlineMax) {
    throw new LinuxBootError(
      `kernel command line too long (${cmdline.length} bytes; this kernel takes ${cmdlineMax})`,
    );
  }
  if (cmdline.includes(0)) throw new LinuxBootError("kernel command line contains a NUL byte");

  // Kernel placement and the memory its decompressor will use.
  const kernelAddr: number = L.kernel;
  const kernelEnd = kernelAddr + bz.kernel.length;
  let runAddr = kernelAddr;
  if (h.relocatableKernel && h.kernelAlignment > 0) runAddr = alignUp(kernelAddr, h.kernelAlignment);
  if (h.prefAddress !== null && h.prefAddress > runAddr && h.prefAddress < 0x1_0000_0000)
    runAddr = h.prefAddress;
  const kernelReservedEnd = Math.max(kernelEnd, runAddr + (h.initSize ?? 0));
  const usableHigh = e820.filter((e) => e.type === E820_RAM && e.addr >= 0x100000);
  const fitsInRam = (end: number): boolean =>
    usableHigh.some((e) => e.addr <= kernelAddr && end <= e.addr + e.size);
  if (!fitsInRam(kernelEnd)) {
    throw new LinuxBootError(`kernel (${bz.kernel.length} bytes) does not fit in RAM above 1 MiB`);
  }
  if (!fitsInRam(kernelReservedEnd)) {
    const need = Math.ceil((kernelReservedEnd - 0x100000) / 0x100000) + 1;
    throw new LinuxBootError(`not enough RAM for this kernel to decompress (needs at least ${need} MiB)`);
  }

  // Initrd: highest page-aligned address in usable RAM below initrd_addr_max and above the kernel.
  const initrd = options.initrd ?? new Uint8Array(0);
  let initrdAddr = 0;
  if (initrd.length > 0) {
    const limit = h.initrdAddrMax + 1;
    let found = -1;
    for (let i = usableHigh.length - 1; i >= 0 && found < 0; i--) {
      const e = usableHigh[i]!;
      const end = Math.min(e.addr + e.size, limit, ram.length);
      const addr = alignDown(end - initrd.length, 0x1000);
      if (addr >= e.addr && addr >= kernelReservedEnd) found = addr;
    }
    if (found < 0) {
      throw new LinuxBootError(
        `initrd (${initrd.length} bytes) does not fit between the kernel (ends ${hex(kernelReservedEnd)}) ` +
          `and min(initrd_addr_max ${hex(h.initrdAddrMax)}, end of RAM)`,
      );
    }
    initrdAddr = found;
  }

  // Everything checked: write.
  ram.set(bz.kernel, kernelAddr);
  if (initrd.length > 0) ram.set(initrd, initrdAddr);
  ram.set(cmdline, L.cmdline);
  ram[L.cmdline + cmdline.length] = 0;

  const zp = ram.subarray(L.zeroPage, L.zeroPage + ZERO_PAGE_SIZE);
  zp.fill(0);
  zp.set(image.subarray(HDR_SETUP_SECTS, h.headerEnd), HDR_SETUP_SECTS);
  zp[HDR_TYPE_OF_LOADER] = 0xff;
  zp[HDR_LOADFLAGS] = h.loadflags | CAN_USE_HEAP;
  put32(zp, HDR_CODE32_START, kernelAddr);
  put32(zp, HDR_RAMDISK_IMAGE, initrdAddr);
  put32(zp, HDR_RAMDISK_SIZE, initrd.length);
  put16(zp, HDR_HEAP_END_PTR, HEAP_END_PTR);
  put32(zp, HDR_CMD_LINE_PTR, L.cmdline);

  const highEnd = usableHigh.find((e) => e.addr === 0x100000);
  const extKiB = highEnd ? Math.floor(highEnd.size / 1024) : 0;
  put32(zp, BP_ALT_MEM_K, extKiB);
  put16(zp, BP_EXT_MEM_K, Math.min(extKiB, 0xfc00));
  if ((options.video ?? "vga-text") === "vga-text") {
    zp[0x06] = 3; // orig_video_mode
    zp[0x07] = 80; // orig_video_cols
    put16(zp, 0x0a, 0x0003); // orig_video_ega_bx: colour, 256 KiB (not 0x10, i.e. not CGA)
    zp[0x0e] = 25; // orig_video_lines
    zp[0x0f] = 1; // orig_video_isVGA
    put16(zp, 0x10, 16); // orig_video_points (font height)
  }
  zp[BP_E820_ENTRIES] = e820.length;
  e820.forEach((e, i) => {
    const o = BP_E820_TABLE + i * 20;
    put64(zp, o, e.addr);
    put64(zp, o + 8, e.size);
    put32(zp, o + 16, e.type);
  });

  GDT_DESCRIPTORS.forEach(([hi, lo], i) => {
    put32(ram, L.gdt + i * 8, lo);
    put32(ram, L.gdt + i * 8 + 4, hi);
  });

  return {
    entry: kernelAddr,
    esi: L.zeroPage,
    eax: 0,
    ebx: 0,
    ecx: 0,
    edx: 0,
    ebp: 0,
    edi: 0,
    esp: L.stackTop,
    eflags: 0x2,
    cr0: 0x11,
    gdtBase: L.gdt,
    gdtLimit: GDT_DESCRIPTORS.length * 8 - 1,
    csSel: 0x10,
    dsSel: 0x18,
    segments: { base: 0, limit: 0xffffffff, codeAccess: 0x9b, dataAccess: 0x93 },
    zeroPage: L.zeroPage,
    cmdlineAddr: L.cmdline,
    cmdlineSize: cmdline.length,
    kernelAddr,
    kernelEnd,
    kernelReservedEnd,
    initrdAddr,
    initrdSize: initrd.length,
    e820,
    header: h,
    versionString: bz.versionString,
  };
}
