/**
 * What both renderers draw, worked out once from trace events: the events in time order (the
 * ones of the chosen transactions, with inferred crashes added), one lane per node, and each
 * message matched from its send to its receive.
 *
 *   c            w1           w2
 *   |--VOTE-REQ->|            |      a send and its receive: same tx, type, sender and receiver
 *   |--VOTE-REQ---------x     |      a send never received: lost
 *   |            X crash      |      a start after events without a stop: a crash, inferred
 */
import { InvalidArgumentError } from "@zmbox/mailbox";
import type { NodeId, TxId } from "../protocol/types.js";
import { TraceKind, type TraceEvent } from "./events.js";

/** Options of `renderSvg` and `renderMermaid`. */
export interface RenderOptions {
  /**
   * Draw only these transactions (and the nodes' starts, stops and crashes).
   * @default every transaction
   */
  readonly txIds?: readonly TxId[];
}

/** @internal One node's lane. */
export interface Lane {
  readonly node: NodeId;
  /** What the lane is titled: the mailbox name when it tells the nodes apart, else the address. */
  readonly label: string;
  readonly index: number;
}

/** @internal One message: indexes into `Diagram.events` of its send and its receive (either may be missing). */
export interface DiagramMessage {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly tx: TxId;
  readonly msg: string;
  /** The message type, and a DECISION's decision. */
  readonly label: string;
  readonly send: number | undefined;
  readonly receive: number | undefined;
}

/** @internal A run, ready to draw. */
export interface Diagram {
  /** In time order; a node's events keep the order it traced them in. */
  readonly events: readonly TraceEvent[];
  readonly lanes: readonly Lane[];
  readonly laneOf: ReadonlyMap<NodeId, Lane>;
  readonly messages: readonly DiagramMessage[];
  /** The message whose send or receive each event is, by event index. */
  readonly messageAt: ReadonlyMap<number, DiagramMessage>;
  /** Whether the run shows more than one transaction (then labels name theirs). */
  readonly multiTx: boolean;
}

const KINDS: ReadonlySet<string> = new Set(Object.values(TraceKind));

const describe = (value: unknown): string => `\`${typeof value === "string" ? value : JSON.stringify(value) ?? String(value)}\` (${value === null ? "null" : typeof value})`;

/**
 * Throws unless `events` is an array of trace events (`t` a finite number, `node` a string,
 * `kind` a `TraceKind`), naming the first that is not.
 */
export function checkTraceEvents(events: unknown): asserts events is readonly TraceEvent[] {
  if (!Array.isArray(events)) throw new InvalidArgumentError(`Expected \`events\` to be an array of trace events, got ${describe(events)}`);
  events.forEach((e: unknown, i) => {
    if (typeof e !== "object" || e === null) throw new InvalidArgumentError(`Expected \`events[${i}]\` to be a trace event object, got ${describe(e)}`);
    const o = e as Record<string, unknown>;
    if (typeof o.t !== "number" || !Number.isFinite(o.t)) throw new InvalidArgumentError(`Expected \`events[${i}].t\` to be a finite number, got ${describe(o.t)}`);
    if (typeof o.node !== "string" || o.node === "") throw new InvalidArgumentError(`Expected \`events[${i}].node\` to be a node id, got ${describe(o.node)}`);
    if (typeof o.kind !== "string" || !KINDS.has(o.kind)) throw new InvalidArgumentError(`Expected \`events[${i}].kind\` to be one of ${[...KINDS].join(", ")}, got ${describe(o.kind)}`);
    if (o.tx !== undefined && typeof o.tx !== "string") throw new InvalidArgumentError(`Expected \`events[${i}].tx\` to be a transaction id, got ${describe(o.tx)}`);
    if (o.peer !== undefined && typeof o.peer !== "string") throw new InvalidArgumentError(`Expected \`events[${i}].peer\` to be a node id, got ${describe(o.peer)}`);
  });
}

function checkOptions(options: unknown): ReadonlySet<TxId> | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null) throw new InvalidArgumentError(`Expected render options to be an object, got ${describe(options)}`);
  const txIds = (options as RenderOptions).txIds;
  if (txIds === undefined) return undefined;
  if (!Array.isArray(txIds) || txIds.some((id) => typeof id !== "string")) {
    throw new InvalidArgumentError(`Expected \`txIds\` to be an array of transaction ids, got ${describe(txIds)}`);
  }
  return new Set(txIds);
}

