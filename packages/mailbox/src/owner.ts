/**
 * The owner side of a runtime: the frames that senders and remote receivers send to the
 * mailboxes this runtime owns (hello, data, pull, taken, release), read off its Router, and
 * the acks, naks and deliveries it answers with. See PROTOCOL.md sections 5 and 6.
 */
import type * as zmq from "zeromq";
import { AckScheduler } from "./acks.js";
import type { DurableStore } from "./durable.js";
import { MailboxClosedError } from "./errors.js";
import type { InChannel } from "./flow.js";
import { Mailbox, type AckSettings, type DeadLetter, type MailboxHost, type MailboxStats, type StoredMessage } from "./mailbox.js";
import type { Curve } from "./curve.js";
import type { ParsedRuntimeOptions } from "./options.js";
import type { PeerCounters } from "./peer.js";
import { RemoteWindow } from "./remote-window.js";
import { readLoop } from "./sockets.js";
import { Flag, Kind, MalformedError, NakCode, PROTOCOL_VERSION, Refusal, addBody, decodeFrame, decodeValue, encodeHeader, type Frame } from "./wire.js";
import type { WaitTimer } from "./wait.js";
import { RouterWriter } from "./writer.js";

/** The runtime's counters: the sending side's and the owner's. */
export type RuntimeCounters = PeerCounters & { stored: number; received: number; duplicates: number; unsent: number };

/** What the owner side needs from its runtime. */
export interface OwnerHost {
  /** The runtime's incarnation id. */
  readonly id: string;
  readonly endpoint: string;
  readonly options: ParsedRuntimeOptions;
  /** The timer of every send and receive of the runtime. */
  readonly timer: WaitTimer;
  readonly counters: RuntimeCounters;
  /** True once the runtime is closing: the Router's read loop may then end with an error. */
  closing(): boolean;
  /** Stores a dead letter in the mailbox at `address` (a send until: "stored"). */
  deadLetter(address: string, record: DeadLetter): Promise<void>;
  /** The log of durable mailboxes, when the runtime has a data directory. */
  readonly durable: DurableStore | undefined;
  /** CURVE, if the runtime has it: every frame's routing id must prove an admitted key. */
  readonly curve: Curve | undefined;
}

/** With CURVE: which keys may send to a mailbox, and receive from it remotely (undefined: every admitted key). */
export interface MailboxAccess {
  readonly senders: ReadonlySet<string> | undefined;
  readonly receivers: ReadonlySet<string> | undefined;
}

/** Counts `n` frames or messages dropped for `reason` (see `Refusal`). */
export function countRefused(counters: PeerCounters, reason: string, n = 1): void {
  counters.refused[reason] = (counters.refused[reason] ?? 0) + n;
}

/** After a connection breaks, how long until silent credit holders are acknowledged again (and how long silent they must be). */
const POKE_MS = 1000;

export class Owner {
  readonly #host: OwnerHost;
  readonly #router: zmq.Router;
  readonly #writer: RouterWriter;
  readonly #acks: AckScheduler;
  readonly #mailboxes = new Map<string, Mailbox>();
  /** CURVE: the mailboxes that limit who may send or receive. */
  readonly #access = new Map<string, MailboxAccess>();
  /** Remote receivers' windows, by channel key. */
  readonly #windows = new Map<string, RemoteWindow>();
  readonly #mailboxHost: MailboxHost;
  readonly #sweepTimer: NodeJS.Timeout;
  /** Open channels and remote receivers' windows per peer (by routing id), for the limits. */
  readonly #peerChannels = new Map<string, number>();
  #pokeTimer: NodeJS.Timeout | undefined;
  /** Delivery ids to remote receivers: unique in this incarnation. */
  #deliveryId = 0;

