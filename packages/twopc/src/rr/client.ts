/**
 * The client side of request-response: the textbook two lines
 *
 *   send("read rutabaga", server_mbox);
 *   receive(response, client_mbox);
 *
 * with the request wrapped in an envelope (client id, request id, reply address), a reply
 * mailbox per client, correlation of replies to requests, and retries on timeout.
 */
import { randomBytes } from "node:crypto";
import { AbortedError, ClosedError, InvalidArgumentError, TimeoutError } from "@zmbox/mailbox";
import { WaitTimer, Waits, type Wait } from "@zmbox/mailbox/internal";
import type { Mailbox, Runtime, SendOptions } from "@zmbox/mailbox";
import { addressOf, checkMailbox, checkRuntime } from "../check.js";
import { RemoteError, RequestTimeoutError } from "./errors.js";
import { MAX_WAITING_RECEIVES, parseClientOptions, parseRequestOptions, type ClientOptions, type ParsedRequestOptions, type RequestOptions } from "./options.js";
import { compactRequest, parseReply, type CompactRequest } from "./wire.js";

/** Figures from {@link Client.stats}. */
export interface ClientStats {
  /** Requests started. */
  requests: number;
  /** Requests answered (with a value or a `RemoteError`). */
  replies: number;
  /** Attempts after the first (retries sent). */
  retries: number;
  /** Requests that gave up with `RequestTimeoutError`. */
  timeouts: number;
  /** Replies that came after their request had ended (timed out, aborted, or already answered): discarded. */
  late: number;
  /** Messages in the reply mailbox that were not replies to this client: discarded. */
  badReplies: number;
  /** Requests waiting for a reply now. */
  inFlight: number;
}

/** A request waiting for its reply. */
interface Pending extends Wait {
  readonly requestId: number;
  readonly envelope: CompactRequest;
  readonly to: string | Mailbox;
  /** Every attempt's send options. */
  readonly sendOptions: SendOptions;
  readonly timeout: number;
  readonly retries: number;
  readonly signal: AbortSignal | undefined;
  readonly started: number;
  attempts: number;
  resolve: (body: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * A client with its own reply mailbox (`rr.reply.<id>` in its runtime). Requests carry a
 * random client id (new per Client, so a restarted process never collides with its previous
 * life in a server's reply cache) and a request id counting up from 1.
 *
 * @example
 * const rt = await Runtime.start();
 * const client = new Client(rt);
 * const content = await client.request("read rutabaga", "files@tcp://10.0.0.5:5555", { timeout: 2000, retries: 2 });
 * client.close();
 */
export class Client implements Disposable {
  /** Random per client; with the request id it keys the server's reply cache. */
  readonly id: string;
  /** The reply mailbox's address: where servers send replies. */
  readonly address: string;
  readonly #runtime: Runtime;
  readonly #mailbox: Mailbox;
  readonly #pending = new Map<number, Pending>();
  /** The attempts' timeouts, on one timer, and the requests' signals. */
  readonly #waits = new Waits<Pending>(
    new WaitTimer(),
    (p) => this.#onTimeout(p),
    (p, signal) => this.#settle(p, new AbortedError(`request to ${addressOf(p.to)} aborted`, { cause: signal.reason })),
  );
  readonly #counts = { requests: 0, replies: 0, retries: 0, timeouts: 0, late: 0, badReplies: 0 };
  #nextId = 0;
  /** Receives waiting on the reply mailbox (see #listen). */
  #receiving = 0;
  #closed: Error | undefined;

  constructor(runtime: Runtime, options?: ClientOptions) {
    this.#runtime = checkRuntime(runtime);
    this.id = `c${randomBytes(8).toString("hex")}`;
    const { name, capacity } = parseClientOptions(options, this.id);
    this.#mailbox = runtime.mailbox(name, { capacity });
    this.address = this.#mailbox.address;
    this.#listen();
  }

  /** True once `close()` was called or the runtime closed. */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /**
   * Sends `body` to the server mailbox `server` and resolves with the reply's body. Each
   * attempt waits `timeout` ms; then the same request (same id) is sent again, up to
   * `retries` times.
   *
   * Rejects with `RemoteError` when the handler threw (its message, `code` and name),
   * `NoSuchMailboxError` at once when the server has no such mailbox, `RequestTimeoutError`
   * when no attempt got a reply, `AbortedError` when `signal` aborts, `ClosedError` when the
   * client or runtime closes.
   * @example
   * const answer = await client.request({ op: "read", file: "rutabaga" }, server, { timeout: 1000, retries: 3 });
   */
  request<Res = unknown>(body: unknown, server: string | Mailbox, options?: RequestOptions): Promise<Res> {
    try {
      return this.#start(body, checkMailbox("server", server), parseRequestOptions(options)) as Promise<Res>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #start(body: unknown, to: string | Mailbox, { timeout, retries, signal }: ParsedRequestOptions): Promise<unknown> {
    if (body === undefined) throw new InvalidArgumentError("Expected a request body (any MessagePack-encodable value), got `undefined`");
    if (this.#closed) throw this.#closed;
    if (signal?.aborted) throw new AbortedError(`request to ${addressOf(to)} aborted`, { cause: signal.reason });
    return new Promise((resolve, reject) => {
      const requestId = ++this.#nextId;
      // "queued", and told if the mailbox turns out not to exist: a missing service fails at
      // once (NoSuchMailboxError) without an ack awaited for every request. ("stored" sends cost
      // the server an ack frame per batch: 6-8% of the throughput at 64 requests in flight.)
      const onUndeliverable = (error: Error): void => this.#settle(p, error);
      const p: Pending = {
        requestId,
        envelope: compactRequest(this.id, requestId, this.address, body),
        to,
        sendOptions: signal ? { until: "queued", timeout, signal, onUndeliverable } : { until: "queued", timeout, onUndeliverable },
        timeout,
        retries,
        signal,
        started: performance.now(),
        attempts: 0,
        due: Infinity,
        heapIndex: -1,
        waits: undefined,
        unlisten: undefined,
        resolve,
        reject,
      };
      this.#pending.set(requestId, p);
      this.#counts.requests++;
      this.#listen();
      // The signal for the whole request (one listener per signal however many requests share
      // it: Node warns past 10); the timeout for each attempt (#attempt).
      this.#waits.start(p, Infinity, signal);
      this.#attempt(p);
    });
  }

  /** Sends the request (again, with the same id) and waits `timeout` for the reply. */
  #attempt(p: Pending): void {
    p.attempts++;
    if (p.timeout !== Infinity) this.#waits.restart(p, p.timeout);
    // A send that waits for room in the outbox past the attempt's timeout, or is aborted, only
    // ends this attempt; anything else (no such mailbox, refused, closed) ends the request. A
    // message may still arrive after its attempt timed out: the retry carries the same id, so
    // the server runs the handler once.
    this.#runtime.send(p.envelope, p.to, p.sendOptions).catch((error: Error) => {
      if (!(error instanceof TimeoutError || error instanceof AbortedError)) this.#settle(p, error);
    });
  }

  /** No reply within the attempt's time: try again, or give up. */
  #onTimeout(p: Pending): void {
    if (p.attempts <= p.retries) {
      this.#counts.retries++;
      this.#attempt(p);
      return;
    }
    this.#counts.timeouts++;
    this.#settle(p, new RequestTimeoutError(addressOf(p.to), p.requestId, p.attempts, performance.now() - p.started, p.timeout));
  }

