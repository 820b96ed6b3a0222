// Guests on a PcMachine in this process, for the dev tools: the default Debian guest (eip-sample,
// pit-trace, scripts/boot-try: engine from $ACCEL, serial output collected in `serial()`), and the
// bench guest with -kernel-kqemu (boot-inspect, cold-code, mode-ab).
import { readFileSync } from "node:fs";
import { lowerHelperThreads } from "../../src/host/node/thread-priority.ts";
import { tuneEngineForV8, tuneV8ForAccelerator } from "../../src/host/node/v8-tuning.ts";
import { type PcConfig, PcMachine } from "../../src/machine/pc.ts";
import { defaultGuestPaths, INIT_MARKER } from "../../src/util/guest-cache.ts";
import {
  benchCmdline,
  DEFAULT_WORK,
  ensureBenchGuest,
  type GuestWorkload,
  type WorkParams,
} from "./guest.ts";

export function devMachine(append: string, defaultAccel: PcConfig["accel"] = "kqemu-full") {
  const { kernel, initrd } = defaultGuestPaths();
  const accel = (process.env.ACCEL as PcConfig["accel"]) ?? defaultAccel;
  // As the CLI does (unless $V8_DEFAULTS: V8 as it comes).
  if (accel !== "tcg" && !process.env.V8_DEFAULTS) tuneV8ForAccelerator();
  // As the CLI does (unless $TSQEMU_NO_RENICE): V8's helper threads below the emulator's.
  if (!process.env.TSQEMU_NO_RENICE) lowerHelperThreads();
  const m = new PcMachine({
    ramSize: 128 << 20,
    kernel: readFileSync(kernel),
    initrd: readFileSync(initrd),
    append,
    noReboot: true,
    accel,
  });
  if (m.kqemu !== null && !process.env.V8_DEFAULTS) tuneEngineForV8(m.kqemu);
  let out = "";
  m.serial.onTransmit = (b) => {
    out += String.fromCharCode(b);
  };
  return { m, serial: () => out };
}

/**
 * The bench guest (`workload` on its kernel command line, `append` after it) on a -kernel-kqemu
 * machine, V8 tuned as the CLI tunes it.
 */
export async function benchMachine(
  append = "",
  workload: GuestWorkload = "boot",
  work: WorkParams = DEFAULT_WORK,
): Promise<PcMachine & { kqemu: NonNullable<PcMachine["kqemu"]> }> {
  const guest = await ensureBenchGuest((l) => console.error(l));
  tuneV8ForAccelerator();
  lowerHelperThreads();
  const m = new PcMachine({
    ramSize: 128 << 20,
    kernel: readFileSync(guest.kernel),
    initrd: readFileSync(guest.initrd),
    append: benchCmdline(workload, work) + append,
    noReboot: true,
    accel: "kqemu-full",
  });
  const engine = m.kqemu;
  if (engine === null) throw new Error("no kqemu engine");
  tuneEngineForV8(engine);
  return m as PcMachine & { kqemu: typeof engine };
}

/** Run `m` until its serial console prints the /init marker, then call `atInit` (which exits). */
export async function runToInit(m: PcMachine, atInit: () => void): Promise<never> {
  let line = "";
  m.serial.onTransmit = (b) => {
    if (b !== 10) {
      line += String.fromCharCode(b);
      return;
    }
    if (line.includes(INIT_MARKER)) atInit();
    line = "";
  };
  await m.run();
  console.error("the guest stopped before /init");
  process.exit(1);
}
