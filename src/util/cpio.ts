// cpio "newc" archives (the SVR4 portable format, magic 070701), as the Linux kernel unpacks for an
// initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
//
// Each entry is a 110-byte ASCII header — the magic and thirteen 8-digit hexadecimal fields:
//   ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
// — followed by the NUL-terminated name, padded with NULs so that header + name is a multiple of 4,
// then the file data, padded to a multiple of 4. A symlink's data is its target (no NUL). The
// archive ends with an entry named "TRAILER!!!".
//
// The writer creates missing parent directories before an entry (the kernel's unpacker needs the
// parent to exist), never repeats a path, and is reproducible: inode numbers count up from 1 and
// every mtime is the one given to the constructor (0 unless told).

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

const MAGIC_NEWC = "070701";
const MAGIC_CRC = "070702";
const HEADER_SIZE = 110;
export const CPIO_TRAILER = "TRAILER!!!";

export type CpioEntryType = "dir" | "file" | "symlink" | "chardev" | "blockdev" | "fifo" | "socket";

export interface CpioEntry {
  /** Path inside the archive, without a leading slash ("bin/busybox"); "." is the root. */
  name: string;
  type: CpioEntryType;
  /** Full st_mode: file type bits and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  ino: number;
  devMajor: number;
  devMinor: number;
  /** For device nodes: the device number the node refers to. */
  rdevMajor: number;
  rdevMinor: number;
  /** File contents, or a symlink's target as bytes; empty for other types. */
  data: Uint8Array;
}

export interface CpioOwner {
  uid?: number;
  gid?: number;
}

function typeBits(type: CpioEntryType): number {
  switch (type) {
    case "dir":
      return S_IFDIR;
    case "file":
      return S_IFREG;
    case "symlink":
      return S_IFLNK;
    case "chardev":
      return S_IFCHR;
    case "blockdev":
      return S_IFBLK;
    case "fifo":
      return S_IFIFO;
    case "socket":
      return S_IFSOCK;
  }
}

function typeFromMode(mode: number): CpioEntryType | null {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return "dir";
    case S_IFREG:
      return "file";
    case S_IFLNK:
      return "symlink";
    case S_IFCHR:
      return "chardev";
    case S_IFBLK:
      return "blockdev";
    case S_IFIFO:
      return "fifo";
    case S_IFSOCK:
      return "socket";
    default:
      return null;
  }
}

/** Normalises "/a//b/./c/" to "a/b/c"; rejects "..", empty names and NULs. */
export function normaliseCpioPath(path: string): string {
  if (path.includes("\0")) throw new Error(`cpio: path contains NUL: ${JSON.stringify(path)}`);
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw new Error(`cpio: path must not contain "..": ${path}`);
    parts.push(part);
  }
  if (parts.length === 0) throw new Error(`cpio: empty path: ${JSON.stringify(path)}`);
  return parts.join("/");
}

function checkU32(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`cpio: ${what} out of range: ${value}`);
  }
  return value;
}

function hex8(value: number): string {
  return value.toString(16).padStart(8, "0");
}

const pad4 = (n: number): number => (4 - (n & 3)) & 3;

