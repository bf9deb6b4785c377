import type { Until } from "@zmbox/mailbox";
import { measureRss, type Entry, type RunContext } from "../harness.js";
import type { MailboxConsumerRole } from "../roles/mailbox-consumer.js";
import type { MailboxProducerRole } from "../roles/mailbox-producer.js";

const SIZE = 100;
const CAPACITY = 1000;

/** Producer and consumer in separate processes; msg/s measured at the consumer, first to last message. */
async function throughput(ctx: RunContext, until: Until, ack: "auto" | "manual" = "auto") {
  const count = ctx.quick ? 100_000 : 1_000_000;
  const consumer = await ctx.fork<MailboxConsumerRole>("mailbox-consumer", { capacity: CAPACITY, count, pauseMs: 0, ack });
  const producer = await ctx.fork<MailboxProducerRole>("mailbox-producer", {
    address: consumer.info.address, count, size: SIZE, until, window: 512,
  });
  producer.start(null);
  const r = await consumer.result();
  const p = await producer.result();
  if (r.received !== count) throw new Error(`the consumer got ${r.received} of ${count} messages`);
  return {
    value: Math.round(count / (r.elapsedMs / 1000)),
    extra: { messages: count, seconds: Math.round(r.elapsedMs) / 1000, peakDepth: r.peakDepth, capacity: CAPACITY, retransmitted: p.retransmitted },
  };
}

/**
 * `mailbox.throughput.queued`: 100-byte payloads to a mailbox (capacity 1000) in another
 * process, `until: "queued"`, one awaited send each, flow control on, every message taken by
 * a consumer loop. Compared with `zeromq.push-pull`.
 */
export const mailboxThroughputQueued: Entry = {
  name: "mailbox.throughput.queued",
  unit: "msg/s",
  better: "higher",
  baseline: "zeromq.push-pull",
  run: (ctx) => throughput(ctx, "queued"),
};

/** `mailbox.throughput.stored`: the same with `until: "stored"` and 512 sends in flight. */
export const mailboxThroughputStored: Entry = {
  name: "mailbox.throughput.stored",
  unit: "msg/s",
  better: "higher",
  baseline: "zeromq.push-pull",
  run: (ctx) => throughput(ctx, "stored"),
};

/**
 * `mailbox.throughput.acked`: `mailbox.throughput.stored` with the consumer in manual-ack mode:
 * `receive({ ack: "manual" })`, then `delivery.ack()` for each message (the message holds its
 * slot until the ack). Compared with `mailbox.throughput.stored`; the goal is at least 0.8.
 */
export const mailboxThroughputAcked: Entry = {
  name: "mailbox.throughput.acked",
  unit: "msg/s",
  better: "higher",
  baseline: "mailbox.throughput.stored",
  run: (ctx) => throughput(ctx, "stored", "manual"),
};

/**
 * `mailbox.memory.slow-consumer`: a producer sending as fast as it can (`until: "queued"`) for
 * 10 s to a consumer that takes one message per millisecond. `value` is the peak mailbox depth
 * over its capacity (flow control holds it <= 1.0); the RSS growth of both processes is beside it.
 */
export const mailboxMemorySlowConsumer: Entry = {
  name: "mailbox.memory.slow-consumer",
  unit: "depth/capacity",
  better: "lower",
  async run(ctx) {
    const seconds = ctx.quick ? 2 : 10;
    const consumer = await ctx.fork<MailboxConsumerRole>("mailbox-consumer", { capacity: CAPACITY, count: 0, pauseMs: 1, ack: "auto" });
    const producer = await ctx.fork<MailboxProducerRole>("mailbox-producer", {
      address: consumer.info.address, count: 0, size: SIZE, until: "queued", window: 1,
    });
    const rssConsumer = measureRss(consumer);
    const rssProducer = measureRss(producer);
    producer.start(null);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const [c, p] = [await rssConsumer.stop(), await rssProducer.stop()];
    const sent = await producer.stop();
    const got = await consumer.stop();
    return {
      value: got.peakDepth / got.capacity,
      extra: {
        seconds,
        peakDepth: got.peakDepth,
        capacity: got.capacity,
        received: got.received,
        sent: sent.sent,
        refused: got.refused,
        rssGrowthMiB: { producer: round(p.growthMiB), consumer: round(c.growthMiB) },
        rssPeakMiB: { producer: round(p.peakMiB), consumer: round(c.peakMiB) },
      },
    };
  },
};

const round = (x: number): number => Math.round(x * 10) / 10;
