import { randomBytes } from "node:crypto";
import { InvalidArgumentError, parseAddress } from "@zmbox/mailbox";
import type { OutcomeAction, OutcomeReason } from "../protocol/actions.js";
import { CoordinatorMachine, type CoordinatorTx } from "../protocol/coordinator.js";
import { TxIdInUseError } from "../protocol/errors.js";
import { EventType, type CoordinatorEvent } from "../protocol/events.js";
import { summarizeRecords } from "../protocol/machine.js";
import { DEFAULT_REMEMBER_FOR } from "../protocol/options.js";
import type { TwopcRecord } from "../protocol/records.js";
import { CoordinatorPhase, type NodeId, type TxId } from "../protocol/types.js";
import { MessageType, type TwopcMessage } from "../protocol/messages.js";
import { TwopcNode, type NodeOptions, type NodeStats } from "./node.js";

/** Options of {@link Coordinator.open}. */
export interface CoordinatorOptions extends NodeOptions {
  /**
   * How long the coordinator waits in WAIT for every vote before it aborts, in ms.
   * @default 5000
   */
  readonly voteTimeout?: number;
  /**
   * How often GLOBAL-COMMIT is resent to participants that have not ACKed, in ms.
   * @default 1000
   */
  readonly resendInterval?: number;
  /** Called for every outcome, including those re-decided by recovery after a restart. */
  readonly onOutcome?: (outcome: Outcome) => void;
  /**
   * How long the coordinator remembers a transaction id it has used (its own or yours), in ms:
   * `transact` refuses the id meanwhile, and {@link Coordinator.outcome} answers for it. The ids
   * are kept in the log too, so a restart remembers them.
   * @default 600000 (10 minutes)
   */
  readonly rememberFor?: number;
}

/** Most transaction ids a coordinator remembers at once; the oldest are forgotten first. */
const MAX_REMEMBERED = 100_000;

/** What {@link Coordinator.transact} takes. */
export interface TransactOptions {
  /** The participants' node ids (mailbox addresses), at least one, distinct. */
  readonly participants: readonly NodeId[];
  /** Handed to every participant's resource manager `prepare`. Any MessagePack value. */
  readonly payload?: unknown;
  /** How long to wait for the votes, in ms (overrides `voteTimeout`). */
  readonly timeout?: number;
  /**
   * A transaction id of your own, unique forever; one is made up when absent. With your own id
   * a `transact` can be retried safely across a coordinator restart: the coordinator forces
   * COORD-START before any participant hears of the id, remembers every id it has used for
   * `rememberFor`, and refuses to start one again (`TxIdInUseError`, with the outcome when
   * known). Ask {@link Coordinator.outcome} first.
   */
  readonly txId?: TxId;
}

/** How a transaction ended. */
export interface Outcome {
  readonly txId: TxId;
  readonly committed: boolean;
  /** Why: all voted commit, all read-only, someone voted abort, the votes timed out, or recovery. */
  readonly reason: OutcomeReason;
  /** The participant that voted abort, when `reason` is `"voted-abort"`. */
  readonly by?: NodeId;
  /** Why that participant voted abort, when its resource manager said (`"insufficient-funds"`). */
  readonly detail?: string;
}

/** A transaction the coordinator has not finished: undecided (WAIT), or committed and waiting for ACKs. */
export interface CoordinatorInDoubt {
  readonly txId: TxId;
  readonly phase: CoordinatorTx["phase"];
  readonly participants: readonly NodeId[];
  /** COMMIT: the participants that have not ACKed yet. */
  readonly awaitingAck: readonly NodeId[];
}

export interface CoordinatorStats extends NodeStats {
  committed: number;
  aborted: number;
  /** Finished transactions by `"committed:<reason>"` or `"aborted:<reason>"` (see `OutcomeReason`). */
  outcomes: Record<string, number>;
  /** Transactions whose `transact` has not settled. */
  pending: number;
}

/**
 * The 2PC coordinator on the mailbox runtime: `transact` asks every participant to vote and
 * resolves with the outcome once it is final (a commit is on stable storage before any participant
 * hears of it).
 *
 * @example
 * const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:7000" });
 * const coordinator = await Coordinator.open({ runtime: rt, logDir: "./coord-log", mailbox: "coordinator" });
 * const outcome = await coordinator.transact({ participants: [bankA, bankB], payload: { transfer: 100 } });
 * if (outcome.committed) console.log("done");
 */
export class Coordinator extends TwopcNode<CoordinatorEvent, CoordinatorMachine> {
  /** `transact` calls (and `outcome` calls) waiting; `own`: the caller gave the id. */
  readonly #pending = new Map<TxId, { resolve: (o: Outcome) => void; reject: (e: Error) => void; promise: Promise<Outcome>; own: boolean }>();
  readonly #onOutcome: ((outcome: Outcome) => void) | undefined;
  readonly #idPrefix = randomBytes(6).toString("hex");
  /**
   * Ids used and finished, oldest first, with how they ended: `transact` refuses them and
   * `outcome` answers for them. Forgotten after `rememberFor` (checked as new ones come).
   */
  readonly #used: Map<TxId, { readonly outcome: Outcome; readonly at: number }>;
  readonly #rememberFor: number;
  readonly #outcomes: Record<string, number> = {};
  #nextId = 0;
  #committed = 0;
  #aborted = 0;

