import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  buildE820Map,
  CAN_USE_HEAP,
  E820_ACPI,
  E820_RAM,
  E820_RESERVED,
  HEAP_END_PTR,
  LINUX_BOOT_LAYOUT,
  LinuxBootError,
  loadLinux,
  parseBzImage,
} from "../../src/machine/boot/linux.ts";
import { defaultGuestPaths } from "../../src/util/guest-cache.ts";

const MiB = 1 << 20;

interface FakeKernel {
  version?: number;
  setupSects?: number;
  loadflags?: number;
  initrdAddrMax?: number;
  cmdlineSize?: number;
  relocatable?: boolean;
  kernelAlignment?: number;
  prefAddress?: number;
  initSize?: number;
  payload?: Uint8Array;
  bootFlag?: number;
  magic?: string;
}

const put16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff;
  b[o + 1] = v >>> 8;
};
const put32 = (b: Uint8Array, o: number, v: number): void => {
  for (let i = 0; i < 4; i++) b[o + i] = (v >>> (8 * i)) & 0xff;
};
const get16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const get32 = (b: Uint8Array, o: number): number =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const get64 = (b: Uint8Array, o: number): number => get32(b, o) + get32(b, o + 4) * 2 ** 32;
const cstring = (b: Uint8Array, o: number): string => {
  let e = o;
  while (b[e] !== 0) e++;
  return new TextDecoder().decode(b.subarray(o, e));
};

const VERSION_STRING = "6.1.0-test (tsqemu@test) #1 SMP";

/** A minimal bzImage: boot sector + setup sectors holding a protocol 2.15 header, then a payload. */
function makeBzImage(k: FakeKernel = {}): Uint8Array {
  const sects = k.setupSects ?? 4;
  const setupSize = ((sects || 4) + 1) * 512;
  const payload = k.payload ?? Uint8Array.from({ length: 64 * 1024 + 123 }, (_, i) => (i * 7 + 3) & 0xff);
  const img = new Uint8Array(setupSize + payload.length);
  img[0x1f1] = sects;
  put16(img, 0x1f2, 1); // root_flags
  put32(img, 0x1f4, Math.ceil(payload.length / 16)); // syssize
  put16(img, 0x1fa, 0xffff); // vid_mode
  put16(img, 0x1fe, k.bootFlag ?? 0xaa55);
  img[0x200] = 0xeb; // jmp short
  img[0x201] = 0x26c - 0x202; // header ends after kernel_info_offset (2.15)
  const magic = k.magic ?? "HdrS";
  for (let i = 0; i < 4; i++) img[0x202 + i] = magic.charCodeAt(i);
  put16(img, 0x206, k.version ?? 0x020f);
  put16(img, 0x20e, 0x300 - 0x200); // kernel_version -> string at 0x300
  img.set(new TextEncoder().encode(VERSION_STRING), 0x300);
  img[0x211] = k.loadflags ?? 0x01; // LOADED_HIGH
  put32(img, 0x214, 0x100000); // code32_start
  put32(img, 0x22c, k.initrdAddrMax ?? 0x7fffffff);
  put32(img, 0x230, k.kernelAlignment ?? 0x200000);
  img[0x234] = (k.relocatable ?? true) ? 1 : 0;
  img[0x235] = 21; // min_alignment
  put16(img, 0x236, 0x0004); // xloadflags
  put32(img, 0x238, k.cmdlineSize ?? 2047);
  put32(img, 0x248, 0x94); // payload_offset
  put32(img, 0x24c, payload.length - 0x100);
  put32(img, 0x258, k.prefAddress ?? 0x1000000);
  put32(img, 0x260, k.initSize ?? 0x800000);
  img.set(payload, setupSize);
  return img;
}

