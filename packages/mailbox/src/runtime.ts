/**
 * The runtime: one bound ZeroMQ Router that owns this process's mailboxes, and one Peer
 * (a Dealer) per remote endpoint for what it sends. See PROTOCOL.md for the frames.
 */
import { randomBytes } from "node:crypto";
import * as zmq from "zeromq";
import { checkMailboxName, formatAddress, parseAddress, type MailboxAddress } from "./address.js";
import { Deadlines } from "./deadlines.js";
import { Deque } from "./deque.js";
import {
  ClosedError,
  EncodeError,
  InvalidArgumentError,
  MailboxClosedError,
  MailboxExistsError,
  MessageTooLargeError,
} from "./errors.js";
import type { InChannel } from "./flow.js";
import { Mailbox, type MailboxHost, type MailboxStats, type StoredMessage } from "./mailbox.js";
import {
  parseMailboxOptions,
  parseRuntimeOptions,
  parseSendOptions,
  type MailboxOptions,
  type ParsedRuntimeOptions,
  type ReceiveOptions,
  type RuntimeOptions,
  type SendOptions,
} from "./options.js";
import { Peer, type PeerCounters } from "./peer.js";
import { RemoteInbox } from "./remote-inbox.js";
import { RemoteWindow } from "./remote-window.js";
import { Flag, Kind, NakCode, PROTOCOL_VERSION, Refusal, bodyParts, decodeFrame, decodeValue, EncodedMessage, encodeHeader, encodeValue, type Frame } from "./wire.js";

/** How long an ack that nobody waits on may be held back to be gathered with later ones. */
const ACK_DELAY_MS = 5;

/**
 * Encodes `value` as `send` would, once: the result can be sent any number of times, to any
 * mailboxes, without encoding it again (a broadcast, or a reply kept to answer retries).
 * @throws EncodeError if `value` cannot be encoded as MessagePack (or is `undefined`).
 * @example
 * const tick = encodeMessage({ type: "tick", at: Date.now() });
 * await Promise.all(subscribers.map((mbox) => rt.send(tick, mbox)));
 */
export function encodeMessage(value: unknown): EncodedMessage {
  if (value === undefined) throw new EncodeError("Expected a message (any MessagePack-encodable value, or bytes), got `undefined`");
  try {
    return encodeValue(value);
  } catch (error) {
    throw new EncodeError(`could not encode the message as MessagePack: ${(error as Error).message}`, { cause: error });
  }
}

/** Figures from {@link Runtime.stats}. */
export interface RuntimeStats {
  endpoint: string;
  /** This incarnation's id. */
  id: string;
  mailboxes: Record<string, MailboxStats>;
  /** Messages forwarded to their destination the first time. */
  sent: number;
  /** Messages forwarded again (after a lost connection or a refusal). */
  retransmitted: number;
  /** Messages stored in this runtime's mailboxes. */
  stored: number;
  /** Messages taken by receivers (local and remote) from this runtime's side. */
  received: number;
  /** Copies of messages already stored, dropped. */
  duplicates: number;
  /** "queued" sends that failed after returning (e.g. no such mailbox). */
  undeliverable: number;
  /** Messages in this runtime's outboxes, not yet stored at their destination. */
  outbox: number;
  /** Frames or messages dropped, by reason (see `Refusal`). */
  refused: Record<string, number>;
  /** Acks and deliveries ZeroMQ could not hand to a peer at once (dropped; acks are re-sent on the next probe). */
  unsent: number;
}

interface OutFrame {
  frames: Buffer[];
  onFail: (() => void) | undefined;
}

/**
 * A mailbox runtime. Start one per process (or more), create mailboxes, send and receive.
 *
 * `send`, `receive` and `receiveInto` are bound, so the notes' loops read as written:
 * @example
 * const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
 * const { send, receive } = rt;
 * const inbox = rt.mailbox("inbox", { capacity: 100 });
 * await send({ hello: "world" }, inbox.address);         // until: "stored"
 * console.log(await receive(inbox));                      // { hello: 'world' }
 * await rt.close();
 */
