// Peer test vectors: `npm run peer -- sst-80286 [--file F7.6.MOO.gz] [--limit N] [--verbose N] [--all]`.
// Prints per-file results and a final line `sst-80286: P passed, F failed`. Cases a 286 and an
// i686 architecturally disagree on are classified from their bytes and reported as excluded
// (--all runs them too, counting them as ordinary cases).
import { join } from "node:path";
import { readMoo } from "../test/peer/moo.ts";
import {
  describeCase,
  flagsMaskForFile,
  revokedHashes,
  SST286_REAL,
  Sst286Runner,
  sst286Files,
} from "../test/peer/sst286.ts";

function usage(): never {
  console.error(
    "usage: npm run peer -- sst-80286 [--file NAME[,NAME…]] [--limit N] [--verbose N] [--all] [--quiet]",
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const suite = args.shift();
if (suite !== "sst-80286") usage();
let files = sst286Files();
let limit = Number.POSITIVE_INFINITY;
let verbose = 3;
let exclude = true;
let quiet = false;
while (args.length > 0) {
  const a = args.shift();
  if (a === "--file") {
    const want = (args.shift() ?? usage()).split(",").map((f) => (f.endsWith(".MOO.gz") ? f : `${f}.MOO.gz`));
    for (const f of want) if (!files.includes(f)) throw new Error(`no such file in the suite: ${f}`);
    files = want;
  } else if (a === "--limit") limit = Number(args.shift() ?? usage());
  else if (a === "--verbose") verbose = Number(args.shift() ?? usage());
  else if (a === "--all") exclude = false;
  else if (a === "--quiet") quiet = true;
  else usage();
}

const revoked = revokedHashes();
const runner = new Sst286Runner();
const excludedBy = new Map<string, number>();
const maskedBy = new Map<string, number>();
let passed = 0;
let failed = 0;
let revokedSkipped = 0;
const t0 = performance.now();
for (const file of files) {
  const moo = readMoo(join(SST286_REAL, file));
  const mask = flagsMaskForFile(file);
  let p = 0;
  let f = 0;
  let x = 0;
  const shown: string[] = [];
  for (const t of moo.cases) {
    if (t.index >= limit) break;
    if (revoked.has(t.hash)) {
      revokedSkipped++;
      continue;
    }
    const res = runner.run(t, mask, exclude);
    if (res.excluded !== null) {
      x++;
      excludedBy.set(res.excluded, (excludedBy.get(res.excluded) ?? 0) + 1);
    } else if (res.pass) {
      p++;
      if (res.masked !== null) maskedBy.set(res.masked, (maskedBy.get(res.masked) ?? 0) + 1);
    } else {
      f++;
      if (shown.length < verbose) shown.push(`    ${describeCase(t)}: ${res.diffs.join("; ")}`);
    }
  }
  passed += p;
  failed += f;
  if (!quiet || f > 0) {
    const n = p + f;
    const pct = n === 0 ? 100 : (100 * p) / n;
    console.log(
      `${file.padEnd(14)} ${moo.meta?.mnemonic.padEnd(6) ?? ""} ${String(p).padStart(5)}/${String(n).padEnd(5)} ${pct.toFixed(2).padStart(6)}%${x > 0 ? `  (${x} excluded)` : ""}`,
    );
    for (const s of shown) console.log(s);
  }
}
const secs = (performance.now() - t0) / 1000;
if (maskedBy.size > 0)
  console.log(`passed with 286-specific masks: ${[...maskedBy].map(([k, v]) => `${k}: ${v}`).join(", ")}`);
if (excludedBy.size > 0 || revokedSkipped > 0) {
  const parts = [...excludedBy].map(([k, v]) => `${k}: ${v}`);
  if (revokedSkipped > 0) parts.push(`revoked: ${revokedSkipped}`);
  console.log(`excluded (286 ≠ i686 by architecture): ${parts.join(", ")}`);
}
console.log(`time: ${secs.toFixed(1)} s`);
console.log(`sst-80286: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
