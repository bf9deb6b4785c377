/**
 * The server's memory of requests it has run, keyed by client id + request id, so that a
 * retried request never runs its handler twice:
 *
 *   first copy          -> not known: mark running, run the handler
 *   retry while running -> "running": join the run (its one reply answers both)
 *   retry after         -> "done": send the cached reply again
 *
 * Running entries are kept until they finish (there are at most `concurrency` of them, plus
 * the one the receive loop holds). Finished ones are bounded in number (`max`, oldest out
 * first) and in age (`ttlMs`): a retry that comes after its entry left runs the handler
 * again, so `ttlMs` should exceed the longest a client keeps retrying.
 */
export interface ReplyCacheOptions {
  /** Most finished replies kept. */
  max: number;
  /** A finished reply is forgotten this many ms after it was stored. */
  ttlMs: number;
  /** The clock, in ms (injected by tests). @default performance.now */
  now?: () => number;
}

export type CacheHit<V> = { state: "running" } | { state: "done"; value: V } | undefined;

/** A run in progress (`at` undefined) or finished, with the reply to send again. */
interface Entry<V> {
  readonly key: string;
  value: V | undefined;
  /** When the run finished; undefined while it runs. */
  at: number | undefined;
  /** Replaced by a new run of the same key: no longer in the Map. */
  stale: boolean;
}

const RUNNING = Object.freeze({ state: "running" } as const);

export class ReplyCache<V> {
  /** Runs in progress and finished ones: one lookup answers `get`. */
  readonly #entries = new Map<string, Entry<V>>();
  /**
   * Finished entries in completion order, oldest first, read from `#head`. Kept beside the Map
   * because taking the oldest out of a Map by iterating it from the start costs time in the
   * number of entries deleted before it (V8 keeps them as holes until it rehashes): 14 us a
   * request at 10000 entries, where this queue costs well under 1.
   */
  #order: Entry<V>[] = [];
  #head = 0;
  #running = 0;
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** Finished entries dropped to stay within `max` or `ttlMs`. */
  evicted = 0;

  constructor(options: ReplyCacheOptions) {
    this.#max = options.max;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? (() => performance.now());
  }

  static key(clientId: string, requestId: number): string {
    return `${clientId}\n${requestId}`;
  }

  /** Finished entries held. */
  get size(): number {
    return this.#entries.size - this.#running;
  }

  /** Runs in progress. */
  get running(): number {
    return this.#running;
  }

  get(key: string): CacheHit<V> {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.at === undefined) return RUNNING;
    const now = this.#now();
    if (now - entry.at > this.#ttlMs) {
      this.#expire(now);
      return undefined;
    }
    return { state: "done", value: entry.value as V };
  }

  /** The handler starts for `key`. */
  start(key: string): void {
    const old = this.#entries.get(key);
    if (old !== undefined) {
      if (old.at === undefined) return;
      // Finished before and run again: the old entry leaves the order where it stands.
      old.stale = true;
    }
    this.#entries.set(key, { key, value: undefined, at: undefined, stale: false });
    this.#running++;
  }

  /**
   * The handler for `key` finished with `value` (the reply to send again on a retry). A
   * finished entry gets the new value and keeps its age.
   */
  finish(key: string, value: V): void {
    let entry = this.#entries.get(key);
    if (entry?.at !== undefined) {
      entry.value = value;
      return;
    }
    if (entry === undefined) {
      entry = { key, value, at: undefined, stale: false };
      this.#entries.set(key, entry);
    } else {
      this.#running--;
    }
    const now = this.#now();
    entry.value = value;
    entry.at = now;
    this.#order.push(entry);
    this.#expire(now);
  }

  /** The run for `key` ended without a reply to keep (cancelled): a retry runs it again. */
  abandon(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.at !== undefined) return;
    this.#entries.delete(key);
    this.#running--;
  }

  #expire(now: number): void {
    const oldest = now - this.#ttlMs;
    const order = this.#order;
    while (this.#head < order.length) {
      const entry = order[this.#head]!;
      if (!entry.stale) {
        if (this.size <= this.#max && entry.at! >= oldest) break;
        this.#entries.delete(entry.key);
        this.evicted++;
      }
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > order.length) {
      this.#order = order.slice(this.#head);
      this.#head = 0;
    }
  }
}
