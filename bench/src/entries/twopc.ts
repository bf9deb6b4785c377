import type { Entry, RunContext } from "../harness.js";
import type { TwopcCoordinatorRole } from "../roles/twopc-coordinator.js";
import type { TwopcParticipantRole } from "../roles/twopc-participant.js";

/** A coordinator and 3 nodes, each in its own process with its own durable log. */
async function run(ctx: RunContext, count: number, warmup: number, inFlight: number) {
  const nodes = await Promise.all(
    [1, 2, 3].map(async () => ctx.fork<TwopcParticipantRole>("twopc-participant", { logDir: await ctx.tempDir() })),
  );
  const participants = nodes.map((w) => w.info.address);
  const coordinator = await ctx.fork<TwopcCoordinatorRole>("twopc-coordinator", {
    logDir: await ctx.tempDir(), participants, count, inFlight, warmup,
  });
  coordinator.start(null);
  const r = await coordinator.result();
  const w = await Promise.all(nodes.map((p) => p.stop()));
  if (r.aborted > 0) throw new Error(`${r.aborted} transactions aborted; every participant votes commit`);
  return { r, workerSyncs: w.map((x) => x.syncs) };
}

/**
 * `twopc.throughput`: committed transactions per second, coordinator and 3 nodes in separate
 * processes, 64 transactions in flight, every log durable (fdatasync). Compared with a
 * sequential append + fdatasync loop: group commit has to carry more than one transaction a sync.
 */
export const twopcThroughput: Entry = {
  name: "twopc.throughput",
  unit: "tx/s",
  better: "higher",
  baseline: "fs.fdatasync",
  async run(ctx) {
    const count = ctx.quick ? 1000 : 20_000;
    const { r, workerSyncs } = await run(ctx, count, count / 10, 64);
    return {
      value: Math.round(r.committed / (r.elapsedMs / 1000)),
      extra: {
        transactions: r.committed, seconds: Math.round(r.elapsedMs) / 1000, p50Ms: round(r.p50Ms), p99Ms: round(r.p99Ms),
        coordinatorSyncs: r.syncs, workerSyncs, txPerCoordinatorSync: round(r.committed / Math.max(1, r.syncs)),
      },
    };
  },
};

/**
 * `twopc.latency`: p50 ms of one transaction at a time (3 nodes). Its floor: 3 forced log
 * writes on the critical path (participant READY, coordinator COMMIT, participant COMMIT) and 2 network
 * round trips (VOTE-REQ/VOTE, GLOBAL-COMMIT/ACK).
 */
export const twopcLatency: Entry = {
  name: "twopc.latency",
  unit: "ms",
  better: "lower",
  baseline: {
    label: "3 x fs.fdatasync p50 + 2 x zeromq.dealer-router.rtt p50",
    from: ["fs.fdatasync", "zeromq.dealer-router.rtt"],
    value: (get) => 3 * Number(get("fs.fdatasync").extra?.["p50Ms"]) + (2 * get("zeromq.dealer-router.rtt").value) / 1000,
  },
  async run(ctx) {
    const count = ctx.quick ? 200 : 2000;
    const { r } = await run(ctx, count, count / 10, 1);
    return { value: round(r.p50Ms), p99: round(r.p99Ms), p999: round(r.p999Ms), extra: { transactions: r.committed } };
  },
};

const round = (x: number): number => Math.round(x * 1000) / 1000;
