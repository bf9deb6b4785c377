/**
 * The receiver's side of remote receive: `runtime.receive("name@other-endpoint")` takes from a
 * mailbox another runtime owns. The inbox asks the owner for a window of messages while
 * someone is receiving, hands each to exactly one local receiver, and tells the owner which
 * were taken. Messages it holds when receivers stop asking go back to the owner.
 *
 * Delivery rule (PROTOCOL.md, "Remote receive"): a message is taken once `receive` here has
 * returned it; the owner counts it as taken when the `taken` notice arrives. If this process
 * or its connection dies in between, the owner puts the message back and another receiver
 * gets it: that is the one case where a message is delivered twice.
 *
 * Epochs: if this process was too busy to keep in touch (a blocked event loop), the owner may
 * have taken the held messages back and handed them to someone else. The inbox then starts a
 * new epoch: it drops what it holds, and ignores deliveries of the old epoch still on the way;
 * the owner, on the new epoch's pull, takes back whatever the old epoch still had.
 *
 * Acknowledged receive (PROTOCOL.md 6.8): a manual receive takes a delivery as a Delivery and
 * reports it with `lease` rather than `taken`; the owner keeps the message on a lease bound to
 * this connection until a `settle` (ack or nack) arrives from here, the lease runs out, or this
 * receiver falls silent for the owner's `receiverTimeout`. The keep-alive runs while any
 * delivery is open, so a receiver busy with a long job does not lose its leases.
 */
import { Delivery, type Lease, type LeaseOwner } from "./delivery.js";
import { Deque } from "./deque.js";
import {
  AbortedError,
  BufferTooSmallError,
  InvalidArgumentError,
  NoSuchMailboxError,
  ForbiddenError,
  TimeoutError } from "./errors.js";
import { describe } from "./check.js";
import { parseReceiveOptions, type ReceiveOptions } from "./options.js";
import { Waits, type Wait, type WaitTimer } from "./wait.js";
import { Kind, NakCode, PROTOCOL_VERSION, SettleOp, decodeValue, encodeHeader, type Frame } from "./wire.js";

interface Delivered {
  /** The owner incarnation whose delivery id this is. */
  readonly rid: string;
  readonly id: number;
  readonly payload: Buffer;
  readonly value: unknown;
  /** The attempt it is if a manual receive takes it. */
  readonly attempt: number;
  /** The message's id in its mailbox (the same on every attempt). */
  readonly mid: string;
}

/** A manual receive's hold on a delivery: its lease runs at the owner; `due` is this side's estimate. */
interface RemoteLease extends Lease {
  readonly rid: string;
  /** The delivery id. */
  readonly id: number;
}

interface LocalWaiter extends Wait {
  buffer: Uint8Array | undefined;
  /** A manual receive's lease in ms; undefined for an auto receive. */
  lease: number | undefined;
  timeout: number;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** Waiting this many keep-alive intervals with nothing delivered starts a new epoch. */
const STARVED_PROBES = 5;

export interface InboxHost {
  /** The runtime's timer, for receive timeouts. */
  readonly timer: WaitTimer;
  readonly probeInterval: number;
  readonly window: number;
  /** A new epoch number, never used before by this runtime. */
  nextEpoch(): number;
  /** Queues a control frame to the owner. */
  control(frames: Buffer[]): void;
  /** The inbox has nothing to do any more; the runtime may drop it. */
  idle(inbox: RemoteInbox): void;
  counted(what: "received"): void;
}

export class RemoteInbox {
  readonly #host: InboxHost;
  readonly #held = new Deque<Delivered>();
  readonly #waiters = new Deque<LocalWaiter>();
  readonly #waits: Waits<LocalWaiter>;
  #epoch: number;
  /** The owner incarnation the delivery ids are from, once one arrived. */
  #rid = "";
  #seen = 0;
  #taken: number[] = [];
  /** Deliveries to lease (taken by manual receives, or extended), by lease ms (0: no expiry). */
  #leasing = new Map<number, number[]>();
  /** Acks and nacks not yet sent: `"ack"`, or the nack's delay. */
  #settling = new Map<"ack" | number, number[]>();
  /** Deliveries of manual receives not settled yet (acked, nacked, or run out here). */
  readonly #open = new Set<RemoteLease>();
  readonly #leaseOwner: LeaseOwner = {
    ack: (l) => this.#settle(l as RemoteLease, "ack"),
    nack: (l, delay) => this.#settle(l as RemoteLease, delay),
    extend: (l, ms) => this.#extend(l as RemoteLease, ms),
    live: (l) => this.#live(l as RemoteLease),
  };
  #flushing = false;
  /** A window is asked for (receivers are active). */
  #asking = false;
  /** When the keep-alive last ran: a long gap means this process was blocked. */
  #lastTick = 0;
  #lastUse = 0;
  /** When a delivery last arrived, or an epoch began. */
  #lastDelivery = 0;
  /** Epochs started in a row for want of deliveries. */
  #starved = 0;
  #timer: NodeJS.Timeout | undefined;
  #failed: Error | undefined;

