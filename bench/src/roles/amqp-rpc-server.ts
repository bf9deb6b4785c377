/**
 * Server side of `rabbitmq.rpc.*`: consumes a non-durable queue without acks and sends every
 * body back to the request's `replyTo` (direct reply-to) with its `correlationId`.
 */
import amqp from "amqplib";
import { runRole } from "../harness.js";

export interface AmqpRpcServerRole {
  args: { url: string; queue: string };
  ready: null;
  start: never;
  /** How many requests it answered. */
  result: { handled: number };
}

runRole<AmqpRpcServerRole>(async (ctx) => {
  const conn = await amqp.connect(ctx.args.url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue(ctx.args.queue, { durable: false, autoDelete: true });
    let handled = 0;
    await ch.consume(
      ctx.args.queue,
      (m) => {
        if (m === null) return;
        handled++;
        ch.sendToQueue(m.properties.replyTo as string, m.content, { correlationId: m.properties.correlationId as string });
      },
      { noAck: true },
    );
    ctx.ready(null);
    await ctx.stopped;
    return { handled };
  } finally {
    await conn.close();
  }
});
