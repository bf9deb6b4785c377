/**
 * The 2PC coordinator of the twopc benchmarks: runs `warmup` untimed transactions, then
 * `count` timed ones, over the given participants with `inFlight` of them at a time, and reports the
 * time each took.
 */
import { Runtime } from "@zmbox/mailbox";
import { Coordinator } from "@zmbox/twopc";
import { cpuUs, inLanes, percentiles, runRole } from "../harness.js";

export interface TwopcCoordinatorRole {
  args: { logDir: string; participants: string[]; count: number; inFlight: number; warmup: number };
  ready: null;
  start: null;
  /** `cpuUs`: this process's CPU time (every thread) over the timed transactions. */
  result: { committed: number; aborted: number; elapsedMs: number; p50Ms: number; p99Ms: number; p999Ms: number; cpuUs: number; syncs: number; appends: number };
}

runRole<TwopcCoordinatorRole>(async (ctx) => {
  const { logDir, participants, count, inFlight, warmup } = ctx.args;
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
  const coordinator = await Coordinator.open({ runtime: rt, logDir, mailbox: "coordinator" });
  ctx.ready(null);
  await ctx.started;
  const latencies: number[] = [];
  let committed = 0;
  let aborted = 0;
  /** One timed transaction. */
  const timed = async (): Promise<void> => {
    const t0 = performance.now();
    const outcome = await coordinator.transact({ participants });
    latencies.push(performance.now() - t0);
    if (outcome.committed) committed++;
    else aborted++;
  };
  // The warm-up runs at the measured concurrency, so that the code paths timed are compiled.
  await inLanes(warmup, inFlight, () => coordinator.transact({ participants }));
  ctx.timed();
  const before = coordinator.stats();
  const cpu0 = cpuUs();
  const started = performance.now();
  await inLanes(count, inFlight, timed);
  const elapsedMs = performance.now() - started;
  const cpu = cpuUs() - cpu0;
  const after = coordinator.stats();
  const [p50Ms = NaN, p99Ms = NaN, p999Ms = NaN] = percentiles(latencies, [50, 99, 99.9]);
  await coordinator.close();
  await rt.close();
  return {
    committed, aborted, elapsedMs, p50Ms, p99Ms, p999Ms, cpuUs: cpu,
    syncs: after.log.syncs - before.log.syncs, appends: after.log.appends - before.log.appends,
  };
});
