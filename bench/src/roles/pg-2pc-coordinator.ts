/**
 * Client of `postgres.2pc.*`: two-phase commit across PostgreSQL clusters with node-postgres,
 * one pool a cluster. A transaction sends every cluster, in parallel, one simple query,
 * `BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id = k; PREPARE TRANSACTION 'gid'`,
 * and once all have prepared, `COMMIT PREPARED 'gid'` to every one (in parallel); a failed
 * prepare rolls back the others. Consecutive transactions update different rows, so none waits
 * for a lock. This coordinator keeps no log of its own: only the clusters' WAL flushes
 * (PREPARE, COMMIT PREPARED) are durable, where zmbox's coordinator also forces its decision.
 * `warmup` untimed transactions at the measured concurrency, then `count` timed ones.
 */
import pg from "pg";
import { inLanes, percentiles, runRole } from "../harness.js";

export interface Pg2pcCoordinatorRole {
  args: { ports: number[]; count: number; warmup: number; inFlight: number };
  ready: null;
  start: null;
  /** Latencies of the timed transactions, first started to last committed. */
  result: { committed: number; elapsedMs: number; p50Ms: number; p99Ms: number; p999Ms: number; meanMs: number };
}

const ROWS = 10_000;

runRole<Pg2pcCoordinatorRole>(async (ctx) => {
  const { ports, count, warmup, inFlight } = ctx.args;
  const pools = ports.map((port) => new pg.Pool({ host: "127.0.0.1", port, user: "postgres", database: "postgres", max: inFlight }));
  for (const pool of pools) pool.on("error", () => {}); // an idle client's error; queries report their own
  try {
    ctx.ready(null);
    // Set up and warmed up after the go, not before ready: a busy machine must not hit the
    // harness's 20 s limit on getting ready.
    await ctx.started;
    await Promise.all(
      pools.map(async (pool) => {
        await pool.query("CREATE TABLE IF NOT EXISTS accounts (id int PRIMARY KEY, balance bigint NOT NULL)");
        const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM accounts");
        if (rows[0]?.n !== ROWS) {
          await pool.query("TRUNCATE accounts");
          await pool.query(`INSERT INTO accounts SELECT g, 0 FROM generate_series(1, ${ROWS}) g`);
          await pool.query("VACUUM ANALYZE accounts");
        }
        // What an interrupted run left prepared would hold its rows' locks.
        const left = await pool.query<{ gid: string }>("SELECT gid FROM pg_prepared_xacts");
        for (const { gid } of left.rows) await pool.query(`ROLLBACK PREPARED '${gid}'`);
      }),
    );
    const tag = `b${process.pid}`;
    let next = 0;
    const transaction = async (): Promise<void> => {
      const n = next++;
      const gid = `${tag}_${n}`;
      const id = (n % ROWS) + 1;
      const votes = await Promise.allSettled(
        pools.map((pool) => pool.query(`BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id = ${id}; PREPARE TRANSACTION '${gid}'`)),
      );
      const no = votes.find((v): v is PromiseRejectedResult => v.status === "rejected");
      if (no !== undefined) {
        await Promise.all(pools.map((pool) => pool.query(`ROLLBACK PREPARED '${gid}'`).catch(() => undefined)));
        throw no.reason;
      }
      await Promise.all(pools.map((pool) => pool.query(`COMMIT PREPARED '${gid}'`)));
    };
    await inLanes(warmup, inFlight, transaction);
    const latencies = new Float64Array(count);
    let at = 0;
    const t0 = performance.now();
    await inLanes(count, inFlight, async () => {
      const start = performance.now();
      await transaction();
      latencies[at++] = performance.now() - start;
    });
    const elapsedMs = performance.now() - t0;
    const [p50Ms = NaN, p99Ms = NaN, p999Ms = NaN] = percentiles(latencies, [50, 99, 99.9]);
    const meanMs = latencies.reduce((a, b) => a + b, 0) / count;
    return { committed: count, elapsedMs, p50Ms, p99Ms, p999Ms, meanMs };
  } finally {
    await Promise.all(pools.map((pool) => pool.end()));
  }
});
