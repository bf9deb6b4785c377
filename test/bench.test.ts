// The benchmark harness (bench/): the CLI's JSON contract, and how the runner orders entries,
// computes ratios and survives failing entries. Runs the compiled harness (`pnpm test` builds it).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import t from "tap";
import type { Entry } from "../bench/dist/harness.js";
import type { Service } from "../bench/dist/service.js";
import { cpuUs, inLanes, measureRss, percentiles, timeEach } from "../bench/dist/harness.js";
import { plan, runEntries } from "../bench/dist/runner.js";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Runs a bench script that should refuse its arguments; returns its failure (undefined if it succeeded). */
function usageError(args: string[]): Promise<{ code: number; stderr: string } | undefined> {
  return promisify(execFile)(process.execPath, args, { cwd: root, timeout: 10_000 }).then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  );
}

t.test("bench --json prints one JSON object with the required fields, over the rounds asked for", async (t) => {
  // execFile resolves only once stdout and stderr are closed, so a role process left running
  // (it shares our stderr) would show up here as a timeout.
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["bench/dist/bench.js", "--json", "--quick", "--rounds", "2", "--only", "fs.fdatasync"],
    { cwd: root, timeout: 30_000 },
  );
  const report = JSON.parse(stdout) as { results: Record<string, unknown>[] };
  t.equal(report.results.length, 1);
  const [fdatasync] = report.results;
  t.match(fdatasync, {
    name: "fs.fdatasync",
    unit: "syncs/s",
    rounds: 2,
    baseline: null,
    baselineValue: null,
    ratio: null,
    ratioSpread: null,
  });
  t.type(fdatasync?.["value"], "number");
  t.ok(Number(fdatasync?.["value"]) > 0, "a positive rate");
  const spread = fdatasync?.["spread"] as { median: number; min: number; max: number; perRound: number[] };
  t.equal(spread.perRound.length, 2, "one value a round");
  t.equal(spread.median, fdatasync?.["value"], "value is the median");
  t.equal(spread.min, Math.min(...spread.perRound));
  t.equal(spread.max, Math.max(...spread.perRound));
});

t.test("bench rejects a --rounds that is not a whole number from 1 up, with exit code 2", async (t) => {
  const failed = await usageError(["bench/dist/bench.js", "--rounds", "0"]);
  t.equal(failed?.code, 2);
  t.match(failed?.stderr, /Expected `--rounds` to be an integer from 1 up, got `0`/);
});

t.test("the request-response and 2PC entries, and their floors, run end to end in their processes (--quick)", async (t) => {
  // Their roles warm up, time and check themselves (every request handled once, no retries; no
  // transaction aborted): a broken role comes back as an entry with an `error`.
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["bench/dist/bench.js", "--json", "--quick", "--rounds", "1", "--only", "rr,twopc.throughput,twopc.latency,twopc.floor"],
    { cwd: root, timeout: 120_000 },
  );
  type Spread = { median: number; min: number; max: number };
  const { results } = JSON.parse(stdout) as {
    results: { name: string; value: number; unit: string; ratio: unknown; p99?: Spread; p999?: Spread; error?: string; extra?: Record<string, unknown> }[];
  };
  t.same(
    results.map((r) => r.name).sort(),
    [
      "fs.fdatasync", "rr.floor.rtt", "rr.rtt", "rr.rtt.curve", "rr.throughput.c64", "twopc.floor.latency", "twopc.latency", "twopc.throughput",
      "zeromq.dealer-router.c64", "zeromq.dealer-router.rtt",
    ],
  );
  for (const r of results) {
    t.equal(r.error, undefined, `${r.name} ran`);
    t.ok(typeof r.value === "number" && r.value > 0, `${r.name} measured a positive value`);
    if (r.name === "twopc.floor.latency") t.equal(r.ratio, null, "the 2PC floor has no baseline");
    else if (r.name.startsWith("rr.") || r.name.startsWith("twopc.")) t.ok(typeof r.ratio === "number" && r.ratio > 0, `${r.name} has its ratio`);
    if (r.name === "twopc.latency" || r.name === "twopc.floor.latency") {
      // What a timed transaction cost the coordinator's process, and the participants' together.
      t.ok(Number(r.extra?.["coordinatorCpuUs"]) > 0, `${r.name}: the coordinator's CPU a transaction`);
      t.ok(Number(r.extra?.["participantsCpuUs"]) > 0, `${r.name}: the participants' CPU a transaction`);
    }
    if (r.unit === "us" || r.unit === "ms") {
      // A latency entry: its value is the p50, and the p99 and p99.9 come with it.
      t.ok(r.p99 !== undefined && r.p99.median >= r.value, `${r.name}: p99 ${r.p99?.median} >= p50 ${r.value}`);
      t.ok(r.p999 !== undefined && r.p999.median >= (r.p99?.median ?? Infinity), `${r.name}: p99.9 >= p99`);
    } else {
      t.equal(r.p99, undefined, `${r.name}: no p99 for a throughput`);
    }
    if (r.name.startsWith("rr.") || r.name.startsWith("zeromq.dealer-router.")) {
      // What a timed request cost each process: both did some work for every one of them.
      t.ok(Number(r.extra?.["clientCpuUs"]) > 0, `${r.name}: the client's CPU a request`);
      t.ok(Number(r.extra?.["serverCpuUs"]) > 0, `${r.name}: the server's CPU a request`);
    }
  }
});

