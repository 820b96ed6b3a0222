// A static i386 Linux ELF (bench/guest/*.c, built by the bench) run on a bare CPU without a kernel:
// flat CPL-3 segments, no paging, int $0x80 emulated here (write, exit, getpid, clock_gettime).
// A quick loop for accelerator work: the compute workload without a 30 s boot in front of it.
//
//   node --import tsx bench/user-run.ts ELF [args...]      ENGINE=kqemu|interp (default kqemu)
//   THRESHOLD=N (kqemu hotness), INFO=1 prints info kqemu, the untranslated histogram included.
//   PAGING=1: paging on (4 MiB identity pages, user-writable), so memory accesses take the TLB
//   path as a guest kernel's processes do. REPEAT=N: run the program N times in this process (its
//   image reloaded, compiled code kept: the same bytes) and print each run's host time: the runs
//   after the first are steady state.
//
// int $0x80 faults (the IDT limit is 0, so INT n raises #GP, SDM Vol. 3A §6.12.1.1) and, with
// trapExceptions, comes back here as EXIT_EXCEPTION with EIP on the INT instruction.
import { readFileSync } from "node:fs";
import { KqemuEngine } from "../src/accel/kqemu/engine.ts";
import { EXIT_EXCEPTION } from "../src/cpu/cpu.ts";
import {
  CR0_PG,
  CR4_PSE,
  EAX,
  EBX,
  ECX,
  EDX,
  ESP,
  R_CR0,
  R_CR3,
  R_CR4,
  R_EIP,
  R_IDTR_LIMIT,
} from "../src/cpu/state.ts";
import { tuneV8ForAccelerator } from "../src/host/node/v8-tuning.ts";
import { makeFlatCpu } from "./lib/flat-cpu.ts";

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error("usage: bench/user-run.ts ELF [args...]");
  process.exit(2);
}
const elf = readFileSync(file);
const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
if (dv.getUint32(0) !== 0x7f454c46 || elf[4] !== 1 || dv.getUint16(18, true) !== 3) {
  console.error(`${file}: not an ELF32 i386 executable`);
  process.exit(1);
}
const c = makeFlatCpu(256 << 20);
if (process.env.PAGING) {
  // A page directory of 4 MiB pages mapping the 256 MiB identically, present, writable, user.
  const pd = 0x0ff00000;
  for (let i = 0; i < 64; i++) c.wr32(pd + i * 4, (i << 22) | 0x87);
  c.r[R_CR4] |= CR4_PSE;
  c.r[R_CR3] = pd;
  c.r[R_CR0] |= CR0_PG;
  c.modeChanged();
  c.flushTlb(true);
}
c.r[R_IDTR_LIMIT] = 0;
c.trapExceptions = true;
const phoff = dv.getUint32(28, true);
const phentsize = dv.getUint16(42, true);

/** The program's image, a fresh stack with argc/argv, and EIP at its entry. */
function load(): void {
  for (let i = 0; i < dv.getUint16(44, true); i++) {
    const ph = phoff + i * phentsize;
    if (dv.getUint32(ph, true) !== 1) continue; // PT_LOAD
    const off = dv.getUint32(ph + 4, true);
    const vaddr = dv.getUint32(ph + 8, true);
    const filesz = dv.getUint32(ph + 16, true);
    const memsz = dv.getUint32(ph + 20, true);
    // The same bytes each time, so code compiled from them stays valid (ram.set bypasses the
    // code-write checks); bss zeroed.
    c.ram.set(elf.subarray(off, off + filesz), vaddr);
    c.ram.fill(0, vaddr + filesz, vaddr + memsz);
  }
  // Stack: argc, argv[], NULL, envp NULL, strings above.
  let sp = 0x07ff0000;
  const argv = [file, ...args];
  const ptrs: number[] = [];
  for (const a of argv) {
    const b = Buffer.from(`${a}\0`);
    sp -= b.length;
    c.ram.set(b, sp);
    ptrs.push(sp);
  }
  sp &= ~15;
  const words = [argv.length, ...ptrs, 0, 0];
  sp -= words.length * 4;
  for (let k = 0; k < words.length; k++) c.wr32(sp + k * 4, words[k]);
  c.r[ESP] = sp;
  c.r[R_EIP] = dv.getUint32(24, true);
}

const engineName = process.env.ENGINE ?? "kqemu";
// The CLI's V8 settings (tiering budget, branch hints), unless V8_DEFAULTS=1.
if (engineName === "kqemu" && !process.env.V8_DEFAULTS) tuneV8ForAccelerator();
const eng = engineName === "kqemu" ? new KqemuEngine(c, "user", Number(process.env.THRESHOLD ?? 50)) : null;
const repeat = Number(process.env.REPEAT ?? 1);
const runMs: number[] = [];
const t0 = performance.now();
let insns = 0;
let exit = -1;
for (let run = 0; run < repeat; run++) {
  load();
  const tr = performance.now();
  exit = -1;
  while (exit < 0) {
    const why = eng ? eng.run(200_000) : c.run(200_000);
    insns += c.lastRun;
    if (why !== EXIT_EXCEPTION) continue;
    const eip = c.r[R_EIP];
    if (c.rd8(eip) !== 0xcd || c.rd8(eip + 1) !== 0x80) {
      console.error(`guest fault at ${eip.toString(16)}`);
      process.exit(1);
    }
    const [nr, a, b, d] = [c.r[EAX], c.r[EBX], c.r[ECX], c.r[EDX]];
    let ret = 0;
    if (nr === 1) exit = a;
    else if (nr === 4) {
      process.stdout.write(Buffer.from(c.ram.subarray(b, b + d)));
      ret = d;
    } else if (nr === 20) ret = 1;
    else if (nr === 265) {
      const ns = process.hrtime.bigint();
      c.wr32(b, Number(ns / 1_000_000_000n));
      c.wr32(b + 4, Number(ns % 1_000_000_000n));
    } else ret = -38; // ENOSYS
    c.r[EAX] = ret;
    c.r[R_EIP] = eip + 2;
  }
  runMs.push(performance.now() - tr);
}
const ms = performance.now() - t0;
console.error(
  `${engineName}: exit ${exit}, ${(ms / 1000).toFixed(3)} s, ${(insns / 1e6).toFixed(1)} M instructions, ${(insns / ms / 1000).toFixed(1)} MIPS`,
);
if (repeat > 1) console.error(`runs (ms): ${runMs.map((t) => t.toFixed(1)).join(" ")}`);
if (eng && process.env.INFO) console.error(eng.infoLines().join("\n"));
