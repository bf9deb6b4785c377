// The bank's resource manager against the ResourceManager contract (packages/twopc/README.md),
// with its journal on a real disk, and reopened from it as after a crash.
import t from "tap";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Accounts, readAccounts, type AccountsOptions, type Refusal } from "../packages/examples/src/accounts.js";

interface Teardown {
  teardown(fn: () => unknown): void;
}

function dataDir(t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), "accounts-test-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const transfer = (from: string, to: string, amount: number) => ({
  moves: [
    { account: from, delta: -amount },
    { account: to, delta: amount },
  ],
});

async function open(t: Teardown, options: Partial<AccountsOptions> & { dir: string }): Promise<Accounts & { refusals: [string, Refusal][] }> {
  const refusals: [string, Refusal][] = [];
  const accounts = await Accounts.open({ name: "A", accounts: 3, initial: 100, onRefuse: (txId, reason) => refusals.push([txId, reason]), ...options });
  t.teardown(() => accounts.close().catch(() => undefined));
  return Object.assign(accounts, { refusals });
}

t.test("accounts - a repeated prepare gets the same vote, commit or abort", async (t) => {
  const a = await open(t, { dir: dataDir(t) });
  t.equal(await a.prepare("t1", transfer("A:0", "B:0", 30)), "commit");
  t.equal(await a.prepare("t1", transfer("A:0", "B:0", 30)), "commit", "asked again while prepared");
  t.equal(await a.prepare("t2", transfer("A:1", "B:0", 500)), "abort");
  t.equal(await a.prepare("t2", transfer("A:1", "B:0", 500)), "abort", "asked again after refusing");
  t.same(a.recover(), ["t1"]);
});

t.test("accounts - concurrent prepares of one id share one vote and one promise", async (t) => {
  const a = await open(t, { dir: dataDir(t) });
  const votes = await Promise.all([a.prepare("t1", transfer("A:0", "B:0", 30)), a.prepare("t1", transfer("A:0", "B:0", 30))]);
  t.same(votes, ["commit", "commit"]);
  t.equal(a.stats().prepared, 1);
  t.same(a.refusals, [], "the second did not find the account locked by the first");
});

t.test("accounts - abort of an unknown id is accepted, and a late prepare of it votes abort", async (t) => {
  const a = await open(t, { dir: dataDir(t) });
  await a.abort("never-seen");
  await a.abort("never-seen"); // idempotent
  t.equal(await a.prepare("never-seen", transfer("A:0", "B:0", 1)), "abort");
  t.same(a.refusals, [["never-seen", "already-decided"]]);
  t.equal(a.balances()["A:0"], 100);
});

t.test("accounts - a prepare that comes after the abort of a prepared id votes abort", async (t) => {
  const a = await open(t, { dir: dataDir(t) });
  t.equal(await a.prepare("t1", transfer("A:0", "B:0", 30)), "commit");
  await a.abort("t1");
  t.same(a.recover(), [], "no longer prepared");
  t.equal(await a.prepare("t1", transfer("A:0", "B:0", 30)), "abort");
  t.equal(a.balances()["A:0"], 100, "nothing moved");
  t.equal(await a.prepare("t2", transfer("A:0", "B:0", 30)), "commit", "the account was unlocked");
});

t.test("accounts - a prepare that comes after a commit votes abort and moves nothing", async (t) => {
  const a = await open(t, { dir: dataDir(t) });
  t.equal(await a.prepare("t1", transfer("A:0", "B:0", 30)), "commit");
  await a.commit("t1");
  await a.commit("t1"); // idempotent
  t.equal(a.balances()["A:0"], 70);
  t.equal(await a.prepare("t1", transfer("A:0", "B:0", 30)), "abort");
  await a.abort("t1"); // after the late vote: the commit stands
  t.equal(a.balances()["A:0"], 70);
});

t.test("accounts - abort votes say why: insufficient funds, account busy, no such account, bad transfer", async (t) => {
  const a = await open(t, { dir: dataDir(t) });
  t.equal(await a.prepare("big", transfer("A:0", "B:0", 101)), "abort");
  t.equal(await a.prepare("t1", transfer("A:0", "B:0", 100)), "commit", "exactly the balance is fine");
  t.equal(await a.prepare("busy", transfer("B:1", "A:0", 5)), "abort", "credit to a locked account");
  t.equal(await a.prepare("ghost", transfer("A:7", "B:0", 5)), "abort");
  t.equal(await a.prepare("unbalanced", { moves: [{ account: "A:1", delta: -5 }] }), "abort");
  t.equal(await a.prepare("junk", "not a transfer"), "abort");
  t.equal(await a.prepare("float", transfer("A:1", "B:0", 0.5)), "abort");
  t.same(a.refusals, [
    ["big", "insufficient-funds"],
    ["busy", "account-busy"],
    ["ghost", "no-such-account"],
    ["unbalanced", "bad-transfer"],
    ["junk", "bad-transfer"],
    ["float", "bad-transfer"],
  ]);
  t.same(a.stats().refused, { "insufficient-funds": 1, "account-busy": 1, "no-such-account": 1, "bad-transfer": 3, "already-decided": 0 });
});

