/**
 * `@zmbox/twopc/trace`: pictures of a 2PC run. Nodes traced with their `trace` option (or the
 * simulator's `onTrace`) report `TraceEvent`s; `renderSvg` and `renderMermaid` draw them as a
 * sequence diagram, a lane per node; `readTraces` reads the nodes' JSON-lines files back (what
 * the `twopc-trace` CLI does).
 */
export { TraceKind } from "./trace/events.js";
export type { TraceEvent, TraceSink } from "./trace/events.js";
export { renderMermaid } from "./trace/mermaid.js";
export { renderSvg } from "./trace/svg.js";
export { checkTraceEvents } from "./trace/model.js";
export type { RenderOptions } from "./trace/model.js";
export { parseTraceLines, readTraces } from "./trace/read.js";
export type { ReadTraces } from "./trace/read.js";
