// The kqemu RAM file (src/host/node/ram-file.ts): a hidden, unlinked file in $QEMU_TMPDIR / /dev/shm
// / /tmp mapped over the guest-RAM range of the wasm memory, QEMU's free-space check and messages,
// and the CLI's use of it (kqemu on: the file; -no-kqemu: none; short of space: QEMU's lines, exit 1).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  fstatSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  readSync,
  rmSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  backRamWithFile,
  fallbackWarning,
  koffiMapper,
  notEnoughSpaceMessage,
  type RamFile,
  RamFileError,
  ramFileDir,
  wasmProbe,
} from "../../src/host/node/ram-file.ts";
import { GuestMemory, RAM_BYTE_OFFSET } from "../../src/machine/memory.ts";
import { PcMachine } from "../../src/machine/pc.ts";
import { DATA_ADDR, echoKernel, loopKernel, monitorCommand, tsqemu, writeTemp } from "../cli/fixtures.ts";

const MiB = 1 << 20;
const dirs: string[] = [];
function freshDir(base = tmpdir()): string {
  const d = mkdtempSync(join(base, "tsqemu-ramfile-"));
  dirs.push(d);
  return d;
}
const files: RamFile[] = [];
after(() => {
  for (const f of files) f.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function pread(fd: number, off: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  assert.equal(readSync(fd, b, 0, len, off), len);
  return b;
}

/** Descriptors of this process that name a file inside `dir` (deleted or not). */
function fdsInto(dir: string, pid: number | "self" = "self"): string[] {
  const out: string[] = [];
  for (const n of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const l = readlinkSync(`/proc/${pid}/fd/${n}`);
      if (l.startsWith(`${dir}/`)) out.push(l);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

const haveMmap = koffiMapper().mapper !== null;
const noMmap = haveMmap ? false : `no mmap on this host: ${koffiMapper().why}`;

describe("the RAM file", { skip: noMmap }, () => {
  it("is created in $QEMU_TMPDIR, unlinked at once, open, sized, and its bytes are guest RAM", () => {
    const dir = freshDir();
    const mem = new GuestMemory(32 * MiB);
    const f = backRamWithFile(mem, { env: { QEMU_TMPDIR: dir }, warn: (t) => assert.fail(`warned: ${t}`) });
    assert.ok(f);
    files.push(f);
    assert.ok(f.path.startsWith(`${dir}/.tsqemu-ram-`), f.path);
    assert.deepEqual(readdirSync(dir), [], "the file is unlinked");
    assert.equal(readlinkSync(`/proc/self/fd/${f.fd}`), `${f.path} (deleted)`);
    assert.equal(fstatSync(f.fd).size, 32 * MiB);
    assert.equal(fstatSync(f.fd).nlink, 0);
    // It starts zero-filled, as a fresh GuestMemory: the checks after mapping left nothing behind.
    assert.equal(
      mem.ram.subarray(0, 2 * 4096).some((b) => b !== 0),
      false,
    );
    assert.equal(mem.ram[32 * MiB - 1], 0);

    // Written through the JS view: read back through the descriptor (not through the mapping).
    const pattern = Buffer.from("guest RAM is the file's bytes");
    for (const at of [0, 0x1000 - 3, 0x12345, 32 * MiB - pattern.length]) {
      mem.ram.set(pattern, at);
      assert.deepEqual(pread(f.fd, at, pattern.length), pattern, `offset ${at}`);
    }
    // Written to the file: seen by the JS view and by wasm code importing the memory.
    writeSync(f.fd, Buffer.from([0xef, 0xbe, 0xad, 0xde]), 0, 4, 0x200000);
    assert.equal(new DataView(mem.buffer).getUint32(RAM_BYTE_OFFSET + 0x200000, true), 0xdeadbeef);
    const probe = wasmProbe(mem.memory);
    assert.equal(probe.ld(RAM_BYTE_OFFSET + 0x200000) >>> 0, 0xdeadbeef);
    probe.st(RAM_BYTE_OFFSET + 0x300000, 0x0badf00d);
    assert.equal(pread(f.fd, 0x300000, 4).readUInt32LE(0), 0x0badf00d);
    // Outside guest RAM the wasm memory is untouched anonymous memory.
    probe.st(RAM_BYTE_OFFSET - 4, 0x11223344);
    assert.equal(new DataView(mem.buffer).getUint32(RAM_BYTE_OFFSET - 4, true), 0x11223344);
    assert.equal(pread(f.fd, 0, 4).toString("latin1"), "gues");

    // close(): the descriptor goes, RAM is anonymous (zero) memory again and still works.
    const fd = f.fd;
    f.close();
    assert.throws(() => readlinkSync(`/proc/self/fd/${fd}`));
    assert.equal(mem.ram[0], 0);
    mem.ram[0] = 7;
    assert.equal(probe.ld(RAM_BYTE_OFFSET) & 0xff, 7);
  });

  it("defaults to /dev/shm without QEMU_TMPDIR", { skip: !existsSync("/dev/shm") && "no /dev/shm" }, () => {
    const mem = new GuestMemory(MiB);
    const f = backRamWithFile(mem, { env: {} });
    assert.ok(f);
    files.push(f);
    assert.match(f.path, /^\/dev\/shm\/\.tsqemu-ram-/);
    assert.equal(readlinkSync(`/proc/self/fd/${f.fd}`), `${f.path} (deleted)`);
    assert.equal(existsSync(f.path), false);
  });

  it("falls back to /tmp with QEMU's warning when the directory cannot take the file", () => {
    const missing = join(freshDir(), "no-such-dir");
    const mem = new GuestMemory(MiB);
    let warned = "";
    const f = backRamWithFile(mem, { env: { QEMU_TMPDIR: missing }, warn: (t) => (warned += t) });
    assert.ok(f);
    files.push(f);
    assert.equal(
      warned,
      `warning: could not create temporary file in '${missing}'.\n` +
        "Use QEMU_TMPDIR to select a directory in a tmpfs filesystem.\n" +
        "Using '/tmp' as fallback.\n",
    );
    assert.equal(warned, fallbackWarning(missing));
    assert.match(f.path, /^\/tmp\/\.tsqemu-ram-/);
    assert.equal(readlinkSync(`/proc/self/fd/${f.fd}`), `${f.path} (deleted)`);
    mem.ram[5] = 0x42;
    assert.equal(pread(f.fd, 5, 1)[0], 0x42);
  });

  it("the not-enough-space check is QEMU's (ram + 8 MiB >= free fails) and creates nothing", () => {
    const dir = freshDir();
    const before = fdsInto(dir).length;
    const ram = 64 * MiB;
    const statfsFree = (free: number) => () => ({ bavail: free / 4096, bsize: 4096 });
    const mem = new GuestMemory(ram);
    assert.throws(
      () => backRamWithFile(mem, { env: { QEMU_TMPDIR: dir }, statfs: statfsFree(ram + 8 * MiB) }),
      (e: unknown) => {
        assert.ok(e instanceof RamFileError);
        assert.equal(
          e.message,
          `You do not have enough space in '${dir}' for the 64 MB of QEMU virtual RAM.\n` +
            "Use the '-m' option of QEMU to diminish the amount of virtual RAM or use the\n" +
            "QEMU_TMPDIR environment variable to set another directory where the QEMU\n" +
            "temporary RAM file will be opened.\n" +
            "Or disable the accelerator module with -no-kqemu\n",
        );
        return true;
      },
    );
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(fdsInto(dir).length, before, "no descriptor left open");
    // One page more than QEMU's margin is enough.
    const f = backRamWithFile(mem, { env: { QEMU_TMPDIR: dir }, statfs: statfsFree(ram + 8 * MiB + 4096) });
    assert.ok(f);
    files.push(f);
    f.close();
  });

  it("a mapping that fails or does not hold is QEMU's 'Could not map physical memory', fd closed", () => {
    const real = koffiMapper().mapper;
    assert.ok(real);
    const dir = freshDir();
    const before = fdsInto(dir).length;
    const mem = new GuestMemory(MiB);
    // mmap fails (MAP_FAILED): the errno is reported.
    const failing = { ...real, mmap: () => null, errno: () => 12 };
    assert.throws(() => backRamWithFile(mem, { env: { QEMU_TMPDIR: dir }, mapper: failing }), {
      name: "RamFileError",
      message: "Could not map physical memory (errno 12)\n",
    });
    // mmap claims success but maps nothing: the check after mapping catches it.
    const lying = { ...real, mmap: (addr: bigint) => addr };
    assert.throws(() => backRamWithFile(mem, { env: { QEMU_TMPDIR: dir }, mapper: lying }), {
      name: "RamFileError",
      message: "Could not map physical memory (a write through the JS view did not reach the file)\n",
    });
    assert.equal(fdsInto(dir).length, before, "no descriptor left open");
  });

  it("the /dev/shm message has QEMU's advice to remount it larger", () => {
    assert.equal(
      notEnoughSpaceMessage("/dev/shm", 128 * MiB),
      "You do not have enough space in '/dev/shm' for the 128 MB of QEMU virtual RAM.\n" +
        "To have more space available provided you have enough RAM and swap, do as root:\n" +
        "umount /dev/shm\n" +
        "mount -t tmpfs -o size=144m none /dev/shm\n" +
        "Or disable the accelerator module with -no-kqemu\n",
    );
    const mem = new GuestMemory(128 * MiB);
    assert.throws(() => backRamWithFile(mem, { env: {}, statfs: () => ({ bavail: 1000, bsize: 4096 }) }), {
      name: "RamFileError",
      message: notEnoughSpaceMessage("/dev/shm", 128 * MiB),
    });
  });

  it("128 MiB: mapping time (printed), and guest code run by the kqemu engine lands in the file", async (t) => {
    const dir = freshDir();
    const times: string[] = [];
    for (let k = 0; k < 3; k++) {
      const mem = new GuestMemory(128 * MiB);
      const f = backRamWithFile(mem, { env: { QEMU_TMPDIR: dir } });
      assert.ok(f);
      times.push(f.setupMs.toFixed(2));
      f.close();
    }
    t.diagnostic(`128 MiB RAM file create+ftruncate+mmap+verify: ${times.join(", ")} ms`);

    const { image } = loopKernel();
    let file: RamFile | null = null;
    const m = new PcMachine({
      ramSize: 128 * MiB,
      accel: "kqemu-full",
      kernel: image,
      clockMode: "deterministic",
      backRam: (mem) => {
        file = backRamWithFile(mem, { env: { QEMU_TMPDIR: dir } });
      },
    });
    const f = file as RamFile | null;
    assert.ok(f);
    files.push(f);
    const done = m.run();
    await new Promise((r) => setTimeout(r, 300));
    m.requestStop("quit");
    await done;
    assert.ok(m.kqemu && m.kqemu.stats.insnsCompiled > 0, "the loop ran as compiled wasm");
    // The loop kernel stored 0xdeadbeef and "tsqemu" at DATA_ADDR, and was loaded at 1 MiB: the
    // file holds both, read through the descriptor.
    assert.equal(pread(f.fd, DATA_ADDR, 4).readUInt32LE(0), 0xdeadbeef);
    assert.equal(pread(f.fd, DATA_ADDR + 4, 6).toString("latin1"), "tsqemu");
    assert.deepEqual(pread(f.fd, 0x100000, 64), Buffer.from(m.mem.ram.subarray(0x100000, 0x100000 + 64)));
  });
});

describe("without mmap", () => {
  it("no file, nothing created, the reason only on the debug channel", () => {
    const dir = freshDir();
    const mem = new GuestMemory(MiB);
    const notes: string[] = [];
    const f = backRamWithFile(mem, { env: { QEMU_TMPDIR: dir }, mapper: null, debug: (t) => notes.push(t) });
    assert.equal(f, null);
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(notes.length, 1);
    assert.match(notes[0], /^RAM file: none/);
    mem.ram[0] = 1;
    assert.equal(wasmProbe(mem.memory).ld(RAM_BYTE_OFFSET), 1);
  });

  it("the directory choice: $QEMU_TMPDIR, else /dev/shm", () => {
    assert.equal(ramFileDir({ QEMU_TMPDIR: "/some/where" }), "/some/where");
    assert.equal(ramFileDir({}), "/dev/shm");
    assert.equal(ramFileDir({ QEMU_TMPDIR: "" }), "/dev/shm");
  });
});

/** A 1 MiB tmpfs (root may mount one here; where it may not, the CLI cases are skipped with why). */
function smallTmpfs(): string | null {
  const d = freshDir();
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "none", d], { stdio: "pipe" });
  } catch {
    return null;
  }
  after(() => {
    try {
      execFileSync("umount", [d], { stdio: "pipe" });
    } catch {
      // best effort
    }
  });
  return d;
}

describe("the CLI", { skip: noMmap }, () => {
  const echo = writeTemp("echo.bzImage", echoKernel());
  const small = smallTmpfs();
  const noMount = small ? false : "cannot mount a small tmpfs here (needs root)";

  it("kqemu on, QEMU_TMPDIR short of space: QEMU's lines on stderr, exit status 1", {
    skip: noMount,
  }, async () => {
    process.env.QEMU_TMPDIR = small ?? "";
    try {
      for (const accel of [[], ["-kernel-kqemu"]]) {
        const r = tsqemu(["-m", "64", "-kernel", echo, "-nographic", ...accel]);
        const e = await r.exit(10000);
        assert.equal(e.code, 1);
        assert.equal(e.stdout, "");
        assert.equal(
          e.stderr,
          `You do not have enough space in '${small}' for the 64 MB of QEMU virtual RAM.\n` +
            "Use the '-m' option of QEMU to diminish the amount of virtual RAM or use the\n" +
            "QEMU_TMPDIR environment variable to set another directory where the QEMU\n" +
            "temporary RAM file will be opened.\n" +
            "Or disable the accelerator module with -no-kqemu\n",
        );
      }
    } finally {
      delete process.env.QEMU_TMPDIR;
    }
  });

  it("-no-kqemu and -accel tcg: no RAM file, so the small directory does not matter", {
    skip: noMount,
  }, async () => {
    process.env.QEMU_TMPDIR = small ?? "";
    try {
      for (const accel of [["-no-kqemu"], ["-accel", "tcg"]]) {
        const r = tsqemu(["-m", "64", "-kernel", echo, "-nographic", ...accel]);
        await r.waitFor("HELLO\r\n", { ms: 8000 });
        r.write("q");
        const e = await r.exit(10000);
        assert.equal(e.code, 0);
        assert.equal(e.stderr, "");
      }
    } finally {
      delete process.env.QEMU_TMPDIR;
    }
  });

  it("kqemu on: the running process holds the unlinked file; info kqemu names it", async () => {
    const dir = freshDir();
    process.env.QEMU_TMPDIR = dir;
    let r: ReturnType<typeof tsqemu>;
    try {
      r = tsqemu(["-m", "64", "-kernel", echo, "-nographic"]);
    } finally {
      delete process.env.QEMU_TMPDIR;
    }
    await r.waitFor("HELLO\r\n", { ms: 8000 });
    const pid = r.child.pid;
    assert.ok(pid);
    const held = fdsInto(dir, pid);
    assert.equal(held.length, 1, held.join(", "));
    assert.match(held[0], new RegExp(`^${dir}/\\.tsqemu-ram-\\S+ \\(deleted\\)$`));
    assert.deepEqual(readdirSync(dir), []);
    r.write("\x01c");
    await r.waitFor("(qemu) ");
    const kq = (await monitorCommand(r, "info kqemu")).split("\n");
    assert.equal(kq[0], "kqemu support: enabled for user code");
    assert.equal(kq.at(-2), `RAM file: ${held[0]}, 64 MB mapped over guest RAM`);
    r.write("q\n");
    const e = await r.exit(10000);
    assert.equal(e.code, 0);
    assert.equal(e.stderr, "");
  });
});
