// Runs one guest boot in v86 (npm `v86`), headless in Node, for bench/run.ts. The guest's first
// serial port goes to stdout line by line; statistics go to stderr as `v86-stats: {json}` lines:
// one at start (how the wasm was loaded), one per SIGUSR2 (instruction counter samples) and one
// at the end (JIT evidence: compiled wasm modules and bytes, JIT cache size, JIT config).
//
//   node --import tsx bench/v86-child.ts '{"kernel":…,"initrd":…,"cmdline":…,"memMiB":128,
//                                          "bios":…,"vgaBios":…,"jit":true}'
//
// The wasm core is instantiated here (wasm_fn) from v86's build/v86.wasm, so v86 cannot fall
// back silently to v86-fallback.wasm: a failure to instantiate it ends the run.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { V86 } from "v86";

interface ChildConfig {
  kernel: string;
  initrd: string;
  cmdline: string;
  memMiB: number;
  bios: string;
  vgaBios: string;
  /** false: v86's interpreter only (disable_jit), for comparison. */
  jit: boolean;
}

/** The parts of v86's internals read here (not in its .d.ts). */
interface V86Internals {
  v86: {
    cpu: {
      wm: { exports: Record<string, unknown> };
      codegen_finalize: (...args: number[]) => void;
    };
  };
}

const cfg = JSON.parse(process.argv[2] ?? "{}") as ChildConfig;
const t0 = performance.now();
const stat = (obj: Record<string, unknown>) => process.stderr.write(`v86-stats: ${JSON.stringify(obj)}\n`);
const buf = (path: string): ArrayBuffer => {
  const b = readFileSync(path);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
};

const require = createRequire(import.meta.url);
const wasmPath = join(dirname(require.resolve("v86")), "v86.wasm");
const wasmBytes = readFileSync(wasmPath);
const pkgVersion = (
  JSON.parse(readFileSync(join(dirname(wasmPath), "..", "package.json"), "utf8")) as {
    version: string;
  }
).version;

let wasmLoaded = false;
const emulator = new V86({
  wasm_fn: async (imports: WebAssembly.Imports) => {
    const { instance } = await WebAssembly.instantiate(wasmBytes, imports);
    wasmLoaded = true;
    return instance.exports;
  },
  bios: { buffer: buf(cfg.bios) },
  vga_bios: { buffer: buf(cfg.vgaBios) },
  bzimage: { buffer: buf(cfg.kernel) },
  initrd: { buffer: buf(cfg.initrd) },
  cmdline: cfg.cmdline,
  memory_size: cfg.memMiB << 20,
  autostart: false,
  disable_keyboard: true,
  disable_mouse: true,
  disable_speaker: true,
  disable_jit: !cfg.jit,
});

const internals = emulator as unknown as V86Internals;
let compiledModules = 0;
let compiledBytes = 0;
const wasmExport = (name: string): number => {
  const f = internals.v86.cpu.wm.exports[name];
  return typeof f === "function" ? Number((f as (...a: number[]) => unknown)(0)) : Number.NaN;
};
// v86's instruction counter is a u32 in its wasm memory: a Debian boot (≈6.4 G instructions)
// wraps it once. Read it often enough (≥ 4 G instructions apart is > 4 s at 1000 MIPS) and count
// the wraps, so the totals and MIPS reported are the instructions really run.
let counterWraps = 0;
let counterLast = 0;
const instructions = (): number => {
  const now = emulator.get_instruction_counter();
  if (now < counterLast) counterWraps++;
  counterLast = now;
  return counterWraps * 2 ** 32 + now;
};
setInterval(instructions, 250).unref();
const sample = (why: string): Record<string, unknown> => ({
  why,
  ms: +(performance.now() - t0).toFixed(1),
  instructions: instructions(),
});

let finished = false;
const finish = async (why: string, code: number) => {
  if (finished) return;
  finished = true;
  stat({
    ...sample(why),
    jit: {
      wasmFile: wasmPath,
      wasmSha256: createHash("sha256").update(wasmBytes).digest("hex").slice(0, 16),
      wasmLoadedByUs: wasmLoaded,
      jitDisabledConfig: wasmExport("get_jit_config"),
      compiledModules,
      compiledWasmBytes: compiledBytes,
    },
  });
  await emulator.destroy().catch(() => {});
  process.exit(code);
};

emulator.add_listener("emulator-loaded", () => {
  const cpu = internals.v86.cpu;
  // Count the wasm modules the JIT hands to the host for compilation (args: index, start,
  // state flags, ptr, length).
  const orig = cpu.codegen_finalize.bind(cpu);
  cpu.codegen_finalize = (...args: number[]) => {
    compiledModules++;
    compiledBytes += args[4] ?? 0;
    orig(...args);
  };
  stat({
    why: "loaded",
    ms: +(performance.now() - t0).toFixed(1),
    v86: pkgVersion,
    wasmLoadedByUs: wasmLoaded,
  });
  emulator.run();
});

let line = "";
emulator.add_listener("serial0-output-byte", (byte: number) => {
  if (byte === 10) {
    process.stdout.write(`${line}\n`);
    // Without ACPI (v86's default) the kernel halts instead of powering off.
    if (line.includes("reboot: Power down") || line.includes("reboot: System halted")) {
      void finish("poweroff", 0);
    }
    line = "";
  } else if (byte !== 13) {
    line += String.fromCharCode(byte);
  }
});

process.on("SIGUSR2", () => stat(sample("sample")));
process.on("SIGTERM", () => void finish("sigterm", 1));