  constructor(
    readonly mailbox: string,
    readonly address: string,
    host: InboxHost,
  ) {
    this.#host = host;
    this.#epoch = host.nextEpoch();
    this.#waits = new Waits<LocalWaiter>(
      host.timer,
      (w) => this.#giveUp(w, new TimeoutError(`no message from ${this.address} within ${w.timeout} ms`)),
      (w, signal) => this.#giveUp(w, new AbortedError(`receive on ${this.address} aborted`, { cause: signal.reason })),
    );
  }

  receive(options: ReceiveOptions | undefined, buffer: Uint8Array | undefined): Promise<unknown> {
    if (buffer !== undefined && !(buffer instanceof Uint8Array)) {
      return Promise.reject(new InvalidArgumentError(`Expected \`buffer\` to be a Uint8Array or Buffer, got ${describe(buffer)}`));
    }
    let parsed: ReturnType<typeof parseReceiveOptions>;
    try {
      parsed = parseReceiveOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { timeout, signal } = parsed;
    const lease = parsed.manual ? parsed.lease : undefined;
    if (lease !== undefined && buffer !== undefined) {
      return Promise.reject(new InvalidArgumentError('`receiveInto` takes no `ack: "manual"`: use `receive({ ack: "manual" })`, whose delivery has the value'));
    }
    if (this.#failed) return Promise.reject(this.#failed);
    if (signal?.aborted) return Promise.reject(new AbortedError(`receive on ${this.address} aborted`, { cause: signal.reason }));
    this.#lastUse = performance.now();
    this.#checkStale();
    const head = this.#held.peek();
    if (head !== undefined && this.#waiters.length === 0) {
      if (buffer !== undefined && head.payload.length > buffer.length) return Promise.reject(tooSmall(head, buffer));
      this.#held.shift();
      return Promise.resolve(this.#take(head, buffer, lease));
    }
    return new Promise((resolve, reject) => {
      const w: LocalWaiter = { buffer, lease, timeout, resolve, reject, due: Infinity, heapIndex: -1, waits: undefined, unlisten: undefined };
      this.#waits.start(w, timeout, signal);
      this.#waiters.push(w);
      this.#ask();
    });
  }

  /** A frame from the owner about this mailbox. */
  onFrame(f: Frame): void {
    if (f.kind === "nak") {
      const where = this.address.slice(this.mailbox.length + 1);
      this.fail(
        f.code === NakCode.Forbidden
          ? new ForbiddenError(`the mailbox "${this.mailbox}" at ${where} does not let this runtime receive: ${f.message}`)
          : new NoSuchMailboxError(`no mailbox "${this.mailbox}" at ${where}: ${f.message}`),
      );
      return;
    }
    if (f.kind !== "deliver") return;
    this.#checkStale();
    // Any delivery, even a stale one, shows the link is moving: no new epoch for starvation.
    this.#lastDelivery = performance.now();
    // A delivery of an old epoch: the owner takes it back when it sees the new epoch.
    if (f.epoch !== this.#epoch || this.#failed) return;
    this.#starved = 0;
    if (f.rid !== this.#rid) {
      // A new owner incarnation: ids start again; notices about the old one's mean nothing.
      this.#rid = f.rid;
      this.#seen = 0;
      this.#taken = [];
      // Leases of the old incarnation are gone with it (its messages may come again, from the new one).
      this.#leasing.clear();
      this.#settling.clear();
      for (const l of this.#open) l.state = "settled";
      this.#open.clear();
    }
    if (f.id > this.#seen) this.#seen = f.id;
    let value: unknown;
    try {
      value = decodeValue(f.body, f.flags);
    } catch {
      // The owner checked it when it was stored; one that fails here is counted taken and dropped.
      this.#taken.push(f.id);
      this.#flush();
      return;
    }
    const d: Delivered = { rid: f.rid, id: f.id, payload: f.body, value, attempt: f.attempt, mid: f.mid };
    if (!this.#asking) {
      // Nobody asks for it (any more): hand it straight back.
      this.#host.control([encodeHeader([PROTOCOL_VERSION, Kind.Release, this.mailbox, f.rid, [d.id]])]);
      return;
    }
    this.#held.push(d);
    this.#serve();
  }

  /** Ends the inbox: waiters reject with `error`; taken notices and held messages go to the owner now. */
  fail(error: Error): void {
    if (this.#failed) return;
    for (const w of this.#waiters.drain()) {
      this.#done(w);
      w.reject(error);
    }
    this.#handBack();
    // Open deliveries go back at once, to other receivers, rather than when their lease runs
    // out: nacked after the pull(0) of the hand-back, so the owner does not hand them back here.
    for (const l of this.#open) this.#settle(l, 0);
    this.#sendTaken();
    this.#failed = error;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#host.idle(this);
  }

  #serve(): void {
    for (let head = this.#held.peek(); head !== undefined; head = this.#held.peek()) {
      const w = this.#waiters.shift();
      if (w === undefined) return;
      this.#done(w);
      if (w.buffer !== undefined && head.payload.length > w.buffer.length) {
        w.reject(tooSmall(head, w.buffer));
        continue;
      }
      this.#held.shift();
      w.resolve(this.#take(head, w.buffer, w.lease));
    }
  }

  /** A local receive takes `d`: an auto one is reported `taken`, a manual one leased (`lease` ms). */
  #take(d: Delivered, buffer: Uint8Array | undefined, lease: number | undefined): unknown {
    if (lease !== undefined) return this.#lend(d, lease);
    if (d.rid === this.#rid) this.#taken.push(d.id);
    this.#host.counted("received");
    this.#flush();
    if (buffer === undefined) return d.value;
    buffer.set(d.payload);
    return d.payload.length;
  }

  #lend(d: Delivered, ms: number): Delivery {
    const l: RemoteLease = { rid: d.rid, id: d.id, state: "leased", owner: this.#leaseOwner, due: performance.now() + ms, heapIndex: -1 };
    if (d.rid === this.#rid) {
      this.#open.add(l);
      push(this.#leasing, ms === Infinity ? 0 : ms, d.id);
    } else {
      // Its owner incarnation is gone: nothing to settle it with.
      l.state = "settled";
    }
    this.#host.counted("received");
    this.#flush();
    const mid = d.mid === "" ? `${d.rid}.${this.mailbox}.d${d.id}` : d.mid;
    return new Delivery(l, d.value, d.attempt, mid);
  }

  /** Whether a delivery can still be settled: this side's estimate (the owner's lease rules). */
  #live(l: RemoteLease): boolean {
    if (l.state !== "leased") return false;
    if (this.#failed || l.rid !== this.#rid || performance.now() >= l.due) {
      l.state = "settled";
      this.#open.delete(l);
      return false;
    }
    return true;
  }

  /** Delivery.ack() (`"ack"`) and Delivery.nack() (the delay). */
  #settle(l: RemoteLease, how: "ack" | number): boolean {
    if (!this.#live(l)) return false;
    l.state = "settled";
    this.#open.delete(l);
    push(this.#settling, how, l.id);
    this.#flush();
    return true;
  }

  /** Delivery.extend(): the owner's lease runs out `ms` from when the frame arrives. */
  #extend(l: RemoteLease, ms: number): boolean {
    if (!this.#live(l)) return false;
    l.due = performance.now() + ms;
    push(this.#leasing, ms === Infinity ? 0 : ms, l.id);
    this.#flush();
    return true;
  }

  #done(w: LocalWaiter): void {
    this.#waits.end(w);
  }

  /** A waiting receive ends without a message (its timeout or its signal). */
  #giveUp(w: LocalWaiter, error: Error): void {
    this.#waiters.remove(w);
    this.#done(w);
    w.reject(error);
  }

  /**
   * Tells the owner what was taken, as soon as the code that took it yields (a microtask, not a
   * later turn of the event loop: a receive loop that never reaches the event loop, or blocks
   * it next, must not hold the notices back). The owner tops the window up on each notice.
   */
  #flush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    queueMicrotask(() => {
      this.#flushing = false;
      if (!this.#failed) this.#sendTaken();
    });
  }

  /** Sends the pending notices: taken, then leases, then settles (a lease before its own ack). */
  #sendTaken(): void {
    if (this.#taken.length > 0) {
      this.#host.control([encodeHeader([PROTOCOL_VERSION, Kind.Taken, this.mailbox, this.#rid, this.#taken])]);
      this.#taken = [];
    }
    if (this.#leasing.size > 0) {
      for (const [ms, ids] of this.#leasing) this.#host.control([encodeHeader([PROTOCOL_VERSION, Kind.Lease, this.mailbox, this.#rid, ids, ms])]);
      this.#leasing.clear();
    }
    if (this.#settling.size > 0) {
      for (const [how, ids] of this.#settling) {
        const fields = how === "ack" ? [SettleOp.Ack, ids] : [SettleOp.Nack, ids, how];
        this.#host.control([encodeHeader([PROTOCOL_VERSION, Kind.Settle, this.mailbox, this.#rid, ...fields])]);
      }
      this.#settling.clear();
    }
  }

  #ask(): void {
    if (!this.#asking) {
      this.#asking = true;
      this.#lastDelivery = performance.now();
      this.#pull(this.#host.window);
    }
    if (this.#timer === undefined) {
      this.#lastTick = performance.now();
      this.#timer = setInterval(() => this.#tick(), this.#host.probeInterval);
      this.#timer.unref();
    }
  }

  /** Asks for `window` messages; taken notices go first, so the owner never takes them for lost. */
  #pull(window: number): void {
    this.#sendTaken();
    const held = [...this.#held].filter((d) => d.rid === this.#rid).map((d) => d.id);
    this.#host.control([encodeHeader([PROTOCOL_VERSION, Kind.Pull, this.mailbox, window, this.#epoch, this.#rid, this.#seen, held])]);
  }

  /** Keep-alive while receiving; hand everything back once receivers stop asking. */
  #tick(): void {
    this.#checkStale();
    this.#lastTick = performance.now();
    const starvedAfter = STARVED_PROBES * 2 ** Math.min(this.#starved, 6) * this.#host.probeInterval;
    if (this.#waiters.length > 0 && this.#lastTick - this.#lastDelivery > starvedAfter) {
      // Waiting long with nothing arriving: deliveries may have been lost with a connection
      // (past what `seen` can tell). A new epoch makes the owner take back all in flight,
      // and deliveries of the old epoch still on their way are ignored: nothing comes twice.
      // Each starved epoch in a row waits twice as long, so a link slower than the threshold
      // still gets its deliveries through.
      this.#starved++;
      this.#newEpoch();
      return;
    }
    if (this.#waiters.length > 0 || this.#lastTick - this.#lastUse < this.#host.probeInterval) {
      this.#pull(this.#host.window);
      return;
    }
    for (const l of this.#open) this.#live(l);
    if (this.#open.size > 0) {
      // Deliveries are open: stop asking, but keep the window (and so their leases) alive.
      if (this.#asking) this.#handBack();
      else this.#pull(0);
      return;
    }
    this.#handBack();
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#host.idle(this);
  }

  /**
   * The keep-alive has not run for two intervals: this process was blocked, and the owner may
   * have given what this inbox holds to someone else. Start a new epoch rather than deliver it.
   */
  #checkStale(): void {
    if (this.#timer === undefined) return;
    if (performance.now() - this.#lastTick <= 2 * this.#host.probeInterval) return;
    this.#lastTick = performance.now();
    this.#newEpoch();
  }

  /** Drops what is held (the owner takes it back on the new epoch's pull) and starts afresh. */
  #newEpoch(): void {
    this.#held.drain();
    this.#epoch = this.#host.nextEpoch();
    this.#seen = 0;
    this.#lastDelivery = performance.now();
    this.#pull(this.#asking ? this.#host.window : 0);
  }

  /**
   * Stops asking and hands back what is held, on idle and on close alike (PROTOCOL 6.5): taken
   * notices first, so the pull does not make the owner take them for lost; then `pull(0)`, so
   * the owner withdraws the window before the release and does not hand a released message
   * straight back here; then the release.
   */
  #handBack(): void {
    this.#sendTaken();
    if (this.#asking) this.#pull(0);
    this.#asking = false;
    this.#releaseHeld();
  }

  #releaseHeld(): void {
    const ids = this.#held.drain().filter((d) => d.rid === this.#rid).map((d) => d.id);
    if (ids.length > 0) this.#host.control([encodeHeader([PROTOCOL_VERSION, Kind.Release, this.mailbox, this.#rid, ids])]);
  }
}

function push<K>(map: Map<K, number[]>, key: K, id: number): void {
  const ids = map.get(key);
  if (ids === undefined) map.set(key, [id]);
  else ids.push(id);
}

function tooSmall(d: Delivered, buffer: Uint8Array): BufferTooSmallError {
  return new BufferTooSmallError(
    `the next message has ${d.payload.length} bytes, the buffer ${buffer.length}; the message stays in the mailbox`,
    d.payload.length,
  );
}
