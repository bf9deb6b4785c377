/**
 * One process per data directory: a lock file, `<dir>/LOCK`, created with O_EXCL and holding
 * the owner's pid. A lock whose pid is gone (the owner was killed) is stale and taken over.
 *
 * Node has no flock(), so two processes that start at the same instant on a directory whose
 * owner died could both take over its stale lock; and a pid reused by an unrelated process
 * keeps a stale lock looking live (remove the file by hand after checking that process).
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

/** The name of the lock file inside a data directory. */
export const LOCK_FILE = "LOCK";

/** Another live process holds the data directory. */
export class DirectoryLockedError extends Error {
  override readonly name = "DirectoryLockedError";
  readonly code = "ERR_DIRECTORY_LOCKED";
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`the data directory ${dir} is in use by process ${pid} (lock file ${join(dir, LOCK_FILE)}); stop that process first`);
  }
}

/** Whether a process with this pid is running (a zombie counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // Linux: field 3 of /proc/<pid>/stat is the state; Z is a dead process not yet reaped.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** The pid in `<dir>/LOCK` if a live process holds it, else `undefined`. */
export function lockHolder(dir: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(join(dir, LOCK_FILE), "utf8"), 10);
  } catch {
    return undefined;
  }
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid) ? pid : undefined;
}

/**
 * Takes the lock of `dir` (created if missing) for this process and returns a function that
 * releases it. The lock is released by the OS only in the sense that a dead pid is stale: call
 * the release function on a clean exit.
 *
 * @throws {DirectoryLockedError} when a live process holds the directory.
 */
export function lockDirectory(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, "wx");
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(file, "utf8").trim() === String(process.pid)) unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw error;
    }
    const content = readFileSync(file, "utf8");
    const pid = Number.parseInt(content, 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw new DirectoryLockedError(dir, pid);
    // Stale: its owner is gone. Remove it only if it still names that owner, then retry once.
    if (readFileSync(file, "utf8") === content) unlinkSync(file);
  }
}
