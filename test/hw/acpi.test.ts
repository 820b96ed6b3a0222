import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AcpiPm,
  amlDevice,
  amlEisaId,
  amlName,
  amlNameDecl,
  amlPkgLength,
  amlProcessor,
  amlScope,
  amlString,
  buildAcpiTables,
  PM_TIMER_FREQ,
} from "../../src/hw/acpi.ts";
import { Clock } from "../../src/machine/clock.ts";
import { IoBus } from "../../src/machine/ioport.ts";
import { IrqRecorder, runUntil } from "./helpers.ts";

const rd32 = (m: Uint8Array, a: number): number =>
  (m[a]! | (m[a + 1]! << 8) | (m[a + 2]! << 16) | (m[a + 3]! << 24)) >>> 0;
const rd16 = (m: Uint8Array, a: number): number => m[a]! | (m[a + 1]! << 8);
const sig = (m: Uint8Array, a: number, n = 4): string => String.fromCharCode(...m.subarray(a, a + n));
const sum = (m: Uint8Array, a: number, n: number): number =>
  m.subarray(a, a + n).reduce((s, b) => s + b, 0) & 0xff;

/** Decode one AML data object (integer) at `p`: returns [value, next]. */
function amlInt(m: Uint8Array, p: number): [number, number] {
  switch (m[p]) {
    case 0x00:
      return [0, p + 1];
    case 0x01:
      return [1, p + 1];
    case 0x0a:
      return [m[p + 1]!, p + 2];
    case 0x0b:
      return [rd16(m, p + 1), p + 3];
    case 0x0c:
      return [rd32(m, p + 1), p + 5];
    default:
      throw new Error(`not an integer opcode ${m[p]}`);
  }
}

/** What the OS does: find the RSDP, follow RSDT -> FACP -> DSDT, find \_S5_ and decode it. */
function parseS5(mem: Uint8Array): { fadt: number; s5: number[] } {
  let rsdp = -1;
  for (let a = 0xe0000; a < 0x100000; a += 16) {
    if (sig(mem, a, 8) === "RSD PTR " && sum(mem, a, 20) === 0) {
      rsdp = a;
      break;
    }
  }
  assert.ok(rsdp >= 0, "RSDP found by the BIOS-area scan");
  assert.equal(mem[rsdp + 15], 0, "revision 0");
  const rsdt = rd32(mem, rsdp + 16);
  assert.equal(sig(mem, rsdt), "RSDT");
  const rsdtLen = rd32(mem, rsdt + 4);
  assert.equal(sum(mem, rsdt, rsdtLen), 0, "RSDT checksum");
  let fadt = -1;
  for (let e = rsdt + 36; e < rsdt + rsdtLen; e += 4) {
    const t = rd32(mem, e);
    if (sig(mem, t) === "FACP") fadt = t;
  }
  assert.ok(fadt >= 0, "FADT listed");
  assert.equal(sum(mem, fadt, rd32(mem, fadt + 4)), 0, "FADT checksum");
  const facs = rd32(mem, fadt + 36);
  assert.equal(sig(mem, facs), "FACS");
  assert.equal(facs % 64, 0);
  const dsdt = rd32(mem, fadt + 40);
  assert.equal(sig(mem, dsdt), "DSDT");
  const dsdtLen = rd32(mem, dsdt + 4);
  assert.equal(sum(mem, dsdt, dsdtLen), 0, "DSDT checksum");
  const body = mem.subarray(dsdt + 36, dsdt + dsdtLen);
  let p = -1;
  for (let i = 0; i + 4 <= body.length; i++) if (sig(body, i) === "_S5_") p = i;
  assert.ok(p > 0, "_S5_ present");
  assert.equal(body[p - 1] === 0x5c ? body[p - 2] : body[p - 1], 0x08, "NameOp");
  p += 4;
  assert.equal(body[p], 0x12, "PackageOp");
  p += 2; // one-byte PkgLength
  const n = body[p++]!;
  const s5: number[] = [];
  for (let i = 0; i < n; i++) {
    const [v, next] = amlInt(body, p);
    s5.push(v);
    p = next;
  }
  return { fadt, s5 };
}

