import type { LogFileHandle, LogFs } from "./fs.js";

/** A file operation that {@link MemoryFs.failNext} can make fail. */
export type MemoryFsOp = "write" | "datasync";

export interface MemoryFsOptions {
  /**
   * Called when a `datasync` starts; the sync completes when `done` is called (a simulator
   * schedules it on its virtual clock). If a crash comes first, the sync fails.
   * @default completes in a microtask
   */
  readonly scheduleSync?: (done: () => void) => void;
}

class MemoryFile {
  data = new Uint8Array(256);
  length = 0;
  /** Bytes that survive a crash: a prefix of `data` (the file is only appended to or cut). */
  durableLength = 0;

  append(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.data.length) {
      const grown = new Uint8Array(Math.max(this.data.length * 2, this.length + bytes.length));
      grown.set(this.data.subarray(0, this.length));
      this.data = grown;
    }
    this.data.set(bytes, this.length);
    this.length += bytes.length;
  }
}

/**
 * An in-memory {@link LogFs} with a disk's failure modes: writes reach a volatile cache, and
 * only `datasync` makes them survive {@link MemoryFs.crash}, which keeps a caller-chosen part
 * of the unsynced bytes (a torn tail). Directory operations (create, rename, remove) are
 * modelled as atomic and immediately durable.
 */
export class MemoryFs implements LogFs {
  readonly #files = new Map<string, MemoryFile>();
  readonly #scheduleSync: (done: () => void) => void;
  readonly #faults: Array<{ readonly op: MemoryFsOp; readonly error: Error }> = [];
  #generation = 0;
  /** Completed writes and syncs, for tests that count them. */
  readonly stats = { writes: 0, syncs: 0 };

  constructor(options: MemoryFsOptions = {}) {
    this.#scheduleSync = options.scheduleSync ?? ((done) => queueMicrotask(done));
  }

  /** Makes the next `op` fail with `error`. */
  failNext(op: MemoryFsOp, error: Error = new Error(`EIO: injected ${op} failure`)): void {
    this.#faults.push({ op, error });
  }

  /**
   * Power loss: unsynced bytes are lost except the first `keep(path, unsynced)` of them,
   * pending syncs fail and open handles go dead.
   */
  crash(keep: (path: string, unsyncedBytes: number) => number = () => 0): void {
    this.#generation++;
    for (const [path, file] of this.#files) {
      const unsynced = file.length - file.durableLength;
      const kept = Math.max(0, Math.min(unsynced, Math.floor(keep(path, unsynced))));
      file.length = file.durableLength + kept;
      file.durableLength = file.length;
    }
  }

  /**
   * Damages a byte on the disk: `data[offset] ^= mask`, as a failing medium or a stray write
   * would (for tests that check a reader notices). Durable bytes stay durable.
   * @throws {RangeError} past the file's end.
   */
  damage(path: string, offset: number, mask: number): void {
    const file = this.#files.get(path);
    if (file === undefined || offset < 0 || offset >= file.length) throw new RangeError(`no byte ${offset} in ${path}`);
    file.data[offset]! ^= mask;
  }

  /** Bytes of `path` that survive a crash (0 if it does not exist). */
  durableBytes(path: string): number {
    return this.#files.get(path)?.durableLength ?? 0;
  }

  /** The bytes a reader sees now (a copy), or `undefined`. */
  bytes(path: string): Uint8Array | undefined {
    const file = this.#files.get(path);
    return file && file.data.slice(0, file.length);
  }

  #injected(op: MemoryFsOp): Error | undefined {
    const index = this.#faults.findIndex((f) => f.op === op);
    return index < 0 ? undefined : this.#faults.splice(index, 1)[0]?.error;
  }

  #handle(file: MemoryFile): LogFileHandle {
    const generation = this.#generation;
    const alive = (): void => {
      if (generation !== this.#generation) throw new Error("EIO: file handle from before a crash");
    };
    return {
      write: async (data) => {
        alive();
        const fault = this.#injected("write");
        if (fault) throw fault;
        file.append(data);
        this.stats.writes++;
      },
      datasync: () =>
        new Promise<void>((resolve, reject) => {
          alive();
          const fault = this.#injected("datasync");
          if (fault) return reject(fault);
          const upTo = file.length;
          this.#scheduleSync(() => {
            if (generation !== this.#generation) return reject(new Error("EIO: crashed before the sync completed"));
            file.durableLength = Math.max(file.durableLength, Math.min(upTo, file.length));
            this.stats.syncs++;
            resolve();
          });
        }),
      close: async () => {},
    };
  }

  async mkdir(): Promise<void> {}

  async readFile(path: string): Promise<Uint8Array | undefined> {
    return this.bytes(path);
  }

  /** Writes go at the end of the file: this disk never preallocates, so `end` is where the file ends. */
  async openAppend(path: string): Promise<LogFileHandle> {
    let file = this.#files.get(path);
    if (file === undefined) this.#files.set(path, (file = new MemoryFile()));
    return this.#handle(file);
  }

  async create(path: string): Promise<LogFileHandle> {
    const file = new MemoryFile();
    this.#files.set(path, file);
    return this.#handle(file);
  }

  async truncate(path: string, length: number): Promise<void> {
    const file = this.#files.get(path);
    if (file === undefined) throw new Error(`ENOENT: ${path}`);
    file.length = Math.min(file.length, length);
    file.durableLength = Math.min(file.durableLength, file.length);
  }

  async rename(from: string, to: string): Promise<void> {
    const file = this.#files.get(from);
    if (file === undefined) throw new Error(`ENOENT: ${from}`);
    this.#files.delete(from);
    this.#files.set(to, file);
  }

  async remove(path: string): Promise<void> {
    this.#files.delete(path);
  }

  async syncDir(): Promise<void> {}
}
