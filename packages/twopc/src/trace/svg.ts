/**
 * A run as a self-contained SVG, the way textbooks draw 2PC: a lane per node, time going down,
 * an arrow per message, marks for forced log writes (a disk, and a bar until the write is
 * durable), timeouts (a clock), crashes (a red cross), restarts and outcomes.
 *
 * Time is scaled (`PX_PER_MS`), but every drawn event also gets a row of its own, so that
 * events of the same millisecond do not overlap; an idle gap longer than `MAX_GAP_PX` worth is
 * compressed and marked with its length.
 */
import { TraceKind, type TraceEvent } from "./events.js";
import { buildDiagram, noteText, withTx, type Diagram, type RenderOptions } from "./model.js";

const LANE_W = 240;
const LEFT = 90;
const TOP = 70;
const ROW_NOTE = 16;
const ROW_ARROW = 12;
const PX_PER_MS = 1.5;
const MAX_GAP_PX = 36;
const FONT = `font-family="Helvetica, Arial, sans-serif"`;

const MESSAGE_COLORS: Readonly<Record<string, string>> = {
  "VOTE-REQ": "#1f2937",
  "VOTE-COMMIT": "#15803d",
  "VOTE-READONLY": "#6b7280",
  "VOTE-ABORT": "#b91c1c",
  "GLOBAL-COMMIT": "#15803d",
  "GLOBAL-ABORT": "#b91c1c",
  ACK: "#6b7280",
  "DECISION-REQ": "#1d4ed8",
  DECISION: "#1d4ed8",
};

const esc = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (n: number): string => String(Math.round(n * 10) / 10);
/** Helvetica at 11px, roughly: wide enough for a label's background. */
const textWidth = (text: string, size = 11): number => text.length * size * 0.58 + 6;

/** Whether an event takes a row of the picture (timer settings and resource-manager calls do not). */
function drawn(e: TraceEvent): boolean {
  return e.kind !== TraceKind.TimerSet && e.kind !== TraceKind.RmCall;
}

/**
 * Renders trace events (of any nodes, in any order) as a self-contained SVG document (no
 * external fonts or scripts). Readable for a few transactions on a few nodes; pass `txIds` to
 * draw some transactions of a longer run.
 * @throws InvalidArgumentError for events or options that are not what they should be.
 * @example
 * writeFileSync("run.svg", renderSvg(events))
 */
