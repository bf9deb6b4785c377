/**
 * Sugar for a pipeline whose mailboxes live in one runtime: one mailbox per stage
 * (`<prefix><name>`, with its own capacity), a stage on each, each stage sending to the
 * next one's mailbox, and one dead-letter mailbox. The stages themselves are ordinary
 * {@link stage}s: a stage could as well run in another process on the same address.
 *
 *   produce -> [a] -> stage a -> [b] -> stage b -> [c] -> stage c -> `to` (or a sink)
 *                        \____________\_______________\____> [dead-letter]
 */
import type { Mailbox, Runtime } from "@zmbox/mailbox";
import { addressOf, checkRuntime } from "../check.js";
import { DEFAULT_DEAD_LETTER_CAPACITY, parsePipelineOptions, type PipelineOptions, type PipelineStage } from "./options.js";
import { Stage, type StageStats } from "./stage.js";

/** Figures from {@link Pipeline.stats}. */
export interface PipelineStats {
  stages: (StageStats & { depth: number; capacity: number })[];
}

/** A running pipeline; made by {@link pipeline}. */
export class Pipeline implements AsyncDisposable {
  /** The first stage's mailbox: send the pipeline's input here. */
  readonly input: string;
  /** Where dead letters go. */
  readonly deadLetter: string;
  readonly stages: readonly Stage[];
  readonly mailboxes: readonly Mailbox[];

  /** @internal Use {@link pipeline}. */
  constructor(input: string, deadLetter: string, stages: Stage[], mailboxes: Mailbox[]) {
    this.input = input;
    this.deadLetter = deadLetter;
    this.stages = stages;
    this.mailboxes = mailboxes;
  }

  /**
   * Per stage: its counters, and its mailbox's depth against its capacity.
   * @example
   * for (const s of p.stats().stages) console.log(s.name, `${s.depth}/${s.capacity}`, s.inFlight);
   */
  stats(): PipelineStats {
    return {
      stages: this.stages.map((s, i) => ({ ...s.stats(), depth: this.mailboxes[i]!.depth, capacity: this.mailboxes[i]!.capacity })),
    };
  }

  /**
   * Graceful stop, front to back: the first stage takes no more input (what is still in the
   * input mailbox stays there) and finishes what it took; then each later stage drains its
   * mailbox (until it stays empty for `idleTimeout`) and stops. Every message past the input
   * mailbox is finished: forwarded, consumed or dead-lettered.
   * @example
   * process.once("SIGTERM", async () => { await p.stop({ idleTimeout: 200 }); await rt.close(); });
   */
  async stop(options?: { idleTimeout?: number }): Promise<PipelineStats> {
    const [first, ...rest] = this.stages;
    await first?.stop();
    for (const s of rest) await s.drain(options);
    return this.stats();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Builds a pipeline in `runtime`: a mailbox and a stage per entry of `stages`.
 * @example
 * const p = pipeline(rt, [
 *   { name: "parse", handler: (line: string) => JSON.parse(line), concurrency: 2 },
 *   { name: "enrich", handler: async (order) => ({ ...order, price: await price(order) }), concurrency: 8 },
 *   { name: "store", handler: async (order) => void (await db.insert(order)) },
 * ], { capacity: 100 });
 * await produce(rt, p.input, lines);
 * await p.stop();
 */
export function pipeline(runtime: Runtime, stages: readonly PipelineStage[], options?: PipelineOptions): Pipeline {
  const rt = checkRuntime(runtime);
  const o = parsePipelineOptions(stages, options);
  const made: Mailbox[] = [];
  try {
    const dead = o.deadLetter ?? rt.mailbox(`${o.prefix}dead-letter`, { capacity: DEFAULT_DEAD_LETTER_CAPACITY });
    if (o.deadLetter === undefined) made.push(dead as Mailbox);
    const boxes = o.stages.map((s) => rt.mailbox(`${o.prefix}${s.name}`, { capacity: s.capacity }));
    made.push(...boxes);
    const running = o.stages.map(
      (s, i) =>
        new Stage(rt, boxes[i]!, s.handler, {
          name: s.name,
          to: i + 1 < boxes.length ? boxes[i + 1]! : o.to,
          deadLetter: dead,
          concurrency: s.concurrency,
          sendTimeout: o.sendTimeout,
          signal: o.signal,
          lease: Infinity,
        }),
    );
    return new Pipeline(boxes[0]!.address, addressOf(dead), running, boxes);
  } catch (error) {
    // A name taken in the runtime: leave no half-built pipeline behind.
    for (const mb of made) mb.close();
    throw error;
  }
}
