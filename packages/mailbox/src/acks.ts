/**
 * The owner's ack scheduler: grants credit and sends the acks that are due, once per turn of
 * the event loop. An ack that nobody waits on is held back (at most ACK_DELAY_MS) to be
 * gathered with later changes of its channel.
 */
import type { InChannel } from "./flow.js";
import type { Mailbox } from "./mailbox.js";
import { Kind, PROTOCOL_VERSION, encodeHeader } from "./wire.js";

/**
 * How long an ack that nobody waits on may be held back to be gathered with later ones. Each ack
 * frame wakes ZeroMQ's I/O thread here and the sender's main thread there: at 5 ms, a 2PC
 * participant at one transaction in flight (~2 ms each) sent one every two or three transactions,
 * and its CPU a transaction fell by a fifth when they were gathered over 50 ms. Nothing waits on
 * such an ack: a sender that does ("stored", "received", a full outbox, credit) gets it at once.
 */
const ACK_DELAY_MS = 50;

export class AckScheduler {
  /** The owner's incarnation id, in every ack. */
  readonly #rid: string;
  readonly #send: (peer: Buffer, header: Buffer) => void;
  /** Channels whose ack is due (see #flush). */
  readonly #dirty = new Set<InChannel>();
  /** Mailboxes with slots come free, to hand out as credit. */
  readonly #grants = new Set<Mailbox>();
  /** Channels whose ack may wait a little (see #flush). */
  readonly #lazy = new Set<InChannel>();
  #lazyTimer: NodeJS.Timeout | undefined;
  #scheduled = false;

  /** This owner's maxMessageSize, in every ack (PROTOCOL 5.7): larger messages are refused at the sender. */
  readonly #max: number;

  /** `send` hands an ack's header to the writer, for `peer`. */
  constructor(rid: string, max: number, send: (peer: Buffer, header: Buffer) => void) {
    this.#rid = rid;
    this.#max = max;
    this.#send = send;
  }

  /** The channel's ack is due: its stored, taken or limit changed. */
  changed(ch: InChannel): void {
    if (this.#dirty.has(ch)) return;
    this.#dirty.add(ch);
    this.#schedule();
  }

  /** Slots came free in `mb`: grant them as credit on the next flush. */
  needsGrant(mb: Mailbox): void {
    this.#grants.add(mb);
    this.#schedule();
  }

  /** Sends every ack that is due now, the held-back ones too (before a nak, or at close). */
  flushAll(): void {
    for (const ch of this.#lazy) this.#dirty.add(ch);
    this.#flush(true);
  }

  /** Stops the timer of held-back acks. */
  close(): void {
    clearTimeout(this.#lazyTimer);
  }

  /** Grants credit and sends the acks that are due, once per turn of the event loop. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#onTurnEnd);
  }

  readonly #onTurnEnd = (): void => this.#flush();

  /**
   * Sends the acks that are urgent now; the others wait (at most ACK_DELAY_MS) to be gathered
   * with later changes: a sender of "queued" messages with credit in hand is not waiting on
   * them, and one ack instead of one per message halves the frames of request-response traffic.
   */
  #flush(lazyToo = false): void {
    this.#scheduled = false;
    for (const mb of this.#grants) mb.grant();
    this.#grants.clear();
    for (const ch of this.#dirty) {
      if (!lazyToo && !ch.ackIsUrgent) {
        this.#lazy.add(ch);
        continue;
      }
      this.#lazy.delete(ch);
      const header = encodeHeader([PROTOCOL_VERSION, Kind.Ack, ch.mailbox, this.#rid, ch.reportable, ch.taken, ch.limit, ch.resend, this.#max]);
      ch.acked();
      this.#send(ch.peer, header);
    }
    this.#dirty.clear();
    if (this.#lazy.size > 0 && this.#lazyTimer === undefined) {
      this.#lazyTimer = setTimeout(() => {
        this.#lazyTimer = undefined;
        for (const ch of this.#lazy) this.#dirty.add(ch);
        this.#lazy.clear();
        this.#flush(true);
      }, ACK_DELAY_MS);
    }
  }
}
