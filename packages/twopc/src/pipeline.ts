/**
 * `@zmbox/twopc/pipeline`: everything of producer-consumer pipelines. `stage`, `pipeline` and
 * `produce` as in the main entry, plus dead letters and the stats and option types.
 */
export { stage, Stage } from "./pipeline/stage.js";
export { produce } from "./pipeline/produce.js";
export { pipeline, Pipeline } from "./pipeline/pipeline.js";
export { isDeadLetter } from "./pipeline/dead-letter.js";
export type { StageContext, StageHandler, StageStats } from "./pipeline/stage.js";
export type { PipelineStats } from "./pipeline/pipeline.js";
export type { DeadLetter } from "./pipeline/dead-letter.js";
export type { StageOptions, DrainOptions, ProduceOptions, PipelineOptions, PipelineStage } from "./pipeline/options.js";
