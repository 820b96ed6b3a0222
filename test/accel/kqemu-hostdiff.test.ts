// The kqemu translator against the host CPU: the host-differential cases (test/cpu/hostdiff) run
// through the kqemu engine with a threshold of 1, so every block is compiled on first sight, in
// normal mode (CPL 3) — the same comparison the interpreter passes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KqemuEngine } from "../../src/accel/kqemu/engine.ts";
import { HostUnavailable } from "../cpu/hostdiff/elf32.ts";
import { generate } from "../cpu/hostdiff/gen.ts";
import { describe, runCases, summary } from "../cpu/hostdiff/run.ts";

const SEED = 0x6b71;
const CASES = 20000;

test(`kqemu: ${CASES} host-differential cases compiled to wasm agree with the host CPU`, async (t) => {
  let engine: KqemuEngine | null = null;
  let res: Awaited<ReturnType<typeof runCases>>;
  try {
    res = await runCases(generate(SEED, CASES), 20, (c) => {
      engine = new KqemuEngine(c, "user", 1);
      return engine;
    });
  } catch (e) {
    if (e instanceof HostUnavailable && process.env.TSQEMU_NO_ELF32 === "1") {
      t.skip(`host cannot run i386 ELF: ${e.message}`);
      return;
    }
    throw e;
  }
  console.log(summary(res));
  const eng = engine as KqemuEngine | null;
  assert.ok(eng, "engine was created");
  console.log(eng.infoLines().join("\n"));
  // The translator must actually have run code, not left everything to the interpreter.
  assert.equal(res.mismatches.length, 0, res.mismatches.map(describe).join("\n\n"));
  // The translator must actually have run code, not left everything to the interpreter.
  assert.ok(
    eng.stats.insnsCompiled > CASES / 10,
    `only ${eng.stats.insnsCompiled} instructions ran compiled`,
  );
});

test("kqemu: groups the translator covers (alu, mov, cond, stack, seq, pf, ...) agree with the host CPU", async (t) => {
  let engine: KqemuEngine | null = null;
  let res: Awaited<ReturnType<typeof runCases>>;
  const groups = [
    "alu",
    "mov",
    "cond",
    "stack",
    "seq",
    "pf",
    "lea",
    "unary",
    "shift",
    "xchg",
    "mul",
    "addr16",
  ];
  try {
    res = await runCases(generate(SEED + 1, 20000, groups), 20, (c) => {
      engine = new KqemuEngine(c, "user", 1);
      return engine;
    });
  } catch (e) {
    if (e instanceof HostUnavailable && process.env.TSQEMU_NO_ELF32 === "1") {
      t.skip(`host cannot run i386 ELF: ${e.message}`);
      return;
    }
    throw e;
  }
  console.log(summary(res));
  const eng = engine as KqemuEngine | null;
  assert.ok(eng);
  console.log(eng.infoLines().join("\n"));
  assert.equal(res.mismatches.length, 0, res.mismatches.map(describe).join("\n\n"));
  assert.ok(eng.stats.insnsCompiled > 5000, `only ${eng.stats.insnsCompiled} instructions ran compiled`);
  assert.ok(eng.stats.exitsFault > 0, "no fault was raised inside compiled code");
});
