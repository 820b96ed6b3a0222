// The guest RAM file (Linux hosts, kqemu accelerator): as QEMU's kqemu_vmalloc did, guest RAM is
// backed by a hidden file in $QEMU_TMPDIR, else /dev/shm (falling back to /tmp with QEMU's warning),
// created and unlinked at once, after checking that the directory has room for it. Here the file is
// mapped MAP_SHARED|MAP_FIXED over the guest-RAM range of the WebAssembly.Memory's backing store, so
// the interpreter, the JIT's modules and the devices keep using the same views and the bytes they
// see are the file's. mmap is reached through koffi (npm); where koffi, libc or mmap is missing
// (other hosts, a browser never gets here) there is no file and the accelerator runs the same.
//
// This is the only module that touches the FFI for guest memory; the board sees it as the
// PcConfig.backRam hook, called right after GuestMemory is created and before anything is loaded.
import {
  closeSync,
  constants,
  ftruncateSync,
  openSync,
  readSync,
  type StatsFs,
  statfsSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { type GuestMemory, RAM_BYTE_OFFSET } from "../../machine/memory.ts";
import { libc } from "./libc.ts";

/** A failure QEMU ended with exit(1): the message is printed as it is (several lines) and tsqemu exits 1. */
export class RamFileError extends Error {
  override readonly name = "RamFileError";
}

/** The RAM file in use. */
export interface RamFile {
  /** Where the file was created (it is unlinked: only /proc/self/fd/N still names it). */
  readonly path: string;
  readonly fd: number;
  readonly size: number;
  /** Host time spent creating, sizing and mapping the file, in milliseconds. */
  readonly setupMs: number;
  /**
   * Give the range back to anonymous memory (zero-filled: the guest's RAM contents are lost) and
   * close the file, which frees its pages. For when the machine is done with (tests).
   */
  close(): void;
}

/** What mmap needs from the host: the address of a view, and mmap itself. */
export interface Mapper {
  /** Host address of the first byte of `view`. */
  address(view: Uint8Array): bigint;
  /** mmap(addr, len, prot, flags, fd, off); returns the mapped address, or null with errno on failure. */
  mmap(addr: bigint, len: number, prot: number, flags: number, fd: number, off: number): bigint | null;
  errno(): number;
}

export interface RamFileOptions {
  /** Environment (QEMU_TMPDIR); process.env by default. */
  env?: Record<string, string | undefined>;
  /** Free space of a directory; fs.statfsSync by default. */
  statfs?: (dir: string) => Pick<StatsFs, "bavail" | "bsize">;
  /** The mmap layer; by default koffi over libc.so.6 (null: no mmap on this host). */
  mapper?: Mapper | null;
  /** QEMU's warnings (the /tmp fallback); stderr by default. */
  warn?: (text: string) => void;
  /** Debug notes (why there is no file); silent by default. */
  debug?: (text: string) => void;
}

// Linux mmap constants (the same on x86-64, arm64 and the other architectures Node runs on).
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MAP_FIXED = 0x10;
const MAP_ANONYMOUS = 0x20;
const PAGE = 4096;

/** QEMU's margin: the check fails when ram_size + 8 MiB >= free space (osdep.c, kqemu_vmalloc). */
const SPACE_MARGIN = 8192 * 1024;

/** QEMU's message for a directory without room for the RAM file (osdep.c, kqemu_vmalloc). */
export function notEnoughSpaceMessage(dir: string, ramSize: number): string {
  const ramMb = Math.floor(ramSize / (1024 * 1024));
  let s = `You do not have enough space in '${dir}' for the ${ramMb} MB of QEMU virtual RAM.\n`;
  if (dir === "/dev/shm")
    s +=
      "To have more space available provided you have enough RAM and swap, do as root:\n" +
      "umount /dev/shm\n" +
      `mount -t tmpfs -o size=${ramMb + 16}m none /dev/shm\n`;
  else
    s +=
      "Use the '-m' option of QEMU to diminish the amount of virtual RAM or use the\n" +
      "QEMU_TMPDIR environment variable to set another directory where the QEMU\n" +
      "temporary RAM file will be opened.\n";
  s += "Or disable the accelerator module with -no-kqemu\n";
  return s;
}

/** QEMU's warning when the file cannot be created in the chosen directory. */
export function fallbackWarning(dir: string): string {
  return (
    `warning: could not create temporary file in '${dir}'.\n` +
    "Use QEMU_TMPDIR to select a directory in a tmpfs filesystem.\n" +
    "Using '/tmp' as fallback.\n"
  );
}

/** The directory QEMU would use: $QEMU_TMPDIR, else /dev/shm (/tmp only as the fallback). */
export function ramFileDir(env: Record<string, string | undefined> = process.env): string {
  const d = env.QEMU_TMPDIR;
  return d ? d : "/dev/shm";
}

let defaultMapper: Mapper | null | undefined;
let defaultMapperWhy = "";

/** koffi over libc.so.6, loaded once; null (with the reason) where it cannot be. */
export function koffiMapper(): { mapper: Mapper | null; why: string } {
  if (defaultMapper === undefined) {
    defaultMapper = null;
    const c = libc();
    if (process.platform !== "linux") defaultMapperWhy = `no RAM file on ${process.platform} hosts`;
    else if ("why" in c) defaultMapperWhy = `${c.why}: no mmap`;
    else
      try {
        const { koffi, lib } = c;
        const mmap = lib.func(
          "uintptr_t mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, int64_t off)",
        ) as (a: bigint, l: number, p: number, f: number, fd: number, o: number) => number | bigint;
        const MAP_FAILED = (1n << 64n) - 1n;
        defaultMapper = {
          address: (view) => koffi.address(view),
          mmap: (addr, len, prot, flags, fd, off) => {
            const r = BigInt(mmap(addr, len, prot, flags, fd, off));
            return r === MAP_FAILED ? null : r;
          },
          errno: () => koffi.errno(),
        };
      } catch (e) {
        defaultMapperWhy = `koffi/libc mmap unavailable (${e instanceof Error ? e.message : String(e)})`;
      }
  }
  return { mapper: defaultMapper, why: defaultMapperWhy };
}

/** Create the file in `dir`: a dot-prefixed name taken with O_EXCL, unlinked at once. */
function createHidden(dir: string): { fd: number; path: string } {
  for (let attempt = 0; ; attempt++) {
    const path = join(dir, `.tsqemu-ram-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
    try {
      const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
      unlinkSync(path);
      return { fd, path };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 16) throw e;
    }
  }
}

// A tiny wasm module importing the memory: ld(addr) -> i32.load, st(addr, v) -> i32.store.
const PROBE_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // types: (i32) -> i32, (i32, i32) -> ()
  0x01, 0x0b, 0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x00,
  // import "e" "m" memory, min 0
  0x02, 0x08, 0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, 0x00, 0x00,
  // functions: ld (type 0), st (type 1)
  0x03, 0x03, 0x02, 0x00, 0x01,
  // exports "ld", "st"
  0x07, 0x0b, 0x02, 0x02, 0x6c, 0x64, 0x00, 0x00, 0x02, 0x73, 0x74, 0x00, 0x01,
  // code
  0x0a, 0x13, 0x02, 0x07, 0x00, 0x20, 0x00, 0x28, 0x02, 0x00, 0x0b, 0x09, 0x00, 0x20, 0x00, 0x20, 0x01, 0x36,
  0x02, 0x00, 0x0b,
]);

/** The wasm memory as compiled code sees it: load and store one dword at a byte offset. */
export function wasmProbe(memory: WebAssembly.Memory): {
  ld(addr: number): number;
  st(addr: number, v: number): void;
} {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(PROBE_WASM), { e: { m: memory } });
  return inst.exports as unknown as { ld(addr: number): number; st(addr: number, v: number): void };
}

/** Read one little-endian dword of the file through the descriptor (pread), not through the mapping. */
function preadDword(fd: number, off: number): number {
  const b = Buffer.alloc(4);
  if (readSync(fd, b, 0, 4, off) !== 4) return -1;
  return b.readInt32LE(0);
}

/**
 * Check that the mapping holds: bytes written through the JS view and by wasm code are the file's
 * (read back through the descriptor), and bytes written to the file are what the views read.
 * Leaves RAM zero as it found it. Throws RamFileError when a check fails.
 */
function verify(mem: GuestMemory, fd: number): void {
  const last = mem.ramSize - 4;
  const dv = new DataView(mem.buffer, RAM_BYTE_OFFSET, mem.ramSize);
  const probe = wasmProbe(mem.memory);
  const fail = (what: string) => {
    throw new RamFileError(`Could not map physical memory (${what})\n`);
  };
  dv.setInt32(0, 0x5a17c0de, true);
  if (preadDword(fd, 0) !== 0x5a17c0de) fail("a write through the JS view did not reach the file");
  probe.st(RAM_BYTE_OFFSET + last, 0x1234abcd);
  if (preadDword(fd, last) !== 0x1234abcd) fail("a wasm store did not reach the file");
  writeSync(fd, Buffer.from([0x78, 0x56, 0x34, 0x12]), 0, 4, PAGE);
  if (probe.ld(RAM_BYTE_OFFSET + PAGE) !== 0x12345678 || dv.getInt32(PAGE, true) !== 0x12345678)
    fail("a write to the file is not what the views read");
  dv.setInt32(0, 0, true);
  dv.setInt32(last, 0, true);
  dv.setInt32(PAGE, 0, true);
}

/**
 * Back `mem`'s guest RAM with the RAM file. Returns null (and creates nothing) where mmap cannot be
 * reached. Throws RamFileError, whose message is QEMU's text, when the directory is short of space
 * or no file can be created or mapped. Call before anything is written to RAM: the mapping starts
 * zero-filled, as a fresh GuestMemory is.
 */
export function backRamWithFile(mem: GuestMemory, opts: RamFileOptions = {}): RamFile | null {
  const t0 = performance.now();
  const warn = opts.warn ?? ((t: string) => process.stderr.write(t));
  const { mapper, why } = opts.mapper !== undefined ? { mapper: opts.mapper, why: "no mmap" } : koffiMapper();
  if (!mapper) {
    opts.debug?.(`RAM file: none (${why}); guest RAM stays in the wasm memory`);
    return null;
  }
  const size = mem.ramSize;
  const addr = mapper.address(mem.ram);
  if (addr % BigInt(PAGE) !== 0n || size % PAGE !== 0) {
    opts.debug?.(`RAM file: none (guest RAM at 0x${addr.toString(16)} is not page aligned)`);
    return null;
  }

  const dir = ramFileDir(opts.env ?? process.env);
  const statfs = opts.statfs ?? ((d: string) => statfsSync(d));
  let free: number | null = null;
  try {
    const st = statfs(dir);
    free = Number(st.bavail) * Number(st.bsize);
  } catch {
    // As QEMU: a directory statfs cannot look at is not checked; creating the file will tell.
  }
  if (free !== null && size + SPACE_MARGIN >= free) throw new RamFileError(notEnoughSpaceMessage(dir, size));

  let file: { fd: number; path: string };
  try {
    file = createHidden(dir);
  } catch {
    warn(fallbackWarning(dir));
    try {
      file = createHidden("/tmp");
    } catch {
      throw new RamFileError(`Could not create temporary memory file '/tmp/.tsqemu-ram-XXXXXXXX'\n`);
    }
  }
  const { fd, path } = file;
  let mapped = false;
  try {
    ftruncateSync(fd, size);
    const r = mapper.mmap(addr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    if (r === null || r !== addr)
      throw new RamFileError(`Could not map physical memory (errno ${mapper.errno()})\n`);
    mapped = true;
    if (mapper.address(mem.ram) !== addr)
      throw new RamFileError("Could not map physical memory (the view moved)\n");
    verify(mem, fd);
  } catch (e) {
    if (mapped)
      mapper.mmap(addr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
    closeSync(fd);
    if (e instanceof RamFileError) throw e;
    throw new RamFileError(`Could not map physical memory (${e instanceof Error ? e.message : String(e)})\n`);
  }
  const setupMs = performance.now() - t0;
  let open = true;
  return {
    path,
    fd,
    size,
    setupMs,
    close() {
      if (!open) return;
      open = false;
      mapper.mmap(addr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
      closeSync(fd);
    },
  };
}
