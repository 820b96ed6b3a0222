// Dev tool: boots the bench guest to /init in this process with -kernel-kqemu, as the CLI tunes
// V8, and prints where the boot stands: host time to the kernel's first paged instruction (the end
// of the bzImage's XZ decompressor) and to /init, and the accelerator's counters (`info kqemu`).
// Optional, at /init:
//   DUMP=DIR     write every wasm module compiled during the boot to DIR/mNNN.wasm (wasm2wat them;
//                functions are named eip_<guest EIP>)
//   DIS=ADDR:LEN[,...]  disassemble guest memory (hex ADDR; 0xc0000000 and up: kernel virtual)
//   APPEND=" nokaslr"   more kernel command line (fixed addresses, to match a kallsyms capture)
// Usage: node --import tsx bench/boot-inspect.ts      (add --cpu-prof --cpu-prof-dir D for a profile)
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { disassembleBytes } from "../src/cpu/disasm.ts";
import { R_EIP } from "../src/cpu/state.ts";
import { benchMachine, runToInit } from "./lib/dev-machine.ts";

const KERNEL_BASE = 0xc0000000;
const dumpDir = process.env.DUMP;
const modules: Uint8Array[] = [];
if (dumpDir) {
  // Keep a copy of every module's bytes: the engine builds them with `new WebAssembly.Module`.
  const Original = WebAssembly.Module;
  const Capturing = function (this: unknown, bytes: BufferSource) {
    const view = ArrayBuffer.isView(bytes)
      ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      : new Uint8Array(bytes);
    modules.push(view.slice());
    return new Original(bytes);
  } as unknown as typeof WebAssembly.Module;
  Capturing.prototype = Original.prototype;
  WebAssembly.Module = Capturing;
}

const m = await benchMachine(process.env.APPEND ?? "");
const engine = m.kqemu;

const t0 = performance.now();
// The run loop yields to the event loop every few ms: sample EIP there for the phase change.
const poll = setInterval(() => {
  if (m.cpu.r[R_EIP] >>> 0 < KERNEL_BASE) return;
  clearInterval(poll);
  console.log(
    `decompressor done, kernel entered: ${(performance.now() - t0).toFixed(0)} ms, ${m.cpu.icount} instructions`,
  );
}, 2);

function atInit(): void {
  console.log(`/init: ${(performance.now() - t0).toFixed(0)} ms, ${m.cpu.icount} instructions`);
  for (const l of engine.infoLines()) console.log(l);
  if (dumpDir) {
    mkdirSync(dumpDir, { recursive: true });
    for (const [k, b] of modules.entries())
      writeFileSync(join(dumpDir, `m${String(k).padStart(3, "0")}.wasm`), b);
    console.log(`${modules.length} modules written to ${dumpDir}`);
  }
  for (const spec of (process.env.DIS ?? "").split(",").filter((s) => s !== "")) {
    const [a, n] = spec.split(":");
    let addr = Number.parseInt(a, 16) >>> 0;
    const end = addr + Number.parseInt(n ?? "64", 10);
    const base = addr >= KERNEL_BASE ? KERNEL_BASE : 0;
    while (addr < end) {
      const d = disassembleBytes(m.mem.ram, addr - base, addr, true, "intel");
      console.log(`${addr.toString(16)}  ${d.text}`);
      addr += d.length;
    }
  }
  process.exit(0);
}

await runToInit(m, atInit);
