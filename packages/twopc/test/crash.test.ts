import t from "tap";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fork, type ChildProcess } from "node:child_process";
import { freePort, rng } from "../../../test/support/index.js";

const fixture = fileURLToPath(new URL("./fixtures/twopc-node.ts", import.meta.url));

interface Node {
  name: string;
  args: string[];
  child: ChildProcess | undefined;
  outcomes: string;
}

function launch(node: Node): Promise<void> {
  const child = fork(fixture, node.args, { execArgv: process.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  node.child = child;
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${node.name} exited (${code}) before it was ready`)));
    child.once("message", () => resolve());
  });
}

function kill(node: Node): Promise<void> {
  const child = node.child;
  node.child = undefined;
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((r) => {
    child.removeAllListeners("exit");
    child.once("exit", () => r());
    child.kill("SIGKILL");
  });
}

function ask<T>(node: Node, message: string): Promise<T> {
  return new Promise((resolve) => {
    node.child!.once("message", (m) => resolve(m as T));
    node.child!.send(message);
  });
}

/** txId -> the decisions each node applied ("C" / "A"), from the outcome files. */
function decisions(nodes: Node[]): Map<string, Map<string, Set<string>>> {
  const out = new Map<string, Map<string, Set<string>>>();
  for (const node of nodes) {
    if (!existsSync(node.outcomes)) continue;
    for (const line of readFileSync(node.outcomes, "utf8").split("\n")) {
      if (line === "") continue;
      const [d, txId] = line.split(" ") as [string, string];
      const byNode = out.get(txId) ?? new Map<string, Set<string>>();
      const set = byNode.get(node.name) ?? new Set<string>();
      set.add(d);
      byNode.set(node.name, set);
      out.set(txId, byNode);
    }
  }
  return out;
}

t.test("SIGKILL of participants and of the coordinator at random points: every transaction ends the same everywhere", async (t) => {
  const seed = Number(process.env.CRASH_SEED ?? 20261125);
  const rand = rng(seed);
  t.comment(`seed ${seed}`);
  const dir = mkdtempSync(join(tmpdir(), "twopc-crash-"));
  const participants: Node[] = [];
  for (const name of ["w1", "w2", "w3"]) {
    const endpoint = `tcp://127.0.0.1:${await freePort()}`;
    participants.push({ name, args: ["participant", endpoint, join(dir, name), join(dir, `${name}.out`)], child: undefined, outcomes: join(dir, `${name}.out`) });
  }
  const workerAddresses = participants.map((w) => `participant@${w.args[1]!}`);
  const coordEndpoint = `tcp://127.0.0.1:${await freePort()}`;
  const coordinator: Node = {
    name: "coordinator",
    args: ["coordinator", coordEndpoint, join(dir, "coordinator"), join(dir, "coordinator.out"), workerAddresses.join(","), "16"],
    child: undefined,
    outcomes: join(dir, "coordinator.out"),
  };
  const all = [coordinator, ...participants];
  t.teardown(() => Promise.all(all.map(kill)));
  await Promise.all(all.map(launch));

  // Every node dies at least once (the coordinator too), in a random order, at random moments.
  const victims = [...all, all[Math.floor(rand() * all.length)]!, all[Math.floor(rand() * all.length)]!];
  for (let i = victims.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [victims[i], victims[j]] = [victims[j]!, victims[i]!];
  }
  t.comment(`kill order: ${victims.map((v) => v.name).join(", ")}`);
  for (const victim of victims) {
    await new Promise((r) => setTimeout(r, 200 + rand() * 400));
    await kill(victim);
    await new Promise((r) => setTimeout(r, rand() * 300));
    await launch(victim);
  }
  // Liveness: with every node back up, transactions commit. Waited for (at most 30 s), not
  // assumed from a fixed time: a loaded machine (the CI runs two test files at once) committed
  // 48 in the time where an idle one commits thousands.
  const commitsNow = (): number => (existsSync(coordinator.outcomes) ? readFileSync(coordinator.outcomes, "utf8").match(/^C /gm)?.length ?? 0 : 0);
  const upAt = commitsNow();
  const liveBy = Date.now() + 30_000;
  while (commitsNow() - upAt < 51 && Date.now() < liveBy) await new Promise((r) => setTimeout(r, 100));
  coordinator.child!.send("stop-new");

  // Once every node is up and messages flow, every transaction must end.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const counts = await Promise.all(all.map((n) => ask<{ inDoubt: number }>(n, "in-doubt")));
    if (counts.every((c) => c.inDoubt === 0)) break;
    if (Date.now() > deadline) throw new Error(`transactions still unfinished: ${JSON.stringify(counts)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  // Give the last decisions time to be applied by the resource managers.
  await new Promise((r) => setTimeout(r, 1000));
  await Promise.all(all.map(kill));

  const d = decisions(all);
  let committed = 0;
  let aborted = 0;
  const mixed: string[] = [];
  const partial: string[] = [];
  for (const [txId, byNode] of d) {
    const seen = new Set<string>();
    for (const s of byNode.values()) for (const x of s) seen.add(x);
    if (seen.size > 1) mixed.push(`${txId}: ${JSON.stringify([...byNode].map(([n, s]) => [n, [...s]]))}`);
    if (seen.has("C")) {
      committed++;
      // Committed anywhere: committed at every participant, and the coordinator decided commit.
      for (const w of participants) if (!byNode.get(w.name)?.has("C")) partial.push(`${txId} not committed at ${w.name}`);
    } else aborted++;
  }
  t.same(mixed, [], "no transaction committed at one node and aborted at another");
  t.same(partial, [], "every committed transaction was committed by every participant");
  t.ok(committed > 50, `transactions committed despite the crashes (${committed} committed, ${aborted} aborted)`);
});
