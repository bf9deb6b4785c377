/**
 * Fair, bounded credit under a crowd (PROTOCOL.md 5.4-5.6): the latency of well-behaved
 * senders as their number grows, and one good sender beside peers that hoard credit and peers
 * that connect and leave.
 */
import type { Entry, RunContext } from "../harness.js";
import { measureRss, percentiles } from "../harness.js";
import type { FairCrowdRole } from "../roles/fair-crowd.js";
import type { FairGoodRole } from "../roles/fair-good.js";
import type { FairOwnerRole } from "../roles/fair-owner.js";
import type { FairSendersRole } from "../roles/fair-senders.js";

const CAPACITY = 1000;
/** Sender processes, whatever the number of senders: the load on the machine stays the same. */
const PROCESSES = 4;
/** Messages a second from all the senders together. */
const TOTAL_RATE = 400;
const round = (x: number, places = 1): number => Math.round(x * 10 ** places) / 10 ** places;

/**
 * `mailbox.fair.p99.senders.N` (N = 10, 100, 1000): p99 ms of an `until: "stored"` send from N
 * sender runtimes (N channels) into one mailbox of capacity 1000, spread over 4 processes,
 * sending 400 messages a second between them (each one every N/400 s), so only the number of
 * channels changes. The 100 and 1000 are compared with the 10 (goal: ratio <= 10). In `extra`:
 * p50, max, the owner's RSS.
 */
function senders(n: number): Entry {
  return {
    name: `mailbox.fair.p99.senders.${n}`,
    unit: "ms",
    better: "lower",
    ...(n === 10 ? {} : { baseline: "mailbox.fair.p99.senders.10" }),
    async run(ctx) {
      const durationMs = ctx.quick ? 2000 : 8000;
      const owner = await ctx.fork<FairOwnerRole>("fair-owner", { capacity: CAPACITY });
      const rss = measureRss(owner);
      const { address } = owner.info;
      const per = Array.from({ length: PROCESSES }, (_, i) => Math.floor(n / PROCESSES) + (i < n % PROCESSES ? 1 : 0));
      const procs = await Promise.all(
        per.filter((r) => r > 0).map((runtimes) => ctx.fork<FairSendersRole>("fair-senders", { address, runtimes, rate: TOTAL_RATE / n, durationMs })),
      );
      for (const p of procs) p.start(null);
      const results = await Promise.all(procs.map((p) => p.result()));
      const r = await rss.stop();
      const o = await owner.stop();
      const all = results.flatMap((x) => x.latenciesMs);
      const failed = results.reduce((s, x) => s + x.failed, 0);
      if (failed > 0) throw new Error(`${failed} sends failed`);
      const [p50, p99, max] = percentiles(all, [50, 99, 100]) as [number, number, number];
      return {
        value: round(p99, 2),
        extra: { p50Ms: round(p50, 2), maxMs: round(max, 1), sends: all.length, channels: o.channels, ownerRssPeakMiB: round(r.peakMiB), ownerRssGrowthMiB: round(r.growthMiB) },
      };
    },
  };
}

export const fairSenders10 = senders(10);
export const fairSenders100 = senders(100);
export const fairSenders1000 = senders(1000);

const GOOD_RATE = 500;
const HOARDERS = 200;
const CHURN = 1000;
const CHURN_EVERY_MS = 3000;

async function good(ctx: RunContext, crowded: boolean) {
  const durationMs = ctx.quick ? 3000 : 10_000;
  const owner = await ctx.fork<FairOwnerRole>("fair-owner", { capacity: CAPACITY });
  const rss = measureRss(owner);
  const { address } = owner.info;
  const sender = await ctx.fork<FairGoodRole>("fair-good", { address, rate: GOOD_RATE, durationMs });
  if (crowded) {
    const crowd = await ctx.fork<FairCrowdRole>("fair-crowd", { address, hoarders: HOARDERS, churn: CHURN, churnEveryMs: CHURN_EVERY_MS });
    crowd.start(null);
    // The hoarders hold what they can get before the good sender's clock starts.
    await new Promise((r) => setTimeout(r, 1000));
  }
  sender.start(null);
  const g = await sender.result();
  const r = await rss.stop();
  const o = await owner.stop();
  if (g.failed > 0) throw new Error(`${g.failed} of the good sender's sends failed`);
  return {
    value: Math.round(g.stored / (g.elapsedMs / 1000)),
    extra: {
      offered: GOOD_RATE,
      longestStallMs: round(g.longestStallMs, 1),
      ...(crowded ? { hoarders: HOARDERS, churn: CHURN, churnEveryMs: CHURN_EVERY_MS } : {}),
      ownerChannelsAtEnd: o.channels,
      ownerRefused: o.refused,
      ownerRssPeakMiB: round(r.peakMiB),
      ownerRssGrowthMiB: round(r.growthMiB),
    },
  };
}

/**
 * `mailbox.fair.good.alone`: msg/s stored of one sender offering 500 `until: "stored"` sends a
 * second (at most 64 in flight) to a mailbox of capacity 1000; `extra.longestStallMs` is the
 * longest time without a send stored.
 */
export const fairGoodAlone: Entry = {
  name: "mailbox.fair.good.alone",
  unit: "msg/s",
  better: "higher",
  run: (ctx) => good(ctx, false),
};

/**
 * `mailbox.fair.good.crowded`: the same sender beside 200 peers that say `hello` with a huge
 * `want` every 500 ms and never send, and 1,000 connections every 3 s that each say one `hello`
 * and close. Compared with `mailbox.fair.good.alone` (goal: ratio >= 0.9, `longestStallMs` < 100);
 * the owner's RSS in `extra`.
 */
export const fairGoodCrowded: Entry = {
  name: "mailbox.fair.good.crowded",
  unit: "msg/s",
  better: "higher",
  baseline: "mailbox.fair.good.alone",
  run: (ctx) => good(ctx, true),
};
