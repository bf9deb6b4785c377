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

export class ReplyCache<V> {
  readonly #running = new Set<string>();
  readonly #done = new Map<string, { value: V; at: number }>();
  /**
   * Finished entries in completion order, oldest first, read from `#head`. Kept beside the Map
   * because taking the oldest out of a Map by iterating it from the start costs time in the
   * number of entries deleted before it (V8 keeps them as holes until it rehashes): 14 us a
   * request at 10000 entries, where this queue costs well under 1.
   */
  #order: { key: string; at: number }[] = [];
  #head = 0;
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
    return this.#done.size;
  }

  /** Runs in progress. */
  get running(): number {
    return this.#running.size;
  }

  get(key: string): CacheHit<V> {
    if (this.#running.has(key)) return { state: "running" };
    const entry = this.#done.get(key);
    if (entry === undefined) return undefined;
    if (this.#now() - entry.at > this.#ttlMs) {
      this.#expire();
      return undefined;
    }
    return { state: "done", value: entry.value };
  }

  /** The handler starts for `key`. */
  start(key: string): void {
    this.#running.add(key);
  }

  /** The handler for `key` finished with `value` (the reply to send again on a retry). */
  finish(key: string, value: V): void {
    this.#running.delete(key);
    const at = this.#now();
    this.#done.set(key, { value, at });
    this.#order.push({ key, at });
    this.#expire();
  }

  /** The run for `key` ended without a reply to keep (cancelled): a retry runs it again. */
  abandon(key: string): void {
    this.#running.delete(key);
  }

  #expire(): void {
    const oldest = this.#now() - this.#ttlMs;
    const order = this.#order;
    while (this.#head < order.length) {
      const item = order[this.#head]!;
      const entry = this.#done.get(item.key);
      // An entry finished again later (a replaced reply) has a newer place in the queue.
      if (entry !== undefined && entry.at === item.at) {
        if (this.#done.size <= this.#max && item.at >= oldest) break;
        this.#done.delete(item.key);
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