  /** Ends a request with its reply's body or with `error`; a reply that comes later is late. */
  #settle(p: Pending, error: Error | undefined, body?: unknown): void {
    if (!this.#pending.delete(p.requestId)) return;
    this.#waits.end(p);
    if (error) p.reject(error);
    else p.resolve(body);
  }

  /**
   * Counters and the requests in flight.
   * @example
   * const { late, retries } = client.stats(); // late: replies discarded after their request ended
   */
  stats(): ClientStats {
    return { ...this.#counts, inFlight: this.#pending.size };
  }

  /**
   * Closes the reply mailbox; requests in flight reject with `ClosedError`. Servers that
   * still answer get "no such mailbox" for their replies, which they count and drop.
   * @example
   * using client = new Client(rt); // closed at the end of the scope
   */
  close(): void {
    if (this.#closed) return;
    this.#fail(new ClosedError(`the client ${this.address} is closed`));
    this.#mailbox.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #fail(error: Error): void {
    this.#closed ??= error;
    for (const p of this.#pending.values()) this.#settle(p, error);
  }

  /**
   * `receive(response, client_mbox)`, once per request in flight (at least once, for late
   * replies; at most MAX_WAITING_RECEIVES), each reply matched to its request by id. One loop taking replies one at a time
   * would hand them on one microtask apart, and the next requests would then go out one frame
   * each; with a receive waiting per request, the replies that arrive together are handed on
   * together, and the requests they free go out together in one frame.
   */
  #listen(): void {
    while (this.#receiving < Math.max(1, Math.min(this.#pending.size, MAX_WAITING_RECEIVES)) && !this.#closed) {
      this.#receiving++;
      this.#mailbox.receive().then(this.#onMessage, this.#onStop);
    }
  }

  readonly #onMessage = (message: unknown): void => {
    this.#receiving--;
    this.#onReply(message);
    this.#listen();
  };

  readonly #onStop = (error: Error): void => {
    this.#receiving--;
    this.#fail(error instanceof ClosedError ? error : new ClosedError(`the client ${this.address} stopped: ${error.message}`, { cause: error }));
  };

  #onReply(message: unknown): void {
    const reply = parseReply(message);
    if (reply === undefined || reply.clientId !== this.id) {
      this.#counts.badReplies++;
      return;
    }
    const p = this.#pending.get(reply.requestId);
    if (p === undefined) {
      // Its request timed out, was aborted, or was answered already (a retry's reply): harmless.
      this.#counts.late++;
      return;
    }
    this.#counts.replies++;
    if (reply.ok) this.#settle(p, undefined, reply.body);
    else this.#settle(p, new RemoteError(reply.error, addressOf(p.to), p.requestId));
  }
}

const clients = new WeakMap<Runtime, Client>();

/**
 * Sends a request with the runtime's default client (one reply mailbox per runtime, made on
 * first use). See {@link Client.request}.
 * @example
 * const { send, receive } = rt;
 * const content = await request(rt, "read rutabaga", "files@tcp://127.0.0.1:5555");
 */
export function request<Res = unknown>(runtime: Runtime, body: unknown, server: string | Mailbox, options?: RequestOptions): Promise<Res> {
  try {
    const rt = checkRuntime(runtime);
    let client = clients.get(rt);
    if (client === undefined || client.closed) {
      client = new Client(rt);
      clients.set(rt, client);
    }
    return client.request<Res>(body, server, options);
  } catch (error) {
    return Promise.reject(error);
  }
}
