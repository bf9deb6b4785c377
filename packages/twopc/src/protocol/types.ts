/**
 * Identifies one node of a transaction: the coordinator or a participant. For the mailbox
 * runtime this is the address of the node's mailbox, e.g. `w1@tcp://10.0.0.5:7001`.
 * One node id hosts exactly one state machine (a coordinator or a participant, never both).
 */
export type NodeId = string;

/**
 * Identifies a transaction. Must be globally unique and never reused: after a transaction
 * is forgotten, presumed abort answers "abort" for its id.
 */
export type TxId = string;

/** A participant's answer to VOTE-REQ, as given by its resource manager's `prepare`. */
export const Vote = {
  Commit: "commit",
  Abort: "abort",
  /** Nothing to commit here: the participant leaves phase 2 (no GLOBAL-* to it, no ACK from it). */
  ReadOnly: "read-only",
} as const;
export type Vote = (typeof Vote)[keyof typeof Vote];

/** The global outcome of a transaction. */
export const Decision = {
  Commit: "commit",
  Abort: "abort",
} as const;
export type Decision = (typeof Decision)[keyof typeof Decision];

/**
 * Coordinator states of classic two-phase commit: INIT -> WAIT -> COMMIT | ABORT. INIT never lasts past the
 * `begin` event (which logs COORD-START and sends VOTE-REQ in one step), so no code names it.
 */
export const CoordinatorPhase = {
  Wait: "WAIT",
  Commit: "COMMIT",
  Abort: "ABORT",
} as const;
export type CoordinatorPhase = (typeof CoordinatorPhase)[keyof typeof CoordinatorPhase];

/** Participant states of classic two-phase commit: INIT -> READY -> COMMIT | ABORT, plus READ-ONLY (left phase 2). */
export const ParticipantPhase = {
  Init: "INIT",
  Ready: "READY",
  Commit: "COMMIT",
  Abort: "ABORT",
  ReadOnly: "READ-ONLY",
} as const;
export type ParticipantPhase = (typeof ParticipantPhase)[keyof typeof ParticipantPhase];