test("tables: RSDP -> RSDT -> FADT -> DSDT chain with correct checksums and \\_S5_", () => {
  const mem = new Uint8Array(0x100000);
  const t = buildAcpiTables(mem, 0x7fe0000 & 0xfffff, 0xf5a00, { pmBase: 0x600 });
  assert.equal(t.rsdp, 0xf5a00);
  assert.equal(sum(mem, t.rsdp, 20), 0);
  const { fadt, s5 } = parseS5(mem);
  assert.equal(fadt, t.fadt);
  assert.deepEqual(s5, [5, 5, 0, 0]);
  assert.equal(rd32(mem, fadt + 4), 116, "rev 1 FADT length");
  assert.equal(rd16(mem, fadt + 46), 9, "SCI_INT");
  assert.equal(rd32(mem, fadt + 48), 0, "SMI_CMD: ACPI already enabled");
  assert.equal(rd32(mem, fadt + 56), 0x600, "PM1a_EVT_BLK");
  assert.equal(rd32(mem, fadt + 64), 0x604, "PM1a_CNT_BLK");
  assert.equal(rd32(mem, fadt + 76), 0x608, "PM_TMR_BLK");
  assert.deepEqual([mem[fadt + 88], mem[fadt + 89], mem[fadt + 91]], [4, 2, 4]);
  assert.equal(mem[fadt + 108], 0x32, "RTC century index");
  assert.ok(t.end > t.rsdt);
});

test("AML emitter encodings", () => {
  assert.deepEqual(amlPkgLength(10), [11]);
  assert.deepEqual(amlPkgLength(100), [0x46, 0x06]); // 102 = 0x66
  assert.deepEqual(amlPkgLength(5000), [0x8b, 0x38, 0x01]); // 5003 = 0x0138B, three bytes
  assert.deepEqual(amlEisaId("PNP0A03"), [0x0c, 0x41, 0xd0, 0x0a, 0x03]); // 0x030AD041 little-endian, as iasl emits
  assert.deepEqual(amlName("\\_SB_.PCI0"), [0x5c, 0x2e, 0x5f, 0x53, 0x42, 0x5f, 0x50, 0x43, 0x49, 0x30]);
  assert.deepEqual(
    amlName("^A.B.C"),
    [0x5e, 0x2f, 3, 0x41, 0x5f, 0x5f, 0x5f, 0x42, 0x5f, 0x5f, 0x5f, 0x43, 0x5f, 0x5f, 0x5f],
  );
  assert.deepEqual(amlString("Hi"), [0x0d, 0x48, 0x69, 0x00]);
  const dev = amlDevice("COM1", [amlNameDecl("_HID", amlEisaId("PNP0501"))]);
  assert.deepEqual(dev.slice(0, 3), [0x5b, 0x82, dev.length - 2]);
  const scope = amlScope("\\_PR_", [amlProcessor("CPU0", 0, 0, 0)]);
  assert.equal(scope[0], 0x10);
  assert.equal(scope[1], scope.length - 1);
  assert.throws(() => amlName("toolong"));
});

test("AML: large DSDT extras keep valid PkgLengths and checksum", () => {
  const mem = new Uint8Array(0x100000);
  const devs = Array.from({ length: 40 }, (_, i) =>
    amlDevice(`D${i.toString().padStart(3, "0")}`, [amlNameDecl("_UID", [0x0a, i])]),
  );
  buildAcpiTables(mem, 0x1000, 0xe0000, { dsdtExtra: [amlScope("\\_SB_", devs)] });
  const { s5 } = parseS5(mem);
  assert.deepEqual(s5, [5, 5, 0, 0]);
});

function pmSetup(): { clock: Clock; io: IoBus; pm: AcpiPm; irq: IrqRecorder; events: string[] } {
  const clock = new Clock("deterministic");
  const io = new IoBus();
  const irq = new IrqRecorder();
  const pm = new AcpiPm(clock, irq.setIrq);
  io.register(0x600, 64, pm);
  const events: string[] = [];
  pm.onPowerOff = () => events.push("off");
  pm.onSleep = (t) => events.push(`sleep${t}`);
  return { clock, io, pm, irq, events };
}

test("PM timer counts at 3.579545 MHz and wraps at 24 bits", () => {
  const { clock, io } = pmSetup();
  assert.equal(io.in32(0x608), 0);
  clock.advance(1e9);
  assert.equal(io.in32(0x608), PM_TIMER_FREQ);
  clock.advance(4e9);
  assert.equal(io.in32(0x608), (5 * PM_TIMER_FREQ) & 0xffffff);
  assert.equal(io.in8(0x60b), 0, "top byte of a 24-bit timer");
});

