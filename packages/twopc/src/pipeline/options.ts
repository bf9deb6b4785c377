/** Options of `stage`, `produce` and `pipeline`, their defaults, and one parse function for each. */
import { InvalidArgumentError, type Mailbox, type Until } from "@zmbox/mailbox";
import type { StageContext } from "./stage.js";
import { checkMailbox } from "../check.js";
import { checkFunction, checkInteger, checkName, checkOptions, checkSignal, describe } from "@zmbox/mailbox/internal";

/** Options of {@link stage}. */
export interface StageOptions {
  /**
   * The stage's name, in its dead letters and stats.
   * @default the name part of the `from` address
   */
  name?: string;
  /**
   * Where the handler's outputs go (`name@endpoint` or a Mailbox). Without it the stage is a
   * sink: outputs are ignored.
   */
  to?: string | Mailbox;
  /**
   * Where a message goes when the handler throws (or its output cannot be forwarded), as a
   * {@link DeadLetter}. Required: a failed message is never dropped silently.
   */
  deadLetter: string | Mailbox;
  /**
   * Workers, each running `receive -> handle -> send` on its own: at most this many messages
   * are in the stage at once.
   * @default 1
   */
  concurrency?: number;
  /**
   * Most ms a forward (or dead-letter) send waits to be stored. The default
   * waits for ever: a full next stage holds this one back, which is the point.
   * @default Infinity
   */
  sendTimeout?: number;
  /**
   * Cancels the stage: no more messages are taken, and handlers see `context.signal` abort.
   * A message whose handler then throws is handed back to `from` (nacked), not dead-lettered.
   */
  signal?: AbortSignal;
  /**
   * Ms a worker has to finish a message (handle it and store its output) before `from` gives
   * it to another worker. The default never runs out: a message comes again only if the
   * stage's process dies or loses its connection to `from` (for the owner's
   * `receiverTimeout`). A finite lease also recovers from a handler that hangs, at the price
   * of a duplicate when a slow one (or a forward blocked on a full `to`) takes longer.
   * @default Infinity
   */
  lease?: number;
}

/** @internal */
export const DEFAULT_STAGE_CONCURRENCY = 1;

/** @internal */
export interface ParsedStageOptions {
  name: string;
  to: string | Mailbox | undefined;
  deadLetter: string | Mailbox;
  concurrency: number;
  sendTimeout: number;
  signal: AbortSignal | undefined;
  lease: number;
}

/** @internal */
export function parseStageOptions(options: unknown, defaultName: string): ParsedStageOptions {
  if (options === undefined) throw new InvalidArgumentError("Expected stage options with a `deadLetter` mailbox, got `undefined`");
  const o = checkOptions(options, "stage", ["name", "to", "deadLetter", "concurrency", "sendTimeout", "signal", "lease"]);
  if (o.deadLetter === undefined) {
    throw new InvalidArgumentError("Expected `deadLetter` (a Mailbox or \"name@endpoint\" address: where failed messages go), got `undefined`");
  }
  return {
    name: checkName("name", o.name, defaultName),
    to: o.to === undefined ? undefined : checkMailbox("to", o.to),
    deadLetter: checkMailbox("deadLetter", o.deadLetter),
    concurrency: checkInteger("concurrency", o.concurrency, DEFAULT_STAGE_CONCURRENCY, 1),
    sendTimeout: checkInteger("sendTimeout", o.sendTimeout, Infinity, 0, true),
    signal: checkSignal("signal", o.signal),
    lease: checkInteger("lease", o.lease, Infinity, 1, true),
  };
}

/** Options of {@link Stage.drain}. */
export interface DrainOptions {
  /**
   * The stage stops once its mailbox has given it nothing for this many ms.
   * @default 100
   */
  idleTimeout?: number;
}

/** @internal */
export const DEFAULT_IDLE_TIMEOUT = 100;

/** @internal */
export function parseDrainOptions(options: unknown): { idleTimeout: number } {
  const o = checkOptions(options, "drain", ["idleTimeout"]);
  return { idleTimeout: checkInteger("idleTimeout", o.idleTimeout, DEFAULT_IDLE_TIMEOUT, 1) };
}

/** Options of {@link produce}. */
export interface ProduceOptions {
  /**
   * When each send returns (see the runtime's `SendOptions.until`).
   * @default "stored"
   */
  until?: Until;
  /**
   * Most ms each send waits. The default waits for ever: a full pipeline holds the producer back.
   * @default Infinity
   */
  timeout?: number;
  /** Stops the producer: the send in progress rejects with `AbortedError`. */
  signal?: AbortSignal;
}

