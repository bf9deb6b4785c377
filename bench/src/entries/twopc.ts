import type { Entry, RoleProcess, RoleSpec, RunContext } from "../harness.js";
import type { TwopcCoordinatorRole } from "../roles/twopc-coordinator.js";
import type { TwopcFloorCoordinatorRole } from "../roles/twopc-floor-coordinator.js";
import type { TwopcFloorParticipantRole } from "../roles/twopc-floor-participant.js";
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
  const { r, done, participantsUs } = await startAndStop(coordinator, nodes);
  if (r.aborted > 0) throw new Error(`${r.aborted} transactions aborted; every participant votes commit`);
  return { r, workerSyncs: done.map((x) => x.syncs), cpu: cpuPerTx(r.cpuUs, participantsUs, r.committed) };
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
 * `twopc.latency`: p50 ms of one transaction at a time (3 nodes), from `transact()` to its
 * outcome, which is final once the coordinator's COMMIT is durable: on the critical path are
 * one round trip to every participant (VOTE-REQ/VOTE), each participant's forced READY and the
 * coordinator's forced COMMIT. The derived baseline counts more (3 syncs, 2 round trips);
 * `twopc.floor.latency` measures the path itself on raw zeromq.js.
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
    const warmup = latencyWarmup(ctx);
    const { r, cpu, workerSyncs } = await run(ctx, count, warmup, 1);
    const perTx = (syncs: number): number => round(syncs / (count + warmup));
    return {
      value: round(r.p50Ms), p99: round(r.p99Ms), p999: round(r.p999Ms),
      extra: { transactions: r.committed, ...cpu, coordinatorSyncsPerTx: round(r.syncs / r.committed), workerSyncsPerTx: workerSyncs.map(perTx) },
    };
  },
};

/**
 * `twopc.floor.latency`: the least a 2PC over zeromq.js can cost on this machine, for reading
 * `twopc.latency`. The same shape (a coordinator and 3 participants in 4 processes, one
 * transaction at a time): VOTE-REQ to every participant at once over raw Dealers, each forces a
 * 64-byte READY record (O_DSYNC into a preallocated file, on the main thread) and votes on the
 * same connection, the coordinator forces its COMMIT and the outcome is final; GLOBAL-COMMIT
 * follows off the clock, written unforced. No mailbox, acks, timers, recovery or trace. No goal:
 * its ratio is how far above this path the real nodes run.
 */
export const twopcFloorLatency: Entry = floorLatency(0);

/**
 * The floor entry; with `spinUs` > 0 (see headroom.ts), `twopc.floor.latency.spin<N>`, whose
 * nodes burn `spinUs` of CPU at every message they receive and after every VOTE-REQ and vote
 * they send.
 */
export function floorLatency(spinUs: number): Entry {
  return {
    name: spinUs === 0 ? "twopc.floor.latency" : `twopc.floor.latency.spin${spinUs}`,
    unit: "ms",
    better: "lower",
    async run(ctx) {
      const count = ctx.quick ? 200 : 2000;
      const warmup = latencyWarmup(ctx);
      const nodes = await Promise.all(
        [1, 2, 3].map(async () => ctx.fork<TwopcFloorParticipantRole>("twopc-floor-participant", { logDir: await ctx.tempDir(), spinUs })),
      );
      const coordinator = await ctx.fork<TwopcFloorCoordinatorRole>("twopc-floor-coordinator", {
        logDir: await ctx.tempDir(), endpoints: nodes.map((n) => n.info.endpoint), count, warmup, spinUs,
      });
      const { r, done, participantsUs } = await startAndStop(coordinator, nodes);
      const expected = count + warmup;
      if (done.some((d) => d.voted !== expected)) throw new Error(`expected ${expected} votes from each participant, got ${done.map((d) => d.voted).join(", ")}`);
      const cpu = cpuPerTx(r.cpuUs, participantsUs, count);
      return { value: round(r.p50Us / 1000), p99: round(r.p99Us / 1000), p999: round(r.p999Us / 1000), extra: { transactions: count, ...cpu } };
    },
  };
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * Untimed transactions before the timed ones in the one-in-flight 2PC entries (`postgres.2pc.latency`
 * too). One transaction in flight runs each code path once a transaction, so V8 takes thousands
 * of them to compile it: from a cold start, 400-transaction windows went from p50 3.8 ms, p99 15.7
 * to p50 1.6-1.8, p99 4-9 only after about 4,000 (twopc.latency, 2026-12-04). A server runs warm;
 * 200 untimed transactions timed the compiler.
 */
export function latencyWarmup(ctx: RunContext): number {
  return ctx.quick ? 20 : 4000;
}

/**
 * Starts the coordinator's run, waits for its result, then stops the participants; returns both
 * results and the CPU time the participants spent, together, from the end of the coordinator's
 * warm-up (`ctx.timed()`; a usage query takes well under one transaction) to its result.
 */
async function startAndStop<C extends RoleSpec & { start: null }, P extends RoleSpec>(coordinator: RoleProcess<C>, nodes: RoleProcess<P>[]) {
  coordinator.start(null);
  await coordinator.timed();
  const before = await Promise.all(nodes.map((n) => n.usage()));
  const r = await coordinator.result();
  const after = await Promise.all(nodes.map((n) => n.usage()));
  const done = await Promise.all(nodes.map((n) => n.stop()));
  return { r, done, participantsUs: after.reduce((sum, a, i) => sum + a.cpuUs - before[i]!.cpuUs, 0) };
}

/**
 * Microseconds of CPU (user + system, every thread) a timed transaction cost the coordinator's
 * process and, summed, the participants' processes: on two cores their sum bounds how fast
 * transactions can follow each other.
 */
function cpuPerTx(coordinatorUs: number, participantsUs: number, transactions: number) {
  const per = (us: number): number => Math.round(us / transactions);
  return { coordinatorCpuUs: per(coordinatorUs), participantsCpuUs: per(participantsUs) };
}
