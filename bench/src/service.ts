/**
 * Servers that peer entries measure (nats-server, RabbitMQ, PostgreSQL): the harness starts each
 * one an entry of the run needs once, on loopback, with its own temp directory and ports, before
 * the first round, and stops it after the last (see `runner.ts`). Its processes are the harness's
 * children, in a process group of their own, and are killed if the harness exits first.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, openSync, closeSync } from "node:fs";
import net from "node:net";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";

/** A server kind; see `services/*.ts`. */
export interface Service<I> {
  /** Short and unique: `"nats"`, `"rabbitmq"`, `"postgres"`. */
  readonly name: string;
  /** What is missing on this machine to run it, and how to install it; `undefined` if nothing is. */
  missing(): string | undefined;
  /** Starts it with its data under `dir` and resolves once it serves clients. */
  start(dir: string, log: (line: string) => void): Promise<RunningService<I>>;
}

/** A started {@link Service}. */
export interface RunningService<I> {
  /** What clients need: a URL, ports. */
  readonly info: I;
  /** Stops every process it started; resolves once they are gone. */
  stop(): Promise<void>;
}

/** How to install the peer servers, said by every skipped peer entry. */
export const INSTALL_HINT = "install the peer servers with bench/peers/setup (as root, Debian)";

/** `undefined` if every path is an executable file, else a sentence naming the first that is not. */
export function missingExecutable(...paths: string[]): string | undefined {
  for (const p of paths) {
    try {
      accessSync(p, constants.X_OK);
    } catch {
      return `${p} not found: ${INSTALL_HINT}`;
    }
  }
  return undefined;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Resolves once `check` resolves true (a rejection counts as false), trying every 100 ms; rejects
 * after `ms`, or as soon as `server` has exited.
 */
export async function waitFor(what: string, ms: number, server: ServerProcess, check: () => Promise<boolean>): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (!server.running()) throw new Error(`${what} exited while starting`);
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what} not ready after ${ms / 1000} s`);
}

/** True if something accepts TCP connections on 127.0.0.1:`port`. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

/** Server processes still running: their groups are killed when the harness exits, whatever the cause. */
const live = new Set<ChildProcess>();
let exitHooked = false;

/** A server process of the harness; see {@link startProcess}. */
export interface ServerProcess {
  readonly pid: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** True until it exits. */
  running(): boolean;
  /**
   * Sends `signal` to the process (or its whole group), waits up to `graceMs` for it to exit,
   * then kills its group.
   */
  stop(signal: NodeJS.Signals, graceMs: number, group?: boolean): Promise<void>;
}

/**
 * Starts `command` in a process group of its own, its output appended to `logFile`, as the user
 * `uid`/`gid` if given (PostgreSQL refuses to run as root).
 */
export function startProcess(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; logFile: string; uid?: number; gid?: number },
): ServerProcess {
  if (!exitHooked) {
    exitHooked = true;
    process.on("exit", () => {
      for (const c of live) killGroup(c, "SIGKILL");
    });
  }
  const out = openSync(options.logFile, "a");
  const child = spawn(command, args, {
    detached: true,
    stdio: ["ignore", out, out],
    env: options.env ?? process.env,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
  });
  closeSync(out);
  live.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => (live.delete(child), resolve()));
    child.once("error", () => (live.delete(child), resolve()));
  });
  const running = (): boolean => child.exitCode === null && child.signalCode === null && live.has(child);
  return {
    pid: child.pid ?? -1,
    exited,
    running,
    async stop(signal, graceMs, group = false) {
      if (running()) {
        if (group) killGroup(child, signal);
        else child.kill(signal);
        await Promise.race([exited, sleep(graceMs)]);
      }
      // Whatever it left behind in its group (a broker's helpers) goes too.
      killGroup(child, "SIGKILL");
      if (running()) await exited;
    },
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}
