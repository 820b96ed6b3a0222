import assert from "node:assert/strict";
import { test } from "node:test";
import { I8042 } from "../../src/hw/i8042.ts";
import { IoBus } from "../../src/machine/ioport.ts";
import { IrqRecorder } from "./helpers.ts";

function setup(): { io: IoBus; kbc: I8042; irq: IrqRecorder; events: string[] } {
  const io = new IoBus();
  const irq = new IrqRecorder();
  const kbc = new I8042(irq.setIrq, io);
  const events: string[] = [];
  kbc.onReset = () => events.push("reset");
  kbc.onA20 = (on) => events.push(`a20=${on}`);
  return { io, kbc, irq, events };
}

/** i8042_command(): command to 0x64, parameters to 0x60, then read `results` bytes. */
function command(io: IoBus, cmd: number, params: number[], results: number): number[] {
  assert.equal(io.in8(0x64) & 0x02, 0, "IBF clear before a command");
  io.out8(0x64, cmd);
  for (const p of params) io.out8(0x60, p);
  const out: number[] = [];
  for (let i = 0; i < results; i++) {
    assert.equal(io.in8(0x64) & 0x01, 0x01, `result byte ${i} of command ${cmd.toString(16)} ready`);
    out.push(io.in8(0x60));
  }
  return out;
}

/** ps2_command() to the keyboard: write a byte to 0x60, collect replies. */
function kbdSend(io: IoBus, byte: number): number[] {
  io.out8(0x60, byte);
  const out: number[] = [];
  while (io.in8(0x64) & 0x01) out.push(io.in8(0x60));
  return out;
}

test("Linux i8042 controller probe: flush, self-test, CTR, AUX loop and bit assignment", () => {
  const { io, irq } = setup();
  let flushed = 0;
  while (io.in8(0x64) & 0x01 && flushed < 16) {
    io.in8(0x60);
    flushed++;
  }
  assert.equal(flushed, 0);
  assert.deepEqual(command(io, 0xaa, [], 1), [0x55]);
  const [ctr] = command(io, 0x20, [], 1);
  assert.deepEqual(command(io, 0x20, [], 1), [ctr], "CTR reads consistently");
  assert.equal(ctr! & 0x40, 0x40, "translation on, as a BIOS leaves it");
  const newCtr = (ctr! | 0x10) & ~0x01; // KBDDIS, no KBDINT
  command(io, 0x60, [newCtr], 0);
  assert.deepEqual(command(io, 0x20, [], 1), [newCtr]);
  assert.equal(io.in8(0x64) & 0x08, 0x08, "last write was a command");
  // AUX loopback returns the byte as aux data.
  io.out8(0x64, 0xd3);
  io.out8(0x60, 0x5a);
  assert.equal(io.in8(0x64) & 0x21, 0x21, "OBF with AUXDATA");
  assert.equal(io.in8(0x60), 0x5a);
  command(io, 0xa7, [], 0);
  assert.equal(command(io, 0x20, [], 1)[0]! & 0x20, 0x20);
  command(io, 0xa8, [], 0);
  assert.equal(command(io, 0x20, [], 1)[0]! & 0x20, 0x00);
  // AUX IRQ delivery test.
  command(io, 0x60, [(newCtr & ~0x20) | 0x02], 0);
  const before = irq.rising[12];
  io.out8(0x64, 0xd3);
  io.out8(0x60, 0xa5);
  assert.equal(irq.rising[12], before + 1);
  assert.equal(io.in8(0x60), 0xa5);
  assert.equal(irq.level[12], false);
  assert.deepEqual(command(io, 0xab, [], 1), [0x00]);
  assert.deepEqual(command(io, 0xa9, [], 1), [0x00]);
});