  /** @internal */
  private constructor(parts: Awaited<ReturnType<typeof Coordinator.parts>>, onOutcome: ((o: Outcome) => void) | undefined) {
    super(parts.options, parts.mailbox, parts.log, parts.machine, undefined, parts.trace);
    this.#onOutcome = onOutcome;
    this.#used = parts.used;
    this.#rememberFor = parts.options.rememberFor ?? DEFAULT_REMEMBER_FOR;
    this.#rememberLogged(parts.records);
    this.start(parts.records);
  }

  /** @internal */
  private static async parts(options: CoordinatorOptions) {
    const r = options?.rememberFor;
    if (r !== undefined && !(typeof r === "number" && r >= 0)) {
      throw new InvalidArgumentError(`Expected \`rememberFor\` to be a number of milliseconds from 0 (or Infinity), got \`${String(r)}\` (${typeof r})`);
    }
    const used = new Map<TxId, { readonly outcome: Outcome; readonly at: number }>();
    const parts = await TwopcNode.openParts(
      options,
      (self) => {
        const o: { self: string; voteTimeout?: number; resendInterval?: number } = { self };
        if (options.voteTimeout !== undefined) o.voteTimeout = options.voteTimeout;
        if (options.resendInterval !== undefined) o.resendInterval = options.resendInterval;
        return new CoordinatorMachine(o);
      },
      // Compaction keeps the records of remembered ids: a restart must still refuse them.
      used,
    );
    return { ...parts, options, used };
  }

