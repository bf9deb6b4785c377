import { checkMs, describe } from "@zmbox/mailbox/internal";
import { Mutation } from "../sim/mutation.js";
import type { NodeId } from "./types.js";

/** Default for {@link CoordinatorMachineOptions.voteTimeout}. */
export const DEFAULT_VOTE_TIMEOUT = 5_000;
/** Default for {@link CoordinatorMachineOptions.resendInterval}. */
export const DEFAULT_RESEND_INTERVAL = 1_000;
/** Default for {@link ParticipantMachineOptions.askAfter}. */
export const DEFAULT_ASK_AFTER = 2_000;
/** Default for {@link ParticipantMachineOptions.askInterval}. */
export const DEFAULT_ASK_INTERVAL = 1_000;
/** Default for {@link ParticipantMachineOptions.joinTimeout}. */
export const DEFAULT_JOIN_TIMEOUT = 10_000;
/** Default for {@link ParticipantMachineOptions.rememberFor}. */
export const DEFAULT_REMEMBER_FOR = 10 * 60_000;

export interface CoordinatorMachineOptions {
  /** This coordinator's node id: the `from` of its messages, where participants reply. */
  readonly self: NodeId;
  /**
   * How long the coordinator waits in WAIT for every vote before it aborts. Per transaction,
   * `begin.timeout` overrides it.
   * @default 5000
   */
  readonly voteTimeout?: number;
  /**
   * How often GLOBAL-COMMIT is resent to participants that have not ACKed.
   * @default 1000
   */
  readonly resendInterval?: number;
  /**
   * Deliberately unsafe behaviour, for the checkers' self-tests only (see `sim/mutation.ts`).
   * @internal
   */
  readonly mutation?: Mutation;
}

export interface ParticipantMachineOptions {
  /** This participant's node id: the `from` of its messages. */
  readonly self: NodeId;
  /**
   * How long a participant in READY waits for the decision before it asks the coordinator.
   * @default 2000
   */
  readonly askAfter?: number;
  /**
   * Interval between later asks (from the second on, the peers are asked too).
   * @default 1000
   */
  readonly askInterval?: number;
  /**
   * After `join`, how long to wait for VOTE-REQ before aborting. Per transaction,
   * `join.timeout` overrides it.
   * @default 10000
   */
  readonly joinTimeout?: number;
  /**
   * How long a finished transaction is remembered (and kept in the log) to answer late
   * duplicates; `Infinity` never forgets. Must exceed twice the longest time a message can
   * spend in the network, or a stale VOTE-REQ could be taken for a new transaction.
   * @default 600000
   */
  readonly rememberFor?: number;
  /**
   * The coordinator to ask about a transaction whose log records were lost (a `WORKER-IN-DOUBT`
   * record: a salvage cut them while the resource manager still held it prepared). Its
   * WORKER-READY named the coordinator and is gone; with one coordinator, name it here. Without
   * it, such a transaction waits in doubt until its coordinator sends a message about it.
   * @default undefined
   */
  readonly coordinator?: NodeId;
  /**
   * Deliberately unsafe behaviour, for the checkers' self-tests only (see `sim/mutation.ts`).
   * @internal
   */
  readonly mutation?: Mutation;
}

export interface ResolvedCoordinatorMachineOptions {
  readonly self: NodeId;
  readonly voteTimeout: number;
  readonly resendInterval: number;
  readonly mutation: Mutation | undefined;
}

export interface ResolvedParticipantMachineOptions {
  readonly self: NodeId;
  readonly askAfter: number;
  readonly askInterval: number;
  readonly joinTimeout: number;
  readonly rememberFor: number;
  readonly coordinator: NodeId | undefined;
  readonly mutation: Mutation | undefined;
}

function checkNodeId(name: string, value: unknown): NodeId {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`Expected \`${name}\` to be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

function checkSelf(value: unknown): NodeId {
  return checkNodeId("self", value);
}

const mutations: ReadonlySet<unknown> = new Set(Object.values(Mutation));
function checkMutation(value: unknown): Mutation | undefined {
  if (value === undefined || mutations.has(value)) return value as Mutation | undefined;
  throw new TypeError(`Expected \`mutation\` to be one of ${[...mutations].join(", ")}, got ${describe(value)}`);
}

/** Validates coordinator options and fills in the defaults. @throws {TypeError} naming the field. */
export function parseCoordinatorMachineOptions(options: CoordinatorMachineOptions): ResolvedCoordinatorMachineOptions {
  return {
    self: checkSelf(options.self),
    voteTimeout: checkMs("voteTimeout", options.voteTimeout, DEFAULT_VOTE_TIMEOUT),
    resendInterval: checkMs("resendInterval", options.resendInterval, DEFAULT_RESEND_INTERVAL),
    mutation: checkMutation(options.mutation),
  };
}

/** Validates participant options and fills in the defaults. @throws {TypeError} naming the field. */
export function parseParticipantMachineOptions(options: ParticipantMachineOptions): ResolvedParticipantMachineOptions {
  return {
    self: checkSelf(options.self),
    askAfter: checkMs("askAfter", options.askAfter, DEFAULT_ASK_AFTER),
    askInterval: checkMs("askInterval", options.askInterval, DEFAULT_ASK_INTERVAL),
    joinTimeout: checkMs("joinTimeout", options.joinTimeout, DEFAULT_JOIN_TIMEOUT),
    rememberFor: checkMs("rememberFor", options.rememberFor, DEFAULT_REMEMBER_FOR, true),
    coordinator: options.coordinator === undefined ? undefined : checkNodeId("coordinator", options.coordinator),
    mutation: checkMutation(options.mutation),
  };
}
