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
export type { RequestEnvelope, ReplyEnvelope } from "./rr/wire.js";
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
