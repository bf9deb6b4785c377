import { measureRss, type Entry } from "../harness.js";
import type { MailboxProducerRole } from "../roles/mailbox-producer.js";
import type { PipelineStageRole } from "../roles/pipeline-stage.js";

const CAPACITY = 100;
const round = (x: number): number => Math.round(x * 10) / 10;

/**
 * `pipeline.memory.slow-stage`: a 3-stage pipeline, one process per stage (each owning its
 * mailbox, capacity 100), fed by a producer process sending 100-byte payloads as fast as
 * `until: "stored"` lets it, for 10 s. The last stage is slow (1 ms a message, one worker);
 * the first two are fast (4 workers). `value` is the largest depth / capacity any stage's
 * mailbox reached (flow control holds it <= 1.0); the RSS growth of every process is beside it.
 */
export const pipelineMemorySlowStage: Entry = {
  name: "pipeline.memory.slow-stage",
  unit: "depth/capacity",
  better: "lower",
  async run(ctx) {
    const seconds = ctx.quick ? 2 : 10;
    const fork = (name: string, concurrency: number, pauseMs: number, to: string | null) =>
      ctx.fork<PipelineStageRole>("pipeline-stage", { name, capacity: CAPACITY, concurrency, pauseMs, to });
    const store = await fork("store", 1, 1, null);
    const enrich = await fork("enrich", 4, 0, store.info.address);
    const parse = await fork("parse", 4, 0, enrich.info.address);
    const producer = await ctx.fork<MailboxProducerRole>("mailbox-producer", {
      address: parse.info.address, count: 0, size: 100, until: "stored", window: 1,
    });
    const stages = [parse, enrich, store];
    const rss = [producer, ...stages].map((p) => measureRss(p));
    producer.start(null);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const [rssProducer, ...rssStages] = await Promise.all(rss.map((r) => r.stop()));
    const sent = await producer.stop();
    // Front to back: each stage finishes what it holds while the next one still runs.
    const results = [];
    for (const s of stages) results.push(await s.stop());
    const worst = Math.max(...results.map((r) => r.peakDepth / r.capacity));
    return {
      value: worst,
      extra: {
        seconds,
        sent: sent.sent,
        stored: results[2]!.received,
        peakDepth: Object.fromEntries(results.map((r) => [r.name, r.peakDepth])),
        capacity: CAPACITY,
        rssGrowthMiB: {
          producer: round(rssProducer!.growthMiB),
          ...Object.fromEntries(results.map((r, i) => [r.name, round(rssStages[i]!.growthMiB)])),
        },
      },
    };
  },
};
