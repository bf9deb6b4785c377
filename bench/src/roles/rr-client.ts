/**
 * Client side of the `rr.*` benchmarks: `Client.request()` with 100-byte bodies. After `warmup`
 * untimed requests at the same concurrency: with `inFlight` 1 it times each round trip;
 * otherwise it keeps `inFlight` requests outstanding and times the whole run, first request to
 * last reply.
 */
import { Runtime } from "@zmbox/mailbox";
import { Client } from "@zmbox/twopc";
import { cpuUs, percentiles, runRole } from "../harness.js";

export interface RrClientRole {
  args: { address: string; count: number; warmup: number; size: number; inFlight: number };
  ready: null;
  start: null;
  /** `cpuUs`: this process's CPU time over the timed requests. */
  result: { count: number; elapsedMs: number; p50Us: number; p99Us: number; meanUs: number; retries: number; late: number; cpuUs: number };
}

runRole<RrClientRole>(async (ctx) => {
  const { address, count, warmup, size, inFlight } = ctx.args;
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
  const client = new Client(rt, { capacity: Math.max(1000, inFlight * 2) });
  try {
    const body = Buffer.alloc(size, 0x61);
    const options = { timeout: 30_000, retries: 0 };
    /** Sends `n` requests, `inFlight` at a time (each lane sends the next when a reply comes). */
    const lanes = async (n: number): Promise<void> => {
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < n) {
          next++;
          await client.request(body, address, options);
        }
      };
      await Promise.all(Array.from({ length: inFlight }, lane));
    };
    // The warm-up runs at the measured concurrency, so that the code paths timed are compiled.
    await lanes(warmup);
    ctx.ready(null);
    await ctx.started;
    const rtts = new Float64Array(inFlight === 1 ? count : 0);
    const cpu0 = cpuUs();
    const t0 = performance.now();
    if (inFlight === 1) {
      for (let i = 0; i < count; i++) {
        const start = performance.now();
        await client.request(body, address, options);
        rtts[i] = (performance.now() - start) * 1000;
      }
    } else {
      await lanes(count);
    }
    const elapsedMs = performance.now() - t0;
    const cpu = cpuUs() - cpu0;
    const [p50Us = NaN, p99Us = NaN] = inFlight === 1 ? percentiles(rtts, [50, 99]) : [NaN, NaN];
    const meanUs = inFlight === 1 ? rtts.reduce((a, b) => a + b, 0) / count : NaN;
    const { retries, late } = client.stats();
    return { count, elapsedMs, p50Us, p99Us, meanUs, retries, late, cpuUs: cpu };
  } finally {
    client.close();
    await rt.close();
  }
});
