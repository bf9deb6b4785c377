/**
 * `pnpm torture --rounds N [--seed S]`: the bank under load, with a process killed each round.
 *
 * Starts 3 shards and a coordinator (`bank.js` commands, as child processes) and a load in
 * this process. Each round it waits a random moment, SIGKILLs a random one of the four (the
 * coordinator too), and starts it again with the same flags. After the last round the load
 * stops, the bank is left to settle (nothing in doubt anywhere), every process is stopped
 * cleanly, and the data is audited. A violation is any of:
 *
 * - the audit fails (money created or destroyed, a transaction in doubt, nodes disagreeing);
 * - a transfer acknowledged as committed is not committed in its shards' journals, or one
 *   acknowledged as aborted is committed there;
 * - a process exits without being killed, fails to restart, or does not stop cleanly;
 * - the bank does not settle within a minute;
 * - the load gets an error that is not a typed one.
 *
 * Prints `{"rounds","kills","committed","aborted","failed","inDoubt","violations","seed"}` and
 * exits with 1 if `violations` is not empty (the data directory is then kept, and named on
 * stderr). `--seed` replays the same kills, pauses and transfers (not the same timing).
 */
import type { ChildProcess } from "node:child_process";
import { appendFileSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Runtime } from "@zmbox/mailbox";
import { Client } from "@zmbox/twopc";
import { readAccounts } from "./accounts.js";
import { integer, parseFlags, UsageError } from "./bank/args.js";
import { audit } from "./bank/audit.js";
import { freePorts, startCommand, stop, whenReady } from "./bank/children.js";
import { runLoad, type LoadResult } from "./bank/load.js";
import { STATUS_MAILBOX, shardOf, type Status, type TransferReply } from "./bank/names.js";
import { exitWithParent } from "./parent.js";
import { Random } from "./random.js";

const USAGE = "usage: torture.js --rounds N [--seed S] [--concurrency 8] [--keep]";
const SHARDS = ["A", "B", "C"];
/** Long enough that the shards remember every decided id for the audit's acknowledged-transfer check. */
const REMEMBER_FOR = 24 * 3600_000;

interface Node {
  readonly name: string;
  readonly args: string[];
  readonly endpoint: string;
  readonly out: number;
  child: ChildProcess;
  /** We killed it: its exit is expected. */
  killed: boolean;
}

exitWithParent();
let flags: { rounds: number; seed: number; concurrency: number; keep: boolean };
try {
  const values = parseFlags(process.argv.slice(2), { rounds: { type: "string" }, seed: { type: "string" }, concurrency: { type: "string" }, keep: { type: "boolean" } });
  if (values.rounds === undefined) throw new UsageError("Missing --rounds");
  flags = {
    rounds: integer(values, "rounds", 0, 0)!,
    seed: integer(values, "seed", Math.floor(Math.random() * 2 ** 31), 0)!,
    concurrency: integer(values, "concurrency", 8, 1)!,
    keep: values.keep === true,
  };
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`torture.js: ${error.message}\n${USAGE}`);
  process.exit(2);
}
process.exitCode = await torture(flags.rounds, flags.seed, flags.concurrency, flags.keep);

