import { setTimeout as sleep } from "node:timers/promises";

/** What {@link measureRss} saw of one process, in MiB. */
export interface RssSummary {
  /** The first sample, taken when sampling began. */
  readonly startMiB: number;
  /** The largest sample. */
  readonly peakMiB: number;
  /** The last sample, taken when sampling stopped. */
  readonly endMiB: number;
  /** `peakMiB - startMiB`: how far the process grew while it was watched. */
  readonly growthMiB: number;
  /** How many samples were taken. */
  readonly samples: number;
}

/** A running RSS sampler; see {@link measureRss}. */
export interface RssSampler {
  /** Takes a last sample, stops, and sums up; rejects if the process stopped answering. */
  stop(): Promise<RssSummary>;
}

const MiB = 1024 * 1024;

/**
 * Samples the resident set size of a role process (`RoleProcess.rss()`, which the child answers
 * with `process.memoryUsage.rss()`) every `intervalMs`, from now until `stop()`. A child whose
 * event loop is busy answers late: the sampler then takes fewer samples, never overlapping ones.
 *
 * @example
 * const rss = measureRss(consumer);
 * producer.start(null);
 * await producer.result();
 * const { growthMiB } = await rss.stop();
 */
export function measureRss(proc: { rss(): Promise<number> }, intervalMs = 100): RssSampler {
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      samples.push(await proc.rss());
      await sleep(intervalMs);
    }
    samples.push(await proc.rss());
  })();
  loop.catch(() => {}); // reported by stop()
  return {
    async stop() {
      running = false;
      await loop;
      const first = samples[0] ?? 0;
      const peak = Math.max(...samples);
      const last = samples[samples.length - 1] ?? 0;
      return {
        startMiB: first / MiB,
        peakMiB: peak / MiB,
        endMiB: last / MiB,
        growthMiB: (peak - first) / MiB,
        samples: samples.length,
      };
    },
  };
}
