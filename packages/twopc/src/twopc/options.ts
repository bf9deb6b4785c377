import type { NodeId } from "./types.js";

/**
 * Deliberate protocol bugs, for showing that the simulator and the exhaustive checker can fail.
 * Never set one outside such a test: each breaks atomicity or liveness.
 */
export const Mutation = {
  /** Worker sends VOTE-COMMIT without waiting for WORKER-READY to be durable. */
  WorkerVotesBeforeForce: "worker-votes-before-force",
  /** Coordinator sends GLOBAL-COMMIT without waiting for COORD-COMMIT to be durable. */
  CoordinatorCommitsBeforeForce: "coordinator-commits-before-force",
  /** A worker in INIT tells an asking peer "abort" without forcing WORKER-ABORT first. */
  PeerAbortsUnforced: "peer-aborts-unforced",
  /** A worker in READY never asks for the decision (breaks liveness, not safety). */
  WorkerNeverAsks: "worker-never-asks",
} as const;
export type Mutation = (typeof Mutation)[keyof typeof Mutation];

/** Default for {@link CoordinatorOptions.voteTimeoutMs}. */
export const DEFAULT_VOTE_TIMEOUT_MS = 5_000;
/** Default for {@link CoordinatorOptions.resendIntervalMs}. */
export const DEFAULT_RESEND_INTERVAL_MS = 1_000;
/** Default for {@link WorkerOptions.askAfterMs}. */
export const DEFAULT_ASK_AFTER_MS = 2_000;
/** Default for {@link WorkerOptions.askIntervalMs}. */
export const DEFAULT_ASK_INTERVAL_MS = 1_000;
/** Default for {@link WorkerOptions.joinTimeoutMs}. */
export const DEFAULT_JOIN_TIMEOUT_MS = 10_000;
/** Default for {@link WorkerOptions.rememberMs}. */
export const DEFAULT_REMEMBER_MS = 10 * 60_000;

export interface CoordinatorOptions {
  /** This coordinator's node id: the `from` of its messages, where workers reply. */
  readonly self: NodeId;
  /**
   * How long the coordinator waits in WAIT for every vote before it aborts. Per transaction,
   * `begin.timeoutMs` overrides it.
   * @default 5000
   */
  readonly voteTimeoutMs?: number;
  /**
   * How often GLOBAL-COMMIT is resent to workers that have not ACKed.
   * @default 1000
   */
  readonly resendIntervalMs?: number;
  /** Deliberately unsafe behaviour, for checker self-tests only. */
  readonly mutation?: Mutation;
}

export interface WorkerOptions {
  /** This worker's node id: the `from` of its messages. */
  readonly self: NodeId;
  /**
   * How long a worker in READY waits for the decision before it asks the coordinator.
   * @default 2000
   */
  readonly askAfterMs?: number;
  /**
   * Interval between later asks (from the second on, the peers are asked too).
   * @default 1000
   */
  readonly askIntervalMs?: number;
  /**
   * After `join`, how long to wait for VOTE-REQ before aborting. Per transaction,
   * `join.timeoutMs` overrides it.
   * @default 10000
   */
  readonly joinTimeoutMs?: number;
  /**
   * How long a finished transaction is remembered (and kept in the log) to answer late
   * duplicates; `Infinity` never forgets. Must exceed twice the longest time a message can
   * spend in the network, or a stale VOTE-REQ could be taken for a new transaction.
   * @default 600000
   */
  readonly rememberMs?: number;
  /** Deliberately unsafe behaviour, for checker self-tests only. */
  readonly mutation?: Mutation;
}

export interface ResolvedCoordinatorOptions {
  readonly self: NodeId;
  readonly voteTimeoutMs: number;
  readonly resendIntervalMs: number;
  readonly mutation: Mutation | undefined;
}

export interface ResolvedWorkerOptions {
  readonly self: NodeId;
  readonly askAfterMs: number;
  readonly askIntervalMs: number;
  readonly joinTimeoutMs: number;
  readonly rememberMs: number;
  readonly mutation: Mutation | undefined;
}

function describe(value: unknown): string {
  return `\`${String(value)}\` (${typeof value})`;
}

function checkSelf(value: unknown): NodeId {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`Expected \`self\` to be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

function checkMs(name: string, value: unknown, fallback: number, allowInfinity = false): number {
  if (value === undefined) return fallback;
  const ok = typeof value === "number" && value > 0 && (Number.isFinite(value) || (allowInfinity && value === Infinity));
  if (!ok) throw new TypeError(`Expected \`${name}\` to be a number of milliseconds above 0, got ${describe(value)}`);
  return value;
}

const mutations: ReadonlySet<unknown> = new Set(Object.values(Mutation));
function checkMutation(value: unknown): Mutation | undefined {
  if (value === undefined || mutations.has(value)) return value as Mutation | undefined;
  throw new TypeError(`Expected \`mutation\` to be one of ${[...mutations].join(", ")}, got ${describe(value)}`);
}

/** Validates coordinator options and fills in the defaults. @throws {TypeError} naming the field. */
export function parseCoordinatorOptions(options: CoordinatorOptions): ResolvedCoordinatorOptions {
  return {
    self: checkSelf(options.self),
    voteTimeoutMs: checkMs("voteTimeoutMs", options.voteTimeoutMs, DEFAULT_VOTE_TIMEOUT_MS),
    resendIntervalMs: checkMs("resendIntervalMs", options.resendIntervalMs, DEFAULT_RESEND_INTERVAL_MS),
    mutation: checkMutation(options.mutation),
  };
}

/** Validates worker options and fills in the defaults. @throws {TypeError} naming the field. */
export function parseWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  return {
    self: checkSelf(options.self),
    askAfterMs: checkMs("askAfterMs", options.askAfterMs, DEFAULT_ASK_AFTER_MS),
    askIntervalMs: checkMs("askIntervalMs", options.askIntervalMs, DEFAULT_ASK_INTERVAL_MS),
    joinTimeoutMs: checkMs("joinTimeoutMs", options.joinTimeoutMs, DEFAULT_JOIN_TIMEOUT_MS),
    rememberMs: checkMs("rememberMs", options.rememberMs, DEFAULT_REMEMBER_MS, true),
    mutation: checkMutation(options.mutation),
  };
}
