/**
 * Raw ZeroMQ client of `zeromq.dealer-router.c64`: keeps `inFlight` requests outstanding, with
 * one writer loop and one reader loop on the Dealer (zeromq.js allows one pending send and one
 * pending receive per socket).
 */
import * as zmq from "zeromq";
import { cpuUs, runRole } from "../harness.js";

export interface DealerWindowRole {
  /** `warmup` untimed requests, then `count` timed ones, `inFlight` at a time. */
  args: { endpoint: string; count: number; warmup: number; inFlight: number; size: number };
  ready: null;
  start: null;
  /** `elapsedMs`: from the first request sent to the last reply received; `cpuUs`: this process's CPU time over it. */
  result: { count: number; elapsedMs: number; cpuUs: number };
}

runRole<DealerWindowRole>(async (ctx) => {
  const { endpoint, count, warmup, inFlight, size } = ctx.args;
  const dealer = new zmq.Dealer({ linger: 0 });
  try {
    dealer.connect(endpoint);
    const payload = Buffer.alloc(size, 0x61);
    /** Sends `n` requests, keeping `inFlight` outstanding; resolves at the last reply. */
    const pipelined = async (n: number): Promise<void> => {
      let replies = 0;
      let wake: (() => void) | undefined;
      const reader = async (): Promise<void> => {
        for (; replies < n; replies++, wake?.()) await dealer.receive();
      };
      const writer = async (): Promise<void> => {
        for (let sent = 0; sent < n; sent++) {
          while (sent - replies >= inFlight) await new Promise<void>((resolve) => (wake = resolve));
          await dealer.send(payload);
        }
      };
      await Promise.all([reader(), writer()]);
    };
    // Warmed up at the measured concurrency, like the runtime's side of the comparison, and
    // before ready, so that the echo's CPU can be read from ready to the result.
    await pipelined(warmup);
    ctx.ready(null);
    await ctx.started;
    const cpu0 = cpuUs();
    const t0 = performance.now();
    await pipelined(count);
    return { count, elapsedMs: performance.now() - t0, cpuUs: cpuUs() - cpu0 };
  } finally {
    dealer.close();
  }
});
