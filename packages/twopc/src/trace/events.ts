/**
 * What a traced 2PC node reports: one `TraceEvent` per thing that happened to it, with the time
 * of its driver's clock. Nodes give them to a `TraceSink` (a function, or a JSON-lines file per
 * node, see file.ts); `renderMermaid` and `renderSvg` draw them.
 */
import type { TimerName } from "../protocol/events.js";
import type { MessageType } from "../protocol/messages.js";
import type { RecordType } from "../protocol/records.js";
import type { NodeId, TxId } from "../protocol/types.js";

/** The kinds of trace event. */
export const TraceKind = {
  /** The node started (opened its log) and recovered `records` records; `recovered` events follow. */
  Start: "start",
  /** Recovery found transaction `tx` in `phase`. */
  Recovered: "recovered",
  /** The application began `tx` (coordinator). */
  Begin: "begin",
  /** The application joined `tx` ahead of its VOTE-REQ (participant). */
  Join: "join",
  /** The node sent `msg` of `tx` to `peer`. */
  Send: "send",
  /** The node received `msg` of `tx` from `peer`. */
  Receive: "receive",
  /** The node appended `record` of `tx`, `forced` (durable before anything that depends on it) or not. */
  Append: "append",
  /** The forced `record` of `tx` is on stable storage (the durable point). */
  Durable: "durable",
  /** A timer of `tx` was set to fire in `ms`. */
  TimerSet: "timer-set",
  /** A timer of `tx` fired. */
  Timeout: "timeout",
  /** The node called its resource manager's `call` for `tx`. */
  RmCall: "rm-call",
  /** The resource manager answered: `result` is the vote, `committed`/`aborted`, or `failed` (retried). */
  RmResult: "rm-result",
  /** The coordinator's outcome of `tx`: `committed`, for `reason`. */
  Outcome: "outcome",
  /** The node stopped: closed, or failed (`error` says why). */
  Stop: "stop",
  /**
   * The node crashed. A process cannot trace its own crash: the simulator reports these, and the
   * renderers infer one (with `inferred: true`) from a `start` after events without a `stop`.
   */
  Crash: "crash",
} as const;
export type TraceKind = (typeof TraceKind)[keyof typeof TraceKind];

/** One thing that happened at one node. Fields other than `t`, `node` and `kind` appear where they apply. */
export interface TraceEvent {
  /** When, in ms of the node's clock: epoch ms for real nodes, virtual ms in the simulator. */
  readonly t: number;
  /** The node's id (its mailbox address). */
  readonly node: NodeId;
  readonly kind: TraceKind;
  readonly tx?: TxId;
  /** The message type (`send`, `receive`). */
  readonly msg?: MessageType;
  /** A DECISION message's decision (`send`, `receive`). */
  readonly decision?: string;
  /** The other end of a message (`send`: the receiver, `receive`: the sender). */
  readonly peer?: NodeId;
  /** The record type (`append`, `durable`). */
  readonly record?: RecordType;
  /** Whether an `append` is forced. */
  readonly forced?: boolean;
  /** The timer (`timer-set`, `timeout`). */
  readonly timer?: TimerName;
  /** A `timer-set`'s delay, in ms. */
  readonly ms?: number;
  /** The resource-manager call (`rm-call`, `rm-result`). */
  readonly call?: "prepare" | "commit" | "abort";
  /** What the resource manager answered (`rm-result`). */
  readonly result?: string;
  /** An `outcome`'s decision. */
  readonly committed?: boolean;
  /** An `outcome`'s reason (see `OutcomeReason`). */
  readonly reason?: string;
  /** Where recovery found a transaction (`recovered`). */
  readonly phase?: string;
  /** How many log records a `start` recovered. */
  readonly records?: number;
  /** Why a node stopped (`stop`). */
  readonly error?: string;
  /** A `crash` the renderer inferred rather than one reported. */
  readonly inferred?: boolean;
}

/** Receives a node's trace events, in the order they happen. It must not throw (what it throws is ignored). */
export type TraceSink = (event: TraceEvent) => void;
