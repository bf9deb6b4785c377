// Request-response (issue 4)
export { serve, Server } from "./rr/server.js";
export { Client, request } from "./rr/client.js";
export { RemoteError, RequestTimeoutError } from "./rr/errors.js";
export { ReplyCache } from "./rr/reply-cache.js";
export { BAD_REQUEST } from "./rr/wire.js";
export type { Handler, RequestContext, ServerStats } from "./rr/server.js";
export type { ClientStats } from "./rr/client.js";
export type { ErrorInfo } from "./rr/errors.js";
export type { ServeOptions, ClientOptions, RequestOptions } from "./rr/options.js";
export type { RequestEnvelope, ReplyEnvelope, CompactRequest, CompactReply } from "./rr/wire.js";
// Producer-consumer pipelines (issue 4)
export { stage, Stage } from "./pipeline/stage.js";
export { produce } from "./pipeline/produce.js";
export { pipeline, Pipeline } from "./pipeline/pipeline.js";
export { isDeadLetter } from "./pipeline/dead-letter.js";
export type { StageContext, StageHandler, StageStats } from "./pipeline/stage.js";
export type { PipelineStats } from "./pipeline/pipeline.js";
export type { DeadLetter } from "./pipeline/dead-letter.js";
export type { StageOptions, DrainOptions, ProduceOptions, PipelineOptions, PipelineStage } from "./pipeline/options.js";
// Two-phase commit on the mailbox runtime (issue 3)
export { Coordinator } from "./driver/coordinator.js";
export { Participant } from "./driver/participant.js";
export { NodeClosedError, NodeFailedError } from "./driver/errors.js";
export type { CoordinatorOptions, TransactOptions, Outcome, CoordinatorInDoubt, CoordinatorStats } from "./driver/coordinator.js";
export type { ResourceManager, ParticipantOptions, ParticipantInDoubt, ParticipantStats } from "./driver/participant.js";
export type { NodeOptions, NodeStats } from "./driver/node.js";
// Two-phase commit: the sans-IO machines (issue 3)
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
  parseCoordinatorMachineOptions,
  parseParticipantMachineOptions,
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
export type { TwopcMessage, VoteReqMessage, DecisionMessage } from "./protocol/messages.js";
export type { TwopcRecord, CoordinatorRecord, ParticipantRecord } from "./protocol/records.js";
export type { LogSummary, CoordinatorLogState, ParticipantLogState } from "./protocol/log-state.js";
export type { CoordinatorMachineOptions, ParticipantMachineOptions, ResolvedCoordinatorMachineOptions, ResolvedParticipantMachineOptions } from "./protocol/options.js";
// The stable log is @zmbox/log; a node's log can be inspected
export { inspectLog, formatInspection } from "./cli/inspect.js";
export type { Inspection } from "./cli/inspect.js";
// Checking 2PC: deterministic simulator and exhaustive checker (issue 3)
export { simulateSeed } from "./sim/simulator.js";
export { checkExhaustively } from "./sim/exhaustive.js";
export type { SimOptions, SimResult, SimStats } from "./sim/simulator.js";
export type { ExhaustiveOptions, ExhaustiveResult, ExhaustiveViolation } from "./sim/exhaustive.js";
