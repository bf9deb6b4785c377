/**
 * Waits that end with a result, a timeout or an abort: a receive waiting for a message, a send
 * waiting for its ack, a request waiting for its reply. Every wait ends exactly one way, and
 * whatever ends it disarms the rest.
 *
 * The wait is the caller's own record (intrusive): its timeout goes on a {@link WaitTimer}'s
 * heap as it is, so arming one allocates nothing but the abort listener, and only when there
 * is a signal. Many waits share one timer (one per runtime): a setTimeout per wait cost more.
 *
 * @example
 * interface Receive extends Wait { resolve(value: unknown): void; reject(error: Error): void }
 * const waits = new Waits<Receive>(timer, (r) => r.reject(new TimeoutError("...")), (r, signal) => r.reject(new AbortedError("...", { cause: signal.reason })));
 * // A wait not armed: heapIndex -1 (written out, not spread: this is a hot path).
 * const r: Receive = { resolve, reject, due: Infinity, heapIndex: -1, waits: undefined, unlisten: undefined };
 * waits.start(r, timeout, signal); // the caller checked signal.aborted first
 * // ... a message comes (the timeout and abort callbacks call waits.end(r) too):
 * waits.end(r);
 * r.resolve(message);
 */
import { listen } from "./abort.js";
import { DeadlineHeap, type Timed } from "./deadlines.js";

/** The fields a wait's record carries; {@link Waits.start} and {@link Waits.end} manage them. */
export interface Wait extends Timed {
  /** Whose `onTimeout` the wait calls; set while its timeout is armed. */
  waits: { timedOut(wait: Wait): void } | undefined;
  /** Stops listening to the wait's signal; set while one is armed. */
  unlisten: (() => void) | undefined;
}

/** One timer for the timeouts of many waits (of any {@link Waits}). */
export class WaitTimer {
  /** @internal */
  readonly heap = new DeadlineHeap<Wait>((wait) => wait.waits!.timedOut(wait));

  /** Waits with a timeout armed. */
  get size(): number {
    return this.heap.size;
  }

  /** Disarms every timeout; none of them fires. */
  clear(): void {
    this.heap.clear();
  }
}

/** Starts and ends waits of one kind, with the callbacks that end them by timeout and by abort. */
export class Waits<T extends Wait> {
  readonly #timer: WaitTimer;
  readonly #onTimeout: (wait: T) => void;
  readonly #onAbort: (wait: T, signal: AbortSignal) => void;

  /**
   * `onTimeout` and `onAbort` are called when a wait's timeout passes or its signal aborts,
   * with what fired already disarmed: a callback that ends the wait calls {@link end} (a
   * timeout that starts a retry may {@link restart} instead, and the signal stays armed).
   * `timer` is shared by all the waits of a runtime.
   */
  constructor(timer: WaitTimer, onTimeout: (wait: T) => void, onAbort: (wait: T, signal: AbortSignal) => void) {
    this.#timer = timer;
    this.#onTimeout = onTimeout;
    this.#onAbort = onAbort;
  }

  /**
   * Arms `wait`: it times out after `timeout` ms (`Infinity`: never) and aborts with `signal`.
   * The caller checks `signal.aborted` first.
   */
  start(wait: T, timeout: number, signal: AbortSignal | undefined): void {
    if (timeout !== Infinity) this.restart(wait, timeout);
    if (signal !== undefined) wait.unlisten = listen(signal, () => this.#abort(wait, signal));
  }

  /** Arms `wait`'s timeout again, `ms` from now (a retry); its signal stays armed. */
  restart(wait: T, ms: number): void {
    wait.waits = this;
    const heap = this.#timer.heap;
    heap.remove(wait);
    heap.add(wait, ms);
  }

  /** Disarms `wait`: neither its timeout nor its signal calls back. A no-op for one not armed. */
  end(wait: T): void {
    this.#timer.heap.remove(wait);
    const unlisten = wait.unlisten;
    if (unlisten !== undefined) {
      wait.unlisten = undefined;
      unlisten();
    }
  }

  /** @internal Called by the timer: the wait is out of the heap. */
  timedOut(wait: Wait): void {
    this.#onTimeout(wait as T);
  }

  #abort(wait: T, signal: AbortSignal): void {
    // The signal's listeners are gone once it fired.
    wait.unlisten = undefined;
    this.#onAbort(wait, signal);
  }
}
