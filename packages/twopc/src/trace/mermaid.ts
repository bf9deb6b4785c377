/**
 * A run as a Mermaid `sequenceDiagram`: a participant per node, an arrow per message (`-x` for
 * one never received), notes for log forces, timeouts, crashes, restarts, recovery and outcomes.
 */
import { TraceKind, type TraceEvent } from "./events.js";
import { buildDiagram, noteText, withTx, type RenderOptions } from "./model.js";

/** Mermaid reads `;` as a line end and `#` as an entity; a line end ends a statement. */
const clean = (text: string): string => text.replace(/[;#\r\n]/g, " ");

/**
 * Renders trace events (of any nodes, in any order) as a Mermaid `sequenceDiagram`, the text of
 * a `.mmd` file.
 * @throws InvalidArgumentError for events or options that are not what they should be.
 * @example
 * writeFileSync("run.mmd", renderMermaid(events, { txIds: ["tx1"] }))
 */
export function renderMermaid(events: readonly TraceEvent[], options?: RenderOptions): string {
  const diagram = buildDiagram(events, options);
  const id = (node: string): string => `n${diagram.laneOf.get(node)!.index}`;
  const lines = ["sequenceDiagram"];
  for (const lane of diagram.lanes) lines.push(`  participant ${id(lane.node)} as ${clean(lane.label)}`);
  diagram.events.forEach((e, i) => {
    if (e.kind === TraceKind.Send || e.kind === TraceKind.Receive) {
      const m = diagram.messageAt.get(i);
      if (m === undefined) return;
      // An arrow where the message leaves; one whose sender was not traced, where it arrived.
      if (e.kind === TraceKind.Receive && m.send !== undefined) return;
      const lost = m.receive === undefined;
      const label = withTx(diagram, m.label, m.tx) + (lost ? " (lost)" : "");
      lines.push(`  ${id(m.from)}${lost ? "-x" : "->>"}${id(m.to)}: ${clean(label)}`);
      return;
    }
    if (!MERMAID_NOTES.has(e.kind) || (e.kind === TraceKind.Append && e.forced !== true)) return;
    const text = noteText(diagram, e);
    if (text !== undefined) lines.push(`  Note over ${id(e.node)}: ${clean(text)}`);
  });
  return lines.join("\n") + "\n";
}

/** The notes a Mermaid diagram shows (it has no room for every log write and resource-manager call). */
const MERMAID_NOTES: ReadonlySet<string> = new Set([
  TraceKind.Start,
  TraceKind.Recovered,
  TraceKind.Begin,
  TraceKind.Append,
  TraceKind.Timeout,
  TraceKind.Outcome,
  TraceKind.Stop,
  TraceKind.Crash,
]);