  /**
   * Remembers the finished transactions the log holds (those in flight are the machine's, and
   * end through `onOutcome`). Under presumed abort, a START with no decision ended in abort.
   */
  #rememberLogged(records: readonly TwopcRecord[]): void {
    const now = Date.now();
    for (const state of summarizeRecords(records).coordinator.values()) {
      if (!state.ended && state.phase !== CoordinatorPhase.Abort) continue;
      const committed = state.phase === CoordinatorPhase.Commit || (state.phase === CoordinatorPhase.Wait && state.ended);
      const reason: OutcomeReason = committed ? "recovered-in-commit" : "recovered-in-wait";
      this.#used.set(state.txId, { outcome: { txId: state.txId, committed, reason }, at: now });
    }
  }

  /** Forgets ids remembered longer than `rememberFor`, and the oldest beyond the limit. */
  #forgetOld(now: number): void {
    for (const [txId, { at }] of this.#used) {
      if (now - at <= this.#rememberFor && this.#used.size <= MAX_REMEMBERED) break;
      this.#used.delete(txId);
    }
  }

  /**
   * How the transaction `txId` ended, or will: its outcome (waiting for it if it is running), or
   * `undefined` if this coordinator has not started it or has forgotten it (`rememberFor`).
   * Ask this before retrying a `transact` whose answer was lost (a timeout, a coordinator
   * restart): `undefined` means it is safe to `transact` with the id again.
   *
   * @example
   * const known = await coordinator.outcome("transfer-42");
   * const result = known ?? (await coordinator.transact({ txId: "transfer-42", participants }));
   */
  outcome(txId: TxId): Promise<Outcome | undefined> {
    if (typeof txId !== "string" || txId === "") {
      return Promise.reject(new InvalidArgumentError(`Expected \`txId\` to be a non-empty string, got \`${String(txId)}\``));
    }
    const used = this.#used.get(txId);
    if (used !== undefined) return Promise.resolve(used.outcome);
    const pending = this.#pending.get(txId);
    if (pending !== undefined) return pending.promise;
    const held = this.machine.get(txId);
    // Recovered in COMMIT and still sending GLOBAL-COMMIT: decided.
    if (held?.phase === CoordinatorPhase.Commit && held.durable) return Promise.resolve({ txId, committed: true, reason: "recovered-in-commit" });
    if (held !== undefined) {
      // Recovered and still undecided (it will abort): wait for its outcome.
      let settle!: { resolve: (o: Outcome) => void; reject: (e: Error) => void };
      const promise = new Promise<Outcome>((resolve, reject) => (settle = { resolve, reject }));
      this.#pending.set(txId, { ...settle, promise, own: true });
      return promise;
    }
    if (this.stopped) return Promise.reject(this.stopped);
    return Promise.resolve(undefined);
  }

  /**
   * Opens the coordinator: its log is read and every transaction in it recovered by the recovery
   * table (abort what was undecided; finish what was committed), then it starts serving.
   */
  static async open(options: CoordinatorOptions): Promise<Coordinator> {
    if (options?.onOutcome !== undefined && typeof options.onOutcome !== "function") {
      throw new InvalidArgumentError("Expected `onOutcome` to be a function");
    }
    const parts = await Coordinator.parts(options);
    try {
      return new Coordinator(parts, options.onOutcome);
    } catch (error) {
      // Recovery refused the log (InvalidLogError): release the mailbox and the log file.
      parts.mailbox.close();
      await parts.log.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Runs one distributed transaction and resolves with its outcome. It never rejects for an
   * abort: an abort is an outcome. It rejects for bad input, or if the node closes or fails first.
   */
  transact(options: TransactOptions): Promise<Outcome> {
    if (this.stopped) return Promise.reject(this.stopped);
    try {
      if (typeof options !== "object" || options === null || !Array.isArray(options.participants)) {
        throw new InvalidArgumentError("Expected `participants` to be an array of mailbox addresses");
      }
      for (const p of options.participants) parseAddress(p);
      if (options.txId !== undefined && (typeof options.txId !== "string" || options.txId === "")) {
        throw new InvalidArgumentError(`Expected \`txId\` to be a non-empty string, got \`${String(options.txId)}\``);
      }
      const own = options.txId !== undefined;
      const txId = options.txId ?? `${this.#idPrefix}-${(this.#nextId++).toString(36)}`;
      if (own) {
        this.#forgetOld(Date.now());
        const used = this.#used.get(txId);
        if (used !== undefined) throw new TxIdInUseError(txId, used.outcome);
      }
      if (this.#pending.has(txId) || this.machine.get(txId) !== undefined) throw new TxIdInUseError(txId);
      let settle!: { resolve: (o: Outcome) => void; reject: (e: Error) => void };
      const result = new Promise<Outcome>((resolve, reject) => (settle = { resolve, reject }));
      this.#pending.set(txId, { ...settle, promise: result, own });
      // 2PC with the caller's own id: COORD-START is durable before any participant hears of
      // it, so that a restarted coordinator knows the id and refuses to run it twice.
      const event: CoordinatorEvent = { type: EventType.Begin, txId, participants: options.participants, payload: options.payload, ...(own ? { durableStart: true } : {}) };
      try {
        this.feed(options.timeout === undefined ? event : { ...event, timeout: options.timeout });
      } catch (error) {
        this.#pending.delete(txId);
        throw error;
      }
      return result;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Transactions not finished: undecided, or committed with ACKs outstanding. */
  inDoubt(): CoordinatorInDoubt[] {
    return [...this.machine.transactions()].map((tx) => ({
      txId: tx.txId,
      phase: tx.phase,
      participants: tx.participants,
      awaitingAck: tx.phase === "COMMIT" ? tx.awaitingAck : [],
    }));
  }

  override stats(): CoordinatorStats {
    return { ...super.stats(), committed: this.#committed, aborted: this.#aborted, outcomes: { ...this.#outcomes }, pending: this.#pending.size };
  }

  /**
   * @internal 2PC: a coordinator takes votes, ACKs and decision requests only from the
   * participants of the transaction. One it does not know is answered (GLOBAL-ABORT, presumed
   * abort) to its authenticated sender alone.
   */
  protected override accepts(msg: TwopcMessage): boolean {
    const tx = this.machine.get(msg.txId) as { participants?: readonly NodeId[] } | undefined;
    if (tx?.participants === undefined) return true;
    switch (msg.type) {
      case MessageType.VoteCommit:
      case MessageType.VoteAbort:
      case MessageType.VoteReadOnly:
      case MessageType.Ack:
      case MessageType.DecisionReq:
        return tx.participants.includes(msg.from);
      default:
        return true;
    }
  }

  /** @internal */
  protected override onOutcome(action: OutcomeAction): void {
    const outcome: Outcome = {
      txId: action.txId,
      committed: action.committed,
      reason: action.reason,
      ...(action.by === undefined ? {} : { by: action.by }),
      ...(action.detail === undefined ? {} : { detail: action.detail }),
    };
    if (outcome.committed) this.#committed++;
    else this.#aborted++;
    const key = `${outcome.committed ? "committed" : "aborted"}:${outcome.reason}`;
    this.#outcomes[key] = (this.#outcomes[key] ?? 0) + 1;
    const waiting = this.#pending.get(action.txId);
    // Ids the coordinator made up are new in every incarnation: only the callers' own (and
    // those a restart found in the log) can be offered again, and need remembering.
    const now = Date.now();
    if (this.#used.size > 0) this.#forgetOld(now);
    if (this.#rememberFor > 0 && waiting?.own !== false) this.#used.set(outcome.txId, { outcome, at: now });
    this.#pending.delete(action.txId);
    waiting?.resolve(outcome);
    this.#onOutcome?.(outcome);
  }

  /** @internal */
  protected onStop(error: Error): void {
    for (const w of this.#pending.values()) w.reject(error);
    this.#pending.clear();
  }
}
