/**
 * The driver: it runs one sans-IO 2PC machine (see `protocol/machine.ts` for the contract) and
 * carries out its actions through small ports. The real nodes (`Coordinator`, `Participant`)
 * plug in the mailbox runtime, a `StableLog` on disk and the real clock; the simulator plugs in
 * a virtual network, a `StableLog` over a `MemoryFs` and a virtual clock; the exhaustive model
 * plugs in ports that record into its state. Everything that is not I/O is here, once: the
 * action switch, which records are forced, lazy or unforced, when `durable` is fed back, the
 * interning of sender addresses, the resource-manager calls and their retry, stop and failure.
 *
 * Events go in one at a time; each action list is started in order:
 *
 *   send port --receive--> machine --append--> log port --written/durable--> machine --send--> send port
 *                           ^  \--set-timer--> timers (clock) --timeout------/
 *                           |   \--rm-*-----> resource-manager port --prepared/applied--\
 *                           \--------------------------------------------------------------/
 *                                \--outcome--> outcome port (coordinator)
 *
 * A port never calls back synchronously: a completion is a new event, after the action list
 * that started it has been carried out.
 */
import type { Clock } from "@zmbox/mailbox/internal";
import type { StableLog } from "@zmbox/log";
import { ActionType, type OutcomeAction, type TwopcAction } from "../protocol/actions.js";
import { EventType, type TimerName, type TwopcEvent } from "../protocol/events.js";
import { MAX_REASON_LENGTH, isTwopcMessage, type TwopcMessage } from "../protocol/messages.js";
import { RecordType, type TwopcRecord } from "../protocol/records.js";
import { Decision, Vote, type NodeId, type TxId } from "../protocol/types.js";
import { Mutation } from "../sim/mutation.js";
import { TraceKind, type TraceEvent } from "../trace/events.js";
import { emit, traceAction, traceFed, traceStart, type TracePort } from "../trace/record.js";
import { NodeFailedError } from "./errors.js";
import { Timers } from "./timers.js";

/**
 * How long the lazy forced records (WORKER-COMMIT, whose ACK waits on it) wait for a forced one
 * in a hurry to share its write (see `LogOptions.lazyWriteDelay`), in ms.
 */
const LAZY_WRITE_MS = 2;
/**
 * How long unforced records (COORD-START, the ENDs) wait, in ms. Nobody waits on them: losing
 * them in a crash only makes recovery finish more transactions again. Written alone at 2 ms,
 * 160-190 of ~370 groups in the throughput benchmark were lone writes, each making the next
 * forced group a write + fdatasync (two thread-pool hops) instead of one durable write.
 */
const UNFORCED_WRITE_MS = 20;

/** The write delays every node's `StableLog` is opened with, real or simulated. */
export const DRIVER_LOG_OPTIONS = { lazyWriteDelay: LAZY_WRITE_MS, unforcedWriteDelay: UNFORCED_WRITE_MS } as const;

/** Distinct sender addresses a node shares between messages; beyond them it stops (bad input cannot grow it). */
const MAX_INTERNED_ADDRESSES = 1024;

/** The longest wait between two tries of a resource manager's `commit` or `abort`, in ms. */
const MAX_RETRY_MS = 5000;
/** The first wait; it doubles with every failed try. */
const FIRST_RETRY_MS = 50;

/** How a record is appended: `StableLog.append`'s options. One object each, shared. */
export interface AppendMode {
  readonly sync: boolean;
  readonly lazy: boolean;
}
/** Durable before the promise resolves, in a write of its own if need be. */
export const FORCED: AppendMode = Object.freeze({ sync: true, lazy: false });
/** Durable before the promise resolves, but it may wait a little for a forced record's write. */
export const LAZY: AppendMode = Object.freeze({ sync: true, lazy: true });
/** Written (and lost in a crash until the next sync). */
export const UNFORCED: AppendMode = Object.freeze({ sync: false, lazy: false });
/** Mutation `driver-durable-before-sync`: a forced record written as if unforced. */
const WRITTEN_ONLY: AppendMode = Object.freeze({ sync: false, lazy: false });

/** The driver's side of its ports: what they call when something they started completes. */
export interface DriverSink {
  /** `record`, appended with `mode`, is on the log (durable if `mode.sync`, else written). */
  written(record: TwopcRecord, mode: AppendMode): void;
  /** The log failed: the node stops. */
  readonly logFailed: (cause: unknown) => void;
  /** The resource manager's vote; anything but a `Vote` (a throw, say) is a vote to abort. */
  voted(txId: TxId, vote: unknown): void;
  /** The resource manager's `commit` or `abort` succeeded (`ok`), or failed and is to be retried. */
  applied(txId: TxId, decision: Decision, ok: boolean): void;
}

