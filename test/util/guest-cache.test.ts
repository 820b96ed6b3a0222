import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { readCpio } from "../../src/util/cpio.ts";
import {
  BUSYBOX_APPLETS,
  buildDefaultInitramfs,
  DEFAULT_GUEST_NAME,
  defaultGuestPaths,
  ensureDefaultGuest,
  GuestFetchError,
  guestCacheRoot,
  INIT_MARKER,
  INIT_SCRIPT,
  readDefaultGuest,
} from "../../src/util/guest-cache.ts";

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Enough of an i386 ELF header for the checks. */
function fakeBusybox(): Uint8Array {
  const b = new Uint8Array(4096);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  b[18] = 3; // EM_386
  return b;
}

/** A bzImage header with nothing behind it but a few bytes. */
function fakeKernel(): Uint8Array {
  const img = new Uint8Array(5 * 512 + 1024);
  img[0x1f1] = 4;
  img[0x1fe] = 0x55;
  img[0x1ff] = 0xaa;
  img[0x201] = 0x6a;
  img.set([0x48, 0x64, 0x72, 0x53], 0x202); // HdrS
  img[0x206] = 0x0f;
  img[0x207] = 0x02;
  img[0x211] = 1;
  return img;
}

describe("default guest cache", () => {
  it("lives in $XDG_CACHE_HOME (else ~/.cache) /tsqemu/debian12-686", () => {
    const saved = process.env.XDG_CACHE_HOME;
    try {
      process.env.XDG_CACHE_HOME = "/var/tmp/xdg";
      assert.equal(guestCacheRoot(), "/var/tmp/xdg/tsqemu");
      assert.deepEqual(defaultGuestPaths(), {
        dir: `/var/tmp/xdg/tsqemu/${DEFAULT_GUEST_NAME}`,
        kernel: "/var/tmp/xdg/tsqemu/debian12-686/vmlinuz",
        initrd: "/var/tmp/xdg/tsqemu/debian12-686/initrd.img",
        busybox: "/var/tmp/xdg/tsqemu/debian12-686/busybox",
        manifest: "/var/tmp/xdg/tsqemu/debian12-686/manifest.json",
      });
      delete process.env.XDG_CACHE_HOME;
      assert.equal(guestCacheRoot(), join(homedir(), ".cache", "tsqemu"));
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved;
    }
  });

  it("builds an initramfs with busybox, applet links, device nodes and /init", () => {
    const bb = fakeBusybox();
    const gz = buildDefaultInitramfs(bb);
    assert.deepEqual(gz, buildDefaultInitramfs(bb), "reproducible");
    const entries = readCpio(gunzipSync(gz));
    const by = new Map(entries.map((e) => [e.name, e]));
    assert.deepEqual([...by.get("bin/busybox")!.data], [...bb]);
    assert.equal(by.get("bin/busybox")!.mode & 0o777, 0o755);
    for (const applet of ["sh", "mount", "uname", "cat", "echo", "ls", "poweroff", "reboot", "date", "ps"]) {
      assert.ok(BUSYBOX_APPLETS.includes(applet));
      const e = by.get(`bin/${applet}`);
      assert.equal(e?.type, "symlink", applet);
      assert.equal(new TextDecoder().decode(e!.data), "busybox");
    }
    const console = by.get("dev/console")!;
    assert.deepEqual([console.type, console.rdevMajor, console.rdevMinor], ["chardev", 5, 1]);
    const ttyS0 = by.get("dev/ttyS0")!;
    assert.deepEqual([ttyS0.type, ttyS0.rdevMajor, ttyS0.rdevMinor], ["chardev", 4, 64]);
    for (const d of ["proc", "sys", "dev", "tmp", "root"]) assert.equal(by.get(d)?.type, "dir", d);
    const init = by.get("init")!;
    assert.equal(init.mode & 0o777, 0o755);
    const script = new TextDecoder().decode(init.data);
    assert.equal(script, INIT_SCRIPT);
    assert.ok(script.startsWith("#!/bin/sh\n"));
    for (const needed of [
      "mount -t proc proc /proc",
      "mount -t sysfs sysfs /sys",
      "mount -t devtmpfs devtmpfs /dev",
      `echo "${INIT_MARKER}"`,
      "trap 'echo \"tsqemu: poweroff\"; sync; poweroff -f' USR2",
      "setsid sh -c",
      "poweroff -f\n",
    ]) {
      assert.ok(script.includes(needed), `/init contains ${needed}`);
    }
    // Parents come before children (the kernel's unpacker needs them).
    const seen = new Set<string>();
    for (const e of entries) {
      const parent = e.name.includes("/") ? e.name.slice(0, e.name.lastIndexOf("/")) : null;
      if (parent) assert.ok(seen.has(parent), `${parent} before ${e.name}`);
      seen.add(e.name);
    }
  });

  describe("ensureDefaultGuest on a prepared cache (no apt involved)", () => {
    const root = mkdtempSync(join(tmpdir(), "tsqemu-guest-"));
    after(() => rmSync(root, { recursive: true, force: true }));
    const paths = defaultGuestPaths(root);

    it("rebuilds only the initrd when its recipe changed, then reports the cache as complete", async () => {
      mkdirSync(paths.dir, { recursive: true });
      const kernel = fakeKernel();
      const busybox = fakeBusybox();
      writeFileSync(paths.kernel, kernel);
      writeFileSync(paths.busybox, busybox);
      const record = (b: Uint8Array) => ({ size: b.length, sha256: sha256(b) });
      const stale = new Uint8Array([1, 2, 3]);
      writeFileSync(paths.initrd, stale);
      writeFileSync(
        paths.manifest,
        JSON.stringify({
          format: 1,
          guest: DEFAULT_GUEST_NAME,
          created: "2024-01-01T00:00:00.000Z",
          kernelVersion: null,
          initrdRecipe: "old",
          packages: [{ name: "busybox-static", arch: "i386", version: "1", size: 1, sha256: "x" }],
          files: { vmlinuz: record(kernel), "initrd.img": record(stale), busybox: record(busybox) },
          cmdline: "console=ttyS0",
        }),
      );
      assert.equal(readDefaultGuest(root), null, "stale recipe is not complete");
      const lines: string[] = [];
      const g = await ensureDefaultGuest({ cacheRoot: root, log: (l) => lines.push(l), quiet: true });
      assert.equal(g.action, "rebuilt-initrd");
      assert.equal(g.kernel, paths.kernel);
      assert.equal(g.initrd, paths.initrd);
      assert.deepEqual(new Uint8Array(readFileSync(paths.initrd)), buildDefaultInitramfs(busybox));
      assert.equal(g.manifest.packages[0]!.name, "busybox-static", "package records kept");
      assert.match(lines.join("\n"), /Rebuilding the initramfs/);

      const again = await ensureDefaultGuest({ cacheRoot: root, log: (l) => lines.push(l) });
      assert.equal(again.action, "cached");
      assert.notEqual(readDefaultGuest(root), null);
    });

    it("exposes GuestFetchError for one-line failures", () => {
      const e = new GuestFetchError("apt-get not found");
      assert.equal(e.name, "GuestFetchError");
      assert.ok(e instanceof Error);
    });
  });
});
