/**
 * Acknowledged receive: a message taken with `receive({ ack: "manual" })` is lent to its
 * receiver for a lease, and stays the mailbox's (counted in its depth, against its capacity)
 * until the receiver acks it. A nack, or a lease that runs out, puts it back for another
 * attempt; after `maxAttempts` attempts it goes to the mailbox's dead-letter mailbox.
 *
 *   receiver                       mailbox
 *     | receive({ ack: "manual" }) -> |  message leased: attempt 1, due in `lease` ms
 *     | <-------- Delivery            |
 *     | d.extend(ms)  ------------->  |  due again in ms
 *     | d.ack()       ------------->  |  message gone for good; its slot is free
 *     | d.nack({ delay }) --------->  |  back in the mailbox (after delay), attempt 2
 *     |      (lease runs out)         |  back in the mailbox, attempt 2
 */
import { checkOptions, checkInteger } from "./check.js";
import type { Timed } from "./deadlines.js";
import { InvalidArgumentError } from "./errors.js";

/** @internal What a lease's owner (its mailbox) does when a delivery is settled. */
export interface LeaseOwner {
  ack(lease: Lease): boolean;
  nack(lease: Lease, delay: number): boolean;
  extend(lease: Lease, ms: number): boolean;
  /** Whether the lease can still be settled (leased, and its mailbox open). */
  live(lease: Lease): boolean;
}

/**
 * @internal One delivery's hold on its message, on its mailbox's deadline heap: due when the
 * lease runs out ("leased") or when a nack's delay is over ("delayed").
 */
export interface Lease extends Timed {
  state: "leased" | "delayed" | "settled";
  readonly owner: LeaseOwner;
}

/** Options of {@link Delivery.nack}. */
export interface NackOptions {
  /**
   * Ms before the message is given to a receiver again; meanwhile it still counts in the
   * mailbox's depth.
   * @default 0
   */
  delay?: number;
}

/**
 * A message taken with `receive({ ack: "manual" })`: it stays in its mailbox until acked.
 * Settle it once with {@link ack} or {@link nack}; a delivery neither acked nor nacked
 * before its lease runs out is given again (attempt + 1). Settling a delivery that is
 * already settled (acked, nacked, or expired) does nothing and returns `false`.
 *
 * @example
 * const d = await jobs.receive({ ack: "manual", lease: 30_000 });
 * try {
 *   await handle(d.value);
 *   d.ack();
 * } catch {
 *   d.nack({ delay: 1000 });
 * }
 */
export class Delivery {
  readonly #lease: Lease;

  /** @internal Deliveries come from `receive({ ack: "manual" })`. */
  constructor(
    lease: Lease,
    /** The message: a `Buffer` for bytes sent raw, else the decoded MessagePack value. */
    readonly value: unknown,
    /** 1 the first time the message is delivered, then one more for each nack or lease run out. */
    readonly attempt: number,
    /** The message's identity in its mailbox: the same on every attempt, for receivers that must be idempotent. */
    readonly id: string,
    /**
     * With CURVE: the public key (z85) of the runtime that sent the message, as its connection
     * authenticated it (not what the message says). Undefined without CURVE.
     */
    readonly sender?: string,
  ) {
    this.#lease = lease;
  }

  /** True when the message was delivered before (`attempt > 1`): an earlier receiver may have handled it in part. */
  get redelivered(): boolean {
    return this.attempt > 1;
  }

  /** True once acked, nacked, or its lease ran out (or its mailbox closed): it can no longer be settled. */
  get settled(): boolean {
    return !this.#lease.owner.live(this.#lease);
  }

  /**
   * Takes the message out of the mailbox for good (its slot goes to senders; a sender waiting
   * with `until: "received"` resolves now).
   * @returns false (and does nothing) if the delivery was already settled: a lease that ran out
   * means the message may be with another receiver.
   */
  ack(): boolean {
    return this.#lease.owner.ack(this.#lease);
  }

  /**
   * Gives the message back: it is delivered again (attempt + 1) after `delay` ms, or goes to
   * the dead-letter mailbox if this was its last attempt.
   * @returns false (and does nothing) if the delivery was already settled.
   * @example
   * d.nack({ delay: 5000 }); // try again in 5 s
   */
  nack(options?: NackOptions): boolean {
    let delay = 0;
    if (options !== undefined) {
      const o = checkOptions(options, "nack", NACK_OPTIONS);
      delay = checkInteger("delay", o.delay, 0, 0);
    }
    return this.#lease.owner.nack(this.#lease, delay);
  }

  /**
   * Makes the lease run out `ms` from now (not from when it was taken): for work that takes
   * longer than the lease asked for.
   * @returns false (and does nothing) if the delivery was already settled.
   * @example
   * const keepAlive = setInterval(() => d.extend(30_000), 10_000);
   */
  extend(ms: number): boolean {
    if (ms === undefined) throw new InvalidArgumentError("Expected `ms` to be an integer from 1 and up, got `undefined` (undefined)");
    return this.#lease.owner.extend(this.#lease, checkInteger("ms", ms, 0, 1));
  }
}

const NACK_OPTIONS = ["delay"] as const;

/**
 * @internal The loop behind `deliveries()`, local and remote: takes deliveries one at a time
 * with `receive` until it fails and `ended()` says the source closed (or the signal aborted).
 * Ending the loop nacks the deliveries it gave that are not settled yet.
 */
export async function* deliveryLoop(
  receive: () => Promise<Delivery>,
  ended: () => boolean,
  signal: AbortSignal | undefined,
): AsyncGenerator<Delivery, void, undefined> {
  const open = new Set<Delivery>();
  try {
    for (;;) {
      let d: Delivery;
      try {
        d = await receive();
      } catch (error) {
        if (ended() || signal?.aborted) return;
        throw error;
      }
      for (const o of open) if (o.settled) open.delete(o);
      open.add(d);
      yield d;
    }
  } finally {
    for (const d of open) d.nack();
  }
}
