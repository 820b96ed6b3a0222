import assert from "node:assert/strict";
import { test } from "node:test";
import { Clock } from "../../src/machine/clock.ts";

test("deterministic clock advances only explicitly", () => {
  const c = new Clock("deterministic");
  assert.equal(c.now(), 0);
  c.advance(1500);
  assert.equal(c.now(), 1500);
  c.advanceTo(1000); // never goes backwards
  assert.equal(c.now(), 1500);
  c.advanceTo(4000);
  assert.equal(c.now(), 4000);
});

test("timers fire in deadline order, only when expired", () => {
  const c = new Clock("deterministic");
  const order: string[] = [];
  const a = c.newTimer(() => order.push("a"));
  const b = c.newTimer(() => order.push("b"));
  const d = c.newTimer(() => order.push("d"));
  assert.equal(c.nextDeadline(), Number.POSITIVE_INFINITY);
  a.mod(300);
  b.mod(100);
  d.mod(200);
  assert.equal(c.nextDeadline(), 100);
  c.advance(150);
  assert.equal(c.runTimers(), 1);
  assert.deepEqual(order, ["b"]);
  d.del();
  c.advance(1000);
  assert.equal(c.runTimers(), 1);
  assert.deepEqual(order, ["b", "a"]);
  assert.equal(c.nextDeadline(), Number.POSITIVE_INFINITY);
});

test("mod re-arms (moves) a timer; periodic self re-arm catches up", () => {
  const c = new Clock("deterministic");
  let n = 0;
  const t = c.newTimer(() => {
    n++;
    t.mod(t.deadline + 10);
  });
  t.mod(50);
  t.mod(10); // moved earlier, not duplicated
  c.advance(45);
  assert.equal(c.runTimers(), 4); // 10, 20, 30, 40
  assert.equal(n, 4);
  assert.equal(c.nextDeadline(), 50);
  t.del();
  t.del();
  assert.equal(c.nextDeadline(), Number.POSITIVE_INFINITY);
});

test("realtime clock stands still while paused", async () => {
  const c = new Clock("realtime");
  assert.equal(c.now(), 0);
  c.resume();
  await new Promise((r) => setTimeout(r, 20));
  const t1 = c.now();
  assert.ok(t1 >= 15e6, `expected >= 15 ms, got ${t1}`);
  c.pause();
  const t2 = c.now();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(c.now(), t2);
  c.resume();
  await new Promise((r) => setTimeout(r, 5));
  const t3 = c.now();
  assert.ok(t3 > t2 && t3 - t2 < 15e6, `resumed without jumping: ${t3 - t2}`);
  assert.throws(() => c.advance(1));
});
