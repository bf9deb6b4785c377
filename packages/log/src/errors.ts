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