export function renderSvg(events: readonly TraceEvent[], options?: RenderOptions): string {
  const d = buildDiagram(events, options);
  const laneX = (node: string): number => LEFT + LANE_W / 2 + d.laneOf.get(node)!.index * LANE_W;
  const width = LEFT + Math.max(1, d.lanes.length) * LANE_W + 20;

  // Rows: y of each event, and the compressed gaps.
  const ys: number[] = [];
  const gaps: { y: number; ms: number }[] = [];
  let y = TOP;
  let last: number | undefined;
  d.events.forEach((e, i) => {
    if (last !== undefined) {
      const dt = e.t - last;
      if (dt * PX_PER_MS > MAX_GAP_PX) {
        gaps.push({ y: y + MAX_GAP_PX / 2 + 4, ms: dt });
        y += MAX_GAP_PX;
      } else {
        y += dt * PX_PER_MS;
      }
    }
    last = e.t;
    if (drawn(e)) y += e.kind === TraceKind.Send || e.kind === TraceKind.Receive || e.kind === TraceKind.Durable ? ROW_ARROW : ROW_NOTE;
    ys[i] = y;
  });
  const bottom = y + 30;
  const legendY = bottom + 24;
  const height = legendY + 30;

  const out: string[] = [];
  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${num(width)}" height="${num(height)}" viewBox="0 0 ${num(width)} ${num(height)}">`);
  out.push(`<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);

  // Lanes: header, and a lifeline solid while the node is up, dotted while it is down.
  for (const lane of d.lanes) {
    const x = laneX(lane.node);
    const w = Math.min(LANE_W - 16, Math.max(60, textWidth(lane.label, 13)));
    out.push(`<rect x="${num(x - w / 2)}" y="16" width="${num(w)}" height="26" rx="4" fill="#eef2ff" stroke="#4338ca"/>`);
    out.push(`<text x="${num(x)}" y="34" text-anchor="middle" font-size="13" font-weight="bold" ${FONT}>${esc(lane.label)}</text>`);
    for (const [from, to, up] of lifeline(d, lane.node, ys, bottom)) {
      out.push(`<line x1="${num(x)}" y1="${num(from)}" x2="${num(x)}" y2="${num(to)}" stroke="${up ? "#9ca3af" : "#d1d5db"}" stroke-width="${up ? 1.5 : 1}"${up ? "" : ` stroke-dasharray="2,4"`}/>`);
    }
  }

  // Compressed gaps.
  for (const gap of gaps) {
    out.push(`<line x1="${LEFT - 10}" y1="${num(gap.y)}" x2="${num(width - 10)}" y2="${num(gap.y)}" stroke="#e5e7eb" stroke-dasharray="6,4"/>`);
    out.push(`<text x="6" y="${num(gap.y + 4)}" font-size="10" fill="#9ca3af" ${FONT}>… ${esc(formatMs(gap.ms))} …</text>`);
  }

  // Time at the left, where it moved on.
  let labelled = -Infinity;
  let labelledT: number | undefined;
  const t0 = d.events[0]?.t ?? 0;
  d.events.forEach((e, i) => {
    if (!drawn(e) || ys[i]! - labelled < 14 || e.t === labelledT) return;
    labelled = ys[i]!;
    labelledT = e.t;
    out.push(`<text x="${LEFT - 16}" y="${num(ys[i]! + 4)}" text-anchor="end" font-size="10" fill="#9ca3af" ${FONT}>${esc(formatMs(e.t - t0))}</text>`);
  });

  // Forced writes: a bar on the lifeline from the append to its durable point.
  d.events.forEach((e, i) => {
    if (e.kind !== TraceKind.Append || e.forced !== true) return;
    // Its durable point, or the crash (or stop) that came first: then the write was lost.
    let j = i + 1;
    for (; j < d.events.length; j++) {
      const f = d.events[j]!;
      if (f.node !== e.node) continue;
      if (f.kind === TraceKind.Durable && f.tx === e.tx && f.record === e.record) break;
      if (f.kind === TraceKind.Crash || f.kind === TraceKind.Stop || f.kind === TraceKind.Start) {
        j = -j - 1;
        break;
      }
    }
    const lost = j < 0;
    if (lost) j = -j - 1;
    if (j >= d.events.length) j = -1;
    const end = j >= 0 ? ys[j]! : ys[i]! + 6;
    out.push(`<rect x="${num(laneX(e.node) - 3)}" y="${num(ys[i]!)}" width="6" height="${num(Math.max(3, end - ys[i]!))}" fill="#6366f1" opacity="${lost ? 0.2 : 0.45}"><title>${esc(`${e.record ?? ""} ${lost ? "forced, lost in a crash before it was durable" : `forced, durable after ${formatMs(j >= 0 ? d.events[j]!.t - e.t : 0)}`}`)}</title></rect>`);
  });

  // Messages.
  for (const m of d.messages) {
    const x1 = laneX(m.from);
    const x2 = laneX(m.to);
    const color = MESSAGE_COLORS[m.msg] ?? "#1f2937";
    const label = withTx(d, m.label, m.tx);
    if (m.receive === undefined) {
      // Lost: a dashed arrow that stops short with a red cross.
      const y1 = ys[m.send!]!;
      const xe = x1 + (x2 - x1) * 0.6;
      const ye = y1 + 10;
      out.push(`<line x1="${num(x1)}" y1="${num(y1)}" x2="${num(xe)}" y2="${num(ye)}" stroke="${color}" stroke-width="1.3" stroke-dasharray="5,3"/>`);
      out.push(cross(xe, ye, 4, "#dc2626", 1.8));
      out.push(arrowLabel((x1 + xe) / 2, (y1 + ye) / 2, `${label} (lost)`, color));
      continue;
    }
    const y2 = ys[m.receive]!;
    const y1 = m.send === undefined ? y2 : ys[m.send]!;
    const dir = x2 >= x1 ? 1 : -1;
    out.push(`<line x1="${num(x1)}" y1="${num(y1)}" x2="${num(x2 - dir * 2)}" y2="${num(y2)}" stroke="${color}" stroke-width="1.3" marker-end="url(#head)"/>`);
    out.push(arrowLabel((x1 + x2) / 2, (y1 + y2) / 2, label, color));
  }

  // Marks and notes.
  d.events.forEach((e, i) => {
    const text = noteText(d, e);
    if (text === undefined) return;
    const x = laneX(e.node);
    const yy = ys[i]!;
    let color = "#374151";
    let weight = "normal";
    switch (e.kind) {
      case TraceKind.Append:
        out.push(e.forced === true ? disk(x - 16, yy) : `<rect x="${num(x - 19)}" y="${num(yy - 4)}" width="7" height="7" fill="none" stroke="#9ca3af"/>`);
        if (e.forced !== true) color = "#9ca3af";
        break;
      case TraceKind.Timeout:
        out.push(clock(x - 16, yy));
        color = "#b45309";
        break;
      case TraceKind.Crash:
        out.push(cross(x, yy, 7, "#dc2626", 3));
        color = "#dc2626";
        weight = "bold";
        break;
      case TraceKind.Start:
        out.push(`<path d="M${num(x - 21)},${num(yy - 5)} L${num(x - 12)},${num(yy)} L${num(x - 21)},${num(yy + 5)} z" fill="#16a34a"/>`);
        color = "#15803d";
        weight = "bold";
        break;
      case TraceKind.Recovered:
        color = "#15803d";
        break;
      case TraceKind.Stop:
        out.push(`<line x1="${num(x - 8)}" y1="${num(yy)}" x2="${num(x + 8)}" y2="${num(yy)}" stroke="#374151" stroke-width="3"/>`);
        color = "#6b7280";
        break;
      case TraceKind.Outcome: {
        const fill = e.committed === true ? "#dcfce7" : "#fee2e2";
        const stroke = e.committed === true ? "#15803d" : "#b91c1c";
        out.push(`<rect x="${num(x + 6)}" y="${num(yy - 10)}" width="${num(textWidth(text) + 4)}" height="15" rx="3" fill="${fill}" stroke="${stroke}"/>`);
        color = stroke;
        weight = "bold";
        break;
      }
      case TraceKind.RmResult:
        color = "#7c3aed";
        break;
      default:
        break;
    }
    out.push(`<text x="${num(x + 9)}" y="${num(yy + 1)}" font-size="11" font-weight="${weight}" fill="${color}" ${FONT}>${esc(text)}</text>`);
  });

  // Legend.
  let lx = 12;
  const item = (mark: string, text: string): void => {
    out.push(mark);
    out.push(`<text x="${num(lx + 14)}" y="${num(legendY + 4)}" font-size="10" fill="#4b5563" ${FONT}>${esc(text)}</text>`);
    lx += 24 + textWidth(text, 10);
  };
  item(disk(lx + 4, legendY), "forced log write");
  item(`<rect x="${num(lx + 1)}" y="${num(legendY - 6)}" width="6" height="12" fill="#6366f1" opacity="0.45"/>`, "until durable");
  item(clock(lx + 4, legendY), "timeout");
  item(cross(lx + 4, legendY, 5, "#dc2626", 2.5), "crash");
  item(`<line x1="${num(lx - 4)}" y1="${num(legendY)}" x2="${num(lx + 6)}" y2="${num(legendY)}" stroke="#1f2937" stroke-dasharray="3,2"/>` + cross(lx + 8, legendY, 3, "#dc2626", 1.5), "lost message");
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** A node's lifeline: [from, to, up] segments, up from a start (or its first event) to a stop or crash. */
function lifeline(d: Diagram, node: string, ys: readonly number[], bottom: number): [number, number, boolean][] {
  const segments: [number, number, boolean][] = [];
  let from = 50;
  let up: boolean | undefined;
  d.events.forEach((e, i) => {
    if (e.node !== node) return;
    const nowUp = e.kind !== TraceKind.Crash && e.kind !== TraceKind.Stop;
    if (up === undefined) {
      // Before its first event a node that starts is down; one traced from the middle was up.
      up = e.kind !== TraceKind.Start;
      if (up) return;
    }
    if (nowUp !== up) {
      segments.push([from, ys[i]!, up]);
      from = ys[i]!;
      up = nowUp;
    }
  });
  segments.push([from, bottom, up ?? true]);
  return segments;
}

