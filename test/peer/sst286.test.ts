// SingleStepTests 80286 real-mode vectors on the interpreter: a bounded sample of every file (the
// first 300 cases and every 7th after that). The full suite runs with `npm run peer -- sst-80286`.
// Cases where a 286 and an i686 architecturally differ are excluded or masked by the rules in
// sst286.ts (adjustmentFor / lateExclusion), and their counts are printed.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { type MooCase, REG_AX, REG_FLAGS, readMoo } from "./moo.ts";
import {
  describeCase,
  flagsMaskForFile,
  revokedHashes,
  SST286_REAL,
  Sst286Runner,
  sst286Files,
} from "./sst286.ts";

const HEAD = 300;
const STRIDE = 7;
const present = existsSync(join(SST286_REAL, "metadata.json"));

const runner = present ? new Sst286Runner() : null;
const totals = { ran: 0, passed: 0, excluded: new Map<string, number>(), masked: new Map<string, number>() };

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function clone(t: MooCase): MooCase {
  const regs = (r: MooCase["final"]["regs"]) => ({ mask: r.mask, values: r.values.slice() });
  return {
    ...t,
    final: { regs: regs(t.final.regs), regMask: t.final.regMask, ram: t.final.ram.slice() },
  };
}

test("the runner detects wrong registers, flags and memory (self-check)", { skip: !present }, () => {
  const r = runner!;
  const file = "00.MOO.gz"; // add Eb,Gb: every case writes memory or a register and sets flags
  const moo = readMoo(join(SST286_REAL, file));
  const mask = flagsMaskForFile(file);
  const t = moo.cases.find(
    (c) => c.exception === null && c.final.ram.length > 0 && (c.bytes[0] & 0xc0) !== 0xc0,
  );
  assert.ok(t, "a memory-destination case without exception");
  assert.equal(r.run(t, mask).pass, true, "the unmodified case passes");
  let checks = 0;
  // Wrong AX (a register the instruction does not touch).
  const a = clone(t);
  a.final.regs.mask |= 1 << REG_AX;
  a.final.regs.values[REG_AX] = t.init.regs.values[REG_AX] ^ 0x0100;
  assert.equal(r.run(a, mask).pass, false, "wrong AX detected");
  checks++;
  // Wrong CF (defined for ADD).
  const f = clone(t);
  f.final.regs.values[REG_FLAGS] ^= 1;
  assert.equal(r.run(f, mask).pass, false, "wrong CF detected");
  checks++;
  // Wrong AF is detected only when the opcode defines it: mask it out and nothing is reported.
  const af = clone(t);
  af.final.regs.values[REG_FLAGS] ^= 0x10;
  assert.equal(r.run(af, mask).pass, false, "wrong AF detected for ADD");
  assert.equal(r.run(af, mask & ~0x10).pass, true, "AF ignored when undefined");
  checks += 2;
  // Wrong memory byte.
  const m = clone(t);
  m.final.ram[1] ^= 0x80;
  assert.equal(r.run(m, mask).pass, false, "wrong memory detected");
  checks++;
  console.log(`sst-80286 self-check: ${checks} corrupted expectations detected`);
});

for (const file of present ? sst286Files() : []) {
  test(`sst-80286 ${file}`, () => {
    const r = runner!;
    const moo = readMoo(join(SST286_REAL, file));
    const mask = flagsMaskForFile(file);
    const revoked = revokedHashes();
    const failures: string[] = [];
    let ran = 0;
    for (const t of moo.cases) {
      if (t.index >= HEAD && t.index % STRIDE !== 0) continue;
      if (revoked.has(t.hash)) continue;
      const res = r.run(t, mask);
      ran++;
      if (res.excluded !== null) {
        bump(totals.excluded, res.excluded);
        continue;
      }
      if (res.pass) {
        totals.passed++;
        if (res.masked !== null) bump(totals.masked, res.masked);
      } else if (failures.length < 5) failures.push(`${describeCase(t)}: ${res.diffs.join("; ")}`);
      else failures.push("");
    }
    totals.ran += ran;
    assert.ok(ran > 0);
    assert.deepEqual(
      failures.filter((s) => s !== ""),
      [],
      `${failures.length} of ${ran} cases of ${file} failed`,
    );
  });
}

test("sst-80286 suite present", {
  skip: present ? false : "../shared/peer-tests/sst-80286 not found",
}, () => {
  assert.ok(present);
});

after(() => {
  if (!present) return;
  const fmt = (m: Map<string, number>) => [...m].map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  console.log(
    `sst-80286 sample: ${totals.ran} cases ran, ${totals.passed} passed; excluded (286 ≠ i686): ${fmt(totals.excluded)}; passed with 286-specific masks: ${fmt(totals.masked)}`,
  );
});
