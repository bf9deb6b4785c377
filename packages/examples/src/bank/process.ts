/**
 * What every long-running bank command does around its work: one process per data directory
 * (a lock file), a clean stop on SIGTERM or SIGINT, an exit when the parent that forked it
 * dies, and a "ready" message to that parent once it serves.
 */
import { lockDirectory } from "../lock.js";
import { exitWithParent } from "../parent.js";

/** A running command: `stop` closes what it opened, in reverse order. */
export interface Service {
  /** The address to report when ready. */
  readonly address: string;
  stop(): Promise<void>;
}

/**
 * Locks `dir`, starts the service, and stops it on SIGTERM/SIGINT or when the parent dies.
 * A failure to start prints the error and exits with 1.
 */
export async function runService(label: string, dir: string, start: (fail: (error: unknown) => void) => Promise<Service>): Promise<void> {
  let service: Service | undefined;
  let stopping: Promise<void> | undefined;
  let release = (): void => {};
  const stop = (code: number): Promise<void> =>
    (stopping ??= (async () => {
      try {
        await service?.stop();
      } catch (error) {
        console.error(`${label}: error while stopping: ${(error as Error).message}`);
        code = 1;
      }
      release();
      process.exit(code);
    })());
  const fail = (error: unknown): void => {
    console.error(`${label}: stopped: ${error instanceof Error ? error.message : String(error)}`);
    void stop(1);
  };
  exitWithParent(() => stop(0));
  process.once("SIGTERM", () => void stop(0));
  process.once("SIGINT", () => void stop(0));
  try {
    release = lockDirectory(dir);
    service = await start(fail);
  } catch (error) {
    const e = error as Error & { code?: string };
    console.error(`${label}: cannot start: ${e.message}${e.code ? ` (${e.code})` : ""}`);
    release();
    process.exit(1);
  }
  process.send?.({ type: "ready", address: service.address, pid: process.pid });
}
