// Host-CPU differential test: random integer-instruction cases run natively (a generated static
// i386 ELF) and on the interpreter; registers, flags (undefined ones masked), the test memory and
// the exception raised must agree. See test/cpu/hostdiff/ and `npm run hostdiff` for long runs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { abs32, EAX, EBP, ECX, ESP, enc, m32 } from "./hostdiff/asm.ts";
import { HostUnavailable, MEM_BYTES } from "./hostdiff/elf32.ts";
import { generate } from "./hostdiff/gen.ts";
import { compare } from "./hostdiff/interp.ts";
import { describe, runCases, summary } from "./hostdiff/run.ts";

const SEED = 0x7e51;
const CASES = 40000;

test("hostdiff: ModRM/SIB encoder", () => {
  const cases: [number[], number[]][] = [
    [enc({ op: [0x01], reg: ECX, rm: EAX }), [0x01, 0xc8]],
    [enc({ op: [0x8b], reg: EAX, rm: m32(ESP) }), [0x8b, 0x04, 0x24]],
    [enc({ op: [0x8b], reg: EAX, rm: m32(EBP) }), [0x8b, 0x45, 0x00]],
    [enc({ op: [0x8b], reg: EAX, rm: m32(-1, ECX, 2, 0x10) }), [0x8b, 0x04, 0x8d, 0x10, 0, 0, 0]],
    [enc({ op: [0x8b], reg: EAX, rm: m32(EBP, ECX, 3, -4) }), [0x8b, 0x44, 0xcd, 0xfc]],
    [enc({ op: [0x8b], reg: EAX, rm: abs32(0x12345678) }), [0x8b, 0x05, 0x78, 0x56, 0x34, 0x12]],
    [
      enc({ op: [0x8b], reg: EAX, rm: { kind: "m16", rm: 6, mod: 0, disp: 0x1234 } }),
      [0x8b, 0x06, 0x34, 0x12],
    ],
    [enc({ op: [0x8b], reg: EAX, rm: { kind: "m16", rm: 2, mod: 1, disp: -2 } }), [0x8b, 0x42, 0xfe]],
  ];
  for (const [got, want] of cases) assert.deepEqual(got, want);
  console.log(`encoder: ${cases.length} encodings checked`);
});

test("hostdiff: compare() reports every kind of difference", () => {
  const cs = generate(1, 1, ["alu"])[0];
  const base = {
    regs: new Int32Array(8),
    eflags: 0x202,
    sig: 0,
    vector: -1,
    err: 0,
    eip: 0,
    cr2: 0,
    mem: new Uint8Array(MEM_BYTES),
  };
  const spec = { flagMask: 0xcd5, regMask: [-1, -1, -1, -1, -1, -1, -1, -1], memIgnore: [] };
  assert.deepEqual(compare(base, { ...base }, spec), []);
  const variants = [
    { ...base, regs: Int32Array.of(0, 0, 0, 1, 0, 0, 0, 0) },
    { ...base, eflags: 0x203 },
    { ...base, vector: 0, sig: 1 },
    { ...base, mem: Uint8Array.from({ length: MEM_BYTES }, (_, k) => (k === MEM_BYTES - 1 ? 1 : 0)) },
  ];
  for (const v of variants) assert.equal(compare(base, v, spec).length, 1, JSON.stringify(v.regs));
  // masked differences are not reported
  assert.deepEqual(compare(base, { ...base, eflags: 0x212 }, { ...spec, flagMask: 0xcc5 }), []);
  assert.ok(cs.code.length > 0);
  console.log(`compare: ${variants.length + 2} situations checked`);
});

test(`hostdiff: ${CASES} random cases agree with the host CPU`, async (t) => {
  const t0 = performance.now();
  const cases = generate(SEED, CASES);
  let res: Awaited<ReturnType<typeof runCases>>;
  try {
    res = await runCases(cases);
  } catch (e) {
    if (e instanceof HostUnavailable) {
      if (process.env.TSQEMU_NO_ELF32 === "1") {
        console.log(`SKIPPED: ${e.message} (TSQEMU_NO_ELF32=1)`);
        t.skip(e.message);
        return;
      }
      throw new Error(
        `${e.message}: this test needs a host that runs static i386 ELF executables (x86 Linux with IA-32 emulation); set TSQEMU_NO_ELF32=1 to skip it`,
      );
    }
    throw e;
  }
  console.log(`${res.total} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s (seed ${SEED}):`);
  for (const line of summary(res).split("\n")) console.log(`${line}`);
  const bad = [...res.groups.values()].reduce((s, g) => s + g.mismatches, 0);
  assert.equal(
    bad,
    0,
    `${bad} mismatches with the host CPU; first ones:\n${res.mismatches.slice(0, 10).map(describe).join("\n")}`,
  );
});
