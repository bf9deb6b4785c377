import { join } from "node:path";
import { LogClosedError, LogFailedError } from "./errors.js";
import { decodeFrames, encodeFrame, endOfData } from "./frame.js";
import { nodeFs, type LogFileHandle, type LogFs } from "./fs.js";

/** The log file inside a node's log directory. */
export const LOG_FILE_NAME = "twopc.log";
const COMPACT_SUFFIX = ".compact";

/** Default for {@link LogOptions.compactMinBytes}. */
export const DEFAULT_COMPACT_MIN_BYTES = 4 * 1024 * 1024;
/** Default for {@link LogOptions.compactRatio}. */
export const DEFAULT_COMPACT_RATIO = 2;

export interface LogOptions<R> {
  /**
   * The file system. The simulator passes a `MemoryFs`.
   * @default nodeFs
   */
  readonly fs?: LogFs;
  /**
   * Which records compaction keeps (for 2PC: `(r) => machine.retains(r.txId)`). Without it the
   * log never compacts.
   */
  readonly retain?: (record: R) => boolean;
  /**
   * Compaction starts once the file has at least this many bytes...
   * @default 4194304 (4 MiB)
   */
  readonly compactMinBytes?: number;
  /**
   * ...and is at least this many times its size right after the last compaction, so a log that
   * is mostly live is not rewritten over and over.
   * @default 2
   */
  readonly compactRatio?: number;
  /**
   * How long unforced records (nobody waits on them) may wait for a forced one to share its
   * write, in ms. With 0 they start a write of their own at once. Waiting saves a write, and
   * lets the forced group that takes them be written durable in one call.
   * @default 0
   */
  readonly lazyWriteDelay?: number;
  /**
   * How long unforced records may wait when no forced record waits with them, in ms. Nobody
   * waits on an unforced record, so it can wait longer than `lazyWriteDelay`: written on its own,
   * it leaves the file unsynced, and the next forced group then needs a write and an
   * `fdatasync` (two thread-pool hops) instead of one durable write.
   * @default lazyWriteDelay
   */
  readonly unforcedWriteDelay?: number;
  /**
   * The clock the two delays above run on; the simulator passes a virtual one.
   * @default performance.now(), setTimeout and clearTimeout
   */
  readonly clock?: { now(): number; setTimeout(run: () => void, ms: number): unknown; clearTimeout(timer: unknown): void };
}

const realClock = { now: () => performance.now(), setTimeout: (run: () => void, ms: number): unknown => setTimeout(run, ms), clearTimeout: (t: unknown) => clearTimeout(t as NodeJS.Timeout) };

export interface AppendOptions {
  /**
   * Wait for `fdatasync`: the promise resolves once the record is durable. With `false` it
   * resolves once written (it reaches the disk with the next sync, or is lost in a crash).
   * @default true
   */
  readonly sync?: boolean;
  /**
   * No hurry: the record may wait (up to `lazyWriteDelay`) for a record that is in a hurry, to
   * share its write and sync, rather than start one of its own. A forced record still resolves
   * only once durable. Unforced records are always lazy.
   * @default false
   */
  readonly lazy?: boolean;
}

/** Counters since open. */
export interface LogStats {
  /** Current file size. */
  bytes: number;
  appends: number;
  /** Batched writes: one per group. */
  writes: number;
  /** Syncs (`fdatasync`, or a write that returns durable): one per group that held a forced record. */
  syncs: number;
  compactions: number;
}

/** What `StableLog.open` found. */
export interface OpenedLog<R> {
  readonly log: StableLog<R>;
  /** Records on disk, oldest first, up to the first torn or corrupt frame. */
  readonly records: R[];
  /** Bytes of torn or corrupt tail cut off. */
  readonly truncatedBytes: number;
}

/** A log file read without changing it (for inspection). */
export interface LogContents<R> {
  readonly path: string;
  readonly records: R[];
  readonly validBytes: number;
  /** Bytes up to the last one that is not zero: the zeros after are preallocated space. */
  readonly fileBytes: number;
}

interface PendingAppend {
  readonly frame: Buffer;
  readonly sync: boolean;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

function checkNumber(name: string, value: unknown, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw new TypeError(`Expected \`${name}\` to be a number from ${min} and up, got \`${String(value)}\` (${typeof value})`);
  }
  return value;
}

