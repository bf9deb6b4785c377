/**
 * Request-response failures, one class per failure, each with a stable `code`.
 * Transport failures (no such mailbox, closed runtime, aborted) are the mailbox runtime's own
 * errors, passed through unchanged: `NoSuchMailboxError`, `ClosedError`, `AbortedError`.
 */
import { TimeoutError } from "@zmbox/mailbox";

/** What crosses the wire for an error: plain fields only. */
export interface ErrorInfo {
  name: string;
  message: string;
  /** The error's `code`, when it had a string one. */
  code?: string;
}

/** @internal Turns anything thrown into {@link ErrorInfo} (a non-Error throw keeps its text). */
export function errorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" ? { name: error.name, message: error.message, code } : { name: error.name, message: error.message };
  }
  let message: string;
  try {
    message = String(error);
  } catch {
    message = Object.prototype.toString.call(error);
  }
  return { name: "Error", message };
}

/**
 * The handler at the server threw. `message` is the handler's message, `code` the handler
 * error's `code` (e.g. `"ENOENT"`), or `"ERR_REMOTE"` when it had none; `remoteName` is its
 * `name`. Match with `instanceof RemoteError`, then on `code`.
 * @example
 * try {
 *   await client.request("read rutabaga", server);
 * } catch (error) {
 *   if (error instanceof RemoteError && error.code === "ENOENT") console.log("no such file");
 * }
 */
export class RemoteError extends Error {
  /** The handler error's `code`, or `"ERR_REMOTE"`. */
  readonly code: string;
  /** The handler error's `name` (e.g. `"TypeError"`). */
  readonly remoteName: string;

  constructor(
    info: ErrorInfo,
    /** The server mailbox the request went to. */
    readonly server: string,
    readonly requestId: number,
  ) {
    super(info.message);
    this.name = "RemoteError";
    this.code = info.code ?? "ERR_REMOTE";
    this.remoteName = info.name;
  }
}

/**
 * No reply came within the request's time: `timeout` ms per attempt, over `attempts`
 * attempts. A subclass of the runtime's `TimeoutError`, so `code` is `"ERR_TIMEOUT"`.
 * A reply that arrives later is discarded (the client counts it as `late`).
 */
export class RequestTimeoutError extends TimeoutError {
  constructor(
    readonly server: string,
    readonly requestId: number,
    /** Attempts made (1 + retries sent). */
    readonly attempts: number,
    /** Milliseconds from the first send to giving up. */
    readonly waited: number,
    /** The per-attempt timeout. */
    readonly timeout: number,
  ) {
    super(
      `no reply from ${server} to request ${requestId} after ${attempts} attempt${attempts === 1 ? "" : "s"} ` +
        `in ${Math.round(waited)} ms (${timeout} ms per attempt)`,
    );
  }
}
