/**
 * The owner's one writer on its Router: acks, naks and deliveries go out in order, one ZeroMQ
 * send at a time, and never block on a slow peer (the Router's send timeout is 0).
 */
import type * as zmq from "zeromq";
import { Deque } from "./deque.js";

interface OutFrame {
  frames: Buffer[];
  onFail: ((error?: unknown) => void) | undefined;
}

/** Messages waiting in the writer beyond which naks are dropped (see `enqueue`). */
export const NAK_BACKLOG = 256;

export class RouterWriter {
  readonly #router: zmq.Router;
  readonly #counters: { unsent: number };
  readonly #out = new Deque<OutFrame>();
  #writing = false;

  /** Counts in `counters.unsent` what ZeroMQ could not take. */
  constructor(router: zmq.Router, counters: { unsent: number }) {
    this.#router = router;
    this.#counters = counters;
  }

  /** True when everything queued has been handed to ZeroMQ. */
  get idle(): boolean {
    return this.#out.length === 0 && !this.#writing;
  }

  /**
   * Queues one ZeroMQ message (`frames[0]` is the peer's routing id); `onFail` runs if it cannot
   * be sent. A `droppable` one (a nak) is dropped, and counted in `unsent`, while NAK_BACKLOG
   * messages wait: a peer that floods the owner with bad frames must not put thousands of naks
   * ahead of the acks other senders wait on. (Naks are answers to frames a sender repeats: its
   * probes get them again.)
   */
  enqueue(frames: Buffer[], onFail: ((error?: unknown) => void) | undefined, droppable = false): void {
    if (this.#router.closed || (droppable && this.#out.length >= NAK_BACKLOG)) {
      if (!this.#router.closed) this.#counters.unsent++;
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
        } catch (error) {
          // EAGAIN (peer not reading) or EHOSTUNREACH (peer gone): acks are re-sent on the
          // next probe; a delivery goes back to its mailbox.
          this.#counters.unsent++;
          item.onFail?.(error);
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
}
