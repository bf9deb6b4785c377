/**
 * What a stage sends to its dead-letter mailbox when it cannot finish a message: the message
 * as it was received, the error, and where it happened. A plain MessagePack map.
 */
import { errorInfo, type ErrorInfo } from "../rr/errors.js";

export interface DeadLetter {
  type: "dead-letter";
  /** The stage's name. */
  stage: string;
  /** The mailbox the message was taken from. */
  from: string;
  /** `"handler"`: the handler threw; `"forward"`: its output could not be sent on. */
  phase: "handler" | "forward";
  /** The message as the stage received it. */
  message: unknown;
  /** The error: its name, message and `code` (when it had one), and the stage. */
  error: ErrorInfo & { stage: string };
  /** When, in ms since the epoch. */
  at: number;
}

/** @internal */
export function deadLetter(stage: string, from: string, phase: DeadLetter["phase"], message: unknown, error: unknown): DeadLetter {
  return { type: "dead-letter", stage, from, phase, message, error: { ...errorInfo(error), stage }, at: Date.now() };
}

/**
 * True if `value` looks like a {@link DeadLetter} (e.g. one taken from a dead-letter mailbox).
 * @example
 * const letter = await receive(dead);
 * if (isDeadLetter(letter)) console.error(`${letter.stage}: ${letter.error.code} ${letter.error.message}`, letter.message);
 */
export function isDeadLetter(value: unknown): value is DeadLetter {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.type === "dead-letter" && typeof v.stage === "string" && typeof v.error === "object" && v.error !== null;
}
