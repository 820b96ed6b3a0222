// Handlers for system instructions: descriptor tables, control/debug registers, MSRs, TSC,
// CPUID, SYSENTER/SYSEXIT, LAR/LSL/VERR/VERW/ARPL, CLTS, INVLPG, cache control.
import type { CPU } from "../cpu.ts";
import { CPUID_VME, cpuid, featureEdx } from "../cpuid.ts";
import { IF_OP32, type Insn } from "../insn.ts";
import {
  CR0_PE,
  CR0_PG,
  CR0_TS,
  CR0_WP,
  CR4_DE,
  CR4_PGE,
  CR4_PSE,
  CR4_TSD,
  CS,
  EAX,
  ECX,
  EDX,
  EFLAGS_IF,
  EFLAGS_RF,
  EFLAGS_VM,
  ESP,
  EXC_GP,
  EXC_UD,
  LDTR,
  R_CPL,
  R_CR0,
  R_CR2,
  R_CR3,
  R_CR4,
  R_EFLAGS,
  R_EIP,
  R_GDTR_BASE,
  R_GDTR_LIMIT,
  R_IDTR_BASE,
  R_IDTR_LIMIT,
  R_SEGBASE,
  R_SEL,
  R_SYSENTER_CS,
  R_SYSENTER_EIP,
  R_SYSENTER_ESP,
  SS,
  TR,
} from "../state.ts";
import { descAttr, descLimit, lldt, ltr, probeDesc } from "../system.ts";
import { opBits, readE, setReg, writeE } from "./operand.ts";

/** Privileged instructions: #GP(0) unless CPL 0 (and not v8086). Real mode is CPL 0. */
export function requireCpl0(c: CPU): void {
  if (c.protectedMode && (c.v86 || c.r[R_CPL] !== 0)) c.raise(EXC_GP, 0);
}

function requireProtected(c: CPU): void {
  if (!c.protectedMode || c.v86) c.raise(EXC_UD);
}

// 0F 00: SLDT STR LLDT LTR VERR VERW
export function grp6(c: CPU, i: Insn): void {
  const r = c.r;
  switch (i.reg) {
    case 0:
      requireProtected(c);
      writeE(c, i, i.mod === 3 ? opBits(i) : 16, r[R_SEL + LDTR]);
      return;
    case 1:
      requireProtected(c);
      writeE(c, i, i.mod === 3 ? opBits(i) : 16, r[R_SEL + TR]);
      return;
    case 2:
      requireProtected(c);
      requireCpl0(c);
      lldt(c, readE(c, i, 16));
      return;
    case 3:
      requireProtected(c);
      requireCpl0(c);
      ltr(c, readE(c, i, 16));
      return;
    case 4:
    case 5: {
      requireProtected(c);
      const d = probeDesc(c, readE(c, i, 16), false, i.reg === 4 ? 1 : 2);
      c.materializeFlags();
      if (d && (descAttr(d) & 0x10) !== 0) r[R_EFLAGS] |= 0x40;
      else r[R_EFLAGS] &= ~0x40;
      return;
    }
    default:
      c.raise(EXC_UD);
  }
}

// 0F 01: SGDT SIDT LGDT LIDT SMSW - LMSW INVLPG
export function grp7(c: CPU, i: Insn): void {
  const r = c.r;
  const op32 = (i.flags & IF_OP32) !== 0;
  switch (i.reg) {
    case 0:
    case 1: {
      if (i.mod === 3) c.raise(EXC_UD);
      const lin = c.eaW(i, 6);
      const base = i.reg === 0 ? r[R_GDTR_BASE] : r[R_IDTR_BASE];
      const limit = i.reg === 0 ? r[R_GDTR_LIMIT] : r[R_IDTR_LIMIT];
      c.wr16(lin, limit);
      // With 16-bit operand size the top byte of the base is stored as 0 on 386+ (SDM Vol. 2B, SGDT).
      c.wr32((lin + 2) | 0, op32 ? base : base & 0xffffff);
      return;
    }
    case 2:
    case 3: {
      if (i.mod === 3) c.raise(EXC_UD);
      requireCpl0(c);
      const lin = c.eaR(i, 6);
      const limit = c.rd16(lin);
      let base = c.rd32((lin + 2) | 0);
      if (!op32) base &= 0xffffff;
      if (i.reg === 2) {
        r[R_GDTR_BASE] = base;
        r[R_GDTR_LIMIT] = limit;
      } else {
        r[R_IDTR_BASE] = base;
        r[R_IDTR_LIMIT] = limit;
      }
      return;
    }
    case 4:
      // SMSW: to a register with 32-bit operand size, all of CR0 on P6 parts.
      writeE(c, i, i.mod === 3 ? opBits(i) : 16, r[R_CR0]);
      return;
    case 6: {
      requireCpl0(c);
      // LMSW changes PE (can set, not clear), MP, EM, TS.
      const v = readE(c, i, 16);
      const cr0 = r[R_CR0];
      setCr0(c, (cr0 & ~0xe) | (v & 0xf) | (cr0 & CR0_PE));
      return;
    }
    case 7:
      if (i.mod === 3) c.raise(EXC_UD);
      requireCpl0(c);
      c.invlpg((c.r[R_SEGBASE + i.seg] + c.eaOffset(i)) | 0);
      return;
    default:
      c.raise(EXC_UD);
  }
}