test("power button raises SCI (IRQ9) once enabled; write-1-to-clear", () => {
  const { io, pm, irq } = pmSetup();
  assert.equal(io.in16(0x604) & 1, 1, "SCI_EN set");
  pm.powerButton();
  assert.equal(io.in16(0x600) & 0x0100, 0x0100);
  assert.equal(irq.level[9], false, "PWRBTN_EN not set yet");
  io.out16(0x602, 0x0100);
  assert.equal(io.in16(0x602), 0x0100);
  assert.equal(irq.level[9], true);
  io.out16(0x600, 0x0100);
  assert.equal(io.in16(0x600) & 0x0100, 0);
  assert.equal(irq.level[9], false);
  pm.powerButton();
  assert.equal(irq.level[9], true);
  io.out8(0x601, 0x01); // byte-wide clear of the high byte
  assert.equal(irq.level[9], false);
});

test("PM1a_CNT: SLP_TYP=5 with SLP_EN powers off (as acpi_hw_legacy_sleep writes it)", () => {
  const { io, events } = pmSetup();
  const cnt = io.in16(0x604);
  io.out16(0x604, (cnt & ~0x1c00) | (5 << 10)); // SLP_TYP first
  assert.deepEqual(events, []);
  assert.equal(io.in16(0x604), (5 << 10) | 1);
  io.out16(0x604, (5 << 10) | 0x2000 | 1);
  assert.deepEqual(events, ["off"]);
  assert.equal(io.in16(0x604) & 0x2000, 0, "SLP_EN reads 0");
  io.out16(0x604, (1 << 10) | 0x2000);
  assert.deepEqual(events, ["off", "sleep1"]);
});

test("TMR_STS on bit 23 toggle raises SCI when TMR_EN", () => {
  const { clock, io, irq } = pmSetup();
  io.out16(0x602, 0x0001);
  const toggleNs = ((1 << 23) * 1e9) / PM_TIMER_FREQ;
  runUntil(clock, toggleNs - 1000);
  assert.equal(irq.level[9], false);
  runUntil(clock, toggleNs + 1000);
  assert.equal(irq.level[9], true);
  assert.equal(io.in16(0x600) & 1, 1);
  io.out16(0x600, 1);
  assert.equal(irq.level[9], false);
  runUntil(clock, 2 * toggleNs + 1000);
  assert.equal(irq.level[9], true);
});

test("MADT: local APIC address, PCAT_COMPAT, CPU 0, I/O APIC, overrides, LINT1 NMI; listed in the RSDT", () => {
  const mem = new Uint8Array(0x100000);
  const t = buildAcpiTables(mem, 0xf0100, 0xf0000, {
    apic: {
      lapicAddress: 0xfee00000,
      lapicId: 0,
      ioapicAddress: 0xfec00000,
      ioapicId: 1,
      overrides: [
        { irq: 0, gsi: 2, flags: 0 },
        { irq: 9, gsi: 9, flags: 0x0d },
      ],
      nmiLint: 1,
    },
  });
  const madt = t.madt!;
  assert.ok(madt);
  const len = rd32(mem, madt + 4);
  assert.equal(sig(mem, madt), "APIC");
  assert.equal(sum(mem, madt, len), 0, "checksum");
  assert.equal(len, 44 + 8 + 12 + 2 * 10 + 6);
  const rsdtLen = rd32(mem, t.rsdt + 4);
  const listed = Array.from({ length: (rsdtLen - 36) / 4 }, (_, i) => rd32(mem, t.rsdt + 36 + 4 * i));
  assert.ok(listed.includes(madt), "RSDT points to the MADT");
  assert.equal(rd32(mem, madt + 36), 0xfee00000);
  assert.equal(rd32(mem, madt + 40), 1, "PCAT_COMPAT");
  // Walk the entries: [type, length, ...].
  const entries: number[][] = [];
  for (let p = madt + 44; p < madt + len; p += mem[p + 1]!)
    entries.push([...mem.subarray(p, p + mem[p + 1]!)]);
  assert.deepEqual(entries[0], [0, 8, 0, 0, 1, 0, 0, 0], "processor local APIC: UID 0, APIC ID 0, enabled");
  assert.deepEqual(
    entries[1],
    [1, 12, 1, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0],
    "I/O APIC 1 at 0xFEC00000, GSI 0",
  );
  assert.deepEqual(entries[2], [2, 10, 0, 0, 2, 0, 0, 0, 0, 0], "IRQ0 -> GSI 2");
  assert.deepEqual(entries[3], [2, 10, 0, 9, 9, 0, 0, 0, 0x0d, 0], "IRQ9 level, active high");
  assert.deepEqual(entries[4], [4, 6, 0xff, 0, 0, 1], "NMI on LINT1 of every processor");
});
