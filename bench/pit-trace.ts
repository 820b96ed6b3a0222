// Dev tool: records the guest's PIT reads (ports 42h and 61h) during early boot with guest and host
// timestamps, to see what Linux's TSC calibration loops observe. Usage: node --import tsx bench/pit-trace.ts
import { devMachine } from "./lib/dev-machine.ts";

const { m, serial } = devMachine("console=ttyS0");
const N = 400_000;
const port = new Uint16Array(N);
const gt = new Float64Array(N);
const ht = new Float64Array(N);
let k = 0;
const io = m.io;
const in8 = io.in8.bind(io);
io.in8 = (p: number) => {
  if ((p === 0x42 || p === 0x61) && k < N) {
    port[k] = p;
    gt[k] = m.clock.now();
    ht[k] = performance.now();
    k++;
  }
  return in8(p);
};
setTimeout(
  () => {
    // Runs of consecutive reads: report the largest guest-time gaps and where they come from.
    const gaps: [number, number, number][] = [];
    for (let j = 1; j < k; j++) gaps.push([gt[j] - gt[j - 1], ht[j] - ht[j - 1], j]);
    const sorted = [...gaps].sort((a, b) => b[0] - a[0]);
    const med = [...gaps].sort((a, b) => a[0] - b[0])[gaps.length >> 1];
    console.log(`${k} reads; median gap ${(med[0] / 1000).toFixed(2)} µs guest`);
    for (const [g, h, j] of sorted.slice(0, 15))
      console.log(
        `gap ${(g / 1000).toFixed(1)} µs guest, ${(h * 1000).toFixed(1)} µs host, at read ${j} port ${port[j].toString(16)}`,
      );
    // Polling loops: runs of reads of one port less than 50 µs of guest time apart.
    let start = 0;
    for (let j = 1; j <= k; j++) {
      if (j === k || gt[j] - gt[j - 1] > 50_000 || port[j] !== port[start]) {
        if (j - start > 20) {
          let lo = Infinity;
          let hi = 0;
          let hhi = 0;
          for (let q = start + 1; q < j; q++) {
            lo = Math.min(lo, gt[q] - gt[q - 1]);
            hi = Math.max(hi, gt[q] - gt[q - 1]);
            hhi = Math.max(hhi, ht[q] - ht[q - 1]);
          }
          console.log(
            `loop on port ${port[start].toString(16)}: ${j - start} reads over ${((gt[j - 1] - gt[start]) / 1e6).toFixed(2)} ms, gap min ${(lo / 1000).toFixed(2)} max ${(hi / 1000).toFixed(2)} µs (host max ${(hhi * 1000).toFixed(1)} µs)`,
          );
        }
        start = j;
      }
    }
    console.log(
      serial()
        .split("\n")
        .filter((l) => /tsc|calib/i.test(l))
        .join("\n"),
    );
    process.exit(0);
  },
  Number(process.argv[2] ?? 30) * 1000,
);
await m.run();
