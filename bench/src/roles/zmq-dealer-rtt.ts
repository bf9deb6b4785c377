/** Raw ZeroMQ client of `zeromq.dealer-router.rtt`: one request at a time, each round trip timed. */
import * as zmq from "zeromq";
import { cpuUs, percentiles, runRole } from "../harness.js";

export interface DealerRttRole {
  /** `warmup` untimed round trips, then `count` timed ones. */
  args: { endpoint: string; count: number; warmup: number; size: number };
  ready: null;
  start: null;
  /** Round-trip times in microseconds; `cpuUs`: this process's CPU time over the timed ones. */
  result: { count: number; p50Us: number; p99Us: number; meanUs: number; cpuUs: number };
}

runRole<DealerRttRole>(async (ctx) => {
  const { endpoint, count, warmup, size } = ctx.args;
  const dealer = new zmq.Dealer({ linger: 0 });
  try {
    dealer.connect(endpoint);
    const payload = Buffer.alloc(size, 0x61);
    // Warmed up before ready, so that the echo's CPU can be read from ready to the result.
    for (let i = 0; i < warmup; i++) {
      await dealer.send(payload);
      await dealer.receive();
    }
    ctx.ready(null);
    await ctx.started;
    const rtts = new Float64Array(count);
    const cpu0 = cpuUs();
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await dealer.send(payload);
      await dealer.receive();
      rtts[i] = (performance.now() - t0) * 1000;
    }
    const cpu = cpuUs() - cpu0;
    const [p50Us = NaN, p99Us = NaN] = percentiles(rtts, [50, 99]);
    const meanUs = rtts.reduce((a, b) => a + b, 0) / count;
    return { count, p50Us, p99Us, meanUs, cpuUs: cpu };
  } finally {
    dealer.close();
  }
});
