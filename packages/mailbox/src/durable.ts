/**
 * Durable mailboxes: what they hold is kept in one stable log (`@zmbox/log`) in the runtime's
 * data directory, and recovered from it after a crash.
 *
 * One log per runtime, not per mailbox: one `fdatasync` then covers the messages that arrived
 * together for every durable mailbox of the runtime (group commit across mailboxes), and the
 * directory's LOCK file already says "one log, one process".
 *
 * Records (MessagePack maps, `t` says which):
 *
 *   id   { t: "id", id }                      the directory's id: the prefix of durable delivery ids
 *   mb   { t: "mb", m, o }                    mailbox `m` numbers its next message `o` (or higher)
 *   ch   { t: "ch", m, p, s }                 sender channel `p` (routing id) of `m` stored every seq up to `s`
 *   in   { t: "in", m, o, p, s, f, b }        message `o` of `m` is stored: seq `s` of channel `p`, flags, bytes
 *   try  { t: "try", m, o, a }                message `o` was given to a manual receiver for attempt `a`
 *   out  { t: "out", m, o: [o...] }           messages `o...` left the mailbox: taken, acked, or dead-lettered
 *
 *   sender                   owner                                   log
 *     | data(seq 7..9) ------> |  accepted (counted in depth)          |
 *     |                        |  in(7) in(8) in(9) ---- one write ---> |  + fdatasync (shared by
 *     |                        |  <------------------------- durable -- |    every frame of the turn)
 *     | <------ ack(stored 9)  |  messages 7..9 go to receivers        |
 *     |                        |  receiver takes 7: out(7) -- lazy ---> |  rides on the next sync
 *
 * A message is in the mailbox after a crash iff its `in` record is on disk and its `out` record
 * is not. Compaction keeps the `in` and `try` records of messages still held, and writes the
 * `id`, `mb` and `ch` state first (the log's `snapshot`): the file stays about the size of what
 * the mailboxes hold.
 */
import { LogFailedError, StableLog, type LogFs } from "@zmbox/log";
import { randomBytes } from "node:crypto";

/** Compaction starts once the log has this many bytes (and twice what it had after the last one). */
const COMPACT_MIN_BYTES = 1024 * 1024;

/** The log's file name inside a runtime's `dataDir`. */
export const DURABLE_LOG_FILE = "mailboxes.log";

/** @internal A record of the durable log. */
export type DurableRecord =
  | { t: "id"; id: string }
  | { t: "mb"; m: string; o: number }
  | { t: "ch"; m: string; p: Buffer; s: number }
  | { t: "in"; m: string; o: number; p: Buffer; s: number; f: number; b: Buffer }
  | { t: "try"; m: string; o: number; a: number }
  | { t: "out"; m: string; o: number[] };

/**
 * @internal A message a durable mailbox holds, as its log has it. After recovery the mailbox
 * puts its own message object (the same fields) in its place, so `attempts` is one number.
 */
export interface LiveMessage {
  readonly order: number;
  /** The sender channel's routing id (recovered messages). */
  readonly peer?: Buffer;
  /** The sender channel (messages stored in this run). */
  readonly channel?: { readonly peer: Buffer } | undefined;
  readonly seq: number;
  readonly flags: number;
  readonly payload: Buffer;
  attempts: number;
}

/** @internal One durable mailbox's state: recovered, then kept up to date. */
export interface DurableMailboxState {
  /** Messages held, by order. */
  readonly live: Map<number, LiveMessage>;
  /** Highest seq stored (durably) per sender channel, by routing id (latin1). */
  readonly channels: Map<string, { peer: Buffer; stored: number }>;
  /** The next message's order. */
  nextOrder: number;
}

/** @internal Settings of {@link DurableStore.open}. */
export interface DurableStoreOptions {
  readonly dir: string;
  readonly fs?: LogFs;
  /** Called once if a write or sync of the log fails: the runtime must stop. */
  readonly failed: (error: LogFailedError) => void;
  /** For tests: compact from this many bytes on. @default 1 MiB */
  readonly compactMinBytes?: number;
}

/**
 * @internal The durable state of a runtime's mailboxes and the log that keeps it. Mailboxes call
 * it at three points: `stored` (a frame's messages are to be made durable before they are
 * acked), `taken` (a message left the mailbox) and `attempt` (a manual receiver got it).
 */
