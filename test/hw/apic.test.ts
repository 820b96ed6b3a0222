// Local APIC register-level tests (Intel SDM Vol. 3A, chapter 11): reset state (virtual wire),
// priority and EOI (§11.8), the timer (§11.5.4), self-IPIs (§11.6), ExtINT through LINT0, and the
// IA32_APIC_BASE MSR / CPUID bit as a CPU sees them on the PC board.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CPUID_APIC, cpuid } from "../../src/cpu/cpuid.ts";
import { rdmsr, wrmsr } from "../../src/cpu/ops/system-ops.ts";
import { EAX, ECX, EDX } from "../../src/cpu/state.ts";
import {
  APIC_DFR,
  APIC_DM_EXTINT,
  APIC_DM_FIXED,
  APIC_DM_NMI,
  APIC_EOI,
  APIC_ESR,
  APIC_ICR_HI,
  APIC_ICR_LO,
  APIC_ICR_SELF,
  APIC_ID,
  APIC_IRR,
  APIC_ISR,
  APIC_LDR,
  APIC_LVR,
  APIC_LVT_ERROR,
  APIC_LVT_LINT0,
  APIC_LVT_LINT1,
  APIC_LVT_MASKED,
  APIC_LVT_TIMER,
  APIC_PPR,
  APIC_SVR,
  APIC_TIMER_CCR,
  APIC_TIMER_DCR,
  APIC_TIMER_ICR,
  APIC_TIMER_PERIODIC,
  APIC_TMR,
  APIC_TPR,
  LocalApic,
} from "../../src/hw/apic.ts";
import { Clock } from "../../src/machine/clock.ts";
import type { InterruptController } from "../../src/machine/irq.ts";
import { PcMachine } from "../../src/machine/pc.ts";
import { runUntil } from "./helpers.ts";

/** A stand-in 8259A: one pending vector or none. */
class FakePic implements InterruptController {
  pending = -1;
  acks = 0;
  hasInterrupt(): boolean {
    return this.pending >= 0;
  }
  acknowledge(): number {
    this.acks++;
    const v = this.pending;
    this.pending = -1;
    return v;
  }
}

function setup() {
  const clock = new Clock("deterministic");
  const pic = new FakePic();
  const eois: number[] = [];
  let nmis = 0;
  const apic = new LocalApic(clock, pic, { raiseNmi: () => nmis++, eoiBroadcast: (v) => eois.push(v) });
  let raised = 0;
  apic.onIntrChange = (level) => {
    if (level) raised++;
  };
  const rd = (off: number): number => apic.read(off, 4) >>> 0;
  const wr = (off: number, v: number): void => apic.write(off, 4, v);
  return { clock, pic, apic, eois, rd, wr, nmis: () => nmis, raised: () => raised };
}

test("reset state: enabled, virtual wire (LINT0 ExtINT, LINT1 NMI), version, ID", () => {
  const { apic, rd } = setup();
  assert.equal(apic.readBaseMsr() >>> 0, 0xfee00900);
  assert.equal(rd(APIC_ID), 0);
  assert.equal(rd(APIC_LVR), 0x00050014);
  assert.equal(rd(APIC_SVR), 0x1ff);
  assert.equal(rd(APIC_LVT_LINT0), APIC_DM_EXTINT);
  assert.equal(rd(APIC_LVT_LINT1), APIC_DM_NMI);
  assert.equal(rd(APIC_LVT_TIMER), APIC_LVT_MASKED);
  assert.equal(rd(APIC_LVT_ERROR), APIC_LVT_MASKED);
  assert.equal(rd(APIC_DFR), 0xffffffff);
  assert.equal(rd(APIC_TIMER_CCR), 0);
  // Byte reads take the addressed byte of the 32-bit register.
  assert.equal(apic.read(APIC_LVR + 2, 1), 0x05);
});

test("the 8259A reaches the CPU through LINT0 only when it is unmasked ExtINT", () => {
  const { apic, pic, wr } = setup();
  pic.pending = 0x20;
  assert.equal(apic.hasInterrupt(), true);
  assert.equal(apic.acknowledge(), 0x20);
  assert.equal(pic.acks, 1);
  pic.pending = 0x21;
  wr(APIC_LVT_LINT0, APIC_DM_EXTINT | APIC_LVT_MASKED);
  assert.equal(apic.hasInterrupt(), false);
  wr(APIC_LVT_LINT0, APIC_DM_FIXED | 0x40);
  assert.equal(apic.hasInterrupt(), false, "LINT0 in fixed mode does not pass the 8259A's INTR");
  // With the APIC globally disabled the 8259A drives INTR directly (SDM §11.4.3).
  apic.writeBaseMsr(0xfee00000);
  assert.equal(apic.globallyEnabled, false);
  assert.equal(apic.hasInterrupt(), true);
  assert.equal(apic.acknowledge(), 0x21);
});

