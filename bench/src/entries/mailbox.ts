import { generateKeyPair, parseAddress, type Until } from "@zmbox/mailbox";
import { measureRss, type Entry, type RunContext } from "../harness.js";
import type { MailboxConsumerRole } from "../roles/mailbox-consumer.js";
import type { MailboxProducerRole } from "../roles/mailbox-producer.js";

const SIZE = 100;
const CAPACITY = 1000;

/** Producer and consumer in separate processes; msg/s measured at the consumer, first to last message. */
async function throughput(ctx: RunContext, until: Until, options: { dataDir?: string; ack?: "auto" | "manual"; curve?: boolean } = {}) {
  const { dataDir, ack = "auto" } = options;
  const count = ctx.quick ? 100_000 : dataDir === undefined ? 1_000_000 : 500_000;
  // With `curve`: both runtimes have key pairs, the owner admits only the producer's key.
  const keys = options.curve === true ? { owner: generateKeyPair(), producer: generateKeyPair() } : undefined;
  const consumer = await ctx.fork<MailboxConsumerRole>("mailbox-consumer", {
    capacity: CAPACITY, count, pauseMs: 0, ack, ...(dataDir === undefined ? {} : { dataDir }),
    ...(keys === undefined ? {} : { curve: { ...keys.owner, allow: [keys.producer.publicKey] } }),
  });
  const { endpoint } = parseAddress(consumer.info.address);
  const producer = await ctx.fork<MailboxProducerRole>("mailbox-producer", {
    address: consumer.info.address, count, size: SIZE, until, window: 512,
    ...(keys === undefined ? {} : { curve: { ...keys.producer, peers: { [endpoint]: keys.owner.publicKey } } }),
  });
  producer.start(null);
  const r = await consumer.result();
  const p = await producer.result();
  if (r.received !== count) throw new Error(`the consumer got ${r.received} of ${count} messages`);
  return {
    value: Math.round(count / (r.elapsedMs / 1000)),
    extra: {
      messages: count, seconds: Math.round(r.elapsedMs) / 1000, peakDepth: r.peakDepth, capacity: CAPACITY, retransmitted: p.retransmitted,
      ...(r.log === undefined ? {} : { log: r.log, messagesPerSync: Math.round(count / Math.max(1, r.log.syncs)) }),
    },
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
 * `mailbox.throughput.stored.curve`: `mailbox.throughput.stored` with CURVE on (every frame
 * encrypted and authenticated, the owner admitting only the producer's key). Compared with
 * `mailbox.throughput.stored`: the ratio is what security costs in throughput. No goal.
 */
export const mailboxThroughputStoredCurve: Entry = {
  name: "mailbox.throughput.stored.curve",
  unit: "msg/s",
  better: "higher",
  baseline: "mailbox.throughput.stored",
  run: (ctx) => throughput(ctx, "stored", { curve: true }),
};

/**
 * `mailbox.throughput.durable`: `mailbox.throughput.stored` to a durable mailbox, its log in a
 * fresh directory under `$BENCH_LOG_DIR` (default the OS temp dir). A send resolves once its
 * message is on disk; the messages that arrive together share one fdatasync. Compared with
 * `fs.fdatasync` (the ratio is messages per sync, as one sync a message would give 1).
 */
export const mailboxThroughputDurable: Entry = {
  name: "mailbox.throughput.durable",
  unit: "msg/s",
  better: "higher",
  baseline: "fs.fdatasync",
  run: async (ctx) => throughput(ctx, "stored", { dataDir: await ctx.tempDir() }),
};

/**
 * `mailbox.memory.slow-consumer.durable`: `mailbox.memory.slow-consumer` with a durable
 * mailbox. `value` is the peak depth over capacity (<= 1.0); `extra.log` says how large the
 * log grew (compaction keeps it near what the mailbox holds, once past 1 MiB).
 */
export const mailboxMemorySlowConsumerDurable: Entry = {
  name: "mailbox.memory.slow-consumer.durable",
  unit: "depth/capacity",
  better: "lower",
  run: async (ctx) => slowConsumer(ctx, await ctx.tempDir()),
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
  run: (ctx) => throughput(ctx, "stored", { ack: "manual" }),
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
  run: (ctx) => slowConsumer(ctx),
};

async function slowConsumer(ctx: RunContext, dataDir?: string) {
  const seconds = ctx.quick ? 2 : 10;
  const consumer = await ctx.fork<MailboxConsumerRole>("mailbox-consumer", {
    capacity: CAPACITY, count: 0, pauseMs: 1, ack: "auto", ...(dataDir === undefined ? {} : { dataDir }),
  });
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
      ...(got.log === undefined ? {} : { log: got.log }),
    },
  };
}

const round = (x: number): number => Math.round(x * 10) / 10;