/** @internal Works out what to draw. @throws InvalidArgumentError for events or options that are not what they should be. */
export function buildDiagram(events: readonly TraceEvent[], options?: RenderOptions): Diagram {
  checkTraceEvents(events);
  const only = checkOptions(options);
  // Array.prototype.sort is stable: a node's events at the same time stay in its order.
  const sorted = [...events].sort((a, b) => a.t - b.t);
  const out: TraceEvent[] = [];
  // A node is up from its start (or first event) to its stop or crash.
  const up = new Map<NodeId, boolean>();
  for (const e of sorted) {
    if (only !== undefined && e.tx !== undefined && !only.has(e.tx)) continue;
    const wasUp = up.get(e.node);
    switch (e.kind) {
      case TraceKind.Start:
        // A process cannot trace its own crash: a start after events without a stop shows one.
        if (wasUp === true) out.push({ t: e.t, node: e.node, kind: TraceKind.Crash, inferred: true });
        up.set(e.node, true);
        break;
      case TraceKind.Crash:
        if (wasUp === false) continue;
        up.set(e.node, false);
        break;
      case TraceKind.Stop:
        // The simulator stops a crashed node's driver: the crash said it all.
        if (wasUp === false) continue;
        up.set(e.node, false);
        break;
      default:
        if (wasUp === undefined) up.set(e.node, true);
    }
    out.push(e);
  }

  // Lanes: coordinators (who begin transactions or ask for votes) first, then by first appearance.
  const nodes: NodeId[] = [];
  const coordinators = new Set<NodeId>();
  for (const e of out) {
    if (e.kind === TraceKind.Begin || (e.kind === TraceKind.Send && e.msg === "VOTE-REQ")) coordinators.add(e.node);
  }
  for (const e of out) {
    if (!nodes.includes(e.node)) nodes.push(e.node);
  }
  for (const e of out) {
    if (e.peer !== undefined && (e.kind === TraceKind.Send || e.kind === TraceKind.Receive) && !nodes.includes(e.peer)) nodes.push(e.peer);
  }
  // Participants by name (w1, w2, ..., w10), whatever order they started in.
  const byName = (a: string, b: string): number => a.localeCompare(b, "en", { numeric: true });
  const ordered = [...nodes.filter((n) => coordinators.has(n)), ...nodes.filter((n) => !coordinators.has(n)).sort(byName)];
  const names = ordered.map((n) => (n.indexOf("@") > 0 ? n.slice(0, n.indexOf("@")) : n));
  const unique = new Set(names).size === names.length;
  const lanes = ordered.map((node, index) => ({ node, label: unique ? names[index]! : node, index }));
  const laneOf = new Map(lanes.map((l) => [l.node, l]));

  // Messages: each receive takes the earliest unmatched send of the same tx, type, sender and receiver.
  const messages: DiagramMessage[] = [];
  const messageAt = new Map<number, DiagramMessage>();
  const unmatched = new Map<string, { message: DiagramMessage; index: number }[]>();
  out.forEach((e, i) => {
    if (e.kind !== TraceKind.Send || e.peer === undefined) return;
    const message: DiagramMessage = { from: e.node, to: e.peer, tx: e.tx ?? "", msg: e.msg ?? "?", label: messageLabel(e), send: i, receive: undefined };
    messages.push(message);
    messageAt.set(i, message);
    const key = `${message.tx}\u0000${message.msg}\u0000${message.from}\u0000${message.to}`;
    let queue = unmatched.get(key);
    if (queue === undefined) unmatched.set(key, (queue = []));
    queue.push({ message, index: messages.length - 1 });
  });
  out.forEach((e, i) => {
    if (e.kind !== TraceKind.Receive || e.peer === undefined) return;
    const key = `${e.tx ?? ""}\u0000${e.msg ?? "?"}\u0000${e.peer}\u0000${e.node}`;
    const sent = unmatched.get(key)?.shift();
    let message: DiagramMessage;
    if (sent !== undefined) {
      message = { ...sent.message, receive: i };
      messages[sent.index] = message;
      messageAt.set(message.send!, message);
    } else {
      // The sender was not traced (or its tail was lost): the arrow starts at the receive.
      message = { from: e.peer, to: e.node, tx: e.tx ?? "", msg: e.msg ?? "?", label: messageLabel(e), send: undefined, receive: i };
      messages.push(message);
    }
    messageAt.set(i, message);
  });
  const txs = new Set(out.filter((e) => e.tx !== undefined).map((e) => e.tx));
  return { events: out, lanes, laneOf, messages, messageAt, multiTx: txs.size > 1 };
}

function messageLabel(e: TraceEvent): string {
  return e.decision === undefined ? e.msg ?? "?" : `${e.msg ?? "?"} ${e.decision}`;
}

/** @internal `label` with the transaction id when the picture shows several. */
export function withTx(diagram: Diagram, label: string, tx: TxId | undefined): string {
  return diagram.multiTx && tx !== undefined && tx !== "" ? `${label} ${tx}` : label;
}

/** @internal What a note on a node's lane says for `e`, or `undefined` when the event draws no note. */
export function noteText(diagram: Diagram, e: TraceEvent): string | undefined {
  switch (e.kind) {
    case TraceKind.Start:
      return `start: ${e.records ?? 0} log records`;
    case TraceKind.Recovered:
      return `recovered ${e.tx ?? "?"}: ${e.phase ?? "?"}`;
    case TraceKind.Begin:
      return `begin ${e.tx ?? "?"}`;
    case TraceKind.Join:
      return `join ${e.tx ?? "?"}`;
    case TraceKind.Append:
      return withTx(diagram, `${e.forced === true ? "force" : "log"} ${e.record ?? "?"}`, e.tx);
    case TraceKind.Timeout:
      return withTx(diagram, `timeout: ${e.timer ?? "?"}`, e.tx);
    case TraceKind.RmResult:
      return withTx(diagram, e.call === "prepare" ? `rm prepare: ${e.result ?? "?"}` : e.result === "failed" ? `rm ${e.call ?? "?"} failed, retry` : `rm ${e.call ?? "?"} done`, e.tx);
    case TraceKind.Outcome:
      return `${e.committed === true ? "COMMITTED" : "ABORTED"} ${e.tx ?? "?"}${e.reason === undefined ? "" : ` (${e.reason})`}`;
    case TraceKind.Stop:
      return `stop${e.error === undefined ? "" : `: ${e.error}`}`;
    case TraceKind.Crash:
      return e.inferred === true ? "CRASH (inferred: restarted without a stop)" : "CRASH";
    case TraceKind.Send:
    case TraceKind.Receive:
    case TraceKind.Durable:
    case TraceKind.TimerSet:
    case TraceKind.RmCall:
      return undefined;
    default:
      throw new Error(`unhandled trace event ${JSON.stringify(e.kind satisfies never)}`);
  }
}