test("fixed interrupts: highest vector first, ISR, PPR against TPR, EOI", () => {
  const { apic, rd, wr, raised } = setup();
  apic.acceptInterrupt(0x31, false);
  apic.acceptInterrupt(0x52, false);
  assert.ok(raised() >= 1);
  assert.equal(rd(APIC_IRR + 0x10), (1 << (0x31 - 32)) >>> 0);
  assert.equal(rd(APIC_IRR + 0x20), (1 << (0x52 - 64)) >>> 0);
  assert.equal(apic.hasInterrupt(), true);
  assert.equal(apic.acknowledge(), 0x52);
  assert.equal(rd(APIC_ISR + 0x20), (1 << (0x52 - 64)) >>> 0);
  assert.equal(rd(APIC_PPR), 0x50);
  // 0x31 is in a lower priority class than the one in service: it waits (§11.8.3).
  assert.equal(apic.hasInterrupt(), false);
  wr(APIC_EOI, 0);
  assert.equal(rd(APIC_ISR + 0x20), 0);
  assert.equal(rd(APIC_PPR), 0);
  // TPR class 3 blocks vector 0x31 (same class); class 2 lets it through.
  wr(APIC_TPR, 0x30);
  assert.equal(apic.hasInterrupt(), false);
  // INTA while nothing can be delivered: the spurious vector, nothing goes in service.
  assert.equal(apic.acknowledge(), 0xff);
  assert.equal(rd(APIC_ISR + 0x10), 0);
  wr(APIC_TPR, 0x20);
  assert.equal(apic.hasInterrupt(), true);
  assert.equal(apic.acknowledge(), 0x31);
  wr(APIC_EOI, 0);
  assert.equal(apic.hasInterrupt(), false);
});

test("level-triggered vectors set TMR and broadcast their EOI", () => {
  const { apic, rd, wr, eois } = setup();
  apic.acceptInterrupt(0x39, true);
  assert.equal(rd(APIC_TMR + 0x10), (1 << (0x39 - 32)) >>> 0);
  assert.equal(apic.acknowledge(), 0x39);
  wr(APIC_EOI, 0);
  assert.deepEqual(eois, [0x39]);
  apic.acceptInterrupt(0x3a, false);
  assert.equal(apic.acknowledge(), 0x3a);
  wr(APIC_EOI, 0);
  assert.deepEqual(eois, [0x39], "edge vectors do not broadcast");
});

test("illegal vectors are refused and latched in ESR at the next ESR write", () => {
  const { apic, rd, wr } = setup();
  wr(APIC_LVT_ERROR, 0xfe);
  apic.acceptInterrupt(0x05, false);
  assert.equal(rd(APIC_ESR), 0);
  wr(APIC_ESR, 0);
  assert.equal(rd(APIC_ESR), 0x40);
  // The error LVT delivered vector 0xFE.
  assert.equal(apic.acknowledge(), 0xfe);
});

test("self-IPI through the ICR; logical destination matching (flat and cluster)", () => {
  const { apic, rd, wr, nmis } = setup();
  wr(APIC_ICR_LO, APIC_ICR_SELF | APIC_DM_FIXED | 0xf6);
  assert.equal(rd(APIC_ICR_LO) & (1 << 12), 0, "delivery status idle");
  assert.equal(apic.acknowledge(), 0xf6);
  wr(APIC_EOI, 0);
  // Physical destination 0 is this APIC; 1 is nobody.
  wr(APIC_ICR_HI, 1 << 24);
  wr(APIC_ICR_LO, APIC_DM_FIXED | 0x41);
  assert.equal(apic.hasInterrupt(), false);
  wr(APIC_ICR_HI, 0);
  wr(APIC_ICR_LO, APIC_DM_FIXED | 0x41);
  assert.equal(apic.acknowledge(), 0x41);
  wr(APIC_EOI, 0);
  wr(APIC_ICR_LO, APIC_ICR_SELF | APIC_DM_NMI);
  assert.equal(nmis(), 1);
  wr(APIC_LDR, 0x01000000);
  assert.equal(apic.matchesDestination(0x01, true), true);
  assert.equal(apic.matchesDestination(0x02, true), false);
  wr(APIC_DFR, 0x0fffffff); // cluster model
  wr(APIC_LDR, 0x21000000); // cluster 2, member 1
  assert.equal(apic.matchesDestination(0x21, true), true);
  assert.equal(apic.matchesDestination(0x11, true), false);
  assert.equal(apic.matchesDestination(0xff, true), true);
});