t.test("accounts - a transfer with no move on this shard is read-only", async (t) => {
  const a = await open(t, { dir: dataDir(t) });
  t.equal(await a.prepare("t1", transfer("B:0", "C:0", 30)), "read-only");
  t.same(a.recover(), []);
});

t.test("accounts - a crash between prepare and commit: reopened, the promise and its lock hold, and commit applies it", async (t) => {
  const dir = dataDir(t);
  // Another process votes commit, then dies by SIGKILL without closing anything.
  const module = pathToFileURL(fileURLToPath(new URL("../packages/examples/dist/accounts.js", import.meta.url))).href;
  const script = `
    import { Accounts } from ${JSON.stringify(module)};
    const a = await Accounts.open({ dir: ${JSON.stringify(dir)}, name: "A", accounts: 3, initial: 100 });
    console.log(await a.prepare("t1", { moves: [{ account: "A:0", delta: -40 }, { account: "B:0", delta: 40 }] }));
    process.kill(process.pid, "SIGKILL");`;
  const out = await new Promise<string>((resolve) => execFile(process.execPath, ["--input-type=module", "-e", script], (_error, stdout) => resolve(stdout)));
  t.equal(out.trim(), "commit", "the crashed process had voted commit");

  const a = await open(t, { dir });
  t.same(a.recover(), ["t1"], "recover() lists the promise");
  t.equal(a.balances()["A:0"], 100, "not applied yet");
  t.equal(await a.prepare("t2", transfer("A:0", "B:1", 10)), "abort", "its account is still locked");
  t.equal(await a.prepare("t1", transfer("A:0", "B:0", 40)), "commit", "asked again: the same vote");
  await a.commit("t1");
  t.equal(a.balances()["A:0"], 60);
  await a.close();

  const state = await readAccounts(dir);
  t.equal(state?.balances["A:0"], 60, "the commit is on disk");
  t.same(state?.prepared, {});
  t.equal(state?.decided.t1?.outcome, "commit");
  t.equal(state?.decided.t2?.outcome, "abort");
});

t.test("accounts - snapshots compact the journal and drop decided ids older than rememberFor", async (t) => {
  const dir = dataDir(t);
  let now = 1_000_000;
  const a = await open(t, { dir, checkpointEvery: 10, rememberFor: 1000, now: () => now });
  for (let i = 0; i < 30; i++) {
    const id = `t${i}`;
    t.equal(await a.prepare(id, transfer(`A:${i % 3}`, "B:0", 1)), "commit");
    await a.commit(id);
    now += 100;
  }
  t.ok(a.stats().checkpoints >= 2, `${a.stats().checkpoints} snapshots`);
  await a.close();
  const state = await readAccounts(dir);
  t.same(state?.balances, { "A:0": 90, "A:1": 90, "A:2": 90 }, "balances survive the compaction");
  t.notOk(state?.decided.t0, "t0 was forgotten after rememberFor");
  t.equal(state?.decided.t29?.outcome, "commit", "recent ids are remembered");
  const b = await open(t, { dir });
  t.same(b.balances(), { "A:0": 90, "A:1": 90, "A:2": 90 }, "reopened from the snapshot and what follows it");
});

t.test("accounts - a data directory of another shard is refused by name", async (t) => {
  const dir = dataDir(t);
  await (await Accounts.open({ dir, name: "A" })).close();
  await t.rejects(Accounts.open({ dir, name: "B" }), { name: "InvalidArgumentError", message: /Expected `name` to be "A"/ });
  await t.rejects(Accounts.open({ dir, name: "A:1" }), { name: "InvalidArgumentError", message: /Expected `name` to be 1 to 32 letters/ });
  await t.rejects(Accounts.open({ dir, name: "A", accounts: 0 }), { message: "Expected `accounts` to be an integer from 1 and up, got `0` (number)" });
});
