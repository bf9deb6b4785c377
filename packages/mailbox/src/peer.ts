/**
 * The sending side: one `Peer` per remote endpoint, with one ZeroMQ Dealer and one
 * `OutChannel` per destination mailbox. A channel numbers its messages, keeps each one
 * until the owner acknowledges it as stored, forwards only what its credit allows, and
 * re-sends after a broken connection (the owner drops what it already has).
 *
 *   send() -> waiting (outbox full) -> pending (in the outbox) -> unacked (seq assigned,
 *   forwarded) -> stored (acked; dropped here) -> untaken (until "received" only) -> taken
 */
import * as zmq from "zeromq";
import { Deque } from "./deque.js";
import { peerSocketOptions, readLoop } from "./sockets.js";
import type { ChannelStats } from "./runtime.js";
import {
  AbortedError,
  ClosedError,
  ForbiddenError,
  LimitExceededError,
  MessageRefusedError,
  MessageTooLargeError,
  NoSuchMailboxError,
  ReceiverRestartedError,
  TimeoutError,
} from "./errors.js";
import type { ParsedRuntimeOptions, ParsedSendOptions, Until } from "./options.js";
import { Waits, type Wait, type WaitTimer } from "./wait.js";
import { Flag, Kind, NakCode, PROTOCOL_VERSION, addBody, decodeFrame, encodeHeader, type Frame } from "./wire.js";

/** One message on its way. `resolve` is absent for a "queued" send that returned at once. */
interface OutMessage extends Wait {
  payload: Buffer;
  /** The owner refused this message alone (BAD_MESSAGE): it fails when its seq is acked. */
  refused: Error | undefined;
  readonly flags: number;
  readonly until: Until;
  seq: number;
  settled: boolean;
  /** The channel it goes to (for its timeout's message). */
  readonly channel: OutChannel;
  readonly timeout: number;
  resolve: (() => void) | undefined;
  reject: ((error: Error) => void) | undefined;
  /** A "queued" send's `onUndeliverable`. */
  onUndeliverable: ((error: Error) => void) | undefined;
}

/** Counters a peer reports to its runtime. */
export interface PeerCounters {
  sent: number;
  retransmitted: number;
  undeliverable: number;
  refused: Record<string, number>;
}

/** What a peer needs from its runtime. */
export interface PeerHost {
  readonly id: string;
  readonly options: ParsedRuntimeOptions;
  /** The runtime's timer, for send timeouts. */
  readonly timer: WaitTimer;
  readonly counters: PeerCounters;
  /** Frames for this peer that the sending side does not handle (remote receive). */
  onReceiverFrame(peer: Peer, frame: Frame): void;
  /**
   * CURVE: the Dealer's context, keys and key-bound routing id (curve.ts); without it the
   * connection is plaintext and the routing id is `id`.
   */
  readonly security?: {
    context: zmq.Context;
    routingId: string;
    curveServerKey: string;
    curvePublicKey: string;
    curveSecretKey: string;
  };
}

class OutChannel {
  readonly waiting = new Deque<OutMessage>();
  readonly pending = new Deque<OutMessage>();
  readonly unacked = new Deque<OutMessage>();
  readonly untaken = new Deque<OutMessage>();
  /** The owner's incarnation id, once it has answered. */
  rid: string | undefined;
  opened = false;
  nextSeq = 1;
  sentSeq = 0;
  stored = 0;
  taken = 0;
  limit = 0;
  lastHeard = 0;
  lastProbe = 0;
  /** A hello went out for credit since the limit last rose. */
  asking = false;
  /** A probe went out for a NO_CHANNEL nak, and no ack has answered since. */
  reopening = false;
  /** The owner's maxMessageSize, as its last ack said: larger messages fail here at once. */
  max = Infinity;
  /** Messages forwarded the first time, and again (`stats().channels`). */
  sent = 0;
  retransmitted = 0;

  constructor(
    readonly mailbox: string,
    readonly address: string,
  ) {}

  get outbox(): number {
    return this.pending.length + this.unacked.length;
  }

