// CPUID identity and the TSC MSRs it advertises.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EXIT_HLT } from "../../src/cpu/cpu.ts";
import { EAX, EBX, ECX, EDX, R_EIP } from "../../src/cpu/state.ts";
import { flat32, hex, load, makeCpu } from "./helpers.ts";

function cpuid(leaf: number, sub = 0): number[] {
  const c = makeCpu();
  flat32(c, 0);
  load(c, 0x1000, hex("0fa2 f4"));
  c.r[R_EIP] = 0x1000;
  c.r[EAX] = leaf;
  c.r[ECX] = sub;
  assert.equal(c.run(10), EXIT_HLT);
  return [c.r[EAX] >>> 0, c.r[EBX] >>> 0, c.r[ECX] >>> 0, c.r[EDX] >>> 0];
}

test("CPUID: leaves 0, 7, 0x15 and 0x80000007 report only what is implemented", () => {
  assert.equal(cpuid(0)[0], 0x15, "max basic leaf");
  const l1 = cpuid(1);
  assert.equal(l1[0], 0x633);
  assert.equal(
    l1[3] & ((1 << 23) | (1 << 25) | (1 << 26) | (1 << 6) | (1 << 9)),
    0,
    "no MMX/SSE/SSE2/PAE/APIC",
  );
  assert.deepEqual(cpuid(7), [0, 2, 0, 1 << 29], "leaf 7: TSC_ADJUST and ARCH_CAPABILITIES only");
  assert.deepEqual(cpuid(7, 1), [0, 0, 0, 0]);
  assert.deepEqual(cpuid(4), [0, 0, 0, 0], "no deterministic cache leaf");
  assert.deepEqual(cpuid(0xb), [0, 0, 0, 0], "no extended topology leaf");
  // TSC = crystal × EBX / EAX: the 1 GHz of the TSC and of the APIC timer (Linux takes both from here).
  assert.deepEqual(cpuid(0x15), [1, 1, 1_000_000_000, 0], "leaf 0x15: 1 GHz crystal, TSC ratio 1/1");
  assert.deepEqual(cpuid(0x40), cpuid(0x15), "above the maximum: the highest basic leaf's data");
  assert.equal(cpuid(0x80000000)[0], 0x80000007);
  assert.deepEqual(cpuid(0x80000007), [0, 0, 0, 1 << 8], "invariant TSC");
});

test("IA32_TSC_ADJUST follows TSC writes and moves the TSC when written (SDM Vol. 3B, 17.17.3)", () => {
  const c = makeCpu();
  flat32(c, 0);
  // ecx=0x3b; rdmsr; mov ebx,eax; ecx=0x10; xor edx,edx; mov eax,0x1000; wrmsr; ecx=0x3b; rdmsr; hlt
  load(c, 0x1000, hex("b93b000000 0f32 89c3 b910000000 31d2 b800100000 0f30 b93b000000 0f32 f4"));
  c.r[R_EIP] = 0x1000;
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.r[EBX], 0, "TSC_ADJUST starts at 0");
  // The null bus's TSC reads 0, so writing 0x1000 to the TSC adds 0x1000 to TSC_ADJUST.
  assert.equal(c.r[EAX], 0x1000);
  assert.equal(c.r[EDX], 0);
  // Writing TSC_ADJUST moves the TSC by the difference.
  load(c, 0x2000, hex("b93b000000 31d2 b800300000 0f30 b910000000 0f32 f4"));
  c.r[R_EIP] = 0x2000;
  c.halted = false;
  assert.equal(c.run(100), EXIT_HLT);
  assert.equal(c.r[EAX], 0x3000, "TSC = 0 + adjust");
});

test("IA32_ARCH_CAPABILITIES: the speculative-leak NO bits, read-only (SDM Vol. 4, Table 2-2)", () => {
  const c = makeCpu();
  flat32(c, 0);
  // ecx=0x10a; rdmsr; hlt
  load(c, 0x1000, hex("b90a010000 0f32 f4"));
  c.r[R_EIP] = 0x1000;
  assert.equal(c.run(10), EXIT_HLT);
  const caps = c.r[EAX] >>> 0;
  // RDCL_NO, SSB_NO, MDS_NO, IF_PSCHANGE_MC_NO, TAA_NO, SBDR_SSDP_NO, FBSDP_NO, PSDP_NO, GDS_NO,
  // RFDS_NO: what Linux checks before its Meltdown, MDS, MMIO, GDS and RFDS mitigations.
  for (const bit of [0, 4, 5, 6, 8, 13, 14, 15, 26, 27]) assert.notEqual(caps & (1 << bit), 0, `bit ${bit}`);
  // IBRS_ALL (1) and the other bits that promise IA32_SPEC_CTRL features stay clear.
  assert.equal(caps & ((1 << 1) | (1 << 2) | (1 << 7) | (1 << 19)), 0);
  assert.equal(c.r[EDX], 0);
  // A write faults (#GP: IDT limit 0 here, so the CPU stops on the fault).
  load(c, 0x2000, hex("b90a010000 31c0 31d2 0f30 f4"));
  c.r[R_EIP] = 0x2000;
  c.halted = false;
  c.trapExceptions = true;
  c.run(10);
  assert.equal(c.r[R_EIP], 0x2009, "WRMSR faulted, EIP on it");
});
