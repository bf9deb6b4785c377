import { generateKeyPair, parseAddress } from "@zmbox/mailbox";
import type { Entry, RunContext } from "../harness.js";
import { freePort } from "../service.js";
import type { RrClientRole } from "../roles/rr-client.js";
import type { RrEchoServerRole } from "../roles/rr-echo-server.js";
import type { RrFloorClientRole } from "../roles/rr-floor-client.js";
import type { RrFloorServerRole } from "../roles/rr-floor-server.js";
import { cpuPerRequest } from "./cpu.js";

/** The request and reply bodies of every `rr.*` entry, in bytes (and of `bench/dist/steps.js`). */
export const SIZE = 100;
/** The echo server's handler slots (`serve`'s `concurrency`). */
export const SERVER_CONCURRENCY = 64;

/**
 * Forks a `serve()` echo and a client in separate processes; returns the client's result and
 * what the timed requests cost each process in CPU.
 */
async function run(ctx: RunContext, count: number, warmup: number, inFlight: number, curve = false) {
  // With `curve`: both runtimes have key pairs, each admitting only the other's key. The server
  // sends the replies, so it must know the client's key by the client's endpoint, chosen here.
  const keys = curve ? { server: generateKeyPair(), client: generateKeyPair() } : undefined;
  const clientEndpoint = keys === undefined ? undefined : `tcp://127.0.0.1:${await freePort()}`;
  const server = await ctx.fork<RrEchoServerRole>("rr-echo-server", {
    concurrency: SERVER_CONCURRENCY,
    ...(keys === undefined ? {} : { curve: { ...keys.server, allow: [keys.client.publicKey], peers: { [clientEndpoint!]: keys.client.publicKey } } }),
  });
  const client = await ctx.fork<RrClientRole>("rr-client", {
    address: server.info.address, count, warmup, size: SIZE, inFlight,
    ...(keys === undefined ? {} : {
      endpoint: clientEndpoint!,
      curve: { ...keys.client, allow: [keys.server.publicKey], peers: { [parseAddress(server.info.address).endpoint]: keys.server.publicKey } },
    }),
  });
  const before = await server.usage();
  client.start(null);
  const c = await client.result();
  const after = await server.usage();
  const s = await server.stop();
  if (c.retries !== 0 || s.handled !== count + warmup) {
    throw new Error(`expected ${count + warmup} handler runs without retries, got ${s.handled} runs and ${c.retries} retries`);
  }
  return { ...c, cpu: cpuPerRequest(c.cpuUs, after.cpuUs - before.cpuUs, count) };
}

const round = (us: number): number => Math.round(us * 10) / 10;

/**
 * `rr.rtt`: `Client.request()` to a `serve()` echo in another process, 100-byte bodies, one
 * request at a time; value = p50 round trip in microseconds (p99 and p99.9 beside it, the mean in `extra`).
 * Compared with `zeromq.dealer-router.rtt` (goal: ratio <= 1.3).
 */
export const rrRtt: Entry = {
  name: "rr.rtt",
  unit: "us",
  better: "lower",
  baseline: "zeromq.dealer-router.rtt",
  async run(ctx) {
    const count = ctx.quick ? 3_000 : 30_000;
    const c = await run(ctx, count, count / 10, 1);
    return { value: round(c.p50Us), p99: round(c.p99Us), p999: round(c.p999Us), extra: { meanUs: round(c.meanUs), requests: count, ...c.cpu } };
  },
};

/**
 * `rr.rtt.curve`: `rr.rtt` with CURVE on, each runtime admitting only the other's key.
 * Compared with `rr.rtt`: the ratio is what security costs a round trip. No goal.
 */
export const rrRttCurve: Entry = {
  name: "rr.rtt.curve",
  unit: "us",
  better: "lower",
  baseline: "rr.rtt",
  async run(ctx) {
    const count = ctx.quick ? 3_000 : 30_000;
    const c = await run(ctx, count, count / 10, 1, true);
    return { value: round(c.p50Us), p99: round(c.p99Us), p999: round(c.p999Us), extra: { meanUs: round(c.meanUs), requests: count, ...c.cpu } };
  },
};

/**
 * `rr.floor.rtt`: the least a request-response layer can cost, for reading `rr.rtt`. The same
 * bodies, one at a time, with the envelope, correlation by request id, a promise a request,
 * a deadline, a reply cache and an async handler, over a raw Dealer and Router in two
 * processes, the reply on the request's own connection; nothing else (no mailbox, flow control,
 * acks or retries). No goal: its ratio is how far above the raw round trip any such layer starts.
 */
export const rrFloorRtt: Entry = {
  name: "rr.floor.rtt",
  unit: "us",
  better: "lower",
  baseline: "zeromq.dealer-router.rtt",
  async run(ctx) {
    const count = ctx.quick ? 3_000 : 30_000;
    const server = await ctx.fork<RrFloorServerRole>("rr-floor-server", {});
    const client = await ctx.fork<RrFloorClientRole>("rr-floor-client", { endpoint: server.info.endpoint, count, warmup: count / 10, size: SIZE });
    const before = await server.usage();
    client.start(null);
    const c = await client.result();
    const after = await server.usage();
    const { handled } = await server.stop();
    if (handled !== count + count / 10) throw new Error(`expected ${count + count / 10} handler runs, got ${handled}`);
    const cpu = cpuPerRequest(c.cpuUs, after.cpuUs - before.cpuUs, count);
    return { value: round(c.p50Us), p99: round(c.p99Us), p999: round(c.p999Us), extra: { meanUs: round(c.meanUs), requests: count, ...cpu } };
  },
};

/**
 * `rr.throughput.c64`: the same pair with 64 requests in flight; value = replies per second,
 * first request to last reply. Compared with `zeromq.dealer-router.c64` (goal: ratio >= 1.0).
 */
export const rrThroughputC64: Entry = {
  name: "rr.throughput.c64",
  unit: "req/s",
  better: "higher",
  baseline: "zeromq.dealer-router.c64",
  async run(ctx) {
    const count = ctx.quick ? 30_000 : 300_000;
    const c = await run(ctx, count, count / 10, 64);
    return { value: Math.round(count / (c.elapsedMs / 1000)), extra: { requests: count, seconds: Math.round(c.elapsedMs) / 1000, late: c.late, ...c.cpu } };
  },
};
