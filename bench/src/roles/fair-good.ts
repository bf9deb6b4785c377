/**
 * The good sender of `mailbox.fair.good.*`: one runtime offering `rate` 100-byte
 * `until: "stored"` sends a second (at most 64 in flight) for `durationMs`; how many were stored
 * and the longest time without one being stored (a stall).
 */
import { Runtime } from "@zmbox/mailbox";
import { setTimeout as sleep } from "node:timers/promises";
import { runRole } from "../harness.js";

export interface FairGoodRole {
  args: { address: string; rate: number; durationMs: number };
  ready: null;
  start: null;
  result: { stored: number; elapsedMs: number; longestStallMs: number; failed: number };
}

const IN_FLIGHT = 64;

/** Nothing else may keep this process's event loop alive while it waits for the harness. */
const keepAlive = (): NodeJS.Timeout => setInterval(() => {}, 1000);

runRole<FairGoodRole>(async (ctx) => {
  keepAlive();
  const { address, rate, durationMs } = ctx.args;
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
  try {
    const payload = Buffer.alloc(100, 0x61);
    await rt.send(payload, address, { until: "stored", timeout: 60_000 });
    ctx.ready(null);
    await ctx.started;
    let stored = 0;
    let failed = 0;
    let inFlight = 0;
    const start = performance.now();
    let last = start;
    let longestStallMs = 0;
    const end = start + durationMs;
    const period = 1000 / rate;
    const sends: Promise<void>[] = [];
    for (let next = start; next < end; next += period) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      if (inFlight >= IN_FLIGHT) continue;
      inFlight++;
      sends.push(
        rt.send(payload, address, { until: "stored", timeout: 30_000 }).then(
          () => {
            const now = performance.now();
            longestStallMs = Math.max(longestStallMs, now - last);
            last = now;
            if (now <= end) stored++;
          },
          () => void failed++,
        ).finally(() => void inFlight--),
      );
    }
    await Promise.all(sends);
    return { stored, elapsedMs: durationMs, longestStallMs, failed };
  } finally {
    await rt.close();
  }
});
