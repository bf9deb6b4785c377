import t from "tap";
import { Rng } from "../src/sim/rng.js";
import { EventQueue } from "../src/sim/event-queue.js";
import { simulateSeed, type SimStats } from "../src/sim/simulator.js";
import { atomicityViolation, RmState } from "../src/sim/model.js";
import type { Mutation } from "../src/sim/mutation.js";

const SEEDS = 10_000;

t.test("sim - 10,000 seeds: atomic after every step, and every transaction ends once healed", async (t) => {
  const total: SimStats = { transactions: 0, committed: 0, aborted: 0, crashes: 0, messages: 0, dropped: 0, duplicated: 0, steps: 0, compactions: 0, rmFailures: 0, corruptions: 0, refusedCorrupt: 0, salvages: 0, heldInDoubt: 0 };
  const failures: string[] = [];
  const started = performance.now();
  for (let seed = 1; seed <= SEEDS; seed++) {
    const result = await simulateSeed(seed);
    for (const key of Object.keys(total) as Array<keyof SimStats>) total[key] += result.stats[key];
    if (!result.ok) failures.push(`seed ${seed}: ${result.violation}`);
  }
  const seconds = (performance.now() - started) / 1000;
  t.same(failures, [], "no seed breaks an invariant (replay one with: pnpm sim --seeds 1 --seed S)");
  t.comment(`${SEEDS} seeds in ${seconds.toFixed(1)}s (${Math.round(SEEDS / seconds)} seeds/s): ${JSON.stringify(total)}`);
  // The seeds must really exercise what they claim to: both outcomes and every kind of fault.
  for (const key of ["committed", "aborted", "crashes", "dropped", "duplicated", "compactions"] as const) {
    t.ok(total[key] >= SEEDS / 10, `${key}: ${total[key]}`);
  }
});

t.test("sim - a crash that also damages a byte of a node's durable log: the log refuses to open, and atomicity holds (2,000 seeds)", async (t) => {
  const failures: string[] = [];
  let damaged = 0;
  let refused = 0;
  for (let seed = 1; seed <= 2_000; seed++) {
    const result = await simulateSeed(seed, { corruption: 0.5 });
    damaged += result.stats.corruptions;
    refused += result.stats.refusedCorrupt;
    if (!result.ok) failures.push(`seed ${seed}: ${result.violation}`);
  }
  t.same(failures, [], "no seed breaks atomicity (replay one with: pnpm sim --seeds 1 --seed S --corruption 0.5)");
  t.ok(damaged > 500, `${damaged} log bytes damaged`);
  t.ok(refused > damaged / 2, `${refused} restarts refused: most damage is found (the rest hit bytes a restart never reads again, or a record already dropped)`);
});

t.test("sim - participants whose damaged logs are salvaged hold what the cut may have promised in doubt: atomic, and every transaction ends (2,000 seeds)", async (t) => {
  const failures: string[] = [];
  let salvages = 0;
  let held = 0;
  for (let seed = 1; seed <= 2_000; seed++) {
    const result = await simulateSeed(seed, { corruption: 0.5, salvage: "participants" });
    salvages += result.stats.salvages;
    held += result.stats.heldInDoubt;
    if (!result.ok) failures.push(`seed ${seed}: ${result.violation}`);
  }
  t.same(failures, [], "no seed breaks an invariant");
  t.ok(salvages > 300, `${salvages} salvages`);
  t.ok(held > 200, `${held} transactions held in doubt instead of presumed aborted`);
});

t.test("sim - a log that cuts damage away as if it were a torn tail breaks atomicity, and the simulator catches it", async (t) => {
  let caught: string | undefined;
  for (let seed = 1; seed <= 500 && caught === undefined; seed++) {
    const result = await simulateSeed(seed, { corruption: 0.5, salvage: true });
    if (!result.ok) caught = `seed ${seed}: ${result.violation}`;
  }
  t.ok(caught !== undefined, `caught: ${caught ?? "nothing"}`);
  t.match(caught, /committed while .* aborted|reported both commit and abort|abort after commit|commit after abort/);
});

t.test("sim - a seed always gives the same run", async (t) => {
  const a = await simulateSeed(4242, { trace: true });
  const b = await simulateSeed(4242, { trace: true });
  t.ok(a.trace.length > 20);
  t.same(a.trace, b.trace);
});

