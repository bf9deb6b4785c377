import { DeadlineHeap, realClock, type Clock, type Timed } from "@zmbox/mailbox/internal";
import type { TimerName } from "../protocol/events.js";
import type { TxId } from "../protocol/types.js";

/** One timer of one transaction: its own entry in the deadline heap. */
interface Entry extends Timed {
  readonly txId: TxId;
  readonly timer: TimerName;
}

/**
 * The machines' timers, at most one per (transaction, timer name), on one deadline heap.
 *
 * A participant remembers every finished transaction for `rememberFor`, and at 64 transactions
 * in flight finishes about 10,000 a second. With a Node `setTimeout` per timer, its closure and
 * a string key, a remembered transaction held 593 bytes of heap (measured); the timer was about
 * half of it. Here it is one small entry, found by the transaction id the machine holds anyway.
 */
export class Timers {
  readonly #live = new Map<TimerName, Map<TxId, Entry>>();
  readonly #deadlines: DeadlineHeap<Entry>;

  /** `fire` is called when a timer is due; `clock` is the real one unless a test or the simulator passes its own. */
  constructor(fire: (txId: TxId, timer: TimerName) => void, clock: Clock = realClock) {
    this.#deadlines = new DeadlineHeap<Entry>((entry) => {
      this.#live.get(entry.timer)?.delete(entry.txId);
      fire(entry.txId, entry.timer);
    }, clock);
  }

  /** Timers set and not yet fired or cleared. */
  get size(): number {
    return this.#deadlines.size;
  }

  /** Sets `timer` of `txId` to fire in `ms`, replacing the one set before. */
  set(txId: TxId, timer: TimerName, ms: number): void {
    let live = this.#live.get(timer);
    if (live === undefined) {
      live = new Map();
      this.#live.set(timer, live);
    }
    // A timer set again keeps its entry: it only moves in the heap.
    let entry = live.get(txId);
    if (entry !== undefined) {
      this.#deadlines.remove(entry);
    } else {
      entry = { txId, timer, due: 0, heapIndex: -1 };
      live.set(txId, entry);
    }
    this.#deadlines.add(entry, ms);
  }

  clear(txId: TxId, timer: TimerName): void {
    const live = this.#live.get(timer);
    const entry = live?.get(txId);
    if (entry === undefined) return;
    live!.delete(txId);
    this.#deadlines.remove(entry);
  }

  /** Clears every timer. */
  clearAll(): void {
    this.#deadlines.clear();
    this.#live.clear();
  }
}
