import assert from "node:assert/strict";
import { test } from "node:test";
import { Port80 } from "../../src/hw/port80.ts";
import { IoBus } from "../../src/machine/ioport.ts";

test("port 0x80 swallows writes and keeps the last POST code", () => {
  const io = new IoBus();
  const p = new Port80(io);
  const codes: number[] = [];
  p.onPostCode = (c) => codes.push(c);
  io.out8(0x80, 0x12);
  io.out8(0x80, 0xab);
  assert.equal(p.last, 0xab);
  assert.equal(p.writes, 2);
  assert.equal(io.in8(0x80), 0xab);
  assert.deepEqual(codes, [0x12, 0xab]);
});
