import assert from "node:assert/strict";
import { test } from "node:test";
import { I440fx, PCI_DEVFN, PciBus, PciDevice, Piix3, Piix4Pm } from "../../src/hw/pci.ts";
import { IoBus } from "../../src/machine/ioport.ts";
import { IrqRecorder } from "./helpers.ts";

function setup(): { io: IoBus; bus: PciBus; piix3: Piix3; pm: Piix4Pm; irq: IrqRecorder; pmReads: number[] } {
  const io = new IoBus();
  const irq = new IrqRecorder();
  const bus = new PciBus(io);
  const pmReads: number[] = [];
  bus.addDevice(new I440fx(), PCI_DEVFN(0, 0));
  const piix3 = new Piix3(bus, irq.setIrq);
  bus.addDevice(piix3, PCI_DEVFN(1, 0));
  const pm = new Piix4Pm(io, {
    read8: (port) => {
      pmReads.push(port);
      return 0x42;
    },
  });
  bus.addDevice(pm, PCI_DEVFN(1, 3));
  return { io, bus, piix3, pm, irq, pmReads };
}

const cfgAddr = (devfn: number, reg: number, bus = 0): number =>
  (0x80000000 | (bus << 16) | (devfn << 8) | (reg & 0xfc)) >>> 0;
const cfgRead32 = (io: IoBus, devfn: number, reg: number): number => {
  io.out32(0xcf8, cfgAddr(devfn, reg));
  return io.in32(0xcfc) >>> 0;
};
const cfgWrite32 = (io: IoBus, devfn: number, reg: number, v: number): void => {
  io.out32(0xcf8, cfgAddr(devfn, reg));
  io.out32(0xcfc, v);
};

test("vendor/device IDs of the chipset via 0xCF8/0xCFC", () => {
  const { io } = setup();
  assert.equal(cfgRead32(io, PCI_DEVFN(0, 0), 0), 0x12378086);
  assert.equal(cfgRead32(io, PCI_DEVFN(1, 0), 0), 0x70008086);
  assert.equal(cfgRead32(io, PCI_DEVFN(1, 3), 0), 0x71138086);
  assert.equal(cfgRead32(io, PCI_DEVFN(2, 0), 0), 0xffffffff, "empty slot");
  assert.equal(cfgRead32(io, PCI_DEVFN(1, 1), 0), 0xffffffff, "absent function");
  io.out32(0xcf8, cfgAddr(0, 0, 1));
  assert.equal(io.in32(0xcfc) >>> 0, 0xffffffff, "bus 1 does not exist");
  assert.equal(cfgRead32(io, PCI_DEVFN(0, 0), 8) >>> 8, 0x060000, "host bridge class");
  assert.equal(cfgRead32(io, PCI_DEVFN(1, 0), 8) >>> 8, 0x060100, "ISA bridge class");
  assert.equal(cfgRead32(io, PCI_DEVFN(1, 3), 8), 0x06800003, "bridge-other class, rev 3");
  assert.equal((cfgRead32(io, PCI_DEVFN(1, 0), 0x0c) >> 16) & 0xff, 0x80, "PIIX3 is multi-function");
});

test("byte and word accesses at 0xCFC-0xCFF; the enable bit; 0xCF8 readback", () => {
  const { io } = setup();
  io.out32(0xcf8, cfgAddr(PCI_DEVFN(1, 0), 0));
  assert.equal(io.in32(0xcf8) >>> 0, cfgAddr(PCI_DEVFN(1, 0), 0));
  assert.equal(io.in16(0xcfc), 0x8086);
  assert.equal(io.in16(0xcfe), 0x7000);
  assert.equal(io.in8(0xcfd), 0x80);
  assert.equal(io.in8(0xcff), 0x70);
  io.out32(0xcf8, cfgAddr(PCI_DEVFN(0, 0), 0x0c));
  io.out8(0xcfd, 0x40); // latency timer
  assert.equal(io.in8(0xcfd), 0x40);
  assert.equal(cfgRead32(io, 0, 0x0c) & 0xff00, 0x4000);
  io.out32(0xcf8, 0x00000000);
  assert.equal(io.in32(0xcfc) >>> 0, 0xffffffff, "configuration space disabled");
  // Byte write to 0xCF8 does not load the address.
  io.out32(0xcf8, cfgAddr(0, 0));
  io.out8(0xcf8, 0x12);
  assert.equal(io.in32(0xcf8) >>> 0, cfgAddr(0, 0));
});

