/**
 * Sending side of `nats.core.publish` and `nats.jetstream.publish*`: `count` 100-byte messages.
 * `"core"`: `nc.publish()`, fire and forget, at most `window` beyond the consumer's last credit
 * (see `nats-consumer.ts`), yielding to the event loop every 1,024 so that the client's writes
 * go out. `"jetstream"`: `js.publish()`, `window` of them awaiting their PubAck at a time.
 */
import { connect } from "nats";
import { inLanes, runRole } from "../harness.js";

export interface NatsPublisherRole {
  args: { url: string; mode: "core" | "jetstream"; subject: string; creditSubject: string; count: number; size: number; window: number };
  ready: null;
  start: null;
  result: { elapsedMs: number };
}

runRole<NatsPublisherRole>(async (ctx) => {
  const { url, mode, subject, creditSubject, count, size, window } = ctx.args;
  const nc = await connect({ servers: url });
  try {
    const body = Buffer.alloc(size, 0x61);
    let credited = 0;
    let wake: (() => void) | undefined;
    if (mode === "core") {
      nc.subscribe(creditSubject, {
        callback: (err, m) => {
          if (err !== null) return;
          credited = Number(m.string());
          wake?.();
        },
      });
      await nc.flush();
    }
    ctx.ready(null);
    await ctx.started;
    const t0 = performance.now();
    if (mode === "core") {
      for (let sent = 1; sent <= count; sent++) {
        nc.publish(subject, body);
        if (sent % 1024 === 0) {
          while (sent - credited >= window) await new Promise<void>((resolve) => (wake = resolve));
          await new Promise(setImmediate);
        }
      }
      await nc.flush();
    } else {
      const js = nc.jetstream();
      await inLanes(count, window, () => js.publish(subject, body, { timeout: 30_000 }));
    }
    return { elapsedMs: performance.now() - t0 };
  } finally {
    await nc.close();
  }
});
