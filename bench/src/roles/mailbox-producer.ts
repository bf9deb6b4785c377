/**
 * Sending side of the mailbox benchmarks: `send(payload, address, { until })` in a loop, one
 * awaited send per message for "queued"; for "stored", `window` sends in flight (every
 * `window`-th one awaited: acks are cumulative, so the others are stored by then too).
 * With `count` 0 it sends until stopped (the stop ends the loop; what is in flight settles at close).
 */
import { Runtime, type CurveOptions, type Until } from "@zmbox/mailbox";
import { runRole } from "../harness.js";

export interface MailboxProducerRole {
  args: { address: string; count: number; size: number; until: Until; window: number; curve?: CurveOptions };
  ready: null;
  start: null;
  result: { sent: number; retransmitted: number };
}

runRole<MailboxProducerRole>(async (ctx) => {
  const { address, count, size, until, window, curve } = ctx.args;
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0", ...(curve === undefined ? {} : { curve }) });
  ctx.ready(null);
  await ctx.started;
  const payload = Buffer.alloc(size, 0x61);
  let sent = 0;
  try {
    for (; (count === 0 || sent < count) && !ctx.signal.aborted; sent++) {
      const p = rt.send(payload, address, { until, timeout: 60_000 });
      if (until === "queued" || sent % window === window - 1) {
        // A failed send fails the role, unless the stop cut it short (try/catch rather than
        // .catch(): no second promise for every message, as a user's loop would be written).
        try {
          await p;
        } catch (error) {
          if (ctx.signal.aborted) break;
          throw error;
        }
      } else {
        p.catch(() => undefined);
      }
    }
    return { sent, retransmitted: rt.stats().retransmitted };
  } finally {
    await rt.close();
  }
});