t.test("the durable mailbox entries run end to end, and the slow consumer's depth stays within capacity (--quick)", async (t) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["bench/dist/bench.js", "--json", "--quick", "--rounds", "1", "--only", "mailbox.throughput.durable,mailbox.memory.slow-consumer.durable"],
    { cwd: root, timeout: 180_000 },
  );
  type Log = { bytes: number; peakBytes: number; syncs: number; compactions: number };
  const { results } = JSON.parse(stdout) as { results: { name: string; value: number; ratio: unknown; error?: string; extra?: { log?: Log } }[] };
  t.same(results.map((r) => r.name).sort(), ["fs.fdatasync", "mailbox.memory.slow-consumer.durable", "mailbox.throughput.durable"]);
  const byName = new Map(results.map((r) => [r.name, r]));
  const durable = byName.get("mailbox.throughput.durable")!;
  t.equal(durable.error, undefined, "the throughput entry ran");
  t.ok(durable.value > 0 && typeof durable.ratio === "number", "a rate, and its ratio to fs.fdatasync");
  t.ok((durable.extra?.log?.syncs ?? 0) > 0, "the log synced");
  const slow = byName.get("mailbox.memory.slow-consumer.durable")!;
  t.equal(slow.error, undefined, "the slow-consumer entry ran");
  t.ok(slow.value > 0 && slow.value <= 1, `depth never above capacity (${slow.value})`);
  t.ok((slow.extra?.log?.peakBytes ?? Infinity) < 16 * 1024 * 1024, `the log stayed small (${slow.extra?.log?.peakBytes} bytes)`);
});

t.test("the CURVE mailbox entry runs end to end beside the plaintext one it is compared with (--quick)", async (t) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["bench/dist/bench.js", "--json", "--quick", "--rounds", "1", "--only", "mailbox.throughput.stored.curve"],
    { cwd: root, timeout: 120_000 },
  );
  const { results } = JSON.parse(stdout) as { results: { name: string; value: number; ratio: unknown; baseline: unknown; error?: string }[] };
  t.same(results.map((r) => r.name), ["zeromq.push-pull", "mailbox.throughput.stored", "mailbox.throughput.stored.curve"]);
  const curve = results[2]!;
  t.equal(curve.error, undefined, "the CURVE entry ran");
  t.equal(curve.baseline, "mailbox.throughput.stored");
  t.ok(curve.value > 0 && typeof curve.ratio === "number" && curve.ratio > 0, `a rate, and its ratio to the plaintext one (${String(curve.ratio)})`);
});

t.test("the mailbox entries are listed, and the acked one runs after the stored one it is compared with", async (t) => {
  const { entries: listed } = await import("../bench/dist/entries/index.js");
  t.same(
    listed.map((e) => e.name).filter((n) => n.startsWith("mailbox.")),
    ["mailbox.throughput.queued", "mailbox.throughput.stored", "mailbox.throughput.acked", "mailbox.throughput.stored.curve", "mailbox.memory.slow-consumer", "mailbox.throughput.durable", "mailbox.memory.slow-consumer.durable", "mailbox.scale.channels",
      "mailbox.fair.p99.senders.10", "mailbox.fair.p99.senders.100", "mailbox.fair.p99.senders.1000", "mailbox.fair.good.alone", "mailbox.fair.good.crowded"],
  );
  t.same(plan(listed, ["mailbox.throughput.acked"]).map((e) => e.name), ["zeromq.push-pull", "mailbox.throughput.stored", "mailbox.throughput.acked"]);
});

