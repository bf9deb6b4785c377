/**
 * What the checkers hold the protocol to, shared by the simulator and the exhaustive checker:
 * a resource manager that remembers what it did (its state survives crashes, like a database),
 * and the atomicity invariants of the TLA+ TwoPhase spec.
 */
import { Vote, type NodeId } from "../protocol/types.js";

export const RmState = {
  Idle: "idle",
  Prepared: "prepared",
  ReadOnly: "read-only",
  Committed: "committed",
  Aborted: "aborted",
} as const;
export type RmState = (typeof RmState)[keyof typeof RmState];

/** The outcome of one resource-manager call: its new state and, if illegal, why. */
export interface RmStep {
  readonly state: RmState;
  readonly violation?: string;
}

/**
 * `prepare`: the first call votes `planned`; later calls repeat the vote (votes are sticky, and
 * once aborted the answer is abort), as the driver contract requires of a resource manager.
 */
export function rmPrepare(state: RmState, planned: Vote): RmStep & { readonly vote: Vote } {
  switch (state) {
    case RmState.Idle:
      return { state: planned === Vote.Commit ? RmState.Prepared : planned === Vote.ReadOnly ? RmState.ReadOnly : RmState.Aborted, vote: planned };
    case RmState.Prepared:
      return { state, vote: Vote.Commit };
    case RmState.ReadOnly:
      return { state, vote: Vote.ReadOnly };
    case RmState.Aborted:
      return { state, vote: Vote.Abort };
    case RmState.Committed:
      return { state, vote: Vote.Commit, violation: "prepare after commit (a finished transaction was taken for a new one)" };
    default:
      throw new Error(`unhandled rm state ${String(state satisfies never)}`);
  }
}

/** `commit`: legal only after a commit vote; idempotent. */
export function rmCommit(state: RmState): RmStep {
  if (state === RmState.Prepared || state === RmState.Committed) return { state: RmState.Committed };
  return { state, violation: `commit of a transaction the resource manager has ${state === RmState.Idle ? "never prepared" : state}` };
}

/** `abort`: legal unless committed; idempotent, also for a transaction never prepared. */
export function rmAbort(state: RmState): RmStep {
  if (state === RmState.Committed) return { state, violation: "abort after commit" };
  return { state: RmState.Aborted };
}

/** What has been observed of one transaction. */
export interface TxObservation {
  readonly participants: readonly NodeId[];
  /** Outcomes the coordinator reported (any incarnation). */
  readonly decided: { commit: boolean; abort: boolean };
  /** Each participant's resource-manager state. */
  readonly rm: ReadonlyMap<NodeId, RmState>;
}

/**
 * The safety invariants (TwoPhase's TCConsistent, plus "commit only if all voted yes"): no
 * participant committed while another aborted, the coordinator agrees with every participant,
 * and nothing is committed unless every participant voted commit or read-only.
 */
export function atomicityViolation(tx: TxObservation): string | undefined {
  const committed: NodeId[] = [];
  const aborted: NodeId[] = [];
  for (const p of tx.participants) {
    const state = tx.rm.get(p) ?? RmState.Idle;
    if (state === RmState.Committed) committed.push(p);
    if (state === RmState.Aborted) aborted.push(p);
  }
  if (tx.decided.commit && tx.decided.abort) return "the coordinator reported both commit and abort";
  if (committed.length > 0 && aborted.length > 0) return `${committed.join(",")} committed while ${aborted.join(",")} aborted`;
  if (tx.decided.commit && aborted.length > 0) return `the coordinator committed while ${aborted.join(",")} aborted`;
  if (tx.decided.abort && committed.length > 0) return `the coordinator aborted while ${committed.join(",")} committed`;
  if (tx.decided.commit || committed.length > 0) {
    const unvoted = tx.participants.filter((p) => (tx.rm.get(p) ?? RmState.Idle) === RmState.Idle);
    if (unvoted.length > 0) return `committed although ${unvoted.join(",")} never voted`;
  }
  return undefined;
}