function arrowLabel(x: number, y: number, text: string, color: string): string {
  const w = textWidth(text, 10);
  return `<rect x="${num(x - w / 2)}" y="${num(y - 12)}" width="${num(w)}" height="12" fill="#ffffff" opacity="0.85"/><text x="${num(x)}" y="${num(y - 2.5)}" text-anchor="middle" font-size="10" fill="${color}" ${FONT}>${esc(text)}</text>`;
}

function cross(x: number, y: number, r: number, color: string, width: number): string {
  return `<path d="M${num(x - r)},${num(y - r)} L${num(x + r)},${num(y + r)} M${num(x + r)},${num(y - r)} L${num(x - r)},${num(y + r)}" stroke="${color}" stroke-width="${width}" stroke-linecap="round"/>`;
}

/** A small disk (a cylinder), centred at x, y. */
function disk(x: number, y: number): string {
  return `<g fill="#c7d2fe" stroke="#4338ca" stroke-width="1"><path d="M${num(x - 5)},${num(y - 4)} v8 a5,2 0 0 0 10,0 v-8"/><ellipse cx="${num(x)}" cy="${num(y - 4)}" rx="5" ry="2"/></g>`;
}

/** A small clock, centred at x, y. */
function clock(x: number, y: number): string {
  return `<g stroke="#b45309" fill="#fef3c7" stroke-width="1.2"><circle cx="${num(x)}" cy="${num(y)}" r="5.5"/><path d="M${num(x)},${num(y)} v-3.5 M${num(x)},${num(y)} h3" fill="none"/></g>`;
}

function formatMs(ms: number): string {
  if (ms >= 10_000) return `${num(ms / 1000)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  return `${num(ms)} ms`;
}