/** @internal */
export interface ParsedProduceOptions {
  until: Until;
  timeout: number;
  signal: AbortSignal | undefined;
}

/** @internal */
export function parseProduceOptions(options: unknown): ParsedProduceOptions {
  const o = checkOptions(options, "produce", ["until", "timeout", "signal"]);
  const until = o.until ?? "stored";
  if (until !== "queued" && until !== "stored" && until !== "received") {
    throw new InvalidArgumentError(`Expected \`until\` to be "queued", "stored" or "received", got ${describe(until)}`);
  }
  return { until, timeout: checkInteger("timeout", o.timeout, Infinity, 0, true), signal: checkSignal("signal", o.signal) };
}

/** One stage of {@link pipeline}. */
export interface PipelineStage<In = any, Out = unknown> {
  /** The stage's name; its mailbox is `<prefix><name>` in the pipeline's runtime. */
  name: string;
  handler: (message: In, context: StageContext) => Out | undefined | Promise<Out | undefined>;
  /** @default 1 */
  concurrency?: number;
  /** The capacity of this stage's mailbox. @default the pipeline's `capacity` */
  capacity?: number;
}

/** Options of {@link pipeline}. */
export interface PipelineOptions {
  /**
   * The capacity of each stage's mailbox.
   * @default 100
   */
  capacity?: number;
  /**
   * Where the last stage's outputs go. Without it the last stage is a sink.
   */
  to?: string | Mailbox;
  /**
   * The dead-letter mailbox of every stage.
   * @default a mailbox `<prefix>dead-letter` (capacity 1000) made in the runtime
   */
  deadLetter?: string | Mailbox;
  /**
   * Prefix of the mailbox names the pipeline makes.
   * @default "pipeline."
   */
  prefix?: string;
  /** See {@link StageOptions.sendTimeout}. @default Infinity */
  sendTimeout?: number;
  /** Cancels every stage (see {@link StageOptions.signal}). */
  signal?: AbortSignal;
}

/** @internal */
export const DEFAULT_PIPELINE_CAPACITY = 100;
/** @internal */
export const DEFAULT_DEAD_LETTER_CAPACITY = 1000;

/** @internal */
export interface ParsedPipelineOptions {
  capacity: number;
  to: string | Mailbox | undefined;
  deadLetter: string | Mailbox | undefined;
  prefix: string;
  sendTimeout: number;
  signal: AbortSignal | undefined;
  stages: { name: string; handler: PipelineStage["handler"]; concurrency: number; capacity: number }[];
}

/** @internal */
export function parsePipelineOptions(stages: unknown, options: unknown): ParsedPipelineOptions {
  const o = checkOptions(options, "pipeline", ["capacity", "to", "deadLetter", "prefix", "sendTimeout", "signal"]);
  const capacity = checkInteger("capacity", o.capacity, DEFAULT_PIPELINE_CAPACITY, 1);
  if (!Array.isArray(stages) || stages.length === 0) {
    throw new InvalidArgumentError(`Expected \`stages\` to be a non-empty array of { name, handler }, got ${describe(stages)}`);
  }
  const names = new Set<string>();
  const parsed = stages.map((s: unknown, i) => {
    const so = checkOptions(s, `stages[${i}]`, ["name", "handler", "concurrency", "capacity"]);
    const name = checkName(`stages[${i}].name`, so.name, "");
    if (name === "") throw new InvalidArgumentError(`Expected \`stages[${i}].name\` to be a non-empty string, got \`undefined\``);
    if (names.has(name)) throw new InvalidArgumentError(`Expected unique stage names, got ${describe(name)} twice`);
    names.add(name);
    return {
      name,
      handler: checkFunction<PipelineStage["handler"]>(`stages[${i}].handler`, so.handler),
      concurrency: checkInteger(`stages[${i}].concurrency`, so.concurrency, DEFAULT_STAGE_CONCURRENCY, 1),
      capacity: checkInteger(`stages[${i}].capacity`, so.capacity, capacity, 1),
    };
  });
  return {
    capacity,
    to: o.to === undefined ? undefined : checkMailbox("to", o.to),
    deadLetter: o.deadLetter === undefined ? undefined : checkMailbox("deadLetter", o.deadLetter),
    prefix: checkName("prefix", o.prefix, "pipeline."),
    sendTimeout: checkInteger("sendTimeout", o.sendTimeout, Infinity, 0, true),
    signal: checkSignal("signal", o.signal),
    stages: parsed,
  };
}
