import type { CoordinatorLogState, ParticipantLogState } from "../protocol/log-state.js";
import { summarizeRecords } from "../protocol/machine.js";
import { CoordinatorPhase, ParticipantPhase } from "../protocol/types.js";
import { readLog, type Corruption, type LogFs } from "@zmbox/log";

/** A node's log, sorted by what an operator has to care about. */
export interface Inspection {
  readonly path: string;
  readonly fileBytes: number;
  readonly validBytes: number;
  readonly records: number;
  /**
   * Present when the log is damaged in a way a crash cannot explain: the node refuses to open
   * it (`LogCorruptError`). The transactions below are those of the records before the damage.
   */
  readonly corruption?: Corruption;
  /** Participant in READY: promised to commit, outcome unknown, blocked until told. First to look at. */
  readonly inDoubt: readonly ParticipantLogState[];
  /** Coordinator in WAIT: a restart aborts them. */
  readonly waiting: readonly CoordinatorLogState[];
  /** Coordinator in COMMIT: decided, some commit voters have not ACKed. */
  readonly committing: readonly CoordinatorLogState[];
  /** Participant decided (COMMIT or ABORT) but its resource manager has not confirmed. */
  readonly applying: readonly ParticipantLogState[];
  /** Transactions with nothing left to do (END, or coordinator ABORT). */
  readonly ended: number;
}

/**
 * Reads the log in `dir` (without changing it) and classifies its transactions the way a
 * restart would see them.
 *
 * @throws {InvalidLogError} when the records contradict the protocol.
 */
export async function inspectLog(dir: string, fs?: LogFs): Promise<Inspection> {
  const contents = await readLog(dir, fs);
  const summary = summarizeRecords(contents.records);
  const inDoubt: ParticipantLogState[] = [];
  const applying: ParticipantLogState[] = [];
  const waiting: CoordinatorLogState[] = [];
  const committing: CoordinatorLogState[] = [];
  let ended = 0;
  for (const w of summary.participant.values()) {
    if (w.ended) ended++;
    else if (w.phase === ParticipantPhase.Ready) inDoubt.push(w);
    else applying.push(w);
  }
  for (const c of summary.coordinator.values()) {
    if (c.ended) ended++;
    else if (c.phase === CoordinatorPhase.Commit) committing.push(c);
    else waiting.push(c);
  }
  const { path, fileBytes, validBytes } = contents;
  const corruption: Corruption | undefined =
    contents.badHeader !== undefined ? { offset: 0, validAfter: 0, reason: contents.badHeader } : contents.corruption;
  return {
    path,
    fileBytes,
    validBytes,
    records: contents.records.length,
    ...(corruption === undefined ? {} : { corruption }),
    inDoubt,
    waiting,
    committing,
    applying,
    ended,
  };
}

/** Renders an inspection as text for a terminal, in-doubt transactions first. */
export function formatInspection(report: Inspection): string {
  const torn = report.fileBytes - report.validBytes;
  const damage = report.corruption;
  const lines = [
    `log ${report.path}: ${report.fileBytes} bytes, ${report.records} records${damage === undefined && torn > 0 ? `, ${torn} bytes of torn tail (a write cut by a crash; cut at next open)` : ""}`,
  ];
  if (damage !== undefined) {
    lines.push(
      "",
      `CORRUPT at byte ${damage.offset}: ${damage.reason}.`,
      `  The node refuses to open this log (LogCorruptError). What follows is read from the ${report.records} records before the damage;`,
      `  ${damage.validAfter} valid record(s) after it are not shown. Opening with \`salvage: true\` cuts the file at byte ${damage.offset} and loses them:`,
      "  restore the log from a copy if you have one; salvage only what you can afford to lose.",
    );
  }
  const section = (title: string, rows: readonly string[]): void => {
    if (rows.length === 0) return;
    lines.push("", `${title} (${rows.length})`, ...rows.map((row) => `  ${row}`));
  };
  section(
    "IN DOUBT - participant READY: promised to commit, outcome unknown, blocked until the coordinator or a peer answers",
    report.inDoubt.map((w) => `${w.txId}  coordinator=${w.coordinator ?? "?"}  participants=${w.participants.join(",")}${w.lost ? "  (WORKER-IN-DOUBT: a salvage cut its records; it may not have voted)" : ""}`),
  );
  section(
    "COORDINATOR COMMIT - decided commit, waiting for ACKs (a restart resends GLOBAL-COMMIT)",
    report.committing.map((c) => `${c.txId}  must ack=${c.ackers.join(",")}`),
  );
  section(
    "COORDINATOR WAIT - undecided (a restart aborts)",
    report.waiting.map((c) => `${c.txId}  participants=${c.participants.join(",")}`),
  );
  section(
    "PARTICIPANT DECIDED - resource manager not yet confirmed (a restart applies again)",
    report.applying.map((w) => `${w.txId}  ${w.phase}`),
  );
  lines.push("", `ended: ${report.ended} transaction(s)`);
  return lines.join("\n");
}