export class DurableStore {
  readonly #log: StableLog<DurableRecord>;
  readonly #mailboxes: Map<string, DurableMailboxState>;
  /** The directory's id: durable delivery ids start with it, so they stay the same across restarts. */
  readonly id: string;
  /** Orders taken this turn of the event loop, per mailbox: one `out` record each, at the end of the turn. */
  #takes = new Map<string, number[]>();
  #takesScheduled = false;

  private constructor(log: StableLog<DurableRecord>, mailboxes: Map<string, DurableMailboxState>, id: string) {
    this.#log = log;
    this.#mailboxes = mailboxes;
    this.id = id;
  }

  /**
   * Opens (or creates) the log in `dir` and recovers every durable mailbox's state from it.
   * @throws LogLockedError, LogCorruptError, or the file system's error.
   */
  static async open(options: DurableStoreOptions): Promise<DurableStore> {
    const mailboxes = new Map<string, DurableMailboxState>();
    let id: string | undefined;
    // `retain` and `snapshot` look at the state below, which the store keeps up to date.
    const retain = (r: DurableRecord): boolean => {
      switch (r.t) {
        case "in":
          return mailboxes.get(r.m)?.live.has(r.o) === true;
        case "try":
          return mailboxes.get(r.m)?.live.get(r.o)?.attempts === r.a;
        default:
          // id, mb and ch come back in the snapshot; out records of dropped messages say nothing.
          return false;
      }
    };
    const snapshot = (): DurableRecord[] => {
      const out: DurableRecord[] = [{ t: "id", id: id! }];
      for (const [m, state] of mailboxes) {
        out.push({ t: "mb", m, o: state.nextOrder });
        for (const ch of state.channels.values()) out.push({ t: "ch", m, p: ch.peer, s: ch.stored });
      }
      return out;
    };
    const { log, records } = await StableLog.open<DurableRecord>(options.dir, {
      fileName: DURABLE_LOG_FILE,
      retain,
      snapshot,
      // Acks (out records) ride on the next sync; written alone they would leave the file
      // unsynced, and the next group would need a write and a sync instead of one durable write.
      unforcedWriteDelay: 20,
      ...(options.fs === undefined ? {} : { fs: options.fs }),
      // Compaction reads the whole file and holds up the writes meanwhile: at 1 MiB (a few
      // thousand messages) that is a short pause, not one long enough for senders to probe and
      // re-send what they have in flight. Its cost per message written is the same at any size.
      compactMinBytes: options.compactMinBytes ?? COMPACT_MIN_BYTES,
    });
    for (const r of records) id = recover(mailboxes, r) ?? id;
    if (id === undefined) {
      id = `d${randomBytes(6).toString("hex")}`;
      await log.append({ t: "id", id });
    }
    log.closed.then((error) => {
      if (error !== undefined) options.failed(error);
    }, () => undefined);
    return new DurableStore(log, mailboxes, id);
  }

  /** The recovered (or current) state of the durable mailbox `name`, made if new. */
  mailbox(name: string): DurableMailboxState {
    let state = this.#mailboxes.get(name);
    if (state === undefined) {
      state = { live: new Map(), channels: new Map(), nextOrder: 0 };
      this.#mailboxes.set(name, state);
    }
    return state;
  }

  /** Messages held for durable mailboxes of these names (for a clear error when one is made without `durable`). */
  held(name: string): number {
    return this.#mailboxes.get(name)?.live.size ?? 0;
  }

