/**
 * The owner's side of remote receive: a remote receiver's window on one mailbox. The owner
 * hands it messages under delivery ids (at most `window` not yet taken or handed back) and
 * takes them back if the receiver goes silent, starts a new epoch, or lost them on the way,
 * so that no message is lost with a receiver.
 *
 *   receiver                                      owner
 *     | pull(window, epoch, rid, seen, held) -->   |  credit = window - in flight
 *     | <------------ deliver(rid, epoch, id, bytes) |  the message counts in the mailbox until taken
 *     | taken(ids) ---------------------------->   |  slot free: credit to senders; the window is topped up
 *     | release(ids) -------------------------->   |  back to the front of the mailbox, in order
 *     | pull(..., epoch + 1, ...) -------------->  |  every message of the old epoch goes back
 *     (silent for receiverTimeout)                 |  every message in flight goes back
 *
 * Acknowledged receive (PROTOCOL.md 6.8): a delivery taken by a manual receive is reported with
 * `lease` instead of `taken`. It leaves the window for the mailbox's leases, bound to this
 * window (so to this receiver's connection): only this window's `settle` and `lease` frames
 * can ack, nack or extend it.
 *
 *     | lease(ids, ms) ------------------------->  |  leased: attempt + 1, due in ms (again: extended)
 *     | settle("ack", ids) --------------------->  |  gone for good; slot free
 *     | settle("nack", ids, delay) ------------->  |  back after delay (attempt + 1 when given), or dead-lettered
 *     (lease runs out, or silent for receiverTimeout) | back, as a nack
 */
import type { Lease } from "./delivery.js";
import type { Mailbox, StoredMessage, Waiter } from "./mailbox.js";

interface InFlight {
  readonly message: StoredMessage;
}

export class RemoteWindow {
  readonly inFlight = new Map<number, InFlight>();
  /** Deliveries taken by manual receives, by delivery id: on a lease in the mailbox until settled. */
  readonly leases = new Map<number, Lease>();
  readonly waiter: Extract<Waiter, { kind: "remote" }>;
  lastHeard: number;
  /** The receiver's epoch: deliveries carry it; a pull with another one voids what is in flight. */
  epoch: number;
  /** How many messages the receiver last asked to have in flight. */
  #window = 0;

  constructor(
    readonly key: string,
    readonly peer: Buffer,
    readonly mailbox: Mailbox,
    now: number,
    epoch: number,
    nextId: () => number,
    deliver: (window: RemoteWindow, id: number, message: StoredMessage) => void,
  ) {
    this.lastHeard = now;
    this.epoch = epoch;
    this.waiter = {
      kind: "remote",
      credit: 0,
      hand: (message) => {
        const id = nextId();
        this.inFlight.set(id, { message });
        deliver(this, id, message);
      },
    };
  }

  /**
   * The receiver wants `window` messages in flight. If it speaks of this owner incarnation
   * (`sameOwner`), it has seen delivery ids up to `seen` and still holds `held`: a delivery it
   * neither holds nor reported taken or released, at or below `seen`, was lost on the way and
   * goes back to the mailbox. (Deliveries lost after the last one it saw are recovered by the
   * receiver: it starts a new epoch when it waits too long for anything.)
   */
  pull(window: number, epoch: number, sameOwner: boolean, seen: number, held: readonly number[], now: number): void {
    this.lastHeard = now;
    if (epoch !== this.epoch) {
      this.epoch = epoch;
      this.#return([...this.inFlight.keys()]);
    } else if (sameOwner && this.inFlight.size > 0) {
      const holds = new Set(held);
      const lost: number[] = [];
      for (const [id, f] of this.inFlight) {
        if (!holds.has(id) && id <= seen) lost.push(id);
      }
      this.#return(lost);
    }
    this.#window = window;
    this.#refill();
  }

  taken(ids: readonly number[], now: number): void {
    this.lastHeard = now;
    for (const id of ids) {
      const f = this.inFlight.get(id);
      if (f === undefined) continue;
      this.inFlight.delete(id);
      this.mailbox.remoteTaken(f.message);
    }
    this.#refill();
  }

  /** Tops the receiver up to its window. */
  #refill(): void {
    this.mailbox.removeRemote(this.waiter);
    this.waiter.credit = Math.max(0, this.#window - this.inFlight.size);
    if (this.waiter.credit > 0) this.mailbox.addRemote(this.waiter);
  }

  release(ids: readonly number[], now: number): void {
    this.lastHeard = now;
    this.#return(ids);
  }

  /** The delivery `id` could not be sent: the message goes back at once. */
  undeliverable(id: number): void {
    this.#return([id]);
  }

  /**
   * Deliveries `ids` were taken by manual receives (in flight: they become leases of `ms`, 0
   * for none), or are leased already (their lease now runs out `ms` from now). Ids this window
   * does not hold are ignored: a peer can only lease and settle what was delivered to it.
   */
  lease(ids: readonly number[], ms: number, now: number): void {
    this.lastHeard = now;
    const lease = ms === 0 ? Infinity : ms;
    let taken = false;
    for (const id of ids) {
      const f = this.inFlight.get(id);
      if (f !== undefined) {
        this.inFlight.delete(id);
        this.leases.set(id, this.mailbox.remoteLend(f.message, lease));
        taken = true;
        continue;
      }
      const l = this.leases.get(id);
      if (l === undefined) continue;
      // A lease that ran out (or was settled) is gone: the message may be with someone else.
      if (!l.owner.extend(l, lease)) this.leases.delete(id);
    }
    if (taken) this.#refill();
  }

  /** Acks or nacks (given again after `delay` ms) leased deliveries `ids` of this window. */
  settle(op: "ack" | "nack", ids: readonly number[], delay: number, now: number): void {
    this.lastHeard = now;
    for (const id of ids) {
      const l = this.leases.get(id);
      if (l === undefined) continue;
      this.leases.delete(id);
      if (op === "ack") l.owner.ack(l);
      else l.owner.nack(l, delay);
    }
  }

  /** Forgets leases that ran out (their messages went back to the mailbox meanwhile). */
  prune(): void {
    for (const [id, l] of this.leases) if (!l.owner.live(l)) this.leases.delete(id);
  }

  /**
   * The receiver is gone: stop handing it messages, take back all it had not taken, and nack
   * what it had leased (its attempt counted: it goes to the next receiver, or to the
   * dead-letter mailbox).
   */
  expire(): void {
    this.mailbox.removeRemote(this.waiter);
    this.waiter.credit = 0;
    this.#return([...this.inFlight.keys()]);
    for (const l of this.leases.values()) l.owner.nack(l, 0);
    this.leases.clear();
  }

  /** Puts messages back at the front of the mailbox, oldest delivery first. */
  #return(ids: readonly number[]): void {
    const back: StoredMessage[] = [];
    for (const id of [...ids].sort((a, b) => a - b)) {
      const f = this.inFlight.get(id);
      if (f === undefined) continue;
      this.inFlight.delete(id);
      back.push(f.message);
    }
    if (back.length > 0) this.mailbox.remoteReturned(back);
  }
}
