/**
 * The driver shared by `Coordinator` and `Participant`: it runs a sans-IO 2PC machine (see
 * `twopc/machine.ts` for the contract) on the mailbox runtime and a stable log. Events go in
 * one at a time; each action list is started in order:
 *
 *   mailbox --receive--> machine --append--> StableLog --durable--> machine --send--> mailbox
 *                          ^  \--set-timer--> setTimeout --timeout--/
 *                          \--- resource manager (prepared / applied) <--rm-*--/
 */
import { InvalidArgumentError, type Mailbox, type Runtime } from "@zmbox/mailbox";
import { createNodeFs } from "@zmbox/log";
import { StableLog, type LogStats } from "@zmbox/log";
import { ActionType, type TwopcAction } from "../protocol/actions.js";
import { EventType, type TwopcEvent } from "../protocol/events.js";
import type { TxMachine } from "../protocol/machine.js";
import { isTwopcMessage, type TwopcMessage } from "../protocol/messages.js";
import { RecordType, type TwopcRecord } from "../protocol/records.js";
import type { TxId } from "../protocol/types.js";
import { NodeClosedError, NodeFailedError } from "./errors.js";
import { Timers } from "./timers.js";

/**
 * How long the node's lazy forced records (WORKER-COMMIT, whose ACK waits on it) wait for a
 * forced one in a hurry to share its write (see `LogOptions.lazyWriteDelay`), in ms.
 */
const LAZY_WRITE_MS = 2;
/**
 * How long unforced records (COORD-START, the ENDs) wait, in ms. Nobody waits on them: losing
 * them in a crash only makes recovery finish more transactions again. Written alone at 2 ms,
 * 160-190 of ~370 groups in the throughput benchmark were lone writes, each making the next
 * forced group a write + fdatasync (two thread-pool hops) instead of one durable write.
 */
const UNFORCED_WRITE_MS = 20;

/** Distinct sender addresses a node shares between messages; beyond them it stops (bad input cannot grow it). */
const MAX_INTERNED_ADDRESSES = 1024;

/** Options every 2PC node takes. */
export interface NodeOptions {
  /** The mailbox runtime the node sends and receives on. */
  readonly runtime: Runtime;
  /** The node's stable-log directory (created if missing); one node per directory. */
  readonly logDir: string;
  /**
   * The name of the node's mailbox in `runtime`; its address is the node id. For crash
   * recovery the address must be the same after a restart (bind the runtime to a fixed port).
   */
  readonly mailbox: string;
  /**
   * The mailbox's capacity.
   * @default 1024
   */
  readonly capacity?: number;
  /**
   * Write the stable log on the event loop's thread, blocking it for each write, instead of in
   * Node's thread pool (see `NodeFsOptions.inlineWrites`). Every step of a transaction waits on
   * the log anyway; inline, the thread-pool hop leaves a transaction's two durable writes.
   * Set `false` if the process serves other work that must not wait while the disk writes.
   * @default true
   */
  readonly inlineWrites?: boolean;
}

/** Counters of a node. */
export interface NodeStats {
  /** Transactions the node holds (in progress, or finished and still remembered). */
  transactions: number;
  /** Protocol messages received. */
  messagesIn: number;
  /** Protocol messages sent. */
  messagesOut: number;
  /** Messages received that were not protocol messages (dropped). */
  badMessages: number;
  /**
   * Sends the runtime refused at once (e.g. a malformed address). Sends go out "queued", so a
   * peer whose mailbox does not exist shows in the runtime's `stats().undeliverable`; the
   * machines' timers retry either way.
   */
  sendFailures: number;
  log: Readonly<LogStats>;
}

/** @internal */
export function checkNodeOptions(options: unknown): void {
  if (typeof options !== "object" || options === null) {
    throw new InvalidArgumentError(`Expected node options to be an object, got \`${String(options)}\``);
  }
  const o = options as Record<string, unknown>;
  if (typeof o.runtime !== "object" || o.runtime === null || typeof (o.runtime as Runtime).mailbox !== "function") {
    throw new InvalidArgumentError("Expected `runtime` to be a started mailbox Runtime");
  }
  if (typeof o.logDir !== "string" || o.logDir === "") {
    throw new InvalidArgumentError(`Expected \`logDir\` to be a directory path, got \`${String(o.logDir)}\``);
  }
  if (typeof o.mailbox !== "string") {
    throw new InvalidArgumentError(`Expected \`mailbox\` to be a mailbox name, got \`${String(o.mailbox)}\``);
  }
  if (o.inlineWrites !== undefined && typeof o.inlineWrites !== "boolean") {
    throw new InvalidArgumentError(`Expected \`inlineWrites\` to be a boolean, got \`${String(o.inlineWrites)}\``);
  }
}

/** Runs one machine; subclasses add the role's API and its actions (rm-*, outcome). */
export abstract class TwopcNode<E extends TwopcEvent, M extends TxMachine<unknown, E>> {
  /** The node id: the address of its mailbox. */
  readonly address: string;
  /** @internal */
  protected readonly runtime: Runtime;
  /** @internal */
  protected readonly machine: M;
  readonly #mailbox: Mailbox;
  readonly #log: StableLog<TwopcRecord>;
  /** Sender addresses seen, each kept once (see #interned). */
  readonly #addresses = new Map<string, string>();
  readonly #timers = new Timers((txId, timer) => this.feed({ type: EventType.Timeout, txId, timer } as E));
  readonly #counters = { messagesIn: 0, messagesOut: 0, badMessages: 0, sendFailures: 0 };
  #loop: Promise<void> = Promise.resolve();
  #stopped: Error | undefined;

