/**
 * Deadlines on one timer: a binary min-heap of items by due time, with a single setTimeout
 * armed for the earliest. The runtime's send and receive timeouts use it (through
 * `Deadlines`), and so do `@zmbox/twopc`'s request attempts and a 2PC node's protocol timers
 * (a participant holds one for every transaction it remembers). A setTimeout and clearTimeout
 * each cost more, and the items taken out before they are due, nearly all of them, never touch
 * the timer. The items are the caller's own records (intrusive): adding one allocates nothing.
 *
 * The timer is re-armed only when an earlier deadline comes in or it fires, and is unref'd
 * while no deadline is pending, so that it never keeps the process alive on its own.
 */
export interface Timed {
  /** When it is due, in the heap's clock's ms (`performance.now()` by default). */
  due: number;
  /** Its place in the heap; -1 when it is not in it. */
  heapIndex: number;
}

/** Node's setTimeout fires at once for more than this (and warns). */
const MAX_DELAY = 2 ** 31 - 1;

/** A timer a {@link Clock} armed: Node's `Timeout`, or a virtual one. */
export interface ClockTimer {
  /** Keeps the process alive while the timer is pending (a no-op on a virtual clock). */
  ref(): unknown;
  /** Lets the process exit although the timer is pending (a no-op on a virtual clock). */
  unref(): unknown;
}

/**
 * Time and one-shot timers, injected so that tests and the simulator can drive deadlines in
 * virtual time. {@link realClock} is `performance.now()` and Node's timers.
 */
export interface Clock {
  /** The current time in ms (any origin; only differences matter). */
  now(): number;
  /** Calls `run` once, `ms` ms from now, unless cleared first. */
  setTimeout(run: () => void, ms: number): ClockTimer;
  /** Cancels a timer from `setTimeout`; a no-op for one already fired or cleared. */
  clearTimeout(timer: ClockTimer): void;
}

/** The real clock: `performance.now()`, `setTimeout` and `clearTimeout`. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

export class DeadlineHeap<T extends Timed> {
  readonly #heap: T[] = [];
  readonly #onDue: (item: T) => void;
  readonly #clock: Clock;
  #timer: ClockTimer | undefined;
  #armedAt = Infinity;

  /**
   * `onDue` is called with each item whose deadline has passed (it is out of the heap by then).
   * `clock` gives the time and arms the one timer; tests and the simulator pass a virtual one.
   */
  constructor(onDue: (item: T) => void, clock: Clock = realClock) {
    this.#onDue = onDue;
    this.#clock = clock;
  }

  /** Makes `item` due in `ms` ms. */
  add(item: T, ms: number): void {
    item.due = this.#clock.now() + ms;
    item.heapIndex = this.#heap.length;
    this.#heap.push(item);
    this.#up(item.heapIndex);
    if (item.due < this.#armedAt) this.#arm(item.due);
    else this.#timer!.ref();
  }

  /** Takes `item` out; a no-op when it is not in. */
  remove(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    item.heapIndex = -1;
    const last = this.#heap.pop()!;
    if (last !== item) {
      this.#heap[i] = last;
      last.heapIndex = i;
      this.#down(i);
      this.#up(last.heapIndex);
    }
    // The timer stays armed (it may fire for nothing), but no longer holds the process.
    if (this.#heap.length === 0) this.#timer?.unref();
  }

  /** Takes every item out; none of them fires. */
  clear(): void {
    for (const item of this.#heap) item.heapIndex = -1;
    this.#heap.length = 0;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
  }

  /** Items in the heap. */
  get size(): number {
    return this.#heap.length;
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#armedAt = at;
    this.#timer = this.#clock.setTimeout(this.#fire, Math.min(MAX_DELAY, Math.max(1, Math.ceil(at - this.#clock.now()))));
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#armedAt = Infinity;
    const now = this.#clock.now();
    for (let first = this.#heap[0]; first !== undefined && first.due <= now; first = this.#heap[0]) {
      this.remove(first);
      this.#onDue(first);
    }
    const first = this.#heap[0];
    if (first !== undefined) this.#arm(first.due);
  };

  #up(i: number): void {
    const h = this.#heap;
    const item = h[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent]!;
      if (p.due <= item.due) break;
      h[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    h[i] = item;
    item.heapIndex = i;
  }

  #down(i: number): void {
    const h = this.#heap;
    const item = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && h[r]!.due < h[l]!.due ? r : l;
      const child = h[c]!;
      if (child.due >= item.due) break;
      h[i] = child;
      child.heapIndex = i;
      i = c;
    }
    h[i] = item;
    item.heapIndex = i;
  }
}

/** A deadline of {@link Deadlines}: calls `fire` when due. */
export interface Deadline extends Timed {
  readonly fire: () => void;
}

/** Deadlines that each call their own function, on one {@link DeadlineHeap}. */
export class Deadlines {
  readonly #heap: DeadlineHeap<Deadline>;

  constructor(clock: Clock = realClock) {
    this.#heap = new DeadlineHeap<Deadline>((deadline) => deadline.fire(), clock);
  }

  /** How many deadlines are pending. */
  get size(): number {
    return this.#heap.size;
  }

  /** Calls `fire` after `ms` milliseconds unless cancelled first. */
  add(ms: number, fire: () => void): Deadline {
    const deadline: Deadline = { fire, due: 0, heapIndex: -1 };
    this.#heap.add(deadline, ms);
    return deadline;
  }

  /** Removes a deadline so it never fires; a no-op for one already gone. */
  cancel(deadline: Deadline | undefined): void {
    if (deadline !== undefined) this.#heap.remove(deadline);
  }

  /** Drops every deadline without firing it. */
  clear(): void {
    this.#heap.clear();
  }
}
