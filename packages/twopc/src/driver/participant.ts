import { InvalidArgumentError } from "@zmbox/mailbox";
import type { TwopcAction } from "../protocol/actions.js";
import type { TwopcRecord } from "../protocol/records.js";
import { EventType, type ParticipantEvent } from "../protocol/events.js";
import { ParticipantMachine } from "../protocol/participant.js";
import { MessageType, type TwopcMessage } from "../protocol/messages.js";
import type { NodeId, TxId, Vote } from "../protocol/types.js";
import { resourceManagerPort } from "./driver.js";
import { openParticipantLog } from "./salvage.js";
import { TwopcNode, type NodeOptions, type NodeStats } from "./node.js";

/**
 * The application's side of a participant: where the work of a transaction is done. 2PC calls
 * `prepare` once per VOTE-REQ, then `commit` or `abort`. Calls may repeat after a restart,
 * so `commit` and `abort` must be idempotent (and `abort` must accept ids it never saw).
 * Isolating concurrent transactions (locks) is the resource manager's job.
 */
/** A vote to abort that says why. */
export interface AbortVote {
  readonly vote: "abort";
  readonly reason: string;
}

export interface ResourceManager {
  /**
   * Can this participant promise to commit `txId`? Return `"commit"` (then the promise must be kept
   * across crashes: make the work durable before returning), `"abort"`, or `"read-only"` (nothing
   * to commit here). A throw is a vote to abort. To say why it aborts, return
   * `{ vote: "abort", reason: "insufficient-funds" }`: the coordinator's outcome carries the
   * reason as `detail` (at most 200 characters).
   */
  prepare(txId: TxId, payload: unknown): Promise<Vote | AbortVote> | Vote | AbortVote;
  /** Make the transaction's effects permanent. Retried until it succeeds. */
  commit(txId: TxId): Promise<void> | void;
  /** Roll the transaction back. Retried until it succeeds. */
  abort(txId: TxId): Promise<void> | void;
  /**
   * After a restart: the ids this resource manager holds prepared (voted, or was voting,
   * commit) and not yet committed or aborted, like XA's `xa_recover`. The participant aborts those
   * its log does not know (it crashed before its READY record was durable, so it never
   * promised) and settles the others by the protocol. Without it, such a transaction would
   * stay prepared (holding its locks) for ever.
   * @default () => []
   */
  recover?(): Promise<readonly TxId[]> | readonly TxId[];
}

/** Options of {@link Participant.open}. */
export interface ParticipantOptions extends NodeOptions {
  readonly resourceManager: ResourceManager;
  /**
   * How long a participant in READY waits for the decision before asking the coordinator, in ms.
   * @default 2000
   */
  readonly askAfter?: number;
  /**
   * Interval between later asks (from the second on, its peers are asked too), in ms.
   * @default 1000
   */
  readonly askInterval?: number;
  /**
   * How long a finished transaction is remembered to answer late duplicates, in ms.
   * @default 600000
   */
  readonly rememberFor?: number;
  /**
   * Open a corrupt log anyway, cutting it at the first bad record (`LogOptions.salvage`), instead of
   * refusing with `LogCorruptError`. Only for an operator who has looked (`twopc-inspect`) and
   * accepts losing the records after the damage. Whatever the resource manager still holds
   * prepared and the cut log no longer knows is held in doubt (`inDoubt()`, `lost: true`) and
   * asked about, never presumed aborted: the participant may have voted commit on it.
   * @default false
   */
  readonly salvage?: boolean;
  /**
   * The coordinator's node id, to ask about a transaction a salvage cut (its WORKER-READY named
   * the coordinator and is gone). Without it such a transaction waits in doubt until its
   * coordinator sends a message about it. Give it when one coordinator serves this participant.
   * @default undefined
   */
  readonly coordinator?: NodeId;
}

/** A transaction this participant promised to commit and has no decision for: it is blocked. */
export interface ParticipantInDoubt {
  readonly txId: TxId;
  /** Unknown only for a `lost` transaction whose coordinator has not been heard from yet. */
  readonly coordinator: NodeId | undefined;
  /** Empty for a `lost` transaction until a VOTE-REQ names them. */
  readonly participants: readonly NodeId[];
  /** A salvage cut its records: it may or may not have voted commit, and waits for the decision. */
  readonly lost: boolean;
}

export interface ParticipantStats extends NodeStats {
  prepared: number;
  committed: number;
  aborted: number;
  /** Resource-manager commit/abort calls that failed and were retried. */
  rmRetries: number;
}

/**
 * A 2PC participant on the mailbox runtime: it votes through its resource manager, keeps its
 * promise in its stable log, and obeys the decision (asking for it when the coordinator is
 * silent).
 *
 * @example
 * const participant = await Participant.open({
 *   runtime: rt, logDir: "./bank-a-log", mailbox: "bank-a",
 *   resourceManager: { prepare: (tx, p) => (lock(p) ? "commit" : "abort"), commit: apply, abort: release },
 * });
 */
export class Participant extends TwopcNode<ParticipantEvent, ParticipantMachine> {
  readonly #prepared: readonly TxId[];