async function torture(rounds: number, seed: number, concurrency: number, keep: boolean): Promise<number> {
  const random = new Random(seed);
  const dir = mkdtempSync(join(tmpdir(), "zmbox-torture-"));
  const violations: string[] = [];
  const violation = (text: string): void => {
    violations.push(text);
    appendFileSync(join(dir, "violations.txt"), `${text}\n`);
  };
  const ports = await freePorts(SHARDS.length + 1);
  const endpoints = ports.map((p) => `tcp://127.0.0.1:${p}`);
  const coordinatorEndpoint = endpoints[0]!;
  const specs = [
    {
      name: "coordinator",
      endpoint: coordinatorEndpoint,
      args: ["coordinator", "--listen", coordinatorEndpoint, "--data", join(dir, "coordinator"), "--vote-timeout", "2000", ...SHARDS.flatMap((s, i) => ["--shard", `${s}=${endpoints[i + 1]}`])],
    },
    ...SHARDS.map((s, i) => ({
      name: `shard ${s}`,
      endpoint: endpoints[i + 1]!,
      args: ["shard", "--name", s, "--listen", endpoints[i + 1]!, "--data", join(dir, s), "--remember-for", String(REMEMBER_FOR)],
    })),
  ];
  const launch = (node: Omit<Node, "child" | "killed">): ChildProcess => {
    const child = startCommand(node.args, ["ignore", node.out, node.out, "ipc"]);
    child.once("exit", (code, signal) => {
      if (!(node as Node).killed && !stopping) violation(`${node.name} (pid ${child.pid}) exited by itself with ${code ?? signal}`);
    });
    return child;
  };
  let stopping = false;
  const nodes: Node[] = specs.map((s) => {
    const partial = { ...s, out: openSync(join(dir, `${s.name.replace(" ", "-")}.log`), "a") };
    const node = partial as Node;
    node.killed = false;
    node.child = launch(partial);
    return node;
  });
  let kills = 0;
  let inDoubt = 0;
  const acknowledged: { request: { from: string; to: string }; reply: TransferReply }[] = [];
  const loadStop = new AbortController();
  let load: Promise<LoadResult | undefined> | undefined;

  try {
    await Promise.all(nodes.map((n) => whenReady(n.child, n.name)));
    load = runLoad({
      coordinator: coordinatorEndpoint,
      transfers: Infinity,
      concurrency,
      seed,
      timeout: 5000,
      signal: loadStop.signal,
      onReply: (request, reply) => acknowledged.push({ request, reply }),
    }).catch((error: Error) => (violation(`load: ${error.message}`), undefined));
    for (let round = 1; round <= rounds; round++) {
      await sleep(random.between(200, 1500));
      const node = nodes[random.int(nodes.length)]!;
      node.killed = true;
      await stop(node.child, "SIGKILL");
      kills++;
      await sleep(random.between(0, 500));
      node.killed = false;
      node.child = launch(node);
      try {
        await whenReady(node.child, node.name);
      } catch (error) {
        violation(`round ${round}: ${(error as Error).message}`);
        break;
      }
    }
  } catch (error) {
    violation(`setup: ${(error as Error).message}`);
  }
  loadStop.abort();
  const result = await load;
  if (result !== undefined && result.untyped > 0) violation(`load: ${result.untyped} errors without a code`);

  // Settle: nothing in doubt at any node, nothing prepared at any shard.
  if (violations.length === 0) {
    const settled = await settle(nodes);
    if (settled !== true) violation(`the bank did not settle within a minute: ${settled}`);
  }
  stopping = true;
  const exits = await Promise.all(nodes.map((n) => stop(n.child)));
  exits.forEach((code, i) => code !== 0 && violation(`${nodes[i]!.name} stopped with ${code}, not 0`));

  try {
    const report = await audit(join(dir, "coordinator"), SHARDS.map((s) => join(dir, s)));
    inDoubt = report.inDoubt.length;
    if (report.total !== report.expectedTotal) violation(`money: the shards hold ${report.total}, they opened with ${report.expectedTotal}`);
    for (const d of report.inDoubt.slice(0, 10)) violation(`in doubt: ${d.txId} at ${d.node} (${d.state})`);
    for (const d of report.disagreements.slice(0, 10)) violation(`disagreement on ${d.txId}: ${JSON.stringify(d.views)}`);
    // Acknowledged outcomes are what the shards did.
    const journals = new Map(await Promise.all(SHARDS.map(async (s) => [s, await readAccounts(join(dir, s))] as const)));
    let wrong = 0;
    for (const { request, reply } of acknowledged) {
      for (const shard of new Set([shardOf(request.from), shardOf(request.to)])) {
        const decided = journals.get(shard)?.decided[reply.txId]?.outcome;
        const ok = reply.committed ? decided === "commit" : decided !== "commit";
        if (!ok && wrong++ < 10) violation(`transfer ${reply.txId} was acknowledged ${reply.committed ? "committed" : "aborted"}, shard ${shard} has ${decided ?? "nothing"}`);
      }
    }
  } catch (error) {
    violation(`audit: ${(error as Error).message}`);
  }

  const summary = {
    rounds,
    kills,
    committed: result?.committed ?? 0,
    aborted: result?.aborted ?? 0,
    failed: result?.failed ?? 0,
    inDoubt,
    violations,
    seed,
  };
  console.log(JSON.stringify(summary));
  if (violations.length > 0 || keep) console.error(`torture: data and process logs kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  return violations.length === 0 ? 0 : 1;
}

/** Polls every node's status until nothing is in doubt or prepared; `true`, or what is still held. */
async function settle(nodes: readonly Node[]): Promise<true | string> {
  const rt = await Runtime.start();
  const client = new Client(rt);
  let held = "";
  try {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const statuses = await Promise.all(
        nodes.map((n) => client.request<Status>({}, `${STATUS_MAILBOX}@${n.endpoint}`, { timeout: 2000, retries: 0 }).catch(() => undefined)),
      );
      held = statuses.map((s, i) => `${nodes[i]!.name}: ${s === undefined ? "no answer" : `${s.inDoubt} in doubt, ${s.prepared} prepared`}`).join("; ");
      if (statuses.every((s) => s !== undefined && s.inDoubt === 0 && s.prepared === 0)) return true;
      await sleep(250);
    }
    return held;
  } finally {
    client.close();
    await rt.close();
  }
}
