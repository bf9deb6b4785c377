/**
 * Percentiles of a sample, by the nearest-rank method: the p-th percentile is the smallest value
 * such that at least p% of the sample is at or below it. The input is not modified; it is sorted
 * once, whatever the number of percentiles asked for.
 *
 * @example
 * const [p50, p99] = percentiles(rttsUs, [50, 99]);
 */
export function percentiles(values: ArrayLike<number>, ps: readonly number[]): number[] {
  if (values.length === 0) throw new RangeError("percentiles of an empty sample");
  const sorted = Float64Array.from(values).sort();
  return ps.map((p) => {
    if (!(p > 0 && p <= 100)) throw new RangeError(`Expected a percentile in (0, 100], got ${p}`);
    // p / 100 is not exact in floating point (99.9 / 100 * 1000 is 999.0000000000001): a
    // rank within a hair of a whole number is that number.
    const rank = Math.ceil((p / 100) * sorted.length - 1e-9);
    return sorted[rank - 1] ?? Number.NaN;
  });
}

/** One percentile of a sample; see {@link percentiles} to take several at one sort. */
export function percentile(values: ArrayLike<number>, p: number): number {
  return percentiles(values, [p])[0] ?? Number.NaN;
}

/**
 * CPU time this process has used, user + system, summed over all its threads (ZeroMQ's I/O
 * thread and V8's GC helpers included), in microseconds. Differences of it say what a piece of
 * work cost, which on a shared machine is steadier than how long it took.
 */
export function cpuUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** What {@link timeEach} measured. */
export interface Timed {
  count: number;
  /** Round trips (or whatever `once` does) in microseconds. */
  p50Us: number;
  p99Us: number;
  p999Us: number;
  meanUs: number;
  /** From the first call to the end of the last. */
  elapsedMs: number;
  /** This process's CPU time over the calls (see {@link cpuUs}). */
  cpuUs: number;
}

/**
 * Calls `once` `count` times, one after another, and times each call.
 *
 * @example
 * const timed = await timeEach(30_000, async () => { await dealer.send(payload); await dealer.receive(); });
 */
export async function timeEach(count: number, once: () => Promise<unknown>): Promise<Timed> {
  const times = new Float64Array(count);
  const cpu0 = cpuUs();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await once();
    times[i] = (performance.now() - start) * 1000;
  }
  const elapsedMs = performance.now() - t0;
  const cpu = cpuUs() - cpu0;
  const [p50Us = NaN, p99Us = NaN, p999Us = NaN] = percentiles(times, [50, 99, 99.9]);
  const meanUs = times.reduce((a, b) => a + b, 0) / count;
  return { count, p50Us, p99Us, p999Us, meanUs, elapsedMs, cpuUs: cpu };
}

/**
 * Calls `once` `count` times with `inFlight` calls outstanding: each of `inFlight` lanes starts
 * the next call when its last one ends. Resolves when all have ended.
 *
 * @example
 * await inLanes(300_000, 64, () => client.request(body, server));
 */
export async function inLanes(count: number, inFlight: number, once: () => Promise<unknown>): Promise<void> {
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < count) {
      started++;
      await once();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

/**
 * How a figure came out over the rounds of one invocation: the median (the mean of the two
 * middle values for an even count), the smallest and the largest, and every round's value in
 * round order (`null` for a round that did not measure it).
 */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly perRound: readonly (number | null)[];
}

/** The {@link Spread} of per-round values; `null` if no round measured one. */
export function spread(perRound: readonly (number | null)[]): Spread | null {
  const got = perRound.filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (got.length === 0) return null;
  const mid = got.length >> 1;
  const median = got.length % 2 === 1 ? got[mid]! : (got[mid - 1]! + got[mid]!) / 2;
  return { median, min: got[0]!, max: got[got.length - 1]!, perRound };
}
