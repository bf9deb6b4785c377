import t from "tap";
import { checkExhaustively, type ExhaustiveOptions, type ExhaustiveResult } from "../src/sim/exhaustive.js";
import type { Vote } from "../src/protocol/types.js";

function run(t: { comment(message: string): void }, options: ExhaustiveOptions): ExhaustiveResult {
  const started = performance.now();
  const result = checkExhaustively(options);
  t.comment(
    `${JSON.stringify(options)}: ${result.states} states, ${result.transitions} transitions, ${result.terminalStates} terminal, ${((performance.now() - started) / 1000).toFixed(1)}s`,
  );
  return result;
}

t.test("exhaustive - both vote commit, 1 crash, 1 loss: safe in every reachable state, and live from each", async (t) => {
  const result = run(t, { votes: ["commit", "commit"], maxCrashes: 1, maxLosses: 1 });
  t.ok(result.complete, "the whole state space was explored");
  t.equal(result.violation, undefined, result.violation?.trace.join("\n---\n") ?? "no violation");
  t.ok(result.states > 100_000, "crashes at every step, torn tails and loss make a large space");
});

t.test("exhaustive - a caller's own id (COORD-START forced before VOTE-REQ): safe and live, commit/commit and commit/abort", async (t) => {
  // commit/commit with a loss as well is as large as the first test (445,000 states): one
  // crash and no loss keeps this file within its time on a busy machine.
  for (const [votes, maxLosses] of [
    [["commit", "commit"], 0],
    [["commit", "abort"], 1],
  ] as const) {
    const result = run(t, { votes, durableStart: true, maxCrashes: 1, maxLosses });
    t.ok(result.complete && result.ok, `${votes.join("/")}, ${maxLosses} loss: ${result.violation?.message ?? "ok"}`);
  }
});

t.test("exhaustive - every other vote combination, with and without a joined participant", async (t) => {
  const votes: Vote[] = ["commit", "abort", "read-only"];
  for (const a of votes) {
    for (const b of votes) {
      for (const joined of [
        [false, false],
        [false, true],
      ] as const) {
        if (a === "commit" && b === "commit") continue; // above, and below for the joined case
        const result = run(t, { votes: [a, b], joined, maxCrashes: 1, maxLosses: 1 });
        t.ok(result.complete && result.ok, `${a}/${b} joined=${joined.join(",")}: ${result.violation?.message ?? "ok"}`);
      }
    }
  }
  const joined = run(t, { votes: ["commit", "commit"], joined: [false, true], maxCrashes: 1, maxLosses: 0 });
  t.ok(joined.complete && joined.ok, `commit/commit with w2 joined: ${joined.violation?.message ?? "ok"}`);
});

t.test("exhaustive - catches each deliberately broken rule, with a trace", async (t) => {
  const cases: Array<[ExhaustiveOptions, "safety" | "liveness"]> = [
    [{ mutation: "participant-votes-before-force" }, "safety"],
    [{ mutation: "coordinator-commits-before-force" }, "safety"],
    [{ mutation: "peer-aborts-unforced", joined: [false, true] }, "safety"],
    [{ mutation: "participant-never-asks" }, "liveness"],
    // A driver bug: the model's actions go through the real nodes' driver.
    [{ mutation: "driver-durable-before-sync" }, "safety"],
  ];
  for (const [options, kind] of cases) {
    const result = run(t, options);
    t.equal(result.violation?.kind, kind, `${options.mutation}: ${result.violation?.message}`);
    t.ok((result.violation?.trace.length ?? 0) > 3, "with the steps that lead there");
  }
});