test("timer: one-shot and periodic at bus clock / divider, current count, masked LVT", () => {
  const { clock, apic, rd, wr } = setup();
  wr(APIC_TIMER_DCR, 0x3); // divide by 16
  wr(APIC_LVT_TIMER, 0xec);
  wr(APIC_TIMER_ICR, 1000); // 16000 ns
  runUntil(clock, 8000);
  assert.equal(rd(APIC_TIMER_CCR), 500);
  assert.equal(apic.hasInterrupt(), false);
  runUntil(clock, 16000);
  assert.equal(rd(APIC_TIMER_CCR), 0);
  assert.equal(apic.acknowledge(), 0xec);
  wr(APIC_EOI, 0);
  runUntil(clock, 100000);
  assert.equal(apic.hasInterrupt(), false, "one-shot fires once");
  // Periodic, divide by 1: every 100 ns.
  wr(APIC_TIMER_DCR, 0xb);
  wr(APIC_LVT_TIMER, APIC_TIMER_PERIODIC | 0xed);
  const start = clock.now();
  wr(APIC_TIMER_ICR, 100);
  let count = 0;
  for (let t = 1; t <= 5; t++) {
    runUntil(clock, start + t * 100);
    if (apic.hasInterrupt()) {
      assert.equal(apic.acknowledge(), 0xed);
      wr(APIC_EOI, 0);
      count++;
    }
  }
  assert.equal(count, 5);
  runUntil(clock, start + 530);
  assert.equal(rd(APIC_TIMER_CCR), 70);
  // Masked: the count runs, no interrupt.
  wr(APIC_LVT_TIMER, APIC_TIMER_PERIODIC | APIC_LVT_MASKED | 0xed);
  runUntil(clock, start + 1000);
  assert.equal(apic.hasInterrupt(), false);
  // Initial count 0 stops the timer.
  wr(APIC_TIMER_ICR, 0);
  assert.equal(rd(APIC_TIMER_CCR), 0);
  assert.equal(clock.nextDeadline(), Number.POSITIVE_INFINITY);
});

test("software disable masks the LVTs; writes other than aligned dwords are dropped", () => {
  const { rd, wr, apic } = setup();
  wr(APIC_SVR, 0xff);
  assert.equal(rd(APIC_LVT_LINT0), APIC_DM_EXTINT | APIC_LVT_MASKED);
  wr(APIC_LVT_LINT0, APIC_DM_EXTINT);
  assert.equal(rd(APIC_LVT_LINT0), APIC_DM_EXTINT | APIC_LVT_MASKED, "stays masked while disabled");
  wr(APIC_SVR, 0x1ff);
  wr(APIC_LVT_LINT0, APIC_DM_EXTINT);
  assert.equal(rd(APIC_LVT_LINT0), APIC_DM_EXTINT);
  apic.write(APIC_TPR, 1, 0x55);
  apic.write(APIC_TPR + 4, 4, 0x55);
  assert.equal(rd(APIC_TPR), 0);
});

test("PC board: CPUID reports the APIC, IA32_APIC_BASE reaches it, APICs are at their addresses", () => {
  const m = new PcMachine({ ramSize: 16 << 20 });
  const cpu = m.cpu;
  cpu.r[EAX] = 1;
  cpuid(cpu);
  assert.equal(cpu.r[EDX] & CPUID_APIC, CPUID_APIC, "CPUID.1:EDX.APIC");
  cpu.r[ECX] = 0x1b;
  rdmsr(cpu);
  assert.equal(cpu.r[EAX] >>> 0, 0xfee00900, "IA32_APIC_BASE: base, BSP, enabled");
  assert.equal(m.mmio.read(0xfee00030, 4) >>> 0, 0x00050014, "local APIC at 0xFEE00000");
  m.mmio.write(0xfec00000, 4, 1);
  assert.equal(m.mmio.read(0xfec00010, 4) >>> 0, 0x00170011, "I/O APIC version through IOWIN");
  // Clearing the global enable through WRMSR hides the APIC from CPUID (SDM Vol. 3A §11.4.3).
  cpu.r[ECX] = 0x1b;
  cpu.r[EAX] = 0xfee00100;
  cpu.r[EDX] = 0;
  wrmsr(cpu);
  cpu.r[EAX] = 1;
  cpuid(cpu);
  assert.equal(cpu.r[EDX] & CPUID_APIC, 0);
});

test("a one-shot shorter than the gap between two clock reads still fires", () => {
  // On a realtime clock two reads can be microseconds apart; Linux's minimum programming (a few
  // ticks, ~1 us) must not be lost when its deadline is already behind the second read.
  const { clock, apic, wr } = setup();
  const read = clock.now.bind(clock);
  clock.now = () => {
    clock.advance(1500);
    return read();
  };
  wr(APIC_TIMER_DCR, 0x3);
  wr(APIC_LVT_TIMER, 0xec);
  wr(APIC_TIMER_ICR, 62); // 992 ns
  clock.runTimers();
  assert.equal(apic.hasInterrupt(), true);
  assert.equal(apic.acknowledge(), 0xec);
});
