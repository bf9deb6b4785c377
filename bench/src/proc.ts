import { fork, type ChildProcess } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { FromChild, RoleSpec, ToChild, Usage } from "./ipc.js";

/** How long a role may take to report ready before it is killed. */
const READY_TIMEOUT_MS = 20_000;
/** How long a role gets to exit on its own when its group closes, before it is killed. */
const CLOSE_GRACE_MS = 2_000;

/**
 * A role running in its own OS process (a `bench/dist/roles/NAME.js` script built on `runRole`),
 * as the parent sees it. {@link ProcessGroup.fork} hands it out once the role is ready.
 */
export interface RoleProcess<R extends RoleSpec> {
  /** The role's name (its script's base name). */
  readonly name: string;
  /** The child's process id. */
  readonly pid: number;
  /** What the role sent with its ready message (e.g. the endpoint it bound). */
  readonly info: R["ready"];
  /** Lets the role begin its measured work (resolves its `started` promise). */
  start(params: R["start"]): void;
  /** Resolves when the role says its warm-up is over (`ctx.timed()`); rejects as `result` does. */
  timed(): Promise<void>;
  /** The role's result; rejects with its error, or if it exits without one. */
  result(): Promise<R["result"]>;
  /** Asks the role to stop (aborts its `signal`), then waits for its result. */
  stop(): Promise<R["result"]>;
  /** The child's resident set size and CPU time so far, as it reports them on request. */
  usage(): Promise<Usage>;
  /** The child's resident set size in bytes (from {@link usage}). */
  rss(): Promise<number>;
}

/** Every role process still running: all are killed when the harness exits, whatever the cause. */
const live = new Set<ChildProcess>();
let exitHooked = false;

function track(child: ChildProcess): void {
  // Hooked on first use, so that a role importing the harness barrel gets no exit hook of its own.
  if (!exitHooked) {
    exitHooked = true;
    process.on("exit", () => {
      for (const c of live) c.kill("SIGKILL");
    });
  }
  live.add(child);
}

interface Pending<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: Error): void;
}

function pending<T>(): Pending<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  // A caller that never asks must not turn a dead child into an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** The parent's end of one child process and its IPC channel. */
class Child<R extends RoleSpec> implements RoleProcess<R> {
  info = undefined as R["ready"];
  readonly ready = pending<R["ready"]>();
  readonly closed: Promise<void>;
  readonly #result = pending<R["result"]>();
  readonly #usage: Pending<Usage>[] = [];
  readonly #timed = pending<void>();
  readonly #child: ChildProcess;

  constructor(readonly name: string, args: unknown) {
    const script = fileURLToPath(new URL(`./roles/${name}.js`, import.meta.url));
    this.#child = fork(script, [JSON.stringify(args)], {
      serialization: "advanced",
      // The role's stdout goes to our stderr: nothing a role prints can spoil `--json` output.
      stdio: ["ignore", 2, 2, "ipc"],
      // BENCH_ROLE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles every role (NODE_OPTIONS refuses --cpu-prof).
      execArgv: process.env["BENCH_ROLE_NODE_ARGS"]?.split(" ").filter((a) => a !== "") ?? [],
    });
    track(this.#child);
    const label = `role ${name} (pid ${this.pid})`;
    this.#child.on("message", (msg: FromChild) => {
      switch (msg.type) {
        case "ready":
          this.ready.resolve(msg.info as R["ready"]);
          break;
        case "timed":
          this.#timed.resolve();
          break;
        case "result":
          this.#result.resolve(msg.result as R["result"]);
          break;
        case "error": {
          const err = new Error(`${label} failed: ${msg.message}`);
          if (msg.stack !== undefined) err.stack = `${err.message}\n  in the role: ${msg.stack}`;
          this.#fail(err);
          break;
        }
        case "usage":
          this.#usage.shift()?.resolve({ rss: msg.rss, cpuUs: msg.cpuUs });
          break;
        default:
          this.#fail(new Error(`${label} sent an unknown message: ${JSON.stringify(msg)}`));
      }
    });
    this.#child.on("error", (err) => this.#fail(new Error(`${label}: ${err.message}`, { cause: err })));
    // 'close' comes after 'exit' and after the IPC channel has delivered its last message.
    this.closed = new Promise((resolve) =>
      this.#child.on("close", (code, signal) => {
        live.delete(this.#child);
        this.#fail(new Error(`${label} exited (${signal ?? `code ${code}`}) before it was done`));
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  start(params: R["start"]): void {
    this.#post({ type: "start", params });
  }

  result(): Promise<R["result"]> {
    return this.#result.promise;
  }

  stop(): Promise<R["result"]> {
    this.#post({ type: "stop" });
    return this.#result.promise;
  }

  timed(): Promise<void> {
    return this.#timed.promise;
  }

  usage(): Promise<Usage> {
    const answer = pending<Usage>();
    this.#usage.push(answer);
    this.#post({ type: "usage" });
    return answer.promise;
  }

  async rss(): Promise<number> {
    return (await this.usage()).rss;
  }

  /** Asks the role to stop, waits up to `graceMs` for it to exit, then kills it. */
  async close(graceMs: number): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#post({ type: "stop" });
      await within(this.closed, graceMs);
      this.#child.kill("SIGKILL");
    }
    return this.closed;
  }

  #post(msg: ToChild): void {
    if (this.#child.connected) this.#child.send(msg);
  }

  #fail(err: Error): void {
    this.ready.reject(err);
    this.#timed.reject(err);
    this.#result.reject(err);
    for (const answer of this.#usage.splice(0)) answer.reject(err);
  }
}

/** Resolves with `promise`'s value, or with `undefined` after `ms` milliseconds. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The role processes of one benchmark entry: {@link fork} starts them, {@link close} ends them
 * all (the harness closes each entry's group after it ran, whether it succeeded or threw).
 */
export class ProcessGroup {
  readonly #members = new Set<Child<RoleSpec>>();

  /**
   * Forks `bench/dist/roles/<role>.js` with `args` (as JSON on its command line) and resolves
   * once it has reported ready; kills it and rejects if it fails or is not ready in 20 s.
   */
  async fork<R extends RoleSpec>(role: string, args: R["args"]): Promise<RoleProcess<R>> {
    const child = new Child<R>(role, args);
    this.#members.add(child);
    try {
      const ready = await within(child.ready.promise.then((info) => ({ info })), READY_TIMEOUT_MS);
      if (ready === undefined) {
        throw new Error(`role ${role} (pid ${child.pid}) not ready after ${READY_TIMEOUT_MS} ms`);
      }
      child.info = ready.info;
      return child;
    } catch (err) {
      await child.close(0);
      throw err;
    }
  }

  /** Ends every process of the group: asks each to stop, gives it 2 s to exit, then kills it. */
  async close(): Promise<void> {
    const members = [...this.#members];
    this.#members.clear();
    await Promise.all(members.map((m) => m.close(CLOSE_GRACE_MS)));
  }
}
