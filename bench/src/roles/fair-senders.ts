/**
 * Well-behaved senders of `mailbox.fair.p99.senders.*`: `runtimes` runtimes in this process
 * (one sender channel each into the one mailbox), each sending one 100-byte `until: "stored"`
 * message every `1000 / rate` ms (from a random phase, never two of its own at once) for
 * `durationMs`; the time each send took.
 */
import { Runtime } from "@zmbox/mailbox";
import { setTimeout as sleep } from "node:timers/promises";
import { runRole } from "../harness.js";

export interface FairSendersRole {
  args: { address: string; runtimes: number; rate: number; durationMs: number };
  ready: null;
  start: null;
  result: { latenciesMs: number[]; failed: number };
}

/** Nothing else may keep this process's event loop alive while it waits for the harness. */
const keepAlive = (): NodeJS.Timeout => setInterval(() => {}, 1000);

runRole<FairSendersRole>(async (ctx) => {
  keepAlive();
  const { address, runtimes, rate, durationMs } = ctx.args;
  // Ready at once: starting hundreds of runtimes on a busy machine takes longer than the harness
  // waits for a role to be ready. The clock starts once they are up and their channels open.
  ctx.ready(null);
  await ctx.started;
  const rts: Runtime[] = [];
  for (let i = 0; i < runtimes; i++) rts.push(await Runtime.start({ endpoint: "tcp://127.0.0.1:0" }));
  try {
    const payload = Buffer.alloc(100, 0x61);
    // Open every channel before the clock starts: the entry is about sending, not connecting.
    await Promise.all(rts.map((rt) => rt.send(payload, address, { until: "stored", timeout: 120_000 })));
    const latenciesMs: number[] = [];
    let failed = 0;
    const period = 1000 / rate;
    const end = performance.now() + durationMs;
    await Promise.all(
      rts.map(async (rt) => {
        let next = performance.now() + Math.random() * period;
        for (;;) {
          const wait = next - performance.now();
          if (wait > 0) await sleep(wait);
          if (performance.now() >= end) return;
          const t0 = performance.now();
          try {
            await rt.send(payload, address, { until: "stored", timeout: 30_000 });
            latenciesMs.push(performance.now() - t0);
          } catch {
            failed++;
          }
          next = Math.max(next + period, performance.now());
        }
      }),
    );
    return { latenciesMs, failed };
  } finally {
    await Promise.all(rts.map((rt) => rt.close()));
  }
});
