/**
 * RabbitMQ (Debian's `rabbitmq-server`, 3.10) as a node of its own: AMQP on 127.0.0.1 at a free
 * port, its own epmd at another, mnesia and logs in the run's directory, no plugins.
 * The Erlang schedulers do not busy-wait (`+sbwt none` and the like): on a small machine an idle
 * broker that spins would slow every other entry of the run.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import process from "node:process";
import { freePort, missingExecutable, startProcess, waitFor, type Service } from "../service.js";

export interface RabbitmqInfo {
  /** `amqp://guest:guest@127.0.0.1:PORT` */
  readonly url: string;
}

const SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";

export const rabbitmq: Service<RabbitmqInfo> = {
  name: "rabbitmq",
  missing: () => missingExecutable(SERVER, "/usr/bin/epmd"),
  async start(dir, log) {
    // Loaded here, so that a run without --peers needs no broker client.
    const { default: amqp } = await import("amqplib");
    const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
    await mkdir(path.join(dir, "log"), { recursive: true });
    await writeFile(
      path.join(dir, "rabbitmq.conf"),
      [`listeners.tcp.1 = 127.0.0.1:${port}`, "loopback_users.guest = true", "log.console = false", "log.file.level = warning", ""].join("\n"),
    );
    await writeFile(path.join(dir, "enabled_plugins"), "[].\n");
    const env = {
      ...process.env,
      HOME: dir, // its Erlang cookie
      ERL_EPMD_ADDRESS: "127.0.0.1",
      ERL_EPMD_PORT: String(epmdPort),
      RABBITMQ_NODENAME: `zmbox-bench-${process.pid}@localhost`,
      RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_MNESIA_BASE: path.join(dir, "mnesia"),
      RABBITMQ_LOG_BASE: path.join(dir, "log"),
      RABBITMQ_CONFIG_FILE: path.join(dir, "rabbitmq.conf"),
      RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, "advanced.config"),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, "enabled_plugins"),
      RABBITMQ_PID_FILE: path.join(dir, "rabbit.pid"),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none",
    };
    // Its own epmd, in the foreground, so that none is left running as a daemon afterwards.
    const epmd = startProcess("epmd", ["-address", "127.0.0.1", "-port", String(epmdPort)], { env, logFile: path.join(dir, "epmd.log") });
    const broker = startProcess(SERVER, [], { env, cwd: dir, logFile: path.join(dir, "log", "stdout.log") });
    const stop = async (): Promise<void> => {
      // SIGTERM makes the script stop the node gracefully; its group goes after 15 s regardless.
      await broker.stop("SIGTERM", 15_000);
      await epmd.stop("SIGTERM", 1_000);
    };
    const url = `amqp://guest:guest@127.0.0.1:${port}`;
    try {
      await waitFor("rabbitmq-server", 120_000, broker, async () => {
        const conn = await amqp.connect(url);
        await conn.close();
        return true;
      });
    } catch (err) {
      await stop();
      throw new Error(`${(err as Error).message}; see ${dir}/log`);
    }
    log(`rabbitmq-server (pid ${broker.pid}) on 127.0.0.1:${port}`);
    return { info: { url }, stop };
  },
};
