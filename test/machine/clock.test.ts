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
  // After resuming, guest time advances by the host time since then, not by the 20 ms paused
  // (measured, since a loaded host may fire the 5 ms timer late).
  const h0 = performance.now();
  c.resume();
  await new Promise((r) => setTimeout(r, 5));
  const t3 = c.now();
  const h1 = performance.now();
  assert.ok(
    t3 > t2 && t3 - t2 <= (h1 - h0) * 1e6 + 1e5,
    `resumed without jumping: ${t3 - t2} ns in ${h1 - h0} ms`,
  );
  assert.throws(() => c.advance(1));
});

/** Spin for `ms` of host time (a host stall, as the guest would see it). */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test("realtime: a host stall between two reads is capped by the instructions retired meanwhile", () => {
  const c = new Clock("realtime");
  let retired = 0;
  c.resume();
  c.capByInstructions(() => retired);
  c.capped = true;
  const t0 = c.now();
  stall(5);
  const t1 = c.now();
  // No instruction ran: at most the minimum step (2 µs) passed for the guest; the rest is owed.
  assert.ok(t1 - t0 <= 2000, `guest saw ${t1 - t0} ns`);
  assert.ok(c.owed >= 4.9, `owed ${c.owed} ms`);
  // 1e6 instructions allow 100 ms: a 5 ms wait passes in full.
  retired += 1e6;
  stall(5);
  const t2 = c.now();
  assert.ok(t2 - t1 >= 5e6, `guest saw ${t2 - t1} ns for 1e6 instructions over 5 ms`);
  // While halted (cap off) time flows freely.
  c.capped = false;
  stall(3);
  assert.ok(c.now() - t2 >= 3e6);
  // Paying back moves guest time forward by the owed amount, no more.
  const owed = c.owed;
  const before = c.now();
  assert.equal(c.payBack(1000), owed);
  assert.ok(c.now() - before >= owed * 1e6);
  assert.equal(c.owed, 0);
});

test("realtime: steal() leaves host work out of guest time, payBack() is bounded by its argument", () => {
  const c = new Clock("realtime");
  c.resume();
  const h0 = performance.now();
  const t0 = c.now();
  stall(4);
  c.steal(4);
  const t1 = c.now();
  // The guest sees the host's elapsed time minus the 4 stolen ms. The host time is measured, not
  // assumed: under load stall(4) can take longer than 4 ms (the process was preempted).
  const hostNs = (performance.now() - h0) * 1e6;
  assert.ok(
    t1 - t0 <= hostNs - 4e6 + 0.2e6,
    `the stolen 4 ms are not seen (guest ${t1 - t0} ns, host ${hostNs} ns)`,
  );
  assert.equal(c.owed, 4);
  assert.equal(c.payBack(1.5), 1.5);
  assert.equal(c.owed, 2.5);
  // Deterministic clocks ignore both.
  const d = new Clock("deterministic");
  d.steal(5);
  assert.equal(d.owed, 0);
  assert.equal(d.now(), 0);
});
