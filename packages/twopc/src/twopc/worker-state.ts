import { WorkerPhase, type NodeId, type TxId } from "./types.js";

/** Worker in INIT: knows the transaction (from `join` or VOTE-REQ) and has not voted. */
export interface WorkerInitTx {
  readonly phase: typeof WorkerPhase.Init;
  readonly txId: TxId;
  readonly coordinator: NodeId;
  /** Empty until VOTE-REQ names them. */
  readonly participants: readonly NodeId[];
  /** VOTE-REQ arrived and the resource manager's `prepare` is running. */
  readonly preparing: boolean;
  /** Peers that asked for the decision while `prepare` ran; answered once it has. */
  readonly askers: readonly NodeId[];
}

/** Worker in READY: promised to commit; blocked until it learns the decision. */
export interface WorkerReadyTx {
  readonly phase: typeof WorkerPhase.Ready;
  readonly txId: TxId;
  readonly coordinator: NodeId;
  readonly participants: readonly NodeId[];
  /** WORKER-READY is on stable storage (VOTE-COMMIT has been sent). */
  readonly durable: boolean;
  /** The coordinator was asked once already: later asks go to the peers too. */
  readonly askedCoordinator: boolean;
}

/** Worker in COMMIT. */
export interface WorkerCommitTx {
  readonly phase: typeof WorkerPhase.Commit;
  readonly txId: TxId;
  readonly coordinator: NodeId;
  /** WORKER-COMMIT is on stable storage (the ACK has been sent). */
  readonly durable: boolean;
  /** The resource manager applied the commit. */
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

/** Worker in ABORT. */
export interface WorkerAbortTx {
  readonly phase: typeof WorkerPhase.Abort;
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

/** Worker voted read-only: out of phase 2, remembered only to answer duplicates. */
export interface WorkerReadOnlyTx {
  readonly phase: typeof WorkerPhase.ReadOnly;
  readonly txId: TxId;
  readonly coordinator: NodeId;
}

export type WorkerTx = WorkerInitTx | WorkerReadyTx | WorkerCommitTx | WorkerAbortTx | WorkerReadOnlyTx;

/** Finished here: kept only to answer duplicates until the `forget` timer. */
export function isWorkerTxDone(tx: WorkerTx): boolean {
  switch (tx.phase) {
    case WorkerPhase.Commit:
      return tx.applied;
    case WorkerPhase.Abort:
      return tx.rm === AbortProgress.Aborted && !tx.forcing;
    case WorkerPhase.ReadOnly:
      return true;
    case WorkerPhase.Init:
    case WorkerPhase.Ready:
      return false;
    default:
      throw new Error(`unhandled phase ${JSON.stringify(tx satisfies never)}`);
  }
}
