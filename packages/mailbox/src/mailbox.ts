import { DeadlineHeap, realClock, type Clock } from "./deadlines.js";
import { Delivery, deliveryLoop, type Lease, type LeaseOwner } from "./delivery.js";
import { Deque } from "./deque.js";
import { AbortedError, BufferTooSmallError, InvalidArgumentError, TimeoutError } from "./errors.js";
import { describe } from "./check.js";
import { CreditAllocator, type InChannel } from "./flow.js";
import { parseReceiveOptions, type ManualReceiveOptions, type ReceiveOptions } from "./options.js";
import { Flag, decodeValue } from "./wire.js";
import type { DurableMailboxState, DurableStore } from "./durable.js";
import { Waits, type Wait, type WaitTimer } from "./wait.js";

/** @internal A message held by a mailbox: its bytes, its decoded value and where it came from. */
export interface StoredMessage {
  readonly payload: Buffer;
  readonly flags: number;
  readonly value: unknown;
  /** The sender channel, for taken acks; undefined for messages handed back by a remote receiver whose channel is gone. */
  readonly channel: InChannel | undefined;
  readonly seq: number;
  /** Position in the mailbox's arrival order: a message handed back goes back to its place. */
  readonly order: number;
  /** Times the message was given out with `ack: "manual"`. */
  attempts: number;
  /** With CURVE: the authenticated public key of the runtime that sent it. */
  readonly sender: string | undefined;
}

/** @internal A receiver waiting for a message: local (`value`, `into`) or a remote receiver's window (`remote`). */
export type Waiter = LocalWaiter | { kind: "remote"; credit: number; hand: (message: StoredMessage) => void };

/**
 * A local receive waiting: the promise's own resolve and reject, and what to undo when it
 * settles. A plain record, not closures around one: at a server's rate of receives, the
 * wrappers were a fifth of what a request allocated.
 */