test("read-only fields ignore writes; status bits are write-1-to-clear", () => {
  const { io, bus } = setup();
  cfgWrite32(io, 0, 0, 0xdeadbeef);
  assert.equal(cfgRead32(io, 0, 0), 0x12378086);
  const host = bus.devices[0]!;
  host.config[0x07] = 0x30; // received/signalled target abort
  io.out32(0xcf8, cfgAddr(0, 4));
  io.out16(0xcfe, 0x1000);
  assert.equal(host.config[0x07], 0x20);
  // i440FX PAM registers are writable and reported.
  const pam: number[] = [];
  (host as I440fx).onPamChange = (r, v) => pam.push(r, v);
  io.out32(0xcf8, cfgAddr(0, 0x58));
  io.out8(0xcfd, 0x33); // PAM0 (0x59): only the high nibble is implemented
  assert.equal(io.in8(0xcfd), 0x30);
  assert.deepEqual(pam, [0x59, 0x30]);
});

class TestNic extends PciDevice {
  mapped: number[] = [];
  constructor() {
    super(0x10ec, 0x8139, 0x020000, 0x20);
    this.config[0x3d] = 1; // INTA#
    this.defineBar(0, 0x100, "io", (a) => this.mapped.push(a));
    this.defineBar(1, 0x1000, "mem32", (a) => this.mapped.push(a));
  }
}

test("BAR sizing and decode follows the command register", () => {
  const { io, bus } = setup();
  const nic = new TestNic();
  bus.addDevice(nic, PCI_DEVFN(3, 0));
  const df = PCI_DEVFN(3, 0);
  cfgWrite32(io, df, 0x10, 0xffffffff);
  assert.equal(cfgRead32(io, df, 0x10), 0xffffff01, "I/O BAR of 256 bytes");
  cfgWrite32(io, df, 0x14, 0xffffffff);
  assert.equal(cfgRead32(io, df, 0x14), 0xfffff000, "memory BAR of 4 KiB");
  cfgWrite32(io, df, 0x10, 0xc000);
  cfgWrite32(io, df, 0x14, 0xfebf0000);
  assert.deepEqual(nic.mapped, [], "not decoded until enabled in COMMAND");
  cfgWrite32(io, df, 0x04, 0x0003);
  assert.deepEqual(nic.mapped, [0xc000, 0xfebf0000]);
  assert.equal(nic.barAddress(0), 0xc000);
  cfgWrite32(io, df, 0x04, 0x0002);
  assert.deepEqual(nic.mapped.slice(2), [-1]);
});

test("PIIX3 PIRQ routing: INTx of slot 3 pin A goes to PIRQC", () => {
  const { io, bus, irq, piix3 } = setup();
  const nic = new TestNic();
  bus.addDevice(nic, PCI_DEVFN(3, 0));
  assert.equal(cfgRead32(io, PCI_DEVFN(1, 0), 0x60), 0x80808080, "all routes disabled at reset");
  nic.setIntx(true);
  assert.deepEqual(irq.level.indexOf(true), -1);
  io.out32(0xcf8, cfgAddr(PCI_DEVFN(1, 0), 0x60));
  io.out8(0xcfe, 11); // PIRQC -> IRQ11
  assert.equal(irq.level[11], true);
  io.out8(0xcfe, 10);
  assert.equal(irq.level[11], false);
  assert.equal(irq.level[10], true);
  nic.setIntx(false);
  assert.equal(irq.level[10], false);
  nic.setIntx(true);
  cfgWrite32(io, PCI_DEVFN(3, 0), 0x04, 0x0400); // INTx disable
  assert.equal(irq.level[10], false);
  piix3.setDefaultRouting();
  assert.deepEqual(
    [0, 1, 2, 3].map((p) => piix3.pirqRoute(p)),
    [10, 10, 11, 11],
  );
});

test("PIIX4 PM: PMBA + PMIOSE map the ACPI block, as SeaBIOS programs it", () => {
  const { io, pm, pmReads } = setup();
  const df = PCI_DEVFN(1, 3);
  assert.equal(cfgRead32(io, df, 0x40), 0x00000001);
  cfgWrite32(io, df, 0x40, 0x0000ffff);
  assert.equal(cfgRead32(io, df, 0x40), 0x0000ffc1, "64-byte I/O block");
  cfgWrite32(io, df, 0x40, 0x601);
  assert.equal(io.in8(0x600), 0xff, "not decoded before PMIOSE");
  io.out32(0xcf8, cfgAddr(df, 0x80));
  io.out8(0xcfc, 0x01);
  assert.equal(io.in8(0x608), 0x42);
  assert.deepEqual(pmReads, [0x608]);
  assert.equal(pm.pmBase, 0x600);
  pm.setBase(0xb000);
  assert.equal(io.in8(0x600), 0xff);
  assert.equal(io.in8(0xb000), 0x42);
  assert.equal(cfgRead32(io, df, 0x3c) & 0xffff, 0x0109, "INTA, line 9");
});

test("PIIX3 reset control register 0xCF9", () => {
  const { io, bus } = setup();
  let resets = 0;
  bus.onReset = () => resets++;
  io.out8(0xcf9, 0x02);
  assert.equal(resets, 0);
  assert.equal(io.in8(0xcf9), 0x02);
  io.out8(0xcf9, 0x06);
  assert.equal(resets, 1);
});