/** An entry that measures `value` at once, without any process. */
const fixed = (name: string, value: number, more: Partial<Entry> = {}): Entry => ({
  name,
  unit: "x",
  better: "higher",
  run: async () => ({ value, extra: { p50Ms: value / 10 } }),
  ...more,
});

const entries: Entry[] = [
  fixed("a.base", 10),
  fixed("b.compared", 25, { baseline: "a.base" }),
  fixed("c.floor", 4, {
    better: "lower",
    baseline: {
      label: "2*a.p50Ms",
      from: ["a.base"],
      value: (get) => 2 * Number(get("a.base").extra?.["p50Ms"]),
    },
  }),
];
const quiet = { quick: true, log: () => {} };

t.test("--only runs the baselines an entry needs first, each once", async (t) => {
  t.same(plan(entries, ["c", "b"]).map((e) => e.name), ["a.base", "b.compared", "c.floor"]);
  t.same(plan(entries, ["b."]).map((e) => e.name), ["a.base", "b.compared"]);
  t.throws(() => plan(entries, ["nope"]), /no such entry/);
});

t.test("the ratio is value / baseline value, named or derived, from the same run", async (t) => {
  const results = await runEntries(entries, quiet);
  t.match(results, [
    { name: "a.base", value: 10, baseline: null, baselineValue: null, ratio: null },
    { name: "b.compared", value: 25, baseline: "a.base", baselineValue: 10, ratio: 2.5 },
    { name: "c.floor", value: 4, baseline: "2*a.p50Ms", baselineValue: 2, ratio: 2, better: "lower" },
  ]);
});

t.test("rounds alternate the order, and the ratio is taken per round, then its median and range", async (t) => {
  const calls: string[] = [];
  // The baseline measures 10, 20, 40 and the entry 30 in every round: ratios 3, 1.5 and 0.75.
  const base = [10, 20, 40];
  const rounded: Entry[] = [
    { ...fixed("a.base", 0), run: async () => (calls.push("a"), { value: base[calls.filter((c) => c === "a").length - 1]! }) },
    { ...fixed("b.compared", 0, { baseline: "a.base" }), run: async () => (calls.push("b"), { value: 30, p99: 50, p999: 60 }) },
  ];
  const [a, b] = await runEntries(rounded, { ...quiet, rounds: 3 });
  t.same(calls, ["a", "b", "b", "a", "a", "b"], "every other round runs in reverse");
  await t.rejects(runEntries(rounded, { ...quiet, rounds: 1.5 }), /Expected `rounds` to be an integer from 1 up, got `1.5`/);
  t.match(a, { value: 20, rounds: 3, spread: { median: 20, min: 10, max: 40, perRound: [10, 20, 40] } });
  t.match(b, {
    value: 30,
    baselineValue: 20,
    ratio: 1.5,
    ratioSpread: { median: 1.5, min: 0.75, max: 3, perRound: [3, 1.5, 0.75] },
    p99: { median: 50, min: 50, max: 50 },
    p999: { median: 60 },
  });
});

t.test("a peer entry runs with the zmbox entry it matches and reports zmbox / peer per round", async (t) => {
  const peer = fixed("peer.thing", 20, { peerOf: "b.compared" });
  const results = await runEntries([...entries, peer], { ...quiet, only: ["peer"], rounds: 2 });
  t.same(results.map((r) => r.name), ["a.base", "b.compared", "peer.thing"]);
  t.match(results[2], { value: 20, baseline: null, versus: { entry: "b.compared", entryValue: 25, ratio: 1.25, ratioSpread: { perRound: [1.25, 1.25] } } });
});

t.test("an entry whose server is not installed is skipped, not failed, and says how to install it", async (t) => {
  let ran = false;
  const absent: Service<null> = { name: "absent", missing: () => "absent-server not found: run its setup", start: async () => ({ info: null, stop: async () => {} }) };
  const needing = { ...fixed("needs.server", 1), services: [absent], run: async () => ((ran = true), { value: 1 }) };
  const [result] = await runEntries([needing], quiet);
  t.notOk(ran, "it never ran");
  t.match(result, { name: "needs.server", value: null, skipped: /absent-server not found: run its setup/ });
  t.equal(result?.error, undefined);
});

