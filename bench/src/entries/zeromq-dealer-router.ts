import type { Entry, RunContext } from "../harness.js";
import type { DealerRttRole } from "../roles/zmq-dealer-rtt.js";
import type { DealerWindowRole } from "../roles/zmq-dealer-window.js";
import type { RouterEchoRole } from "../roles/zmq-router-echo.js";
import { cpuPerRequest } from "./cpu.js";

const SIZE = 100;

/** Forks the Router echo server both entries below talk to. */
function echoServer(ctx: RunContext) {
  return ctx.fork<RouterEchoRole>("zmq-router-echo", null);
}

/**
 * `zeromq.dealer-router.rtt`: the raw round-trip floor. A Dealer in one process sends a 100-byte
 * request to a Router echo in another and waits for the reply before the next; value = p50 round
 * trip in microseconds (p99 and p99.9 beside it, the mean in `extra`).
 */
export const zeromqDealerRouterRtt: Entry = {
  name: "zeromq.dealer-router.rtt",
  unit: "us",
  better: "lower",
  async run(ctx) {
    const echo = await echoServer(ctx);
    const count = ctx.quick ? 3_000 : 30_000;
    const args = { endpoint: echo.info.endpoint, count, warmup: count / 10, size: SIZE };
    const dealer = await ctx.fork<DealerRttRole>("zmq-dealer-rtt", args);
    const before = await echo.usage();
    dealer.start(null);
    const { p50Us, p99Us, p999Us, meanUs, cpuUs } = await dealer.result();
    const after = await echo.usage();
    const round = (us: number): number => Math.round(us * 10) / 10;
    return {
      value: round(p50Us),
      p99: round(p99Us),
      p999: round(p999Us),
      extra: { meanUs: round(meanUs), requests: count, ...cpuPerRequest(cpuUs, after.cpuUs - before.cpuUs, count) },
    };
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
    const echo = await echoServer(ctx);
    const count = ctx.quick ? 30_000 : 300_000;
    const args = { endpoint: echo.info.endpoint, count, warmup: count / 10, inFlight: 64, size: SIZE };
    const dealer = await ctx.fork<DealerWindowRole>("zmq-dealer-window", args);
    const before = await echo.usage();
    dealer.start(null);
    const { elapsedMs, cpuUs } = await dealer.result();
    const after = await echo.usage();
    const value = Math.round(count / (elapsedMs / 1000));
    return { value, extra: { requests: count, seconds: Math.round(elapsedMs) / 1000, ...cpuPerRequest(cpuUs, after.cpuUs - before.cpuUs, count) } };
  },
};
