import { join } from "node:path";
import { LogClosedError, LogCorruptError, LogFailedError } from "./errors.js";
import {
  FILE_HEADER_BYTES,
  FRAME_HEADER_BYTES,
  decodeLog,
  encodePayload,
  newFileHeader,
  saltOf,
  writeFrame,
  type Corruption,
  type Frame,
} from "./frame.js";
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
   * The log file's name inside the directory. A directory holds one log (its `LOCK` file
   * says who has it open), so a second name is for a second kind of log, not a second log
   * beside the first.
   * @default LOG_FILE_NAME ("twopc.log")
   */
  readonly fileName?: string;
  /**
   * The file system. The simulator passes a `MemoryFs`.
   * @default nodeFs
   */
  readonly fs?: LogFs;
  /**
   * Which records compaction keeps (for 2PC: `(r) => machine.retains(r.txId)`). Without it the
   * log never compacts. A log that compacts keeps the records in its file in memory too (the
   * objects appended, and those read at open), so that compaction need not read the file back
   * and decode every record: `retain` is given the very object that was appended, and a record
   * must not be changed once appended.
   */
  readonly retain?: (record: R) => boolean;
  /**
   * Records that compaction writes first in the new file, before the records `retain` keeps:
   * state summed up from records it drops (a mailbox's per-sender sequence numbers, say).
   * Called once per compaction, after every record appended before it was written.
   */
  readonly snapshot?: () => R[];
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
  /**
   * Open a corrupt log anyway, cutting it at the first bad record: the records after it are
   * lost, and `OpenedLog.salvaged` says how many. Without it a corrupt log (a bad record with
   * valid ones after it) rejects with `LogCorruptError`. Only for an operator who has looked
   * (`twopc-inspect`) and accepts the loss.
   * @default false
   */
  readonly salvage?: boolean;
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
  /** How long each sync took (for a durable write: the write and its sync), as a histogram. */
  syncSeconds: SyncHistogram;
}

/** A histogram of sync times, in seconds, in the shape Prometheus uses. */
export interface SyncHistogram {
  /** Upper bounds of the buckets, in seconds, ascending (the last bucket, +Inf, is implied). */
  readonly bounds: readonly number[];
  /** Syncs at or under each bound (cumulative, as Prometheus counts them). */
  readonly counts: number[];
  /** Syncs in all. */
  count: number;
  /** Seconds spent in all of them. */
  sum: number;
}

/** Sync time buckets: 50 us to 1 s. A durable write of a few hundred bytes takes 0.1-0.3 ms on an idle SSD. */
const SYNC_BOUNDS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

function observe(histogram: SyncHistogram, seconds: number): void {
  histogram.count++;
  histogram.sum += seconds;
  const { bounds, counts } = histogram;
  for (let i = bounds.length - 1; i >= 0 && seconds <= bounds[i]!; i--) counts[i]!++;
}

/** What `StableLog.open` found. */
export interface OpenedLog<R> {
  readonly log: StableLog<R>;
  /** Records on disk, oldest first, up to the first torn or corrupt frame. */
  readonly records: R[];
  /** Bytes of torn tail cut off: a last write cut by a crash, which nobody was told was durable. */
  readonly truncatedBytes: number;
  /** Present when `salvage` cut a corrupt log: what was lost. */
  readonly salvaged?: Salvage;
}

/** What a salvage cut from a corrupt log. */
export interface Salvage {
  /** Where the file was cut. */
  readonly offset: number;
  /** Bytes cut. */
  readonly cutBytes: number;
  /** Valid records that were after the damage and are gone. */
  readonly cutRecords: number;
}

/** A log file read without changing it (for inspection). */
export interface LogContents<R> {
  readonly path: string;
  readonly records: R[];
  readonly validBytes: number;
  /** Bytes up to the last one that is not zero: the zeros after are preallocated space. */
  readonly fileBytes: number;
  /** The file format: 2, or 1 for a log written before the file header existed, 0 when empty. */
  readonly version: number;
  /** Present when the file is corrupt (a bad record with valid ones after it). */
  readonly corruption?: Corruption;
  /** Present when the file header is bad. */
  readonly badHeader?: string;
}

type Unlock = () => Promise<void>;

const noop = (): void => {};

