/**
 * The runtime: one bound ZeroMQ Router that owns this process's mailboxes (the owner side,
 * owner.ts), and one Peer (a Dealer) per remote endpoint for what it sends (peer.ts) and
 * receives from other runtimes' mailboxes (remote-inbox.ts). This file is the public face
 * over them. See PROTOCOL.md for the frames.
 */
import { randomBytes } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { access, stat } from "node:fs/promises";
import type { LogFailedError } from "@zmbox/log";
import * as zmq from "zeromq";
import { checkEndpoint, checkMailboxName, formatAddress, parseAddress, type MailboxAddress } from "./address.js";
import { checkKey, Curve } from "./curve.js";
import { ClosedError, EncodeError, ForbiddenError, InvalidArgumentError, MailboxExistsError, MessageTooLargeError, RuntimeFailedError } from "./errors.js";
import { DurableStore } from "./durable.js";
import { deliveryLoop, type Delivery } from "./delivery.js";
import { Mailbox, type MailboxStats } from "./mailbox.js";
import {
  parseMailboxOptions,
  parseRuntimeOptions,
  parseSendOptions,
  type MailboxOptions,
  type ParsedRuntimeOptions,
  type ManualReceiveOptions,
  type ReceiveOptions,
  type RuntimeOptions,
  type SendOptions,
} from "./options.js";
import { Owner, countRefused, type RuntimeCounters } from "./owner.js";
import { Peer, type PeerHost } from "./peer.js";
import { RemoteInbox } from "./remote-inbox.js";
import { ownerSocketOptions } from "./sockets.js";
import { WaitTimer } from "./wait.js";
import { Kind, NakCode, PROTOCOL_VERSION, Refusal, EncodedMessage, encodeHeader, encodeValue, type Frame } from "./wire.js";

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
  /** Per mailbox this runtime sends to, by address: messages sent, sent again, and not yet stored there. */
  channels: Record<string, ChannelStats>;
  /** The log of the durable mailboxes (with `dataDir`): its size, the syncs and compactions since start, and the ms all syncs took. */
  log?: { bytes: number; syncs: number; compactions: number; syncMs: number };
}

/** A sender channel's figures, in `stats().channels` by destination address. */
export interface ChannelStats {
  /** Messages forwarded the first time. */
  sent: number;
  /** Messages forwarded again (after a lost connection, a refusal or an owner restart). */
  retransmitted: number;
  /** Messages not yet stored at the destination. */
  outbox: number;
}

function logStats(durable: DurableStore): NonNullable<RuntimeStats["log"]> {
  const { bytes, syncs, compactions, syncSeconds } = durable.stats;
  return { bytes, syncs, compactions, syncMs: Math.round(syncSeconds.sum * 1000) };
}

/**
 * Opens the log of durable mailboxes in `dir`. A missing directory is an error, not created:
 * a typo or an unmounted volume must not start as an empty mailbox.
 */