/** Appends records. */
export interface LogPort {
  /** Starts appending `record` with `mode`; then calls `sink.written` or `sink.logFailed`, never synchronously. */
  append(record: TwopcRecord, mode: AppendMode, sink: DriverSink): void;
}

/** The machines' timers, at most one per (transaction, timer name). */
export interface TimerPort {
  set(txId: TxId, timer: TimerName, ms: number): void;
  clear(txId: TxId, timer: TimerName): void;
  clearAll(): void;
}

/** A participant's resource manager. */
export interface RmPort {
  /** Starts `prepare`; then calls `sink.voted`, never synchronously. */
  prepare(txId: TxId, payload: unknown, sink: DriverSink): void;
  /** Starts `commit` or `abort`; then calls `sink.applied`, never synchronously. */
  apply(txId: TxId, decision: Decision, sink: DriverSink): void;
}

/** Sees every event fed and every action carried out (the simulator's trace). */
export interface DriverTrace {
  event(event: TwopcEvent): void;
  action(action: TwopcAction): void;
}

/** What the driver talks to. */
export interface DriverPorts {
  readonly log: LogPort;
  /** Sends best effort (the machines' timers retry what is lost); a promise that rejects counts in `sendFailures`. */
  send(to: NodeId, msg: TwopcMessage): Promise<unknown> | undefined;
  /** The clock of the resource manager's retries, and of the timers unless `timers` is given. */
  readonly clock: Clock;
  /** @default a `Timers` on `clock` */
  readonly timers?: TimerPort;
  /** A participant's resource manager (a coordinator has none). */
  readonly resourceManager?: RmPort;
  /** A coordinator's outcomes. */
  readonly outcome?: (action: OutcomeAction) => void;
  /** The driver stopped: closed, its log failed, or its machine threw (`error` says which). */
  stopped(error: Error): void;
  readonly trace?: DriverTrace;
  /** Where trace events go (see trace/); without it, tracing costs one `undefined` check per event and action. */
  readonly tracer?: TracePort | undefined;
}

/** The machine, as the driver sees it. */
export interface DriverMachine<E extends TwopcEvent> {
  handle(event: E): readonly TwopcAction[];
}

export interface DriverOptions {
  /** The node id, for error messages. */
  readonly address: NodeId;
  /** A deliberate driver bug, for the checkers' self-tests (machine mutations go to the machine). */
  readonly mutation?: Mutation | undefined;
}

/** What a driver counts. */
export interface DriverCounters {
  messagesIn: number;
  messagesOut: number;
  badMessages: number;
  sendFailures: number;
  /** Votes to commit the resource manager gave. */
  prepared: number;
  /** Resource-manager commits and aborts that succeeded. */
  committed: number;
  aborted: number;
  /** Resource-manager commits and aborts that failed and were retried. */
  rmRetries: number;
}

/** The reason of a `{ vote: "abort", reason }` answer (a short string), if there is one. */
function abortReason(answer: unknown): string | undefined {
  if (typeof answer !== "object" || answer === null) return undefined;
  const { vote, reason } = answer as { vote?: unknown; reason?: unknown };
  if (vote !== Vote.Abort || typeof reason !== "string" || reason === "") return undefined;
  return reason.length <= MAX_REASON_LENGTH ? reason : reason.slice(0, MAX_REASON_LENGTH);
}

/** Runs one machine through its ports. */
export class Driver<E extends TwopcEvent = TwopcEvent> implements DriverSink {
  readonly address: NodeId;
  readonly counters: DriverCounters = { messagesIn: 0, messagesOut: 0, badMessages: 0, sendFailures: 0, prepared: 0, committed: 0, aborted: 0, rmRetries: 0 };
  readonly #machine: DriverMachine<E>;
  readonly #ports: DriverPorts;
  readonly #log: LogPort;
  readonly #timers: TimerPort;
  readonly #rm: RmPort | undefined;
  readonly #trace: DriverTrace | undefined;
  readonly #tracer: TracePort | undefined;
  readonly #durableBeforeSync: boolean;
  /** Sender addresses seen, each kept once (see #interned). */
  readonly #addresses = new Map<string, string>();
  /** Failed tries so far, of the resource-manager calls being retried. */
  readonly #retries = new Map<TxId, number>();
  #stopped: Error | undefined;