interface LocalWaiter extends Wait {
  /** `"manual"`: a receive with `ack: "manual"`, resolving with a Delivery. */
  kind: "value" | "into" | "manual";
  /** `receiveInto`'s buffer. */
  buffer: Uint8Array | undefined;
  timeout: number;
  /** A manual receive's lease, in ms. */
  lease: number;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** @internal What a mailbox needs from its runtime. */
export interface MailboxHost {
  /** The runtime's timer, for receive timeouts. */
  readonly timer: WaitTimer;
  /** The channel's ack is due: its stored, taken or limit changed. */
  channelChanged(channel: InChannel): void;
  /** The allocator forgot a sender channel (silent too long, or its peer is gone). */
  channelForgotten?(channel: InChannel): void;
  /** Slots came free; the runtime calls `grant()` on its next flush. */
  needsGrant(mailbox: Mailbox): void;
  /** A message was taken by a receiver. */
  counted(what: "received"): void;
  /** `mailbox.close()` was called. */
  close(mailbox: Mailbox): void;
  /** The runtime's incarnation id: the prefix of delivery ids. */
  readonly id: string;
  /** Leases and nack delays run on it (tests pass a virtual one). @default realClock */
  readonly clock?: Clock;
  /** Stores `record` in the mailbox at `address` (until: "stored"). */
  deadLetter?(address: string, record: DeadLetter): Promise<void>;
}

/** What a dead-letter mailbox receives for a message that used up its attempts. */
export interface DeadLetter {
  reason: "max-attempts";
  /** Attempts the message had. */
  attempts: number;
  /** The address of the mailbox it came from. */
  mailbox: string;
  /** The message's id (as its deliveries had it). */
  id: string;
  /** The message, when it was sent as a value. */
  value?: unknown;
  /** The message, when it was sent as raw bytes. */
  bytes?: Buffer;
}

/** @internal Acknowledged receive settings of a mailbox. */
export interface AckSettings {
  maxAttempts: number;
  /** Full address of the dead-letter mailbox. */
  deadLetter: string | undefined;
}

const NO_ACK_SETTINGS: AckSettings = Object.freeze({ maxAttempts: Infinity, deadLetter: undefined });

/** A message's hold while a manual receiver has it, or while it waits out a nack's delay. */
interface Held extends Lease {
  readonly message: StoredMessage;
}

/** Per-mailbox figures from `stats()`. */
export interface MailboxStats {
  /** Messages in the mailbox, including those handed to remote receivers and not yet taken. */
  depth: number;
  capacity: number;
  /** Credit granted to senders and not yet used. */
  creditOutstanding: number;
  /** Sender channels the mailbox knows. */
  channels: number;
  /** Receivers waiting (a remote receiver counts once). */
  waiting: number;
  /** Messages handed to remote receivers and not yet taken. */
  inFlightRemote: number;
  /** Messages out with manual receivers, on a lease, not yet acked (they count in `depth`). */
  leased: number;
  /** Deliveries given again after a nack or a lease that ran out. */
  redelivered: number;
  /** Messages sent to the dead-letter mailbox. */
  deadLettered: number;
}

/**
 * A mailbox: a named queue with a capacity, owned by one runtime, addressed as
 * `name@endpoint`. Create one with `runtime.mailbox(name, { capacity })`.
 *
 * Receiving is atomic: a message goes whole to exactly one receiver, and receivers waiting
 * on one mailbox are served first come, first served.
 *
 * @example
 * const inbox = runtime.mailbox("inbox", { capacity: 100 });
 * for await (const message of inbox) console.log(message);
 */
export class Mailbox implements AsyncIterable<unknown> {
  readonly #host: MailboxHost;
  readonly #ack: AckSettings;
  /** Leases and nack delays; made on the first manual receive. */
  #leases: DeadlineHeap<Held> | undefined;
  /** What settles this mailbox's deliveries. */
  readonly #leaseOwner: LeaseOwner = {
    ack: (lease) => this.#ackLease(lease as Held),
    nack: (lease, delay) => this.#nackLease(lease as Held, delay),
    extend: (lease, ms) => this.#extendLease(lease as Held, ms),
    live: (lease) => lease.state === "leased" && this.#closed === undefined,
  };
  /** Messages leased, waiting out a nack's delay, or on their way to the dead-letter mailbox: still counted in depth. */
  #held = 0;
  #leased = 0;
  #redelivered = 0;
  #deadLettered = 0;
  readonly #queue = new Deque<StoredMessage>();
  readonly #waiters = new Deque<Waiter>();
  readonly #flow: CreditAllocator;
  readonly #waits: Waits<LocalWaiter>;
  #inFlightRemote = 0;
  #arrivals = 0;
  /** Durable mailboxes: the runtime's log. */
  readonly #durable: DurableStore | undefined;
  /** Delivery ids start with it: the runtime's id, or the data directory's for a durable mailbox (same across restarts). */
  readonly #idPrefix: string;
  /** Durable mailboxes: messages accepted and not yet on disk (counted in depth, not yet given out). */
  #unsaved = 0;
  /** Durable mailboxes: the current frame's accepted messages and seqs refused alone, to write together. */
  #frame: StoredMessage[] = [];
  #frameSkips: number[] = [];
  #closed: Error | undefined;