describe("bzImage setup header", () => {
  it("parses every field of a protocol 2.15 header", () => {
    const img = makeBzImage();
    const bz = parseBzImage(img);
    const h = bz.header;
    assert.equal(h.version, 0x020f);
    assert.equal(h.setupSects, 4);
    assert.equal(bz.setupSize, 5 * 512);
    assert.equal(bz.kernel.length, img.length - 5 * 512);
    assert.equal(h.loadflags, 1);
    assert.equal(h.code32Start, 0x100000);
    assert.equal(h.initrdAddrMax, 0x7fffffff);
    assert.equal(h.kernelAlignment, 0x200000);
    assert.equal(h.relocatableKernel, true);
    assert.equal(h.minAlignment, 21);
    assert.equal(h.xloadflags, 4);
    assert.equal(h.cmdlineSize, 2047);
    assert.equal(h.prefAddress, 0x1000000);
    assert.equal(h.initSize, 0x800000);
    assert.equal(h.headerEnd, 0x26c);
    assert.equal(h.vidMode, 0xffff);
    assert.equal(h.rootFlags, 1);
    assert.equal(bz.versionString, VERSION_STRING);
  });

  it("treats setup_sects 0 as 4", () => {
    const bz = parseBzImage(makeBzImage({ setupSects: 0 }));
    assert.equal(bz.header.setupSects, 4);
    assert.equal(bz.setupSize, 2560);
  });

  it("uses the protocol's defaults for fields older versions lack", () => {
    const h = parseBzImage(makeBzImage({ version: 0x0204, initrdAddrMax: 0 })).header;
    assert.equal(h.cmdlineSize, 255, "cmdline_size before 2.06");
    assert.equal(h.relocatableKernel, false, "relocatable_kernel before 2.05");
    assert.equal(h.kernelAlignment, 0);
    assert.equal(h.prefAddress, null, "pref_address before 2.10");
    assert.equal(h.initSize, null);
    assert.equal(h.initrdAddrMax, 0x37ffffff, "0 initrd_addr_max means the historical 0x37FFFFFF");
  });

  it("rejects what is not a usable bzImage, with clear reasons", () => {
    assert.throws(() => parseBzImage(makeBzImage({ magic: "HdrX" })), /not a bzImage/);
    assert.throws(() => parseBzImage(new Uint8Array(100)), /not a bzImage/);
    assert.throws(
      () => parseBzImage(new TextEncoder().encode("\x7fELF".padEnd(4096, "\0"))),
      /not a bzImage/,
    );
    assert.throws(() => parseBzImage(makeBzImage({ bootFlag: 0 })), /not a bzImage \(boot_flag/);
    assert.throws(
      () => parseBzImage(makeBzImage({ version: 0x0202 })),
      (e: unknown) => e instanceof LinuxBootError && /kernel boot protocol too old \(2\.02/.test(e.message),
    );
    assert.throws(() => parseBzImage(makeBzImage({ loadflags: 0 })), /zImage kernels .* not supported/);
    assert.throws(() => parseBzImage(makeBzImage().subarray(0, 2560)), /truncated bzImage/);
  });
});

describe("e820 map", () => {
  it("describes -m 128 and -m 256", () => {
    for (const mb of [128, 256]) {
      assert.deepEqual(buildE820Map(mb * MiB), [
        { addr: 0, size: 0x9fc00, type: E820_RAM },
        { addr: 0x9fc00, size: 0x400, type: E820_RESERVED },
        { addr: 0xf0000, size: 0x10000, type: E820_RESERVED },
        { addr: 0x100000, size: mb * MiB - 0x100000, type: E820_RAM },
      ]);
    }
  });

  it("cuts board-reserved regions out of RAM and lists them", () => {
    const acpi = { addr: 256 * MiB - 0x20000, size: 0x20000, type: E820_ACPI };
    const flash = { addr: 0xfffc0000, size: 0x40000, type: E820_RESERVED };
    assert.deepEqual(buildE820Map(256 * MiB, [flash, acpi]), [
      { addr: 0, size: 0x9fc00, type: E820_RAM },
      { addr: 0x9fc00, size: 0x400, type: E820_RESERVED },
      { addr: 0xf0000, size: 0x10000, type: E820_RESERVED },
      { addr: 0x100000, size: 256 * MiB - 0x20000 - 0x100000, type: E820_RAM },
      acpi,
      flash,
    ]);
    // A board region replacing the default BIOS area, merged with its reserved neighbour.
    assert.deepEqual(
      buildE820Map(128 * MiB, [{ addr: 0xe0000, size: 0x20000, type: E820_RESERVED }]).slice(1, 3),
      [
        { addr: 0x9fc00, size: 0x400, type: E820_RESERVED },
        { addr: 0xe0000, size: 0x20000, type: E820_RESERVED },
      ],
    );
  });

  it("rejects bad input", () => {
    assert.throws(() => buildE820Map(512 * 1024), /too small/);
    assert.throws(
      () => buildE820Map(128 * MiB, [{ addr: 0x200000, size: 0, type: E820_RESERVED }]),
      /bad reserved/,
    );
    assert.throws(
      () => buildE820Map(128 * MiB, [{ addr: 0x200000, size: 4096, type: E820_RAM }]),
      /E820_RAM/,
    );
    assert.throws(
      () =>
        buildE820Map(128 * MiB, [
          { addr: 0x200000, size: 0x2000, type: E820_RESERVED },
          { addr: 0x201000, size: 0x2000, type: E820_ACPI },
        ]),
      /overlap/,
    );
  });
});

describe("loadLinux (32-bit boot protocol)", () => {
  const cmdline = "console=ttyS0 root=/dev/ram0 tsqemu_test=1";
  const initrd = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 13) & 0xff);

  it("loads the kernel, the zero page, the command line, the GDT and the initrd", () => {
    const img = makeBzImage();
    const ram = new Uint8Array(128 * MiB).fill(0xaa);
    const r = loadLinux(ram, img, { cmdline, initrd });
    const L = LINUX_BOOT_LAYOUT;

    // Entry state for the 32-bit path.
    assert.equal(r.entry, 0x100000);
    assert.equal(r.esi, L.zeroPage);
    assert.deepEqual([r.ebp, r.edi, r.ebx], [0, 0, 0]);
    assert.equal(r.eflags & 0x200, 0, "IF clear");
    assert.equal(r.cr0 & 1, 1, "PE");
    assert.equal(r.cr0 & 0x80000000, 0, "paging off");
    assert.equal(r.csSel, 0x10);
    assert.equal(r.dsSel, 0x18);
    assert.equal(r.gdtBase, L.gdt);
    assert.equal(r.gdtLimit, 31);

    // The protected-mode kernel at 1 MiB.
    const payload = img.subarray(5 * 512);
    assert.deepEqual(ram.subarray(0x100000, 0x100000 + payload.length), payload);
    assert.equal(r.kernelAddr, 0x100000);
    assert.equal(r.kernelEnd, 0x100000 + payload.length);
    // pref_address 16 MiB + init_size 8 MiB: the decompressor's area.
    assert.equal(r.kernelReservedEnd, 0x1000000 + 0x800000);

    // The GDT: null, null, flat 4 GiB code (execute/read) at 0x10, flat data (read/write) at 0x18.
    const gdt = ram.subarray(L.gdt, L.gdt + 32);
    assert.deepEqual([...gdt.subarray(0, 16)], new Array(16).fill(0));
    assert.deepEqual([...gdt.subarray(16, 24)], [0xff, 0xff, 0, 0, 0, 0x9b, 0xcf, 0]);
    assert.deepEqual([...gdt.subarray(24, 32)], [0xff, 0xff, 0, 0, 0, 0x93, 0xcf, 0]);

    // The command line.
    assert.equal(get32(ram, L.zeroPage + 0x228), L.cmdline, "cmd_line_ptr");
    assert.equal(cstring(ram, L.cmdline), cmdline);
    assert.equal(r.cmdlineAddr, L.cmdline);

    // The zero page.
    const zp = ram.subarray(L.zeroPage, L.zeroPage + 4096);
    const changed = new Set([0x210, 0x211, 0x214, 0x215, 0x216, 0x217]);
    for (let o = 0x218; o < 0x220; o++) changed.add(o); // ramdisk_image/size
    for (let o = 0x224; o < 0x22c; o++) changed.add(o); // heap_end_ptr, ext_loader_*, cmd_line_ptr
    for (let o = 0x1f1; o < 0x26c; o++) {
      if (!changed.has(o)) assert.equal(zp[o], img[o], `setup header byte ${o.toString(16)} copied`);
    }
    assert.equal(zp[0x1ef], 0, "sentinel");
    assert.equal(zp[0x210], 0xff, "type_of_loader");
    assert.equal(zp[0x211], 0x01 | CAN_USE_HEAP, "loadflags");
    assert.equal(get32(zp, 0x214), 0x100000, "code32_start");
    assert.equal(get16(zp, 0x224), HEAP_END_PTR, "heap_end_ptr");
    assert.equal(HEAP_END_PTR, 0xde00);
    assert.equal(get32(zp, 0x218), r.initrdAddr, "ramdisk_image");
    assert.equal(get32(zp, 0x21c), initrd.length, "ramdisk_size");
    assert.equal(get32(zp, 0x1e0), (128 * MiB - MiB) / 1024, "alt_mem_k");
    assert.equal(get16(zp, 0x002), 0xfc00, "screen_info.ext_mem_k (capped)");
    assert.deepEqual([zp[0x06], zp[0x07], zp[0x0e], zp[0x0f]], [3, 80, 25, 1], "80x25 VGA text mode");
    // e820 table.
    assert.equal(zp[0x1e8], 4, "e820_entries");
    assert.deepEqual(
      r.e820.map((_, i) => ({
        addr: get64(zp, 0x2d0 + i * 20),
        size: get64(zp, 0x2d0 + i * 20 + 8),
        type: get32(zp, 0x2d0 + i * 20 + 16),
      })),
      buildE820Map(128 * MiB),
    );
    assert.deepEqual(r.e820, buildE820Map(128 * MiB));
    // Everything else in the zero page is zero.
    for (let o = 0; o < 4096; o++) {
      const inHeader = o >= 0x1f1 && o < 0x26c;
      const inE820 = o >= 0x2d0 && o < 0x2d0 + 4 * 20;
      const known = [
        0x02, 0x03, 0x06, 0x07, 0x0a, 0x0b, 0x0e, 0x0f, 0x10, 0x11, 0x1e0, 0x1e1, 0x1e2, 0x1e3, 0x1e8,
      ];
      if (!inHeader && !inE820 && !known.includes(o))
        assert.equal(zp[o], 0, `zero page byte ${o.toString(16)}`);
    }

    // The initrd at the top of RAM, page aligned.
    assert.equal(r.initrdAddr % 4096, 0);
    assert.equal(r.initrdAddr, Math.floor((128 * MiB - initrd.length) / 4096) * 4096);
    assert.equal(r.initrdSize, initrd.length);
    assert.deepEqual(ram.subarray(r.initrdAddr, r.initrdAddr + initrd.length), initrd);

    // Nothing outside the documented areas was written.
    const untouched: [number, number][] = [
      [0, L.zeroPage],
      [L.gdt + 32, L.cmdline],
      [L.cmdline + cmdline.length + 1, 0x100000],
      [r.kernelEnd, r.initrdAddr],
      [r.initrdAddr + initrd.length, 128 * MiB],
    ];
    for (const [a, b] of untouched) {
      assert.ok(
        ram.subarray(a, b).every((v) => v === 0xaa),
        `${a.toString(16)}-${b.toString(16)} untouched`,
      );
    }
  });

  it("places the initrd below initrd_addr_max and below board-reserved RAM", () => {
    const img = makeBzImage({ initrdAddrMax: 64 * MiB - 1 });
    const r = loadLinux(new Uint8Array(128 * MiB), img, { initrd });
    assert.ok(r.initrdAddr + initrd.length <= 64 * MiB);
    assert.equal(r.initrdAddr, Math.floor((64 * MiB - initrd.length) / 4096) * 4096);

    const acpi = { addr: 256 * MiB - 0x20000, size: 0x20000, type: E820_ACPI };
    const r2 = loadLinux(new Uint8Array(256 * MiB), makeBzImage(), { initrd, reserved: [acpi] });
    assert.ok(r2.initrdAddr + initrd.length <= acpi.addr);
    assert.equal(r2.initrdAddr, Math.floor((acpi.addr - initrd.length) / 4096) * 4096);
    assert.deepEqual(r2.e820[r2.e820.length - 1], acpi);
  });

  it("uses ramSize rather than the whole view when given", () => {
    const r = loadLinux(new Uint8Array(128 * MiB), makeBzImage(), { initrd, ramSize: 64 * MiB });
    assert.ok(r.initrdAddr + initrd.length <= 64 * MiB);
    assert.equal(r.e820[3]!.size, 63 * MiB);
  });

  it("boots without an initrd or command line", () => {
    const ram = new Uint8Array(32 * MiB);
    const r = loadLinux(ram, makeBzImage({ initSize: 0x100000 }));
    assert.deepEqual([r.initrdAddr, r.initrdSize], [0, 0]);
    assert.equal(get32(ram, 0x10000 + 0x218), 0);
    assert.equal(get32(ram, 0x10000 + 0x21c), 0);
    assert.equal(ram[LINUX_BOOT_LAYOUT.cmdline], 0, "empty command line");
  });

  it("can describe no video adapter", () => {
    const ram = new Uint8Array(32 * MiB);
    loadLinux(ram, makeBzImage({ initSize: 0x100000 }), { video: "none" });
    assert.ok(ram.subarray(0x10000, 0x10040).every((v, i) => v === 0 || i === 2 || i === 3));
  });

  it("refuses what cannot fit, with clear reasons", () => {
    assert.throws(
      () => loadLinux(new Uint8Array(128 * MiB), makeBzImage(), { cmdline: "x".repeat(2048) }),
      /command line too long \(2048 bytes; this kernel takes 2047\)/,
    );
    assert.throws(
      () =>
        loadLinux(new Uint8Array(128 * MiB), makeBzImage({ version: 0x0205 }), { cmdline: "x".repeat(256) }),
      /takes 255/,
    );
    assert.throws(
      () => loadLinux(new Uint8Array(16 * MiB), makeBzImage({ initSize: 0x1000000 })),
      /not enough RAM for this kernel/,
    );
    assert.throws(
      () => loadLinux(new Uint8Array(32 * MiB), makeBzImage(), { initrd: new Uint8Array(20 * MiB) }),
      /initrd \(20971520 bytes\) does not fit/,
    );
    assert.throws(
      () => loadLinux(new Uint8Array(32 * MiB), makeBzImage(), { ramSize: 64 * MiB }),
      /exceeds the RAM view/,
    );
    assert.throws(() => loadLinux(new Uint8Array(32 * MiB), makeBzImage({ version: 0x0200 })), /too old/);
  });
});

