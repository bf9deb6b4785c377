/**
 * Turning what the driver does into trace events. The driver calls these only when a trace port
 * is set (one `undefined` check per event or action otherwise), so nothing here runs, and
 * nothing is allocated, for an untraced node.
 */
import { ActionType, type TwopcAction } from "../protocol/actions.js";
import { EventType, type TwopcEvent } from "../protocol/events.js";
import { MessageType, type TwopcMessage } from "../protocol/messages.js";
import type { NodeId, TxId } from "../protocol/types.js";
import { TraceKind, type TraceEvent, type TraceSink } from "./events.js";

/** A driver's trace port: where its events go, and what to add to its clock's time. */
export interface TracePort {
  readonly sink: TraceSink;
  /**
   * Added to the driver clock's `now()`: `performance.timeOrigin` for the real nodes (whose
   * clock is `performance.now()`), so that traces of several processes merge; 0 in the simulator.
   */
  readonly origin: number;
}

/** Gives `event` to the port's sink; a sink that throws must not break the node. */
export function emit(port: TracePort, event: TraceEvent): void {
  try {
    port.sink(event);
  } catch {
    // A broken trace function loses its events, nothing else.
  }
}

const NO_FIELDS = {};
/** A DECISION message's decision, as trace-event fields. */
function decisionOf(msg: TwopcMessage): { decision?: string } {
  return msg.type === MessageType.Decision ? { decision: msg.decision } : NO_FIELDS;
}

/** An event fed to the machine. */
export function traceFed(port: TracePort, t: number, node: NodeId, event: TwopcEvent): void {
  switch (event.type) {
    case EventType.Begin:
      return emit(port, { t, node, kind: TraceKind.Begin, tx: event.txId });
    case EventType.Join:
      return emit(port, { t, node, kind: TraceKind.Join, tx: event.txId, peer: event.coordinator });
    case EventType.Receive:
      return emit(port, { t, node, kind: TraceKind.Receive, tx: event.msg.txId, msg: event.msg.type, peer: event.msg.from, ...decisionOf(event.msg) });
    case EventType.Timeout:
      return emit(port, { t, node, kind: TraceKind.Timeout, tx: event.txId, timer: event.timer });
    case EventType.Durable:
      return emit(port, { t, node, kind: TraceKind.Durable, tx: event.record.txId, record: event.record.type });
    case EventType.Prepared:
      return emit(port, { t, node, kind: TraceKind.RmResult, tx: event.txId, call: "prepare", result: event.vote });
    case EventType.Applied:
      return emit(port, { t, node, kind: TraceKind.RmResult, tx: event.txId, call: event.decision, result: event.decision === "commit" ? "committed" : "aborted" });
    default:
      throw new Error(`unhandled event ${JSON.stringify(event satisfies never)}`);
  }
}

/** An action the driver is about to carry out (clearing a timer is not traced). */
export function traceAction(port: TracePort, t: number, node: NodeId, action: TwopcAction): void {
  switch (action.type) {
    case ActionType.Append:
      return emit(port, { t, node, kind: TraceKind.Append, tx: action.record.txId, record: action.record.type, forced: action.force });
    case ActionType.Send:
      return emit(port, { t, node, kind: TraceKind.Send, tx: action.msg.txId, msg: action.msg.type, peer: action.to, ...decisionOf(action.msg) });
    case ActionType.SetTimer:
      return emit(port, { t, node, kind: TraceKind.TimerSet, tx: action.txId, timer: action.timer, ms: action.ms });
    case ActionType.ClearTimer:
      return;
    case ActionType.RmPrepare:
      return emit(port, { t, node, kind: TraceKind.RmCall, tx: action.txId, call: "prepare" });
    case ActionType.RmCommit:
      return emit(port, { t, node, kind: TraceKind.RmCall, tx: action.txId, call: "commit" });
    case ActionType.RmAbort:
      return emit(port, { t, node, kind: TraceKind.RmCall, tx: action.txId, call: "abort" });
    case ActionType.Outcome:
      return emit(port, { t, node, kind: TraceKind.Outcome, tx: action.txId, committed: action.committed, reason: action.reason });
    default:
      throw new Error(`unhandled action ${JSON.stringify(action satisfies never)}`);
  }
}

/** The node started: its log gave `records` records, and recovery holds `found` transactions. */
export function traceStart(port: TracePort, t: number, node: NodeId, records: number, found: Iterable<{ readonly txId: TxId; readonly phase: string }>): void {
  emit(port, { t, node, kind: TraceKind.Start, records });
  for (const tx of found) emit(port, { t, node, kind: TraceKind.Recovered, tx: tx.txId, phase: tx.phase });
}