t.test("a failing entry is reported and the others still run", async (t) => {
  const failing: Entry = {
    ...fixed("a.base", 0),
    // A real role that fails while setting up: the error comes back over IPC.
    run: async (ctx) => {
      await ctx.fork("zmq-push", { endpoint: "not-an-endpoint", count: 1, size: 1 });
      return { value: 1 };
    },
  };
  const results = await runEntries([failing, entries[1] as Entry], quiet);
  t.match(results, [
    { name: "a.base", value: null, error: /role zmq-push .* failed/ },
    { name: "b.compared", value: 25, baselineValue: null, ratio: null },
  ]);
});

t.test("percentiles are nearest-rank", async (t) => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  t.same(percentiles(oneToHundred, [50, 99, 100]), [50, 99, 100]);
  t.same(percentiles([7], [50]), [7]);
  t.same(percentiles(Array.from({ length: 1000 }, (_, i) => i + 1), [99.9]), [999]);
  t.throws(() => percentiles([], [50]), RangeError);
});

t.test("a role reports its CPU time on request, and it grows with the role's work", async (t) => {
  const probe: Entry = {
    ...fixed("usage", 0),
    run: async (ctx) => {
      const echo = await ctx.fork("zmq-router-echo", null);
      const before = await echo.usage();
      const dealer = await ctx.fork("zmq-dealer-rtt", { endpoint: (echo.info as { endpoint: string }).endpoint, count: 2000, warmup: 0, size: 100 });
      dealer.start(null);
      const { cpuUs: clientUs } = (await dealer.result()) as { cpuUs: number };
      const after = await echo.usage();
      return { value: after.cpuUs - before.cpuUs, extra: { clientUs, rss: after.rss } };
    },
  };
  const [result] = await runEntries([probe], quiet);
  t.equal(result?.error, undefined);
  // 2,000 echoes cost the echo at least a few microseconds each, the client too.
  t.ok(Number(result?.value) > 2000, `the echo's CPU grew by ${result?.value} us`);
  t.ok(Number(result?.extra?.["clientUs"]) > 2000, "the client counted its own CPU");
  t.ok(Number(result?.extra?.["rss"]) > 10 * 1024 * 1024, "and the RSS comes with it");
});

t.test("timeEach times every call, and counts the CPU the process spent on them", async (t) => {
  const slept = await timeEach(4, () => sleep(3));
  t.equal(slept.count, 4);
  // Lower bounds only: a timer never fires more than a millisecond early, and may fire late.
  t.ok(slept.p50Us >= 2000 && slept.meanUs >= 2000, `a 3 ms sleep timed at ${slept.p50Us} us`);
  t.ok(slept.p99Us >= slept.p50Us && slept.elapsedMs * 1000 >= 4 * 2000);
  // Spins until the process itself has used 5 ms more CPU: three calls cost at least 15 ms of it.
  const spun = await timeEach(3, async () => {
    const until = cpuUs() + 5000;
    while (cpuUs() < until);
  });
  t.ok(spun.cpuUs >= 15_000, `${spun.cpuUs} us of CPU counted`);
});

t.test("inLanes makes count calls with at most inFlight outstanding, and keeps them all busy", async (t) => {
  let outstanding = 0;
  let most = 0;
  let calls = 0;
  await inLanes(50, 4, async () => {
    calls++;
    most = Math.max(most, ++outstanding);
    await sleep(1);
    outstanding--;
  });
  t.equal(calls, 50);
  t.equal(most, 4);
  t.equal(outstanding, 0);
});

t.test("measureRss samples a role process until stopped", async (t) => {
  const sampling: Entry = {
    ...fixed("rss", 0),
    run: async (ctx) => {
      const echo = await ctx.fork("zmq-router-echo", null);
      const rss = measureRss(echo, 50);
      await sleep(300);
      const summary = await rss.stop();
      return { value: summary.samples, extra: { ...summary } };
    },
  };
  const [result] = await runEntries([sampling], quiet);
  t.ok(Number(result?.value) >= 3, "several samples");
  const extra = result?.extra ?? {};
  t.ok(Number(extra["startMiB"]) > 10, "a plausible RSS for node");
  t.ok(Number(extra["peakMiB"]) >= Number(extra["startMiB"]));
  t.equal(extra["growthMiB"], Number(extra["peakMiB"]) - Number(extra["startMiB"]));
});

