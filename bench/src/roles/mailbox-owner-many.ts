/**
 * Owner of `mailbox.scale.channels`: one runtime with `mailboxes` mailboxes, a consumer loop on
 * each, taking `count` messages in all; msg/s from the first to the last. Every 10 ms it adds up
 * what its mailboxes hold and have granted (depth + credit outstanding), which flow control keeps
 * within their capacity whatever the number of channels, and samples its own RSS.
 */
import { Runtime } from "@zmbox/mailbox";
import { runRole } from "../harness.js";

export interface MailboxOwnerManyRole {
  args: { mailboxes: number; capacity: number; count: number };
  ready: { addresses: string[] };
  start: never;
  result: {
    received: number;
    elapsedMs: number;
    /** Sender channels the mailboxes knew at the end. */
    channels: number;
    /** The most messages held and credit granted at once, over all the mailboxes. */
    peakHeld: number;
    capacity: number;
    /** This process's RSS once its mailboxes exist and before any sender connects, and the largest sample after, bytes. */
    rssStart: number;
    rssPeak: number;
  };
}

const STALL_MS = 30_000;

runRole<MailboxOwnerManyRole>(async (ctx) => {
  const { mailboxes, capacity, count } = ctx.args;
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
  try {
    const boxes = Array.from({ length: mailboxes }, (_, i) => rt.mailbox(`box${i}`, { capacity }));
    let peakHeld = 0;
    const rssStart = process.memoryUsage.rss();
    let rssPeak = rssStart;
    const sample = (): void => {
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
      let held = 0;
      for (const m of Object.values(rt.stats().mailboxes)) held += m.depth + m.creditOutstanding;
      peakHeld = Math.max(peakHeld, held);
    };
    const sampler = setInterval(sample, 10);
    let received = 0;
    let first = 0;
    let last = 0;
    let done!: () => void;
    let stalled!: (err: Error) => void;
    const all = new Promise<void>((resolve, reject) => ((done = resolve), (stalled = reject)));
    // A run that stops making progress fails with where it stands, rather than at the harness's timeout.
    let seen = -1;
    const watchdog = setInterval(() => {
      if (received === seen) {
        const s = rt.stats();
        const depth = Object.values(s.mailboxes).reduce((n, m) => n + m.depth, 0);
        const channels = Object.values(s.mailboxes).reduce((n, m) => n + m.channels, 0);
        stalled(new Error(`no message for ${STALL_MS / 1000} s after ${received} of ${count} (${channels} channels, depth ${depth}, refused ${JSON.stringify(s.refused)})`));
      }
      seen = received;
    }, STALL_MS);
    ctx.ready({ addresses: boxes.map((b) => b.address) });
    const loops = boxes.map(async (box) => {
      for await (const message of box) {
        void message;
        if (received === 0) first = performance.now();
        last = performance.now();
        if (++received === count) done();
      }
    });
    try {
      await all;
    } finally {
      clearInterval(sampler);
      clearInterval(watchdog);
    }
    sample();
    const channels = Object.values(rt.stats().mailboxes).reduce((n, m) => n + m.channels, 0);
    await rt.close();
    await Promise.all(loops);
    return { received, elapsedMs: last - first, channels, peakHeld, capacity: mailboxes * capacity, rssStart, rssPeak };
  } finally {
    await rt.close();
  }
});
