// Turns benchmark runs into Markdown tables and an SVG bar chart (written here, no library).

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(values: number[]): Summary | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** One table cell: a summary, or why there is none. */
export type Cell = { kind: "value"; summary: Summary; note?: string } | { kind: "missing"; why: string };

export interface MetricRow {
  id: string;
  label: string;
  /** "ms" cells print as ms/s; "mips" as plain numbers. */
  unit: "ms" | "mips";
  cells: Record<string, Cell>;
  /**
   * Per engine, its value in each round (index = round - 1; null for a failed run), for ratios taken
   * round by round: both engines met the same period of a host whose speed drifts.
   */
  rounds?: Record<string, (number | null)[]>;
}

export function formatMs(ms: number): string {
  if (ms >= 10000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

const fmt = (unit: MetricRow["unit"], v: number): string =>
  unit === "ms" ? formatMs(v) : v >= 100 ? v.toFixed(0) : v.toFixed(1);

const escapeMd = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

function cellText(row: MetricRow, engine: string): string {
  const c = row.cells[engine];
  if (!c) return "";
  if (c.kind === "missing") return escapeMd(c.why);
  const { median, min, max, n } = c.summary;
  const range = n > 1 ? ` (${fmt(row.unit, min)}–${fmt(row.unit, max)})` : "";
  return `**${fmt(row.unit, median)}**${range}${n < 3 ? ` n=${n}` : ""}${c.note ? ` ${escapeMd(c.note)}` : ""}`;
}

const times = (x: number): string => (x >= 10 ? `${x.toFixed(0)}×` : `${x.toFixed(2)}×`);

function ratio(row: MetricRow, engine: string, ref: string): string {
  const c = row.cells[engine];
  const r = row.cells[ref];
  if (c?.kind !== "value" || !r || r.kind !== "value" || r.summary.median <= 0) return "—";
  return times(c.summary.median / r.summary.median);
}

/** Each round's engine / ref ratio (rounds where both ran): median, and min–max when several. */
export function roundRatio(row: MetricRow, engine: string, ref: string): string {
  const a = row.rounds?.[engine];
  const b = row.rounds?.[ref];
  if (!a || !b) return "—";
  const ratios: number[] = [];
  for (let k = 0; k < Math.min(a.length, b.length); k++) {
    const x = a[k];
    const y = b[k];
    if (x !== null && x !== undefined && y !== null && y !== undefined && y > 0) ratios.push(x / y);
  }
  const s = summarize(ratios);
  if (!s) return "—";
  return `**${times(s.median)}**${s.n > 1 ? ` (${times(s.min)}–${times(s.max)})` : ""} n=${s.n}`;
}

/** Whether engine `id` has a figure in any of `rows`. */
function hasFigure(rows: MetricRow[], id: string): boolean {
  return rows.some((r) => r.cells[id]?.kind === "value");
}

function table(header: string[], rows: string[][]): string {
  const out = [`| ${header.join(" | ")} |`, `|${header.map(() => " --- ").join("|")}|`];
  for (const r of rows) out.push(`| ${r.join(" | ")} |`);
  return `${out.join("\n")}\n`;
}

/** Times table, ratio tables (to native and to v86) and the MIPS table. */
export function markdownTables(
  rows: MetricRow[],
  engines: { id: string; label: string }[],
  refs: { native: string; v86: string },
): string {
  const timeRows = rows.filter((r) => r.unit === "ms");
  const mipsRows = rows.filter((r) => r.unit === "mips");
  // An engine with no figure at all (native on a host that runs no i386 programs, one that is not
  // installed) has no ratio table of its own and no column in the others; one skipped in every
  // cell for the same reason says so once under the times instead of in every row (a failure stays
  // in its cells).
  const measured = (id: string) => hasFigure(timeRows, id);
  const skippedWhy = (id: string): string | null => {
    if (measured(id)) return null;
    const whys = new Set(
      timeRows.map((r) => {
        const c = r.cells[id];
        return c?.kind === "missing" ? c.why : "";
      }),
    );
    const [why] = whys;
    return whys.size === 1 && why !== undefined && why.startsWith("skipped") ? why : null;
  };
  const skipped = engines.map((e) => skippedWhy(e.id));
  const shown = engines.filter((_e, k) => skipped[k] === null);
  let md = "### Time (median of runs, min–max in brackets; lower is better)\n\n";
  md += table(
    ["workload", ...shown.map((e) => e.label)],
    timeRows.map((r) => [r.label, ...shown.map((e) => cellText(r, e.id))]),
  );
  engines.forEach((e, k) => {
    const why = skipped[k];
    if (why !== null) md += `\n${escapeMd(e.label)}: ${escapeMd(why)}\n`;
  });
  for (const [name, ref] of [
    ["native", refs.native],
    ["v86", refs.v86],
  ] as const) {
    if (!measured(ref)) continue;
    const others = engines.filter((e) => e.id !== ref && measured(e.id));
    md += `\n### Ratio to ${name} (median / median; above 1× is slower than ${name})\n\n`;
    md += table(
      ["workload", ...others.map((e) => e.label)],
      timeRows.map((r) => [r.label, ...others.map((e) => ratio(r, e.id, ref))]),
    );
    if (timeRows.some((r) => r.rounds?.[ref]?.some((v) => v !== null))) {
      md += `\nRound by round (each round's time / ${name}'s in the same round: median, min–max, rounds):\n\n`;
      md += table(
        ["workload", ...others.map((e) => e.label)],
        timeRows.map((r) => [r.label, ...others.map((e) => roundRatio(r, e.id, ref))]),
      );
    }
  }
  if (mipsRows.length > 0) {
    const withMips = engines.filter((e) => mipsRows.some((r) => r.cells[e.id]));
    md += "\n### Guest MIPS (instructions counted by the emulator / host time)\n\n";
    md += table(
      ["phase", ...withMips.map((e) => e.label)],
      mipsRows.map((r) => [r.label, ...withMips.map((e) => cellText(r, e.id))]),
    );
  }
  return md;
}

const xmlEscape = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

// No red: red marks failures.
const PALETTE = ["#1f77b4", "#17becf", "#9467bd", "#ff7f0e", "#bcbd22", "#2ca02c", "#7f7f7f", "#8c564b"];

/**
 * A grouped horizontal bar chart of the time rows on a log scale (the engines differ by
 * orders of magnitude): one group per workload, one bar per engine with a min–max whisker.
 */
export function svgChart(rows: MetricRow[], engines: { id: string; label: string }[], title: string): string {
  const timeRows = rows.filter((r) => r.unit === "ms");
  const values: number[] = [];
  for (const r of timeRows)
    for (const e of engines) {
      const c = r.cells[e.id];
      if (c?.kind === "value") values.push(c.summary.min, c.summary.max);
    }
  const lo = 10 ** Math.floor(Math.log10(Math.max(1e-3, Math.min(...values, 1000))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values, lo * 10)));
  const labelW = 230;
  const plotW = 560;
  const valueW = 150;
  const barH = 14;
  const gap = 4;
  const groupGap = 18;
  // An engine with no figure in any row (native on a host that runs no i386 programs, an engine
  // that failed everywhere) gets one line under the title, with the first reason, not a red line
  // in every group.
  const none = engines.filter((e) => !hasFigure(timeRows, e.id));
  const notes = none.map((e) => {
    const c = timeRows.map((r) => r.cells[e.id]).find((c) => c?.kind === "missing");
    const why = c?.kind === "missing" ? c.why : "n/a";
    return `${e.label}: ${why.length > 110 ? `${why.slice(0, 107)}…` : why}`;
  });
  const top = 70 + 16 * notes.length;
  const x = (v: number) => labelW + (plotW * Math.log10(Math.max(v, lo) / lo)) / Math.log10(hi / lo);
  const parts: string[] = notes.map(
    (t, k) => `<text x="8" y="${60 + 16 * k}" fill="#b00">${xmlEscape(t)}</text>`,
  );
  let y = top;
  for (const r of timeRows) {
    parts.push(`<text x="8" y="${y + barH - 2}" font-weight="bold">${xmlEscape(r.label)}</text>`);
    y += barH + gap;
    engines.forEach((e, i) => {
      if (none.includes(e)) return;
      const c = r.cells[e.id];
      const color = PALETTE[i % PALETTE.length]!;
      parts.push(`<text x="24" y="${y + barH - 3}" fill="#333">${xmlEscape(e.label)}</text>`);
      if (!c) {
        parts.push(`<text x="${labelW + 4}" y="${y + barH - 3}" fill="#999">n/a</text>`);
      } else if (c.kind === "missing") {
        const why = c.why.length > 70 ? `${c.why.slice(0, 67)}…` : c.why;
        parts.push(`<text x="${labelW + 4}" y="${y + barH - 3}" fill="#b00">${xmlEscape(why)}</text>`);
      } else {
        const { median, min, max } = c.summary;
        const w = Math.max(1, x(median) - labelW);
        parts.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${color}"/>`);
        const wy = y + barH / 2;
        parts.push(
          `<line x1="${x(min).toFixed(1)}" y1="${wy}" x2="${x(max).toFixed(1)}" y2="${wy}" stroke="#000" stroke-width="1"/>`,
        );
        parts.push(
          `<text x="${labelW + plotW + 8}" y="${y + barH - 3}">${xmlEscape(formatMs(median))}</text>`,
        );
      }
      y += barH + gap;
    });
    y += groupGap;
  }
  // Axis with decades.
  const axisY = y;
  const axis: string[] = [
    `<line x1="${labelW}" y1="${top - 8}" x2="${labelW}" y2="${axisY}" stroke="#000"/>`,
  ];
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    const xx = x(d).toFixed(1);
    axis.push(`<line x1="${xx}" y1="${top - 8}" x2="${xx}" y2="${axisY}" stroke="#ddd"/>`);
    axis.push(`<text x="${xx}" y="${axisY + 16}" text-anchor="middle">${xmlEscape(formatMs(d))}</text>`);
  }
  const width = labelW + plotW + valueW;
  const height = axisY + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12" role="img">`,
    `<title>${xmlEscape(title)}: median wall time per workload and engine</title>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="8" y="22" font-size="15" font-weight="bold">${xmlEscape(title)}</text>`,
    `<text x="8" y="42" fill="#555">median wall time, log scale; whiskers: min–max; red: failed or not run</text>`,
    ...axis,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
