/**
 * Two-phase commit across three PostgreSQL 15 clusters (from Debian, started by the harness; see
 * `services/postgres.ts` and `roles/pg-2pc-coordinator.ts`): PREPARE TRANSACTION on the three,
 * then COMMIT PREPARED, from a coordinator process that, unlike zmbox's, keeps no durable log.
 * Run with `--peers`.
 */
import type { Entry, RunContext } from "../harness.js";
import type { Pg2pcCoordinatorRole } from "../roles/pg-2pc-coordinator.js";
import { postgres } from "../services/postgres.js";
import { latencyWarmup } from "./twopc.js";

const round = (x: number): number => Math.round(x * 1000) / 1000;

async function run(ctx: RunContext, count: number, warmup: number, inFlight: number) {
  const { ports } = ctx.service(postgres);
  const coordinator = await ctx.fork<Pg2pcCoordinatorRole>("pg-2pc-coordinator", { ports: [...ports], count, warmup, inFlight });
  coordinator.start(null);
  return coordinator.result();
}

/** `postgres.2pc.throughput`: committed transactions per second, 64 in flight. Pairs with `twopc.throughput`. */
export const postgres2pcThroughput: Entry = {
  name: "postgres.2pc.throughput",
  unit: "tx/s",
  better: "higher",
  peerOf: "twopc.throughput",
  services: [postgres],
  async run(ctx) {
    const count = ctx.quick ? 1_000 : 10_000;
    const r = await run(ctx, count, count / 10, 64);
    return {
      value: Math.round(r.committed / (r.elapsedMs / 1000)),
      extra: { transactions: r.committed, seconds: Math.round(r.elapsedMs) / 1000, p50Ms: round(r.p50Ms), p99Ms: round(r.p99Ms), clusters: 3, coordinatorLog: "none" },
    };
  },
};

/** `postgres.2pc.latency`: p50 ms of one transaction at a time (p99, p99.9 beside it). Pairs with `twopc.latency`. */
export const postgres2pcLatency: Entry = {
  name: "postgres.2pc.latency",
  unit: "ms",
  better: "lower",
  peerOf: "twopc.latency",
  services: [postgres],
  async run(ctx) {
    const count = ctx.quick ? 200 : 2_000;
    // The same warm-up as twopc.latency's.
    const r = await run(ctx, count, latencyWarmup(ctx), 1);
    return { value: round(r.p50Ms), p99: round(r.p99Ms), p999: round(r.p999Ms), extra: { transactions: r.committed, meanMs: round(r.meanMs), clusters: 3, coordinatorLog: "none" } };
  },
};
