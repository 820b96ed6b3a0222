// Messages between the page (web/main.ts) and the emulator worker (web/worker.ts).
import type { KqemuMode } from "../src/monitor/monitor.ts";

export interface StartRequest {
  type: "start";
  kernel: ArrayBuffer;
  initrd: ArrayBuffer | null;
  kernelName: string;
  initrdName: string | null;
  append: string;
  ramMiB: number;
  /** Engine: as -no-kqemu, the default normal mode, or -kernel-kqemu. */
  accel: "tcg" | "kqemu-user" | "kqemu-full";
}

export type ToWorker =
  | StartRequest
  | { type: "input"; data: Uint8Array }
  | { type: "pause" }
  | { type: "resume" }
  | { type: "reset" }
  | { type: "powerdown" }
  | { type: "quit" }
  | { type: "monitor"; line: string };

export type RunState = "running" | "paused" | "halted" | "stopped";

export interface Status {
  engine: string;
  kqemu: KqemuMode;
  state: RunState;
  /** Why the machine stopped (state 'stopped'). */
  reason?: string;
  /** Guest MIPS over the last status interval, and since power-on (PcMachine.mips()). */
  mips: number;
  avgMips: number;
  instructions: number;
}

export type FromWorker =
  | { type: "ready" }
  | { type: "serial"; data: Uint8Array }
  | { type: "status"; status: Status }
  | { type: "monitor"; text: string }
  | { type: "error"; message: string };

/** Hooks the page exposes as `window.tsqemu` (for test/web/page.test.ts and curious users). */
export interface PageApi {
  /** The terminal's whole buffer (scrollback included) as text, wrapped lines joined. */
  terminalText(): string;
  monitorText(): string;
  status(): Status | null;
}
