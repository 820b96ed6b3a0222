// The guest kernel's text symbols for the dev samplers (eip-sample.ts, insn-sample.ts). Debian's
// image ships no real System.map: capture them from the guest once (boot with
// `-append "console=ttyS0 nokaslr"`, run `grep " [tT] " /proc/kallsyms`) and pass that file.
import { readFileSync } from "node:fs";

/**
 * A lookup from EIP to the enclosing symbol's name, read from `path`. EIPs below the first symbol
 * (the bzImage's self-decompressor, firmware) get `below(eip)`.
 */
export function kallsymsLookup(path: string, below: (eip: number) => string): (eip: number) => string {
  const syms = readFileSync(path, "utf8")
    .split("\n")
    .map((l) => l.split(" "))
    // Only "address type name" lines: a stray console line in a captured file would sort as NaN.
    .filter((p) => p.length === 3 && /^[0-9a-f]+$/i.test(p[0]) && /^[tTwW]$/.test(p[1]))
    .map((p) => [Number.parseInt(p[0], 16), p[2]] as const)
    .sort((a, b) => a[0] - b[0]);
  return (eip) => {
    if (syms.length === 0 || eip < syms[0][0]) return below(eip);
    let lo = 0;
    let hi = syms.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (syms[mid][0] <= eip) lo = mid;
      else hi = mid - 1;
    }
    return syms[lo][1];
  };
}