/**
 * Reads a node's log without modifying it: the valid records and how much tail is invalid.
 */
export async function readLog<R>(dir: string, fs: LogFs = nodeFs): Promise<LogContents<R>> {
  const path = join(dir, LOG_FILE_NAME);
  const data = await fs.readFile(path);
  if (data === undefined) return { path, records: [], validBytes: 0, fileBytes: 0 };
  const { frames, validBytes } = decodeFrames(data);
  return { path, records: frames.map((f) => f.value as R), validBytes, fileBytes: endOfData(data, validBytes) };
}

/**
 * An append-only, checksummed log file with group commit. Appends are written in call order;
 * every append made while a write or `fdatasync` is running joins the next single write (and
 * sync, if any of them asked for one). A failed write or sync is fatal: see {@link LogFailedError}.
 *
 * @example
 * const { log, records } = await StableLog.open<TwopcRecord>("/var/lib/node1", { retain })
 * await log.append({ type: "WORKER-READY", txId, coordinator, participants }) // durable now
 * void log.append({ type: "WORKER-END", txId }, { sync: false }).catch(stop)
 */
export class StableLog<R> {
  readonly #fs: LogFs;
  readonly #dir: string;
  readonly #path: string;
  readonly #retain: ((record: R) => boolean) | undefined;
  readonly #compactMinBytes: number;
  readonly #compactRatio: number;
  readonly #lazyWriteDelay: number;
  readonly #unforcedWriteDelay: number;
  #file: LogFileHandle;
  #queue: PendingAppend[] = [];
  #inflight: PendingAppend[] = [];
  #compactWaiters: Waiter[] = [];
  #closeWaiters: Waiter[] = [];
  #running = false;
  /** A run is scheduled with setImmediate. */
  #soon = false;
  /** A run is scheduled for unforced records only. */
  #lazyTimer: unknown;
  readonly #clock: NonNullable<LogOptions<R>["clock"]>;
  /** The queue holds a forced record that is not lazy. */
  #urgentQueued = false;
  /** A forced record that may wait (`lazy`) is queued: the wait is `lazyWriteDelay`, not `unforcedWriteDelay`. */
  #lazyForcedQueued = false;
  /** When the lazy timer fires (performance.now() ms). */
  #lazyDue = 0;
  #closing = false;
  #closed: Promise<void> | undefined;
  #unsynced = false;
  #baseline = 0;
  #failure: LogFailedError | undefined;
  #settleClosed!: (error: LogFailedError | undefined) => void;
  readonly #stats: LogStats;
  /** Resolves (never rejects) when the log is closed, with the error if it failed. */
  readonly closed: Promise<LogFailedError | undefined>;

