/** Raw ZeroMQ client of `zeromq.dealer-router.rtt`: one request at a time, each round trip timed. */
import * as zmq from "zeromq";
import { runRole, timeEach, type Timed } from "../harness.js";

export interface DealerRttRole {
  /** `warmup` untimed round trips, then `count` timed ones. */
  args: { endpoint: string; count: number; warmup: number; size: number };
  ready: null;
  start: null;
  /** Round-trip times in microseconds, and this process's CPU time over the timed ones. */
  result: Timed;
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
    return await timeEach(count, async () => {
      await dealer.send(payload);
      await dealer.receive();
    });
  } finally {
    dealer.close();
  }
});