  /** @internal */
  protected constructor(runtime: Runtime, mailbox: Mailbox, log: StableLog<TwopcRecord>, machine: M) {
    this.runtime = runtime;
    this.#mailbox = mailbox;
    this.#log = log;
    this.machine = machine;
    this.address = mailbox.address;
  }

  /** @internal Opens the log and the mailbox, and recovers the machine from the log. */
  protected static async openParts<M extends { retains(txId: TxId): boolean }>(
    options: NodeOptions,
    makeMachine: (self: string) => M,
  ): Promise<{ mailbox: Mailbox; log: StableLog<TwopcRecord>; machine: M; records: TwopcRecord[] }> {
    checkNodeOptions(options);
    const mailbox = options.runtime.mailbox(options.mailbox, { capacity: options.capacity ?? 1024 });
    try {
      const machine = makeMachine(mailbox.address);
      const { log, records } = await StableLog.open<TwopcRecord>(options.logDir, {
        fs: createNodeFs({ inlineWrites: options.inlineWrites ?? true }),
        retain: (r) => machine.retains(r.txId),
        // Unforced records (COORD-START, ENDs) ride with the next forced group.
        lazyWriteDelay: LAZY_WRITE_MS,
        unforcedWriteDelay: UNFORCED_WRITE_MS,
      });
      return { mailbox, log, machine, records };
    } catch (error) {
      mailbox.close();
      throw error;
    }
  }

  /** @internal Recovers from the log's records, then starts taking messages. */
  protected start(records: readonly TwopcRecord[]): void {
    this.execute(this.recoverFrom(records));
    this.#loop = this.#receive();
  }

  /** @internal The machine's recovery; a participant adds what its resource manager still holds prepared. */
  protected recoverFrom(records: readonly TwopcRecord[]): TwopcAction[] {
    return this.machine.recover(records);
  }

  /** Counters, and the log's. */
  stats(): NodeStats {
    return { transactions: this.machine.size, ...this.#counters, log: this.#log.stats };
  }

  /** Stops the node: timers cleared, mailbox and log closed. What the log holds is recovered on the next open. */
  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#stop(new NodeClosedError(`the 2PC node ${this.address} is closed`));
    await this.#loop;
    await this.#log.close().catch(() => undefined);
  }

  /** Why the node stopped, if it has. */
  get stopped(): Error | undefined {
    return this.#stopped;
  }

  /** @internal Feeds one event to the machine and starts its actions. */
  protected feed(event: E): void {
    if (this.#stopped) return;
    this.execute(this.machine.handle(event));
  }

  /** @internal */
  protected execute(actions: readonly TwopcAction[]): void {
    for (const action of actions) {
      if (this.#stopped) return;
      this.perform(action);
    }
  }

  /** @internal Performs the actions both roles share; subclasses handle the rest. */
  protected perform(action: TwopcAction): void {
    switch (action.type) {
      case ActionType.Append: {
        const { record, force } = action;
        // 2PC: a forced record is on stable storage before anything that depends on it is
        // sent; the machine emits those sends only in reply to this `durable` event.
        // WORKER-COMMIT gates only the ACK (the outcome was final at the coordinator's durable
        // COMMIT): it need not start a sync of its own, but may join the next one a record in
        // a hurry (the next WORKER-READY, whose vote someone waits on) starts.
        const written = this.#log.append(record, { sync: force, lazy: record.type === RecordType.WorkerCommit });
        written.then(
          () => force && this.feed({ type: EventType.Durable, record } as E),
          (error: unknown) => this.#fail(error),
        );
        return;
      }
      case ActionType.Send:
        this.#counters.messagesOut++;
        // Best effort: the machines' timers retry whatever is lost.
        this.runtime.send(action.msg, action.to, { until: "queued" }).catch(() => this.#counters.sendFailures++);
        return;
      case ActionType.SetTimer:
        this.#timers.set(action.txId, action.timer, action.ms);
        return;
      case ActionType.ClearTimer:
        this.#timers.clear(action.txId, action.timer);
        return;
      default:
        this.performRole(action);
    }
  }

  /** @internal Resource-manager calls (participant) and outcomes (coordinator). */
  protected abstract performRole(action: TwopcAction): void;

  /** @internal The node stopped (closed, or its log failed): settle what waits on it. */
  protected abstract onStop(error: Error): void;

  async #receive(): Promise<void> {
    for (;;) {
      let msg: unknown;
      try {
        msg = await this.#mailbox.receive();
      } catch {
        return; // the mailbox or the runtime closed
      }
      if (this.#stopped) return;
      if (!isTwopcMessage(msg)) {
        this.#counters.badMessages++;
        continue;
      }
      this.#counters.messagesIn++;
      this.feed({ type: EventType.Receive, msg: this.#interned(msg) } as E);
    }
  }

  /**
   * The message with its sender's address shared with earlier messages from the same node: a
   * participant keeps its coordinator's address in every transaction it remembers, and a
   * decoded string per transaction cost about 60 bytes of each.
   */
  #interned(msg: TwopcMessage): TwopcMessage {
    const known = this.#addresses.get(msg.from);
    // The message was decoded for this node alone: nobody else holds it.
    if (known !== undefined) (msg as { from: string }).from = known;
    else if (this.#addresses.size < MAX_INTERNED_ADDRESSES) this.#addresses.set(msg.from, msg.from);
    return msg;
  }

  #fail(cause: unknown): void {
    if (this.#stopped) return;
    this.#stop(new NodeFailedError(`the 2PC node ${this.address} stopped: its stable log failed`, { cause }));
  }

  #stop(error: Error): void {
    this.#stopped = error;
    this.#timers.clearAll();
    this.#mailbox.close();
    this.onStop(error);
  }
}