  constructor(machine: DriverMachine<E>, ports: DriverPorts, options: DriverOptions) {
    this.address = options.address;
    this.#machine = machine;
    this.#ports = ports;
    this.#log = ports.log;
    this.#timers = ports.timers ?? new Timers((txId, timer) => this.#feedInternal({ type: EventType.Timeout, txId, timer } as E), ports.clock);
    this.#rm = ports.resourceManager;
    this.#trace = ports.trace;
    this.#tracer = ports.tracer;
    this.#durableBeforeSync = options.mutation === Mutation.DriverDurableBeforeSync;
  }

  /** Why the driver stopped, if it has. */
  get stopped(): Error | undefined {
    return this.#stopped;
  }

  /** Feeds one event to the machine and starts its actions. Throws what the machine throws. */
  feed(event: E): void {
    if (this.#stopped) return;
    this.#trace?.event(event);
    if (this.#tracer !== undefined) traceFed(this.#tracer, this.#tracer.origin + this.#ports.clock.now(), this.address, event);
    this.execute(this.#machine.handle(event));
  }

  /** Starts actions in order (recovery's, say). */
  execute(actions: readonly TwopcAction[]): void {
    for (const action of actions) {
      if (this.#stopped) return;
      this.#trace?.action(action);
      if (this.#tracer !== undefined) traceAction(this.#tracer, this.#tracer.origin + this.#ports.clock.now(), this.address, action);
      this.#perform(action);
    }
  }

  /** A message arrived: protocol messages go to the machine, anything else is counted and dropped. */
  receive(msg: unknown): void {
    if (this.#stopped) return;
    if (!isTwopcMessage(msg)) {
      this.counters.badMessages++;
      return;
    }
    this.counters.messagesIn++;
    this.feed({ type: EventType.Receive, msg: this.#interned(msg) } as E);
  }

  /** A timer is due (for timer ports other than the default `Timers`). */
  timeout(txId: TxId, timer: TimerName): void {
    this.#feedInternal({ type: EventType.Timeout, txId, timer } as E);
  }

  written(record: TwopcRecord, mode: AppendMode): void {
    // 2PC: `durable` only once the forced record is on stable storage: the machine sends what
    // depends on it only in reply. An unforced record's write is nobody's business.
    if (mode !== UNFORCED) this.#feedInternal({ type: EventType.Durable, record } as E);
  }

  readonly logFailed = (cause: unknown): void => {
    this.stop(new NodeFailedError(`the 2PC node ${this.address} stopped: its stable log failed`, { cause }));
  };

  voted(txId: TxId, vote: unknown): void {
    if (this.#stopped) return;
    // A resource manager that throws or answers nonsense votes to abort. It may say why:
    // `{ vote: "abort", reason }`.
    const v = vote === Vote.Commit || vote === Vote.ReadOnly ? vote : Vote.Abort;
    if (v === Vote.Commit) this.counters.prepared++;
    const reason = v === Vote.Abort ? abortReason(vote) : undefined;
    this.#feedInternal((reason === undefined ? { type: EventType.Prepared, txId, vote: v } : { type: EventType.Prepared, txId, vote: v, reason }) as E);
  }

  applied(txId: TxId, decision: Decision, ok: boolean): void {
    if (this.#stopped) return;
    const rm = this.#rm!;
    if (!ok) {
      // The decision is taken: retry until the resource manager succeeds, backing off.
      this.counters.rmRetries++;
      if (this.#tracer !== undefined) this.#traceOf({ kind: TraceKind.RmResult, tx: txId, call: decision, result: "failed" });
      const attempt = this.#retries.get(txId) ?? 0;
      this.#retries.set(txId, attempt + 1);
      const retry = (): void => {
        if (!this.#stopped) rm.apply(txId, decision, this);
      };
      this.#ports.clock.setTimeout(retry, Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt)).unref();
      return;
    }
    if (this.#retries.size > 0) this.#retries.delete(txId);
    if (decision === Decision.Commit) this.counters.committed++;
    else this.counters.aborted++;
    this.#feedInternal({ type: EventType.Applied, txId, decision } as E);
  }

  /** Stops: timers cleared, later events and completions ignored; the `stopped` port is told. Idempotent. */
  stop(error: Error): void {
    if (this.#stopped) return;
    this.#stopped = error;
    if (this.#tracer !== undefined) this.#traceOf({ kind: TraceKind.Stop, error: error.message });
    this.#timers.clearAll();
    this.#ports.stopped(error);
  }

  /**
   * Traces the node's start, before the actions of its recovery: `records` log records read,
   * and the transactions the recovered `machine` holds.
   */
  started(records: number, machine: { transactions(): Iterable<{ readonly txId: TxId; readonly phase: string }> }): void {
    if (this.#tracer !== undefined) traceStart(this.#tracer, this.#tracer.origin + this.#ports.clock.now(), this.address, records, machine.transactions());
  }

  #traceOf(event: Omit<TraceEvent, "t" | "node">): void {
    const port = this.#tracer!;
    emit(port, { t: port.origin + this.#ports.clock.now(), node: this.address, ...event });
  }

  #perform(action: TwopcAction): void {
    switch (action.type) {
      case ActionType.Append: {
        const { record, force } = action;
        // WORKER-COMMIT gates only the ACK (the outcome was final at the coordinator's durable
        // COMMIT): it need not start a sync of its own, but may join the next one a record in
        // a hurry (the next WORKER-READY, whose vote someone waits on) starts. Unforced records
        // (presumed abort: the abort records, COORD-START, the ENDs) ride with the next group.
        let mode = !force ? UNFORCED : record.type === RecordType.WorkerCommit ? LAZY : FORCED;
        if (this.#durableBeforeSync && force) mode = WRITTEN_ONLY;
        this.#log.append(record, mode, this);
        return;
      }
      case ActionType.Send: {
        this.counters.messagesOut++;
        const sent = this.#ports.send(action.to, action.msg);
        if (sent !== undefined) sent.catch(this.#sendFailed);
        return;
      }
      case ActionType.SetTimer:
        this.#timers.set(action.txId, action.timer, action.ms);
        return;
      case ActionType.ClearTimer:
        this.#timers.clear(action.txId, action.timer);
        return;
      case ActionType.RmPrepare:
        this.#roleRm(action.type).prepare(action.txId, action.payload, this);
        return;
      case ActionType.RmCommit:
        this.#roleRm(action.type).apply(action.txId, Decision.Commit, this);
        return;
      case ActionType.RmAbort:
        this.#roleRm(action.type).apply(action.txId, Decision.Abort, this);
        return;
      case ActionType.Outcome: {
        const outcome = this.#ports.outcome;
        if (outcome === undefined) throw new Error(`the node ${this.address} cannot perform ${action.type}`);
        outcome(action);
        return;
      }
      default:
        throw new Error(`unhandled action ${JSON.stringify(action satisfies never)}`);
    }
  }

  #roleRm(type: string): RmPort {
    if (this.#rm === undefined) throw new Error(`the node ${this.address} cannot perform ${type}`);
    return this.#rm;
  }

  readonly #sendFailed = (): void => {
    this.counters.sendFailures++;
  };

  /** An event from a completion (not from a caller): a machine that throws on it stops the node. */
  #feedInternal(event: E): void {
    try {
      this.feed(event);
    } catch (cause) {
      this.stop(new NodeFailedError(`the 2PC node ${this.address} stopped: its machine threw on ${event.type}`, { cause }));
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
}

/** A log port over a `StableLog` (the real nodes' and the simulator's). */
export function stableLogPort(log: StableLog<TwopcRecord>): LogPort {
  return {
    append(record, mode, sink) {
      log.append(record, mode).then(() => sink.written(record, mode), sink.logFailed);
    },
  };
}

/** The application's resource manager, as the driver's port needs it (see `ResourceManager`). */
export interface ResourceManagerCalls {
  prepare(txId: TxId, payload: unknown): Promise<unknown> | unknown;
  commit(txId: TxId): Promise<void> | void;
  abort(txId: TxId): Promise<void> | void;
}

/** A resource-manager port over the application's resource manager (the real participant's and the simulator's). */
export function resourceManagerPort(rm: ResourceManagerCalls): RmPort {
  return {
    prepare(txId, payload, sink) {
      void callPrepare(rm, txId, payload, sink);
    },
    apply(txId, decision, sink) {
      void callApply(rm, txId, decision, sink);
    },
  };
}

async function callPrepare(rm: ResourceManagerCalls, txId: TxId, payload: unknown, sink: DriverSink): Promise<void> {
  let vote: unknown;
  try {
    vote = await rm.prepare(txId, payload);
  } catch {
    vote = undefined; // a throw is a vote to abort
  }
  sink.voted(txId, vote);
}

async function callApply(rm: ResourceManagerCalls, txId: TxId, decision: Decision, sink: DriverSink): Promise<void> {
  let ok = true;
  try {
    if (decision === Decision.Commit) await rm.commit(txId);
    else await rm.abort(txId);
  } catch {
    ok = false;
  }
  sink.applied(txId, decision, ok);
}
