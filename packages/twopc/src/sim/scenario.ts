import { Vote, type NodeId, type TxId } from "../protocol/types.js";
import type { Rng } from "./rng.js";

/** One transaction the simulated application runs. */
export interface ScenarioTx {
  readonly txId: TxId;
  /** Virtual time of `begin` at the coordinator. */
  readonly at: number;
  readonly participants: readonly NodeId[];
  /** Participants whose application work starts first (`join` a little before `begin`). */
  readonly joiners: readonly NodeId[];
  /** Each participant's resource-manager vote (sticky). */
  readonly votes: ReadonlyMap<NodeId, Vote>;
  /** Begun as with a caller's own id: COORD-START forced before VOTE-REQ (every other transaction). */
  readonly durableStart: boolean;
}

/** Everything random about one seed, drawn up front. */
export interface Scenario {
  readonly coordinator: NodeId;
  readonly participants: readonly NodeId[];
  readonly txs: readonly ScenarioTx[];
  /** Network faults before healing. */
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly maxDelay: number;
  /** Chance, after each step before healing, that a random node crashes. */
  readonly crashRate: number;
  readonly maxCrashes: number;
  /** Virtual time when faults stop: every node restarts and the network delivers. */
  readonly healAt: number;
  /** The machines' timers, varied so that different timeouts race. */
  readonly timing: SimTiming;
}

/** Timer settings of the simulated machines (virtual milliseconds). */
export interface SimTiming {
  readonly voteTimeout: number;
  readonly resendInterval: number;
  readonly askAfter: number;
  readonly askInterval: number;
  readonly joinTimeout: number;
}

/** Fixed latencies of the simulated world (virtual milliseconds, inclusive ranges). */
export const SIM_LATENCY = {
  /** Participant `rememberFor`: more than twice the longest network delay, as that option requires. */
  rememberFor: 1_000,
  syncMs: [1, 3],
  rmMs: [0, 4],
  downMs: [5, 120],
} as const;

function drawVote(rng: Rng): Vote {
  const x = rng.float();
  return x < 0.8 ? Vote.Commit : x < 0.9 ? Vote.ReadOnly : Vote.Abort;
}

/** Draws a scenario: 2-4 participants, 1-5 transactions over the first 150 ms, a fault mix. */
export function drawScenario(rng: Rng): Scenario {
  const participantIds = Array.from({ length: rng.between(2, 4) }, (_, i) => `w${i + 1}`);
  const txs: ScenarioTx[] = [];
  const count = rng.between(1, 5);
  for (let i = 0; i < count; i++) {
    const participants = rng.chance(0.6) ? participantIds : participantIds.filter(() => rng.chance(0.6));
    const chosen = participants.length > 0 ? participants : [rng.pick(participantIds)];
    txs.push({
      txId: `tx${i + 1}`,
      at: rng.between(0, 150),
      participants: chosen,
      joiners: chosen.filter(() => rng.chance(0.2)),
      votes: new Map(chosen.map((w) => [w, drawVote(rng)])),
      // Not drawn: the random stream, and so every seed's scenario, stays as it was.
      durableStart: i % 2 === 1,
    });
  }
  return {
    coordinator: "c",
    participants: participantIds,
    txs,
    dropRate: rng.pick([0, 0.05, 0.2]),
    duplicateRate: rng.pick([0, 0.05, 0.2]),
    maxDelay: rng.pick([5, 20, 50]),
    crashRate: rng.pick([0, 0.01, 0.03, 0.06]),
    maxCrashes: 3,
    healAt: 300,
    timing: {
      voteTimeout: rng.pick([80, 200, 400]),
      resendInterval: rng.pick([20, 40]),
      askAfter: rng.pick([20, 40]),
      askInterval: rng.pick([20, 40]),
      joinTimeout: rng.pick([60, 120, 250]),
    },
  };
}
