/**
 * The server's memory of requests it has run, by client id and request id, so that a
 * retried request never runs its handler twice:
 *
 *   first copy          -> not known: mark running, run the handler
 *   retry while running -> "running": join the run (its one reply answers both)
 *   retry after         -> "done": send the cached reply again
 *
 * Running entries are kept until they finish (there are at most `concurrency` of them, plus
 * the one the receive loop holds). Finished ones are bounded in number (`max`, oldest out
 * first) and in age (`ttl`): a retry that comes after its entry left runs the handler
 * again, so `ttl` should exceed the longest a client keeps retrying.
 */
export interface ReplyCacheOptions {
  /** Most finished replies kept. */
  max: number;
  /** A finished reply is forgotten this many ms after it was stored. */
  ttl: number;
  /** The clock, in ms (injected by tests). @default performance.now */
  now?: () => number;
}

export type CacheHit<V> = { state: "running" } | { state: "done"; value: V } | undefined;

/** A run in progress (`at` undefined) or finished, with the reply to send again. */
interface Entry<V> {
  readonly clientId: string;
  readonly requestId: number;
  value: V | undefined;
  /** When the run finished; undefined while it runs. */
  at: number | undefined;
  /** Replaced by a new run of the same request: no longer in its client's Map. */
  stale: boolean;
}

const RUNNING = Object.freeze({ state: "running" } as const);

export class ReplyCache<V> {
  /**
   * Runs in progress and finished ones, by client id, then request id: one lookup answers
   * `get`. Not one Map keyed by a string made of both: building and hashing that string for
   * every request, in a Map of `max` entries, cost 0.36 us a request against 0.21.
   */
  readonly #clients = new Map<string, Map<number, Entry<V>>>();
  /**
   * Finished entries in completion order, oldest first, read from `#head`. Kept beside the Map
   * because taking the oldest out of a Map by iterating it from the start costs time in the
   * number of entries deleted before it (V8 keeps them as holes until it rehashes): 14 us a
   * request at 10000 entries, where this queue costs well under 1.
   */
  #order: (Entry<V> | undefined)[] = [];
  #head = 0;
  #running = 0;
  #finished = 0;
  readonly #max: number;
  readonly #ttl: number;
  readonly #now: () => number;
  /** Finished entries dropped to stay within `max` or `ttl`. */
  evicted = 0;

  constructor(options: ReplyCacheOptions) {
    this.#max = options.max;
    this.#ttl = options.ttl;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Finished entries held. */
  get size(): number {
    return this.#finished;
  }

  /** Runs in progress. */
  get running(): number {
    return this.#running;
  }

  get(clientId: string, requestId: number): CacheHit<V> {
    const entry = this.#clients.get(clientId)?.get(requestId);
    if (entry === undefined) return undefined;
    if (entry.at === undefined) return RUNNING;
    const now = this.#now();
    if (now - entry.at > this.#ttl) {
      this.#expire(now);
      return undefined;
    }
    return { state: "done", value: entry.value as V };
  }

  /** The handler starts for the request. */
  start(clientId: string, requestId: number): void {
    this.#start(this.#requests(clientId), clientId, requestId);
  }

  /**
   * `get`, and when that finds nothing to answer with, `start`: what a server does with each
   * request, in one lookup.
   */
  begin(clientId: string, requestId: number): CacheHit<V> {
    const requests = this.#requests(clientId);
    const entry = requests.get(requestId);
    if (entry !== undefined) {
      if (entry.at === undefined) return RUNNING;
      const now = this.#now();
      if (now - entry.at <= this.#ttl) return { state: "done", value: entry.value as V };
    }
    this.#start(requests, clientId, requestId);
    return undefined;
  }

  #requests(clientId: string): Map<number, Entry<V>> {
    let requests = this.#clients.get(clientId);
    if (requests === undefined) {
      requests = new Map();
      this.#clients.set(clientId, requests);
    }
    return requests;
  }

  #start(requests: Map<number, Entry<V>>, clientId: string, requestId: number): void {
    const old = requests.get(requestId);
    if (old !== undefined) {
      if (old.at === undefined) return;
      // Finished before and run again: the old entry leaves the order where it stands, without
      // its reply.
      old.stale = true;
      old.value = undefined;
      this.#finished--;
    }
    requests.set(requestId, { clientId, requestId, value: undefined, at: undefined, stale: false });
    this.#running++;
  }

  /**
   * The handler for the request finished with `value` (the reply to send again on a retry). A
   * finished entry gets the new value and keeps its age.
   */
  finish(clientId: string, requestId: number, value: V): void {
    let entry = this.#clients.get(clientId)?.get(requestId);
    if (entry?.at !== undefined) {
      entry.value = value;
      return;
    }
    if (entry === undefined) {
      this.start(clientId, requestId);
      entry = this.#clients.get(clientId)!.get(requestId)!;
    }
    this.#running--;
    this.#finished++;
    const now = this.#now();
    entry.value = value;
    entry.at = now;
    this.#order.push(entry);
    this.#expire(now);
  }

  /** The run for the request ended without a reply to keep (cancelled): a retry runs it again. */
  abandon(clientId: string, requestId: number): void {
    const entry = this.#clients.get(clientId)?.get(requestId);
    if (entry === undefined || entry.at !== undefined) return;
    this.#delete(entry);
    this.#running--;
  }

  #delete(entry: Entry<V>): void {
    const requests = this.#clients.get(entry.clientId)!;
    requests.delete(entry.requestId);
    if (requests.size === 0) this.#clients.delete(entry.clientId);
  }

  #expire(now: number): void {
    const oldest = now - this.#ttl;
    const order = this.#order;
    while (this.#head < order.length) {
      const entry = order[this.#head]!;
      if (!entry.stale) {
        if (this.#finished <= this.#max && entry.at! >= oldest) break;
        this.#delete(entry);
        this.#finished--;
        this.evicted++;
      }
      // Let go of the entry and its reply now: the slots before #head go only when the queue is
      // compacted (below), and until then they would keep as many replies again as `max` allows
      // (at least 1,024) beyond it.
      order[this.#head] = undefined;
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > order.length) {
      this.#order = order.slice(this.#head);
      this.#head = 0;
    }
  }
}
