import type { Result } from "./runner.js";

/** How to read a ratio, printed above the table (and said again in bench/README.md). */
const RATIO_LEGEND = [
  "ratio = value / baseline value, both measured in this run.",
  "better=higher (throughput): ratio > 1 beats the baseline. better=lower (latency, memory): ratio < 1 does.",
].join("\n");

/** A number for people: thousands separated, fewer decimals the larger it is. */
function formatNumber(n: number): string {
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 3;
  return n.toLocaleString("en-US", { maximumFractionDigits: digits });
}

/** `extra` as `key=value` pairs, one level of nesting flattened with dots. */
function formatExtra(extra: Readonly<Record<string, unknown>>, prefix = ""): string[] {
  return Object.entries(extra).flatMap(([key, v]) => {
    if (typeof v === "number") return [`${prefix}${key}=${formatNumber(v)}`];
    if (typeof v === "object" && v !== null && prefix === "") {
      return formatExtra(v as Record<string, unknown>, `${key}.`);
    }
    return [`${prefix}${key}=${typeof v === "string" ? v : JSON.stringify(v)}`];
  });
}

/** The human report: the ratio legend, then one aligned row per result. */
export function formatTable(results: readonly Result[]): string {
  const header = ["name", "value", "unit", "better", "baseline", "baseline value", "ratio", "extra"];
  const dash = (n: number | null): string => (n === null ? "-" : formatNumber(n));
  const rows = results.map((r) => [
    r.name,
    r.error === undefined ? dash(r.value) : "FAILED",
    r.unit,
    r.better,
    r.baseline ?? "-",
    dash(r.baselineValue),
    dash(r.ratio),
    r.error ?? (r.extra === undefined ? "" : formatExtra(r.extra).join(" ")),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 1 || i === 5 || i === 6 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [RATIO_LEGEND, "", line(header), ...rows.map(line)].join("\n");
}
