import { ParticipantPhase, type NodeId, type TxId } from "./types.js";

/** Participant in INIT: knows the transaction (from `join` or VOTE-REQ) and has not voted. */
export interface ParticipantInitTx {
  readonly phase: typeof ParticipantPhase.Init;
  readonly txId: TxId;
  readonly coordinator: NodeId;
  /** Empty until VOTE-REQ names them. */
  readonly participants: readonly NodeId[];
  /** VOTE-REQ arrived and the resource manager's `prepare` is running. */
  readonly preparing: boolean;
  /** Peers that asked for the decision while `prepare` ran; answered once it has. */
  readonly askers: readonly NodeId[];
}

/**
 * Participant in READY: promised to commit; blocked until it learns the decision. Or `lost`: a
 * salvage cut its records, so whether it promised is unknown, and it is held in doubt the same way.
 */
export interface ParticipantReadyTx {
  readonly phase: typeof ParticipantPhase.Ready;
  readonly txId: TxId;
  /** Unknown only for a `lost` transaction, until a message from its coordinator names it. */
  readonly coordinator: NodeId | undefined;
  /** The peers; empty for a `lost` transaction until a VOTE-REQ names them. */
  readonly participants: readonly NodeId[];
  /** WORKER-READY is on stable storage (VOTE-COMMIT has been sent). */
  readonly durable: boolean;
  /** The coordinator was asked once already: later asks go to the peers too. */
  readonly askedCoordinator: boolean;
  /**
   * WORKER-IN-DOUBT: the log lost this transaction's records, so the participant cannot tell
   * whether it voted commit. It never votes again (a duplicate VOTE-REQ gets no answer) and
   * waits for the decision, which it asks for.
   */
  readonly lost: boolean;
}

/** Participant in COMMIT. */
export interface ParticipantCommitTx {
  readonly phase: typeof ParticipantPhase.Commit;
  readonly txId: TxId;
  /** Unknown only for a `lost` transaction committed on a peer's word: the ACK waits for a resent GLOBAL-COMMIT. */
  readonly coordinator: NodeId | undefined;
  /** WORKER-COMMIT is on stable storage (the resource manager may apply it). */
  readonly durable: boolean;
  /** The resource manager applied the commit (the ACK has been sent). */
  readonly applied: boolean;
}

/** Progress of the resource manager's `abort` for an aborted transaction. */
export const AbortProgress = {
  /** `prepare` is still running; `abort` is called when it answers (one call at a time). */
  AwaitingPrepare: "awaiting-prepare",
  Aborting: "aborting",
  Aborted: "aborted",
} as const;
export type AbortProgress = (typeof AbortProgress)[keyof typeof AbortProgress];

/** Participant in ABORT. */
export interface ParticipantAbortTx {
  readonly phase: typeof ParticipantPhase.Abort;
  readonly txId: TxId;
  readonly coordinator: NodeId | undefined;
  /**
   * The abort can never turn into a commit vote: it came from the coordinator (or a peer), or
   * WORKER-ABORT is durable. Only a settled abort is told to asking peers.
   */
  readonly settled: boolean;
  /** A forced WORKER-ABORT is on its way to stable storage. */
  readonly forcing: boolean;
  /** Peers that asked and are told ABORT once the abort is settled. */
  readonly waiting: readonly NodeId[];
  readonly rm: AbortProgress;
}

/** Participant voted read-only: out of phase 2, remembered only to answer duplicates. */
export interface ParticipantReadOnlyTx {
  readonly phase: typeof ParticipantPhase.ReadOnly;
  readonly txId: TxId;
  readonly coordinator: NodeId;
}

export type ParticipantTx = ParticipantInitTx | ParticipantReadyTx | ParticipantCommitTx | ParticipantAbortTx | ParticipantReadOnlyTx;

/** Finished here: kept only to answer duplicates until the `forget` timer. */
export function isParticipantTxDone(tx: ParticipantTx): boolean {
  switch (tx.phase) {
    case ParticipantPhase.Commit:
      return tx.applied;
    case ParticipantPhase.Abort:
      return tx.rm === AbortProgress.Aborted && !tx.forcing;
    case ParticipantPhase.ReadOnly:
      return true;
    case ParticipantPhase.Init:
    case ParticipantPhase.Ready:
      return false;
    default:
      throw new Error(`unhandled phase ${JSON.stringify(tx satisfies never)}`);
  }
}
