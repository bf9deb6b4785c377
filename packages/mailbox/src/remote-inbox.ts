/**
 * The receiver's side of remote receive: `runtime.receive("name@other-endpoint")` takes from a
 * mailbox another runtime owns. The inbox asks the owner for a window of messages while
 * someone is receiving, hands each to exactly one local receiver, and tells the owner which
 * were taken. Messages it holds when receivers stop asking go back to the owner.
 *
 * Delivery rule (PROTOCOL.md, "Remote receive"): a message is taken once it is returned by
 * `receive` here; the owner counts it as taken when the `taken` notice arrives. If this
 * process or its connection dies in between, the owner puts the message back and another
 * receiver gets it: that is the one case where a message is delivered twice.
 */
import type { Deadline, Deadlines } from "./deadlines.js";
import { Deque } from "./deque.js";
import {
  AbortedError,
  BufferTooSmallError,
  InvalidArgumentError,
  NoSuchMailboxError,
  TimeoutError,
  describe,
} from "./errors.js";
import { parseReceiveOptions, type ReceiveOptions } from "./options.js";
import { Kind, PROTOCOL_VERSION, decodeValue, encodeHeader, type Frame } from "./wire.js";

interface Delivered {
  readonly id: number;
  readonly payload: Buffer;
  readonly value: unknown;
}

type LocalWaiter = {
  buffer: Uint8Array | undefined;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  deadline: Deadline | undefined;
  unlisten: (() => void) | undefined;
};

export interface InboxHost {
  readonly deadlines: Deadlines;
  readonly probeMs: number;
  readonly window: number;
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
  #seen = 0;
  #taken: number[] = [];
  #flushing = false;
  /** The window last asked for (0: none). */
  #asked = 0;
  #lastContact = 0;
  #lastUse = 0;
  #timer: NodeJS.Timeout | undefined;
  #failed: Error | undefined;

  constructor(
    readonly mailbox: string,
    readonly address: string,
    host: InboxHost,
  ) {
    this.#host = host;
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
    if (this.#failed) return Promise.reject(this.#failed);
    if (signal?.aborted) return Promise.reject(new AbortedError(`receive on ${this.address} aborted`, { cause: signal.reason }));
    this.#lastUse = performance.now();
    this.#dropIfStale();
    const head = this.#held.peek();
    if (head !== undefined && this.#waiters.length === 0) {
      if (buffer !== undefined && head.payload.length > buffer.length) return Promise.reject(tooSmall(head, buffer));
      this.#held.shift();
      return Promise.resolve(this.#take(head, buffer));
    }
    return new Promise((resolve, reject) => {
      const w: LocalWaiter = { buffer, resolve, reject, deadline: undefined, unlisten: undefined };
      const giveUp = (error: Error): void => {
        this.#waiters.remove(w);
        this.#done(w);
        reject(error);
      };
      if (timeout !== Infinity) {
        w.deadline = this.#host.deadlines.add(timeout, () => giveUp(new TimeoutError(`no message from ${this.address} within ${timeout} ms`)));
      }
      if (signal) {
        const onAbort = (): void => giveUp(new AbortedError(`receive on ${this.address} aborted`, { cause: signal.reason }));
        signal.addEventListener("abort", onAbort, { once: true });
        w.unlisten = () => signal.removeEventListener("abort", onAbort);
      }
      this.#waiters.push(w);
      this.#ask();
    });
  }

  /** A frame from the owner about this mailbox. */
  onFrame(f: Frame): void {
    this.#lastContact = performance.now();
    if (f.kind === "nak") {
      this.fail(new NoSuchMailboxError(`no mailbox "${this.mailbox}" at ${this.address.slice(this.mailbox.length + 1)}: ${f.message}`));
      return;
    }
    if (f.kind !== "deliver") return;
    if (f.id > this.#seen) this.#seen = f.id;
    let value: unknown;
    try {
      value = decodeValue(f.body, f.flags);
    } catch {
      // The owner checked it when it was stored; a payload that fails here is counted as taken and dropped.
      this.#taken.push(f.id);
      this.#flush();
      return;
    }
    const d: Delivered = { id: f.id, payload: f.body, value };
    if (this.#asked === 0) {
      // Nobody asked for it (any more): hand it straight back.
      this.#host.control([encodeHeader([PROTOCOL_VERSION, Kind.release, this.mailbox, [d.id]])]);
      return;
    }
    this.#held.push(d);
    this.#serve();
  }

  /** Ends the inbox: waiters reject with `error`, held messages go back to the owner. */
  fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    for (const w of this.#waiters.drain()) {
      this.#done(w);
      w.reject(error);
    }
    this.#releaseHeld();
    this.#flush();
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
      w.resolve(this.#take(head, w.buffer));
    }
  }

  #take(d: Delivered, buffer: Uint8Array | undefined): unknown {
    this.#taken.push(d.id);
    this.#host.counted("received");
    this.#flush();
    if (buffer === undefined) return d.value;
    buffer.set(d.payload);
    return d.payload.length;
  }

  #done(w: LocalWaiter): void {
    this.#host.deadlines.cancel(w.deadline);
    w.unlisten?.();
  }

  /** Sends what was taken and asks for the window again, once per tick. */
  #flush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    setImmediate(() => {
      this.#flushing = false;
      if (this.#taken.length > 0) {
        this.#host.control([encodeHeader([PROTOCOL_VERSION, Kind.taken, this.mailbox, this.#taken])]);
        this.#taken = [];
      }
      if (!this.#failed && this.#asked > 0) this.#pull(this.#host.window);
    });
  }

  #ask(): void {
    if (this.#asked === 0) this.#pull(this.#host.window);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), this.#host.probeMs);
      this.#timer.unref();
    }
  }

  #pull(window: number): void {
    this.#asked = window;
    this.#lastContact = Math.max(this.#lastContact, performance.now());
    const held = [...this.#held].map((d) => d.id);
    this.#host.control([encodeHeader([PROTOCOL_VERSION, Kind.pull, this.mailbox, window, this.#seen, held])]);
  }

  /** Keep-alive while receiving; hand everything back once receivers stop asking. */
  #tick(): void {
    const now = performance.now();
    if (this.#waiters.length > 0 || now - this.#lastUse < this.#host.probeMs) {
      this.#pull(this.#host.window);
      return;
    }
    this.#releaseHeld();
    if (this.#asked > 0) this.#pull(0);
    this.#asked = 0;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#host.idle(this);
  }

  /**
   * If this process was too busy to keep in touch (a blocked event loop), the owner may have
   * taken the held messages back and handed them to someone else: drop them rather than
   * deliver them twice.
   */
  #dropIfStale(): void {
    if (this.#held.length === 0) return;
    if (performance.now() - this.#lastContact < 2 * this.#host.probeMs) return;
    this.#releaseHeld();
    this.#pull(this.#host.window);
  }

  #releaseHeld(): void {
    const ids = this.#held.drain().map((d) => d.id);
    if (ids.length > 0) this.#host.control([encodeHeader([PROTOCOL_VERSION, Kind.release, this.mailbox, ids])]);
  }
}

function tooSmall(d: Delivered, buffer: Uint8Array): BufferTooSmallError {
  return new BufferTooSmallError(
    `the next message has ${d.payload.length} bytes, the buffer ${buffer.length}; the message stays in the mailbox`,
    d.payload.length,
  );
}
