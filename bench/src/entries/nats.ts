/**
 * NATS (nats-server 2.9 from Debian, started by the harness; see `services/nats.ts`), measured
 * as the zmbox entry each one pairs with: the same 100-byte bodies, the same process layout
 * (client and server roles in processes of their own, the broker in a third), the same warm-up
 * and counts. Run with `--peers`.
 */
import type { Entry, RunContext } from "../harness.js";
import type { NatsConsumerRole } from "../roles/nats-consumer.js";
import type { NatsPublisherRole } from "../roles/nats-publisher.js";
import type { NatsRequesterRole } from "../roles/nats-requester.js";
import type { NatsResponderRole } from "../roles/nats-responder.js";
import { nats } from "../services/nats.js";

const SIZE = 100;
let runs = 0;
/** A subject no earlier run of this harness used. */
const unique = (what: string): string => `bench.${what}.${process.pid}.${++runs}`;
const round = (x: number): number => Math.round(x * 10) / 10;

async function requestReply(ctx: RunContext, count: number, inFlight: number) {
  const { url } = ctx.service(nats);
  const subject = unique("rr");
  const server = await ctx.fork<NatsResponderRole>("nats-responder", { url, subject });
  const warmup = count / 10;
  const client = await ctx.fork<NatsRequesterRole>("nats-requester", { url, subject, count, warmup, size: SIZE, inFlight });
  client.start(null);
  const c = await client.result();
  const { handled } = await server.stop();
  if (handled !== count + warmup) throw new Error(`the responder answered ${handled} requests, expected ${count + warmup}`);
  return c;
}

/** `nats.rr.rtt`: NATS core request/reply, one request at a time; p50 round trip. Pairs with `rr.rtt`. */
export const natsRrRtt: Entry = {
  name: "nats.rr.rtt",
  unit: "us",
  better: "lower",
  peerOf: "rr.rtt",
  services: [nats],
  async run(ctx) {
    const count = ctx.quick ? 3_000 : 30_000;
    const c = await requestReply(ctx, count, 1);
    return { value: round(c.p50Us), p99: round(c.p99Us), p999: round(c.p999Us), extra: { meanUs: round(c.meanUs), requests: count, clientCpuUs: round(c.cpuUs / count) } };
  },
};

/** `nats.rr.c64`: the same with 64 requests in flight; replies per second. Pairs with `rr.throughput.c64`. */
export const natsRrC64: Entry = {
  name: "nats.rr.c64",
  unit: "req/s",
  better: "higher",
  peerOf: "rr.throughput.c64",
  services: [nats],
  async run(ctx) {
    const count = ctx.quick ? 20_000 : 200_000;
    const c = await requestReply(ctx, count, 64);
    return { value: Math.round(count / (c.elapsedMs / 1000)), extra: { requests: count, seconds: Math.round(c.elapsedMs) / 1000, clientCpuUs: round(c.cpuUs / count) } };
  },
};

async function oneWay(ctx: RunContext, mode: "core" | "jetstream", storage: "memory" | "file", count: number, window: number) {
  const { url } = ctx.service(nats);
  const args = { url, mode, subject: unique("pub"), creditSubject: unique("credit"), stream: unique("stream").replaceAll(".", "_"), storage, count, size: SIZE };
  const consumer = await ctx.fork<NatsConsumerRole>("nats-consumer", args);
  const producer = await ctx.fork<NatsPublisherRole>("nats-publisher", { ...args, window });
  producer.start(null);
  const c = await consumer.result();
  const p = await producer.result();
  return {
    value: Math.round(count / (c.elapsedMs / 1000)),
    extra: { messages: count, seconds: Math.round(c.elapsedMs) / 1000, producerSeconds: Math.round(p.elapsedMs) / 1000, window },
  };
}

/**
 * `nats.core.publish`: NATS core publish, fire and forget, kept within 131,072 messages of what
 * the consumer has counted (NATS core has no flow control, and cuts off a subscriber that falls
 * too far behind); msg/s at the consumer. Pairs with `mailbox.throughput.queued`.
 */
export const natsCorePublish: Entry = {
  name: "nats.core.publish",
  unit: "msg/s",
  better: "higher",
  peerOf: "mailbox.throughput.queued",
  services: [nats],
  run: (ctx) => oneWay(ctx, "core", "memory", ctx.quick ? 200_000 : 2_000_000, 131_072),
};

/**
 * `nats.jetstream.publish`: JetStream, a memory work-queue stream, `js.publish()` with 512
 * awaiting their PubAck, a durable pull consumer acking each message; msg/s at the consumer.
 * Pairs with `mailbox.throughput.stored`.
 */
export const natsJetstreamPublish: Entry = {
  name: "nats.jetstream.publish",
  unit: "msg/s",
  better: "higher",
  peerOf: "mailbox.throughput.stored",
  services: [nats],
  run: (ctx) => oneWay(ctx, "jetstream", "memory", ctx.quick ? 15_000 : 150_000, 512),
};

/**
 * `nats.jetstream.publish.file`: the same on file storage. JetStream acknowledges a message once
 * written, and syncs to disk every 2 minutes by default, not per ack: not an fdatasync'd figure.
 * No zmbox entry pairs with it yet (a durable mailbox would).
 */
export const natsJetstreamPublishFile: Entry = {
  name: "nats.jetstream.publish.file",
  unit: "msg/s",
  better: "higher",
  services: [nats],
  run: (ctx) => oneWay(ctx, "jetstream", "file", ctx.quick ? 6_000 : 60_000, 512),
};