export class CpioWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;
  private nextIno = 1;
  private readonly paths = new Map<string, CpioEntryType>();
  private finished = false;
  private readonly encoder = new TextEncoder();

  /** @param mtime seconds since the epoch recorded for every entry (0 gives reproducible archives). */
  constructor(private readonly mtime = 0) {
    checkU32("mtime", mtime);
  }

  /** A directory; parents are created as needed. Adding an existing directory again is a no-op. */
  dir(path: string, perm = 0o755, owner: CpioOwner = {}): this {
    const name = normaliseCpioPath(path);
    if (this.paths.get(name) === "dir") return this;
    this.ensureParents(name);
    this.entry(name, "dir", perm, owner, 2, 0, 0, new Uint8Array(0));
    return this;
  }

  /** A regular file with the given contents (a string is written as UTF-8). */
  file(path: string, data: Uint8Array | string, perm = 0o644, owner: CpioOwner = {}): this {
    const name = normaliseCpioPath(path);
    this.ensureParents(name);
    const bytes = typeof data === "string" ? this.encoder.encode(data) : data;
    this.entry(name, "file", perm, owner, 1, 0, 0, bytes);
    return this;
  }

  /** A symbolic link at `path` pointing to `target` (stored verbatim, relative or absolute). */
  symlink(path: string, target: string, owner: CpioOwner = {}): this {
    const name = normaliseCpioPath(path);
    if (target.length === 0 || target.includes("\0")) throw new Error(`cpio: bad symlink target for ${name}`);
    this.ensureParents(name);
    this.entry(name, "symlink", 0o777, owner, 1, 0, 0, this.encoder.encode(target));
    return this;
  }

  /** A character device node, e.g. chardev("/dev/console", 5, 1, 0o600). */
  chardev(path: string, major: number, minor: number, perm = 0o600, owner: CpioOwner = {}): this {
    return this.node(path, "chardev", major, minor, perm, owner);
  }

  /** A block device node. */
  blockdev(path: string, major: number, minor: number, perm = 0o600, owner: CpioOwner = {}): this {
    return this.node(path, "blockdev", major, minor, perm, owner);
  }

  /** A named pipe. */
  fifo(path: string, perm = 0o644, owner: CpioOwner = {}): this {
    return this.node(path, "fifo", 0, 0, perm, owner);
  }

  /** Whether `path` has been added (or created as a parent). */
  has(path: string): boolean {
    return this.paths.has(normaliseCpioPath(path));
  }

  /** Appends the trailer and returns the whole archive. The writer cannot be used afterwards. */
  finish(): Uint8Array {
    if (this.finished) throw new Error("cpio: archive already finished");
    this.writeHeader(CPIO_TRAILER, 0, 0, 0, 0, 1, 0, 0, 0, 0, new Uint8Array(0));
    this.finished = true;
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }

  private node(
    path: string,
    type: CpioEntryType,
    major: number,
    minor: number,
    perm: number,
    owner: CpioOwner,
  ): this {
    const name = normaliseCpioPath(path);
    this.ensureParents(name);
    this.entry(
      name,
      type,
      perm,
      owner,
      1,
      checkU32("major", major),
      checkU32("minor", minor),
      new Uint8Array(0),
    );
    return this;
  }

  private ensureParents(name: string): void {
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      const existing = this.paths.get(parent);
      if (existing === undefined) this.entry(parent, "dir", 0o755, {}, 2, 0, 0, new Uint8Array(0));
      else if (existing !== "dir") throw new Error(`cpio: ${parent} is not a directory (needed for ${name})`);
    }
  }

  private entry(
    name: string,
    type: CpioEntryType,
    perm: number,
    owner: CpioOwner,
    nlink: number,
    rdevMajor: number,
    rdevMinor: number,
    data: Uint8Array,
  ): void {
    if (this.finished) throw new Error("cpio: archive already finished");
    if (this.paths.has(name)) throw new Error(`cpio: duplicate path ${name}`);
    if (perm & ~0o7777)
      throw new Error(`cpio: permission bits out of range for ${name}: ${perm.toString(8)}`);
    this.paths.set(name, type);
    const mode = typeBits(type) | perm;
    this.writeHeader(
      name,
      this.nextIno++,
      mode,
      checkU32("uid", owner.uid ?? 0),
      checkU32("gid", owner.gid ?? 0),
      nlink,
      this.mtime,
      rdevMajor,
      rdevMinor,
      data.length,
      data,
    );
  }

  private writeHeader(
    name: string,
    ino: number,
    mode: number,
    uid: number,
    gid: number,
    nlink: number,
    mtime: number,
    rdevMajor: number,
    rdevMinor: number,
    fileSize: number,
    data: Uint8Array,
  ): void {
    const nameBytes = this.encoder.encode(name);
    const nameSize = nameBytes.length + 1;
    const fields = [ino, mode, uid, gid, nlink, mtime, fileSize, 0, 0, rdevMajor, rdevMinor, nameSize, 0];
    const header = MAGIC_NEWC + fields.map(hex8).join("");
    const headLen = HEADER_SIZE + nameSize;
    const head = new Uint8Array(headLen + pad4(headLen));
    for (let i = 0; i < HEADER_SIZE; i++) head[i] = header.charCodeAt(i);
    head.set(nameBytes, HEADER_SIZE);
    this.push(head);
    if (data.length > 0) {
      this.push(data);
      const p = pad4(data.length);
      if (p) this.push(new Uint8Array(p));
    }
  }

  private push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }
}

/**
 * Reads a newc (070701) or newc-with-checksum (070702) archive up to its trailer. Entries are
 * returned in archive order; `data` views the input buffer. Throws on a malformed archive.
 */
export function readCpio(archive: Uint8Array): CpioEntry[] {
  const entries: CpioEntry[] = [];
  const decoder = new TextDecoder("utf-8", { fatal: false });
  let off = 0;
  for (;;) {
    if (off + HEADER_SIZE > archive.length) throw new Error(`cpio: truncated header at offset ${off}`);
    const header = decoder.decode(archive.subarray(off, off + HEADER_SIZE));
    const magic = header.slice(0, 6);
    if (magic !== MAGIC_NEWC && magic !== MAGIC_CRC) {
      throw new Error(`cpio: bad magic ${JSON.stringify(magic)} at offset ${off}`);
    }
    const field = (i: number): number => {
      const text = header.slice(6 + i * 8, 14 + i * 8);
      if (!/^[0-9a-fA-F]{8}$/.test(text)) throw new Error(`cpio: bad header field at offset ${off}`);
      return Number.parseInt(text, 16);
    };
    const nameSize = field(11);
    const fileSize = field(6);
    if (nameSize < 1) throw new Error(`cpio: empty name at offset ${off}`);
    const nameStart = off + HEADER_SIZE;
    const dataStart = nameStart + nameSize + pad4(HEADER_SIZE + nameSize);
    const next = dataStart + fileSize + pad4(fileSize);
    if (nameStart + nameSize > archive.length || dataStart + fileSize > archive.length) {
      throw new Error(`cpio: truncated entry at offset ${off}`);
    }
    if (archive[nameStart + nameSize - 1] !== 0)
      throw new Error(`cpio: name not NUL-terminated at offset ${off}`);
    const name = decoder.decode(archive.subarray(nameStart, nameStart + nameSize - 1));
    if (name === CPIO_TRAILER) break;
    const mode = field(1);
    const type = typeFromMode(mode);
    if (type === null) throw new Error(`cpio: unknown file type ${mode.toString(8)} for ${name}`);
    entries.push({
      name,
      type,
      mode,
      ino: field(0),
      uid: field(2),
      gid: field(3),
      nlink: field(4),
      mtime: field(5),
      devMajor: field(7),
      devMinor: field(8),
      rdevMajor: field(9),
      rdevMinor: field(10),
      data: archive.subarray(dataStart, dataStart + fileSize),
    });
    off = next;
  }
  return entries;
}
