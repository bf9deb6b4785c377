/**
 * Sending side of `rabbitmq.confirm.publish*`: publishes `count` 100-byte messages to the queue
 * on a confirm channel, at most `window` unconfirmed at a time, persistent ones if `persistent`
 * (RabbitMQ confirms those once they are on disk). It fails if the broker nacks any.
 */
import amqp from "amqplib";
import { runRole } from "../harness.js";

export interface AmqpPublisherRole {
  args: { url: string; queue: string; persistent: boolean; count: number; size: number; window: number };
  ready: null;
  start: null;
  /** From the first publish to the last confirm. */
  result: { elapsedMs: number };
}

runRole<AmqpPublisherRole>(async (ctx) => {
  const { url, queue, persistent, count, size, window } = ctx.args;
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    const body = Buffer.alloc(size, 0x61);
    let unconfirmed = 0;
    let nacked = 0;
    let wake: (() => void) | undefined;
    const drained: (() => void)[] = [];
    ch.on("drain", () => drained.splice(0).forEach((resume) => resume()));
    const confirmed = (err: unknown): void => {
      if (err !== null && err !== undefined) nacked++;
      unconfirmed--;
      const w = wake;
      wake = undefined;
      w?.();
    };
    ctx.ready(null);
    await ctx.started;
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      while (unconfirmed >= window) await new Promise<void>((resolve) => (wake = resolve));
      unconfirmed++;
      if (!ch.sendToQueue(queue, body, { persistent }, confirmed)) await new Promise<void>((resolve) => drained.push(resolve));
    }
    while (unconfirmed > 0) await new Promise<void>((resolve) => (wake = resolve));
    const elapsedMs = performance.now() - t0;
    if (nacked > 0) throw new Error(`the broker nacked ${nacked} of ${count} messages`);
    return { elapsedMs };
  } finally {
    await conn.close();
  }
});
