/**
 * # Driving the 2PC machines
 *
 * `CoordinatorMachine` and `ParticipantMachine` are sans-IO: `handle(event)` is synchronous, touches
 * no clock, file or socket, and returns the actions to perform. The same code runs under the
 * mailbox runtime and under the deterministic simulator. A commit, as actions and events:
 *
 * ```
 *  coordinator                                  participant (each)
 *  begin -> append COORD-START
 *           send VOTE-REQ ----------------------> rm-prepare ... prepared(commit)
 *                                                 append! WORKER-READY ... durable
 *           VOTE-COMMIT <------------------------ send VOTE-COMMIT
 *  (all in) append! COORD-COMMIT ... durable
 *           send GLOBAL-COMMIT, outcome --------> append! WORKER-COMMIT ... durable
 *           ACK <-------------------------------- send ACK, rm-commit ... applied
 *  (all in) append COORD-END                      append WORKER-END
 * ```
 * (`append!` is forced; `...` is the driver reporting back.) A driver must:
 *
 * 1. **Recover first.** Open the stable log, then call `recover(records)` (a fresh node passes
 *    `[]`) before any other event, and execute the actions it returns. A participant also passes the
 *    ids its resource manager holds prepared (its `recover` hook, like XA's `xa_recover`): those
 *    the log does not know are aborted (presumed abort). `handle` before `recover` throws
 *    `NotRecoveredError`.
 * 2. **Feed events one at a time** and execute each returned action list in order before the
 *    next event. Events: `begin` (coordinator), `join` (participant, optional), `receive` for every
 *    decoded message (check it with `isTwopcMessage`), `timeout`, `durable`, `prepared` and
 *    `applied` (participant). Route a message by its destination node id: one machine per node id.
 *    Feed `join` at most once per transaction, before its VOTE-REQ, never after a restart.
 * 3. **append {record, force}**: append to the log in action order. With `force: true`, feed
 *    `{type: "durable", record}` only after the log reports the record, and so everything
 *    appended before it, synced (`await log.append(record)`). Everything that depends on a
 *    forced record (VOTE-COMMIT, GLOBAL-COMMIT, ACK, a peer's ABORT answer, a commit outcome)
 *    is emitted only in reply to that event, so it cannot be sent early. With `force: false`,
 *    append without waiting (`log.append(record, {sync: false})`). If the log fails, stop
 *    feeding events: the node must restart and recover from its log.
 * 4. **send {to, msg}**: best effort; no need to wait, retry or de-duplicate. The machines
 *    tolerate loss, duplicates, reordering and delay (timers drive every retry).
 * 5. **set-timer {txId, timer, ms}** replaces the timer with the same `(txId, timer)`;
 *    **clear-timer** cancels it. On expiry feed `{type: "timeout", txId, timer}`. A stale or
 *    extra firing is harmless. Timers do not survive a restart; recovery sets what it needs.
 * 6. **rm-prepare / rm-commit / rm-abort** call the participant's resource manager; feed `prepared`
 *    (a thrown `prepare` is a `vote: "abort"`) or `applied` when done. A machine has at most one
 *    call outstanding per transaction, but calls for different transactions may overlap. Calls
 *    may repeat after a restart, so commit and abort must be idempotent (abort also for ids the
 *    resource manager never saw); `prepare` must repeat its first vote, and vote abort once the
 *    id was aborted. If commit or abort fails, retry it: the decision is already taken. Do not
 *    feed results of calls made before a restart.
 * 7. **outcome {txId, committed, reason}** (coordinator) settles the caller's `transact()`.
 *    After a restart, outcomes are emitted again for recovered decisions.
 * 8. **Compaction**: give the log `retain: (record) => machine.retains(record.txId)`; a machine
 *    retains exactly the transactions it still needs after a restart.
 *
 * `driver/driver.ts` is such a driver: the real nodes, the simulator and the exhaustive check all
 * carry out the actions through it, each with its own ports.
 *
 * Transaction ids must be unique forever (presumed abort answers "abort" for a forgotten id),
 * and no message may outlive a participant's `rememberFor` / 2 in the network (a late duplicate of a
 * forgotten transaction's VOTE-REQ would otherwise look new).
 */
import { AlreadyRecoveredError, InvalidLogError, NotRecoveredError } from "./errors.js";
import { eventTxId, type TwopcEvent } from "./events.js";
import type { TwopcAction } from "./actions.js";
import { summarizeLog, type LogSummary } from "./log-state.js";
import { isTwopcRecord, type TwopcRecord } from "./records.js";
import type { TxId } from "./types.js";

/** The result of one transition of one transaction: its next state (undefined: forgotten). */
export interface Step<Tx> {
  readonly tx: Tx | undefined;
  readonly actions: TwopcAction[];
}

/** Validates raw log records (as read back from disk) and folds them per transaction. */
export function summarizeRecords(records: readonly unknown[]): LogSummary {
  const checked: TwopcRecord[] = [];
  for (const record of records) {
    if (!isTwopcRecord(record)) throw new InvalidLogError(undefined, `unrecognised record ${JSON.stringify(record)}`);
    checked.push(record);
  }
  return summarizeLog(checked);
}

/**
 * A map of per-transaction states driven by a pure per-transaction transition function.
 * Subclasses supply the transition and the recovery rule.
 */
export abstract class TxMachine<Tx, E extends TwopcEvent> {
  readonly #txs = new Map<TxId, Tx>();
  #recovered = false;

  /** @internal */
  protected abstract step(tx: Tx | undefined, event: E): Step<Tx>;
  /** @internal */
  protected abstract recoverFrom(summary: LogSummary): Iterable<readonly [TxId, Step<Tx>]>;

  /**
   * Rebuilds state from the log's records (oldest first) and returns what must be redone.
   * Must be called once, before `handle`.
   *
   * @example
   * const { log, records } = await StableLog.open(dir)
   * run(machine.recover(records))
   */
  recover(records: readonly unknown[]): TwopcAction[] {
    if (this.#recovered) throw new AlreadyRecoveredError();
    const summary = summarizeRecords(records);
    this.#recovered = true;
    const actions: TwopcAction[] = [];
    for (const [txId, step] of this.recoverFrom(summary)) actions.push(...this.adopt(txId, step));
    return actions;
  }

  /** @internal Stores a transaction's next state and passes its actions on. */
  protected adopt(txId: TxId, step: Step<Tx>): TwopcAction[] {
    if (step.tx === undefined) this.#txs.delete(txId);
    else this.#txs.set(txId, step.tx);
    return step.actions;
  }

  /**
   * Applies one event and returns the actions to execute, in order.
   *
   * @example
   * for (const action of machine.handle({ type: "receive", msg })) await execute(action)
   */
  handle(event: E): TwopcAction[] {
    if (!this.#recovered) throw new NotRecoveredError();
    const txId = eventTxId(event);
    return this.adopt(txId, this.step(this.#txs.get(txId), event));
  }

  /** The current state of one transaction, if this node still holds it. */
  get(txId: TxId): Tx | undefined {
    return this.#txs.get(txId);
  }

  /** Every transaction this node holds (in progress, or finished and still remembered). */
  transactions(): IterableIterator<Tx> {
    return this.#txs.values();
  }

  /** Whether the log must keep this transaction's records through compaction. */
  retains(txId: TxId): boolean {
    return this.#txs.has(txId);
  }

  /** Number of transactions held. */
  get size(): number {
    return this.#txs.size;
  }
}
