// The bank's commands as a user runs them: bad flags, a data directory used twice, a stale
// lock after a crash, a bank serving transfers, and an audit that catches a broken bank.
import t from "tap";
import { execFile, fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { StableLog } from "../packages/log/dist/index.js";
import { Runtime } from "../packages/mailbox/dist/index.js";
import { Client, RemoteError } from "../packages/twopc/dist/index.js";
import { Accounts } from "../packages/examples/src/accounts.js";
import { auditCommand } from "../packages/examples/src/bank/audit.js";
import { coordinator } from "../packages/examples/src/bank/coordinator.js";
import { load } from "../packages/examples/src/bank/load.js";
import { shard } from "../packages/examples/src/bank/shard.js";

// Starting a process takes seconds when the machine is busy.
t.setTimeout(300_000);

const BANK = fileURLToPath(new URL("../packages/examples/dist/bank.js", import.meta.url));

interface Teardown {
  teardown(fn: () => unknown): void;
}

function tempDir(t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), "bank-test-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function bank(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BANK, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A long-running command, killed when the test ends. */
function start(t: Teardown, args: string[]): ChildProcess & { output: () => string } {
  const child = fork(BANK, args, { stdio: ["ignore", "pipe", "pipe", "ipc"] });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return Object.assign(child, { output: () => output });
}

async function ready(child: ChildProcess): Promise<void> {
  const [m] = (await Promise.race([once(child, "message"), once(child, "exit").then(([code]) => Promise.reject(new Error(`exited with ${code} before ready`)))])) as [{ type: string }];
  if (m.type !== "ready") throw new Error(`unexpected message ${JSON.stringify(m)}`);
}

async function exitCode(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode!;
  const [code, signal] = (await once(child, "exit")) as [number | null, string | null];
  return code ?? signal!;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

t.test("bank commands - each bad flag is named, with what was expected", async (t) => {
  const dir = tempDir(t);
  // Flags are checked before anything starts, so the commands can be called here.
  const cases: [(argv: readonly string[]) => Promise<void>, string[], RegExp][] = [
    [shard, ["--listen", "tcp://127.0.0.1:7101", "--data", dir], /Missing --name/],
    [shard, ["--name", "A", "--listen", "tcp://127.0.0.1:0", "--data", dir], /Expected --listen to be tcp:\/\/host:port with a fixed host and a port from 1 to 65535, got `tcp:\/\/127.0.0.1:0`/],
    [shard, ["--name", "A:1", "--listen", "tcp://127.0.0.1:7101", "--data", dir], /Expected --name to be 1 to 32 letters/],
    [shard, ["--name", "A", "--listen", "tcp://127.0.0.1:7101", "--data", dir, "--accounts", "0"], /Expected --accounts to be an integer from 1 and up, got `0`/],
    [shard, ["--name", "A", "--listen", "tcp://127.0.0.1:7101", "--data", dir, "--acounts", "3"], /Unknown option '--acounts'/],
    [coordinator, ["--listen", "tcp://127.0.0.1:7100", "--data", dir], /Missing --shard/],
    [coordinator, ["--listen", "tcp://127.0.0.1:7100", "--data", dir, "--shard", "A"], /Expected --shard to be NAME=tcp:\/\/host:port, got `A`/],
    [coordinator, ["--listen", "tcp://127.0.0.1:7100", "--data", dir, "--shard", "A=tcp://127.0.0.1:7101", "--shard", "A=tcp://127.0.0.1:7102"], /Expected each --shard name once, got A twice/],
    [load, ["--coordinator", "tcp://127.0.0.1:7100", "--transfers", "ten"], /Expected --transfers to be an integer from 0 and up, got `ten`/],
    [load, ["--coordinator", "tcp://127.0.0.1:7100"], /Missing --transfers/],
    [auditCommand, ["--coordinator-data", dir], /Missing --data/],
    [auditCommand, ["--coordinator-data", join(dir, "nowhere"), "--data", dir], /Expected --coordinator-data to be an existing data directory/],
  ];
  for (const [command, argv, message] of cases) await t.rejects(command(argv), { name: "UsageError", message }, argv.join(" "));
});

t.test("bank commands - a bad flag or command prints the usage and exits with 2", async (t) => {
  const flag = await bank(["shard", "--name", "A", "--listen", "tcp://127.0.0.1:7101", "--data", tempDir(t), "--acounts", "3"]);
  t.equal(flag.code, 2);
  t.match(flag.stderr, /bank.js shard: Unknown option '--acounts'.*\nusage: bank\.js shard --name A/s);
  const command = await bank(["transfer"]);
  t.equal(command.code, 2);
  t.match(command.stderr, /unknown command `transfer`\nusage: bank\.js \[shard\|coordinator\|load\|audit\]/);
});

t.test("bank commands - a data directory in use is refused; after a SIGKILL its stale lock is taken over", async (t) => {
  const dir = tempDir(t);
  const shardArgs = async (): Promise<string[]> => ["shard", "--name", "A", "--listen", `tcp://127.0.0.1:${await freePort()}`, "--data", dir];
  const first = start(t, await shardArgs());
  await ready(first);
  t.ok(existsSync(join(dir, "LOCK")), "the shard holds the lock file");

  const second = await bank(await shardArgs());
  t.equal(second.code, 1);
  t.match(second.stderr, new RegExp(`the data directory ${dir} is in use by process ${first.pid}.*ERR_DIRECTORY_LOCKED`));
  const auditing = await bank(["audit", "--coordinator-data", dir, "--data", dir]);
  t.equal(auditing.code, 1);
  t.match(auditing.stderr, /in use by process \d+: stop the bank before the audit/);

  first.kill("SIGKILL");
  await exitCode(first);
  t.ok(existsSync(join(dir, "LOCK")), "a killed process leaves its lock file");
  const again = start(t, await shardArgs());
  await ready(again);
  t.match(again.output(), /ready/, "the restart took the stale lock over");
  again.kill("SIGTERM");
  t.equal(await exitCode(again), 0, "SIGTERM stops it cleanly");
  t.notOk(existsSync(join(dir, "LOCK")), "a clean stop removes the lock");
});

t.test("bank commands - a shard refuses another shard's data directory", async (t) => {
  const dir = tempDir(t);
  await (await Accounts.open({ dir, name: "A" })).close();
  const { code, stderr } = await bank(["shard", "--name", "B", "--listen", `tcp://127.0.0.1:${await freePort()}`, "--data", dir]);
  t.equal(code, 1);
  t.match(stderr, /Expected `name` to be "A", the name of the shard in/);
});

t.test("bank commands - shards and a coordinator serve transfers, refuse bad ones, stop cleanly and pass the audit", async (t) => {
  const dir = tempDir(t);
  const [c, a, b] = [await freePort(), await freePort(), await freePort()].map((p) => `tcp://127.0.0.1:${p}`) as [string, string, string];
  const data = { a: join(dir, "a"), b: join(dir, "b"), c: join(dir, "c") };
  const nodes = [
    start(t, ["shard", "--name", "A", "--listen", a, "--data", data.a, "--accounts", "3", "--initial", "50"]),
    start(t, ["shard", "--name", "B", "--listen", b, "--data", data.b, "--accounts", "3", "--initial", "50"]),
    start(t, ["coordinator", "--listen", c, "--data", data.c, "--shard", `A=${a}`, "--shard", `B=${b}`]),
  ];
  await Promise.all(nodes.map(ready));

  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const client = new Client(rt);
  t.teardown(() => client.close());
  const transfers = `transfers@${c}`;
  const ok = await client.request<{ committed: boolean; reason: string }>({ type: "transfer", from: "A:0", to: "B:1", amount: 20 }, transfers);
  t.match(ok, { committed: true, reason: "all-voted-commit" });
  // To B:2, not B:1: an outcome is final before the shards apply it, so B:1 may still be locked
  // by the transfer above, and B could vote abort (account busy) before A's vote arrives.
  const poor = await client.request<{ committed: boolean; reason: string; by: string }>({ type: "transfer", from: "A:1", to: "B:2", amount: 51 }, transfers);
  t.match(poor, { committed: false, reason: "voted-abort", by: `shard-A@${a}` }, "insufficient funds: shard A voted abort");
  await t.rejects(client.request({ type: "transfer", from: "Z:0", to: "B:1", amount: 1 }, transfers), RemoteError);
  await t.rejects(client.request({ type: "transfer", from: "A:0", to: "B:1", amount: -5 }, transfers), { code: "EBADTRANSFER", message: /Expected `amount` to be an integer from 1 and up, got `-5`/ });

  const loaded = await bank(["load", "--coordinator", c, "--transfers", "30", "--concurrency", "3", "--accounts", "3", "--max-amount", "60"]);
  t.equal(loaded.code, 0, "load exits 0");
  const counts = JSON.parse(loaded.stdout) as { committed: number; aborted: number; failed: number };
  t.equal(counts.committed + counts.aborted + counts.failed, 30, `every transfer answered: ${loaded.stdout.trim()}`);

  for (const n of nodes) n.kill("SIGTERM");
  t.same(await Promise.all(nodes.map(exitCode)), [0, 0, 0], "each stops cleanly");
  t.match(nodes[0]!.output(), /vote abort \S+: insufficient-funds \(A:1 has 50, the transfer takes 51\)/, "the shard said why it voted abort");
  const audit = await bank(["audit", "--coordinator-data", data.c, "--data", data.a, "--data", data.b]);
  t.equal(audit.code, 0, audit.stdout);
  t.same(JSON.parse(audit.stdout), { ok: true, total: 300, expectedTotal: 300, inDoubt: [], disagreements: [] });
});

t.test("bank audit - lost money, a transfer in doubt and nodes that disagree fail the audit", async (t) => {
  const dir = tempDir(t);
  const data = { a: join(dir, "a"), b: join(dir, "b"), c: join(dir, "c") };
  // Shard A applied t1 on its side only, as if shard B had lost its half; B holds t2 prepared.
  const a = await Accounts.open({ dir: data.a, name: "A", accounts: 2, initial: 100 });
  t.equal(await a.prepare("t1", { moves: [{ account: "A:0", delta: -30 }, { account: "B:0", delta: 30 }] }), "commit");
  await a.commit("t1");
  await a.close();
  const b = await Accounts.open({ dir: data.b, name: "B", accounts: 2, initial: 100 });
  t.equal(await b.prepare("t2", { moves: [{ account: "A:1", delta: 5 }, { account: "B:1", delta: -5 }] }), "commit");
  await b.close();
  // The coordinator aborted t1.
  const { log } = await StableLog.open(join(data.c, "2pc"));
  await log.append({ type: "COORD-START", txId: "t1", participants: ["shard-A@tcp://127.0.0.1:1", "shard-B@tcp://127.0.0.1:2"] });
  await log.append({ type: "COORD-ABORT", txId: "t1" });
  await log.close();
  writeFileSync(join(data.c, "LOCK"), "999999999\n"); // a stale lock does not stop the audit

  const { code, stdout } = await bank(["audit", "--coordinator-data", data.c, "--data", data.a, "--data", data.b]);
  t.equal(code, 1);
  t.same(JSON.parse(stdout), {
    ok: false,
    total: 370,
    expectedTotal: 400,
    inDoubt: [{ txId: "t2", node: "shard B journal", state: "prepared" }],
    disagreements: [{ txId: "t1", views: { coordinator: "abort", "shard A journal": "commit" } }],
  });
});
