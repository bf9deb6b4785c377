/**
 * Raw ZeroMQ client of `zeromq.dealer-router.c64`: keeps `inFlight` requests outstanding, with
 * one writer loop and one reader loop on the Dealer (zeromq.js allows one pending send and one
 * pending receive per socket).
 */
import * as zmq from "zeromq";
import { runRole } from "../harness.js";

export interface DealerWindowRole {
  args: { endpoint: string; count: number; inFlight: number; size: number };
  ready: null;
  start: null;
  /** `elapsedMs`: from the first request sent to the last reply received. */
  result: { count: number; elapsedMs: number };
}

runRole<DealerWindowRole>(async (ctx) => {
  const { endpoint, count, inFlight, size } = ctx.args;
  const dealer = new zmq.Dealer({ linger: 0 });
  try {
    dealer.connect(endpoint);
    ctx.ready(null);
    await ctx.started;
    const payload = Buffer.alloc(size, 0x61);
    let replies = 0;
    let wake: (() => void) | undefined;
    const t0 = performance.now();
    const reader = async (): Promise<void> => {
      for await (const _reply of dealer) {
        replies++;
        wake?.();
        if (replies === count) break;
      }
    };
    const writer = async (): Promise<void> => {
      for (let sent = 0; sent < count; sent++) {
        while (sent - replies >= inFlight) await new Promise<void>((resolve) => (wake = resolve));
        await dealer.send(payload);
      }
    };
    await Promise.all([reader(), writer()]);
    return { count: replies, elapsedMs: performance.now() - t0 };
  } finally {
    dealer.close();
  }
});
