// CPUID (SDM Vol. 2A, CPUID): a family 6 identity that reports exactly what is implemented.
import type { CPU } from "./cpu.ts";
import { EAX, EBX, ECX, EDX } from "./state.ts";

/** "GenuineIntel" is what Linux keys its P6 quirks on; the brand string names tsqemu. */
const VENDOR = "GenuineIntel";
const BRAND = "tsqemu virtual CPU (i686)";

// CPUID.1:EDX feature bits.
export const CPUID_FPU = 1 << 0;
export const CPUID_VME = 1 << 1;
export const CPUID_DE = 1 << 2;
export const CPUID_PSE = 1 << 3;
export const CPUID_TSC = 1 << 4;
export const CPUID_MSR = 1 << 5;
export const CPUID_CX8 = 1 << 8;
export const CPUID_APIC = 1 << 9;
export const CPUID_SEP = 1 << 11;
export const CPUID_MTRR = 1 << 12;
export const CPUID_PGE = 1 << 13;
export const CPUID_CMOV = 1 << 15;
export const CPUID_FXSR = 1 << 24;

/**
 * Features reported in CPUID.1:EDX. The x87 bit and FXSR (FXSAVE/FXRSTOR of the x87 state and MXCSR)
 * are set when an FPU is attached. APIC follows the local APIC's global enable (SDM Vol. 3A §11.4.3).
 * MMX and SSE are not implemented and never reported.
 */
export function featureEdx(c: CPU): number {
  return (
    (c.fpu ? CPUID_FPU | CPUID_FXSR : 0) |
    CPUID_DE |
    CPUID_PSE |
    CPUID_TSC |
    CPUID_MSR |
    CPUID_CX8 |
    CPUID_SEP |
    CPUID_MTRR |
    CPUID_PGE |
    CPUID_CMOV |
    (apicEnabled(c) ? CPUID_APIC : 0)
  );
}

function apicEnabled(c: CPU): boolean {
  const base = c.bus.apicBase;
  return base ? (base.read() & (1 << 11)) !== 0 : false;
}

const MAX_BASIC_LEAF = 0x15;
/** CPUID.(EAX=7,ECX=0):EDX[29]: the IA32_ARCH_CAPABILITIES MSR exists (ops/system-ops.ts). */
export const CPUID7_EDX_ARCH_CAPABILITIES = 1 << 29;
/** The core crystal clock of CPUID leaf 15H: the TSC's and the local APIC timer's 1 GHz (hw/apic.ts). */
export const CRYSTAL_HZ = 1_000_000_000;

function str4(s: string, k: number): number {
  let v = 0;
  for (let j = 0; j < 4; j++) v |= (s.charCodeAt(k + j) || 0) << (8 * j);
  return v;
}

export function cpuid(c: CPU): void {
  const r = c.r;
  const leaf = r[EAX] >>> 0;
  let a = 0;
  let b = 0;
  let cc = 0;
  let d = 0;
  if (leaf === 0) {
    // Basic leaves up to 0x15 (the TSC and crystal clock, below); of those between 2 and 0x15 only
    // 7 reports anything (structured extended features: only TSC_ADJUST).
    a = MAX_BASIC_LEAF;
    b = str4(VENDOR, 0);
    d = str4(VENDOR, 4);
    cc = str4(VENDOR, 8);
  } else if (leaf === 1) {
    // Family 6, model 3 (Pentium II class), stepping 3.
    a = 0x0633;
    b = 0; // EBX[31:24]: initial APIC ID 0; no CLFLUSH, one logical processor
    cc = 0;
    d = featureEdx(c);
  } else if (leaf === 2) {
    // Cache/TLB descriptors: 1 = one iteration; descriptors for a P6-like cache hierarchy.
    a = 0x03020101;
    b = 0;
    cc = 0;
    d = 0x0c040843;
  } else if (leaf === 7) {
    // Subleaf 0: EBX bit 1 = IA32_TSC_ADJUST MSR, EDX bit 29 = IA32_ARCH_CAPABILITIES MSR. Nothing
    // else (no SMEP, no ERMS...).
    if (r[ECX] === 0) {
      b = 1 << 1;
      d = CPUID7_EDX_ARCH_CAPABILITIES;
    }
  } else if (leaf === 0x15 || (leaf > MAX_BASIC_LEAF && leaf < 0x80000000)) {
    // TSC and core crystal clock (SDM Vol. 2A, CPUID leaf 15H; Vol. 3A §11.5.4: the local APIC
    // timer counts at the crystal clock when this leaf enumerates it): a 1 GHz crystal, TSC =
    // crystal × 1/1. Both follow the board's virtual nanoseconds. Linux then knows the TSC's
    // frequency without measuring it against the PIT, and the APIC timer's without its 100 ms
    // calibration loop (native_calibrate_tsc() sets lapic_timer_period). Leaves above the maximum
    // return the highest basic leaf's data (Intel behaviour).
    a = 1;
    b = 1;
    cc = CRYSTAL_HZ;
  } else if (leaf >= 3 && leaf <= MAX_BASIC_LEAF) {
    // Serial number, cache parameters, MONITOR, power management, topology, XSAVE...: none.
  } else if (leaf === 0x80000000) {
    a = 0x80000007;
  } else if (leaf === 0x80000007) {
    // Invariant TSC: the counter follows the virtual clock at a constant 1 GHz, in every state.
    d = 1 << 8;
  } else if (leaf >= 0x80000002 && leaf <= 0x80000004) {
    const brand = BRAND.padEnd(48, "\0");
    const k = (leaf - 0x80000002) * 16;
    a = str4(brand, k);
    b = str4(brand, k + 4);
    cc = str4(brand, k + 8);
    d = str4(brand, k + 12);
  }
  r[EAX] = a;
  r[EBX] = b;
  r[ECX] = cc;
  r[EDX] = d;
}
