/**
 * `@zmbox/twopc/2pc`: everything of two-phase commit. The nodes (`Coordinator`,
 * `Participant`) as in the main entry, plus the sans-IO protocol: the machines, their events,
 * actions, messages and log records, log summaries and `inspectLog`. For people who drive the
 * machines themselves or build tools on a node's log.
 */
// The nodes on the mailbox runtime
export { Coordinator } from "./driver/coordinator.js";
export { Participant } from "./driver/participant.js";
export { NodeClosedError, NodeFailedError } from "./driver/errors.js";
export type { CoordinatorOptions, TransactOptions, Outcome, CoordinatorInDoubt, CoordinatorStats } from "./driver/coordinator.js";
export type { ResourceManager, AbortVote, ParticipantOptions, ParticipantInDoubt, ParticipantStats } from "./driver/participant.js";
export type { NodeOptions, NodeStats } from "./driver/node.js";
// The sans-IO machines
export { CoordinatorMachine, stepCoordinator, recoverCoordinatorTx } from "./protocol/coordinator.js";
export { ParticipantMachine, stepParticipant, recoverParticipantTx, recoverUnloggedPrepared } from "./protocol/participant.js";
export { isParticipantTxDone, AbortProgress } from "./protocol/participant-state.js";
export { TxMachine, summarizeRecords } from "./protocol/machine.js";
export { ActionType, OutcomeReason } from "./protocol/actions.js";
export { EventType, TimerName, eventTxId } from "./protocol/events.js";
export { MessageType, isTwopcMessage } from "./protocol/messages.js";
export { RecordType, isTwopcRecord } from "./protocol/records.js";
export { summarizeLog } from "./protocol/log-state.js";
export { Vote, Decision, CoordinatorPhase, ParticipantPhase } from "./protocol/types.js";
export {
  DEFAULT_VOTE_TIMEOUT,
  DEFAULT_RESEND_INTERVAL,
  DEFAULT_ASK_AFTER,
  DEFAULT_ASK_INTERVAL,
  DEFAULT_JOIN_TIMEOUT,
  DEFAULT_REMEMBER_FOR,
} from "./protocol/options.js";
export { TxIdInUseError, InvalidParticipantsError, NotRecoveredError, AlreadyRecoveredError, InvalidLogError } from "./protocol/errors.js";
export type { NodeId, TxId } from "./protocol/types.js";
export type { CoordinatorTx, CoordinatorWaitTx, CoordinatorCommitTx } from "./protocol/coordinator.js";
export type { ParticipantTx, ParticipantInitTx, ParticipantReadyTx, ParticipantCommitTx, ParticipantAbortTx, ParticipantReadOnlyTx } from "./protocol/participant-state.js";
export type { Step } from "./protocol/machine.js";
export type { TwopcAction, AppendAction, SendAction, SetTimerAction, ClearTimerAction, RmPrepareAction, RmCommitAction, RmAbortAction, OutcomeAction } from "./protocol/actions.js";
export type { TwopcEvent, CoordinatorEvent, ParticipantEvent, BeginEvent, JoinEvent, ReceiveEvent, TimeoutEvent, DurableEvent, PreparedEvent, AppliedEvent } from "./protocol/events.js";
export type {
  TwopcMessage,
  VoteReqMessage,
  VoteCommitMessage,
  VoteAbortMessage,
  VoteReadOnlyMessage,
  GlobalCommitMessage,
  GlobalAbortMessage,
  AckMessage,
  DecisionReqMessage,
  DecisionMessage,
} from "./protocol/messages.js";
export type {
  TwopcRecord,
  CoordinatorRecord,
  ParticipantRecord,
  CoordStartRecord,
  CoordCommitRecord,
  CoordAbortRecord,
  CoordEndRecord,
  WorkerReadyRecord,
  WorkerCommitRecord,
  WorkerAbortRecord,
  WorkerEndRecord,
  WorkerInDoubtRecord,
} from "./protocol/records.js";
export type { LogSummary, CoordinatorLogState, ParticipantLogState } from "./protocol/log-state.js";
export type { CoordinatorMachineOptions, ParticipantMachineOptions, ResolvedCoordinatorMachineOptions, ResolvedParticipantMachineOptions } from "./protocol/options.js";
// A node's log, read as a restart would read it (what `twopc-inspect` prints)
export { inspectLog, formatInspection } from "./cli/inspect.js";
export type { Inspection } from "./cli/inspect.js";
