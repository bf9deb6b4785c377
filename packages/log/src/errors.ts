/**
 * A write or sync of the log failed. The log is dead from then on: every pending and later
 * append rejects with this error, and nothing it held is claimed durable. The node must stop
 * and recover from what the file holds (fsync errors are not retryable: the kernel may have
 * dropped the dirty pages).
 */
export class LogFailedError extends Error {
  override readonly name = "LogFailedError";
  readonly code = "ERR_LOG_FAILED";
  constructor(cause: unknown) {
    super(`stable log failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** An append after `close()`. */
export class LogClosedError extends Error {
  override readonly name = "LogClosedError";
  readonly code = "ERR_LOG_CLOSED";
  constructor() {
    super("stable log is closed");
  }
}

/** A record encodes to more than the frame limit. Nothing was written. */
export class RecordTooLargeError extends Error {
  override readonly name = "RecordTooLargeError";
  readonly code = "ERR_RECORD_TOO_LARGE";
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`log record of ${bytes} bytes exceeds the limit of ${limit} bytes`);
  }
}

/**
 * The log file is damaged: a bad record with valid records after it (or a bad file header).
 * That is not a write cut by a crash, which only ever leaves bad bytes at the very end, so
 * records that were reported durable may be lost. The log refuses to open rather than guess.
 * `twopc-inspect` shows the damage; `StableLog.open(dir, { salvage: true })` cuts the file at
 * `offset`, losing the `validAfter` records that follow (and says so).
 */
export class LogCorruptError extends Error {
  override readonly name = "LogCorruptError";
  readonly code = "ERR_LOG_CORRUPT";
  constructor(
    /** The log file. */
    readonly path: string,
    /** Where the first bad record starts, in bytes from the start of the file. */
    readonly offset: number,
    /** Valid records after the damage, which a salvage would cut. */
    readonly validAfter: number,
    /** What is wrong, when it is not a bad record (a bad file header). */
    readonly reason?: string,
  ) {
    super(
      reason === undefined
        ? `log file ${path} is corrupt: a bad record at byte ${offset} is followed by ${validAfter} valid record${validAfter === 1 ? "" : "s"}; refusing to open (see LogCorruptError)`
        : `log file ${path} is corrupt at byte ${offset}: ${reason}; refusing to open (see LogCorruptError)`,
    );
  }
}

/** Another live process (or this one) has the log directory open. */
export class LogLockedError extends Error {
  override readonly name = "LogLockedError";
  readonly code = "ERR_LOG_LOCKED";
  constructor(
    readonly dir: string,
    /** The process that holds it. */
    readonly pid: number,
  ) {
    super(`log directory ${dir} is in use by process ${pid}${pid === process.pid ? " (this process)" : ""}; one log per directory`);
  }
}
