import assert from "node:assert/strict";
import { test } from "node:test";
import { Pic8259 } from "../../src/hw/pic8259.ts";
import { IoBus } from "../../src/machine/ioport.ts";

/** Linux's init_8259A(): vectors 0x30/0x38, cascade on IR2, 8086 mode, normal EOI. */
function linuxInit(autoEoi = false): { io: IoBus; pic: Pic8259 } {
  const io = new IoBus();
  const pic = new Pic8259(io);
  io.out8(0x21, 0xff);
  io.out8(0xa1, 0xff);
  io.out8(0x20, 0x11); // ICW1: edge, cascade, ICW4 needed
  io.out8(0x21, 0x30); // ICW2
  io.out8(0x21, 0x04); // ICW3: slave on IR2
  io.out8(0x21, autoEoi ? 0x03 : 0x01); // ICW4: 8086 mode
  io.out8(0xa0, 0x11);
  io.out8(0xa1, 0x38);
  io.out8(0xa1, 0x02);
  io.out8(0xa1, 0x01);
  io.out8(0x21, 0x00);
  io.out8(0xa1, 0x00);
  return { io, pic };
}

const readIsr = (io: IoBus, base: number): number => {
  io.out8(base, 0x0b); // OCW3: read ISR
  const v = io.in8(base);
  io.out8(base, 0x0a); // back to IRR
  return v;
};

test("IMR probe as Linux does it, ICW2 vector base", () => {
  const { io, pic } = linuxInit();
  io.out8(0xa1, 0xff);
  io.out8(0x21, 0xfb);
  assert.equal(io.in8(0x21), 0xfb);
  assert.equal(io.in8(0xa1), 0xff);
  io.out8(0x21, 0);
  io.out8(0xa1, 0);
  pic.setIrq(0, true);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(io.in8(0x20), 0x01, "IRR bit 0");
  assert.equal(pic.acknowledge(), 0x30);
  assert.equal(pic.hasInterrupt(), false);
  assert.equal(io.in8(0x20), 0x00, "edge request left IRR at INTA");
  assert.equal(readIsr(io, 0x20), 0x01);
  io.out8(0x20, 0x20); // non-specific EOI
  assert.equal(readIsr(io, 0x20), 0x00);
});

test("edge trigger needs a new rising edge; masked requests wait in IRR", () => {
  const { io, pic } = linuxInit();
  pic.setIrq(1, true);
  pic.acknowledge();
  io.out8(0x20, 0x20);
  pic.setIrq(1, true); // still high: no new edge
  assert.equal(pic.hasInterrupt(), false);
  pic.setIrq(1, false);
  io.out8(0x21, 0x02); // mask IRQ1
  pic.setIrq(1, true);
  assert.equal(pic.hasInterrupt(), false);
  assert.equal(io.in8(0x20) & 0x02, 0x02);
  io.out8(0x21, 0x00);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x31);
});

test("fully nested priority: higher preempts, lower waits for EOI", () => {
  const { io, pic } = linuxInit();
  pic.setIrq(3, true);
  assert.equal(pic.acknowledge(), 0x33);
  pic.setIrq(4, true);
  assert.equal(pic.hasInterrupt(), false, "IRQ4 blocked by IRQ3 in service");
  pic.setIrq(1, true);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x31);
  assert.equal(readIsr(io, 0x20), 0x0a);
  io.out8(0x20, 0x20); // EOI clears the highest in-service level: IRQ1
  assert.equal(readIsr(io, 0x20), 0x08);
  assert.equal(pic.hasInterrupt(), false);
  io.out8(0x20, 0x63); // specific EOI IRQ3
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x34);
});

test("cascade: IRQ12 through the slave, EOI to both", () => {
  const { io, pic } = linuxInit();
  pic.setIrq(12, true);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x3c);
  assert.equal(readIsr(io, 0x20), 0x04);
  assert.equal(readIsr(io, 0xa0), 0x10);
  pic.setIrq(8, true); // higher priority on the slave, but master IR2 is in service
  assert.equal(pic.hasInterrupt(), false);
  io.out8(0xa0, 0x64); // specific EOI slave IR4
  io.out8(0x20, 0x62); // specific EOI master IR2
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x38);
});

