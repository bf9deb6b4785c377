import { constants, fdatasync, write } from "node:fs";
import { mkdir, open, rename, rm, truncate, type FileHandle } from "node:fs/promises";

/** An open log file. Every method rejects on failure; none retries. */
export interface LogFileHandle {
  /** Writes all of `data` at the end of the file. */
  write(data: Uint8Array): Promise<void>;
  /** Makes everything written so far durable (`fdatasync`). */
  datasync(): Promise<void>;
  /**
   * Optional: writes all of `data` at the end of the file and returns once that data is durable,
   * in one call (`O_DSYNC`: write and sync in a single thread-pool hop instead of two). Unlike
   * `datasync` it covers only `data`: the log uses it only when nothing written earlier is unsynced.
   */
  writeDurable?(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file operations the stable log needs, injectable so that the simulator can use an
 * in-memory disk that loses unsynced writes and tears the tail on a crash.
 */
export interface LogFs {
  mkdir(dir: string): Promise<void>;
  /** The whole file, or `undefined` when it does not exist. */
  readFile(path: string): Promise<Uint8Array | undefined>;
  /** Opens for appending, creating an empty file when missing. */
  openAppend(path: string): Promise<LogFileHandle>;
  /** Creates (or empties) a file and opens it for writing. */
  create(path: string): Promise<LogFileHandle>;
  /** Cuts the file to `length` bytes, durably. */
  truncate(path: string, length: number): Promise<void>;
  /** Atomically replaces `to` by `from`. */
  rename(from: string, to: string): Promise<void>;
  /** Deletes a file; a missing one is fine. */
  remove(path: string): Promise<void>;
  /** Makes the directory's entries (creations, renames) durable. */
  syncDir(dir: string): Promise<void>;
}

/**
 * Writes all of `data` at the end of the file. Through the callback API on the descriptor: one
 * durable write of 300 bytes took 13-19 us less at the median than with `FileHandle.write`
 * (measured here), and a 2PC transaction waits on two of them.
 */
async function writeAll(file: FileHandle, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.length) {
    done += await new Promise<number>((resolve, reject) =>
      write(file.fd, data, done, data.length - done, null, (error, written) => (error ? reject(error) : resolve(written))),
    );
  }
}

function handleOf(file: FileHandle, dsync?: FileHandle): LogFileHandle {
  return {
    write: (data) => writeAll(file, data),
    datasync: () => new Promise<void>((resolve, reject) => fdatasync(file.fd, (error) => (error ? reject(error) : resolve()))),
    ...(dsync === undefined ? {} : { writeDurable: (data: Uint8Array) => writeAll(dsync, data) }),
    async close() {
      try {
        await dsync?.close();
      } finally {
        await file.close();
      }
    },
  };
}

/** The real file system (`node:fs/promises`). */
export const nodeFs: LogFs = {
  async mkdir(dir) {
    await mkdir(dir, { recursive: true });
  },
  async readFile(path) {
    let file;
    try {
      file = await open(path, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    try {
      return await file.readFile();
    } finally {
      await file.close();
    }
  },
  async openAppend(path) {
    const file = await open(path, "a");
    let dsync: FileHandle;
    try {
      // A second descriptor on the same file, for forced groups: each write returns durable.
      dsync = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_DSYNC);
    } catch (error) {
      await file.close();
      throw error;
    }
    return handleOf(file, dsync);
  },
  async create(path) {
    return handleOf(await open(path, "w"));
  },
  async truncate(path, length) {
    await truncate(path, length);
    const file = await open(path, "r+");
    try {
      await file.datasync();
    } finally {
      await file.close();
    }
  },
  rename: (from, to) => rename(from, to),
  remove: (path) => rm(path, { force: true }),
  async syncDir(dir) {
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};
