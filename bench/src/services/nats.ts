/**
 * nats-server (Debian's `nats-server` package) with JetStream, on 127.0.0.1 at a free port, its
 * store and log in the run's directory.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { freePort, portOpen, startProcess, waitFor, INSTALL_HINT, type Service } from "../service.js";

export interface NatsInfo {
  /** `nats://127.0.0.1:PORT` */
  readonly url: string;
}

function which(command: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export const nats: Service<NatsInfo> = {
  name: "nats",
  missing: () => (which("nats-server") === undefined ? `nats-server not found: ${INSTALL_HINT}` : undefined),
  async start(dir, log) {
    const port = await freePort();
    const server = startProcess(
      "nats-server",
      ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", path.join(dir, "js"), "-l", path.join(dir, "nats.log")],
      { logFile: path.join(dir, "stdout.log") },
    );
    try {
      await waitFor("nats-server", 20_000, server, () => portOpen(port));
    } catch (err) {
      await server.stop("SIGKILL", 0);
      throw new Error(`${(err as Error).message}; see ${dir}/nats.log`);
    }
    log(`nats-server (pid ${server.pid}) on 127.0.0.1:${port}`);
    return { info: { url: `nats://127.0.0.1:${port}` }, stop: () => server.stop("SIGTERM", 5_000) };
  },
};