describe("the cached Debian kernel (npm run guests)", () => {
  const paths = defaultGuestPaths();
  const have = existsSync(paths.kernel);

  it("has a header this loader accepts", (t) => {
    if (!have) {
      t.skip(`no cached kernel at ${paths.kernel} (run npm run guests)`);
      return;
    }
    const img = new Uint8Array(readFileSync(paths.kernel));
    const bz = parseBzImage(img);
    const h = bz.header;
    assert.ok(h.version >= 0x020a, `protocol ${h.version.toString(16)}`);
    assert.ok(h.loadflags & 0x01, "LOADED_HIGH");
    assert.equal(h.relocatableKernel, true);
    assert.equal(h.code32Start, 0x100000);
    assert.ok(h.cmdlineSize >= 255);
    assert.ok(h.initrdAddrMax >= 0x37ffffff);
    assert.ok(h.initSize !== null && h.initSize > bz.kernel.length);
    assert.match(bz.versionString ?? "", /^\d+\.\d+\.\d+-\d+-686 /);
    if (existsSync(paths.manifest)) {
      const manifest = JSON.parse(readFileSync(paths.manifest, "utf8")) as { kernelVersion: string };
      assert.equal(bz.versionString, manifest.kernelVersion);
    }
  });

  it("loads into 128 MiB with the default initramfs", (t) => {
    if (!have || !existsSync(paths.initrd)) {
      t.skip(`no cached guest in ${paths.dir} (run npm run guests)`);
      return;
    }
    const img = new Uint8Array(readFileSync(paths.kernel));
    const rd = new Uint8Array(readFileSync(paths.initrd));
    const ram = new Uint8Array(128 * MiB);
    const r = loadLinux(ram, img, { cmdline: "console=ttyS0", initrd: rd });
    assert.ok(r.initrdAddr >= r.kernelReservedEnd);
    assert.ok(r.initrdAddr + rd.length <= 128 * MiB);
    assert.deepEqual(ram.subarray(r.initrdAddr, r.initrdAddr + rd.length), rd);
    assert.equal(cstring(ram, get32(ram, r.zeroPage + 0x228)), "console=ttyS0");
  });
});