test("spurious IRQ7 and IRQ15 leave ISR clear", () => {
  const { io, pic } = linuxInit();
  assert.equal(pic.acknowledge(), 0x37);
  assert.equal(readIsr(io, 0x20), 0);
  pic.setIrq(8, true);
  io.out8(0xa1, 0x01); // request vanishes from the slave after reaching the master
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x3f);
  assert.equal(readIsr(io, 0xa0), 0);
  assert.equal(readIsr(io, 0x20), 0x04, "master did service IR2");
});

test("ELCR: level-triggered IRQ re-asserts after EOI until the line drops; hardwired bits", () => {
  const { io, pic } = linuxInit();
  io.out8(0x4d0, 0xff);
  assert.equal(io.in8(0x4d0), 0xf8);
  io.out8(0x4d1, 0xff);
  assert.equal(io.in8(0x4d1), 0xde);
  io.out8(0x4d1, 0x02); // IRQ9 level
  pic.setIrq(9, true);
  assert.equal(pic.acknowledge(), 0x39);
  io.out8(0xa0, 0x20);
  io.out8(0x20, 0x20);
  assert.equal(pic.hasInterrupt(), true, "line still high");
  assert.equal(pic.acknowledge(), 0x39);
  pic.setIrq(9, false);
  io.out8(0xa0, 0x20);
  io.out8(0x20, 0x20);
  assert.equal(pic.hasInterrupt(), false);
});

test("auto-EOI: ISR never set", () => {
  const { io, pic } = linuxInit(true);
  pic.setIrq(5, true);
  assert.equal(pic.acknowledge(), 0x35);
  assert.equal(readIsr(io, 0x20), 0);
  pic.setIrq(6, true);
  assert.equal(pic.acknowledge(), 0x36);
});

test("poll command acts as INTA", () => {
  const { io, pic } = linuxInit();
  io.out8(0x20, 0x0c);
  assert.equal(io.in8(0x20), 0x00, "nothing pending");
  pic.setIrq(6, true);
  io.out8(0x20, 0x0c);
  assert.equal(io.in8(0x20), 0x86);
  assert.equal(readIsr(io, 0x20), 0x40);
  assert.equal(io.in8(0x20), 0x00, "poll is one-shot: IRR read again");
});

test("priority rotation: set priority and rotate on EOI", () => {
  const { io, pic } = linuxInit();
  io.out8(0x20, 0xc3); // IR3 lowest -> IR4 highest
  pic.setIrq(1, true);
  pic.setIrq(5, true);
  assert.equal(pic.acknowledge(), 0x35);
  io.out8(0x20, 0xa0); // rotate on non-specific EOI: IR5 becomes lowest
  assert.ok(pic.dump().includes("hprio=6"));
  assert.equal(pic.acknowledge(), 0x31);
});

test("special mask mode lets lower priorities in while masked level is in service", () => {
  const { io, pic } = linuxInit();
  pic.setIrq(3, true);
  assert.equal(pic.acknowledge(), 0x33);
  pic.setIrq(5, true);
  assert.equal(pic.hasInterrupt(), false);
  io.out8(0x21, 0x08);
  io.out8(0x20, 0x68); // OCW3 set special mask
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x35);
  io.out8(0x20, 0x48); // reset special mask
  assert.equal(readIsr(io, 0x20), 0x28);
});

test("INTR change callback and info pic dump", () => {
  const { io, pic } = linuxInit();
  const seen: boolean[] = [];
  pic.onIntrChange = (l) => seen.push(l);
  pic.setIrq(4, true);
  pic.acknowledge();
  assert.deepEqual(seen, [true, false]);
  io.out8(0x4d1, 0x0e);
  assert.equal(
    pic.dump(),
    "pic0: irr=00 imr=00 isr=10 hprio=0 irq_base=30 rr_sel=0 elcr=00 fnm=0\n" +
      "pic1: irr=00 imr=00 isr=00 hprio=0 irq_base=38 rr_sel=0 elcr=0e fnm=0\n",
  );
});
