/**
 * RabbitMQ (3.10 from Debian, started by the harness; see `services/rabbitmq.ts`), measured as
 * the zmbox entry each one pairs with: 100-byte bodies, client and server roles in processes of
 * their own, the broker in a third, the same warm-up and counts. Run with `--peers`.
 */
import type { Entry, RunContext } from "../harness.js";
import type { AmqpConsumerRole } from "../roles/amqp-consumer.js";
import type { AmqpPublisherRole } from "../roles/amqp-publisher.js";
import type { AmqpRpcClientRole } from "../roles/amqp-rpc-client.js";
import type { AmqpRpcServerRole } from "../roles/amqp-rpc-server.js";
import { rabbitmq } from "../services/rabbitmq.js";

const SIZE = 100;
let runs = 0;
/** A queue name no earlier run of this harness used. */
const unique = (what: string): string => `bench.${what}.${process.pid}.${++runs}`;
const round = (x: number): number => Math.round(x * 10) / 10;

async function rpc(ctx: RunContext, count: number, inFlight: number) {
  const { url } = ctx.service(rabbitmq);
  const queue = unique("rpc");
  const server = await ctx.fork<AmqpRpcServerRole>("amqp-rpc-server", { url, queue });
  const warmup = count / 10;
  const client = await ctx.fork<AmqpRpcClientRole>("amqp-rpc-client", { url, queue, count, warmup, size: SIZE, inFlight });
  client.start(null);
  const c = await client.result();
  const { handled } = await server.stop();
  if (handled !== count + warmup) throw new Error(`the server answered ${handled} requests, expected ${count + warmup}`);
  return c;
}

/** `rabbitmq.rpc.rtt`: RPC with direct reply-to, one request at a time; p50 round trip. Pairs with `rr.rtt`. */
export const rabbitmqRpcRtt: Entry = {
  name: "rabbitmq.rpc.rtt",
  unit: "us",
  better: "lower",
  peerOf: "rr.rtt",
  services: [rabbitmq],
  async run(ctx) {
    const count = ctx.quick ? 3_000 : 30_000;
    const c = await rpc(ctx, count, 1);
    return { value: round(c.p50Us), p99: round(c.p99Us), p999: round(c.p999Us), extra: { meanUs: round(c.meanUs), requests: count, clientCpuUs: round(c.cpuUs / count) } };
  },
};

/** `rabbitmq.rpc.c64`: the same with 64 requests in flight; replies per second. Pairs with `rr.throughput.c64`. */
export const rabbitmqRpcC64: Entry = {
  name: "rabbitmq.rpc.c64",
  unit: "req/s",
  better: "higher",
  peerOf: "rr.throughput.c64",
  services: [rabbitmq],
  async run(ctx) {
    const count = ctx.quick ? 10_000 : 100_000;
    const c = await rpc(ctx, count, 64);
    return { value: Math.round(count / (c.elapsedMs / 1000)), extra: { requests: count, seconds: Math.round(c.elapsedMs) / 1000, clientCpuUs: round(c.cpuUs / count) } };
  },
};

async function confirmed(ctx: RunContext, durable: boolean, count: number) {
  const { url } = ctx.service(rabbitmq);
  const queue = unique("confirm");
  const window = 512;
  const consumer = await ctx.fork<AmqpConsumerRole>("amqp-consumer", { url, queue, durable, count, size: SIZE, prefetch: 1000 });
  const producer = await ctx.fork<AmqpPublisherRole>("amqp-publisher", { url, queue, persistent: durable, count, size: SIZE, window });
  producer.start(null);
  const c = await consumer.result();
  const p = await producer.result();
  return {
    value: Math.round(count / (c.elapsedMs / 1000)),
    extra: { messages: count, seconds: Math.round(c.elapsedMs) / 1000, producerSeconds: Math.round(p.elapsedMs) / 1000, window, prefetch: 1000 },
  };
}

/**
 * `rabbitmq.confirm.publish`: publisher confirms, 512 unconfirmed at a time, to a non-durable
 * classic queue; a consumer with prefetch 1,000 acks each message; msg/s at the consumer.
 * Pairs with `mailbox.throughput.stored`.
 */
export const rabbitmqConfirmPublish: Entry = {
  name: "rabbitmq.confirm.publish",
  unit: "msg/s",
  better: "higher",
  peerOf: "mailbox.throughput.stored",
  services: [rabbitmq],
  run: (ctx) => confirmed(ctx, false, ctx.quick ? 10_000 : 100_000),
};

/**
 * `rabbitmq.confirm.publish.durable`: the same with a durable queue and persistent messages,
 * which RabbitMQ confirms once on disk (it batches the syncs). No zmbox entry pairs with it yet
 * (a durable mailbox would).
 */
export const rabbitmqConfirmPublishDurable: Entry = {
  name: "rabbitmq.confirm.publish.durable",
  unit: "msg/s",
  better: "higher",
  services: [rabbitmq],
  run: (ctx) => confirmed(ctx, true, ctx.quick ? 6_000 : 60_000),
};