async function firstFailure(mutation: Mutation, limit: number): Promise<{ seed: number; violation: string } | undefined> {
  for (let seed = 1; seed <= limit; seed++) {
    const result = await simulateSeed(seed, { mutation });
    if (!result.ok) return { seed, violation: result.violation ?? "" };
  }
  return undefined;
}

t.test("sim - catches a participant that sends VOTE-COMMIT without forcing READY", async (t) => {
  const found = await firstFailure("participant-votes-before-force", 1000);
  t.ok(found, "some seed fails");
  t.comment(`caught at seed ${found?.seed}: ${found?.violation}`);
  const replay = await simulateSeed(found!.seed, { mutation: "participant-votes-before-force", trace: true });
  t.match(replay.trace.join("\n"), /!!! VIOLATION/, "the replayed trace shows the violation");
});

t.test("sim - catches a coordinator that sends GLOBAL-COMMIT without forcing COMMIT", async (t) => {
  const found = await firstFailure("coordinator-commits-before-force", 1000);
  t.ok(found, "some seed fails");
  t.comment(`caught at seed ${found?.seed}: ${found?.violation}`);
});

t.test("sim - catches a participant that never asks for the decision (liveness)", async (t) => {
  const found = await firstFailure("participant-never-asks", 1000);
  t.match(found?.violation, /liveness|blocked forever|never got an outcome/);
  t.comment(`caught at seed ${found?.seed}: ${found?.violation}`);
});

t.test("sim - catches a driver that feeds durable back before the sync (a planted driver bug)", async (t) => {
  const found = await firstFailure("driver-durable-before-sync", 1000);
  t.ok(found, "some seed fails");
  t.match(found?.violation, /commit|abort/, "an atomicity or resource-manager violation");
  t.comment(`caught at seed ${found?.seed}: ${found?.violation}`);
  const clean = await simulateSeed(found!.seed);
  t.ok(clean.ok, "the same seed passes with the driver as it is");
});

t.test("sim - a resource manager's failed commit or abort is retried by the driver until it succeeds", async (t) => {
  let failures = 0;
  for (let seed = 1; seed <= 100; seed++) {
    const result = await simulateSeed(seed);
    failures += result.stats.rmFailures;
    t.ok(result.ok, `seed ${seed}`);
  }
  t.ok(failures > 10, `${failures} failures injected, and every seed still ends with nothing prepared`);
});

t.test("model - the atomicity invariant itself", async (t) => {
  const rm = (a: RmState, b: RmState): Map<string, RmState> =>
    new Map([
      ["w1", a],
      ["w2", b],
    ]);
  const check = (decided: { commit: boolean; abort: boolean }, a: RmState, b: RmState): string | undefined =>
    atomicityViolation({ participants: ["w1", "w2"], decided, rm: rm(a, b) });
  const none = { commit: false, abort: false };
  t.equal(check(none, RmState.Committed, RmState.Prepared), undefined);
  t.equal(check({ commit: true, abort: false }, RmState.Committed, RmState.ReadOnly), undefined);
  t.match(check(none, RmState.Committed, RmState.Aborted), /w1 committed while w2 aborted/);
  t.match(check({ commit: true, abort: false }, RmState.Prepared, RmState.Aborted), /coordinator committed while w2 aborted/);
  t.match(check({ commit: false, abort: true }, RmState.Committed, RmState.Idle), /coordinator aborted while w1 committed/);
  t.match(check({ commit: true, abort: true }, RmState.Idle, RmState.Idle), /both/);
  t.match(check({ commit: true, abort: false }, RmState.Prepared, RmState.Idle), /w2 never voted/);
});

t.test("rng and event queue - deterministic and ordered", async (t) => {
  const a = new Rng(7);
  const b = new Rng(7);
  const xs = Array.from({ length: 100 }, () => a.next());
  t.same(
    xs,
    Array.from({ length: 100 }, () => b.next()),
  );
  t.not(new Rng(8).next(), xs[0], "another seed, another stream");
  const floats = Array.from({ length: 1000 }, () => a.float());
  t.ok(
    floats.every((f) => f >= 0 && f < 1),
    "floats in [0, 1)",
  );
  const q = new EventQueue<string>();
  for (const [time, name] of [
    [5, "e"],
    [1, "a"],
    [3, "c1"],
    [3, "c2"],
    [2, "b"],
  ] as const)
    q.push(time, name);
  const order: string[] = [];
  for (let e = q.pop(); e !== undefined; e = q.pop()) order.push(e.event);
  t.same(order, ["a", "b", "c1", "c2", "e"], "by time, then in scheduling order");
});
