import assert from "node:assert/strict";
import { test } from "node:test";
import { Port92 } from "../../src/hw/port92.ts";
import { IoBus } from "../../src/machine/ioport.ts";

test("port 0x92: A20 bit with callback, fast reset bit triggers and reads back 0", () => {
  const io = new IoBus();
  const p = new Port92(io);
  const ev: string[] = [];
  p.onA20 = (on) => ev.push(`a20=${on}`);
  p.onReset = () => ev.push("reset");
  assert.equal(io.in8(0x92), 0x02);
  io.out8(0x92, 0x00);
  assert.equal(p.a20, false);
  io.out8(0x92, 0x00);
  io.out8(0x92, 0x02);
  assert.deepEqual(ev, ["a20=false", "a20=true"]);
  io.out8(0x92, 0x03);
  assert.deepEqual(ev, ["a20=false", "a20=true", "reset"]);
  assert.equal(io.in8(0x92), 0x02);
});
