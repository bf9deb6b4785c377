/** Options of `serve`, `Client` and `request`, their defaults, and the one parse function for each. */
import { checkInteger, checkName, checkOptions, checkSignal } from "@zmbox/mailbox/internal";

/** Options of {@link serve}. */
export interface ServeOptions {
  /**
   * Most handlers running at once (a p-queue limit). The server takes a new request from its
   * mailbox only when a slot is free, so requests it cannot run yet stay in the mailbox,
   * where the mailbox's window holds the clients back.
   * @default 16
   */
  concurrency?: number;
  /** Bounds of the reply cache that de-duplicates retried requests. */
  replyCache?: {
    /**
     * Most finished replies kept.
     * @default 10000
     */
    max?: number;
    /**
     * A finished reply is kept this many ms; a retry later than that runs the handler again.
     * Make it longer than clients keep retrying (`timeout × (retries + 1)`).
     * @default 60000
     */
    ttl?: number;
  };
  /**
   * How long sending a reply may wait for room in this runtime's outbox to the client, in ms.
   * Replies are sent `until: "queued"`: a lost reply is recovered by the client's retry.
   * @default 5000
   */
  replyTimeout?: number;
  /**
   * Cancels the server: it stops taking requests, and handlers see `context.signal` abort.
   * A handler that then throws sends no reply and leaves no cache entry, so the client's
   * retry runs it again (here after a restart, or at another server on the same mailbox).
   */
  signal?: AbortSignal;
}

/** @internal */
export const DEFAULT_CONCURRENCY = 16;

/**
 * Most receives a server or client keeps waiting at once: enough to take every message of a
 * frame together (the runtime carries up to 64 messages a frame by default); more would only
 * cost memory.
 * @internal
 */
export const MAX_WAITING_RECEIVES = 64;
/** @internal */
export const DEFAULT_CACHE_MAX = 10_000;
/** @internal */
export const DEFAULT_CACHE_TTL_MS = 60_000;
/** @internal */
export const DEFAULT_REPLY_TIMEOUT = 5000;

/** @internal */
export interface ParsedServeOptions {
  concurrency: number;
  cacheMax: number;
  cacheTtlMs: number;
  replyTimeout: number;
  signal: AbortSignal | undefined;
}

/** @internal */
export function parseServeOptions(options: unknown): ParsedServeOptions {
  const o = checkOptions(options, "serve", ["concurrency", "replyCache", "replyTimeout", "signal"]);
  const cache = checkOptions(o.replyCache, "replyCache", ["max", "ttl"]);
  return {
    concurrency: checkInteger("concurrency", o.concurrency, DEFAULT_CONCURRENCY, 1),
    cacheMax: checkInteger("replyCache.max", cache.max, DEFAULT_CACHE_MAX, 1),
    cacheTtlMs: checkInteger("replyCache.ttl", cache.ttl, DEFAULT_CACHE_TTL_MS, 1),
    replyTimeout: checkInteger("replyTimeout", o.replyTimeout, DEFAULT_REPLY_TIMEOUT, 0, true),
    signal: checkSignal("signal", o.signal),
  };
}

/** Options of {@link Client}. */
export interface ClientOptions {
  /**
   * The reply mailbox's name in the client's runtime.
   * @default `rr.reply.<client id>`
   */
  name?: string;
  /**
   * The reply mailbox's capacity. More requests than this may be in flight; replies beyond
   * it wait at the servers for room.
   * @default 1000
   */
  capacity?: number;
}

/** @internal */
export const DEFAULT_REPLY_CAPACITY = 1000;

/** @internal */
export function parseClientOptions(options: unknown, id: string): Required<ClientOptions> {
  const o = checkOptions(options, "client", ["name", "capacity"]);
  return {
    name: checkName("name", o.name, `rr.reply.${id}`),
    capacity: checkInteger("capacity", o.capacity, DEFAULT_REPLY_CAPACITY, 1),
  };
}

/** Options of {@link Client.request} and {@link request}. */
export interface RequestOptions {
  /**
   * How long each attempt waits for the reply, in ms (the send to the server included).
   * The request gives up after `timeout × (retries + 1)` ms with `RequestTimeoutError`.
   * @default 5000
   */
  timeout?: number;
  /**
   * How many times the request is sent again when an attempt gets no reply in time. Every
   * attempt carries the same request id: the server runs the handler at most once and
   * answers a retry from its reply cache.
   * @default 2
   */
  retries?: number;
  /** Aborts the request: it rejects with the runtime's `AbortedError`; a later reply is discarded. */
  signal?: AbortSignal;
}

/** @internal */
export const DEFAULT_REQUEST_TIMEOUT = 5000;
/** @internal */
export const DEFAULT_RETRIES = 2;

/** @internal */
export interface ParsedRequestOptions {
  timeout: number;
  retries: number;
  signal: AbortSignal | undefined;
}

/** @internal */
export function parseRequestOptions(options: unknown): ParsedRequestOptions {
  if (options === undefined) return { timeout: DEFAULT_REQUEST_TIMEOUT, retries: DEFAULT_RETRIES, signal: undefined };
  const o = checkOptions(options, "request", ["timeout", "retries", "signal"]);
  return {
    timeout: checkInteger("timeout", o.timeout, DEFAULT_REQUEST_TIMEOUT, 1, true),
    retries: checkInteger("retries", o.retries, DEFAULT_RETRIES, 0),
    signal: checkSignal("signal", o.signal),
  };
}
