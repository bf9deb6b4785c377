import type { Result } from "./runner.js";
import type { Spread } from "./stats.js";

/** How to read the table, printed above it (and said again in bench/README.md). */
const LEGEND = [
  "value = median over the rounds, [min-max] beside it; a latency entry's value is its p50, its p99 is beside it.",
  "ratio = value / baseline value of the same round; its median over the rounds, [min-max] beside it.",
  "better=higher (throughput): ratio > 1 beats the baseline. better=lower (latency, memory): ratio < 1 does.",
].join("\n");

const PEERS_LEGEND = [
  "zmbox against the peers: ratio = zmbox value / peer value of the same round; median [min-max].",
  "Read it with better: for a latency a ratio below 1 means zmbox is faster, for a throughput above 1.",
].join("\n");

/** A number for people: thousands separated, fewer decimals the larger it is. */
function formatNumber(n: number): string {
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 3;
  return n.toLocaleString("en-US", { maximumFractionDigits: digits });
}

/** `[min-max]`, or nothing for a single round. */
function range(s: Spread | null | undefined): string {
  if (s === null || s === undefined || s.perRound.length < 2) return "";
  return `[${formatNumber(s.min)}-${formatNumber(s.max)}]`;
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

/** Aligned columns; `right` lists the columns padded on the left (numbers). */
function columns(header: readonly string[], rows: readonly string[][], right: readonly number[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (right.includes(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The human report: the legend, one aligned row per result, then zmbox against the peers. */
export function formatTable(results: readonly Result[]): string {
  const dash = (n: number | null | undefined): string => (n === null || n === undefined ? "-" : formatNumber(n));
  const rows = results.map((r) => [
    r.name,
    r.skipped !== undefined ? "SKIPPED" : r.value === null ? "FAILED" : dash(r.value),
    range(r.spread),
    r.unit,
    r.p99 === undefined ? "" : `${dash(r.p99.median)} ${range(r.p99)}`.trimEnd(),
    r.better,
    r.baseline ?? "-",
    dash(r.baselineValue),
    dash(r.ratio),
    range(r.ratioSpread),
    r.skipped ?? [r.error === undefined ? "" : `ERROR ${r.error}`, ...(r.extra === undefined ? [] : formatExtra(r.extra))].join(" ").trim(),
  ]);
  const header = ["name", "value", "range", "unit", "p99", "better", "baseline", "baseline value", "ratio", "ratio range", "extra"];
  const rounds = results[0]?.rounds ?? 0;
  const out = [`${rounds} round${rounds === 1 ? "" : "s"}.`, LEGEND, "", ...columns(header, rows, [1, 4, 7, 8])];
  const peers = results.filter((r) => r.versus !== undefined);
  if (peers.length > 0) {
    const peerRows = peers.map((r) => [
      r.versus!.entry,
      dash(r.versus!.entryValue),
      r.name,
      r.skipped !== undefined ? "SKIPPED" : dash(r.value),
      r.unit,
      r.better,
      dash(r.versus!.ratio),
      range(r.versus!.ratioSpread),
    ]);
    const peerHeader = ["zmbox entry", "zmbox", "peer entry", "peer", "unit", "better", "zmbox/peer", "range"];
    out.push("", PEERS_LEGEND, "", ...columns(peerHeader, peerRows, [1, 3, 6]));
  }
  return out.join("\n");
}
