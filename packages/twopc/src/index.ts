/**
 * `@zmbox/twopc`: the calls most programs need. Request-response (`serve`, `request`,
 * `Client`), producer-consumer pipelines (`stage`, `pipeline`, `produce`) and two-phase commit
 * (`Coordinator`, `Participant`), the errors to catch, and the types of their options and
 * results.
 *
 * The rest is in topic entries: `@zmbox/twopc/rr`, `@zmbox/twopc/pipeline`,
 * `@zmbox/twopc/2pc` (the sans-IO protocol machines, for your own driver or tools) and
 * `@zmbox/twopc/sim` (the simulator and the exhaustive checker).
 */
// Request-response
export { serve, Server } from "./rr/server.js";
export { Client, request } from "./rr/client.js";
export { RemoteError, RequestTimeoutError } from "./rr/errors.js";
export type { Handler, RequestContext, ServerStats } from "./rr/server.js";
export type { ClientStats } from "./rr/client.js";
export type { ServeOptions, ClientOptions, RequestOptions } from "./rr/options.js";
// Producer-consumer pipelines
export { stage, Stage } from "./pipeline/stage.js";
export { produce } from "./pipeline/produce.js";
export { pipeline, Pipeline } from "./pipeline/pipeline.js";
export { isDeadLetter } from "./pipeline/dead-letter.js";
export type { StageContext, StageHandler, StageStats } from "./pipeline/stage.js";
export type { PipelineStats } from "./pipeline/pipeline.js";
export type { DeadLetter } from "./pipeline/dead-letter.js";
export type { StageOptions, DrainOptions, ProduceOptions, PipelineOptions, PipelineStage } from "./pipeline/options.js";
// Two-phase commit
export { Coordinator } from "./driver/coordinator.js";
export { Participant } from "./driver/participant.js";
export { NodeClosedError, NodeFailedError } from "./driver/errors.js";
export { TxIdInUseError, InvalidParticipantsError, InvalidLogError } from "./protocol/errors.js";
export type { CoordinatorOptions, TransactOptions, Outcome, CoordinatorInDoubt, CoordinatorStats } from "./driver/coordinator.js";
export type { ResourceManager, AbortVote, ParticipantOptions, ParticipantInDoubt, ParticipantStats } from "./driver/participant.js";
export type { NodeOptions, NodeStats } from "./driver/node.js";
export { Vote } from "./protocol/types.js";
export { OutcomeReason } from "./protocol/actions.js";
export type { NodeId, TxId } from "./protocol/types.js";