  constructor(router: zmq.Router, host: OwnerHost) {
    this.#host = host;
    this.#router = router;
    this.#writer = new RouterWriter(router, host.counters);
    this.#acks = new AckScheduler(host.id, host.options.maxMessageSize, (peer, header) =>
      this.#writer.enqueue([peer, header], (error) => this.#unroutable(peer, error)),
    );
    this.#mailboxHost = {
      timer: host.timer,
      channelChanged: (ch) => this.#acks.changed(ch),
      channelForgotten: (ch) => this.#release(ch.peer),
      needsGrant: (mb) => this.#acks.needsGrant(mb),
      counted: () => host.counters.received++,
      close: (mb) => this.#closeMailbox(mb),
      id: host.id,
      deadLetter: (address, record) => host.deadLetter(address, record),
    };
    const { creditLease, probeInterval } = host.options;
    this.#sweepTimer = setInterval(() => this.#sweep(), Math.max(50, Math.floor(Math.min(creditLease, probeInterval) / 2)));
    this.#sweepTimer.unref();
    // Connections libzmq drops before a frame reaches us (not ZMTP, a failed handshake) are
    // counted; a frame over the socket's size limit drops its connection without a trace here.
    const dropped = (): void => this.#refuse(Refusal.Dropped);
    router.events.on("handshake:error:protocol", dropped);
    router.events.on("handshake:error:other", dropped);
    // A connection broke. The event does not say whose it was: the channels that hold credit
    // and have been silent (no hello, no data) for POKE_MS are acknowledged again, and the acks
    // that cannot be routed give their peers' credit back (see #unroutable). At most once per
    // POKE_MS however many break: a crowd that connects and leaves must not cost an ack storm.
    router.events.on("disconnect", () => {
      if (this.#pokeTimer !== undefined) return;
      this.#pokeTimer = setTimeout(() => {
        this.#pokeTimer = undefined;
        const now = performance.now();
        for (const mb of this.#mailboxes.values()) mb.pokeIdleHolders(now, POKE_MS);
      }, POKE_MS);
      this.#pokeTimer.unref();
    });
    void this.#read();
  }

  /** The mailbox of that name, if this runtime owns one. */
  get(name: string): Mailbox | undefined {
    return this.#mailboxes.get(name);
  }

  has(name: string): boolean {
    return this.#mailboxes.has(name);
  }

  /**
   * Creates a mailbox (the caller checked that the name is free). A durable one takes back
   * what the log holds for its name.
   */
  create(name: string, address: string, capacity: number, ack: AckSettings, durable: boolean, access?: MailboxAccess): Mailbox {
    const store = durable ? this.#host.durable : undefined;
    const mb = Mailbox.create(name, address, capacity, this.#mailboxHost, ack, store);
    if (store !== undefined) {
      // Channels taken back from the log count towards their peers' limits, as opened ones do.
      for (const peer of mb.recover(store.mailbox(name), senderKey, performance.now())) {
        const id = peer.toString("latin1");
        this.#peerChannels.set(id, (this.#peerChannels.get(id) ?? 0) + 1);
      }
    }
    this.#mailboxes.set(name, mb);
    if (access !== undefined && (access.senders !== undefined || access.receivers !== undefined)) this.#access.set(name, access);
    else this.#access.delete(name);
    return mb;
  }

  /** Per-mailbox figures for `runtime.stats()`. */
  stats(): Record<string, MailboxStats> {
    const mailboxes: Record<string, MailboxStats> = {};
    for (const [name, mb] of this.#mailboxes) mailboxes[name] = mb.stats();
    return mailboxes;
  }

  /** Sends every due ack (held-back ones included), then closes every mailbox with `error`. */
  shutdown(error: Error): void {
    this.#acks.flushAll();
    for (const mb of this.#mailboxes.values()) mb.shutdown(error);
  }

  /** Waits (at most `ms`) until the acks and naks queued so far have been handed to ZeroMQ. */
  async drain(ms: number): Promise<void> {
    const until = performance.now() + ms;
    while (!this.#writer.idle && performance.now() < until) await new Promise((r) => setTimeout(r, 1));
  }

  /** Stops the timers and closes the Router. */
  close(): void {
    clearInterval(this.#sweepTimer);
    clearTimeout(this.#pokeTimer);
    this.#acks.close();
    this.#router.close();
  }

  #closeMailbox(mb: Mailbox): void {
    if (this.#mailboxes.get(mb.name) !== mb) return;
    // Acks that are due go out before the naks: a sender must learn what was stored (and
    // taken) before it learns the mailbox is gone.
    this.#acks.flushAll();
    this.#mailboxes.delete(mb.name);
    this.#access.delete(mb.name);
    const { channels } = mb.shutdown(new MailboxClosedError(`the mailbox ${mb.address} is closed`));
    for (const ch of channels) {
      this.#release(ch.peer);
      this.#nak(ch.peer, mb.name, NakCode.NoMailbox, "the mailbox was closed");
    }
    for (const [key, w] of this.#windows) {
      if (w.mailbox !== mb) continue;
      this.#windows.delete(key);
      this.#release(w.peer);
      this.#nak(w.peer, mb.name, NakCode.NoMailbox, "the mailbox was closed");
    }
  }

  async #read(): Promise<void> {
    try {
      await readLoop(this.#router, (parts) => {
        const peer = parts[0];
        if (peer === undefined) return;
        try {
          this.#onFrame(peer, parts.slice(1));
        } catch {
          // A frame must never take the runtime down; count it and go on serving everyone else.
          this.#refuse(Refusal.Fields);
        }
      });
    } catch (error) {
      if (!this.#host.closing()) throw error;
    }
  }

  /**
   * A peer opens one more channel (a sender channel or a remote receiver's window): refused
   * with a LIMIT nak, and counted, past `maxChannelsPerPeer` for this peer or `maxPeers` peers.
   */
  #admit(peer: Buffer, mailbox: string): boolean {
    const id = peer.toString("latin1");
    const open = this.#peerChannels.get(id) ?? 0;
    const { maxPeers, maxChannelsPerPeer } = this.#host.options;
    let why: string | undefined;
    if (open === 0 && this.#peerChannels.size >= maxPeers) {
      this.#refuse(Refusal.Peers);
      why = `${this.#host.endpoint} serves ${maxPeers} peers already (its maxPeers)`;
    } else if (open >= maxChannelsPerPeer) {
      this.#refuse(Refusal.Channels);
      why = `this runtime has ${open} channels at ${this.#host.endpoint} already (its maxChannelsPerPeer is ${maxChannelsPerPeer})`;
    }
    if (why !== undefined) {
      this.#nak(peer, mailbox, NakCode.Limit, why);
      return false;
    }
    this.#peerChannels.set(id, open + 1);
    return true;
  }

  /** A channel or window of `peer` is gone. */
  #release(peer: Buffer): void {
    const id = peer.toString("latin1");
    const open = this.#peerChannels.get(id);
    if (open === undefined) return;
    if (open <= 1) this.#peerChannels.delete(id);
    else this.#peerChannels.set(id, open - 1);
  }

  /**
   * An ack could not be sent. EHOSTUNREACH: the peer is gone (the Router is `mandatory`), so
   * its credit comes back now, not when its lease runs out (PROTOCOL 5.6).
   */
  #unroutable(peer: Buffer, error: unknown): void {
    if ((error as { code?: unknown } | undefined)?.code !== "EHOSTUNREACH") return;
    const key = senderKey(peer);
    for (const mb of this.#mailboxes.values()) mb.peerGone(key);
  }

  #refuse(reason: Refusal, n = 1): void {
    countRefused(this.#host.counters, reason, n);
  }

  /**
   * CURVE: `key` was revoked. Its remote receivers' windows end at once (what they held goes
   * back to the mailbox for others); its frames are dropped from now on (see #onFrame), and the
   * credit its sender channels hold comes back when their lease runs out.
   */
  revoked(key: string): void {
    for (const [k, w] of this.#windows) {
      if (w.peer.toString("latin1", 0, key.length) !== key) continue;
      this.#windows.delete(k);
      w.expire();
    }
  }

  /**
   * CURVE, PROTOCOL 11.3: whether `key` may do `kind` on the mailbox `name`. This runtime's own
   * key always may: its local code owns the mailbox anyway.
   */
  #permits(name: string, key: string, kind: "send" | "receive"): boolean {
    const access = this.#access.get(name);
    if (access === undefined || key === this.#host.curve!.publicKey) return true;
    const keys = kind === "send" ? access.senders : access.receivers;
    return keys === undefined || keys.has(key);
  }

  #forbid(peer: Buffer, mailbox: string, kind: "send" | "receive", n: number, nak: boolean): void {
    this.#refuse(Refusal.Forbidden, n);
    if (nak) this.#nak(peer, mailbox, NakCode.Forbidden, `this key may not ${kind} ${kind === "send" ? "to" : "from"} "${mailbox}" at ${this.#host.endpoint}`);
  }

  #onFrame(peer: Buffer, parts: Buffer[]): void {
    // CURVE, PROTOCOL 11.2: a frame counts only on a routing id bound to an admitted key, and
    // everything it does (channel, seqs, credit, windows, acks) is keyed by that routing id.
    let key: string | undefined;
    const { curve } = this.#host;
    if (curve !== undefined) {
      key = curve.keyOf(peer);
      if (key === undefined) return this.#refuse(Refusal.Unauthenticated);
    }
    const decoded = decodeFrame(parts, this.#host.options.maxMessageSize);
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
        if (key !== undefined && !this.#permits(f.mailbox, key, "send")) return this.#forbid(peer, f.mailbox, "send", 1, true);
        if (mb.channel(senderKey(peer)) === undefined && !this.#admit(peer, f.mailbox)) return;
        if (mb.hello(senderKey(peer), peer, f.base, f.want, f.probe, now) === undefined) this.#refuse(Refusal.Fields);
        return;
      case "data":
        if (mb && key !== undefined && !this.#permits(f.mailbox, key, "send")) return this.#forbid(peer, f.mailbox, "send", f.lens.length, true);
        return this.#onData(peer, mb, f, now, key);
      case "pull": {
        if (!mb) return this.#noMailbox(peer, f.mailbox, 0);
        if (key !== undefined && !this.#permits(f.mailbox, key, "receive")) return this.#forbid(peer, f.mailbox, "receive", 1, true);
        const wkey = windowKey(peer, f.mailbox);
        let w = this.#windows.get(wkey);
        if (w === undefined) {
          if (!this.#admit(peer, f.mailbox)) return;
          w = new RemoteWindow(wkey, peer, mb, now, f.epoch, () => ++this.#deliveryId, (win, id, m) => this.#deliver(win, id, m));
          this.#windows.set(wkey, w);
        }
        w.pull(f.window, f.epoch, f.rid === this.#host.id, f.seen, f.held, now);
        return;
      }
      case "taken":
      case "release":
      case "lease":
      case "settle": {
        // Only the window of the connection the frame came on: a peer can take, lease and
        // settle only what was delivered to it.
        const w = this.#windows.get(windowKey(peer, f.mailbox));
        // Delivery ids of another incarnation of this owner mean nothing here.
        if (w === undefined || f.rid !== this.#host.id) return;
        if (f.kind === "taken") w.taken(f.ids, now);
        else if (f.kind === "release") w.release(f.ids, now);
        else if (f.kind === "lease") w.lease(f.ids, f.ms, now);
        else w.settle(f.op, f.ids, f.delay, now);
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

  #onData(peer: Buffer, mb: Mailbox | undefined, f: Extract<Frame, { kind: "data" }>, now: number, sender: string | undefined): void {
    const n = f.lens.length;
    if (!mb) return this.#noMailbox(peer, f.mailbox, n);
    const ch = mb.channel(senderKey(peer));
    if (ch === undefined) {
      this.#refuse(Refusal.Channel, n);
      this.#nak(peer, f.mailbox, NakCode.NoChannel, "open the channel with hello first");
      return;
    }
    ch.lastHeard = now;
    mb.setWant(ch, f.want);
    const storedBefore = ch.stored;
    const { maxMessageSize } = this.#host.options;
    let offset = 0;
    for (let i = 0; i < n; i++) {
      const seq = f.seq + i;
      const len = f.lens[i]!;
      const payload = f.body.subarray(offset, offset + len);
      offset += len;
      if (seq <= ch.stored) {
        this.#host.counters.duplicates++;
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
      if (len > maxMessageSize) {
        bad = `the message has ${len} bytes; this runtime's maxMessageSize is ${maxMessageSize}`;
        this.#refuse(Refusal.Size);
      } else {
        try {
          value = decodeValue(payload, f.flags);
        } catch (error) {
          bad = `the payload is not one MessagePack value: ${(error as Error).message}`;
          this.#refuse(error instanceof MalformedError ? Refusal.Malformed : Refusal.Payload);
        }
      }
      if (bad !== undefined) {
        mb.skip(ch, seq);
        this.#nak(peer, f.mailbox, NakCode.BadMessage, bad, seq);
        continue;
      }
      mb.store(ch, seq, f.flags & Flag.Raw, payload, value, sender);
      if (f.flags & Flag.AckNow) ch.eagerUntil = seq;
      this.#host.counters.stored++;
    }
    // A durable mailbox acks (and gives out) the frame's messages once they are on disk.
    mb.flushStored(ch);
    // Only credit actually used renews the lease (re-sent duplicates do not).
    if (ch.stored > storedBefore) ch.lastUsed = now;
    this.#acks.changed(ch);
    // Credit was used: top the channel up from free slots.
    this.#acks.needsGrant(mb);
  }

  #noMailbox(peer: Buffer, mailbox: string, messages: number): void {
    this.#refuse(Refusal.Mailbox, Math.max(1, messages));
    this.#nak(peer, mailbox, NakCode.NoMailbox, `no mailbox "${mailbox}" at ${this.#host.endpoint}`);
  }

  #deliver(w: RemoteWindow, id: number, m: StoredMessage): void {
    // The attempt it will be if a manual receive takes it, and its id in the mailbox (6.8).
    const header = encodeHeader([PROTOCOL_VERSION, Kind.Deliver, w.mailbox.name, this.#host.id, w.epoch, id, m.flags, m.attempts + 1, w.mailbox.idOf(m)]);
    this.#writer.enqueue(addBody([w.peer, header], m.payload), () => w.undeliverable(id));
  }

  #nak(peer: Buffer, mailbox: string, code: string, message: string, seq = 0): void {
    // A BAD_MESSAGE nak is not repeated by a probe (PROTOCOL 10, item 2): never dropped.
    const droppable = code !== NakCode.BadMessage;
    this.#writer.enqueue([peer, encodeHeader([PROTOCOL_VERSION, Kind.Nak, mailbox, this.#host.id, code, message, seq])], undefined, droppable);
  }

  #sweep(): void {
    const now = performance.now();
    const { creditLease, receiverTimeout } = this.#host.options;
    for (const mb of this.#mailboxes.values()) mb.sweep(now, creditLease, Math.max(60_000, 10 * creditLease));
    for (const [key, w] of this.#windows) {
      w.prune();
      if (now - w.lastHeard <= receiverTimeout) continue;
      this.#windows.delete(key);
      this.#release(w.peer);
      w.expire();
    }
  }
}

/** A remote receiver's window, among all of this owner's: the peer's routing id and the mailbox. */
function windowKey(peer: Buffer, mailbox: string): string {
  return `${peer.toString("latin1")}\n${mailbox}`;
}

/**
 * A sender channel, among its mailbox's: the peer's routing id. (Without the mailbox's name, no
 * string is joined and hashed anew for every data frame.)
 */
function senderKey(peer: Buffer): string {
  return peer.toString("latin1");
}