export class Runtime implements AsyncDisposable {
  /** This incarnation's id: new every start, so peers can tell a restart. */
  readonly id: string;
  /** The bound endpoint, with the real port when port 0 was asked for. */
  readonly endpoint: string;
  readonly #options: ParsedRuntimeOptions;
  readonly #router: zmq.Router;
  readonly #deadlines = new Deadlines();
  readonly #mailboxes = new Map<string, Mailbox>();
  readonly #peers = new Map<string, Peer>();
  readonly #windows = new Map<string, RemoteWindow>();
  readonly #inboxes = new Map<string, RemoteInbox>();
  readonly #out = new Deque<OutFrame>();
  readonly #addresses = new Map<string, MailboxAddress>();
  /** The address #parse parsed last, and what it gave. */
  #lastAddress = "";
  #lastParsed: MailboxAddress | undefined;
  readonly #dirty = new Set<InChannel>();
  readonly #grants = new Set<Mailbox>();
  /** Channels whose ack may wait a little (see #flush). */
  readonly #lazy = new Set<InChannel>();
  #lazyTimer: NodeJS.Timeout | undefined;
  readonly #counters: PeerCounters & { stored: number; received: number; duplicates: number; unsent: number } = {
    sent: 0, retransmitted: 0, undeliverable: 0, refused: {}, stored: 0, received: 0, duplicates: 0, unsent: 0,
  };
  readonly #mailboxHost: MailboxHost;
  readonly #sweepTimer: NodeJS.Timeout;
  #flushScheduled = false;
  /** Delivery ids to remote receivers: unique in this incarnation. */
  #deliveryId = 0;
  #epochs = 0;
  #writing = false;
  #closing: Promise<void> | undefined;
  #closed: ClosedError | undefined;

  private constructor(options: ParsedRuntimeOptions, router: zmq.Router, id: string) {
    this.#options = options;
    this.#router = router;
    this.id = id;
    this.endpoint = router.lastEndpoint ?? options.endpoint;
    this.#mailboxHost = {
      deadlines: this.#deadlines,
      channelChanged: (ch) => this.#channelChanged(ch),
      needsGrant: (mb) => {
        this.#grants.add(mb);
        this.#scheduleFlush();
      },
      counted: () => this.#counters.received++,
      close: (mb) => this.#closeMailbox(mb),
    };
    this.#sweepTimer = setInterval(() => this.#sweep(), Math.max(50, Math.floor(Math.min(options.creditLease, options.probeInterval) / 2)));
    this.#sweepTimer.unref();
    void this.#read();
  }

  /**
   * Starts a runtime bound to `options.endpoint`.
   * @example
   * const rt = await Runtime.start({ endpoint: "ipc:///tmp/orders.sock" });
   */
  static async start(options?: RuntimeOptions): Promise<Runtime> {
    const o = parseRuntimeOptions(options);
    const id = `r${randomBytes(8).toString("hex")}`;
    const router = new zmq.Router({
      // No silent drops: an ack to a peer that is gone fails, and is counted.
      mandatory: true,
      // A peer that reconnects with the same routing id takes over its old connection.
      handover: true,
      // Never block the one writer on a slow peer: acks are cumulative, the next one replaces it.
      sendTimeout: 0,
      sendHighWaterMark: 10_000,
      // What is queued when close() ends (after it waited for its acks to be handed over) gets
      // a moment to reach the wire, no more.
      linger: 100,
      heartbeatInterval: o.heartbeatInterval,
      heartbeatTimeout: o.heartbeatInterval * 3,
      heartbeatTimeToLive: o.heartbeatInterval * 3,
      maxMessageSize: o.maxMessageSize + 65536,
    });
    try {
      await router.bind(o.endpoint.replace(/:0$/, ":*"));
    } catch (error) {
      router.close();
      throw new InvalidArgumentError(`Could not bind ${o.endpoint}: ${(error as Error).message}`, { cause: error });
    }
    return new Runtime(o, router, id);
  }

  /**
   * Creates a mailbox owned by this runtime.
   * @throws MailboxExistsError if the name is taken.
   * @example
   * const orders = rt.mailbox("orders", { capacity: 1000 });
   * orders.address; // "orders@tcp://127.0.0.1:41234"
   */
  mailbox(name: string, options?: MailboxOptions): Mailbox {
    checkMailboxName(name);
    const { capacity } = parseMailboxOptions(options);
    if (this.#closed) throw this.#closed;
    if (this.#mailboxes.has(name)) throw new MailboxExistsError(`a mailbox "${name}" already exists in ${this.endpoint}`);
    const mb = new Mailbox(name, formatAddress(name, this.endpoint), capacity, this.#mailboxHost);
    this.#mailboxes.set(name, mb);
    return mb;
  }

  /**
   * Sends `message` to the mailbox `mbox` (`name@endpoint`, or a Mailbox). Resolves at the
   * point `until` names: `"queued"`, `"stored"` (default) or `"received"`.
   * Messages are any MessagePack-encodable value; a Buffer or Uint8Array travels as raw bytes;
   * an `EncodedMessage` (see {@link encodeMessage}) travels as the value it was made from.
   * @example
   * await rt.send({ sku: "rutabaga", qty: 3 }, "orders@tcp://127.0.0.1:7001", { until: "received", timeout: 5000 });
   */
  readonly send = (message: unknown, mbox: string | Mailbox, options?: SendOptions): Promise<void> => {
    try {
      const parsed = parseSendOptions(options, this.#options.sendTimeout);
      if (this.#closed) return Promise.reject(this.#closed);
      const address = mbox instanceof Mailbox ? mbox.address : mbox;
      const { name, endpoint } = this.#parse(address);
      if (message === undefined) {
        throw new InvalidArgumentError("Expected a message (any MessagePack-encodable value, or bytes), got `undefined`");
      }
      const encoded = message instanceof EncodedMessage ? message : encodeMessage(message);
      if (encoded.payload.length > this.#options.maxMessageSize) {
        throw new MessageTooLargeError(`the message has ${encoded.payload.length} bytes; maxMessageSize is ${this.#options.maxMessageSize}`);
      }
      return this.#peer(endpoint).send(name, address, encoded.payload, encoded.flags, parsed);
    } catch (error) {
      return Promise.reject(error);
    }
  };

  /**
   * Waits until the mailbox has a message and takes it. `mbox` is a Mailbox, or an address:
   * of this runtime, or of another one (remote receive: competing consumers across processes).
   * @example
   * const order = await rt.receive("orders@tcp://10.0.0.5:7001", { timeout: 5000 });
   */
  readonly receive = (mbox: string | Mailbox, options?: ReceiveOptions): Promise<unknown> => {
    try {
      const target = this.#target(mbox);
      return target instanceof Mailbox ? target.receive(options) : target.receive(options, undefined);
    } catch (error) {
      return Promise.reject(error);
    }
  };

  /**
   * The notes' `receive(buffer, mbox)`: copies the next message's bytes into `buffer` and
   * returns the length; a message too big rejects with `BufferTooSmallError` and stays.
   */
  readonly receiveInto = (buffer: Uint8Array, mbox: string | Mailbox, options?: ReceiveOptions): Promise<number> => {
    try {
      const target = this.#target(mbox);
      return target instanceof Mailbox ? target.receiveInto(buffer, options) : (target.receive(options, buffer) as Promise<number>);
    } catch (error) {
      return Promise.reject(error);
    }
  };

  /** Per-mailbox depth, capacity and credit, and the runtime's counters. */
  stats(): RuntimeStats {
    const mailboxes: Record<string, MailboxStats> = {};
    for (const [name, mb] of this.#mailboxes) mailboxes[name] = mb.stats();
    let outbox = 0;
    for (const p of this.#peers.values()) outbox += p.outstanding;
    const c = this.#counters;
    return {
      endpoint: this.endpoint, id: this.id, mailboxes, sent: c.sent, retransmitted: c.retransmitted, stored: c.stored,
      received: c.received, duplicates: c.duplicates, undeliverable: c.undeliverable, outbox, refused: { ...c.refused }, unsent: c.unsent,
    };
  }

  /**
   * Closes the runtime gracefully: new operations reject with `ClosedError`; queued messages
   * get up to `drainTimeout` ms to be stored at their destinations; then every pending send
   * and receive settles (rejecting with `ClosedError`), and every socket and timer is closed,
   * so the process can exit on its own.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    this.#closed = new ClosedError(`the runtime at ${this.endpoint} is closed`);
    const until = performance.now() + this.#options.drainTimeout;
    while (performance.now() < until && [...this.#peers.values()].some((p) => p.outstanding > 0)) {
      await new Promise((r) => setTimeout(r, 5));
    }
    // Remote receivers tell their owners what was taken and hand back what they hold, before
    // the connections close: otherwise the owner would deliver those again.
    for (const inbox of [...this.#inboxes.values()]) inbox.fail(this.#closed);
    await Promise.all([...this.#peers.values()].map((p) => p.flushControls(200)));
    for (const p of this.#peers.values()) p.close(this.#closed);
    for (const ch of this.#lazy) this.#dirty.add(ch);
    this.#flush(true);
    for (const mb of this.#mailboxes.values()) mb.shutdown(this.#closed);
    // The last acks (for messages stored just now) leave before the router closes: otherwise
    // their senders would wait out their own drainTimeout for them.
    await new Promise((r) => setImmediate(r));
    const flushed = performance.now() + 200;
    while ((this.#out.length > 0 || this.#writing) && performance.now() < flushed) await new Promise((r) => setTimeout(r, 1));
    clearInterval(this.#sweepTimer);
    clearTimeout(this.#lazyTimer);
    this.#deadlines.clear();
    this.#router.close();
  }

  /** Parses an address, remembering recent ones: a sender usually sends to a few, many times. */
  #parse(address: string): MailboxAddress {
    // Most often the address of the send before: a string compare, not a hash of a fresh string
    // (a server's replies go to the reply address each request carries).
    if (address === this.#lastAddress && this.#lastParsed !== undefined) return this.#lastParsed;
    let parsed = this.#addresses.get(address);
    if (parsed === undefined) {
      parsed = parseAddress(address);
      if (this.#addresses.size >= 1024) this.#addresses.clear();
      this.#addresses.set(address, parsed);
    }
    this.#lastAddress = address;
    this.#lastParsed = parsed;
    return parsed;
  }

  #target(mbox: string | Mailbox): Mailbox | RemoteInbox {
    if (this.#closed) throw this.#closed;
    if (mbox instanceof Mailbox) return mbox;
    const { name, endpoint } = this.#parse(mbox);
    if (endpoint === this.endpoint) {
      const local = this.#mailboxes.get(name);
      if (local) return local;
    }
    const key = `${endpoint}\n${name}`;
    let inbox = this.#inboxes.get(key);
    if (inbox === undefined) {
      const peer = this.#peer(endpoint);
      inbox = new RemoteInbox(name, mbox, {
        deadlines: this.#deadlines,
        probeInterval: this.#options.probeInterval,
        window: this.#options.receiveWindow,
        nextEpoch: () => ++this.#epochs,
        control: (frames) => peer.control(frames),
        idle: (i) => {
          if (this.#inboxes.get(key) === i) this.#inboxes.delete(key);
        },
        counted: () => this.#counters.received++,
      });
      this.#inboxes.set(key, inbox);
    }
    return inbox;
  }

  #peer(endpoint: string): Peer {
    let peer = this.#peers.get(endpoint);
    if (peer === undefined) {
      // Each peer its own routing id: two spellings of one endpoint ("127.0.0.1" and
      // "localhost") are two connections, and must be two channels at the owner.
      peer = new Peer(endpoint, {
        id: `${this.id}.${this.#peers.size}`,
        options: this.#options,
        deadlines: this.#deadlines,
        counters: this.#counters,
        onReceiverFrame: (p, f) => this.#onInboxFrame(p, f),
      });
      this.#peers.set(endpoint, peer);
    }
    return peer;
  }

  #onInboxFrame(peer: Peer, f: Frame): void {
    if (f.kind !== "deliver" && f.kind !== "nak") {
      this.#refuse(Refusal.Kind);
      return;
    }
    const inbox = this.#inboxes.get(`${peer.endpoint}\n${f.mailbox}`);
    if (inbox) {
      if (f.kind === "deliver" || f.code === NakCode.NoMailbox) inbox.onFrame(f);
    }
    else if (f.kind === "deliver") peer.control([encodeHeader([PROTOCOL_VERSION, Kind.Release, f.mailbox, f.rid, [f.id]])]);
  }

  #closeMailbox(mb: Mailbox): void {
    if (this.#mailboxes.get(mb.name) !== mb) return;
    // Acks that are due go out before the naks: a sender must learn what was stored (and
    // taken) before it learns the mailbox is gone.
    for (const ch of this.#lazy) this.#dirty.add(ch);
    this.#flush(true);
    this.#mailboxes.delete(mb.name);
    const { channels } = mb.shutdown(new MailboxClosedError(`the mailbox ${mb.address} is closed`));
    for (const ch of channels) this.#nak(ch.peer, mb.name, NakCode.NoMailbox, "the mailbox was closed");
    for (const [key, w] of this.#windows) {
      if (w.mailbox !== mb) continue;
      this.#windows.delete(key);
      this.#nak(w.peer, mb.name, NakCode.NoMailbox, "the mailbox was closed");
    }
  }

  // ---- the owner side: frames from senders and remote receivers ----

  async #read(): Promise<void> {
    try {
      for await (const parts of this.#router) {
        const peer = parts[0];
        if (peer === undefined) continue;
        try {
          this.#onFrame(peer, parts.slice(1));
        } catch {
          // A frame must never take the runtime down; count it and go on serving everyone else.
          this.#refuse(Refusal.Fields);
        }
      }
    } catch (error) {
      if (!this.#closed) throw error;
    }
  }

  #refuse(reason: Refusal, n = 1): void {
    this.#counters.refused[reason] = (this.#counters.refused[reason] ?? 0) + n;
  }

  #onFrame(peer: Buffer, parts: Buffer[]): void {
    const decoded = decodeFrame(parts, this.#options.maxMessageSize);
    if (!decoded.ok) {
      this.#refuse(decoded.reason);
      return;
    }
    const f = decoded.frame;
    const now = performance.now();
    const mb = this.#mailboxes.get(f.mailbox);
    switch (f.kind) {
      case "hello":
        if (!mb) return this.#noMailbox(peer, f.mailbox, 0);
        if (mb.hello(channelKey(peer, f.mailbox), peer, f.base, f.want, f.probe, now) === undefined) this.#refuse(Refusal.Fields);
        return;
      case "data":
        return this.#onData(peer, mb, f, now);
      case "pull": {
        if (!mb) return this.#noMailbox(peer, f.mailbox, 0);
        const key = channelKey(peer, f.mailbox);
        let w = this.#windows.get(key);
        if (w === undefined) {
          w = new RemoteWindow(key, peer, mb, now, f.epoch, () => ++this.#deliveryId, (win, id, m) => this.#deliver(win, id, m));
          this.#windows.set(key, w);
        }
        w.pull(f.window, f.epoch, f.rid === this.id, f.seen, f.held, now);
        return;
      }
      case "taken":
      case "release": {
        const w = this.#windows.get(channelKey(peer, f.mailbox));
        // Delivery ids of another incarnation of this owner mean nothing here.
        if (w === undefined || f.rid !== this.id) return;
        if (f.kind === "taken") w.taken(f.ids, now);
        else w.release(f.ids, now);
        return;
      }
      case "ack":
      case "nak":
      case "deliver":
        // These flow from an owner to a sender or receiver, never to an owner.
        return this.#refuse(Refusal.Kind);
      default:
        throw new Error(`unhandled frame ${JSON.stringify(f satisfies never)}`);
    }
  }

  #onData(peer: Buffer, mb: Mailbox | undefined, f: Extract<Frame, { kind: "data" }>, now: number): void {
    const n = f.lens.length;
    if (!mb) return this.#noMailbox(peer, f.mailbox, n);
    const ch = mb.channel(channelKey(peer, f.mailbox));
    if (ch === undefined) {
      this.#refuse(Refusal.Channel, n);
      this.#nak(peer, f.mailbox, NakCode.NoChannel, "open the channel with hello first");
      return;
    }
    ch.lastHeard = now;
    ch.want = f.want;
    const storedBefore = ch.stored;
    let offset = 0;
    for (let i = 0; i < n; i++) {
      const seq = f.seq + i;
      const len = f.lens[i]!;
      const payload = f.body.subarray(offset, offset + len);
      offset += len;
      if (seq <= ch.stored) {
        this.#counters.duplicates++;
        continue;
      }
      // Sending past credit, or after a gap, is refused, never buffered: the sender re-sends.
      const reason = seq > ch.stored + 1 ? Refusal.Order : seq > ch.limit ? Refusal.Credit : undefined;
      if (reason !== undefined) {
        this.#refuse(reason, n - i);
        ch.resend = true;
        break;
      }
      // A message this owner cannot hold is refused on its own, and the sender told which:
      // the channel goes on (re-sending it would only be refused again).
      let value: unknown;
      let bad: string | undefined;
      if (len > this.#options.maxMessageSize) {
        bad = `the message has ${len} bytes; this runtime's maxMessageSize is ${this.#options.maxMessageSize}`;
        this.#refuse(Refusal.Size);
      } else {
        try {
          value = decodeValue(payload, f.flags);
        } catch (error) {
          bad = `the payload is not one MessagePack value: ${(error as Error).message}`;
          this.#refuse(Refusal.Payload);
        }
      }
      if (bad !== undefined) {
        mb.skip(ch, seq);
        this.#nak(peer, f.mailbox, NakCode.BadMessage, bad, seq);
        continue;
      }
      mb.store(ch, seq, f.flags & Flag.Raw, payload, value);
      if (f.flags & Flag.AckNow) ch.eagerUntil = seq;
      this.#counters.stored++;
    }
    // Only credit actually used renews the lease (re-sent duplicates do not).
    if (ch.stored > storedBefore) ch.lastUsed = now;
    this.#channelChanged(ch);
    // Credit was used: top the channel up from free slots.
    this.#grants.add(mb);
  }

  #noMailbox(peer: Buffer, mailbox: string, messages: number): void {
    this.#refuse(Refusal.Mailbox, Math.max(1, messages));
    this.#nak(peer, mailbox, NakCode.NoMailbox, `no mailbox "${mailbox}" at ${this.endpoint}`);
  }

  #deliver(w: RemoteWindow, id: number, m: StoredMessage): void {
    const header = encodeHeader([PROTOCOL_VERSION, Kind.Deliver, w.mailbox.name, this.id, w.epoch, id, m.flags]);
    this.#enqueue([w.peer, header, ...bodyParts(m.payload)], () => w.undeliverable(id));
  }

  #nak(peer: Buffer, mailbox: string, code: string, message: string, seq = 0): void {
    this.#enqueue([peer, encodeHeader([PROTOCOL_VERSION, Kind.Nak, mailbox, this.id, code, message, seq])], undefined);
  }

  #channelChanged(ch: InChannel): void {
    if (this.#dirty.has(ch)) return;
    this.#dirty.add(ch);
    this.#scheduleFlush();
  }

  /** Grants credit and sends the acks that are due, once per turn of the event loop. */
  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  /**
   * Sends the acks that are urgent now; the others wait (at most ACK_DELAY_MS) to be gathered
   * with later changes: a sender of "queued" messages with credit in hand is not waiting on
   * them, and one ack instead of one per message halves the frames of request-response traffic.
   */
  #flush(lazyToo = false): void {
    this.#flushScheduled = false;
    for (const mb of this.#grants) mb.grant();
    this.#grants.clear();
    for (const ch of this.#dirty) {
      if (!lazyToo && !ch.ackIsUrgent) {
        this.#lazy.add(ch);
        continue;
      }
      this.#lazy.delete(ch);
      const header = encodeHeader([PROTOCOL_VERSION, Kind.Ack, ch.mailbox, this.id, ch.stored, ch.taken, ch.limit, ch.resend]);
      ch.resend = ch.urgent = false;
      ch.ackedStored = ch.stored;
      ch.ackedTaken = ch.taken;
      this.#enqueue([ch.peer, header], undefined);
    }
    this.#dirty.clear();
    if (this.#lazy.size > 0 && this.#lazyTimer === undefined) {
      this.#lazyTimer = setTimeout(() => {
        this.#lazyTimer = undefined;
        for (const ch of this.#lazy) this.#dirty.add(ch);
        this.#lazy.clear();
        this.#flush(true);
      }, ACK_DELAY_MS);
    }
  }

  #enqueue(frames: Buffer[], onFail: (() => void) | undefined): void {
    if (this.#router.closed) {
      onFail?.();
      return;
    }
    this.#out.push({ frames, onFail });
    void this.#write();
  }

  async #write(): Promise<void> {
    if (this.#writing) return;
    this.#writing = true;
    try {
      for (let item = this.#out.shift(); item !== undefined; item = this.#out.shift()) {
        try {
          await this.#router.send(item.frames);
        } catch {
          // EAGAIN (peer not reading) or EHOSTUNREACH (peer gone): acks are re-sent on the
          // next probe; a delivery goes back to its mailbox.
          this.#counters.unsent++;
          item.onFail?.();
          if (this.#router.closed) {
            for (const rest of this.#out.drain()) rest.onFail?.();
            return;
          }
        }
      }
    } finally {
      this.#writing = false;
    }
  }

  #sweep(): void {
    const now = performance.now();
    const { creditLease, receiverTimeout } = this.#options;
    for (const mb of this.#mailboxes.values()) mb.sweep(now, creditLease, Math.max(60_000, 10 * creditLease));
    for (const [key, w] of this.#windows) {
      if (now - w.lastHeard <= receiverTimeout) continue;
      this.#windows.delete(key);
      w.expire();
    }
  }
}

function channelKey(peer: Buffer, mailbox: string): string {
  return `${peer.toString("latin1")}\n${mailbox}`;
}