  private constructor(fs: LogFs, dir: string, file: LogFileHandle, bytes: number, options: LogOptions<R>) {
    this.#fs = fs;
    this.#dir = dir;
    this.#path = join(dir, LOG_FILE_NAME);
    this.#file = file;
    this.#retain = options.retain;
    this.#compactMinBytes = checkNumber("compactMinBytes", options.compactMinBytes, 0, DEFAULT_COMPACT_MIN_BYTES);
    this.#compactRatio = checkNumber("compactRatio", options.compactRatio, 1, DEFAULT_COMPACT_RATIO);
    this.#lazyWriteDelay = checkNumber("lazyWriteDelay", options.lazyWriteDelay, 0, 0);
    this.#unforcedWriteDelay = checkNumber("unforcedWriteDelay", options.unforcedWriteDelay, 0, this.#lazyWriteDelay);
    this.#clock = options.clock ?? realClock;
    this.#stats = { bytes, appends: 0, writes: 0, syncs: 0, compactions: 0 };
    this.closed = new Promise((resolve) => (this.#settleClosed = resolve));
  }

  /**
   * Opens (creating if needed) the log in `dir`, cuts off a torn or corrupt tail, and returns
   * the records before it.
   *
   * @throws {TypeError} when an option is invalid.
   */
  static async open<R>(dir: string, options: LogOptions<R> = {}): Promise<OpenedLog<R>> {
    checkNumber("compactMinBytes", options.compactMinBytes, 0, DEFAULT_COMPACT_MIN_BYTES);
    checkNumber("compactRatio", options.compactRatio, 1, DEFAULT_COMPACT_RATIO);
    checkNumber("lazyWriteDelay", options.lazyWriteDelay, 0, 0);
    checkNumber("unforcedWriteDelay", options.unforcedWriteDelay, 0, 0);
    const fs = options.fs ?? nodeFs;
    const path = join(dir, LOG_FILE_NAME);
    await fs.mkdir(dir);
    await fs.remove(path + COMPACT_SUFFIX); // an interrupted compaction; the log itself is intact
    const data = await fs.readFile(path);
    const { frames, validBytes } = data === undefined ? { frames: [], validBytes: 0 } : decodeFrames(data);
    // Zeros after the data are space preallocated for appends, not a torn tail.
    const truncatedBytes = data === undefined ? 0 : endOfData(data, validBytes) - validBytes;
    if (truncatedBytes > 0) await fs.truncate(path, validBytes);
    const file = await fs.openAppend(path, validBytes);
    if (data === undefined) await fs.syncDir(dir);
    const log = new StableLog<R>(fs, dir, file, validBytes, options);
    return { log, records: frames.map((f) => f.value as R), truncatedBytes };
  }

  /**
   * Appends a record. By default the promise resolves once it is durable.
   *
   * @throws {LogFailedError} (rejection) if the log failed, now or before.
   * @throws {LogClosedError} (rejection) after `close()`.
   * @throws {RecordTooLargeError} (rejection) if the record is too big; the log stays usable.
   */
  append(record: R, options: AppendOptions = {}): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#closing) return Promise.reject(new LogClosedError());
    let frame: Buffer;
    try {
      frame = encodeFrame(record);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    this.#stats.appends++;
    return new Promise((resolve, reject) => {
      const sync = options.sync ?? true;
      this.#queue.push({ frame, sync, resolve, reject });
      if (sync && options.lazy !== true) this.#urgentQueued = true;
      else if (sync) this.#lazyForcedQueued = true;
      this.#kick();
    });
  }

  /** Rewrites the log now, keeping only the records `retain` accepts. */
  compact(): Promise<void> {
    return this.#request(this.#compactWaiters);
  }

  /** Writes and syncs what is pending, then closes the file. Later appends reject. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#request(this.#closeWaiters);
    this.#closing = true;
    return this.#closed;
  }

  /** The failure that stopped the log, if any. */
  get failure(): LogFailedError | undefined {
    return this.#failure;
  }

  get stats(): Readonly<LogStats> {
    return { ...this.#stats };
  }

  #request(waiters: Waiter[]): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#closing) return Promise.reject(new LogClosedError());
    return new Promise((resolve, reject) => {
      waiters.push({ resolve, reject });
      this.#kick();
    });
  }

  /** The queue is to be written now: it holds a forced record in a hurry, a compaction or close waits, or nothing is lazy. */
  #urgent(): boolean {
    if (this.#urgentQueued || this.#compactWaiters.length > 0 || this.#closeWaiters.length > 0) return true;
    return this.#lazyDelay() === 0;
  }

  /** How long the queued records may wait for company: a lazy forced record waits less than unforced ones. */
  #lazyDelay(): number {
    return this.#lazyForcedQueued ? this.#lazyWriteDelay : this.#unforcedWriteDelay;
  }

  #kick(): void {
    if (this.#running || this.#failure !== undefined) return; // #run looks at the queue again before it stops
    if (this.#queue.length === 0 && this.#compactWaiters.length === 0 && this.#closeWaiters.length === 0) return;
    if (this.#urgent()) {
      if (this.#lazyTimer !== undefined) this.#clock.clearTimeout(this.#lazyTimer);
      this.#lazyTimer = undefined;
      if (this.#soon) return;
      this.#soon = true;
      // Start at the end of this turn of the event loop: every record appended meanwhile (say,
      // for each message of a batch that just arrived) joins the same write and sync.
      setImmediate(() => {
        this.#soon = false;
        void this.#run(false);
      });
    } else if (!this.#soon) {
      // Only lazy records (unforced ones, say): they wait (a little) to ride with the next
      // group in a hurry, which then needs no separate write for them. A lazy forced record
      // brings an unforced record's longer wait forward.
      const delay = this.#lazyDelay();
      const due = this.#clock.now() + delay;
      if (this.#lazyTimer !== undefined && this.#lazyDue <= due) return;
      if (this.#lazyTimer !== undefined) this.#clock.clearTimeout(this.#lazyTimer);
      this.#lazyDue = due;
      this.#lazyTimer = this.#clock.setTimeout(() => {
        this.#lazyTimer = undefined;
        void this.#run(true);
      }, delay);
    }
  }

  async #run(lazyDue: boolean): Promise<void> {
    if (this.#running || this.#failure !== undefined) return;
    this.#running = true;
    try {
      for (;;) {
        if (this.#queue.length > 0 && (lazyDue || this.#urgent())) await this.#writeBatch();
        lazyDue = false;
        if (this.#compactWaiters.length > 0 || this.#compactionDue()) await this.#compactNow();
        if (this.#queue.length > 0 && this.#urgent()) continue;
        if (this.#closeWaiters.length > 0) await this.#shutdown();
        break;
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#running = false;
    }
    this.#kick(); // unforced records left: write them later
  }

  async #writeBatch(): Promise<void> {
    const batch = (this.#inflight = this.#queue);
    this.#queue = [];
    this.#urgentQueued = this.#lazyForcedQueued = false;
    const data = batch.length === 1 ? batch[0]!.frame : Buffer.concat(batch.map((p) => p.frame));
    const forced = batch.some((p) => p.sync);
    if (forced && !this.#unsynced && this.#file.writeDurable !== undefined) {
      // Nothing earlier awaits a sync, so a write that returns durable is the whole job.
      await this.#file.writeDurable(data);
      this.#stats.writes++;
      this.#stats.syncs++;
      this.#stats.bytes += data.length;
    } else {
      await this.#file.write(data);
      this.#stats.writes++;
      this.#stats.bytes += data.length;
      if (forced) {
        await this.#file.datasync();
        this.#stats.syncs++;
        this.#unsynced = false;
      } else {
        this.#unsynced = true;
      }
    }
    this.#inflight = [];
    for (const p of batch) p.resolve();
  }

  #compactionDue(): boolean {
    const bytes = this.#stats.bytes;
    return this.#retain !== undefined && bytes >= this.#compactMinBytes && bytes >= this.#baseline * this.#compactRatio;
  }

  async #compactNow(): Promise<void> {
    const waiters = this.#compactWaiters;
    this.#compactWaiters = [];
    const current = (await this.#fs.readFile(this.#path)) ?? new Uint8Array();
    const { frames, validBytes } = decodeFrames(current);
    if (validBytes !== endOfData(current, validBytes)) throw new Error(`log file ${this.#path} is corrupt at byte ${validBytes} while open`);
    const retain = this.#retain;
    const kept = retain === undefined ? frames : frames.filter((f) => retain(f.value as R));
    const data = Buffer.concat(kept.map((f) => current.subarray(f.offset, f.offset + f.bytes)));
    const tmp = this.#path + COMPACT_SUFFIX;
    const out = await this.#fs.create(tmp);
    await out.write(data);
    await out.datasync();
    await out.close();
    await this.#fs.rename(tmp, this.#path);
    await this.#fs.syncDir(this.#dir);
    const old = this.#file;
    this.#file = await this.#fs.openAppend(this.#path, data.length);
    await old.close();
    this.#unsynced = false;
    this.#stats.bytes = this.#baseline = data.length;
    this.#stats.compactions++;
    for (const w of waiters) w.resolve();
  }

  async #shutdown(): Promise<void> {
    const waiters = this.#closeWaiters;
    this.#closeWaiters = [];
    if (this.#unsynced) await this.#file.datasync();
    await this.#file.close();
    this.#settleClosed(undefined);
    for (const w of waiters) w.resolve();
  }

  #fail(cause: unknown): void {
    const failure = (this.#failure = new LogFailedError(cause));
    if (this.#lazyTimer !== undefined) this.#clock.clearTimeout(this.#lazyTimer);
    this.#lazyTimer = undefined;
    this.#closing = true;
    const pending = [...this.#inflight, ...this.#queue, ...this.#compactWaiters, ...this.#closeWaiters];
    this.#inflight = [];
    this.#queue = [];
    this.#compactWaiters = [];
    this.#closeWaiters = [];
    for (const p of pending) p.reject(failure);
    this.#settleClosed(failure);
    this.#file.close().catch(() => {}); // already failed; nothing more can be lost
  }
}