  /** Use `runtime.mailbox(name)`. */
  private constructor(
    /** The mailbox's name, unique in its runtime. */
    readonly name: string,
    /** `name@endpoint`: what senders send to. */
    readonly address: string,
    /** Most messages the mailbox holds (counting credit granted to senders). */
    readonly capacity: number,
    host: MailboxHost,
    ack: AckSettings,
    durable: DurableStore | undefined,
  ) {
    this.#host = host;
    this.#ack = ack;
    this.#durable = durable;
    this.#idPrefix = durable?.id ?? host.id;
    this.#flow = new CreditAllocator(capacity);
    this.#waits = new Waits<LocalWaiter>(
      host.timer,
      (w) => this.#giveUp(w, new TimeoutError(`no message in ${this.address} within ${w.timeout} ms`)),
      (w, signal) => this.#giveUp(w, new AbortedError(`receive on ${this.address} aborted`, { cause: signal.reason })),
    );
  }

  /** @internal The runtime creates its mailboxes with this (the constructor is private). */
  static create(name: string, address: string, capacity: number, host: MailboxHost, ack: AckSettings = NO_ACK_SETTINGS, durable?: DurableStore): Mailbox {
    return new Mailbox(name, address, capacity, host, ack, durable);
  }

  /** True for a mailbox whose messages are kept on stable storage (`durable: true`). */
  get durable(): boolean {
    return this.#durable !== undefined;
  }

  /** Messages held now (including those in flight to remote receivers, and those leased to manual receivers). */
  get depth(): number {
    return this.#queue.length + this.#inFlightRemote + this.#held + this.#unsaved;
  }

  /** True once the mailbox (or its runtime) is closed. */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /**
   * Waits until the mailbox has a message and takes it. Bytes sent raw come back as a
   * `Buffer`; anything else as the decoded MessagePack value.
   *
   * With `ack: "manual"` it resolves with a {@link Delivery}: the message stays in the mailbox
   * (and in its depth) until `delivery.ack()`; a nack or a lease that runs out gives it again.
   * @example
   * const order = await orders.receive({ timeout: 5000 });
   * const job = await jobs.receive({ ack: "manual", lease: 30_000 });
   * await handle(job.value);
   * job.ack();
   */
  receive(options: ManualReceiveOptions): Promise<Delivery>;
  receive(options?: ReceiveOptions): Promise<unknown>;
  receive(options?: ReceiveOptions): Promise<unknown> {
    const opts = this.#begin(options);
    if (opts instanceof Error) return Promise.reject(opts);
    if (opts.manual) return this.#receiveManual(opts.timeout, opts.signal, opts.lease);
    const head = this.#queue.shift();
    if (head !== undefined) {
      this.#taken(head.channel, head.seq, head.order);
      return Promise.resolve(head.value);
    }
    return this.#wait<unknown>(opts.timeout, opts.signal, undefined);
  }

  /**
   * Manual-ack deliveries, one at a time, until the mailbox or its runtime closes (or `signal`
   * aborts). Ending the loop (break, return, a throw) nacks the deliveries it gave that are
   * not settled yet, so they go to other receivers at once rather than when their lease runs out.
   * @example
   * for await (const d of jobs.deliveries({ lease: 30_000 })) {
   *   await handle(d.value);
   *   d.ack();
   * }
   */
  async *deliveries(options?: Omit<ReceiveOptions, "ack">): AsyncGenerator<Delivery, void, undefined> {
    const opts: ManualReceiveOptions = { ...options, ack: "manual" };
    yield* deliveryLoop(() => this.receive(opts), () => this.#closed !== undefined, opts.signal);
  }

  #receiveManual(timeout: number, signal: AbortSignal | undefined, lease: number): Promise<Delivery> {
    const head = this.#queue.shift();
    if (head !== undefined) return Promise.resolve(this.#lend(head, lease));
    return this.#wait<Delivery>(timeout, signal, undefined, lease);
  }

  /** Lends `message` to a manual receiver for `ms`: it stays counted until acked. */
  #lend(message: StoredMessage, ms: number): Delivery {
    const held = this.#hold(message, ms);
    return new Delivery(held, message.value, message.attempts, this.idOf(message), message.sender);
  }

  /** Puts `message` on a lease of `ms` (Infinity: none), counting the attempt. */
  #hold(message: StoredMessage, ms: number): Held {
    this.#held++;
    this.#leased++;
    const attempt = ++message.attempts;
    this.#durable?.attempt(this.name, message.order, attempt);
    if (attempt > 1) this.#redelivered++;
    const held: Held = { message, state: "leased", owner: this.#leaseOwner, due: Infinity, heapIndex: -1 };
    if (ms !== Infinity) this.#heap().add(held, ms);
    return held;
  }

  /** @internal The message's identity in this mailbox, the same on every attempt (and, for a durable mailbox, across restarts): deliveries and dead letters carry it. */
  idOf(message: StoredMessage): string {
    return `${this.#idPrefix}.${this.name}.${message.order}`;
  }

  /**
   * @internal A message handed to a remote receiver was taken there by a manual receive: it
   * stays in the mailbox on a lease of `ms` (Infinity: none). Settle it with the lease's
   * owner (`lease.owner.ack(lease)`, ...), as a local Delivery does.
   */
  remoteLend(message: StoredMessage, ms: number): Lease {
    this.#inFlightRemote--;
    return this.#hold(message, ms);
  }

  #heap(): DeadlineHeap<Held> {
    return (this.#leases ??= new DeadlineHeap<Held>((h) => this.#due(h), this.#host.clock ?? realClock));
  }

  /** A lease ran out (the message is given again), or a nack's delay is over. */
  #due(h: Held): void {
    if (h.state === "leased") {
      this.#giveBack(h, 0);
    } else if (h.state === "delayed") {
      h.state = "settled";
      this.#held--;
      this.#arrive(h.message, true);
    }
  }

  /** Delivery.ack(). */
  #ackLease(h: Held): boolean {
    // A closed mailbox dropped its messages: its deliveries are settled.
    if (h.state !== "leased" || this.#closed) return false;
    h.state = "settled";
    this.#leases?.remove(h);
    this.#held--;
    this.#leased--;
    this.#taken(h.message.channel, h.message.seq, h.message.order);
    return true;
  }

  /** Delivery.nack(). */
  #nackLease(h: Held, delay: number): boolean {
    // A closed mailbox dropped its messages: its deliveries are settled.
    if (h.state !== "leased" || this.#closed) return false;
    this.#leases?.remove(h);
    this.#giveBack(h, delay);
    return true;
  }

  /** Delivery.extend(). */
  #extendLease(h: Held, ms: number): boolean {
    // A closed mailbox dropped its messages: its deliveries are settled.
    if (h.state !== "leased" || this.#closed) return false;
    const heap = this.#heap();
    heap.remove(h);
    heap.add(h, ms);
    return true;
  }

  /**
   * A leased message comes back (nack or lease run out): to a receiver (after `delay`), or,
   * its attempts used up, to the dead-letter mailbox.
   */
  #giveBack(h: Held, delay: number): void {
    this.#leased--;
    const message = h.message;
    if (message.attempts >= this.#ack.maxAttempts && this.#ack.deadLetter !== undefined) {
      h.state = "settled";
      this.#toDeadLetter(message, this.#ack.deadLetter);
    } else if (delay > 0) {
      // Still held (counted in depth) while it waits.
      h.state = "delayed";
      this.#heap().add(h, delay);
    } else {
      h.state = "settled";
      this.#held--;
      this.#arrive(message, true);
    }
  }

  /**
   * Sends a message that used up its attempts to the dead-letter mailbox. It stays counted
   * here until that mailbox has stored it; if it cannot (no such mailbox, full for longer than
   * the send timeout), the message comes back here with its attempts counted from 0: never dropped.
   */
  #toDeadLetter(message: StoredMessage, address: string): void {
    const record: DeadLetter = { reason: "max-attempts", attempts: message.attempts, mailbox: this.address, id: this.idOf(message) };
    if (message.flags & Flag.Raw) record.bytes = message.payload;
    else record.value = message.value;
    const send = this.#host.deadLetter;
    const stored = send === undefined ? Promise.reject(new Error("no dead-letter sender")) : send(address, record);
    stored.then(
      () => {
        if (this.#closed) return;
        this.#held--;
        this.#deadLettered++;
        this.#taken(message.channel, message.seq, message.order);
      },
      () => {
        if (this.#closed) return;
        this.#held--;
        message.attempts = 0;
        this.#arrive(message, true);
      },
    );
  }

  /**
   * The textbook `receive(buffer, mbox)`: waits for a message, copies its bytes into `buffer`
   * and returns the length. A message larger than `buffer` rejects with
   * `BufferTooSmallError` and stays in the mailbox. Messages sent as values give their
   * MessagePack bytes.
   * @example
   * const buf = Buffer.alloc(1000);
   * const n = await inbox.receiveInto(buf);
   */
  receiveInto(buffer: Uint8Array, options?: ReceiveOptions): Promise<number> {
    if (!(buffer instanceof Uint8Array)) {
      return Promise.reject(new InvalidArgumentError(`Expected \`buffer\` to be a Uint8Array or Buffer, got ${describe(buffer)}`));
    }
    const opts = this.#begin(options);
    if (opts instanceof Error) return Promise.reject(opts);
    if (opts.manual) {
      return Promise.reject(new InvalidArgumentError('`receiveInto` takes no `ack: "manual"`: use `receive({ ack: "manual" })`, whose delivery has the value'));
    }
    const head = this.#queue.peek();
    if (head !== undefined) {
      if (head.payload.length > buffer.length) return Promise.reject(tooSmall(head, buffer));
      this.#queue.shift();
      buffer.set(head.payload);
      this.#taken(head.channel, head.seq, head.order);
      return Promise.resolve(head.payload.length);
    }
    return this.#wait<number>(opts.timeout, opts.signal, buffer);
  }

  /** Checks a receive's options and whether it may take anything: the options, or why not. */
  #begin(options: ReceiveOptions | undefined): ReturnType<typeof parseReceiveOptions> | Error {
    let opts: ReturnType<typeof parseReceiveOptions>;
    try {
      opts = parseReceiveOptions(options);
    } catch (error) {
      return error as Error;
    }
    if (this.#closed) return this.#closed;
    if (opts.signal?.aborted) return new AbortedError(`receive on ${this.address} aborted`, { cause: opts.signal.reason });
    return opts;
  }

  /** Receives messages until the mailbox or its runtime closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<unknown> {
    for (;;) {
      let message: unknown;
      try {
        message = await this.receive();
      } catch (error) {
        if (this.#closed) return;
        throw error;
      }
      yield message;
    }
  }

  /** @internal Figures for `runtime.stats()`. */
  stats(): MailboxStats {
    return {
      depth: this.depth,
      capacity: this.capacity,
      creditOutstanding: this.#flow.reserved,
      channels: this.#flow.channels.size,
      waiting: this.#waiters.length,
      inFlightRemote: this.#inFlightRemote,
      leased: this.#leased,
      redelivered: this.#redelivered,
      deadLettered: this.#deadLettered,
    };
  }

  #wait<T>(timeout: number, signal: AbortSignal | undefined, buffer: Uint8Array | undefined, lease?: number): Promise<T> {
    if (signal?.aborted) return Promise.reject(new AbortedError(`receive on ${this.address} aborted`, { cause: signal.reason }));
    return new Promise<T>((resolve, reject) => {
      const waiter: LocalWaiter = {
        kind: lease !== undefined ? "manual" : buffer === undefined ? "value" : "into",
        buffer,
        timeout,
        lease: lease ?? 0,
        resolve: resolve as (value: unknown) => void,
        reject,
        due: Infinity,
        heapIndex: -1,
        waits: undefined,
        unlisten: undefined,
      };
      this.#waits.start(waiter, timeout, signal);
      this.#waiters.push(waiter);
    });
  }

  /** A waiting receive ends without a message (its timeout or its signal). */
  #giveUp(waiter: LocalWaiter, error: Error): void {
    this.#waiters.remove(waiter);
    this.#release(waiter);
    waiter.reject(error);
  }

  /** Cancels what a waiting receive armed: its timeout and its abort listener. */
  #release(waiter: LocalWaiter): void {
    this.#waits.end(waiter);
  }

  /** The first waiter, a receive of a value, takes message `seq` of `ch`. */
  #serve(w: LocalWaiter, ch: InChannel | undefined, seq: number, order: number, value: unknown): void {
    this.#waiters.shift();
    this.#release(w);
    this.#taken(ch, seq, order);
    w.resolve(value);
  }

  /**
   * A taken message (`seq` of `ch`, `order` in this mailbox) frees its slot; its channel learns
   * it was taken. The one place a message leaves the mailbox for good: a durable mailbox
   * records it here.
   */
  #taken(ch: InChannel | undefined, seq: number, order: number): void {
    this.#durable?.taken(this.name, order);
    if (ch !== undefined && ch.markTaken(seq)) this.#host.channelChanged(ch);
    this.#host.counted("received");
    this.#host.needsGrant(this);
  }

  /** Gives a newly stored (or handed back) message to the first waiter that can take it, or queues it. */
  #arrive(message: StoredMessage, front: boolean): void {
    for (let w = this.#waiters.peek(); w !== undefined; w = this.#waiters.peek()) {
      switch (w.kind) {
        case "value":
          this.#serve(w, message.channel, message.seq, message.order, message.value);
          return;
        case "into": {
          this.#waiters.shift();
          this.#release(w);
          const buffer = w.buffer!;
          if (message.payload.length > buffer.length) {
            w.reject(tooSmall(message, buffer));
            continue;
          }
          buffer.set(message.payload);
          this.#taken(message.channel, message.seq, message.order);
          w.resolve(message.payload.length);
          return;
        }
        case "manual":
          this.#waiters.shift();
          this.#release(w);
          w.resolve(this.#lend(message, w.lease));
          return;
        case "remote":
          this.#waiters.shift();
          // A remote receiver with window left goes to the back of the line, behind local receivers.
          if (--w.credit > 0) this.#waiters.push(w);
          this.#inFlightRemote++;
          w.hand(message);
          return;
        default:
          throw new Error(`unknown waiter ${JSON.stringify(w satisfies never)}`);
      }
    }
    if (front) this.#putBack(message);
    else this.#queue.push(message);
  }

  /** Puts a handed-back message in its place by arrival order (usually the front). */
  #putBack(message: StoredMessage): void {
    let i = 0;
    while (i < this.#queue.length && this.#queue.at(i)!.order < message.order) i++;
    this.#queue.insert(i, message);
  }

  // ---- used by the runtime ----

  /**
   * @internal A sender opens (or probes) its channel. Returns undefined for a `base` beyond
   * what this owner stored on a channel it knows: a sender never holds less than the owner.
   */
  hello(key: string, peer: Buffer, base: number, want: number, probe: boolean, now: number): InChannel | undefined {
    let ch = this.#flow.channels.get(key);
    if (ch === undefined) {
      ch = this.#flow.open(key, peer, this.name, base, now);
      if (this.#durable !== undefined) ch.synced = ch.stored;
    } else if (base - 1 > ch.stored) {
      // A durable mailbox's acks only ever said what was on disk, so every seq up to base − 1
      // was stored, and those no longer here were taken: its channel state was forgotten while
      // some of its messages were still held, and a crash came (PROTOCOL.md 5.10.1, rule 6).
      if (this.#durable === undefined || ch.stored !== ch.synced) return undefined;
      this.#flow.revoke(ch);
      ch.stored = ch.limit = ch.taken = ch.synced = base - 1;
      ch.takenAbove = undefined;
    }
    ch.want = this.#flow.capWant(want);
    ch.lastHeard = now;
    // Asking again with no credit in hand starts a new lease; a hello cannot extend a lease
    // on credit the channel holds and does not use.
    if (ch.outstanding === 0) ch.lastUsed = now;
    ch.dormant = false;
    // A probe asks where things stand: the answer tells the sender to re-send what is missing.
    // A durable mailbox that is still writing the channel's messages says it once they are on
    // disk: an ack now could only say the older `synced`, and the sender would re-send them.
    if (probe && ch.synced !== undefined && ch.synced < ch.stored) ch.resendAt = ch.stored;
    else if (probe) ch.resend = true;
    ch.urgent = true;
    this.#host.channelChanged(ch);
    this.#host.needsGrant(this);
    return ch;
  }

  /**
   * @internal Message `seq` of `ch` was refused on its own (too large, not decodable): its
   * credit is used and it counts as taken, so that the messages after it flow on.
   */
  skip(ch: InChannel, seq: number): void {
    ch.stored = seq;
    this.#flow.used(ch);
    // A durable mailbox counts it taken once its channel record is on disk (see flushStored).
    if (this.#durable !== undefined) {
      this.#frameSkips.push(seq);
      return;
    }
    ch.markTaken(seq);
    this.#host.needsGrant(this);
  }

  /** @internal */
  channel(key: string): InChannel | undefined {
    return this.#flow.channels.get(key);
  }

  /** @internal Stores message `seq` of `ch` (the caller checked order and credit). */
  store(ch: InChannel, seq: number, flags: number, payload: Buffer, value: unknown, sender?: string): void {
    ch.stored = seq;
    ch.dormant = false;
    this.#flow.used(ch);
    const order = this.#arrivals++;
    if (this.#durable !== undefined) {
      // Given out only once on disk (flushStored): a receiver never sees a message that a
      // crash could take back.
      this.#unsaved++;
      this.#frame.push({ payload, flags, value, channel: ch, seq, order, attempts: 0, sender });
      return;
    }
    const w = this.#waiters.peek();
    if (w?.kind === "value") {
      // A receiver waits for it (a server's workers, a client's replies): no record of it is kept.
      this.#serve(w, ch, seq, order, value);
      return;
    }
    this.#arrive({ payload, flags, value, channel: ch, seq, order, attempts: 0, sender }, false);
  }

  /**
   * @internal The end of a `data` frame of `ch`: a durable mailbox writes what the frame
   * brought (one record per message, and the channel's seq for messages refused alone) and,
   * once that is on disk, gives the messages out and lets the ack say they are stored. Every
   * frame of one turn of the event loop shares one write and one sync (group commit).
   * Nothing for other mailboxes.
   */
  flushStored(ch: InChannel): void {
    const durable = this.#durable;
    if (durable === undefined || (this.#frame.length === 0 && this.#frameSkips.length === 0)) return;
    const messages = this.#frame;
    const skips = this.#frameSkips;
    this.#frame = [];
    this.#frameSkips = [];
    const stored = ch.stored;
    durable.stored(this.name, ch.peer, messages, stored).then(
      () => {
        if (this.#closed) return;
        ch.synced = Math.max(ch.synced ?? 0, stored);
        if (ch.resendAt !== undefined && ch.synced >= ch.resendAt) {
          ch.resend = true;
          ch.resendAt = undefined;
        }
        this.#unsaved -= messages.length;
        for (const m of messages) this.#arrive(m, false);
        for (const seq of skips) ch.markTaken(seq);
        this.#host.channelChanged(ch);
        if (skips.length > 0) this.#host.needsGrant(this);
      },
      // The log failed: the runtime stops (its `closed` says why). Nothing is acked.
      () => undefined,
    );
  }

  /**
   * @internal A durable mailbox takes back what the log holds: its messages, in their order,
   * with their attempts, and its sender channels. A channel comes back with
   * `stored = taken = limit =` the highest seq on disk: no credit, duplicates of what is on
   * disk are dropped, and the messages before count as taken, as their senders count them
   * once they see this owner's new incarnation (PROTOCOL.md 5.10). Returns the peers of the
   * channels it took back.
   */
  recover(state: DurableMailboxState, keyOf: (peer: Buffer) => string, now: number): Buffer[] {
    const channels = new Map<string, InChannel>();
    for (const c of state.channels.values()) {
      const key = keyOf(c.peer);
      const ch = this.#flow.open(key, c.peer, this.name, c.stored + 1, now);
      ch.synced = c.stored;
      ch.recovered = true;
      channels.set(c.peer.toString("latin1"), ch);
    }
    for (const l of [...state.live.values()].sort((a, b) => a.order - b.order)) {
      const peer = l.peer ?? l.channel?.peer;
      const message: StoredMessage = {
        payload: l.payload,
        flags: l.flags,
        value: decodeValue(l.payload, l.flags),
        channel: peer === undefined ? undefined : channels.get(peer.toString("latin1")),
        seq: l.seq,
        order: l.order,
        attempts: l.attempts,
        // The log does not keep the sender's CURVE key: a recovered message has none.
        sender: undefined,
      };
      state.live.set(l.order, message);
      this.#queue.push(message);
    }
    this.#arrivals = state.nextOrder;
    return [...channels.values()].map((ch) => ch.peer);
  }

  /** @internal Hands out free slots as credit. */
  grant(): void {
    if (this.#closed) return;
    const free = this.capacity - this.depth - this.#flow.reserved;
    this.#flow.grant(free, (ch) => this.#host.channelChanged(ch));
  }

  /**
   * @internal Revokes the credit of channels that have not used any for `leaseMs` (hearing
   * from a sender is not enough: a peer that asks for credit and never sends must not hold
   * the mailbox's capacity); forgets channels silent for `forgetMs`.
   */
  sweep(now: number, leaseMs: number, forgetMs: number): void {
    this.#flow.sweep(now, leaseMs, forgetMs, (ch) => {
      ch.urgent = true;
      this.#host.channelChanged(ch);
      this.#host.needsGrant(this);
    }, (ch) => {
      this.#durable?.forget(this.name, ch.peer);
      this.#host.channelForgotten?.(ch);
    });
    // New channels may wait on credit that others hold unused (see CreditAllocator.grant).
    this.#host.needsGrant(this);
  }

  /**
   * @internal A connection to this runtime broke: re-acknowledge the channels that hold credit and
   * were silent for `idleMs`. An ack to a peer that is gone cannot be routed, and its
   * credit then comes back (see `peerGone`); a live peer gets an ack it already had.
   */
  pokeIdleHolders(now: number, idleMs: number): void {
    for (const ch of this.#flow.idleHolders(now, idleMs)) {
      ch.urgent = true;
      this.#host.channelChanged(ch);
    }
  }

  /** @internal What the sender of `key` says it has waiting for credit (capped). */
  setWant(ch: InChannel, want: number): void {
    ch.want = this.#flow.capWant(want);
  }

  /**
   * @internal The peer of channel `key` is gone (an ack to it could not be routed): its credit
   * comes back at once. The channel is forgotten only if it never stored a message: otherwise
   * the sender, back on a new connection, may not have heard what was stored (the ack that
   * failed said so), and a reopened channel would store it again. Returns whether it was forgotten.
   */
  peerGone(key: string): boolean {
    const ch = this.#flow.channels.get(key);
    if (ch === undefined) return false;
    if (ch.outstanding > 0) {
      this.#flow.revoke(ch);
      this.#host.needsGrant(this);
    }
    if (!ch.blank) return false;
    this.#flow.forget(ch);
    this.#host.channelForgotten?.(ch);
    return true;
  }

  /** @internal A remote receiver asks for up to `credit` more messages. */
  addRemote(waiter: Extract<Waiter, { kind: "remote" }>): void {
    if (this.#closed) return;
    while (waiter.credit > 0) {
      const head = this.#queue.shift();
      if (head === undefined) break;
      waiter.credit--;
      this.#inFlightRemote++;
      waiter.hand(head);
    }
    if (waiter.credit > 0) this.#waiters.push(waiter);
  }

  /** @internal A remote receiver's window is gone (it closed, or its peer died). */
  removeRemote(waiter: Extract<Waiter, { kind: "remote" }>): void {
    this.#waiters.remove(waiter);
  }

  /** @internal A message handed to a remote receiver was taken there. */
  remoteTaken(message: StoredMessage): void {
    this.#inFlightRemote--;
    this.#taken(message.channel, message.seq, message.order);
  }

  /**
   * @internal Messages handed to a remote receiver come back: to waiting receivers, oldest
   * first, and the rest to their places in the mailbox by arrival order.
   */
  remoteReturned(messages: readonly StoredMessage[]): void {
    this.#inFlightRemote -= messages.length;
    if (this.#closed) return;
    for (const m of [...messages].sort((a, b) => a.order - b.order)) this.#arrive(m, true);
  }

  /**
   * Closes the mailbox and removes it from its runtime: waiting receivers reject with
   * `MailboxClosedError`, messages still in it are dropped, and senders are told there is no
   * such mailbox any more.
   */
  close(): void {
    this.#host.close(this);
  }

  /** @internal Closes the mailbox: waiters reject with `error`, held messages are dropped. Returns the channels to tell. */
  shutdown(error: Error): { channels: InChannel[]; dropped: number } {
    if (this.#closed) return { channels: [], dropped: 0 };
    this.#closed = error;
    for (const w of this.#waiters.drain()) {
      if (w.kind === "remote") continue;
      this.#release(w);
      w.reject(error);
    }
    // A durable mailbox's messages stay on disk: the runtime (or a mailbox of the same name)
    // takes them back when it starts again.
    const dropped = this.#queue.drain().length + this.#held + this.#unsaved;
    this.#unsaved = 0;
    this.#frame = [];
    this.#frameSkips = [];
    // Deliveries out can no longer be settled; a dead letter on its way is dropped with the rest.
    this.#leases?.clear();
    this.#held = this.#leased = 0;
    return { channels: [...this.#flow.channels.values()], dropped };
  }
}

function tooSmall(message: StoredMessage, buffer: Uint8Array): BufferTooSmallError {
  return new BufferTooSmallError(
    `the next message has ${message.payload.length} bytes, the buffer ${buffer.length}; the message stays in the mailbox`,
    message.payload.length,
  );
}

