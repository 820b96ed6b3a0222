// Dev tool: reproduce the boot test's typing (500 ms after /init) and dump interrupt state if the
// guest stops answering.
import { readFileSync } from "node:fs";
import { PcMachine } from "../src/machine/pc.ts";
import { INIT_MARKER } from "../src/util/guest-cache.ts";

const dir = "/root/.cache/tsqemu/debian12-686/";
const m = new PcMachine({
  ramSize: 128 << 20,
  kernel: readFileSync(dir + "vmlinuz"),
  initrd: readFileSync(dir + "initrd.img"),
  append: "console=ttyS0",
  noReboot: true,
  accel: (process.env.ACCEL ?? "kqemu-full") as "tcg" | "kqemu-user" | "kqemu-full",
});
let out = "";
let sent = false;
const log: string[] = [];
const t = () => (m.clock.now() / 1e6).toFixed(3);
m.serial.onTransmit = (b) => {
  out += String.fromCharCode(b);
  if (!sent && out.includes(INIT_MARKER)) {
    sent = true;
    setTimeout(
      () =>
        m.serial.receive(
          "uname -a; cat /proc/cpuinfo /proc/interrupts; date -u +%s; echo BOOT-OK\npoweroff\n",
        ),
      500,
    );
  }
};
const io = m.ioapic;
const sp = io.setPin.bind(io);
io.setPin = (pin, level) => {
  if (pin === 4 && sent) log.push(`${t()} pin4 ${level ? 1 : 0}`);
  sp(pin, level);
};
const acc = m.lapic.acceptInterrupt.bind(m.lapic);
m.lapic.acceptInterrupt = (v, l) => {
  if ((v === 0x25 && sent) || v === 0xec) log.push(`${t()} accept ${v.toString(16)}`);
  acc(v, l);
};
const ackf = m.lapic.acknowledge.bind(m.lapic);
m.lapic.acknowledge = () => {
  const v = ackf();
  if (sent || v === 0xec) log.push(`${t()} ack ${v.toString(16)} if=${(m.cpu.getEflags() >> 9) & 1}`);
  return v;
};
const lw = m.lapic.write.bind(m.lapic);
m.lapic.write = (off, size, v) => {
  if (off === 0x380 || off === 0x320 || off === 0x3e0)
    log.push(`${t()} lapic[${off.toString(16)}] <- ${(v >>> 0).toString(16)}`);
  lw(off, size, v);
};
const uw = m.serial.write.bind(m.serial);
m.serial.write = (off, v) => {
  if (sent && off === 1) log.push(`${t()} IER <- ${v.toString(16)}`);
  uw(off, v);
};
const ur = m.serial.read.bind(m.serial);
m.serial.read = (off) => {
  const v = ur(off);
  if (sent && off === 2) log.push(`${t()} IIR -> ${v.toString(16)}`);
  return v;
};
setTimeout(
  () => {
    console.log(
      log
        .filter((l) => !process.env.F || new RegExp(process.env.F).test(l))
        .slice(-Number(process.env.N ?? 60))
        .join("\n"),
    );
    console.log("tail:", JSON.stringify(out.slice(-300)));
    console.log("pending input", m.serial.pendingInput, "IER", m.serial.read(1), "IIR", ur(2).toString(16));
    console.log(m.lapic.dump());
    const lt = (m.lapic as unknown as { timer: { armed: boolean; deadline: number } }).timer;
    console.log(
      "lapic timer armed",
      lt.armed,
      "deadline",
      lt.deadline / 1e6,
      "now",
      m.clock.now() / 1e6,
      "next",
      m.clock.nextDeadline() / 1e6,
      "halted",
      m.cpu.halted,
      "eflags",
      m.cpu.getEflags().toString(16),
      "events",
      m.cpu.events,
    );
    console.log(m.ioapic.dump().split("\n").slice(0, 6).join("\n"));
    process.exit(0);
  },
  Number(process.env.SECS ?? 60) * 1000,
);
await m.run();
console.log("stopped; tail:", JSON.stringify(out.slice(-200)));
process.exit(0);
