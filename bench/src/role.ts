import process from "node:process";
import type { FromChild, RoleSpec, ToChild } from "./ipc.js";
import { cpuUs } from "./stats.js";

/** What the body of a role gets; see {@link runRole}. */
export interface RoleContext<R extends RoleSpec> {
  /** The arguments the parent gave to `fork`. */
  readonly args: R["args"];
  /** Tells the parent that this role is set up (bound, connected): call it once. */
  ready(info: R["ready"]): void;
  /** Resolves with the parent's `start` parameters. Roles that need no go signal ignore it. */
  readonly started: Promise<R["start"]>;
  /** Tells the parent that the warm-up is over and the timed part begins (see `RoleProcess.timed`). */
  timed(): void;
  /** Resolves when the parent asks this role to stop (roles that run until told await it). */
  readonly stopped: Promise<void>;
  /** Aborted when the parent asks this role to stop, for APIs that take a signal. */
  readonly signal: AbortSignal;
}

/**
 * The child side of a role: the whole of a `bench/src/roles/NAME.ts` module is one call of this.
 * It answers the parent's RSS requests, turns the body's return value (or error) into the result
 * message, then exits; it exits at once too if the parent goes away, so no role outlives its
 * harness.
 *
 * @example
 * export interface EchoRole { args: null; ready: { endpoint: string }; start: never; result: number }
 * runRole<EchoRole>(async (ctx) => {
 *   const router = new zmq.Router({ linger: 0 });
 *   await router.bind("tcp://127.0.0.1:0");
 *   void ctx.stopped.then(() => router.close()); // ends the loop below
 *   ctx.ready({ endpoint: router.lastEndpoint ?? "" });
 *   let n = 0;
 *   for await (const frames of router) { await router.send(frames); n++; }
 *   return n;
 * });
 */
export function runRole<R extends RoleSpec>(body: (ctx: RoleContext<R>) => Promise<R["result"]>): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error("a role runs only in a process forked by the bench harness");
  const post = (msg: FromChild, then?: () => void): void => {
    send(msg, undefined, {}, () => then?.());
  };

  const stop = new AbortController();
  const stopped = new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve()));
  let start: (params: R["start"]) => void = () => {};
  const started = new Promise<R["start"]>((resolve) => (start = resolve));
  process.on("message", (msg: ToChild) => {
    switch (msg.type) {
      case "start":
        start(msg.params as R["start"]);
        break;
      case "stop":
        stop.abort();
        break;
      case "usage":
        post({ type: "usage", rss: process.memoryUsage.rss(), cpuUs: cpuUs() });
        break;
      default:
        throw new Error(`unknown message from the harness: ${JSON.stringify(msg)}`);
    }
  });
  // The harness is gone (exited, killed): nobody will read a result.
  process.on("disconnect", () => process.exit(1));

  const args = JSON.parse(process.argv[2] ?? "null") as R["args"];
  const ctx: RoleContext<R> = {
    args,
    ready: (info) => post({ type: "ready", info }),
    started,
    timed: () => post({ type: "timed" }),
    stopped,
    signal: stop.signal,
  };
  body(ctx).then(
    (result) => post({ type: "result", result }, () => process.exit(0)),
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      post({ type: "error", message: e.message, stack: e.stack }, () => process.exit(1));
    },
  );
}
