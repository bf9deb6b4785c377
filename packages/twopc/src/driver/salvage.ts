/**
 * Opening a participant's log, and salvaging it when an operator asks to.
 *
 * A salvage (`LogOptions.salvage`) cuts a corrupt log at its first bad record, and with it the
 * records of transactions this participant may have voted commit on. Its resource manager still
 * holds those prepared, and an intact log would let recovery presume abort for a prepared
 * transaction it does not know (it never voted). After a salvage that proof is gone, so each
 * such transaction gets a forced WORKER-IN-DOUBT record before the participant starts: it is held
 * in doubt and asks its coordinator, never guessing.
 *
 * The cut may also take a transaction's later records and leave its WORKER-READY. If the resource
 * manager still holds it prepared, the participant asks as after any crash. If not, the resource
 * manager has already applied the outcome (it commits only after WORKER-COMMIT, and the cut took
 * that): the transaction is done here, and is dropped from the log rather than asked about, since
 * its coordinator may have forgotten a commit and would answer "abort", presumed.
 *
 * A crash between the cut and those records being durable must not leave an intact-looking log
 * that forgot them: a marker file, written durably before the cut and removed once the records are
 * durable, makes the next open finish the job.
 */
import { join } from "node:path";
import { LogCorruptError, StableLog, nodeFs, type LogFs, type LogOptions, type OpenedLog, type Salvage } from "@zmbox/log";
import { summarizeRecords } from "../protocol/machine.js";
import { RecordType, type TwopcRecord } from "../protocol/records.js";
import { ParticipantPhase, type TxId } from "../protocol/types.js";

/** Present in a participant's log directory while a salvage's WORKER-IN-DOUBT records are not all durable. */
export const SALVAGE_MARKER_FILE = "salvage-in-progress";

/** What {@link openParticipantLog} found. */
export interface OpenedParticipantLog extends OpenedLog<TwopcRecord> {
  /** Transactions the resource manager holds prepared that the salvage may have cut: now WORKER-IN-DOUBT. */
  readonly inDoubt: readonly TxId[];
  /** Transactions left in READY by the cut that the resource manager has settled: dropped from the log. */
  readonly settled: readonly TxId[];
}

/**
 * Opens a participant's log. With `salvage`, a corrupt log is cut (instead of refused with
 * `LogCorruptError`) and every transaction in `prepared` that it no longer knows is logged
 * WORKER-IN-DOUBT, durably, before this resolves; the returned `records` include those.
 *
 * @param prepared What the resource manager holds prepared (its `recover` hook).
 * @throws {LogCorruptError} (rejection) for a corrupt log without `salvage`.
 */
export async function openParticipantLog(
  dir: string,
  options: Omit<LogOptions<TwopcRecord>, "salvage">,
  salvage: boolean,
  prepared: readonly TxId[],
): Promise<OpenedParticipantLog> {
  const fs = options.fs ?? nodeFs;
  const marker = join(dir, SALVAGE_MARKER_FILE);
  await fs.mkdir(dir);
  let pending = (await fs.readFile(marker)) !== undefined;
  // Until recovery runs, the node's `retain` knows no transaction: keep every record meanwhile
  // (but what a salvage found settled).
  let recovering = true;
  let settled: ReadonlySet<TxId> = new Set();
  const retain = options.retain ?? (() => true);
  const logOptions: LogOptions<TwopcRecord> = { ...options, retain: (r: TwopcRecord) => (recovering ? !settled.has(r.txId) : retain(r)) };
  let opened: OpenedLog<TwopcRecord>;
  try {
    opened = await StableLog.open<TwopcRecord>(dir, logOptions);
  } catch (error) {
    if (!salvage || !(error instanceof LogCorruptError)) throw error;
    await writeMarker(fs, dir, marker);
    pending = true;
    opened = await StableLog.open<TwopcRecord>(dir, { ...logOptions, salvage: true });
  }
  recovering = false;
  if (!pending) return { ...opened, inDoubt: [], settled: [] };
  const { log } = opened;
  try {
    const known = summarizeRecords(opened.records).participant;
    const held = new Set(prepared);
    settled = new Set([...known.values()].filter((tx) => tx.phase === ParticipantPhase.Ready && !held.has(tx.txId)).map((tx) => tx.txId));
    const inDoubt = prepared.filter((txId) => !known.has(txId));
    const added: TwopcRecord[] = inDoubt.map((txId) => ({ type: RecordType.WorkerInDoubt, txId }));
    recovering = true;
    if (settled.size > 0) await log.compact();
    await Promise.all(added.map((record) => log.append(record)));
    recovering = false;
    await fs.remove(marker);
    await fs.syncDir(dir);
    const salvaged: { salvaged?: Salvage } = opened.salvaged === undefined ? {} : { salvaged: opened.salvaged };
    const records = [...opened.records.filter((r) => !settled.has(r.txId)), ...added];
    return { log, records, truncatedBytes: opened.truncatedBytes, ...salvaged, inDoubt, settled: [...settled] };
  } catch (error) {
    await log.close().catch(() => undefined);
    throw error;
  }
}

async function writeMarker(fs: LogFs, dir: string, path: string): Promise<void> {
  const file = await fs.create(path);
  try {
    await file.write(new TextEncoder().encode("A salvage cut this log; the participant holds what it may have lost in doubt.\n"));
    await file.datasync();
  } finally {
    await file.close();
  }
  await fs.syncDir(dir);
}
