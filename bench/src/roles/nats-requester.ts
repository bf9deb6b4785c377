/**
 * Client side of `nats.rr.*`: `nc.request()` (the client's shared reply inbox) with 100-byte
 * bodies, timed like `rr-client.ts`: `warmup` untimed requests at the measured concurrency, then
 * each round trip with `inFlight` 1, or the whole run with more in flight.
 */
import { connect } from "nats";
import { cpuUs, inLanes, runRole, timeEach, type Timed } from "../harness.js";

export interface NatsRequesterRole {
  args: { url: string; subject: string; count: number; warmup: number; size: number; inFlight: number };
  ready: null;
  start: null;
  /** Over the timed requests; the round trips are NaN with more than one in flight. */
  result: Timed;
}

runRole<NatsRequesterRole>(async (ctx) => {
  const { url, subject, count, warmup, size, inFlight } = ctx.args;
  const nc = await connect({ servers: url });
  try {
    const body = Buffer.alloc(size, 0x61);
    const once = async (): Promise<void> => {
      const reply = await nc.request(subject, body, { timeout: 30_000 });
      if (reply.data.length !== size) throw new Error(`a reply of ${reply.data.length} bytes, expected ${size}`);
    };
    ctx.ready(null);
    await ctx.started;
    // Warmed up after the go, not before ready: a busy machine must not hit the harness's 20 s
    // limit on getting ready. No server CPU is read around it, unlike the zmbox entries.
    await inLanes(warmup, inFlight, once);
    if (inFlight === 1) return await timeEach(count, once);
    const cpu0 = cpuUs();
    const t0 = performance.now();
    await inLanes(count, inFlight, once);
    return { count, p50Us: NaN, p99Us: NaN, p999Us: NaN, meanUs: NaN, elapsedMs: performance.now() - t0, cpuUs: cpuUs() - cpu0 };
  } finally {
    await nc.close();
  }
});