  /**
   * Makes a frame's messages of `mailbox` durable: resolves once their records (and `stored`,
   * the channel's new highest seq, for messages refused alone) are on disk. Every frame that
   * arrives in one turn of the event loop shares one write and one sync.
   */
  stored(mailbox: string, peer: Buffer, messages: readonly LiveMessage[], stored: number): Promise<void> {
    const state = this.mailbox(mailbox);
    const records: DurableRecord[] = [];
    for (const m of messages) {
      state.live.set(m.order, m);
      records.push({ t: "in", m: mailbox, o: m.order, p: peer, s: m.seq, f: m.flags, b: m.payload });
      if (m.order >= state.nextOrder) state.nextOrder = m.order + 1;
    }
    // Seqs refused alone have no `in` record: the channel record says they are consumed.
    const last = messages[messages.length - 1];
    if (last === undefined || last.seq < stored) records.push({ t: "ch", m: mailbox, p: peer, s: stored });
    return this.#log.appendAll(records).then(() => {
      const key = peer.toString("latin1");
      const ch = state.channels.get(key);
      if (ch === undefined) state.channels.set(key, { peer, stored });
      else if (stored > ch.stored) ch.stored = stored;
    });
  }

  /**
   * Message `order` left `mailbox` (taken, acked, dead-lettered): an `out` record, on the next
   * sync. The takes of one turn of the event loop share one record.
   */
  taken(mailbox: string, order: number): void {
    const state = this.#mailboxes.get(mailbox);
    if (state?.live.delete(order) !== true) return;
    const orders = this.#takes.get(mailbox);
    if (orders === undefined) this.#takes.set(mailbox, [order]);
    else orders.push(order);
    if (this.#takesScheduled) return;
    this.#takesScheduled = true;
    setImmediate(() => this.#writeTakes());
  }

  #writeTakes(): void {
    this.#takesScheduled = false;
    const records: DurableRecord[] = [];
    for (const [m, o] of this.#takes) records.push({ t: "out", m, o });
    this.#takes = new Map();
    if (records.length > 0) this.#log.appendAll(records, { sync: false }).catch(() => undefined);
  }

  /**
   * Message `order` went to a manual receiver for attempt `attempt` (its `attempts` already
   * says so): recorded soon (a forced but lazy append), not waited on.
   */
  attempt(mailbox: string, order: number, attempt: number): void {
    const m = this.#mailboxes.get(mailbox)?.live.get(order);
    if (m === undefined) return;
    this.#log.append({ t: "try", m: mailbox, o: order, a: attempt }, { lazy: true }).catch(() => undefined);
  }

  /** The channel `peer` of `mailbox` was forgotten (5.11): its state need not be kept. */
  forget(mailbox: string, peer: Buffer): void {
    this.#mailboxes.get(mailbox)?.channels.delete(peer.toString("latin1"));
  }

  /** The log's counters (bytes, syncs, compactions). */
  get stats(): StableLog<DurableRecord>["stats"] {
    return this.#log.stats;
  }

  /** Compacts the log now (tests; it also compacts on its own as it grows). */
  compact(): Promise<void> {
    return this.#log.compact();
  }

  /** Writes and syncs what is pending, then closes the log and lets the directory go. */
  close(): Promise<void> {
    this.#writeTakes();
    return this.#log.close();
  }
}

/** Applies one record read back from the log; returns the directory id if it is an `id` record. */
function recover(mailboxes: Map<string, DurableMailboxState>, r: DurableRecord): string | undefined {
  if (r.t === "id") return r.id;
  let state = mailboxes.get(r.m);
  if (state === undefined) {
    state = { live: new Map(), channels: new Map(), nextOrder: 0 };
    mailboxes.set(r.m, state);
  }
  switch (r.t) {
    case "mb":
      state.nextOrder = Math.max(state.nextOrder, r.o);
      return undefined;
    case "ch":
      raise(state, r.p, r.s);
      return undefined;
    case "in":
      state.live.set(r.o, { order: r.o, peer: Buffer.from(r.p), seq: r.s, flags: r.f, payload: Buffer.from(r.b), attempts: 0 });
      state.nextOrder = Math.max(state.nextOrder, r.o + 1);
      raise(state, r.p, r.s);
      return undefined;
    case "try": {
      const m = state.live.get(r.o);
      if (m !== undefined) m.attempts = Math.max(m.attempts, r.a);
      return undefined;
    }
    case "out":
      for (const o of r.o) state.live.delete(o);
      return undefined;
    default:
      throw new Error(`unknown durable record ${JSON.stringify(r satisfies never)}`);
  }
}

function raise(state: DurableMailboxState, peer: Buffer, seq: number): void {
  const key = peer.toString("latin1");
  const ch = state.channels.get(key);
  if (ch === undefined) state.channels.set(key, { peer: Buffer.from(peer), stored: seq });
  else if (seq > ch.stored) ch.stored = seq;
}
