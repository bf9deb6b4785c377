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
  /**
   * The channel stored a message since it opened or last lost its credit: it is "working".
   * Only working channels get a standing window or more than `slack` credit (see CreditAllocator).
   */
  proven = false;
  /** Most credit the channel may hold: grows by one per message stored, back to `slack` on revocation. */
  window: number;
  /** `stored` when the channel opened (base - 1). */
  readonly opened: number;
  /**
   * A durable mailbox's channel taken back from its log after a restart: its seq is what drops
   * the duplicates its sender re-sends, so it is kept for `forgetMs` like a working channel, not
   * forgotten after one lease as a channel that never stored.
   */
  recovered = false;

  /** It has stored nothing since it opened, and is not a channel taken back from a log: forgetting it loses nothing. */
  get blank(): boolean {
    return this.stored === this.opened && !this.recovered;
  }
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
  ackedLimit: number;

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
      // The sender knows of little credit left and there is more: it may be waiting for it.
      (this.ackedLimit - this.stored < 8 && this.limit > this.ackedLimit)
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
    window: number,
  ) {
    this.stored = this.taken = this.limit = this.ackedStored = this.ackedTaken = this.ackedLimit = this.opened = base - 1;
    this.window = window;
    this.lastHeard = this.lastUsed = now;
  }

  /** Credit granted and not yet used. */
  get outstanding(): number {
    return this.limit - this.stored;
  }

  /** Records that an ack saying where the channel stands now has gone out: nothing is due until it changes. */
  acked(): void {
    this.resend = this.urgent = false;
    this.ackedStored = this.reportable;
    this.ackedTaken = this.taken;
    this.ackedLimit = this.limit;
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

/** A new channel that holds credit unused this long (ms) gives it up to a new channel that waits (see `grant`). */
export const PREEMPT_MS = 100;

/**
 * Hands free slots out as credit (PROTOCOL.md 5.4). Fair and bounded against peers that lie:
 *
 * - Tier 1 goes where messages wait: each channel that says it has messages waiting (`want`)
 *   gets an equal share of the free slots, no more than it waits for, round-robin across calls;
 *   what one does not need goes to the others (max-min fair, so a huge `want` buys no more
 *   than a small one).
 * - A channel may hold at most its `window` of credit. The window starts at `slack` and grows
 *   by one for every message the channel stores (so it doubles per round trip of real use), and
 *   falls back to `slack` when its credit is revoked. What a peer claims it wants cannot buy it
 *   more than it has shown it uses.
 * - Channels that have not stored a message since they opened or lost their credit ("new"
 *   channels) hold at most `newPool` slots between them, and lose unused credit after a fifth
 *   of the lease: a crowd of new or hoarding channels cannot take the window from working ones.
 * - Tier 2, a standing window so that a sender that sends now and then finds credit ready (and
 *   one that has only re-sends, which `want` does not count, gets some), goes to channels that
 *   are not dormant, new ones within `newPool`, and shrinks as channels grow in number.
 */
export class CreditAllocator {
  readonly channels = new Map<string, InChannel>();
  /** Credit granted and not yet used, over all channels. */
  reserved = 0;
  /** Credit granted and not yet used by new channels (see the class comment). */
  reservedNew = 0;
  readonly slack: number;
  /** Most credit new channels may hold between them. */
  readonly newPool: number;

  constructor(readonly capacity: number) {
    this.slack = Math.max(1, Math.min(64, Math.floor(capacity / 8)));
    this.newPool = Math.max(this.slack, Math.floor(capacity / 4));
  }

  /** What a sender says it wants, believed only up to the mailbox's capacity. */
  capWant(want: number): number {
    return Math.min(want, this.capacity);
  }

  /**
   * The standing window: `slack`, less when many channels are working at once (never below 1,
   * so that a channel with only re-sends to make always gets some credit).
   */
  get standing(): number {
    let working = 0;
    for (const ch of this.channels.values()) if (ch.proven && !ch.dormant) working++;
    return Math.max(1, Math.min(this.slack, Math.floor(this.capacity / (2 * Math.max(1, working)))));
  }

  /** Opens a channel. */
  open(key: string, peer: Buffer, mailbox: string, base: number, now: number): InChannel {
    const ch = new InChannel(key, peer, mailbox, base, now, this.slack);
    this.channels.set(key, ch);
    return ch;
  }

  /**
   * Grants up to `free` slots, calling `changed` for each channel whose limit changed. When
   * new channels wait and their pool is full, it first takes back the credit of new channels
   * that have held theirs unused for PREEMPT_MS, oldest first, one for each that waits: a
   * crowd of peers that ask and never send cannot keep a new sender out for a whole lease.
   */
  grant(free: number, changed: (ch: InChannel) => void, now = performance.now()): void {
    if (this.reservedNew >= this.newPool) free += this.#preempt(changed, now);
    if (free <= 0) return;
    free = this.#tier(free, 0, changed);
    if (free > 0) this.#tier(free, this.standing, changed);
  }

  #preempt(changed: (ch: InChannel) => void, now: number): number {
    let waiting = 0;
    for (const ch of this.channels.values()) if (!ch.proven && ch.outstanding === 0 && ch.want > 0) waiting++;
    if (waiting === 0) return 0;
    const victims = [...this.channels.values()]
      .filter((ch) => !ch.proven && ch.outstanding > 0 && now - ch.lastUsed > PREEMPT_MS)
      .sort((a, b) => a.lastUsed - b.lastUsed)
      .slice(0, waiting);
    let freed = 0;
    for (const ch of victims) {
      freed += ch.outstanding;
      this.revoke(ch);
      ch.urgent = true;
      changed(ch);
    }
    return freed;
  }

  /** What `ch` may still be granted in a tier that adds `extra` to what it wants. */
  #need(ch: InChannel, extra: number): number {
    if (extra > 0 && ch.dormant) return 0;
    const need = Math.min(ch.want + extra, ch.window) - ch.outstanding;
    return ch.proven ? need : Math.min(need, this.newPool - this.reservedNew);
  }

  #tier(free: number, extra: number, changed: (ch: InChannel) => void): number {
    if (this.channels.size === 1) {
      // One sender (a client, a coordinator): what the loop below does, without its arrays.
      for (const ch of this.channels.values()) {
        const g = Math.min(this.#need(ch, extra), free);
        if (g > 0) free -= this.#give(ch, g, changed);
      }
      return free;
    }
    let hungry = [...this.channels.values()].filter((ch) => this.#need(ch, extra) > 0);
    while (free > 0 && hungry.length > 0) {
      const share = Math.max(1, Math.floor(free / hungry.length));
      const still: InChannel[] = [];
      for (const ch of hungry) {
        if (free === 0) break;
        const need = this.#need(ch, extra);
        if (need <= 0) continue;
        const g = Math.min(need, share, free);
        free -= this.#give(ch, g, changed);
        // Round-robin: whoever was served goes to the back of the line.
        this.channels.delete(ch.key);
        this.channels.set(ch.key, ch);
        if (need > g) still.push(ch);
      }
      hungry = still;
    }
    return free;
  }

  /** Grants `ch` `g` more slots; returns `g`. */
  #give(ch: InChannel, g: number, changed: (ch: InChannel) => void): number {
    ch.limit += g;
    this.reserved += g;
    if (!ch.proven) this.reservedNew += g;
    changed(ch);
    return g;
  }

  /** Takes back a channel's unused credit (its lease ran out); it must say again what it wants. */
  revoke(ch: InChannel): void {
    this.#takeBack(ch, ch.outstanding);
    ch.want = 0;
    ch.dormant = true;
    ch.proven = false;
    ch.window = this.slack;
  }

  /**
   * Takes back what a working channel holds beyond its window and `want` plus the standing
   * window of the moment (more channels came to work since it was granted). Returns whether
   * its limit fell.
   */
  trim(ch: InChannel, standing: number): boolean {
    if (!ch.proven) return false;
    const over = ch.outstanding - Math.max(1, Math.min(ch.want + standing, ch.window));
    if (over <= 0) return false;
    this.#takeBack(ch, over);
    return true;
  }

  #takeBack(ch: InChannel, n: number): void {
    this.reserved -= n;
    if (!ch.proven) this.reservedNew -= n;
    ch.limit -= n;
  }

  /** One message of `ch` was stored: a granted slot is now used, and the channel has shown it works. */
  used(ch: InChannel): void {
    this.reserved--;
    if (!ch.proven) {
      // Its remaining credit leaves the new channels' pool: it is a working channel now.
      this.reservedNew -= ch.outstanding + 1;
      ch.proven = true;
    }
    if (ch.window < this.capacity) ch.window++;
  }

  /**
   * PROTOCOL 5.6: revokes the credit of channels that have not used any for their lease
   * (`leaseMs`, a fifth of it for new channels), trims working channels to their window, and
   * forgets channels that hold nothing and were silent for `forgetMs` (`leaseMs` for channels
   * that never stored a message). Calls `revoked` for each channel whose limit fell.
   */
  sweep(now: number, leaseMs: number, forgetMs: number, revoked: (ch: InChannel) => void, forgotten: (ch: InChannel) => void): void {
    const newLease = Math.max(1, Math.floor(leaseMs / 5));
    const standing = this.standing;
    for (const ch of this.channels.values()) {
      if (ch.outstanding > 0 && now - ch.lastUsed > (ch.proven ? leaseMs : newLease)) {
        this.revoke(ch);
        revoked(ch);
      } else if (ch.outstanding > 0 && this.trim(ch, standing)) {
        revoked(ch);
      } else if (ch.outstanding === 0 && ch.taken === ch.stored && now - ch.lastHeard > (ch.blank ? leaseMs : forgetMs)) {
        this.forget(ch);
        forgotten(ch);
      }
    }
  }

  /** Channels that hold credit and were silent for `idleMs`: maybe their peer is gone. */
  idleHolders(now: number, idleMs: number): InChannel[] {
    return [...this.channels.values()].filter((ch) => ch.outstanding > 0 && now - ch.lastHeard > idleMs);
  }

  /** Forgets a channel, and takes back its credit. */
  forget(ch: InChannel): void {
    if (this.channels.get(ch.key) !== ch) return;
    this.#takeBack(ch, ch.outstanding);
    this.channels.delete(ch.key);
  }
}
