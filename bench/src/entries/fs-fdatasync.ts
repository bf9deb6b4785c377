import { closeSync, fdatasyncSync, openSync, writeSync } from "node:fs";
import path from "node:path";
import type { Entry } from "../harness.js";
import { percentiles } from "../harness.js";

/**
 * `fs.fdatasync`: the physical floor of a stable log. A sequential loop of a 128-byte append
 * (`writeSync` to a file opened with 'a') and `fdatasyncSync`, for about 2 s, in a fresh
 * directory under `$BENCH_LOG_DIR` (default the OS temp dir: point it at the disk the 2PC logs
 * use). value = syncs per second; `extra.p50Ms` / `p99Ms` = latency of one append + sync.
 * It runs in the harness process: there is no second party to separate it from.
 */
export const fsFdatasync: Entry = {
  name: "fs.fdatasync",
  unit: "syncs/s",
  better: "higher",
  async run(ctx) {
    const dir = await ctx.tempDir();
    const durationMs = ctx.quick ? 300 : 2_000;
    const record = Buffer.alloc(128, 0x61);
    const fd = openSync(path.join(dir, "log"), "a");
    const latenciesMs: number[] = [];
    try {
      const t0 = performance.now();
      let now = t0;
      while (now - t0 < durationMs) {
        writeSync(fd, record);
        fdatasyncSync(fd);
        const t = performance.now();
        latenciesMs.push(t - now);
        now = t;
      }
      const [p50Ms = NaN, p99Ms = NaN] = percentiles(latenciesMs, [50, 99]);
      const round = (ms: number): number => Math.round(ms * 1000) / 1000;
      return {
        value: Math.round(latenciesMs.length / ((now - t0) / 1000)),
        extra: {
          p50Ms: round(p50Ms),
          p99Ms: round(p99Ms),
          syncs: latenciesMs.length,
          dir: path.dirname(dir),
        },
      };
    } finally {
      closeSync(fd);
    }
  },
};
