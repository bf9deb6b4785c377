import type { RoleSpec } from "./ipc.js";
import type { RoleProcess } from "./proc.js";
import type { Service } from "./service.js";

/**
 * Which way a value improves: `"higher"` for throughput (msg/s, req/s), `"lower"` for latency
 * and memory. The ratio is always `value / baselineValue`, so a `"higher"` entry wants a ratio
 * above its goal and a `"lower"` entry one below it.
 */
export type Better = "higher" | "lower";

/** What one run of an entry measured. */
export interface Measurement {
  /** The headline number, in the entry's unit: the p50 for a latency entry. */
  readonly value: number;
  /** A latency entry's 99th percentile, in the entry's unit (shown beside the p50 in the table). */
  readonly p99?: number;
  /** A latency entry's 99.9th percentile, in the entry's unit (in the JSON). */
  readonly p999?: number;
  /** Anything else worth reporting beside it (p99, RSS growth, counts), copied into the JSON. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/**
 * A baseline computed from the measurements of other entries of the same invocation, for
 * entries whose floor is not one measured number.
 *
 * @example
 * // twopc.latency: 3 forced log writes and 2 network round trips
 * const floor: DerivedBaseline = {
 *   label: "3*fs.fdatasync.p50Ms + 2*zeromq.dealer-router.rtt/1000",
 *   from: ["fs.fdatasync", "zeromq.dealer-router.rtt"],
 *   value: (get) =>
 *     3 * Number(get("fs.fdatasync").extra?.["p50Ms"]) + (2 * get("zeromq.dealer-router.rtt").value) / 1000,
 * };
 */
export interface DerivedBaseline {
  /** Shown as the result's `baseline`. */
  readonly label: string;
  /** The entries it is computed from: they run first, even if `--only` left them out. */
  readonly from: readonly string[];
  /** Computes the baseline value; `get` returns the measurement of an entry named in `from`. */
  value(get: (name: string) => Measurement): number;
}

/** What an entry's `run` gets from the harness. */
export interface RunContext {
  /** `--quick`: a smoke run; use a fraction of the usual message count or duration. */
  readonly quick: boolean;
  /** Writes a progress line to stderr, prefixed with the entry's name. */
  log(message: string): void;
  /**
   * Forks the role `bench/dist/roles/<role>.js` (see `runRole`) and resolves once it is ready.
   * The harness ends every role an entry forked once the entry is done, even if it threw.
   */
  fork<R extends RoleSpec>(role: string, args: R["args"]): Promise<RoleProcess<R>>;
  /**
   * A fresh directory on the disk the 2PC logs are measured on (`$BENCH_LOG_DIR`, default
   * `os.tmpdir()`), removed once the entry is done.
   */
  tempDir(): Promise<string>;
  /**
   * What a running server the entry named in `services` offers (a URL, ports). The harness
   * starts each server once before the first round and stops it after the last.
   */
  service<I>(service: Service<I>): I;
}

/**
 * One benchmark: a module in `bench/src/entries/` exports it and `entries/index.ts` lists it.
 * Sender and receiver always run in role processes of their own, never in the harness.
 */
export interface Entry {
  /** Unique, dotted (`family.what[.variant]`); `--only` matches on prefixes of it. */
  readonly name: string;
  /** Unit of `value`, e.g. `"msg/s"`, `"us"`, `"ms"`. */
  readonly unit: string;
  readonly better: Better;
  /** The entry this one is compared with (its name), or a derived baseline; none for baselines. */
  readonly baseline?: string | DerivedBaseline;
  /**
   * For an entry that measures another system (a broker users would pick instead): the zmbox
   * entry it matches. It runs in every round with it, and the report gives `zmbox / peer`.
   */
  readonly peerOf?: string;
  /** Servers the entry needs running (see `service.ts`); without one, the entry is skipped. */
  readonly services?: readonly Service<unknown>[];
  run(ctx: RunContext): Promise<Measurement>;
}
