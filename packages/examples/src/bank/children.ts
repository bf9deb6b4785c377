/**
 * Starting the bank's commands as child processes (for the demo and the torture test). Each is
 * `bank.js <command> ...` forked with an IPC channel: it says when it is ready, and it exits
 * if this process dies.
 */
import { fork, type ChildProcess, type StdioOptions } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

/** `dist/bank.js`. */
export const BANK_JS = fileURLToPath(new URL("../bank.js", import.meta.url));

/** Forks `bank.js <args>`. */
export function startCommand(args: readonly string[], stdio: StdioOptions = ["ignore", "inherit", "inherit", "ipc"]): ChildProcess {
  return fork(BANK_JS, [...args], { stdio });
}

/** Resolves with the child's "ready" message; rejects if it exits first. */
export function whenReady(child: ChildProcess, what: string): Promise<{ address: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      if ((m as { type?: unknown })?.type !== "ready") return;
      cleanup();
      resolve(m as { address: string; pid: number });
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`${what} exited (${code ?? signal}) before it was ready`));
    };
    const cleanup = (): void => {
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}

/** The child's exit code, or its signal's name. */
export async function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode!;
  const [code, signal] = (await once(child, "exit")) as [number | null, string | null];
  return code ?? signal!;
}

/** Sends `signal` (SIGTERM: a clean stop) and waits for the exit. */
export async function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<number | string> {
  const exit = exited(child);
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  return await exit;
}

/** `n` TCP ports free on 127.0.0.1 right now (picked by the OS). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, async () => {
      const server = createServer();
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      return server;
    }),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