export function setCr0(c: CPU, v: number): void {
  const r = c.r;
  v |= 0x10; // ET is hardwired to 1 on P6
  if ((v & CR0_PG) !== 0 && (v & CR0_PE) === 0) c.raise(EXC_GP, 0);
  if ((v & 0x60000000) === 0x20000000) c.raise(EXC_GP, 0); // NW without CD
  const old = r[R_CR0];
  r[R_CR0] = v;
  if (((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) !== 0) {
    c.flushTlb(true);
  }
  if (((old ^ v) & CR0_PE) !== 0) c.modeChanged();
}

function setCr4(c: CPU, v: number): void {
  const r = c.r;
  // Setting a CR4 bit for a feature CPUID does not report is #GP(0) (SDM Vol. 3A, 2.5; Vol. 2A, MOV
  // CRn). VME/PVI are not implemented (v8086 mode and PVI run the original 386 way), so CPUID leaves
  // VME clear and they are refused here; PCE is architectural on P6.
  const feat = featureEdx(c);
  let allowed = CR4_TSD | CR4_DE | CR4_PSE | CR4_PGE | 0x100;
  if ((feat & CPUID_VME) !== 0) allowed |= 0x1 | 0x2;
  if ((feat & (1 << 6)) !== 0) allowed |= 0x20; // PAE
  if ((feat & (1 << 7)) !== 0) allowed |= 0x40; // MCE
  if ((feat & (1 << 24)) !== 0) allowed |= 0x200; // OSFXSR
  if ((feat & (1 << 25)) !== 0) allowed |= 0x400; // OSXMMEXCPT
  if ((v & ~allowed) !== 0) c.raise(EXC_GP, 0);
  const old = r[R_CR4];
  r[R_CR4] = v;
  if (((old ^ v) & (CR4_PSE | CR4_PGE)) !== 0) c.flushTlb(true);
}

/** 0F 20 / 0F 22: MOV r32, CRn / MOV CRn, r32 (register operand always; mod ignored). */
export function movRCr(c: CPU, i: Insn): void {
  requireCpl0(c);
  const r = c.r;
  let v: number;
  switch (i.reg) {
    case 0:
      v = r[R_CR0];
      break;
    case 2:
      v = r[R_CR2];
      break;
    case 3:
      v = r[R_CR3];
      break;
    case 4:
      v = r[R_CR4];
      break;
    default:
      c.raise(EXC_UD);
  }
  r[i.rm] = v;
}

export function movCrR(c: CPU, i: Insn): void {
  requireCpl0(c);
  const r = c.r;
  const v = r[i.rm];
  switch (i.reg) {
    case 0:
      setCr0(c, v);
      break;
    case 2:
      r[R_CR2] = v;
      break;
    case 3:
      r[R_CR3] = v & ~0xfe7;
      c.flushTlb(false);
      break;
    case 4:
      setCr4(c, v);
      break;
    default:
      c.raise(EXC_UD);
  }
}

/** 0F 21 / 0F 23: debug registers. DR4/DR5 alias DR6/DR7 unless CR4.DE (SDM Vol. 3B, 17.2.2). */
function drIndex(c: CPU, n: number): number {
  if (n === 4 || n === 5) {
    if ((c.r[R_CR4] & CR4_DE) !== 0) c.raise(EXC_UD);
    return n + 2;
  }
  return n;
}
export function movRDr(c: CPU, i: Insn): void {
  requireCpl0(c);
  c.r[i.rm] = c.dr[drIndex(c, i.reg)];
}
export function movDrR(c: CPU, i: Insn): void {
  requireCpl0(c);
  const n = drIndex(c, i.reg);
  let v = c.r[i.rm];
  if (n === 6) v = (v & 0xe00f) | 0xffff0ff0;
  else if (n === 7) v = (v & 0xffff2bff) | 0x400;
  c.dr[n] = v;
}

export function clts(c: CPU): void {
  requireCpl0(c);
  c.r[R_CR0] &= ~CR0_TS;
}

export function invd(c: CPU): void {
  requireCpl0(c);
}

export function ud2(c: CPU): void {
  c.raise(EXC_UD);
}

export function rsm(c: CPU): void {
  // Not in SMM: RSM is #UD (SDM Vol. 2B, RSM).
  c.raise(EXC_UD);
}

export function rdtsc(c: CPU): void {
  if ((c.r[R_CR4] & CR4_TSD) !== 0 && c.protectedMode && c.r[R_CPL] !== 0) c.raise(EXC_GP, 0);
  // Plain numbers: the TSC and its offset stay far below 2^53 (a 3 GHz TSC needs 34 days to get
  // there), so the sum and its halves are exact; BigInt cost ~3 allocations per RDTSC, and the
  // kernel reads the TSC millions of times during a boot (sched_clock, delays, timekeeping).
  const t = Math.floor(c.bus.tsc()) + c.tscOffset;
  const hi = Math.floor(t / 4294967296);
  c.r[EAX] = t - hi * 4294967296;
  c.r[EDX] = hi;
}

export function rdpmc(c: CPU): void {
  // Performance counters are not modelled; CR4.PCE is accepted but counters read as zero.
  if ((c.r[R_CR4] & 0x100) === 0 && c.protectedMode && c.r[R_CPL] !== 0) c.raise(EXC_GP, 0);
  if (c.r[ECX] >>> 0 > 1) c.raise(EXC_GP, 0);
  c.r[EAX] = 0;
  c.r[EDX] = 0;
}

// MSRs (SDM Vol. 4): the P6 set Linux touches; MTRRs are kept as storage.
export const MSR_TSC = 0x10;
/** IA32_TSC_ADJUST (SDM Vol. 3B, 17.17.3): reported by CPUID.7.EBX[1]. */
export const MSR_TSC_ADJUST = 0x3b;
export const MSR_APIC_BASE = 0x1b;
export const MSR_SYSENTER_CS = 0x174;
export const MSR_SYSENTER_ESP = 0x175;
export const MSR_SYSENTER_EIP = 0x176;
/**
 * IA32_ARCH_CAPABILITIES (SDM Vol. 4, Table 2-2; read-only, reported by CPUID.7.EDX[29]). The
 * virtual CPU is not affected by the speculative-execution data leaks these bits clear it of:
 * none of it is modelled, and what the guest would do against them cannot reach the host's buffers
 * anyway (VERW here only checks a descriptor). Without the MSR, Linux takes a family 6 CPU for
 * vulnerable to all of them and, for MDS, runs VERW on every return to user mode — an instruction
 * compiled code hands to the interpreter, one more per system call and page fault ("MDS:
 * Vulnerable: Clear CPU buffers attempted, no microcode" in its log; "Not affected" with this).
 * Not set: IBRS_ALL and the like, which promise mitigations (IA32_SPEC_CTRL) not implemented.
 */
export const MSR_ARCH_CAPABILITIES = 0x10a;
export const ARCH_CAP_RDCL_NO = 1 << 0; // not affected by rogue data cache load (Meltdown)
export const ARCH_CAP_SSB_NO = 1 << 4; // nor by speculative store bypass
export const ARCH_CAP_MDS_NO = 1 << 5; // nor by microarchitectural data sampling
export const ARCH_CAP_IF_PSCHANGE_MC_NO = 1 << 6; // no machine check on page size changes
export const ARCH_CAP_TAA_NO = 1 << 8; // nor by TSX asynchronous abort
export const ARCH_CAP_SBDR_SSDP_NO = 1 << 13; // MMIO stale data: shared buffers, fill buffers,
export const ARCH_CAP_FBSDP_NO = 1 << 14; // primary stale data propagators
export const ARCH_CAP_PSDP_NO = 1 << 15;
export const ARCH_CAP_GDS_NO = 1 << 26; // nor by gather data sampling
export const ARCH_CAP_RFDS_NO = 1 << 27; // nor by register file data sampling
export const ARCH_CAPABILITIES =
  ARCH_CAP_RDCL_NO |
  ARCH_CAP_SSB_NO |
  ARCH_CAP_MDS_NO |
  ARCH_CAP_IF_PSCHANGE_MC_NO |
  ARCH_CAP_TAA_NO |
  ARCH_CAP_SBDR_SSDP_NO |
  ARCH_CAP_FBSDP_NO |
  ARCH_CAP_PSDP_NO |
  ARCH_CAP_GDS_NO |
  ARCH_CAP_RFDS_NO;

function msrKnown(n: number): boolean {
  return (
    n === MSR_TSC ||
    n === MSR_TSC_ADJUST ||
    n === MSR_APIC_BASE ||
    n === MSR_ARCH_CAPABILITIES ||
    (n >= MSR_SYSENTER_CS && n <= MSR_SYSENTER_EIP) ||
    n === 0x8b || // BIOS_SIGN_ID
    n === 0x17 || // PLATFORM_ID
    n === 0xfe || // MTRRcap
    (n >= 0x200 && n <= 0x20f) || // variable MTRRs
    n === 0x250 ||
    n === 0x258 ||
    n === 0x259 ||
    (n >= 0x268 && n <= 0x26f) ||
    n === 0x2ff || // MTRRdefType
    n === 0x179 || // MCG_CAP
    n === 0x17a || // MCG_STATUS
    n === 0x17b ||
    n === 0x2a || // EBL_CR_POWERON
    (n >= 0x186 && n <= 0x187) || // PERFEVTSEL
    (n >= 0xc1 && n <= 0xc2) // PMC
  );
}

export function rdmsr(c: CPU): void {
  requireCpl0(c);
  const n = c.r[ECX] >>> 0;
  if (!msrKnown(n)) c.raise(EXC_GP, 0);
  let v: bigint;
  switch (n) {
    case MSR_TSC:
      v = BigInt(Math.floor(c.bus.tsc())) + BigInt(c.tscOffset);
      break;
    case MSR_TSC_ADJUST:
      v = BigInt.asUintN(64, BigInt(c.tscAdjust));
      break;
    case MSR_SYSENTER_CS:
      v = BigInt(c.r[R_SYSENTER_CS] >>> 0);
      break;
    case MSR_SYSENTER_ESP:
      v = BigInt(c.r[R_SYSENTER_ESP] >>> 0);
      break;
    case MSR_SYSENTER_EIP:
      v = BigInt(c.r[R_SYSENTER_EIP] >>> 0);
      break;
    case MSR_APIC_BASE:
      // Without a local APIC on the board (CPUID does not report one) the enable bit stays clear.
      v = c.bus.apicBase ? BigInt(c.bus.apicBase.read() >>> 0) : (c.msrs.get(n) ?? 0xfee00000n | 0x100n);
      break;
    case 0xfe:
      v = 0x508n; // 8 variable ranges, fixed ranges, WC
      break;
    case MSR_ARCH_CAPABILITIES:
      v = BigInt(ARCH_CAPABILITIES);
      break;
    default:
      v = c.msrs.get(n) ?? 0n;
  }
  c.r[EAX] = Number(BigInt.asIntN(32, v));
  c.r[EDX] = Number(BigInt.asIntN(32, v >> 32n));
}

export function wrmsr(c: CPU): void {
  requireCpl0(c);
  const n = c.r[ECX] >>> 0;
  if (!msrKnown(n)) c.raise(EXC_GP, 0);
  const v = (BigInt(c.r[EDX] >>> 0) << 32n) | BigInt(c.r[EAX] >>> 0);
  switch (n) {
    case MSR_TSC: {
      // A TSC write moves IA32_TSC_ADJUST by the same amount (SDM Vol. 3B, 17.17.3).
      const old = c.tscOffset;
      c.tscOffset = Number(v - BigInt(Math.floor(c.bus.tsc())));
      c.tscAdjust += c.tscOffset - old;
      break;
    }
    case MSR_TSC_ADJUST: {
      const nv = Number(BigInt.asIntN(64, v));
      c.tscOffset += nv - c.tscAdjust;
      c.tscAdjust = nv;
      break;
    }
    case MSR_SYSENTER_CS:
      c.r[R_SYSENTER_CS] = c.r[EAX];
      break;
    case MSR_SYSENTER_ESP:
      c.r[R_SYSENTER_ESP] = c.r[EAX];
      break;
    case MSR_SYSENTER_EIP:
      c.r[R_SYSENTER_EIP] = c.r[EAX];
      break;
    case MSR_APIC_BASE:
      if (c.bus.apicBase) c.bus.apicBase.write(c.r[EAX]);
      else c.msrs.set(n, v);
      break;
    case 0xfe:
    case 0x179:
    case MSR_ARCH_CAPABILITIES:
      c.raise(EXC_GP, 0);
      break;
    default:
      c.msrs.set(n, v);
  }
}

/** SYSENTER (SDM Vol. 2B): flat CPL 0 segments derived from SYSENTER_CS. */
export function sysenter(c: CPU): void {
  const r = c.r;
  const cs = r[R_SYSENTER_CS] & 0xfffc;
  if (!c.protectedMode || cs === 0) c.raise(EXC_GP, 0);
  c.setEflags(c.getEflags() & ~(EFLAGS_VM | EFLAGS_IF | EFLAGS_RF));
  c.setSegCache(CS, cs, 0, -1, 0xc09b);
  c.setSegCache(SS, (cs + 8) & 0xfffc, 0, -1, 0xc093);
  r[R_CPL] = 0;
  c.updateCpl();
  r[ESP] = r[R_SYSENTER_ESP];
  r[R_EIP] = r[R_SYSENTER_EIP];
}

/** SYSEXIT: back to flat CPL 3 segments at SYSENTER_CS+16/+24, EIP=EDX, ESP=ECX. */
export function sysexit(c: CPU): void {
  const r = c.r;
  const cs = r[R_SYSENTER_CS] & 0xfffc;
  if (!c.protectedMode || c.v86 || cs === 0 || r[R_CPL] !== 0) c.raise(EXC_GP, 0);
  c.setSegCache(CS, (cs + 16) | 3, 0, -1, 0xc0fb);
  c.setSegCache(SS, (cs + 24) | 3, 0, -1, 0xc0f3);
  r[R_CPL] = 3;
  c.updateCpl();
  r[ESP] = r[ECX];
  r[R_EIP] = r[EDX];
}

export function cpuidOp(c: CPU): void {
  cpuid(c);
}

/** LAR/LSL (0F 02 / 0F 03). */
export function lar(c: CPU, i: Insn): void {
  requireProtected(c);
  const bits = opBits(i);
  const d = probeDesc(c, readE(c, i, 16), false, 0);
  c.materializeFlags();
  if (!d) {
    c.r[R_EFLAGS] &= ~0x40;
    return;
  }
  c.r[R_EFLAGS] |= 0x40;
  setReg(c, i.reg, bits, d.hi & (bits === 32 ? 0x00f0ff00 : 0xff00));
}
export function lsl(c: CPU, i: Insn): void {
  requireProtected(c);
  const bits = opBits(i);
  const d = probeDesc(c, readE(c, i, 16), true, 0);
  c.materializeFlags();
  if (!d) {
    c.r[R_EFLAGS] &= ~0x40;
    return;
  }
  c.r[R_EFLAGS] |= 0x40;
  setReg(c, i.reg, bits, descLimit(d));
}

/** ARPL Ew, Gw (protected mode only; #UD in real and v8086 mode). */
export function arpl(c: CPU, i: Insn): void {
  requireProtected(c);
  const dst = readE(c, i, 16);
  const src = c.r16[i.reg << 1];
  c.materializeFlags();
  if ((dst & 3) < (src & 3)) {
    writeE(c, i, 16, (dst & ~3) | (src & 3));
    c.r[R_EFLAGS] |= 0x40;
  } else c.r[R_EFLAGS] &= ~0x40;
}

export function wbinvd(c: CPU): void {
  requireCpl0(c);
}

export { R_EIP };
