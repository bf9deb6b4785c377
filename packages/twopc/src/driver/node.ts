/**
 * What `Coordinator` and `Participant` share: the ports of the driver (driver.ts) over the
 * mailbox runtime, a `StableLog` on the real file system and the real clock, and the loop that
 * takes messages from the node's mailbox.
 */
import { InvalidArgumentError, parseAddress, type Mailbox, type Runtime } from "@zmbox/mailbox";
import { realClock } from "@zmbox/mailbox/internal";
import { createNodeFs } from "@zmbox/log";
import { StableLog, type LogOptions, type LogStats, type OpenedLog } from "@zmbox/log";
import type { OutcomeAction, TwopcAction } from "../protocol/actions.js";
import type { TwopcEvent } from "../protocol/events.js";
import type { TxMachine } from "../protocol/machine.js";
import { isTwopcMessage, type TwopcMessage } from "../protocol/messages.js";
import type { TwopcRecord } from "../protocol/records.js";
import type { NodeId, TxId } from "../protocol/types.js";
import { DRIVER_LOG_OPTIONS, Driver, stableLogPort, type DriverPorts, type RmPort } from "./driver.js";
import { NodeClosedError } from "./errors.js";
import type { TraceSink } from "../trace/events.js";
import { openNodeTrace, type NodeTrace } from "../trace/file.js";

/** The machines' sends return once queued: best effort, their timers retry what is lost. One object for all. */
const SEND_OPTIONS = { until: "queued" } as const;
/** With CURVE, messages are taken as deliveries, which carry the sender's authenticated key. */
const AUTHENTICATED_RECEIVE = { ack: "manual", lease: Infinity } as const;

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
   * With a `curve` runtime: the public keys that may send to the node's mailbox (its runtime's
   * own key always may). Others are refused (`FORBIDDEN`), so they cannot start transactions or
   * ask for decisions here. See the mailbox option `senders`.
   * @default every key the runtime admits
   */
  readonly senders?: readonly string[];
  /**
   * Write the stable log on the event loop's thread, blocking it for each write, instead of in
   * Node's thread pool (see `NodeFsOptions.inlineWrites`). Every step of a transaction waits on
   * the log anyway; inline, the thread-pool hop leaves a transaction's two durable writes.
   * Set `false` if the process serves other work that must not wait while the disk writes.
   * @default true
   */
  readonly inlineWrites?: boolean;
  /**
   * Called once if the node fails (its log's write or sync failed, or its machine threw): it has
   * stopped, and every call pending on it rejected. A process that cannot go on without the node
   * should exit here with the cause, so that its supervisor restarts it and it recovers from its
   * log. Not called for `close()`. See also {@link TwopcNode.closed}.
   */
  readonly onFailed?: (error: Error) => void;
  /**
   * Trace what the node does (messages, log writes, timeouts, resource-manager calls, outcomes,
   * start and recovery, stop) for `renderSvg` / `renderMermaid` or the `twopc-trace` CLI: a
   * function that receives each `TraceEvent`, or a directory where the node appends JSON lines
   * to `<mailbox>.trace.jsonl` (in batches; flushed on close).
   * @default no tracing
   * @example
   * await Participant.open({ runtime, logDir, mailbox: "w1", resourceManager, trace: "/var/tmp/run1" })
   */
  readonly trace?: TraceSink | string;
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
   * With CURVE: protocol messages dropped because their sender's key is not the key of the node
   * they name in `from`, or that node has no part in the transaction (a decision not from its
   * coordinator, a vote not from one of its participants).
   */
  forged: number;
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
  if (o.onFailed !== undefined && typeof o.onFailed !== "function") {
    throw new InvalidArgumentError(`Expected \`onFailed\` to be a function, got \`${String(o.onFailed)}\``);
  }
}

/** Runs one machine on the driver; subclasses add the role's API and its ports (resource manager, outcome). */
export abstract class TwopcNode<E extends TwopcEvent, M extends TxMachine<unknown, E>> {
  /** The node id: the address of its mailbox. */
  readonly address: string;
  /** @internal */
  protected readonly runtime: Runtime;
  /** @internal */
  protected readonly machine: M;
  /** @internal */
  protected readonly driver: Driver<E>;
  readonly #mailbox: Mailbox;
  readonly #log: StableLog<TwopcRecord>;
  #settleClosed!: (error: Error | undefined) => void;
  /**
   * Resolves (never rejects) once the node has stopped: with `undefined` after `close()`, or with
   * the error that stopped it (`NodeFailedError`, its `cause` the log's or the machine's error).
   *
   * @example
   * node.closed.then((error) => { if (error) { console.error(error); process.exit(1); } });
   */
  readonly closed: Promise<Error | undefined>;
  readonly #trace: NodeTrace | undefined;
  #loop: Promise<void> = Promise.resolve();
  #forged = 0;

