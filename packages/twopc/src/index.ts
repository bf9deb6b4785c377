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
export { Coordinator } from "./node/coordinator.js";
export { Participant } from "./node/participant.js";
export { NodeClosedError, NodeFailedError } from "./node/errors.js";
export type { CoordinatorNodeOptions, TransactOptions, Outcome, CoordinatorInDoubt, CoordinatorStats } from "./node/coordinator.js";
export type { ResourceManager, ParticipantOptions, ParticipantInDoubt, ParticipantStats } from "./node/participant.js";
export type { NodeOptions, NodeStats } from "./node/node.js";
// Two-phase commit: the sans-IO machines (issue 3)
export { CoordinatorMachine, stepCoordinator, recoverCoordinatorTx } from "./twopc/coordinator.js";
export { WorkerMachine, stepWorker, recoverWorkerTx, recoverUnloggedPrepared } from "./twopc/worker.js";
export { isWorkerTxDone, AbortProgress } from "./twopc/worker-state.js";
export { TxMachine, summarizeRecords } from "./twopc/machine.js";
export { ActionType, OutcomeReason } from "./twopc/actions.js";
export { EventType, TimerName, eventTxId } from "./twopc/events.js";
export { MessageType, isTwopcMessage } from "./twopc/messages.js";
export { RecordType, isTwopcRecord } from "./twopc/records.js";
export { summarizeLog } from "./twopc/log-state.js";
export { Vote, Decision, CoordinatorPhase, WorkerPhase } from "./twopc/types.js";
export {
  Mutation,
  parseCoordinatorOptions,
  parseWorkerOptions,
  DEFAULT_VOTE_TIMEOUT_MS,
  DEFAULT_RESEND_INTERVAL_MS,
  DEFAULT_ASK_AFTER_MS,
  DEFAULT_ASK_INTERVAL_MS,
  DEFAULT_JOIN_TIMEOUT_MS,
  DEFAULT_REMEMBER_MS,
} from "./twopc/options.js";
export { TxIdInUseError, InvalidParticipantsError, NotRecoveredError, AlreadyRecoveredError, InvalidLogError } from "./twopc/errors.js";
export type { NodeId, TxId } from "./twopc/types.js";
export type { CoordinatorTx, CoordinatorWaitTx, CoordinatorCommitTx } from "./twopc/coordinator.js";
export type { WorkerTx, WorkerInitTx, WorkerReadyTx, WorkerCommitTx, WorkerAbortTx, WorkerReadOnlyTx } from "./twopc/worker-state.js";
export type { Step } from "./twopc/machine.js";
export type { TwopcAction, AppendAction, SendAction, SetTimerAction, ClearTimerAction, RmPrepareAction, RmCommitAction, RmAbortAction, OutcomeAction } from "./twopc/actions.js";
export type { TwopcEvent, CoordinatorEvent, WorkerEvent, BeginEvent, JoinEvent, ReceiveEvent, TimeoutEvent, DurableEvent, PreparedEvent, AppliedEvent } from "./twopc/events.js";
export type { TwopcMessage, VoteReqMessage, DecisionMessage } from "./twopc/messages.js";
export type { TwopcRecord, CoordinatorRecord, WorkerRecord } from "./twopc/records.js";
export type { LogSummary, CoordinatorLogState, WorkerLogState } from "./twopc/log-state.js";
export type { CoordinatorOptions, WorkerOptions, ResolvedCoordinatorOptions, ResolvedWorkerOptions } from "./twopc/options.js";
// The stable log (issue 3)
export { StableLog, readLog, LOG_FILE_NAME, DEFAULT_COMPACT_MIN_BYTES, DEFAULT_COMPACT_RATIO } from "./log/log.js";
export { nodeFs, createNodeFs } from "./log/fs.js";
export { MemoryFs } from "./log/memory-fs.js";
export { encodeFrame, decodeFrames, FRAME_HEADER_BYTES, MAX_RECORD_BYTES } from "./log/frame.js";
export { LogFailedError, LogClosedError, RecordTooLargeError } from "./log/errors.js";
export { inspectLog, formatInspection } from "./log/inspect.js";
export type { LogOptions, AppendOptions, LogStats, OpenedLog, LogContents } from "./log/log.js";
export type { LogFs, LogFileHandle, NodeFsOptions } from "./log/fs.js";
export type { MemoryFsOptions, MemoryFsOp } from "./log/memory-fs.js";
export type { Frame, DecodedFrames } from "./log/frame.js";
export type { Inspection } from "./log/inspect.js";
// Checking 2PC: deterministic simulator and exhaustive checker (issue 3)
export { simulateSeed } from "./sim/simulator.js";
export { checkExhaustively } from "./sim/exhaustive.js";
export type { SimOptions, SimResult, SimStats } from "./sim/simulator.js";
export type { ExhaustiveOptions, ExhaustiveResult, ExhaustiveViolation } from "./sim/exhaustive.js";
