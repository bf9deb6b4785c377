/**
 * Three PostgreSQL clusters (Debian's `postgresql` package, 15 on Debian 12; the newest
 * installed under /usr/lib/postgresql), each on 127.0.0.1 at a free port,
 * its data directory in the run's directory: fsync, synchronous_commit and wal_sync_method at
 * their defaults (on, on, fdatasync), max_prepared_transactions = 256, trust authentication on
 * loopback. As root, the servers run as the `postgres` user (PostgreSQL refuses root).
 */
import { execFile, execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { appendFile, chown } from "node:fs/promises";
import path from "node:path";
import process from "node:process";
import { promisify } from "node:util";
import { freePort, missingExecutable, startProcess, waitFor, type Service, type ServerProcess } from "../service.js";

export interface PostgresInfo {
  /** One port a cluster, all on 127.0.0.1, user `postgres`, database `postgres`. */
  readonly ports: readonly number[];
}

/** The newest installed server's bin directory (Debian installs each major version side by side). */
function bin(): string {
  let versions: number[] = [];
  try {
    versions = readdirSync("/usr/lib/postgresql").map(Number).filter(Number.isInteger);
  } catch {
    // not installed: missing() says so
  }
  return `/usr/lib/postgresql/${Math.max(15, ...versions)}/bin`;
}
const CLUSTERS = 3;

/** The user the servers run as: `postgres` when we are root, else ourselves. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string): number => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g") };
}

export const postgres: Service<PostgresInfo> = {
  name: "postgres",
  missing: () => missingExecutable(`${bin()}/initdb`, `${bin()}/postgres`),
  async start(dir, log) {
    // Loaded here, so that a run without --peers needs no database client.
    const { default: pg } = await import("pg");
    const BIN = bin();
    const user = serverUser();
    if (user !== undefined) await chown(dir, user.uid, user.gid);
    const ports: number[] = [];
    for (let i = 0; i < CLUSTERS; i++) ports.push(await freePort());
    const datas = ports.map((_, i) => path.join(dir, `cluster${i + 1}`));
    await Promise.all(
      datas.map((data) =>
        promisify(execFile)(`${BIN}/initdb`, ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], {
          ...(user ?? {}),
        }),
      ),
    );
    await Promise.all(
      datas.map((data, i) =>
        appendFile(
          path.join(data, "postgresql.conf"),
          [`port = ${ports[i]}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`, "max_prepared_transactions = 256", ""].join("\n"),
        ),
      ),
    );
    const servers: ServerProcess[] = [];
    // SIGINT is PostgreSQL's fast shutdown: it rolls back sessions and checkpoints.
    const stop = async (): Promise<void> => void (await Promise.all(servers.map((s) => s.stop("SIGINT", 10_000))));
    try {
      for (const [i, data] of datas.entries()) {
        const server = startProcess(`${BIN}/postgres`, ["-D", data], { logFile: path.join(dir, `cluster${i + 1}.log`), ...(user ?? {}) });
        servers.push(server);
        const port = ports[i]!;
        await waitFor(`postgres on port ${port}`, 60_000, server, async () => {
          const client = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "postgres" });
          client.on("error", () => {});
          await client.connect();
          await client.end();
          return true;
        });
      }
    } catch (err) {
      await stop();
      throw new Error(`${(err as Error).message}; see ${dir}/cluster*.log`);
    }
    log(`postgres (pids ${servers.map((s) => s.pid).join(", ")}) on 127.0.0.1:${ports.join(", ")}`);
    return { info: { ports }, stop };
  },
};
