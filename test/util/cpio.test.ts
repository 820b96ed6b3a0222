import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  CpioWriter,
  normaliseCpioPath,
  readCpio,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
} from "../../src/util/cpio.ts";
import { defaultGuestPaths } from "../../src/util/guest-cache.ts";

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function sample(): Uint8Array {
  const w = new CpioWriter();
  w.dir("/dev");
  w.chardev("/dev/console", 5, 1, 0o600);
  w.chardev("/dev/ttyS0", 4, 64, 0o660);
  w.file("/bin/busybox", new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 1, 2, 3]), 0o755);
  w.symlink("/bin/sh", "busybox");
  w.file("/init", "#!/bin/sh\necho hi\n", 0o755);
  w.file("/etc/empty", new Uint8Array(0));
  return w.finish();
}

describe("cpio newc writer", () => {
  it("writes the 070701 header layout with 4-byte alignment", () => {
    const a = new CpioWriter(0x12345678).file("a", "xyz", 0o640).finish();
    const h = text(a.subarray(0, 110));
    assert.equal(h.slice(0, 6), "070701");
    const f = (i: number): number => Number.parseInt(h.slice(6 + 8 * i, 14 + 8 * i), 16);
    assert.equal(f(0), 1, "ino");
    assert.equal(f(1), S_IFREG | 0o640, "mode");
    assert.equal(f(4), 1, "nlink");
    assert.equal(f(5), 0x12345678, "mtime");
    assert.equal(f(6), 3, "filesize");
    assert.equal(f(11), 2, "namesize includes NUL");
    assert.equal(f(12), 0, "check");
    // 110 + "a\0" = 112 (aligned), data "xyz" + 1 pad byte, then the trailer header.
    assert.equal(text(a.subarray(110, 112)), "a\0");
    assert.equal(text(a.subarray(112, 115)), "xyz");
    assert.equal(a[115], 0);
    assert.equal(text(a.subarray(116, 122)), "070701");
    assert.equal(text(a.subarray(116 + 110, 116 + 110 + 10)), "TRAILER!!!");
    assert.equal(a.length % 4, 0);
  });

  it("round-trips directories, files with modes, symlinks and device nodes", () => {
    const entries = readCpio(sample());
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.deepEqual(
      entries.map((e) => e.name),
      ["dev", "dev/console", "dev/ttyS0", "bin", "bin/busybox", "bin/sh", "init", "etc", "etc/empty"],
    );
    const dev = byName.get("dev")!;
    assert.equal(dev.type, "dir");
    assert.equal(dev.mode, S_IFDIR | 0o755);
    assert.equal(dev.nlink, 2);
    const console = byName.get("dev/console")!;
    assert.equal(console.type, "chardev");
    assert.equal(console.mode, S_IFCHR | 0o600);
    assert.deepEqual([console.rdevMajor, console.rdevMinor], [5, 1]);
    const ttyS0 = byName.get("dev/ttyS0")!;
    assert.deepEqual([ttyS0.rdevMajor, ttyS0.rdevMinor, ttyS0.mode & 0o7777], [4, 64, 0o660]);
    const bb = byName.get("bin/busybox")!;
    assert.equal(bb.mode, S_IFREG | 0o755);
    assert.deepEqual([...bb.data], [0x7f, 0x45, 0x4c, 0x46, 1, 2, 3]);
    const sh = byName.get("bin/sh")!;
    assert.equal(sh.type, "symlink");
    assert.equal(sh.mode, S_IFLNK | 0o777);
    assert.equal(text(sh.data), "busybox");
    assert.equal(text(byName.get("init")!.data), "#!/bin/sh\necho hi\n");
    assert.equal(byName.get("etc/empty")!.data.length, 0);
    // Unique inode numbers.
    assert.equal(new Set(entries.map((e) => e.ino)).size, entries.length);
  });

  it("creates missing parent directories before their children", () => {
    const entries = readCpio(new CpioWriter().file("usr/share/x/y", "1").finish());
    assert.deepEqual(
      entries.map((e) => `${e.type}:${e.name}`),
      ["dir:usr", "dir:usr/share", "dir:usr/share/x", "file:usr/share/x/y"],
    );
  });

  it("is reproducible", () => {
    assert.deepEqual(sample(), sample());
  });

  it("rejects duplicates, '..', files used as directories and use after finish", () => {
    const w = new CpioWriter();
    w.file("a", "1");
    assert.throws(() => w.file("/a", "2"), /duplicate path a/);
    assert.throws(() => w.file("a/b", "2"), /a is not a directory/);
    assert.throws(() => w.file("../x", "2"), /must not contain/);
    assert.throws(() => w.dir("/"), /empty path/);
    w.dir("d");
    w.dir("d"); // re-adding a directory is harmless
    w.finish();
    assert.throws(() => w.file("z", "1"), /already finished/);
    assert.equal(normaliseCpioPath("//bin/./sh/"), "bin/sh");
  });

  it("reader rejects bad magic and truncation", () => {
    const a = sample();
    const bad = a.slice();
    bad[5] = 0x39; // "070709"
    assert.throws(() => readCpio(bad), /bad magic/);
    assert.throws(() => readCpio(a.subarray(0, 200)), /truncated/);
  });

  it("is accepted by a real cpio -t (system cpio, else the cached busybox)", (t) => {
    let cmd: string[] | null = null;
    if (spawnSync("cpio", ["--version"]).status === 0) cmd = ["cpio", "-t"];
    else {
      const busybox = join(defaultGuestPaths().dir, "busybox");
      // The cached busybox is an i386 ELF: only usable where the host runs those.
      if (existsSync(busybox) && spawnSync(busybox, ["true"]).status === 0) {
        cmd = [busybox, "cpio", "-t"];
      }
    }
    if (cmd === null) {
      t.skip("no cpio(1) here (apt-get install cpio) and no runnable cached busybox (npm run guests)");
      return;
    }
    const r = spawnSync(cmd[0]!, cmd.slice(1), { input: sample(), encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      r.stdout.trim().split("\n"),
      ["dev", "dev/console", "dev/ttyS0", "bin", "bin/busybox", "bin/sh", "init", "etc", "etc/empty"],
      `${cmd.join(" ")} listing`,
    );
    // The verbose listing shows the file types and the device numbers.
    const v = spawnSync(cmd[0]!, [...cmd.slice(1), "-v"], { input: sample(), encoding: "utf8" });
    assert.equal(v.status, 0, v.stderr);
    const line = (name: string): string => v.stdout.split("\n").find((l) => l.endsWith(` ${name}`)) ?? "";
    assert.match(line("dev/console"), /^crw------- /);
    assert.match(line("dev/ttyS0"), /^crw-rw---- /);
    if (cmd[0] === "cpio") {
      // GNU cpio also prints the device numbers (busybox's listing does not).
      assert.match(line("dev/console"), /\b5,\s*1\b/);
      assert.match(line("dev/ttyS0"), /\b4,\s*64\b/);
    }
    assert.match(line("bin/busybox"), /^-rwxr-xr-x /);
    assert.match(line("bin/sh -> busybox"), /^lrwxrwxrwx /);
    assert.match(line("dev"), /^drwxr-xr-x /);
  });
});