async function openDataDir(dir: string, fs: ParsedRuntimeOptions["dataFs"], failed: (error: LogFailedError) => void): Promise<DurableStore> {
  if (fs === undefined) {
    let isDir: boolean;
    try {
      isDir = (await stat(dir)).isDirectory();
    } catch (error) {
      throw new InvalidArgumentError(`Expected \`dataDir\` to be an existing directory, got ${JSON.stringify(dir)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
    }
    if (!isDir) throw new InvalidArgumentError(`Expected \`dataDir\` to be a directory, got ${JSON.stringify(dir)} (not a directory)`);
    try {
      await access(dir, fsConstants.W_OK);
    } catch (error) {
      throw new InvalidArgumentError(`Expected \`dataDir\` to be a writable directory, got ${JSON.stringify(dir)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
    }
  }
  return DurableStore.open({ dir, ...(fs === undefined ? {} : { fs }), failed });
}

/**
 * A mailbox runtime. Start one per process (or more), create mailboxes, send and receive.
 *
 * `send`, `receive` and `receiveInto` are bound, so the textbook loops read as written:
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
  /** The timeouts of every send and receive of this runtime, on one timer. */
  readonly #timer = new WaitTimer();
  readonly #owner: Owner;
  readonly #peers = new Map<string, Peer>();
  readonly #inboxes = new Map<string, RemoteInbox>();
  readonly #addresses = new Map<string, MailboxAddress>();
  /** The address #parse parsed last, and what it gave. */
  #lastAddress = "";
  #lastParsed: MailboxAddress | undefined;
  readonly #counters: RuntimeCounters;
  /** CURVE keys, allow-list and ZAP handler; undefined for a plaintext runtime. */
  readonly #curve: Curve | undefined;
  #epochs = 0;
  /** Peers made so far: each gets its own routing id. */
  #peerCount = 0;
  #closing: Promise<void> | undefined;
  #closed: ClosedError | RuntimeFailedError | undefined;
  /** The log of the durable mailboxes, with `dataDir`. */
  readonly #durable: DurableStore | undefined;
  /** Why the runtime failed, if it did. */
  #failure: RuntimeFailedError | undefined;
  #settleClosed!: (error: Error | undefined) => void;
  /**
   * Resolves (never rejects) once the runtime has stopped: with `undefined` after `close()`,
   * or with the `RuntimeFailedError` that stopped it (the log of its durable mailboxes failed;
   * its `cause` is the log's error).
   * @example
   * rt.closed.then((error) => { if (error) { console.error(error); process.exit(1); } });
   */
  readonly closed: Promise<Error | undefined>;

  private constructor(options: ParsedRuntimeOptions, router: zmq.Router, id: string, counters: RuntimeCounters, curve: Curve | undefined, durable: DurableStore | undefined) {
    this.#options = options;
    this.#counters = counters;
    this.#curve = curve;
    this.id = id;
    this.#durable = durable;
    this.closed = new Promise((resolve) => (this.#settleClosed = resolve));
    this.endpoint = router.lastEndpoint ?? options.endpoint;
    this.#owner = new Owner(router, {
      id,
      endpoint: this.endpoint,
      options,
      timer: this.#timer,
      counters: this.#counters,
      closing: () => this.#closed !== undefined,
      deadLetter: (address, record) => this.send(record, address),
      durable,
      curve,
    });
  }

  /**
   * Starts a runtime bound to `options.endpoint`. With `dataDir`, it first opens the log of
   * its durable mailboxes there and recovers what they held.
   * @throws InvalidArgumentError for a bad option, an endpoint it cannot bind, or a `dataDir`
   * that is missing, not a directory or not writable.
   * @throws LogLockedError (from `@zmbox/log`) if another running process has `dataDir` open.
   * @throws LogCorruptError (from `@zmbox/log`) if the log there is damaged (not a torn tail,
   * which is cut off): the runtime does not start with less than it stored.
   * @example
   * const rt = await Runtime.start({ endpoint: "ipc:///tmp/orders.sock" });
   */
  static async start(options?: RuntimeOptions): Promise<Runtime> {
    const o = parseRuntimeOptions(options);
    const id = `r${randomBytes(8).toString("hex")}`;
    const counters: RuntimeCounters = {
      sent: 0, retransmitted: 0, undeliverable: 0, refused: {}, stored: 0, received: 0, duplicates: 0, unsent: 0,
    };
    if (o.curve !== undefined && o.endpoint.startsWith("inproc://")) {
      throw new InvalidArgumentError(`Expected \`endpoint\` to be tcp:// or ipc:// with \`curve\` (ZeroMQ has no security over inproc), got ${JSON.stringify(o.endpoint)}`);
    }
    let runtime: Runtime | undefined;
    let early: LogFailedError | undefined;
    const durable = o.dataDir === undefined ? undefined : await openDataDir(o.dataDir, o.dataFs, (error) => {
      if (runtime === undefined) early = error;
      else runtime.#fail(error);
    });
    let curve: Curve | undefined;
    if (o.curve !== undefined) {
      // The ZAP handler is up before the Router binds: a CURVE socket with no handler admits anyone.
      try {
        curve = await Curve.start(o.curve, counters);
      } catch (error) {
        await durable?.close().catch(() => undefined);
        throw error;
      }
    }
    const router = new zmq.Router({
      ...(curve === undefined ? {} : {
        context: curve.context,
        curveServer: true,
        curvePublicKey: curve.publicKey,
        curveSecretKey: curve.secretKey,
        // Ask our ZAP handler about every connection, and refuse all if it is not there.
        zapDomain: "zmbox",
        zapEnforceDomain: true,
      }),
      ...ownerSocketOptions(o),
    });
    try {
      await router.bind(o.endpoint.replace(/:0$/, ":*"));
    } catch (error) {
      router.close();
      curve?.close();
      await durable?.close().catch(() => undefined);
      throw new InvalidArgumentError(`Could not bind ${o.endpoint}: ${(error as Error).message}`, { cause: error });
    }
    runtime = new Runtime(o, router, id, counters, curve, durable);
    if (early !== undefined) runtime.#fail(early);
    return runtime;
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
    const { capacity, maxAttempts, deadLetter, durable, senders, receivers } = parseMailboxOptions(options);
    if (durable && this.#durable === undefined) {
      throw new InvalidArgumentError(`\`durable: true\` needs a runtime started with \`dataDir\` (a directory for its log), got no \`dataDir\``);
    }
    const onDisk = durable ? 0 : (this.#durable?.held(name) ?? 0);
    if (onDisk > 0) {
      throw new InvalidArgumentError(`Expected \`durable: true\` for the mailbox "${name}": the data directory holds ${onDisk} message${onDisk === 1 ? "" : "s"} of it, got \`durable\` ${String(durable)}`);
    }
    // A bare name is a mailbox of this runtime.
    let deadLetterAddress: string | undefined;
    if (deadLetter !== undefined) {
      if (deadLetter.includes("@")) {
        parseAddress(deadLetter);
        deadLetterAddress = deadLetter;
      } else {
        deadLetterAddress = formatAddress(checkMailboxName(deadLetter), this.endpoint);
      }
    }
    if (this.#closed) throw this.#closed;
    if (this.#owner.has(name)) throw new MailboxExistsError(`a mailbox "${name}" already exists in ${this.endpoint}`);
    const address = formatAddress(name, this.endpoint);
    if (deadLetterAddress === address) {
      throw new InvalidArgumentError(`Expected \`deadLetter\` to be another mailbox than "${name}" itself, got ${JSON.stringify(deadLetter)}`);
    }
    return this.#owner.create(name, address, capacity, { maxAttempts, deadLetter: deadLetterAddress }, durable, { senders, receivers });
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
   *
   * With `ack: "manual"` (a mailbox of this runtime or another one) it resolves with a
   * {@link Delivery}: see {@link Mailbox.receive}. A remote delivery's lease runs at the
   * mailbox's owner, bound to this runtime's connection (PROTOCOL.md 6.8).
   * @example
   * const order = await rt.receive("orders@tcp://10.0.0.5:7001", { timeout: 5000 });
   */
  readonly receive: {
    (mbox: string | Mailbox, options: ManualReceiveOptions): Promise<Delivery>;
    (mbox: string | Mailbox, options?: ReceiveOptions): Promise<unknown>;
  } = ((mbox: string | Mailbox, options?: ReceiveOptions): Promise<unknown> => {
    try {
      const target = this.#target(mbox);
      if (target instanceof Mailbox) return target.receive(options);
      return target.receive(options, undefined);
    } catch (error) {
      return Promise.reject(error);
    }
  }) as Runtime["receive"];

  /**
   * Manual-ack deliveries from `mbox` (a Mailbox, or an address of this runtime or another
   * one), one at a time, until this runtime closes (or `signal` aborts). Ending the loop nacks
   * the deliveries it gave that are not settled yet. See {@link Mailbox.deliveries}.
   * @example
   * for await (const d of rt.deliveries("jobs@tcp://10.0.0.5:7001", { lease: 30_000 })) {
   *   await handle(d.value);
   *   d.ack();
   * }
   */
  deliveries(mbox: string | Mailbox, options?: Omit<ReceiveOptions, "ack">): AsyncGenerator<Delivery, void, undefined> {
    const opts: ManualReceiveOptions = { ...options, ack: "manual" };
    if (mbox instanceof Mailbox) return mbox.deliveries(options);
    return deliveryLoop(() => this.receive(mbox, opts), () => this.#closed !== undefined, opts.signal);
  }

  /**
   * The textbook `receive(buffer, mbox)`: copies the next message's bytes into `buffer` and
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

  /** With CURVE: this runtime's public key (z85); undefined for a plaintext runtime. */
  get publicKey(): string | undefined {
    return this.#curve?.publicKey;
  }

  /**
   * With CURVE: admits clients with `publicKey` from now on (they may connect, and use every
   * mailbox whose own `senders`/`receivers` do not leave them out). Undoes a `revoke`.
   * @example
   * rt.allow("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
   */
  allow(publicKey: string): void {
    this.#secure("allow").allow(checkKey("publicKey", publicKey));
  }

  /**
   * With CURVE: cuts `publicKey` off. New connections with it are refused; frames on its
   * existing connections are dropped (counted in `stats().refused.unauthenticated`), so its
   * sends and remote receives time out; the messages its remote receivers held go back to their
   * mailboxes at once. This runtime also stops sending to a runtime with that key (its pending
   * sends reject with `ForbiddenError`) until `allow` is called again. Revoking this runtime's
   * own key does nothing.
   */
  revoke(publicKey: string): void {
    const curve = this.#secure("revoke");
    const key = checkKey("publicKey", publicKey);
    if (key === curve.publicKey) return;
    curve.revoke(key);
    this.#owner.revoked(key);
    const error = new ForbiddenError(`the key ${key} was revoked`);
    for (const [endpoint, peer] of this.#peers) {
      if (curve.peerKey(endpoint, this.endpoint) !== key) continue;
      for (const [k, inbox] of this.#inboxes) if (k.startsWith(`${endpoint}\n`)) inbox.fail(error);
      peer.close(error);
      this.#peers.delete(endpoint);
    }
  }

  /**
   * With CURVE: the public key of the runtime at `endpoint`, for the sends and receives to come
   * (as `curve.peers` does at start). A connection already open keeps the key it has.
   * @example
   * rt.setPeerKey("tcp://10.0.0.6:7001", otherPublicKey);
   */
  setPeerKey(endpoint: string, publicKey: string): void {
    const curve = this.#secure("setPeerKey");
    checkEndpoint(endpoint);
    curve.setPeer(endpoint, checkKey("publicKey", publicKey));
  }

  /**
   * With CURVE: the public key of the runtime at `endpoint` as this runtime knows it (its own
   * key for its own endpoint); undefined if it knows none, or without CURVE. Compare it with
   * `delivery.sender` to check who sent a message that names a reply address.
   */
  keyOf(endpoint: string): string | undefined {
    return this.#curve?.peerKey(endpoint, this.endpoint);
  }

  #secure(method: string): Curve {
    if (this.#curve === undefined) throw new InvalidArgumentError(`\`${method}\` needs a runtime started with the \`curve\` option; this one is plaintext`);
    return this.#curve;
  }

  /** Per-mailbox depth, capacity and credit, and the runtime's counters. */
  stats(): RuntimeStats {
    const mailboxes = this.#owner.stats();
    let outbox = 0;
    const channels: Record<string, ChannelStats> = {};
    for (const p of this.#peers.values()) {
      outbox += p.outstanding;
      p.channelStats(channels);
    }
    const c = this.#counters;
    return {
      endpoint: this.endpoint, id: this.id, mailboxes, sent: c.sent, retransmitted: c.retransmitted, stored: c.stored,
      received: c.received, duplicates: c.duplicates, undeliverable: c.undeliverable, outbox, refused: { ...c.refused }, unsent: c.unsent, channels,
      ...(this.#durable === undefined ? {} : { log: logStats(this.#durable) }),
    };
  }

  /** @internal Compacts the log of the durable mailboxes now (it also does on its own as it grows). */
  compactLog(): Promise<void> {
    return this.#durable?.compact() ?? Promise.resolve();
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

  /** The log failed: the runtime stops at once (no drain: nothing more may be acked as durable). */
  #fail(cause: LogFailedError): void {
    if (this.#failure !== undefined) return;
    this.#failure = new RuntimeFailedError(`the runtime at ${this.endpoint} failed: the log of its durable mailboxes could not be written (${cause.message})`, { cause });
    if (this.#closing === undefined) {
      this.#closed = this.#failure;
      this.#closing = this.#close();
    }
    this.#options.onFailed?.(this.#failure);
  }

  async #close(): Promise<void> {
    this.#closed ??= new ClosedError(`the runtime at ${this.endpoint} is closed`);
    try {
      await this.#stop();
    } finally {
      this.#settleClosed(this.#failure);
    }
  }

  async #stop(): Promise<void> {
    const failed = this.#failure !== undefined;
    const closed = this.#closed!;
    const until = performance.now() + (failed ? 0 : this.#options.drainTimeout);
    while (performance.now() < until && [...this.#peers.values()].some((p) => p.outstanding > 0)) {
      await new Promise((r) => setTimeout(r, 5));
    }
    // Remote receivers tell their owners what was taken and hand back what they hold, before
    // the connections close: otherwise the owner would deliver those again.
    for (const inbox of [...this.#inboxes.values()]) inbox.fail(closed);
    await Promise.all([...this.#peers.values()].map((p) => p.flushControls(200)));
    for (const p of this.#peers.values()) p.close(closed);
    this.#owner.shutdown(closed);
    // The last acks (for messages stored just now) leave before the router closes: otherwise
    // their senders would wait out their own drainTimeout for them.
    await new Promise((r) => setImmediate(r));
    await this.#owner.drain(200);
    this.#timer.clear();
    this.#owner.close();
    this.#curve?.close();
    // What was acked is on disk already; this writes the acks of takes still pending.
    await this.#durable?.close().catch(() => undefined);
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
      const local = this.#owner.get(name);
      if (local) return local;
    }
    const key = `${endpoint}\n${name}`;
    let inbox = this.#inboxes.get(key);
    if (inbox === undefined) {
      const peer = this.#peer(endpoint);
      inbox = new RemoteInbox(name, mbox, {
        timer: this.#timer,
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
      const curve = this.#curve;
      let security: PeerHost["security"];
      if (curve !== undefined) {
        const serverKey = curve.peerKey(endpoint, this.endpoint);
        if (serverKey === undefined) {
          throw new InvalidArgumentError(`Expected a CURVE public key for ${endpoint} (in \`curve.peers\` or from \`runtime.setPeerKey\`), got none`);
        }
        if (curve.revoked(serverKey)) throw new ForbiddenError(`the key of ${endpoint} (${serverKey}) was revoked`);
        const routingId = curve.routingId(serverKey, `${this.id}.${this.#peerCount}`);
        security = { context: curve.context, routingId, curveServerKey: serverKey, curvePublicKey: curve.publicKey, curveSecretKey: curve.secretKey };
      }
      // Each peer its own routing id: two spellings of one endpoint ("127.0.0.1" and
      // "localhost") are two connections, and must be two channels at the owner.
      peer = new Peer(endpoint, {
        id: `${this.id}.${this.#peerCount++}`,
        options: this.#options,
        timer: this.#timer,
        counters: this.#counters,
        onReceiverFrame: (p, f) => this.#onInboxFrame(p, f),
        ...(security === undefined ? {} : { security }),
      });
      this.#peers.set(endpoint, peer);
    }
    return peer;
  }

  /** A frame for this runtime's remote receivers (or a nak for its senders, which they share). */
  #onInboxFrame(peer: Peer, f: Frame): void {
    if (f.kind !== "deliver" && f.kind !== "nak") {
      countRefused(this.#counters, Refusal.Kind);
      return;
    }
    const inbox = this.#inboxes.get(`${peer.endpoint}\n${f.mailbox}`);
    if (inbox) {
      if (f.kind === "deliver" || f.code === NakCode.NoMailbox || f.code === NakCode.Forbidden) inbox.onFrame(f);
    }
    else if (f.kind === "deliver") peer.control([encodeHeader([PROTOCOL_VERSION, Kind.Release, f.mailbox, f.rid, [f.id]])]);
  }
}
