import type { TxId } from "./types.js";

/** `begin` named a transaction id this coordinator already holds. Ids must never be reused. */
export class TxIdInUseError extends Error {
  override readonly name = "TxIdInUseError";
  readonly code = "ERR_TX_ID_IN_USE";
  constructor(
    readonly txId: TxId,
    /** How the transaction with this id ended, when the coordinator knows. */
    readonly outcome?: { readonly committed: boolean; readonly reason: string },
  ) {
    super(
      outcome === undefined
        ? `transaction id ${JSON.stringify(txId)} is already in use on this coordinator`
        : `transaction id ${JSON.stringify(txId)} was used on this coordinator already (it ${outcome.committed ? "committed" : "aborted"}: ${outcome.reason}); ask coordinator.outcome(txId) instead of starting it again`,
    );
  }
}

/** `begin` got an empty or duplicated participant list, or one naming the coordinator itself. */
export class InvalidParticipantsError extends Error {
  override readonly name = "InvalidParticipantsError";
  readonly code = "ERR_INVALID_PARTICIPANTS";
  constructor(
    readonly txId: TxId,
    detail: string,
  ) {
    super(`transaction ${JSON.stringify(txId)}: invalid participants: ${detail}`);
  }
}

/** A machine got an event before `recover()` (a fresh node calls `recover([])`). */
export class NotRecoveredError extends Error {
  override readonly name = "NotRecoveredError";
  readonly code = "ERR_NOT_RECOVERED";
  constructor() {
    super("the machine must be given its log with recover() before any other event");
  }
}

/** `recover()` was called twice on one machine. */
export class AlreadyRecoveredError extends Error {
  override readonly name = "AlreadyRecoveredError";
  readonly code = "ERR_ALREADY_RECOVERED";
  constructor() {
    super("recover() may only be called once, on a fresh machine");
  }
}

/** The log's records contradict the protocol (e.g. COMMIT without READY): never guessed around. */
export class InvalidLogError extends Error {
  override readonly name = "InvalidLogError";
  readonly code = "ERR_INVALID_LOG";
  constructor(
    readonly txId: TxId | undefined,
    detail: string,
  ) {
    super(txId === undefined ? `invalid log: ${detail}` : `invalid log for transaction ${JSON.stringify(txId)}: ${detail}`);
  }
}