interface PendingAppend<R> {
  readonly value: R;
  readonly payload: Buffer;
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
export async function readLog<R>(dir: string, fs: LogFs = nodeFs, fileName: string = LOG_FILE_NAME): Promise<LogContents<R>> {
  const path = join(dir, fileName);
  const data = await fs.readFile(path);
  if (data === undefined) return { path, records: [], validBytes: 0, fileBytes: 0, version: 0 };
  const decoded = decodeLog(data);
  return {
    path,
    records: decoded.frames.map((f) => f.value as R),
    validBytes: decoded.validBytes,
    fileBytes: decoded.dataBytes,
    version: decoded.version,
    ...(decoded.corruption === undefined ? {} : { corruption: decoded.corruption }),
    ...(decoded.badHeader === undefined ? {} : { badHeader: decoded.badHeader }),
  };
}

/** A whole log file's bytes: a new header with a new salt, then `frames` re-framed at their new offsets. */
function rewrite(frames: readonly Pick<Frame, "payload">[]): Buffer {
  let size = FILE_HEADER_BYTES;
  for (const f of frames) size += FRAME_HEADER_BYTES + f.payload.length;
  const out = Buffer.allocUnsafe(size);
  const header = newFileHeader();
  header.copy(out, 0);
  const salt = saltOf(header);
  let at = FILE_HEADER_BYTES;
  for (const f of frames) {
    writeFrame(out, at, f.payload, salt, at);
    at += FRAME_HEADER_BYTES + f.payload.length;
  }
  return out;
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
  readonly #snapshot: (() => R[]) | undefined;
  readonly #compactMinBytes: number;
  readonly #compactRatio: number;
  readonly #lazyWriteDelay: number;
  readonly #unforcedWriteDelay: number;
  /** The file's salt, which every frame's checksum covers (see frame.ts). */
  #salt: Buffer;
  /** Lets the directory go, on close or failure. */
  readonly #unlock: Unlock | undefined;
  #file: LogFileHandle;
  #queue: PendingAppend<R>[] = [];
  #inflight: PendingAppend<R>[] = [];
  /**
   * Every record in the file, in order, when the log compacts (`retain` or `snapshot`).
   * Measured: 0.8 bytes of heap a byte of file for 2PC records. Reading the file back to
   * compact it took 6 bytes of heap a byte at its peak, and 40 ms of CPU a MB.
   */
  #held: R[] | undefined;
  #compactWaiters: Waiter[] = [];
  #closeWaiters: Waiter[] = [];
  /** The waiters of the compaction or close under way: they learn of a failure too. */
  #settling: Waiter[] = [];
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

  private constructor(fs: LogFs, dir: string, file: LogFileHandle, bytes: number, salt: Buffer, unlock: Unlock | undefined, options: LogOptions<R>, held: R[] | undefined) {
    this.#fs = fs;
    this.#held = held;
    this.#salt = salt;
    this.#unlock = unlock;
    this.#dir = dir;
    this.#path = join(dir, options.fileName ?? LOG_FILE_NAME);
    this.#file = file;
    this.#retain = options.retain;
    this.#snapshot = options.snapshot;
    this.#compactMinBytes = checkNumber("compactMinBytes", options.compactMinBytes, 0, DEFAULT_COMPACT_MIN_BYTES);
    this.#compactRatio = checkNumber("compactRatio", options.compactRatio, 1, DEFAULT_COMPACT_RATIO);
    this.#lazyWriteDelay = checkNumber("lazyWriteDelay", options.lazyWriteDelay, 0, 0);
    this.#unforcedWriteDelay = checkNumber("unforcedWriteDelay", options.unforcedWriteDelay, 0, this.#lazyWriteDelay);
    this.#clock = options.clock ?? realClock;
    this.#stats = {
      bytes,
      appends: 0,
      writes: 0,
      syncs: 0,
      compactions: 0,
      syncSeconds: { bounds: SYNC_BOUNDS, counts: SYNC_BOUNDS.map(() => 0), count: 0, sum: 0 },
    };
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
    if (options.salvage !== undefined && typeof options.salvage !== "boolean") {
      throw new TypeError(`Expected \`salvage\` to be a boolean, got \`${String(options.salvage)}\` (${typeof options.salvage})`);
    }
    const { fileName = LOG_FILE_NAME } = options;
    if (typeof fileName !== "string" || fileName === "" || fileName.includes("/") || fileName.includes("\\")) {
      throw new TypeError(`Expected \`fileName\` to be a file name without a directory, got \`${String(fileName)}\` (${typeof fileName})`);
    }
    const fs = options.fs ?? nodeFs;
    const path = join(dir, fileName);
    await fs.mkdir(dir);
    const unlock = fs.lock === undefined ? undefined : await fs.lock(dir);
    try {
      return await StableLog.#openLocked<R>(fs, dir, path, options, unlock);
    } catch (error) {
      await unlock?.();
      throw error;
    }
  }

