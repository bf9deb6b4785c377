/**
 * Client side of `rabbitmq.rpc.*`: RabbitMQ's RPC with direct reply-to. Each request is
 * published to the server's queue with `replyTo: "amq.rabbitmq.reply-to"` and a correlation id,
 * and its promise kept by that id until the reply comes on the same channel. Timed like
 * `rr-client.ts`.
 */
import amqp from "amqplib";
import { cpuUs, inLanes, runRole, timeEach, type Timed } from "../harness.js";

export interface AmqpRpcClientRole {
  args: { url: string; queue: string; count: number; warmup: number; size: number; inFlight: number };
  ready: null;
  start: null;
  /** Over the timed requests; the round trips are NaN with more than one in flight. */
  result: Timed;
}

runRole<AmqpRpcClientRole>(async (ctx) => {
  const { url, queue, count, warmup, size, inFlight } = ctx.args;
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    const pending = new Map<string, (body: Buffer) => void>();
    await ch.consume(
      "amq.rabbitmq.reply-to",
      (m) => {
        if (m === null) return;
        const id = m.properties.correlationId as string;
        const settle = pending.get(id);
        pending.delete(id);
        settle?.(m.content);
      },
      { noAck: true },
    );
    const drained: (() => void)[] = [];
    ch.on("drain", () => drained.splice(0).forEach((resume) => resume()));
    const body = Buffer.alloc(size, 0x61);
    let nextId = 0;
    const once = async (): Promise<void> => {
      const id = String(++nextId);
      const reply = new Promise<Buffer>((resolve) => pending.set(id, resolve));
      if (!ch.sendToQueue(queue, body, { replyTo: "amq.rabbitmq.reply-to", correlationId: id })) {
        await new Promise<void>((resolve) => drained.push(resolve));
      }
      const content = await reply;
      if (content.length !== size) throw new Error(`a reply of ${content.length} bytes, expected ${size}`);
    };
    ctx.ready(null);
    await ctx.started;
    // Warmed up after the go, not before ready: a busy machine must not hit the harness's 20 s
    // limit on getting ready. No server CPU is read around it, unlike the zmbox entries.
    await inLanes(warmup, inFlight, once);
    if (inFlight === 1) return await timeEach(count, once);
    const cpu0 = cpuUs();
    const t0 = performance.now();
    await inLanes(count, inFlight, once);
    return { count, p50Us: NaN, p99Us: NaN, p999Us: NaN, meanUs: NaN, elapsedMs: performance.now() - t0, cpuUs: cpuUs() - cpu0 };
  } finally {
    await conn.close();
  }
});