t.test("the fairness entries are listed, each compared with its goal's baseline", async (t) => {
  const { entries } = (await import("../bench/dist/entries/index.js")) as { entries: readonly Entry[] };
  const fair = entries.filter((e) => e.name.startsWith("mailbox.fair."));
  t.same(
    fair.map((e) => [e.name, e.baseline ?? null]),
    [
      ["mailbox.fair.p99.senders.10", null],
      ["mailbox.fair.p99.senders.100", "mailbox.fair.p99.senders.10"],
      ["mailbox.fair.p99.senders.1000", "mailbox.fair.p99.senders.10"],
      ["mailbox.fair.good.alone", null],
      ["mailbox.fair.good.crowded", "mailbox.fair.good.alone"],
    ],
  );
  t.same(plan(entries, ["mailbox.fair.good.crowded"]).map((e) => e.name), ["mailbox.fair.good.alone", "mailbox.fair.good.crowded"], "its baseline runs first");
});

t.test("bench/dist/steps.js cuts each request of rr.rtt and rr.floor.rtt into its steps", async (t) => {
  const { stdout } = await promisify(execFile)(process.execPath, ["bench/dist/steps.js", "--json", "--requests", "300", "--rounds", "1"], {
    cwd: root,
    timeout: 60_000,
  });
  type Step = { name: string; floor: { p50: number; p90: number }; zmbox: { p50: number; p90: number } };
  const report = JSON.parse(stdout) as { requests: { floor: number; zmbox: number }; steps: Step[] };
  // Every timed request has its marks in both processes (a missing one drops the request).
  t.ok(report.requests.floor >= 290 && report.requests.zmbox >= 290, `requests cut: ${JSON.stringify(report.requests)}`);
  t.equal(report.steps.length, 9, "eight steps and the round trip");
  const roundTrip = report.steps.at(-1)!;
  t.equal(roundTrip.name, "round trip");
  for (const layer of ["floor", "zmbox"] as const) {
    for (const step of report.steps) {
      t.ok(step[layer].p50 >= 0 && step[layer].p50 <= step[layer].p90, `${layer}, ${step.name}: 0 <= p50 ${step[layer].p50} <= p90 ${step[layer].p90}`);
      if (step !== roundTrip) t.ok(step[layer].p50 < roundTrip[layer].p50, `${layer}, ${step.name}: under the round trip`);
    }
  }
  const failed = await usageError(["bench/dist/steps.js", "--requests", "0"]);
  t.equal(failed?.code, 2, "a bad count is a usage error");
  t.match(failed?.stderr, /Expected `--requests` to be an integer from 1 up, got `0`/);
});

t.test("bench/dist/headroom.js runs the 2PC floor with CPU burnt a message beside twopc.latency", async (t) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["bench/dist/headroom.js", "--json", "--quick", "--rounds", "1", "--spins", "0,200"],
    { cwd: root, timeout: 120_000 },
  );
  type R = { name: string; value: number; baseline: string | null; baselineValue: number | null; ratio: number | null; extra: { participantsCpuUs: number } };
  const report = JSON.parse(stdout) as { spinsUs: number[]; results: R[] };
  t.same(report.spinsUs, [0, 200]);
  t.same(
    report.results.map((r) => [r.name, r.baseline]),
    [
      ["twopc.latency", null],
      ["twopc.floor.latency", "twopc.latency"],
      ["twopc.floor.latency.spin200", "twopc.latency"],
    ],
  );
  const [zmbox, floor, spun] = report.results as [R, R, R];
  for (const r of [floor, spun]) {
    t.equal(r.baselineValue, zmbox.value, `${r.name}: compared with twopc.latency's p50`);
    t.equal(r.ratio, Math.round((r.value / zmbox.value) * 1000) / 1000, `${r.name}: ratio of the round`);
  }
  // Each participant spins at its two messages a transaction (VOTE-REQ, GLOBAL-COMMIT) and after its vote.
  const added = spun.extra.participantsCpuUs - floor.extra.participantsCpuUs;
  t.ok(added >= (3 * 3 * 200) / 2, `the participants burnt about 3 x 3 x 200 us more a transaction: ${added}`);
  const failed = await usageError(["bench/dist/headroom.js", "--spins", "0,x"]);
  t.equal(failed?.code, 2, "a bad spin is a usage error");
  t.match(failed?.stderr, /Expected `--spins` to be distinct whole numbers of microseconds from 0 to 10000, comma-separated, got `0,x`/);
});
