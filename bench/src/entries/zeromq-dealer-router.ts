import type { Entry, RunContext } from "../harness.js";
import type { DealerRttRole } from "../roles/zmq-dealer-rtt.js";
import type { DealerWindowRole } from "../roles/zmq-dealer-window.js";
import type { RouterEchoRole } from "../roles/zmq-router-echo.js";

const SIZE = 100;

/** Forks the Router echo server both entries below talk to, and returns its endpoint. */
async function echoServer(ctx: RunContext): Promise<string> {
  const router = await ctx.fork<RouterEchoRole>("zmq-router-echo", null);
  return router.info.endpoint;
}

/**
 * `zeromq.dealer-router.rtt`: the raw round-trip floor. A Dealer in one process sends a 100-byte
 * request to a Router echo in another and waits for the reply before the next; value = p50 round
 * trip in microseconds (p99 and mean in `extra`).
 */
export const zeromqDealerRouterRtt: Entry = {
  name: "zeromq.dealer-router.rtt",
  unit: "us",
  better: "lower",
  async run(ctx) {
    const endpoint = await echoServer(ctx);
    const count = ctx.quick ? 3_000 : 30_000;
    const args = { endpoint, count, warmup: count / 10, size: SIZE };
    const dealer = await ctx.fork<DealerRttRole>("zmq-dealer-rtt", args);
    dealer.start(null);
    const { p50Us, p99Us, meanUs } = await dealer.result();
    const round = (us: number): number => Math.round(us * 10) / 10;
    return { value: round(p50Us), extra: { p99Us: round(p99Us), meanUs: round(meanUs), requests: count } };
  },
};

/**
 * `zeromq.dealer-router.c64`: raw request throughput with 64 requests in flight from one Dealer
 * to a Router echo in another process (100-byte payloads); value = replies per second, from the
 * first request sent to the last reply.
 */
export const zeromqDealerRouterC64: Entry = {
  name: "zeromq.dealer-router.c64",
  unit: "req/s",
  better: "higher",
  async run(ctx) {
    const endpoint = await echoServer(ctx);
    const count = ctx.quick ? 30_000 : 300_000;
    const args = { endpoint, count, warmup: count / 10, inFlight: 64, size: SIZE };
    const dealer = await ctx.fork<DealerWindowRole>("zmq-dealer-window", args);
    dealer.start(null);
    const { elapsedMs } = await dealer.result();
    const value = Math.round(count / (elapsedMs / 1000));
    return { value, extra: { requests: count, seconds: Math.round(elapsedMs) / 1000 } };
  },
};