  static async #openLocked<R>(fs: LogFs, dir: string, path: string, options: LogOptions<R>, unlock: Unlock | undefined): Promise<OpenedLog<R>> {
    await fs.remove(path + COMPACT_SUFFIX); // an interrupted compaction; the log itself is intact
    const data = await fs.readFile(path);
    const decoded = decodeLog(data ?? new Uint8Array());
    let salvaged: Salvage | undefined;
    if (decoded.badHeader !== undefined || decoded.corruption !== undefined) {
      const offset = decoded.badHeader !== undefined ? 0 : decoded.corruption!.offset;
      const cutRecords = decoded.badHeader !== undefined ? decoded.frames.length : decoded.corruption!.validAfter;
      if (options.salvage !== true) throw new LogCorruptError(path, offset, cutRecords, decoded.badHeader);
      salvaged = { offset, cutBytes: decoded.dataBytes - offset, cutRecords };
    }
    // What to keep: nothing of a file with a bad header (salvaged), else the valid prefix.
    const frames = decoded.badHeader !== undefined ? [] : decoded.frames;
    let end: number;
    let salt: Buffer;
    let truncatedBytes = 0;
    if (decoded.version === 2 && decoded.badHeader === undefined) {
      // Zeros after the data are space preallocated for appends, not a torn tail.
      truncatedBytes = salvaged === undefined ? decoded.dataBytes - decoded.validBytes : 0;
      if (decoded.dataBytes > decoded.validBytes) await fs.truncate(path, decoded.validBytes);
      end = decoded.validBytes;
      salt = Buffer.from(decoded.salt);
    } else {
      // A new log, a version 1 log, or a salvaged one without a usable header: written anew
      // (header and records) to a side file, then renamed over the old one.
      if (decoded.version === 1 && salvaged === undefined) truncatedBytes = decoded.dataBytes - decoded.validBytes;
      const bytes = rewrite(frames);
      await StableLog.#replace(fs, dir, path, bytes);
      end = bytes.length;
      salt = Buffer.from(saltOf(bytes));
    }
    const file = await fs.openAppend(path, end);
    const records = frames.map((f) => f.value as R);
    const held = options.retain !== undefined || options.snapshot !== undefined ? [...records] : undefined;
    const log = new StableLog<R>(fs, dir, file, end, salt, unlock, options, held);
    return { log, records, truncatedBytes, ...(salvaged === undefined ? {} : { salvaged }) };
  }

  /** Writes `bytes` durably to a side file and renames it over `path`. */
  static async #replace(fs: LogFs, dir: string, path: string, bytes: Uint8Array): Promise<void> {
    const tmp = path + COMPACT_SUFFIX;
    const out = await fs.create(tmp);
    try {
      await out.write(bytes);
      await out.datasync();
    } finally {
      await out.close();
    }
    await fs.rename(tmp, path);
    await fs.syncDir(dir);
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
    let payload: Buffer;
    try {
      payload = encodePayload(record);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    this.#stats.appends++;
    return new Promise((resolve, reject) => {
      const sync = options.sync ?? true;
      this.#queue.push({ value: record, payload, sync, resolve, reject });
      if (sync && options.lazy !== true) this.#urgentQueued = true;
      else if (sync) this.#lazyForcedQueued = true;
      this.#kick();
    });
  }

  /**
   * Appends `records` in one go: they join the same write (and sync) and the promise settles
   * once for all of them, as `append` of the last one would. Cheaper than one `append` each
   * when there are many (a batch of messages): one promise, not one per record.
   *
   * @throws {RecordTooLargeError} (rejection) if one record is too big; then none is appended.
   */
  appendAll(records: readonly R[], options: AppendOptions = {}): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#closing) return Promise.reject(new LogClosedError());
    if (records.length === 0) return Promise.resolve();
    let payloads: Buffer[];
    try {
      payloads = records.map((r) => encodePayload(r));
    } catch (err) {
      return Promise.reject(err as Error);
    }
    this.#stats.appends += records.length;
    return new Promise((resolve, reject) => {
      const sync = options.sync ?? true;
      const last = payloads.length - 1;
      for (let i = 0; i < last; i++) this.#queue.push({ value: records[i]!, payload: payloads[i]!, sync, resolve: noop, reject: noop });
      this.#queue.push({ value: records[last]!, payload: payloads[last]!, sync, resolve, reject });
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
    const { syncSeconds } = this.#stats;
    return { ...this.#stats, syncSeconds: { ...syncSeconds, counts: [...syncSeconds.counts] } };
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
    // Each frame's checksum covers the offset it is written at (see frame.ts): frames are made
    // here, where the offset is known, not when appended.
    let size = 0;
    for (const p of batch) size += FRAME_HEADER_BYTES + p.payload.length;
    const data = Buffer.allocUnsafe(size);
    let at = this.#stats.bytes;
    for (let i = 0, pos = 0; i < batch.length; i++) {
      const { payload } = batch[i]!;
      writeFrame(data, pos, payload, this.#salt, at);
      pos += FRAME_HEADER_BYTES + payload.length;
      at += FRAME_HEADER_BYTES + payload.length;
    }
    const forced = batch.some((p) => p.sync);
    if (forced && !this.#unsynced && this.#file.writeDurable !== undefined) {
      // Nothing earlier awaits a sync, so a write that returns durable is the whole job.
      const started = performance.now();
      await this.#file.writeDurable(data);
      observe(this.#stats.syncSeconds, (performance.now() - started) / 1000);
      this.#stats.writes++;
      this.#stats.syncs++;
      this.#stats.bytes += data.length;
    } else {
      await this.#file.write(data);
      this.#stats.writes++;
      this.#stats.bytes += data.length;
      if (forced) {
        const started = performance.now();
        await this.#file.datasync();
        observe(this.#stats.syncSeconds, (performance.now() - started) / 1000);
        this.#stats.syncs++;
        this.#unsynced = false;
      } else {
        this.#unsynced = true;
      }
    }
    this.#inflight = [];
    const held = this.#held;
    for (const p of batch) {
      held?.push(p.value);
      p.resolve();
    }
  }

  #compactionDue(): boolean {
    const bytes = this.#stats.bytes;
    return this.#retain !== undefined && bytes >= this.#compactMinBytes && bytes >= this.#baseline * this.#compactRatio;
  }

  async #compactNow(): Promise<void> {
    const waiters = (this.#settling = this.#compactWaiters);
    this.#compactWaiters = [];
    const retain = this.#retain;
    // A copy: the snapshot may be an array its owner keeps.
    const kept = [...(this.#snapshot?.() ?? [])];
    const summed = kept.length;
    const records = this.#held ?? [];
    for (const r of records) if (retain === undefined || retain(r)) kept.push(r);
    if (summed === 0 && kept.length === records.length) {
      // Nothing to drop (a participant remembers what it finished for `rememberFor`, say): the
      // file would be written again as it is. Wait until it has grown by the ratio again.
      this.#baseline = this.#stats.bytes;
      this.#settling = [];
      for (const w of waiters) w.resolve();
      return;
    }
    // A new salt: a block of the old file found at the same place later cannot pass for a record.
    const data = rewrite(kept.map((r) => ({ payload: encodePayload(r) })));
    await StableLog.#replace(this.#fs, this.#dir, this.#path, data);
    this.#salt = Buffer.from(saltOf(data));
    const old = this.#file;
    this.#file = await this.#fs.openAppend(this.#path, data.length);
    await old.close();
    this.#unsynced = false;
    this.#stats.bytes = this.#baseline = data.length;
    this.#held = kept;
    this.#stats.compactions++;
    this.#settling = [];
    for (const w of waiters) w.resolve();
  }

  async #shutdown(): Promise<void> {
    const waiters = (this.#settling = this.#closeWaiters);
    this.#closeWaiters = [];
    if (this.#unsynced) await this.#file.datasync();
    await this.#file.close();
    await this.#unlock?.();
    this.#settleClosed(undefined);
    this.#settling = [];
    for (const w of waiters) w.resolve();
  }

  #fail(cause: unknown): void {
    const failure = (this.#failure = new LogFailedError(cause));
    if (this.#lazyTimer !== undefined) this.#clock.clearTimeout(this.#lazyTimer);
    this.#lazyTimer = undefined;
    this.#closing = true;
    const pending = [...this.#inflight, ...this.#queue, ...this.#settling, ...this.#compactWaiters, ...this.#closeWaiters];
    this.#settling = [];
    this.#inflight = [];
    this.#queue = [];
    this.#compactWaiters = [];
    this.#closeWaiters = [];
    for (const p of pending) p.reject(failure);
    this.#settleClosed(failure);
    // Already failed; nothing more can be lost. The directory is let go once the file is closed.
    this.#file
      .close()
      .catch(() => {})
      .then(() => this.#unlock?.())
      .catch(() => {});
  }
}
