/**
 * Windowed flow control at the owner of a mailbox: per sender channel, what is stored, what
 * is taken and how far the sender may go (its credit limit), and the allocator that hands
 * free slots out as credit.
 *
 * Invariant (checked by the tests): depth + reserved <= capacity, where `reserved` is the
 * credit granted and not yet used, summed over channels. A sender can only ever fill what
 * the owner has set aside for it, so the mailbox never holds more than its capacity.
 *
 *   sender                          owner
 *     | hello(base, want)  ------->  |  channel: stored = base-1, limit = stored + grant
 *     | <-------  ack(stored, taken, limit)
 *     | data(seq..seq+n-1, want) -->  |  stored += n (each seq <= limit, in order)
 *     | <-------  ack(...)            |  a receiver takes one: slot free, limit += 1
 */

/** The owner's view of one sender channel: one (sender runtime, mailbox) pair. */
export class InChannel {
  /** Highest seq stored; every seq up to it is in (or has passed through) the mailbox. */
  stored: number;
  /** Every seq up to `taken` has been taken by a receiver. */
  taken: number;
  /** Taken seqs above `taken` (possible only when remote receivers take out of order). */
  takenAbove: Set<number> | undefined;
  /** The sender may send seqs up to `limit`. */
  limit: number;
  /** Messages the sender said it has waiting for credit. */
  want = 0;
  /** When the owner last heard from the sender (performance.now()). */
  lastHeard: number;
  /** When the sender last used credit (sent data), or the channel opened. */
  lastUsed: number;
  /**
   * The channel's credit was taken back for lack of use: it gets no standing window until it
   * speaks again (hello or data), so that idle and dead senders neither churn nor hold capacity.
   */
  dormant = false;
  /** The next ack tells the sender to re-send everything after `stored`. */
  resend = false;
  /** Highest seq of a message whose sender waits on it (Flag.AckNow). */
  eagerUntil = 0;
  /** The next ack must go out at once (a hello or a revocation is answered without delay). */
  urgent = false;
  /**
   * Durable mailboxes: the highest seq whose record is on stable storage. Acks report it, not
   * `stored` (which counts what was accepted and is still being written). Undefined otherwise.
   */
  synced: number | undefined = undefined;
  /**
   * Durable mailboxes: a probe came while messages up to this seq were being written. Its
   * `resend` waits until they are on disk, or the sender would re-send them all.
   */
  resendAt: number | undefined = undefined;
  /** What an ack may say is stored. */
  get reportable(): number {
    return this.synced ?? this.stored;
  }
  /** What the last ack said. */
  ackedStored: number;
  ackedTaken: number;

  /** Whether the pending ack must go out now, or may wait to be gathered with later ones. */
  get ackIsUrgent(): boolean {
    return (
      this.urgent ||
      this.resend ||
      // A sender waits on a message that was stored or taken since the last ack.
      (this.eagerUntil > this.ackedStored && this.reportable > this.ackedStored) ||
      (this.eagerUntil > this.ackedTaken && this.taken > this.ackedTaken) ||
      // Many unacknowledged: the sender's outbox fills.
      this.reportable - this.ackedStored >= 32 ||
      // Little credit left: the sender may be about to wait for more.
      this.limit - this.stored < 8
    );
  }

  constructor(
    /** Unique per (sender, mailbox): the allocator's map key. */
    readonly key: string,
    /** The sender's routing id. */
    readonly peer: Buffer,
    readonly mailbox: string,
    base: number,
    now: number,
  ) {
    this.stored = this.taken = this.limit = this.ackedStored = this.ackedTaken = base - 1;
    this.lastHeard = this.lastUsed = now;
  }

  /** Credit granted and not yet used. */
  get outstanding(): number {
    return this.limit - this.stored;
  }

  /** Records that the message `seq` of this channel was taken by a receiver. */
  markTaken(seq: number): boolean {
    if (seq <= this.taken) return false;
    if (seq !== this.taken + 1) {
      (this.takenAbove ??= new Set()).add(seq);
      return false;
    }
    this.taken = seq;
    while (this.takenAbove?.delete(this.taken + 1)) this.taken++;
    return true;
  }
}

/**
 * Hands free slots out as credit. Two tiers: first what senders said they have waiting
 * (`want`), round-robin so that no sender starves; then a small standing window (`slack`)
 * so that a sender that sends now and then finds credit ready and does not pay a round
 * trip per message.
 */
export class CreditAllocator {
  readonly channels = new Map<string, InChannel>();
  /** Credit granted and not yet used, over all channels. */
  reserved = 0;
  readonly slack: number;

  constructor(readonly capacity: number) {
    this.slack = Math.max(1, Math.min(64, Math.floor(capacity / 8)));
  }

  /** Grants up to `free` slots, calling `changed` for each channel whose limit rose. */
  grant(free: number, changed: (ch: InChannel) => void): void {
    if (free <= 0) return;
    free = this.#tier(free, 0, changed);
    if (free > 0) this.#tier(free, this.slack, changed);
  }

  #tier(free: number, extra: number, changed: (ch: InChannel) => void): number {
    let hungry = [...this.channels.values()].filter((ch) => !(extra > 0 && ch.dormant) && ch.want + extra > ch.outstanding);
    while (free > 0 && hungry.length > 0) {
      const share = Math.max(1, Math.floor(free / hungry.length));
      const still: InChannel[] = [];
      for (const ch of hungry) {
        if (free === 0) break;
        const need = ch.want + extra - ch.outstanding;
        const g = Math.min(need, share, free);
        ch.limit += g;
        this.reserved += g;
        free -= g;
        changed(ch);
        // Round-robin: whoever was served goes to the back of the line.
        this.channels.delete(ch.key);
        this.channels.set(ch.key, ch);
        if (need > g) still.push(ch);
      }
      hungry = still;
    }
    return free;
  }

  /** Takes back a channel's unused credit (its lease ran out); it must say again what it wants. */
  revoke(ch: InChannel): void {
    this.reserved -= ch.outstanding;
    ch.limit = ch.stored;
    ch.want = 0;
    ch.dormant = true;
  }

  /** One message of `ch` was stored: a granted slot is now used. */
  used(): void {
    this.reserved--;
  }
}