  /** @internal */
  protected constructor(options: NodeOptions, mailbox: Mailbox, log: StableLog<TwopcRecord>, machine: M, resourceManager?: RmPort, trace?: NodeTrace) {
    const runtime = options.runtime;
    this.runtime = runtime;
    this.closed = new Promise((resolve) => (this.#settleClosed = resolve));
    this.#mailbox = mailbox;
    this.#log = log;
    this.machine = machine;
    this.address = mailbox.address;
    this.#trace = trace;
    const ports: DriverPorts = {
      ...(resourceManager === undefined ? {} : { resourceManager }),
      outcome: (action) => this.onOutcome(action),
      log: stableLogPort(log),
      send: (to: NodeId, msg: TwopcMessage) => runtime.send(msg, to, SEND_OPTIONS),
      clock: realClock,
      tracer: trace?.port,
      stopped: (error) => {
        this.#mailbox.close();
        this.#trace?.file?.close();
        this.onStop(error);
        const failed = error instanceof NodeClosedError ? undefined : error;
        this.#settleClosed(failed);
        // Failure is loud: the hook hears of it at once (the log is closed for the next open).
        if (failed !== undefined) {
          void this.#log.close().catch(() => undefined);
          options.onFailed?.(failed);
        }
      },
    };
    this.driver = new Driver<E>(machine, ports, { address: mailbox.address });
  }

  /** @internal Opens the log and the mailbox, and recovers the machine from the log. */
  protected static async openParts<M extends { retains(txId: TxId): boolean }>(
    options: NodeOptions,
    makeMachine: (self: string) => M,
    /** Transactions compaction keeps although the machine is done with them. */
    alsoRetain?: { has(txId: TxId): boolean },
    /** How the log is opened (a participant may salvage it). */
    openLog: (dir: string, options: LogOptions<TwopcRecord>) => Promise<OpenedLog<TwopcRecord>> = (dir, o) => StableLog.open<TwopcRecord>(dir, o),
  ): Promise<{ mailbox: Mailbox; log: StableLog<TwopcRecord>; machine: M; records: TwopcRecord[]; trace: NodeTrace | undefined }> {
    checkNodeOptions(options);
    const trace = openNodeTrace(options.trace, options.mailbox);
    const mailbox = options.runtime.mailbox(options.mailbox, {
      capacity: options.capacity ?? 1024,
      ...(options.senders === undefined ? {} : { senders: options.senders }),
    });
    try {
      const machine = makeMachine(mailbox.address);
      const { log, records } = await openLog(options.logDir, {
        fs: createNodeFs({ inlineWrites: options.inlineWrites ?? true }),
        retain: alsoRetain === undefined ? (r) => machine.retains(r.txId) : (r) => machine.retains(r.txId) || alsoRetain.has(r.txId),
        // Unforced records (COORD-START, ENDs) ride with the next forced group.
        ...DRIVER_LOG_OPTIONS,
      });
      return { mailbox, log, machine, records, trace };
    } catch (error) {
      mailbox.close();
      throw error;
    }
  }

  /** @internal Recovers from the log's records, then starts taking messages. */
  protected start(records: readonly TwopcRecord[]): void {
    const actions = this.recoverFrom(records);
    // Both machines' transactions carry a txId and a phase.
    this.driver.started(records.length, this.machine as unknown as Parameters<Driver<E>["started"]>[1]);
    this.driver.execute(actions);
    this.#loop = this.#receive();
  }

  /** @internal The machine's recovery; a participant adds what its resource manager still holds prepared. */
  protected recoverFrom(records: readonly TwopcRecord[]): TwopcAction[] {
    return this.machine.recover(records);
  }

  /** Counters, and the log's. */
  stats(): NodeStats {
    const c = this.driver.counters;
    return {
      transactions: this.machine.size,
      messagesIn: c.messagesIn,
      messagesOut: c.messagesOut,
      badMessages: c.badMessages,
      forged: this.#forged,
      sendFailures: c.sendFailures,
      log: this.#log.stats,
    };
  }

  /** Stops the node: timers cleared, mailbox and log closed. What the log holds is recovered on the next open. */
  async close(): Promise<void> {
    if (this.driver.stopped) return;
    this.driver.stop(new NodeClosedError(`the 2PC node ${this.address} is closed`));
    await this.#loop;
    await this.#log.close().catch(() => undefined);
  }

  /** Why the node stopped, if it has. */
  get stopped(): Error | undefined {
    return this.driver.stopped;
  }

  /** @internal Feeds one event to the machine and starts its actions. */
  protected feed(event: E): void {
    this.driver.feed(event);
  }

  /** @internal The coordinator's outcomes. */
  protected onOutcome(action: OutcomeAction): void {
    throw new Error(`a participant cannot perform ${action.type}`);
  }

  /**
   * @internal Whether `msg`, from the node it names in `from` (authenticated), may act on its
   * transaction here: the role's rule (only its coordinator decides, only its participants vote).
   */
  protected accepts(msg: TwopcMessage): boolean {
    void msg;
    return true;
  }

  /**
   * With CURVE: the message comes from the node it names (the key of `from`'s endpoint is the
   * key its connection authenticated), and that node has a part in the transaction.
   */
  #authentic(msg: TwopcMessage, sender: string | undefined): boolean {
    let endpoint: string;
    try {
      endpoint = parseAddress(msg.from).endpoint;
    } catch {
      return false;
    }
    return sender !== undefined && this.runtime.keyOf(endpoint) === sender && this.accepts(msg);
  }

  /** @internal The node stopped (closed, or its log failed): settle what waits on it. */
  protected abstract onStop(error: Error): void;

  async #receive(): Promise<void> {
    // With CURVE every message's sender is known by key: see #authentic.
    const secure = this.runtime.publicKey !== undefined;
    for (;;) {
      let msg: unknown;
      let sender: string | undefined;
      try {
        if (secure) {
          const d = await this.#mailbox.receive(AUTHENTICATED_RECEIVE);
          d.ack();
          msg = d.value;
          sender = d.sender;
        } else {
          msg = await this.#mailbox.receive();
        }
      } catch {
        return; // the mailbox or the runtime closed
      }
      if (this.driver.stopped) return;
      // A message that is not the protocol's goes on, to be counted as such.
      if (secure && isTwopcMessage(msg) && !this.#authentic(msg, sender)) {
        this.#forged++;
        continue;
      }
      this.driver.receive(msg);
    }
  }
}
