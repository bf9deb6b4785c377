/**
 * Receiving side of `rabbitmq.confirm.publish*`: declares a classic queue (durable or not),
 * consumes it with a prefetch of 1,000 and acks every message; counts `count` 100-byte
 * messages and times them from the first to the last. It deletes the queue at the end.
 */
import amqp from "amqplib";
import { runRole } from "../harness.js";

export interface AmqpConsumerRole {
  args: { url: string; queue: string; durable: boolean; count: number; size: number; prefetch: number };
  ready: null;
  start: never;
  result: { received: number; elapsedMs: number };
}

runRole<AmqpConsumerRole>(async (ctx) => {
  const { url, queue, durable, count, size, prefetch } = ctx.args;
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue(queue, { durable, arguments: { "x-queue-type": "classic" } });
    await ch.prefetch(prefetch);
    let received = 0;
    let first = 0;
    let done!: (elapsedMs: number) => void;
    let fail!: (err: Error) => void;
    const finished = new Promise<number>((resolve, reject) => ((done = resolve), (fail = reject)));
    await ch.consume(queue, (m) => {
      if (m === null) return; // cancelled by the server
      if (received === 0) first = performance.now();
      if (m.content.length !== size) fail(new Error(`a message of ${m.content.length} bytes, expected ${size}`));
      ch.ack(m);
      if (++received === count) done(performance.now() - first);
    });
    ctx.ready(null);
    const elapsedMs = await finished;
    await ch.deleteQueue(queue);
    return { received, elapsedMs };
  } finally {
    await conn.close();
  }
});
