// `info tlb` and `info mem` on hand-made 32-bit page tables: QEMU's formats (checked against
// qemu-system-i386 7.2 on the same Debian kernel, whose kernel mappings print alike in both).
import assert from "node:assert/strict";
import { test } from "node:test";
import { CR0_PE, CR0_PG, CR4_PSE, R_CR0, R_CR3, R_CR4 } from "../../src/cpu/state.ts";
import { Monitor, type MonitorHost } from "../../src/monitor/monitor.ts";
import { makeCpu } from "../cpu/helpers.ts";

const P = 1;
const RW = 2;
const US = 4;
const PWT = 8;
const PCD = 0x10;
const A = 0x20;
const D = 0x40;
const PS = 0x80;
const G = 0x100;
const PD = 0x10000;
const PT = 0x11000;

function monitorOn(paging: boolean): { run: (line: string) => string } {
  const cpu = makeCpu(8);
  cpu.physWrite32(PD + 0 * 4, PT | P | RW | US);
  cpu.physWrite32(PT + 1 * 4, 0x5000 | P | RW | US | A | D);
  cpu.physWrite32(PT + 2 * 4, 0x6000 | P | A); // read-only, supervisor
  cpu.physWrite32(PT + 3 * 4, 0x7000 | P | RW | US | PCD | PWT);
  cpu.physWrite32(PT + 4 * 4, 0x8000 | RW | US); // not present
  cpu.physWrite32(PT + 5 * 4, 0x9000 | P | RW | US | G);
  // A writable user page under a read-only directory entry: read-only for info mem.
  cpu.physWrite32(PD + 1 * 4, 0x12000 | P | US);
  cpu.physWrite32(0x12000, 0xa000 | P | RW | US);
  cpu.physWrite32(PD + 0x300 * 4, 0x400000 | P | RW | PS | G | A | D); // 4 MiB at 0xc0000000
  cpu.physWrite32(PD + 0x301 * 4, 0x800000 | P | US | PS); // 4 MiB, user, read-only
  cpu.r[R_CR0] |= CR0_PE | (paging ? CR0_PG : 0);
  cpu.r[R_CR3] = PD;
  cpu.r[R_CR4] |= CR4_PSE;
  let out = "";
  const host = { machine: { cpu } } as unknown as MonitorHost;
  const mon = new Monitor(host, (s) => {
    out += s;
  });
  return {
    run: (line) => {
      out = "";
      mon.execute(line);
      return out;
    },
  };
}

test("info tlb: every present page with its frame and QEMU's flag letters (G P D A C T U W)", () => {
  assert.equal(
    monitorOn(true).run("info tlb"),
    [
      "0000000000001000: 0000000000005000 ---DA--UW",
      "0000000000002000: 0000000000006000 ----A----",
      "0000000000003000: 0000000000007000 -----CTUW",
      "0000000000005000: 0000000000009000 -G-----UW",
      "0000000000400000: 000000000000a000 -------UW",
      "00000000c0000000: 0000000000400000 -GPDA---W",
      "00000000c0400000: 0000000000800000 --P----U-",
      "",
    ].join("\n"),
  );
});

test("info mem: contiguous ranges of one protection, a page's bits ANDed with its directory entry's", () => {
  assert.equal(
    monitorOn(true).run("info mem"),
    [
      "0000000000001000-0000000000002000 0000000000001000 urw",
      "0000000000002000-0000000000003000 0000000000001000 -r-",
      "0000000000003000-0000000000004000 0000000000001000 urw",
      "0000000000005000-0000000000006000 0000000000001000 urw",
      "0000000000400000-0000000000401000 0000000000001000 ur-",
      "00000000c0000000-00000000c0400000 0000000000400000 -rw",
      "00000000c0400000-00000000c0800000 0000000000400000 ur-",
      "",
    ].join("\n"),
  );
});

test("info tlb / info mem with paging off: PG disabled", () => {
  const m = monitorOn(false);
  assert.equal(m.run("info tlb"), "PG disabled\n");
  assert.equal(m.run("info mem"), "PG disabled\n");
});
