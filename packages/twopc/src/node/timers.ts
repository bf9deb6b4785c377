import type { TimerName } from "../twopc/events.js";
import type { TxId } from "../twopc/types.js";

/**
 * The machines' timers: at most one per (transaction, timer name). Timers of one duration end
 * in the order they were set, so each duration keeps a FIFO and one Node timer for its head.
 *
 * A participant remembers every finished transaction for `rememberMs`, and at 64 transactions
 * in flight finishes about 10,000 a second: most of its timers are `forget` timers of one
 * duration. A Node `setTimeout` for each, with its closure and a string key, held about 300
 * bytes of heap per remembered transaction (measured); an entry here holds about 60.
 */
interface Entry {
  readonly txId: TxId;
  readonly timer: TimerName;
  /** Due time in whole ms of `now()` (a small integer is stored unboxed). */
  readonly at: number;
  /** The duration: the queue it is in. */
  readonly ms: number;
  /** Cleared, replaced or fired: skipped when it reaches the head of its queue. */
  dead: boolean;
}

interface Queue {
  entries: Entry[];
  /** Index of the first entry still in the queue. */
  head: number;
  timer: NodeJS.Timeout | undefined;
  /** Its due entries are being fired: a timer set meanwhile is armed after them. */
  firing: boolean;
}

export class Timers {
  /** Live entries by timer name, then transaction: the transaction id needs no new key string. */
  readonly #live = new Map<TimerName, Map<TxId, Entry>>();
  readonly #queues = new Map<number, Queue>();
  readonly #fire: (txId: TxId, timer: TimerName) => void;
  readonly #now: () => number;

  /** `fire` is called when a timer is due. */
  constructor(fire: (txId: TxId, timer: TimerName) => void, now: () => number = () => performance.now()) {
    this.#fire = fire;
    this.#now = now;
  }

  /** Timers set and not yet fired or cleared. */
  get size(): number {
    let n = 0;
    for (const live of this.#live.values()) n += live.size;
    return n;
  }

  /** Sets `timer` of `txId` to fire in `ms`, replacing the one set before. */
  set(txId: TxId, timer: TimerName, ms: number): void {
    let live = this.#live.get(timer);
    if (live === undefined) {
      live = new Map();
      this.#live.set(timer, live);
    }
    const old = live.get(txId);
    if (old !== undefined) this.#kill(old);
    const entry: Entry = { txId, timer, at: Math.ceil(this.#now() + ms), ms, dead: false };
    live.set(txId, entry);
    let queue = this.#queues.get(ms);
    if (queue === undefined) {
      queue = { entries: [], head: 0, timer: undefined, firing: false };
      this.#queues.set(ms, queue);
    }
    queue.entries.push(entry);
    if (queue.timer === undefined && !queue.firing) this.#arm(queue, ms);
  }

  clear(txId: TxId, timer: TimerName): void {
    const live = this.#live.get(timer);
    const entry = live?.get(txId);
    if (entry === undefined) return;
    live!.delete(txId);
    this.#kill(entry);
  }

  /** Clears every timer. */
  clearAll(): void {
    for (const queue of this.#queues.values()) clearTimeout(queue.timer);
    this.#queues.clear();
    this.#live.clear();
  }

  /**
   * Marks `entry` dead. If it was first in its queue, the Node timer moves on to the next live
   * entry, or stops: a timer that was cleared never wakes the event loop (a coordinator clears
   * a vote timer for every transaction).
   */
  #kill(entry: Entry): void {
    entry.dead = true;
    const queue = this.#queues.get(entry.ms);
    if (queue === undefined || queue.firing || queue.entries[queue.head] !== entry) return;
    while (queue.head < queue.entries.length && queue.entries[queue.head]!.dead) queue.head++;
    clearTimeout(queue.timer);
    queue.timer = undefined;
    if (queue.head === queue.entries.length) {
      this.#queues.delete(entry.ms);
      return;
    }
    compact(queue);
    this.#arm(queue, entry.ms);
  }

  #arm(queue: Queue, ms: number): void {
    const first = queue.entries[queue.head]!;
    queue.timer = setTimeout(() => this.#expire(queue, ms), Math.max(0, first.at - this.#now()));
  }

  /** Fires every live entry that is due, in order, then arms the Node timer for the next one. */
  #expire(queue: Queue, ms: number): void {
    queue.timer = undefined;
    queue.firing = true;
    const now = this.#now();
    try {
      while (queue.head < queue.entries.length) {
        const entry = queue.entries[queue.head]!;
        if (!entry.dead && entry.at > now) break;
        queue.head++;
        if (entry.dead) continue;
        entry.dead = true;
        this.#live.get(entry.timer)?.delete(entry.txId);
        this.#fire(entry.txId, entry.timer);
        // What fired may have cleared every timer (the node stopped).
        if (this.#queues.get(ms) !== queue) return;
      }
    } finally {
      queue.firing = false;
    }
    if (queue.head === queue.entries.length) {
      this.#queues.delete(ms);
      return;
    }
    compact(queue);
    this.#arm(queue, ms);
  }
}

/** Drops the entries before the head once they are most of the array. */
function compact(queue: Queue): void {
  if (queue.head > 1024 && queue.head * 2 > queue.entries.length) {
    queue.entries = queue.entries.slice(queue.head);
    queue.head = 0;
  }
}
