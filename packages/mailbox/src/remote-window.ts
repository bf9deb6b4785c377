/**
 * The owner's side of remote receive: a remote receiver's window on one mailbox. The owner
 * hands it messages under delivery ids (at most `window` not yet taken or handed back) and
 * takes them back if the receiver goes silent, so that no message is lost with a receiver.
 *
 *   receiver                              owner
 *     | pull(window, seen, held) ------->   |  credit = window - in flight
 *     | <------------- deliver(id, bytes)   |  message counts in the mailbox until taken
 *     | taken(ids) -------------------->    |  slot free: credit to senders
 *     | release(ids) ------------------>    |  back to the front of the mailbox
 *     (silent for receiverTimeout)          |  every message in flight goes back
 */
import type { Mailbox, StoredMessage, Waiter } from "./mailbox.js";

export class RemoteWindow {
  readonly inFlight = new Map<number, StoredMessage>();
  readonly waiter: Extract<Waiter, { kind: "remote" }>;
  lastHeard: number;
  #nextId = 1;

  constructor(
    readonly key: string,
    readonly peer: Buffer,
    readonly mailbox: Mailbox,
    now: number,
    deliver: (window: RemoteWindow, id: number, message: StoredMessage) => void,
  ) {
    this.lastHeard = now;
    this.waiter = {
      kind: "remote",
      credit: 0,
      hand: (message) => {
        const id = this.#nextId++;
        this.inFlight.set(id, message);
        deliver(this, id, message);
      },
    };
  }

  /**
   * The receiver wants `window` messages in flight; it has seen delivery ids up to `seen` and
   * still holds `held`. A delivery at or below `seen` that it neither holds nor reported taken
   * or released was lost on the way: it goes back to the mailbox.
   */
  pull(window: number, seen: number, held: readonly number[], now: number): void {
    this.lastHeard = now;
    if (this.inFlight.size > 0) {
      const holds = new Set(held);
      for (const [id, message] of this.inFlight) {
        if (id <= seen && !holds.has(id)) this.#return(id, message);
      }
    }
    this.mailbox.removeRemote(this.waiter);
    this.waiter.credit = Math.max(0, window - this.inFlight.size);
    if (this.waiter.credit > 0) this.mailbox.addRemote(this.waiter);
  }

  taken(ids: readonly number[], now: number): void {
    this.lastHeard = now;
    for (const id of ids) {
      const message = this.inFlight.get(id);
      if (message === undefined) continue;
      this.inFlight.delete(id);
      this.mailbox.remoteTaken(message);
    }
  }

  release(ids: readonly number[], now: number): void {
    this.lastHeard = now;
    for (const id of ids) {
      const message = this.inFlight.get(id);
      if (message !== undefined) this.#return(id, message);
    }
  }

  /** The delivery `id` could not be sent: the message goes back at once. */
  undeliverable(id: number): void {
    const message = this.inFlight.get(id);
    if (message !== undefined) this.#return(id, message);
  }

  /** The receiver is gone: stop handing it messages, and take back all it had not taken. */
  expire(): void {
    this.mailbox.removeRemote(this.waiter);
    this.waiter.credit = 0;
    for (const [id, message] of this.inFlight) this.#return(id, message);
  }

  #return(id: number, message: StoredMessage): void {
    this.inFlight.delete(id);
    this.mailbox.remoteReturned(message);
  }
}