  /** @internal */
  private constructor(parts: Awaited<ReturnType<typeof Participant.parts>>) {
    super(parts.options, parts.mailbox, parts.log, parts.machine, resourceManagerPort(parts.options.resourceManager), parts.trace);
    this.#prepared = parts.prepared;
    this.start(parts.records);
  }

  /** @internal */
  protected override recoverFrom(records: readonly TwopcRecord[]): TwopcAction[] {
    return this.machine.recover(records, this.#prepared);
  }

  /** @internal */
  private static async parts(options: ParticipantOptions) {
    const rm = options?.resourceManager;
    if (typeof rm !== "object" || rm === null || ["prepare", "commit", "abort"].some((k) => typeof (rm as unknown as Record<string, unknown>)[k] !== "function")) {
      throw new InvalidArgumentError("Expected `resourceManager` to have prepare, commit and abort functions");
    }
    if (rm.recover !== undefined && typeof rm.recover !== "function") {
      throw new InvalidArgumentError("Expected `resourceManager.recover` to be a function");
    }
    if (options.salvage !== undefined && typeof options.salvage !== "boolean") {
      throw new InvalidArgumentError(`Expected \`salvage\` to be a boolean, got \`${String(options.salvage)}\` (${typeof options.salvage})`);
    }
    if (options.salvage === true && rm.recover === undefined) {
      throw new InvalidArgumentError("Expected `resourceManager.recover` with `salvage: true`: what the resource manager holds prepared is what a salvage must not presume aborted");
    }
    if (options.coordinator !== undefined && (typeof options.coordinator !== "string" || options.coordinator === "")) {
      throw new InvalidArgumentError(`Expected \`coordinator\` to be a node id (a mailbox address), got \`${String(options.coordinator)}\` (${typeof options.coordinator})`);
    }
    const prepared = rm.recover === undefined ? [] : await rm.recover();
    if (!Array.isArray(prepared) || prepared.some((id) => typeof id !== "string")) {
      throw new InvalidArgumentError("Expected `resourceManager.recover()` to give an array of transaction ids");
    }
    const parts = await TwopcNode.openParts(
      options,
      (self) => {
        const o: { self: string; askAfter?: number; askInterval?: number; rememberFor?: number; coordinator?: NodeId } = { self };
        if (options.askAfter !== undefined) o.askAfter = options.askAfter;
        if (options.askInterval !== undefined) o.askInterval = options.askInterval;
        if (options.rememberFor !== undefined) o.rememberFor = options.rememberFor;
        if (options.coordinator !== undefined) o.coordinator = options.coordinator;
        return new ParticipantMachine(o);
      },
      undefined,
      (dir, logOptions) => openParticipantLog(dir, logOptions, options.salvage === true, prepared),
    );
    return { ...parts, options, prepared };
  }

  /**
   * Opens the participant: its log is recovered by the recovery table (docs/protocol.md) (commit what was committed,
   * abort what was not promised, ask about READY), with what `resourceManager.recover()` says
   * it still holds prepared.
   */
  static async open(options: ParticipantOptions): Promise<Participant> {
    const parts = await Participant.parts(options);
    try {
      return new Participant(parts);
    } catch (error) {
      // Recovery refused the log (InvalidLogError): release the mailbox and the log file.
      parts.mailbox.close();
      await parts.log.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Tells the participant that work for `txId` started here before 2PC: if no VOTE-REQ comes within
   * `timeout`, it aborts (the textbook "participant in INIT times out and aborts").
   */
  join(txId: TxId, coordinator: NodeId, timeout?: number): void {
    const event: ParticipantEvent = { type: EventType.Join, txId, coordinator };
    this.feed(timeout === undefined ? event : { ...event, timeout });
  }

  /** Transactions in READY: promised, no decision yet (blocked). */
  inDoubt(): ParticipantInDoubt[] {
    const out: ParticipantInDoubt[] = [];
    for (const tx of this.machine.transactions()) {
      if (tx.phase === "READY") out.push({ txId: tx.txId, coordinator: tx.coordinator, participants: tx.participants, lost: tx.lost });
    }
    return out;
  }

  override stats(): ParticipantStats {
    const { prepared, committed, aborted, rmRetries } = this.driver.counters;
    return { ...super.stats(), prepared, committed, aborted, rmRetries };
  }

  /**
   * @internal 2PC: a participant takes decisions (and a repeated VOTE-REQ) only from the
   * coordinator of the transaction, and a peer's DECISION or DECISION-REQ only from one of its
   * participants. A transaction it does not know yet: a VOTE-REQ starts it; anything else is
   * answered to its (authenticated) sender alone, or ignored.
   */
  protected override accepts(msg: TwopcMessage): boolean {
    const tx = this.machine.get(msg.txId) as { coordinator?: NodeId; participants?: readonly NodeId[] } | undefined;
    if (tx === undefined) return true;
    const fromCoordinator = tx.coordinator === undefined || msg.from === tx.coordinator;
    switch (msg.type) {
      case MessageType.VoteReq:
      case MessageType.GlobalCommit:
      case MessageType.GlobalAbort:
        return fromCoordinator;
      case MessageType.Decision:
      case MessageType.DecisionReq:
        return fromCoordinator || (tx.participants?.includes(msg.from) ?? true);
      default:
        return true;
    }
  }

  /** @internal */
  protected onStop(): void {}
}
