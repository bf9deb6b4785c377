import { randomBytes } from "node:crypto";
import { InvalidArgumentError, parseAddress } from "@zmbox/mailbox";
import type { OutcomeAction, OutcomeReason } from "../protocol/actions.js";
import { CoordinatorMachine, type CoordinatorTx } from "../protocol/coordinator.js";
import { TxIdInUseError } from "../protocol/errors.js";
import { EventType, type CoordinatorEvent } from "../protocol/events.js";
import type { NodeId, TxId } from "../protocol/types.js";
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
}

/** What {@link Coordinator.transact} takes. */
export interface TransactOptions {
  /** The participants' node ids (mailbox addresses), at least one, distinct. */
  readonly participants: readonly NodeId[];
  /** Handed to every participant's resource manager `prepare`. Any MessagePack value. */
  readonly payload?: unknown;
  /** How long to wait for the votes, in ms (overrides `voteTimeout`). */
  readonly timeout?: number;
  /** A transaction id, unique forever; one is made up when absent. */
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
  readonly #pending = new Map<TxId, { resolve: (o: Outcome) => void; reject: (e: Error) => void }>();
  readonly #onOutcome: ((outcome: Outcome) => void) | undefined;
  readonly #idPrefix = randomBytes(6).toString("hex");
  #nextId = 0;
  #committed = 0;
  #aborted = 0;

  /** @internal */
  private constructor(parts: Awaited<ReturnType<typeof Coordinator.parts>>, onOutcome: ((o: Outcome) => void) | undefined) {
    super(parts.options.runtime, parts.mailbox, parts.log, parts.machine, undefined, parts.trace);
    this.#onOutcome = onOutcome;
    this.start(parts.records);
  }

  /** @internal */
  private static async parts(options: CoordinatorOptions) {
    const parts = await TwopcNode.openParts(options, (self) => {
      const o: { self: string; voteTimeout?: number; resendInterval?: number } = { self };
      if (options.voteTimeout !== undefined) o.voteTimeout = options.voteTimeout;
      if (options.resendInterval !== undefined) o.resendInterval = options.resendInterval;
      return new CoordinatorMachine(o);
    });
    return { ...parts, options };
  }

  /**
   * Opens the coordinator: its log is read and every transaction in it recovered by the notes'
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
      const txId = options.txId ?? `${this.#idPrefix}-${(this.#nextId++).toString(36)}`;
      if (this.#pending.has(txId)) throw new TxIdInUseError(txId);
      const result = new Promise<Outcome>((resolve, reject) => this.#pending.set(txId, { resolve, reject }));
      const event: CoordinatorEvent = { type: EventType.Begin, txId, participants: options.participants, payload: options.payload };
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
    return { ...super.stats(), committed: this.#committed, aborted: this.#aborted, pending: this.#pending.size };
  }

  /** @internal */
  protected override onOutcome(action: OutcomeAction): void {
    const outcome: Outcome = {
      txId: action.txId,
      committed: action.committed,
      reason: action.reason,
      ...(action.by === undefined ? {} : { by: action.by }),
    };
    if (outcome.committed) this.#committed++;
    else this.#aborted++;
    const waiting = this.#pending.get(action.txId);
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
