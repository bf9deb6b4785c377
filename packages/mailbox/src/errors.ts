/**
 * One class per failure, each with a stable `code` for programs to match on.
 * `instanceof` works across the package; `code` works across versions and processes.
 */

/** The base of every error the runtime raises (but {@link InvalidArgumentError}). */
export class MailboxError extends Error {
  readonly code: string = "ERR_MAILBOX";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An argument or option had the wrong type or value; the message names it and what was expected. */
export class InvalidArgumentError extends TypeError {
  readonly code: string = "ERR_INVALID_ARGUMENT";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A mailbox address was not of the form `name@endpoint`. */
export class InvalidAddressError extends InvalidArgumentError {
  override readonly code = "ERR_INVALID_ADDRESS";
}

/** The destination runtime answered that it has no mailbox of that name. */
export class NoSuchMailboxError extends MailboxError {
  override readonly code = "ERR_NO_SUCH_MAILBOX";
}

/** A mailbox of that name already exists in this runtime. */
export class MailboxExistsError extends MailboxError {
  override readonly code = "ERR_MAILBOX_EXISTS";
}

/** The operation did not complete within its `timeout`; the message says what it waited for. */
export class TimeoutError extends MailboxError {
  override readonly code = "ERR_TIMEOUT";
}

/** The operation's `AbortSignal` fired; `cause` is the signal's reason. */
export class AbortedError extends MailboxError {
  override readonly code = "ERR_ABORTED";
}

/** The runtime was closed before (or while) the operation ran. */
export class ClosedError extends MailboxError {
  override readonly code = "ERR_CLOSED";
}

/** The mailbox was closed before (or while) the operation ran. */
export class MailboxClosedError extends MailboxError {
  override readonly code = "ERR_MAILBOX_CLOSED";
}

/**
 * The destination runtime restarted (a new incarnation answered) after the message was
 * stored in the old one and before any receiver took it: the message is gone with that
 * incarnation. Only `until: "received"` sends can learn this.
 */
export class ReceiverRestartedError extends MailboxError {
  override readonly code = "ERR_RECEIVER_RESTARTED";
}

/**
 * An encoded message was larger than the runtime's `maxMessageSize`, or than the destination
 * runtime's (which its acks tell): it is refused at once, before it uses a sequence number,
 * and the sends after it go on.
 */
export class MessageTooLargeError extends MailboxError {
  override readonly code = "ERR_MESSAGE_TOO_LARGE";
}

/** `receiveInto`: the next message is larger than the buffer. The message stays in the mailbox. */
export class BufferTooSmallError extends MailboxError {
  override readonly code = "ERR_BUFFER_TOO_SMALL";
  constructor(
    message: string,
    /** Bytes the message needs. */
    readonly needed: number,
  ) {
    super(message);
  }
}

/**
 * The destination refused this one message (larger than its `maxMessageSize`, or a payload it
 * could not decode); the messages after it go on.
 */
export class MessageRefusedError extends MailboxError {
  override readonly code = "ERR_MESSAGE_REFUSED";
}

/** A value could not be encoded as MessagePack. */
export class EncodeError extends MailboxError {
  override readonly code = "ERR_ENCODE";
}

/**
 * The runtime stopped because the log of its durable mailboxes failed (a write or `fdatasync`
 * error): nothing it would acknowledge could be trusted to survive a crash. Every pending call
 * rejects with it, `runtime.closed` resolves with it and `onFailed` hears of it; `cause` is the
 * log's `LogFailedError`. Start the runtime again on the same `dataDir`: it recovers what the
 * log holds.
 */
export class RuntimeFailedError extends MailboxError {
  override readonly code = "ERR_RUNTIME_FAILED";
}

/**
 * CURVE: the mailbox does not let this runtime's key send to it (or receive from it), or this
 * runtime revoked the destination's key. Every pending operation on that channel fails with it.
 */
export class ForbiddenError extends MailboxError {
  override readonly code = "ERR_FORBIDDEN";
}

/**
 * The destination runtime refused to open a channel for this runtime: it already has
 * `maxChannelsPerPeer` channels from it, or serves `maxPeers` peers. Every send of that channel
 * fails with it; a later send tries again.
 */
export class LimitExceededError extends MailboxError {
  override readonly code = "ERR_LIMIT_EXCEEDED";
}
