import type { TwopcMessage } from "./messages.js";
import type { TwopcRecord } from "./records.js";
import type { Decision, NodeId, TxId, Vote } from "./types.js";

/** The timers a machine sets; a driver keys them by `(txId, timer)`. */
export const TimerName = {
  /** Coordinator in WAIT: votes not all in -> GLOBAL-ABORT. */
  Vote: "vote",
  /** Coordinator in COMMIT: resend GLOBAL-COMMIT to participants that have not ACKed. */
  Resend: "resend",
  /** Participant in INIT after `join`: no VOTE-REQ in time -> abort. */
  Join: "join",
  /** Participant in READY: no decision yet -> ask the coordinator, then the peers. */
  Ask: "ask",
  /** Finished transaction remembered long enough to answer duplicates; then forgotten. */
  Forget: "forget",
} as const;
export type TimerName = (typeof TimerName)[keyof typeof TimerName];

export const EventType = {
  Begin: "begin",
  Join: "join",
  Receive: "receive",
  Timeout: "timeout",
  Durable: "durable",
  Prepared: "prepared",
  Applied: "applied",
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** Coordinator: start a transaction (the textbook "Recv: START"). */
export interface BeginEvent {
  readonly type: typeof EventType.Begin;
  readonly txId: TxId;
  /** The participants, distinct, at least one, not the coordinator itself. */
  readonly participants: readonly NodeId[];
  /** Sent to every participant in VOTE-REQ, for its resource manager's `prepare`. */
  readonly payload?: unknown;
  /** How long to wait for all votes; defaults to the machine's `voteTimeout`. */
  readonly timeout?: number;
  /**
   * The id is the caller's own, and may be offered again after a crash: COORD-START is forced,
   * and VOTE-REQ goes out only once it is durable. A restarted coordinator then knows every id
   * it ever asked a participant about, and can refuse to start one again (the same id started
   * twice could commit once and be aborted once). Ids the coordinator makes up are new in each
   * incarnation and need no force.
   */
  readonly durableStart?: boolean;
}

/**
 * Participant: the application started work for `txId` here before 2PC (optional). The participant then
 * knows the transaction in INIT and aborts it if no VOTE-REQ comes in time. Feed it at most once
 * per transaction, before its VOTE-REQ, and never after a restart (the work died with the
 * process): a joined participant is taken not to have voted, so it may abort when a peer asks.
 */
export interface JoinEvent {
  readonly type: typeof EventType.Join;
  readonly txId: TxId;
  readonly coordinator: NodeId;
  /** Defaults to the machine's `joinTimeout`. */
  readonly timeout?: number;
}

/** A message arrived (possibly late, duplicated or out of order). */
export interface ReceiveEvent {
  readonly type: typeof EventType.Receive;
  readonly msg: TwopcMessage;
}

/** A timer set by a `set-timer` action fired. Stale firings are harmless. */
export interface TimeoutEvent {
  readonly type: typeof EventType.Timeout;
  readonly txId: TxId;
  readonly timer: TimerName;
}

/** The log confirmed that a forced `append` (and so every record before it) is on stable storage. */
export interface DurableEvent {
  readonly type: typeof EventType.Durable;
  readonly record: TwopcRecord;
}

/** Participant: the resource manager's `prepare` answered. */
export interface PreparedEvent {
  readonly type: typeof EventType.Prepared;
  readonly txId: TxId;
  readonly vote: Vote;
  /** Why the resource manager voted abort, if it said; VOTE-ABORT carries it to the coordinator. */
  readonly reason?: string;
}

/** Participant: the resource manager applied `commit` or `abort`. */
export interface AppliedEvent {
  readonly type: typeof EventType.Applied;
  readonly txId: TxId;
  readonly decision: Decision;
}

export type CoordinatorEvent = BeginEvent | ReceiveEvent | TimeoutEvent | DurableEvent;
export type ParticipantEvent = JoinEvent | ReceiveEvent | TimeoutEvent | DurableEvent | PreparedEvent | AppliedEvent;
export type TwopcEvent = CoordinatorEvent | ParticipantEvent;

/** The transaction an event is about: machines keep state per transaction. */
export function eventTxId(event: TwopcEvent): TxId {
  switch (event.type) {
    case EventType.Receive:
      return event.msg.txId;
    case EventType.Durable:
      return event.record.txId;
    case EventType.Begin:
    case EventType.Join:
    case EventType.Timeout:
    case EventType.Prepared:
    case EventType.Applied:
      return event.txId;
    default:
      throw new Error(`unhandled event ${JSON.stringify(event satisfies never)}`);
  }
}
