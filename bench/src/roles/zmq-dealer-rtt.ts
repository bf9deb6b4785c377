/** Raw ZeroMQ client of `zeromq.dealer-router.rtt`: one request at a time, each round trip timed. */
import * as zmq from "zeromq";
import { percentiles, runRole } from "../harness.js";

export interface DealerRttRole {
  /** `warmup` untimed round trips, then `count` timed ones. */
  args: { endpoint: string; count: number; warmup: number; size: number };
  ready: null;
  start: null;
  /** Round-trip times in microseconds. */
  result: { count: number; p50Us: number; p99Us: number; meanUs: number };
}

runRole<DealerRttRole>(async (ctx) => {
  const { endpoint, count, warmup, size } = ctx.args;
  const dealer = new zmq.Dealer({ linger: 0 });
  try {
    dealer.connect(endpoint);
    ctx.ready(null);
    await ctx.started;
    const payload = Buffer.alloc(size, 0x61);
    const rtts = new Float64Array(count);
    for (let i = -warmup; i < count; i++) {
      const t0 = performance.now();
      await dealer.send(payload);
      await dealer.receive();
      if (i >= 0) rtts[i] = (performance.now() - t0) * 1000;
    }
    const [p50Us = NaN, p99Us = NaN] = percentiles(rtts, [50, 99]);
    const meanUs = rtts.reduce((a, b) => a + b, 0) / count;
    return { count, p50Us, p99Us, meanUs };
  } finally {
    dealer.close();
  }
});
