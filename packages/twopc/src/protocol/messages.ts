import { Decision, type NodeId, type TxId } from "./types.js";

/** The protocol's message kinds: the textbook six, plus the decision request of a blocked participant. */
export const MessageType = {
  VoteReq: "VOTE-REQ",
  VoteCommit: "VOTE-COMMIT",
  VoteAbort: "VOTE-ABORT",
  VoteReadOnly: "VOTE-READONLY",
  GlobalCommit: "GLOBAL-COMMIT",
  GlobalAbort: "GLOBAL-ABORT",
  Ack: "ACK",
  /** A participant in READY asks the coordinator, then its peers, for the decision. */
  DecisionReq: "DECISION-REQ",
  /** The answer to DECISION-REQ, from the coordinator or from a peer that knows it. */
  Decision: "DECISION",
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

interface MessageBase {
  readonly txId: TxId;
  /** The sender, so that the receiver can answer. */
  readonly from: NodeId;
}

/** Coordinator -> participant. Carries the participant list so a blocked participant can ask its peers. */
export interface VoteReqMessage extends MessageBase {
  readonly type: typeof MessageType.VoteReq;
  readonly participants: readonly NodeId[];
  /** Opaque to the protocol: handed to the participant's resource manager `prepare`. */
  readonly payload?: unknown;
}
export interface VoteCommitMessage extends MessageBase {
  readonly type: typeof MessageType.VoteCommit;
}
export interface VoteAbortMessage extends MessageBase {
  readonly type: typeof MessageType.VoteAbort;
  /** Why, in a word or a few, when the participant's resource manager said (`"insufficient-funds"`). */
  readonly reason?: string;
}
export interface VoteReadOnlyMessage extends MessageBase {
  readonly type: typeof MessageType.VoteReadOnly;
}
export interface GlobalCommitMessage extends MessageBase {
  readonly type: typeof MessageType.GlobalCommit;
}
export interface GlobalAbortMessage extends MessageBase {
  readonly type: typeof MessageType.GlobalAbort;
}
export interface AckMessage extends MessageBase {
  readonly type: typeof MessageType.Ack;
}
export interface DecisionReqMessage extends MessageBase {
  readonly type: typeof MessageType.DecisionReq;
}
export interface DecisionMessage extends MessageBase {
  readonly type: typeof MessageType.Decision;
  readonly decision: Decision;
}

/** Every message of the protocol, discriminated on `type`. Plain data: msgpack-safe. */
export type TwopcMessage =
  | VoteReqMessage
  | VoteCommitMessage
  | VoteAbortMessage
  | VoteReadOnlyMessage
  | GlobalCommitMessage
  | GlobalAbortMessage
  | AckMessage
  | DecisionReqMessage
  | DecisionMessage;

const messageTypes: ReadonlySet<string> = new Set(Object.values(MessageType));
const decisions: ReadonlySet<unknown> = new Set(Object.values(Decision));

/**
 * Checks the shape of a decoded wire message before it is fed to a machine.
 *
 * @example
 * const msg = unpack(bytes)
 * if (isTwopcMessage(msg)) actions = machine.handle({ type: "receive", msg })
 */
/** @internal Longest abort reason a VOTE-ABORT carries, in UTF-16 code units. */
export const MAX_REASON_LENGTH = 200;

export function isTwopcMessage(value: unknown): value is TwopcMessage {
  if (typeof value !== "object" || value === null) return false;
  const m = value as Record<string, unknown>;
  if (typeof m.type !== "string" || !messageTypes.has(m.type)) return false;
  if (typeof m.txId !== "string" || typeof m.from !== "string") return false;
  const type = m.type as MessageType;
  switch (type) {
    case MessageType.VoteReq:
      return Array.isArray(m.participants) && m.participants.every((p) => typeof p === "string");
    case MessageType.Decision:
      return decisions.has(m.decision);
    case MessageType.VoteAbort:
      return m.reason === undefined || (typeof m.reason === "string" && m.reason.length <= MAX_REASON_LENGTH);
    case MessageType.VoteCommit:
    case MessageType.VoteReadOnly:
    case MessageType.GlobalCommit:
    case MessageType.GlobalAbort:
    case MessageType.Ack:
    case MessageType.DecisionReq:
      return true;
    default:
      throw new Error(`unhandled message type ${String(type satisfies never)}`);
  }
}
