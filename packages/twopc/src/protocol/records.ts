import type { NodeId, TxId } from "./types.js";

/**
 * The stable-log records of both roles. A node's log only ever holds its own role's records;
 * the prefixes keep a shared log directory unambiguous and make `twopc-inspect` output clear.
 */
export const RecordType = {
  /** Coordinator began the transaction (not forced: presumed abort covers its loss). */
  CoordStart: "COORD-START",
  /** Coordinator decided commit. Forced before any GLOBAL-COMMIT is sent. */
  CoordCommit: "COORD-COMMIT",
  /** Coordinator decided abort. Not forced (presumed abort). Ends the transaction. */
  CoordAbort: "COORD-ABORT",
  /**
   * Coordinator got every ACK (the textbook "Got Commit"): not forced. Or every vote was
   * read-only: forced, as it is the commit decision.
   */
  CoordEnd: "COORD-END",
  /** Participant promised to commit (voted VOTE-COMMIT). Forced before the vote is sent. */
  WorkerReady: "WORKER-READY",
  /** Participant learned the commit decision. Forced before its ACK. */
  WorkerCommit: "WORKER-COMMIT",
  /** Participant aborted. Not forced, except before telling a peer "abort" (a promise to keep). */
  WorkerAbort: "WORKER-ABORT",
  /** Participant's resource manager applied the outcome: the transaction is done here. Not forced. */
  WorkerEnd: "WORKER-END",
  /**
   * A salvage cut this transaction's records while its resource manager still held it prepared:
   * the participant may have voted commit, so it holds the transaction in doubt and asks. Forced
   * before the participant starts.
   */
  WorkerInDoubt: "WORKER-IN-DOUBT",
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export interface CoordStartRecord {
  readonly type: typeof RecordType.CoordStart;
  readonly txId: TxId;
  readonly participants: readonly NodeId[];
}
export interface CoordCommitRecord {
  readonly type: typeof RecordType.CoordCommit;
  readonly txId: TxId;
  /** The participants that voted commit: the ones that get GLOBAL-COMMIT and owe an ACK. */
  readonly participants: readonly NodeId[];
}
export interface CoordAbortRecord {
  readonly type: typeof RecordType.CoordAbort;
  readonly txId: TxId;
}
export interface CoordEndRecord {
  readonly type: typeof RecordType.CoordEnd;
  readonly txId: TxId;
}
export interface WorkerReadyRecord {
  readonly type: typeof RecordType.WorkerReady;
  readonly txId: TxId;
  readonly coordinator: NodeId;
  readonly participants: readonly NodeId[];
}
export interface WorkerCommitRecord {
  readonly type: typeof RecordType.WorkerCommit;
  readonly txId: TxId;
}
export interface WorkerAbortRecord {
  readonly type: typeof RecordType.WorkerAbort;
  readonly txId: TxId;
}
export interface WorkerEndRecord {
  readonly type: typeof RecordType.WorkerEnd;
  readonly txId: TxId;
}
export interface WorkerInDoubtRecord {
  readonly type: typeof RecordType.WorkerInDoubt;
  readonly txId: TxId;
}

export type CoordinatorRecord = CoordStartRecord | CoordCommitRecord | CoordAbortRecord | CoordEndRecord;
export type ParticipantRecord = WorkerReadyRecord | WorkerCommitRecord | WorkerAbortRecord | WorkerEndRecord | WorkerInDoubtRecord;
/** Every record either machine appends to its stable log, discriminated on `type`. */
export type TwopcRecord = CoordinatorRecord | ParticipantRecord;

function isNodeList(value: unknown): value is readonly NodeId[] {
  return Array.isArray(value) && value.every((p) => typeof p === "string");
}

/** Checks the shape of a record read back from a log (CRC-valid bytes from a possibly older version). */
export function isTwopcRecord(value: unknown): value is TwopcRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  if (typeof r.txId !== "string") return false;
  const type = r.type as RecordType;
  switch (type) {
    case RecordType.CoordStart:
    case RecordType.CoordCommit:
      return isNodeList(r.participants);
    case RecordType.WorkerReady:
      return typeof r.coordinator === "string" && isNodeList(r.participants);
    case RecordType.CoordAbort:
    case RecordType.CoordEnd:
    case RecordType.WorkerCommit:
    case RecordType.WorkerAbort:
    case RecordType.WorkerEnd:
    case RecordType.WorkerInDoubt:
      return true;
    default:
      return false;
  }
}