  get busy(): boolean {
    return this.waiting.length + this.pending.length + this.unacked.length + this.untaken.length > 0;
  }
}

const RESOLVED = Promise.resolve();
/** Most payload bytes batched into one data frame (a single larger message goes alone). */
const BATCH_BYTES = 64 * 1024;

export class Peer {
  readonly #host: PeerHost;
  readonly #dealer: zmq.Dealer;
  readonly #channels = new Map<string, OutChannel>();
  /** Control frames (hello, and remote-receive frames) go out before data. */
  readonly #controls = new Deque<Buffer[]>();
  readonly #waits: Waits<OutMessage>;
  #writing = false;
  #scheduled = false;
  #closed: Error | undefined;
  #probeTimer: NodeJS.Timeout | undefined;
  /** CURVE: the server refused this runtime's key on the last handshake. */
  #refusedKey = false;
  #reconnectTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly endpoint: string,
    host: PeerHost,
  ) {
    this.#host = host;
    this.#waits = new Waits<OutMessage>(
      host.timer,
      (m) => this.#giveUp(m.channel, m, new TimeoutError(this.#timeoutMessage(m.channel, m, m.timeout))),
      (m, signal) => this.#giveUp(m.channel, m, new AbortedError(`send to ${m.channel.address} aborted`, { cause: signal.reason })),
    );
    const o = host.options;
    this.#dealer = new zmq.Dealer({
      routingId: host.id,
      ...host.security,
      ...peerSocketOptions(o),
    });
    this.#dealer.connect(endpoint);
    if (host.security !== undefined) {
      // libzmq gives up on a connection whose key the server refused (it never reconnects):
      // try again now and then, since the server may allow the key later.
      this.#dealer.events.on("handshake:error:auth", () => this.#refused());
      this.#dealer.events.on("handshake", () => (this.#refusedKey = false));
    }
    void this.#read();
  }

  /** Messages held for this peer that are not yet stored there. */

  /** Adds this peer's sender channels to `into`, by destination address (`stats().channels`). */
  channelStats(into: Record<string, ChannelStats>): void {
    for (const ch of this.#channels.values()) into[ch.address] = { sent: ch.sent, retransmitted: ch.retransmitted, outbox: ch.outbox };
  }
  get outstanding(): number {
    let n = 0;
    for (const ch of this.#channels.values()) n += ch.waiting.length + ch.outbox;
    return n;
  }

  /** Sends one encoded message to `mailbox` at this peer. */
  send(
    mailbox: string,
    address: string,
    payload: Buffer,
    flags: number,
    { until, timeout, signal, onUndeliverable }: ParsedSendOptions,
  ): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(new AbortedError(`send to ${address} aborted`, { cause: signal.reason }));
    let ch = this.#channels.get(mailbox);
    if (ch === undefined) {
      ch = new OutChannel(mailbox, address);
      this.#channels.set(mailbox, ch);
    }
    const m: OutMessage = {
      payload, refused: undefined, flags, until, seq: 0, settled: false, channel: ch, timeout, resolve: undefined, reject: undefined, onUndeliverable,
      due: Infinity, heapIndex: -1, waits: undefined, unlisten: undefined,
    };
    const room = ch.waiting.length === 0 && ch.outbox < this.#host.options.outboxCapacity;
    if (room) {
      ch.pending.push(m);
      this.#kick(ch);
      if (until === "queued") {
        m.settled = true;
        return RESOLVED;
      }
    } else {
      ch.waiting.push(m);
      this.#kick(ch);
    }
    return new Promise<void>((resolve, reject) => {
      m.resolve = resolve;
      m.reject = reject;
      this.#waits.start(m, timeout, signal);
    });
  }

  /** Queues a control frame (used by remote receive as well). */
  control(frames: Buffer[]): void {
    if (this.#closed) return;
    this.#controls.push(frames);
    // At once, not at the end of the turn: a remote receiver's "taken" must leave before the
    // code that received the message runs on (it may block the event loop, or exit).
    void this.#write();
  }

  /** Waits (at most `ms`) until the control frames queued so far have been handed to ZeroMQ. */
  async flushControls(ms: number): Promise<void> {
    const until = performance.now() + ms;
    while ((this.#controls.length > 0 || this.#writing) && performance.now() < until && !this.#closed) {
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  #refused(): void {
    this.#refusedKey = true;
    if (this.#reconnectTimer !== undefined || this.#closed) return;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#closed) return;
      try {
        this.#dealer.disconnect(this.endpoint);
      } catch {
        // The refused connection is gone already.
      }
      this.#dealer.connect(this.endpoint);
    }, 1000);
    this.#reconnectTimer.unref();
  }

  /** Rejects everything still pending with `error` and closes the socket. */
  close(error: Error): void {
    if (this.#closed) return;
    this.#closed = error;
    if (this.#probeTimer) clearInterval(this.#probeTimer);
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    for (const ch of this.#channels.values()) this.#failChannel(ch, error, false);
    this.#channels.clear();
    this.#dealer.close();
  }

  #timeoutMessage(ch: OutChannel, m: OutMessage, timeout: number): string {
    const why =
      ch.rid === undefined ? (this.#refusedKey ? `${this.endpoint} refused this runtime's CURVE key` : `no answer from ${this.endpoint}`)
      : m.seq === 0 && ch.nextSeq > ch.limit ? "no credit from the receiver (mailbox full)"
      : m.seq === 0 ? "the local outbox is full"
      : m.seq > ch.stored ? "not acknowledged by the receiver"
      : "stored, not yet taken by a receiver";
    return `send to ${ch.address} was not ${m.until} within ${timeout} ms (${why})`;
  }

  #settle(m: OutMessage, error?: Error): void {
    if (m.settled) return;
    m.settled = true;
    this.#waits.end(m);
    if (error) m.reject?.(error);
    else m.resolve?.();
  }

  #giveUp(ch: OutChannel, m: OutMessage, error: Error): void {
    // Not yet forwarded: withdraw it. Forwarded: it may still arrive; only the wait ends.
    if (m.seq === 0 && !ch.waiting.remove(m)) ch.pending.remove(m);
    this.#settle(m, error);
  }

  /** Something changed for `ch`: make sure the writer and the probe timer run. */
  #kick(ch: OutChannel): void {
    if (!ch.opened) {
      ch.opened = true;
      this.#hello(ch);
    } else {
      this.#askIfBlocked(ch);
    }
    if (this.#probeTimer === undefined && !this.#closed) {
      this.#probeTimer = setInterval(() => this.#probe(), this.#host.options.probeInterval);
      this.#probeTimer.unref();
    }
    this.#schedule();
  }

  /** Asks for credit (once until the limit rises) when messages wait and none is left. */
  #askIfBlocked(ch: OutChannel): void {
    if (ch.rid === undefined || ch.asking || ch.sentSeq < ch.limit) return;
    if (ch.waiting.length + ch.pending.length === 0 && ch.sentSeq >= ch.nextSeq - 1) return;
    ch.asking = true;
    this.#hello(ch, false);
  }

  /**
   * Opens or probes the channel (`probe`: the answer says what the owner has, and what is
   * missing is sent again), or only says how many messages wait for credit.
   */
  #hello(ch: OutChannel, probe = true): void {
    ch.lastProbe = performance.now();
    const want = ch.waiting.length + ch.pending.length;
    this.#controls.push([encodeHeader([PROTOCOL_VERSION, Kind.Hello, ch.mailbox, ch.stored + 1, want, probe])]);
  }

  /** Asks the owner where things stand on channels that wait and have heard nothing lately. */
  #probe(): void {
    const now = performance.now();
    const { probeInterval } = this.#host.options;
    let busy = false;
    for (const ch of this.#channels.values()) {
      if (!ch.busy) continue;
      busy = true;
      if (now - ch.lastHeard >= probeInterval && now - ch.lastProbe >= probeInterval) this.#hello(ch);
    }
    if (!busy) {
      clearInterval(this.#probeTimer);
      this.#probeTimer = undefined;
    }
    this.#schedule();
  }

  /**
   * Starts the writer at the end of this turn of the event loop, not at once: the messages
   * sent in one turn then share data frames. Sending each message as it comes cost 3x the CPU a
   * request and halved the throughput of 64 requests in flight (batches of 1 instead of ~35).
   */
  #schedule(): void {
    if (this.#scheduled || this.#writing || this.#closed) return;
    this.#scheduled = true;
    setImmediate(this.#onTurnEnd);
  }

  readonly #onTurnEnd = (): void => {
    this.#scheduled = false;
    void this.#write();
  };

  async #write(): Promise<void> {
    if (this.#writing || this.#closed) return;
    this.#writing = true;
    try {
      for (let frames = this.#next(); frames !== undefined && !this.#closed; frames = this.#next()) {
        try {
          await this.#dealer.send(frames);
        } catch (error) {
          if (this.#closed || (error as { code?: unknown }).code !== "EAGAIN") throw error;
          // ZeroMQ's queue for the owner is full (sockets.ts): wait for room, then go on without waiting.
          this.#dealer.sendTimeout = -1;
          await this.#dealer.send(frames);
          if (!this.#closed) this.#dealer.sendTimeout = 0;
        }
      }
    } catch (error) {
      if (!this.#closed) throw error;
    } finally {
      this.#writing = false;
    }
  }

  /** The next ZeroMQ message to send: control frames first, then data, round-robin over channels. */
  #next(): Buffer[] | undefined {
    const control = this.#controls.shift();
    if (control) return control;
    for (const ch of this.#channels.values()) {
      const frames = this.#batch(ch);
      if (frames === undefined) continue;
      // Round-robin: the channel just served goes to the back.
      this.#channels.delete(ch.mailbox);
      this.#channels.set(ch.mailbox, ch);
      return frames;
    }
    return undefined;
  }

  /** Builds one data frame for `ch`: re-sends first, then new messages, as far as credit goes. */
  #batch(ch: OutChannel): Buffer[] | undefined {
    if (ch.rid === undefined) return undefined;
    const first = ch.sentSeq + 1;
    // Out of credit: the owner tops the channel up as slots come free (data frames tell it how much waits).
    if (first > ch.limit) return undefined;
    const { batchSize, maxMessageSize } = this.#host.options;
    const base = ch.unacked.peek()?.seq ?? ch.nextSeq;
    let index = first - base;
    // Most frames carry one message: its payload is the body, and no list of payloads is made.
    let single: Buffer | undefined;
    let payloads: Buffer[] | undefined;
    const lens: number[] = [];
    let flags = -1;
    let bytes = 0;
    let seq = first;
    while (lens.length < batchSize && seq <= ch.limit) {
      let m: OutMessage | undefined = ch.unacked.at(index);
      const resend = m !== undefined;
      if (!resend) {
        m = ch.pending.peek();
        // PROTOCOL 5.7: the owner holds nothing larger than its acks say. Refused here, at once
        // and before it takes a seq, so that nothing after it waits (the owner's socket would
        // drop the connection, and the message would be re-sent for ever).
        while (m !== undefined && m.payload.length > ch.max) {
          ch.pending.shift();
          this.#tooLarge(ch, m);
          m = ch.pending.peek();
        }
      }
      if (m === undefined) break;
      const mflags = m.until === "queued" ? m.flags : m.flags | Flag.AckNow;
      // A batch stays small enough for any owner (its socket cuts at its maxMessageSize + 64 KiB):
      // only a single message is ever larger, and an owner that cannot hold it refuses it alone.
      if (flags !== -1 && (mflags !== flags || bytes + m.payload.length > Math.min(maxMessageSize, BATCH_BYTES))) break;
      if (resend) {
        this.#host.counters.retransmitted++;
        ch.retransmitted++;
      } else {
        ch.pending.shift();
        m.seq = ch.nextSeq++;
        ch.unacked.push(m);
        this.#host.counters.sent++;
        ch.sent++;
      }
      flags = mflags;
      bytes += m.payload.length;
      if (single === undefined) single = m.payload;
      else (payloads ??= [single]).push(m.payload);
      lens.push(m.payload.length);
      index++;
      seq++;
    }
    if (single === undefined) return undefined;
    ch.sentSeq = seq - 1;
    const want = ch.waiting.length + ch.pending.length;
    const header = encodeHeader([PROTOCOL_VERSION, Kind.Data, ch.mailbox, first, flags, lens, want]);
    return addBody([header], payloads === undefined ? single : Buffer.concat(payloads, bytes));
  }

  #tooLarge(ch: OutChannel, m: OutMessage): void {
    const error = new MessageTooLargeError(
      `the message has ${m.payload.length} bytes; ${ch.address} takes at most ${ch.max} (its maxMessageSize)`,
    );
    if (m.settled) this.#undeliverable(m, error);
    this.#settle(m, error);
    this.#admitWaiting(ch);
  }

  /** Room in the outbox: waiting sends move in ("queued" ones return now). */
  #admitWaiting(ch: OutChannel): void {
    while (ch.waiting.length > 0 && ch.outbox < this.#host.options.outboxCapacity) {
      const m = ch.waiting.shift()!;
      ch.pending.push(m);
      if (m.until === "queued") this.#settle(m);
    }
  }

  async #read(): Promise<void> {
    try {
      await readLoop(this.#dealer, (parts) => {
        const decoded = decodeFrame(parts, this.#host.options.maxMessageSize);
        if (!decoded.ok) {
          this.#refuse(decoded.reason);
          return;
        }
        const f = decoded.frame;
        try {
          if (f.kind === "ack") this.#onAck(f);
          else if (f.kind === "nak") this.#onNak(f);
          else this.#host.onReceiverFrame(this, f);
        } catch {
          // A frame must never take the runtime down.
          this.#refuse("fields");
        }
      });
    } catch (error) {
      if (!this.#closed) throw error;
    }
  }

  #refuse(reason: string): void {
    this.#host.counters.refused[reason] = (this.#host.counters.refused[reason] ?? 0) + 1;
  }

  #onAck(f: Extract<Frame, { kind: "ack" }>): void {
    const ch = this.#channels.get(f.mailbox);
    if (ch === undefined) return;
    ch.lastHeard = performance.now();
    // An ack for messages never sent, or credit below what the owner stored, is not believed.
    if (f.stored >= ch.nextSeq || f.taken > f.stored || f.limit < f.stored) return this.#refuse("fields");
    if (ch.rid !== undefined && ch.rid !== f.rid) this.#restarted(ch);
    ch.rid = f.rid;
    ch.max = f.max;
    if (f.stored > ch.stored) {
      ch.stored = f.stored;
      for (let m = ch.unacked.peek(); m !== undefined && m.seq <= f.stored; m = ch.unacked.peek()) {
        ch.unacked.shift();
        m.payload = EMPTY;
        if (m.refused) {
          if (m.settled) this.#undeliverable(m, m.refused);
          this.#settle(m, m.refused);
        } else if (m.until === "received" && !m.settled) ch.untaken.push(m);
        else this.#settle(m);
      }
      this.#admitWaiting(ch);
    }
    if (f.taken > ch.taken) {
      ch.taken = f.taken;
      for (let m = ch.untaken.peek(); m !== undefined && m.seq <= f.taken; m = ch.untaken.peek()) {
        ch.untaken.shift();
        this.#settle(m);
      }
    }
    // Messages held back for want of credit: this ack lets them go.
    const unblocked = f.limit > ch.limit && ch.sentSeq >= ch.limit && ch.pending.length > 0;
    // A lower limit: the owner took back unused credit (its lease ran out). If messages wait,
    // say so, or the owner, which forgot what this channel wanted, grants it nothing.
    if (f.limit > ch.limit) ch.asking = false;
    ch.limit = f.limit;
    ch.reopening = false;
    // The owner lost (or refused) what came after `stored`: send it again.
    if (f.resend && ch.sentSeq > ch.stored) ch.sentSeq = ch.stored;
    // PROTOCOL 5.8: never re-send what is stored. After a rewind, an ack for data sent before it
    // (overtaken by a probe's answer) can report stored past sentSeq; the next frame must start
    // after stored, or its first messages would carry seqs the owner already has, as duplicates.
    if (ch.sentSeq < ch.stored) ch.sentSeq = ch.stored;
    // Messages to send and no credit (the owner took it back for lack of use, or refused what
    // went past it): say so, or the owner, which forgot what this channel wanted, grants nothing.
    this.#askIfBlocked(ch);
    // Written now rather than at the end of the turn: the sends this ack admitted to the outbox
    // resume in this turn's microtasks, and a sender in a loop would make a whole outbox of new
    // messages before the ones that waited for this credit left.
    if (unblocked) void this.#write();
    else this.#schedule();
  }

  #onNak(f: Extract<Frame, { kind: "nak" }>): void {
    // A nak may concern remote receivers of the mailbox as well as its sender channel.
    this.#host.onReceiverFrame(this, f);
    const ch = this.#channels.get(f.mailbox);
    if (ch === undefined) return;
    ch.lastHeard = performance.now();
    if (f.code === NakCode.NoMailbox || f.code === NakCode.Forbidden || f.code === NakCode.Limit) {
      const error =
        f.code === NakCode.Forbidden
          ? new ForbiddenError(`the mailbox "${ch.mailbox}" at ${this.endpoint} does not let this runtime send: ${f.message}`)
          : f.code === NakCode.Limit
            ? new LimitExceededError(`${ch.address} refused the channel: ${f.message}`)
            : new NoSuchMailboxError(`no mailbox "${ch.mailbox}" at ${this.endpoint}: ${f.message}`);
      this.#failChannel(ch, error, true);
      this.#channels.delete(ch.mailbox);
      return;
    }
    if (f.code === NakCode.BadMessage) {
      const first = ch.unacked.peek()?.seq ?? ch.nextSeq;
      const m = ch.unacked.at(f.seq - first);
      if (m !== undefined && m.seq === f.seq) m.refused = new MessageRefusedError(`${ch.address} refused the message: ${f.message}`);
      return;
    }
    if (f.code !== NakCode.NoChannel) return this.#refuse("fields");
    // NO_CHANNEL: the owner does not know this channel (it restarted, or forgot us): open it again.
    if (ch.rid !== undefined && ch.rid !== f.rid) this.#restarted(ch);
    ch.rid = undefined;
    ch.sentSeq = ch.stored;
    // PROTOCOL 5.11: one probe until an ack answers. Each frame on its way when the owner forgot
    // the channel gets its own nak; a probe for each would rewind the sender once per answer.
    // If this probe or its answer is lost, the regular probe repeats it (the channel is busy).
    if (!ch.reopening) {
      ch.reopening = true;
      this.#hello(ch);
    }
    this.#schedule();
  }

  /** A "queued" send failed after it returned. */
  #undeliverable(m: OutMessage, error: Error): void {
    this.#host.counters.undeliverable++;
    const callback = m.onUndeliverable;
    // On a microtask: the callback runs outside this frame's handling, whatever it does.
    if (callback) queueMicrotask(() => callback(error));
  }

  /** The owner restarted: what it stored is gone with the old incarnation. */
  #restarted(ch: OutChannel): void {
    const error = new ReceiverRestartedError(
      `${ch.address} restarted after storing the message and before a receiver took it; the message is lost`,
    );
    for (const m of ch.untaken.drain()) this.#settle(m, error);
    ch.taken = ch.stored;
    ch.sentSeq = ch.stored;
  }

  #failChannel(ch: OutChannel, error: Error, countUndeliverable: boolean): void {
    for (const q of [ch.waiting, ch.pending, ch.unacked, ch.untaken]) {
      for (const m of q.drain()) {
        // A "queued" send already returned: its failure shows in the counters (and its callback).
        if (countUndeliverable && m.settled) this.#undeliverable(m, error);
        this.#settle(m, error);
      }
    }
  }
}

const EMPTY = Buffer.alloc(0);
