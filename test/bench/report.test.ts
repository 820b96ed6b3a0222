// The benchmark's arithmetic and rendering (no timing is asserted anywhere).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BENCH_INIT_SCRIPT, benchCmdline, DEFAULT_WORK } from "../../bench/lib/guest.ts";
import { selfTimes } from "../../bench/lib/profile.ts";
import {
  formatMs,
  type MetricRow,
  markdownTables,
  roundRatio,
  summarize,
  svgChart,
} from "../../bench/lib/report.ts";
import { INIT_MARKER } from "../../src/util/guest-cache.ts";

describe("bench report", () => {
  it("summarizes median, min and max", () => {
    assert.deepEqual(summarize([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
    assert.deepEqual(summarize([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4, n: 4 });
    assert.equal(summarize([]), null);
  });

  it("formats durations", () => {
    assert.equal(formatMs(1.234), "1.23 ms");
    assert.equal(formatMs(123.4), "123 ms");
    assert.equal(formatMs(1234), "1.23 s");
    assert.equal(formatMs(61234), "61.2 s");
  });

  const rows: MetricRow[] = [
    {
      id: "compute.steady",
      label: "compute",
      unit: "ms",
      cells: {
        native: { kind: "value", summary: { median: 100, min: 90, max: 110, n: 3 } },
        v86: { kind: "value", summary: { median: 2000, min: 1900, max: 2100, n: 3 } },
        tsqemu: { kind: "missing", why: "FAIL: no /init marker" },
      },
    },
    {
      id: "mips.run",
      label: "boot",
      unit: "mips",
      cells: { v86: { kind: "value", summary: { median: 40, min: 39, max: 41, n: 3 } } },
    },
  ];
  const engines = [
    { id: "tsqemu", label: "tsqemu" },
    { id: "v86", label: "v86" },
    { id: "native", label: "native" },
  ];

  it("prints times, ratios and failures in Markdown", () => {
    const md = markdownTables(rows, engines, { native: "native", v86: "v86" });
    assert.match(
      md,
      /\| compute \| FAIL: no \/init marker \| \*\*2\.00 s\*\* \(1\.90 s–2\.10 s\) \| \*\*100 ms\*\* \(90\.0 ms–110 ms\) \|/,
    );
    // tsqemu, with no figure, has no column in the ratio tables (its failure is in the times).
    assert.match(md, /Ratio to native[\s\S]*\| workload \| v86 \|\n[^\n]*\n\| compute \| 20× \|/);
    assert.match(md, /Ratio to v86[\s\S]*\| workload \| native \|\n[^\n]*\n\| compute \| 0\.05× \|/);
    assert.match(md, /Guest MIPS[\s\S]*\| boot \| \*\*40\.0\*\*/);
  });

  it("takes ratios round by round too (rounds where both engines ran)", () => {
    const boot: MetricRow = {
      id: "boot.init",
      label: "boot",
      unit: "ms",
      cells: {
        tsqemu: { kind: "value", summary: summarize([7, 8, 12])! },
        v86: { kind: "value", summary: summarize([14, 16, 20])! },
      },
      // Round 2's v86 run failed; round 3 is slow for both.
      rounds: { tsqemu: [7, 8, 12, 9], v86: [14, null, 20] },
    };
    assert.equal(roundRatio(boot, "tsqemu", "v86"), "**0.55×** (0.50×–0.60×) n=2");
    assert.equal(roundRatio(boot, "v86", "native"), "—");
    const md = markdownTables([boot], engines, { native: "native", v86: "v86" });
    assert.match(md, /Ratio to v86 \(median \/ median[\s\S]*\| boot \| 0\.50× \|/);
    assert.match(
      md,
      /Round by round \(each round's time \/ v86's[\s\S]*\| boot \| \*\*0\.55×\*\* \(0\.50×–0\.60×\) n=2 \|/,
    );
    assert.doesNotMatch(
      md,
      /Round by round \(each round's time \/ native's/,
      "no native rounds: no such table",
    );
    // Native not measured at all (a host that runs no i386 programs: every cell skipped, its
    // rounds all null): no ratio table to it, and no native column in v86's.
    const skipped: MetricRow = {
      ...boot,
      cells: { ...boot.cells, native: { kind: "missing", why: "skipped: no IA-32 emulation" } },
      rounds: { ...boot.rounds, native: [null, null, null] },
    };
    const md2 = markdownTables([skipped], engines, { native: "native", v86: "v86" });
    assert.doesNotMatch(md2, /Ratio to native/);
    assert.match(md2, /Ratio to v86[^\n]*\n\n\| workload \| tsqemu \|\n/);
    // Nor a column in the times: one line under them says why.
    assert.match(md2, /### Time[^\n]*\n\n\| workload \| tsqemu \| v86 \|\n/);
    assert.doesNotMatch(md2, /\| skipped: no IA-32 emulation \|/);
    assert.match(md2, /\n\nnative: skipped: no IA-32 emulation\n/, "the times still say why, once");
  });

  it("draws an SVG with one bar per measured cell and the failure text", () => {
    const svg = svgChart(rows, engines, "t");
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((svg.match(/<rect x=/g) ?? []).length, 2);
    assert.match(svg, /FAIL: no \/init marker/);
    assert.ok(svg.trimEnd().endsWith("</svg>"));
    // tsqemu measured nothing: one line under the title says why, no row of its own per group; an
    // engine missing from one group only keeps its red line there.
    const second: MetricRow = {
      id: "compute.first",
      label: "compute, first",
      unit: "ms",
      cells: {
        v86: { kind: "value", summary: { median: 3000, min: 2900, max: 3100, n: 3 } },
        native: { kind: "missing", why: "timed out" },
        tsqemu: { kind: "missing", why: "FAIL: no /init marker" },
      },
    };
    const svg2 = svgChart([...rows, second], engines, "t");
    assert.equal(svg2.match(/FAIL: no \/init marker/g)?.length, 1, "said once");
    assert.match(svg2, /fill="#b00">tsqemu: FAIL: no \/init marker</);
    assert.doesNotMatch(svg2, />tsqemu<\/text>/, "no bar label for it");
    assert.match(svg2, /fill="#b00">timed out</);
    assert.equal((svg2.match(/<rect x=/g) ?? []).length, 3);
  });
});

describe("bench profile", () => {
  it("adds up self time per function from a .cpuprofile", () => {
    const frame = (functionName: string, lineNumber: number) => ({
      functionName,
      url: "file:///x/a.ts",
      lineNumber,
      columnNumber: 0,
    });
    const list = selfTimes({
      nodes: [
        { id: 1, callFrame: frame("(root)", -1), children: [2, 3] },
        { id: 2, callFrame: frame("hot", 9) },
        { id: 3, callFrame: frame("cold", 19) },
      ],
      samples: [2, 2, 3, 2],
      timeDeltas: [1000, 1000, 1000, 1000],
      startTime: 0,
      endTime: 4000,
    });
    assert.equal(list[0]!.name, "hot");
    assert.equal(list[0]!.selfMs, 3);
    assert.equal(list[0]!.where, "/x/a.ts:10");
    assert.equal(list[0]!.share, 0.75);
    assert.equal(list[1]!.name, "cold");
  });
});

describe("bench guest", () => {
  it("puts the workload and its sizes on the kernel command line", () => {
    assert.equal(
      benchCmdline("compute", DEFAULT_WORK),
      `console=ttyS0 tsqemu.bench=compute tsqemu.units=${DEFAULT_WORK.units} tsqemu.runs=3 tsqemu.syscalls=${DEFAULT_WORK.syscalls} tsqemu.forks=${DEFAULT_WORK.forks}`,
    );
  });

  it("has a bench /init that prints the init marker and falls back to the default /init", () => {
    assert.ok(BENCH_INIT_SCRIPT.includes(`echo "${INIT_MARKER}"`));
    assert.ok(BENCH_INIT_SCRIPT.includes("exec /init.default"));
    assert.ok(BENCH_INIT_SCRIPT.includes("poweroff -f"));
  });
});
