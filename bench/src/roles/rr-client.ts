/**
 * Client side of the `rr.*` benchmarks: `Client.request()` with 100-byte bodies. After `warmup`
 * untimed requests at the same concurrency: with `inFlight` 1 it times each round trip;
 * otherwise it keeps `inFlight` requests outstanding and times the whole run, first request to
 * last reply.
 */
import { Runtime, type CurveOptions } from "@zmbox/mailbox";
import { Client } from "@zmbox/twopc";
import { cpuUs, inLanes, runRole, timeEach, type Timed } from "../harness.js";
import { Probe, marked, type Marks } from "./steps-probe.js";

export interface RrClientRole {
  /**
   * With `curve`, `endpoint` is the client's own (the server was given its key for it). With
   * `steps`, the timed requests are marked step by step (see steps-probe.ts), keeping that many marks.
   */
  args: { address: string; count: number; warmup: number; size: number; inFlight: number; endpoint?: string; curve?: CurveOptions; steps?: number };
  ready: null;
  start: null;
  /** Over the timed requests; the round trips are NaN with more than one in flight. */
  result: Timed & { retries: number; late: number; marks?: Marks };
}

runRole<RrClientRole>(async (ctx) => {
  const { address, count, warmup, size, inFlight, endpoint = "tcp://127.0.0.1:0", curve, steps } = ctx.args;
  const probe = steps === undefined ? undefined : new Probe(steps);
  probe?.wrapZeromq();
  const rt = await Runtime.start({ endpoint, ...(curve === undefined ? {} : { curve }) });
  const client = new Client(rt, { capacity: Math.max(1000, inFlight * 2) });
  try {
    const body = Buffer.alloc(size, 0x61);
    const options = { timeout: 30_000, retries: 0 };
    const once = (): Promise<unknown> => client.request(body, address, options);
    // The warm-up runs at the measured concurrency, so that the code paths timed are compiled.
    await inLanes(warmup, inFlight, once);
    ctx.ready(null);
    await ctx.started;
    let timed: Timed;
    if (inFlight === 1) {
      timed = await timeEach(count, probe === undefined ? once : () => marked(probe, once));
    } else {
      const cpu0 = cpuUs();
      const t0 = performance.now();
      await inLanes(count, inFlight, once);
      timed = { count, p50Us: NaN, p99Us: NaN, p999Us: NaN, meanUs: NaN, elapsedMs: performance.now() - t0, cpuUs: cpuUs() - cpu0 };
    }
    const { retries, late } = client.stats();
    return { ...timed, retries, late, ...(probe === undefined ? {} : { marks: probe.marks() }) };
  } finally {
    client.close();
    await rt.close();
  }
});
