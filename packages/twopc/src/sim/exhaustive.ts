/**
 * The exhaustive checker: every interleaving of the model in `exhaustive-model.ts` (one
 * coordinator, two participants, one transaction, a bounded number of crashes and message losses),
 * explored breadth-first with a visited set keyed on a hash of the canonical state.
 *
 * Checked in every reachable state: atomicity (see `atomicityViolation`) and resource-manager
 * misuse. Then liveness: from every reachable state, some fault-free continuation (deliveries,
 * timers, syncs, resource-manager answers, restarts; no loss, no crash) reaches a terminal
 * state, where every node is up and finished and its log says so. Computed backwards from the
 * terminal states over the recorded fault-free edges.
 *
 * States are identified by an exact canonical key (see `Interner`).
 */
import type { Mutation } from "./mutation.js";
import { Vote } from "../protocol/types.js";
import { Interner, initialState, isTerminal, successors, type ModelConfig, type ModelState } from "./exhaustive-model.js";

export interface ExhaustiveOptions {
  /**
   * Each participant's resource-manager vote.
   * @default ["commit", "commit"]
   */
  readonly votes?: readonly [Vote, Vote];
  /**
   * Which participants `join` before VOTE-REQ.
   * @default [false, false]
   */
  readonly joined?: readonly [boolean, boolean];
  /**
   * Begin as with a caller's own transaction id: COORD-START forced before VOTE-REQ.
   * @default false
   */
  readonly durableStart?: boolean;
  /**
   * Crashes allowed in one run, over all nodes.
   * @default 1
   */
  readonly maxCrashes?: number;
  /**
   * How many times the network may lose every message in flight (the worst loss pattern for
   * liveness; for safety, the message set already lets any message go undelivered).
   * @default 1
   */
  readonly maxLosses?: number;
  /** @internal Deliberately broken machines (to show the checker catches them). */
  readonly mutation?: Mutation;
  /**
   * Give up beyond this many states (the result then says `complete: false`).
   * @default 3000000
   */
  readonly maxStates?: number;
}

export interface ExhaustiveViolation {
  readonly kind: "safety" | "liveness";
  readonly message: string;
  /** The steps from the initial state, each with what the machines did. */
  readonly trace: string[];
}

export interface ExhaustiveResult {
  readonly ok: boolean;
  /** Distinct states reached. */
  readonly states: number;
  /** Transitions examined (edges, including ones back to known states). */
  readonly transitions: number;
  readonly terminalStates: number;
  /** False when `maxStates` stopped the search early. */
  readonly complete: boolean;
  readonly violation?: ExhaustiveViolation;
}

/**
 * Explores every interleaving and checks safety and liveness.
 *
 * @example
 * const result = checkExhaustively({ votes: ["commit", "read-only"], maxCrashes: 2 })
 * console.log(result.ok, result.states)
 */
export function checkExhaustively(options: ExhaustiveOptions = {}): ExhaustiveResult {
  const config: ModelConfig = {
    votes: options.votes ?? [Vote.Commit, Vote.Commit],
    joined: options.joined ?? [false, false],
    durableStart: options.durableStart ?? false,
    maxCrashes: options.maxCrashes ?? 1,
    maxLosses: options.maxLosses ?? 1,
    mutation: options.mutation,
  };
  const maxStates = options.maxStates ?? 3_000_000;
  const interner = new Interner();
  const initial = initialState(config, interner);
  const ids = new Map<string, number>();
  const parents: number[] = [-1];
  const terminal: boolean[] = [];
  const edgeFrom: number[] = [];
  const edgeTo: number[] = [];
  ids.set(initial.state.key, 0);
  let frontier: ModelState[] = [initial.state];
  let frontierIds: number[] = [0];
  let transitions = 0;
  let complete = true;

  const traceTo = (id: number): string[] => {
    const path: number[] = [];
    for (let at = id; at > 0; at = parents[at]!) path.push(at);
    path.reverse();
    const steps = [`begin:\n${initial.log.join("\n")}`];
    let state = initial.state;
    for (const next of path) {
      const t = successors(state, config, interner, true).find((s) => ids.get(s.next.key) === next);
      if (t === undefined) throw new Error("trace replay diverged");
      steps.push(t.label);
      state = t.next;
    }
    return steps;
  };
  const result = (violation?: ExhaustiveViolation): ExhaustiveResult => ({
    ok: violation === undefined,
    states: parents.length,
    transitions,
    terminalStates: terminal.filter(Boolean).length,
    complete,
    ...(violation === undefined ? {} : { violation }),
  });

  while (frontier.length > 0 && complete) {
    const nextFrontier: ModelState[] = [];
    const nextIds: number[] = [];
    for (let i = 0; i < frontier.length; i++) {
      const state = frontier[i]!;
      const id = frontierIds[i]!;
      terminal[id] = isTerminal(state);
      for (const t of successors(state, config, interner)) {
        transitions++;
        if (t.violation !== undefined) {
          const trace = traceTo(id);
          trace.push(successors(state, config, interner, true).find((s) => s.label.startsWith(t.label))?.label ?? t.label);
          return result({ kind: "safety", message: t.violation, trace });
        }
        const h = t.next.key;
        let to = ids.get(h);
        if (to === undefined) {
          to = parents.length;
          ids.set(h, to);
          parents.push(id);
          nextFrontier.push(t.next);
          nextIds.push(to);
          if (parents.length >= maxStates) complete = false;
        }
        if (!t.faulty) {
          edgeFrom.push(id);
          edgeTo.push(to);
        }
      }
    }
    frontier = nextFrontier;
    frontierIds = nextIds;
  }
  if (!complete) return result();

  // Liveness: walk the fault-free edges backwards from the terminal states.
  const n = parents.length;
  const offsets = new Int32Array(n + 1);
  for (const to of edgeTo) offsets[to + 1]!++;
  for (let i = 0; i < n; i++) offsets[i + 1]! += offsets[i]!;
  const fill = offsets.slice(0, n);
  const sources = new Int32Array(edgeTo.length);
  for (let e = 0; e < edgeTo.length; e++) sources[fill[edgeTo[e]!]!++] = edgeFrom[e]!;
  const good = new Uint8Array(n);
  const queue: number[] = [];
  for (let id = 0; id < n; id++) {
    if (terminal[id]) {
      good[id] = 1;
      queue.push(id);
    }
  }
  for (let head = 0; head < queue.length; head++) {
    const to = queue[head]!;
    for (let k = offsets[to]!; k < offsets[to + 1]!; k++) {
      const from = sources[k]!;
      if (good[from] === 0) {
        good[from] = 1;
        queue.push(from);
      }
    }
  }
  const stuck = good.indexOf(0);
  if (stuck >= 0) {
    return result({ kind: "liveness", message: "from this state no fault-free continuation finishes the transaction", trace: traceTo(stuck) });
  }
  return result();
}
