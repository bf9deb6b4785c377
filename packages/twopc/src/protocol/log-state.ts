import { InvalidLogError } from "./errors.js";
import { RecordType, type TwopcRecord } from "./records.js";
import { CoordinatorPhase, ParticipantPhase, type NodeId, type TxId } from "./types.js";

/** What a coordinator's log says about one transaction. */
export interface CoordinatorLogState {
  readonly txId: TxId;
  readonly phase: CoordinatorPhase;
  readonly participants: readonly NodeId[];
  /** In COMMIT: the participants that voted commit and owe an ACK. */
  readonly ackers: readonly NodeId[];
  /** COORD-END or COORD-ABORT is logged: nothing left to do. */
  readonly ended: boolean;
}

/** What a participant's log says about one transaction (no record at all means INIT: presumed abort). */
export interface ParticipantLogState {
  readonly txId: TxId;
  readonly phase: typeof ParticipantPhase.Ready | typeof ParticipantPhase.Commit | typeof ParticipantPhase.Abort;
  /** Known once WORKER-READY is logged. */
  readonly coordinator: NodeId | undefined;
  readonly participants: readonly NodeId[];
  /** WORKER-END is logged: the resource manager applied the outcome. */
  readonly ended: boolean;
  /** WORKER-IN-DOUBT is logged: a salvage cut its records; whether it voted commit is unknown. */
  readonly lost: boolean;
}

/** A log folded into one state per transaction, in first-appearance order. */
export interface LogSummary {
  readonly coordinator: ReadonlyMap<TxId, CoordinatorLogState>;
  readonly participant: ReadonlyMap<TxId, ParticipantLogState>;
}

/**
 * Folds log records (oldest first) into the state of each transaction. Shared by recovery and
 * by `twopc-inspect`, so the operator sees exactly what a restart would act on.
 *
 * @throws {InvalidLogError} when records contradict the protocol (e.g. commit and abort).
 */
export function summarizeLog(records: readonly TwopcRecord[]): LogSummary {
  const coordinator = new Map<TxId, CoordinatorLogState>();
  const participant = new Map<TxId, ParticipantLogState>();
  for (const record of records) {
    const { txId } = record;
    const c = coordinator.get(txId);
    const w = participant.get(txId);
    switch (record.type) {
      case RecordType.CoordStart:
        coordinator.set(txId, c ?? { txId, phase: CoordinatorPhase.Wait, participants: record.participants, ackers: [], ended: false });
        break;
      case RecordType.CoordCommit:
        if (c?.phase === CoordinatorPhase.Abort) throw new InvalidLogError(txId, "COORD-COMMIT after COORD-ABORT");
        coordinator.set(txId, {
          txId,
          phase: CoordinatorPhase.Commit,
          participants: c?.participants ?? record.participants,
          ackers: record.participants,
          ended: c?.ended ?? false,
        });
        break;
      case RecordType.CoordAbort:
        if (c?.phase === CoordinatorPhase.Commit) throw new InvalidLogError(txId, "COORD-ABORT after COORD-COMMIT");
        coordinator.set(txId, { txId, phase: CoordinatorPhase.Abort, participants: c?.participants ?? [], ackers: [], ended: true });
        break;
      case RecordType.CoordEnd:
        // A lone END is legitimate: compaction may drop a transaction's records while its END
        // is still queued. Either way the transaction needs nothing.
        if (c !== undefined) coordinator.set(txId, { ...c, ended: true });
        break;
      case RecordType.WorkerReady:
        if (w !== undefined && w.phase !== ParticipantPhase.Ready) throw new InvalidLogError(txId, `WORKER-READY after ${w.phase}`);
        participant.set(txId, { txId, phase: ParticipantPhase.Ready, coordinator: record.coordinator, participants: record.participants, ended: false, lost: false });
        break;
      case RecordType.WorkerInDoubt:
        if (w !== undefined) throw new InvalidLogError(txId, `WORKER-IN-DOUBT after ${w.phase}`);
        participant.set(txId, { txId, phase: ParticipantPhase.Ready, coordinator: undefined, participants: [], ended: false, lost: true });
        break;
      case RecordType.WorkerCommit:
        if (w === undefined || w.phase === ParticipantPhase.Abort) throw new InvalidLogError(txId, "WORKER-COMMIT without WORKER-READY (or WORKER-IN-DOUBT), or after WORKER-ABORT");
        participant.set(txId, { ...w, phase: ParticipantPhase.Commit });
        break;
      case RecordType.WorkerAbort:
        if (w?.phase === ParticipantPhase.Commit) throw new InvalidLogError(txId, "WORKER-ABORT after WORKER-COMMIT");
        participant.set(txId, { txId, phase: ParticipantPhase.Abort, coordinator: w?.coordinator, participants: w?.participants ?? [], ended: w?.ended ?? false, lost: w?.lost ?? false });
        break;
      case RecordType.WorkerEnd:
        if (w === undefined) break; // lone END after compaction, as for COORD-END
        if (w.phase === ParticipantPhase.Ready) throw new InvalidLogError(txId, "WORKER-END before an outcome");
        participant.set(txId, { ...w, ended: true });
        break;
      default: {
        const unknown: never = record;
        throw new InvalidLogError(txId, `unknown record ${JSON.stringify(unknown)}`);
      }
    }
  }
  return { coordinator, participant };
}
