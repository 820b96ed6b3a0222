// V8 settings for the kqemu accelerator on Node (a browser keeps its own).
//
// V8 runs a compiled block's wasm first with its baseline compiler (Liftoff) and re-compiles it with
// its optimizing one (TurboFan, on background threads) once the function has used up a "tiering
// budget" of executed code. The boot runs thousands of blocks a few thousand times each: with the
// default budget most of them get optimized, and that background work takes the CPU from the
// emulator's own thread on small hosts. A budget ten times larger leaves that code in Liftoff,
// while blocks that really loop still reach TurboFan within milliseconds. Measured on the 2-core
// VM (Debian boot to /init, -kernel-kqemu, interleaved runs, medians): 11.2 s with the default
// 1.8 M, 10.6 s with 5 M, 10.1 s with 20 M.
import { setFlagsFromString } from "node:v8";

/** Tiering budget (V8's rough count of bytes executed before a wasm function is optimized). */
const WASM_TIERING_BUDGET = 20_000_000;

/** Set the accelerator's V8 flags, before the first wasm module is instantiated. */
export function tuneV8ForAccelerator(): void {
  setFlagsFromString(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`);
}
