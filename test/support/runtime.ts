// Runtimes that close with the test, on a fresh endpoint of the transport asked for.
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The transports a suite runs over (inproc only works within one process). */
export const transports = ["tcp", "ipc"] as const;
export type Transport = (typeof transports)[number] | "inproc";

/** What tap's test object gives these helpers. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

let unique = 0;

/** A fresh endpoint to bind for `transport` (tcp port 0: the runtime picks one). */
export function endpointFor(transport: Transport): string {
  unique++;
  switch (transport) {
    case "tcp":
      return "tcp://127.0.0.1:0";
    case "ipc":
      return `ipc://${join(tmpdir(), `zmbox-test-${process.pid}-${unique}.sock`)}`;
    case "inproc":
      return `inproc://zmbox-test-${unique}`;
  }
}

/**
 * `start(t, transport?, options?)` for a Runtime class: starts a runtime (tcp by default) that
 * the test closes when it ends. Each test file binds the Runtime it tests: mailbox's tests its
 * sources (`../src/index.js`), the other packages' the built `@zmbox/mailbox`, which is the one
 * their code checks with `instanceof`.
 * @example
 * const start = starter(Runtime);
 * const rt = await start(t, "ipc", { probeInterval: 100 });
 */
export function starter<R extends { close(): Promise<void> }, O extends { endpoint?: string }>(Runtime: {
  start(options?: O): Promise<R>;
}): (t: Teardown, transport?: Transport, options?: O) => Promise<R> {
  return async (t, transport = "tcp", options) => {
    const rt = await Runtime.start({ endpoint: endpointFor(transport), ...options } as O);
    t.teardown(() => rt.close());
    return rt;
  };
}
