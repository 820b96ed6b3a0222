// The default Debian guest on a PcMachine in this process, for the dev tools (eip-sample,
// pit-trace, scripts/boot-try): engine from $ACCEL (tcg, kqemu-user, kqemu-full), serial output
// collected in `serial()`.
import { readFileSync } from "node:fs";
import { lowerHelperThreads } from "../../src/host/node/thread-priority.ts";
import { tuneV8ForAccelerator, tuneV8ForSteadyState } from "../../src/host/node/v8-tuning.ts";
import { type PcConfig, PcMachine } from "../../src/machine/pc.ts";
import { defaultGuestPaths } from "../../src/util/guest-cache.ts";

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
  if (m.kqemu !== null && !process.env.V8_DEFAULTS) m.kqemu.onFirstUserBlock = tuneV8ForSteadyState;
  let out = "";
  m.serial.onTransmit = (b) => {
    out += String.fromCharCode(b);
  };
  return { m, serial: () => out };
}