test("atkbd probe: reset BAT, GETID (translated), deactivate, LEDs, enable; IRQ1 per byte", () => {
  const { io, irq } = setup();
  command(io, 0xae, [], 0);
  const edges = irq.rising[1];
  assert.deepEqual(kbdSend(io, 0xff), [0xfa, 0xaa]);
  assert.equal(irq.rising[1] - edges, 2, "IRQ1 edge for each byte");
  assert.deepEqual(kbdSend(io, 0xf2), [0xfa, 0xab, 0x41]);
  assert.deepEqual(kbdSend(io, 0xf5), [0xfa]);
  assert.deepEqual(kbdSend(io, 0xed), [0xfa]);
  assert.deepEqual(kbdSend(io, 0x02), [0xfa]);
  assert.deepEqual(kbdSend(io, 0xf3), [0xfa]);
  assert.deepEqual(kbdSend(io, 0x00), [0xfa]);
  assert.deepEqual(kbdSend(io, 0xf4), [0xfa]);
  assert.deepEqual(kbdSend(io, 0xee), [0xee]);
  // Untranslated: the raw ID.
  command(io, 0x60, [0x05], 0);
  assert.deepEqual(kbdSend(io, 0xf2), [0xfa, 0xab, 0x83]);
  assert.deepEqual(kbdSend(io, 0xf0), [0xfa]);
  assert.deepEqual(kbdSend(io, 0x00), [0xfa, 0x02]);
});

test("keyboard input waits while the keyboard interface is disabled", () => {
  const { io, kbc, irq } = setup();
  command(io, 0xad, [], 0);
  kbc.keyboardInput([0x1e, 0x9e]);
  assert.equal(io.in8(0x64) & 0x01, 0);
  command(io, 0xae, [], 0);
  assert.equal(irq.level[1], true);
  assert.equal(io.in8(0x60), 0x1e);
  assert.equal(io.in8(0x60), 0x9e);
  assert.equal(irq.level[1], false);
});

test("PS/2 mouse on the aux port: reset, IntelliMouse ID, stream packets on IRQ12", () => {
  const { io, kbc, irq } = setup();
  command(io, 0x60, [0x47], 0); // KBDINT|AUXINT|SYS|XLATE
  const aux = (b: number): number[] => {
    io.out8(0x64, 0xd4);
    io.out8(0x60, b);
    const out: number[] = [];
    while (io.in8(0x64) & 0x01) {
      assert.equal(io.in8(0x64) & 0x20, 0x20, "aux data");
      out.push(io.in8(0x60));
    }
    return out;
  };
  assert.deepEqual(aux(0xff), [0xfa, 0xaa, 0x00]);
  assert.deepEqual(aux(0xf2), [0xfa, 0x00]);
  for (const r of [200, 100, 80]) {
    aux(0xf3);
    aux(r);
  }
  assert.deepEqual(aux(0xf2), [0xfa, 0x03]);
  assert.deepEqual(aux(0xe9), [0xfa, 0x00, 0x02, 80]);
  assert.deepEqual(aux(0xf4), [0xfa]);
  const edges = irq.rising[12];
  kbc.mouseInput(5, -3, 1, 1);
  const pkt: number[] = [];
  while (io.in8(0x64) & 0x01) pkt.push(io.in8(0x60));
  assert.deepEqual(pkt, [0x08 | 0x20 | 0x01, 5, 0xfd, 0x01]);
  assert.equal(irq.rising[12] - edges, 4);
});

test("output port: A20 via 0xD1 and 0xDD/0xDF, reset via 0xFE and 0xD1 bit 0", () => {
  const { io, kbc, events } = setup();
  assert.equal(kbc.a20, true);
  assert.equal(command(io, 0xd0, [], 1)[0]! & 0x03, 0x03);
  command(io, 0xd1, [0xdd], 0);
  assert.equal(kbc.a20, false);
  assert.equal(command(io, 0xd0, [], 1)[0]! & 0x02, 0x00);
  command(io, 0xdf, [], 0);
  assert.equal(kbc.a20, true);
  assert.deepEqual(events, ["a20=false", "a20=true"]);
  io.out8(0x64, 0xfe);
  assert.deepEqual(events.at(-1), "reset");
  command(io, 0xd1, [0xdc], 0);
  assert.deepEqual(events.slice(-2), ["a20=false", "reset"]);
  io.out8(0x64, 0xff); // pulse nothing
  assert.equal(events.length, 5);
});
