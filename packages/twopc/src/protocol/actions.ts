import type { TimerName } from "./events.js";
import type { TwopcMessage } from "./messages.js";
import type { TwopcRecord } from "./records.js";
import type { NodeId, TxId } from "./types.js";

export const ActionType = {
  Append: "append",
  Send: "send",
  SetTimer: "set-timer",
  ClearTimer: "clear-timer",
  RmPrepare: "rm-prepare",
  RmCommit: "rm-commit",
  RmAbort: "rm-abort",
  Outcome: "outcome",
} as const;
export type ActionType = (typeof ActionType)[keyof typeof ActionType];

/**
 * Append a record to the stable log, in action order. With `force`, the driver feeds a
 * `durable` event once the log has synced it; nothing that depends on the record is emitted
 * before that event, so a driver cannot send too early.
 */
export interface AppendAction {
  readonly type: typeof ActionType.Append;
  readonly record: TwopcRecord;
  readonly force: boolean;
}
/** Send a message. Best effort: it may be lost, duplicated or reordered. */
export interface SendAction {
  readonly type: typeof ActionType.Send;
  readonly to: NodeId;
  readonly msg: TwopcMessage;
}
/** (Re)arm the timer `(txId, timer)`, replacing one already set. */
export interface SetTimerAction {
  readonly type: typeof ActionType.SetTimer;
  readonly txId: TxId;
  readonly timer: TimerName;
  readonly ms: number;
}
export interface ClearTimerAction {
  readonly type: typeof ActionType.ClearTimer;
  readonly txId: TxId;
  readonly timer: TimerName;
}
/** Participant: ask the resource manager to prepare; answer with a `prepared` event. */
export interface RmPrepareAction {
  readonly type: typeof ActionType.RmPrepare;
  readonly txId: TxId;
  readonly payload: unknown;
}
/** Participant: make the transaction's effects permanent; answer with `applied`. Idempotent. */
export interface RmCommitAction {
  readonly type: typeof ActionType.RmCommit;
  readonly txId: TxId;
}
/** Participant: roll the transaction back; answer with `applied`. Idempotent, also for unknown ids. */
export interface RmAbortAction {
  readonly type: typeof ActionType.RmAbort;
  readonly txId: TxId;
}

/** Why a coordinator decided as it did. */
export const OutcomeReason = {
  AllVotedCommit: "all-voted-commit",
  AllReadOnly: "all-read-only",
  VotedAbort: "voted-abort",
  VoteTimeout: "vote-timeout",
  /** Restarted with the transaction in INIT/WAIT: the recovery table (docs/protocol.md) says abort. */
  RecoveredInWait: "recovered-in-wait",
  /** Restarted with COMMIT logged: the recovery table (docs/protocol.md) says commit (phase 2 resumes). */
  RecoveredInCommit: "recovered-in-commit",
} as const;
export type OutcomeReason = (typeof OutcomeReason)[keyof typeof OutcomeReason];

/** Coordinator: the decision is final (for commit: durable); resolve the caller's promise. */
export interface OutcomeAction {
  readonly type: typeof ActionType.Outcome;
  readonly txId: TxId;
  readonly committed: boolean;
  readonly reason: OutcomeReason;
  /** The participant that voted abort, for `voted-abort`. */
  readonly by?: NodeId;
  /** Why it voted abort, when its resource manager said (`"insufficient-funds"`, say). */
  readonly detail?: string;
}

export type TwopcAction =
  | AppendAction
  | SendAction
  | SetTimerAction
  | ClearTimerAction
  | RmPrepareAction
  | RmCommitAction
  | RmAbortAction
  | OutcomeAction;
