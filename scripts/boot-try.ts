import { readFileSync } from "node:fs";
import { R_EIP } from "/work/main/src/cpu/state.ts";
import { PcMachine } from "/work/main/src/machine/pc.ts";

const dir = "/root/.cache/tsqemu/debian12-686/";
const m = new PcMachine({
  ramSize: 128 << 20,
  kernel: readFileSync(dir + "vmlinuz"),
  initrd: readFileSync(dir + "initrd.img"),
  append: process.argv[2] ?? "console=ttyS0 earlyprintk=serial,ttyS0,115200",
  noReboot: true,
  accel: (process.env.ACCEL ?? "tcg") as "tcg" | "kqemu-user" | "kqemu-full",
  logItems: new Set((process.env.LOGI ?? "unimp").split(",")),
  log: (i, l) => process.stderr.write(`[${i}] ${l}\n`),
});
m.serial.onTransmit = (b) => process.stdout.write(String.fromCharCode(b));
process.on("SIGINT", () => process.exit(0));
const t0 = performance.now();
const timer = setInterval(() => {
  process.stderr.write(
    `\n[t=${((performance.now() - t0) / 1000).toFixed(1)}s insns=${m.instructions} eip=${(m.cpu.r[R_EIP] >>> 0).toString(16)} mips=${m.mips().toFixed(1)} idle=${(m.idleMs / 1000).toFixed(1)}s irqs=${[...m.irqCounts].join(",")}]\n${process.env.APICDUMP ? m.lapic.dump() + "\n" + m.ioapic.dump() + "\n" + m.pic.dump() + "\n" : ""}${process.env.PITDUMP ? m.pit.dump() + "\n" : ""}${process.env.KQ && m.kqemu ? m.kqemu.infoLines().join("\n") + "\n" : ""}`,
  );
}, 5000);
const reason = await m.run();
clearInterval(timer);
console.error("\nstop:", reason, "eip", (m.cpu.r[R_EIP] >>> 0).toString(16), "insns", m.instructions);
process.exit(0);
