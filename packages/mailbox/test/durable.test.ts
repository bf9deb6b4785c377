// Durable mailboxes on an in-memory disk (MemoryFs): a "crash" drops every byte not synced,
// then a new runtime starts on the same directory and endpoint.
import { mkdtemp, rm, writeFile, chmod, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { MemoryFs } from "@zmbox/log";
import { InvalidArgumentError, LogCorruptError, LogLockedError, Runtime, RuntimeFailedError, TimeoutError, type RuntimeOptions } from "../src/index.js";
import { DURABLE_LOG_FILE } from "../src/durable.js";
import { RawClient, batch, endpointFor, eventually, type Teardown } from "../../../test/support/index.js";

const V = 2;
const DIR = "/data";

/** An owner on `fs` at a fixed ipc endpoint, so that it can be "restarted" there. */
function owners(t: Teardown, fs: MemoryFs, options: RuntimeOptions = {}) {
  const endpoint = endpointFor("ipc");
  const started: Runtime[] = [];
  t.teardown(() => Promise.all(started.map((r) => r.close())));
  return {
    endpoint,
    async start(): Promise<Runtime> {
      const rt = await Runtime.start({ endpoint, dataDir: DIR, dataFs: fs, probeInterval: 100, ...options });
      started.push(rt);
      return rt;
    },
    /** Power loss: unsynced bytes are gone, then the runtime goes (its log can write nothing more). */
    async crash(rt: Runtime): Promise<void> {
      fs.crash();
      await rt.close();
    },
  };
}

const drain = async (rt: Runtime, name: string, n: number): Promise<unknown[]> => {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(await rt.receive(`${name}@${rt.endpoint}`, { timeout: 5000 }));
  return out;
};

t.test("a durable mailbox needs a runtime with a dataDir", async (t) => {
  const rt = await Runtime.start({ endpoint: endpointFor("inproc") });
  t.teardown(() => rt.close());
  t.throws(() => rt.mailbox("jobs", { durable: true }), InvalidArgumentError);
  t.throws(() => rt.mailbox("jobs", { durable: "yes" as unknown as boolean }), /Expected `durable` to be a boolean, got `"yes"` \(string\)/);
  await t.rejects(Runtime.start({ dataDir: 7 as unknown as string }), /Expected `dataDir` to be a directory path, got `7` \(number\)/);
  await t.rejects(Runtime.start({ dataDir: "/x", dataFs: {} as never }), /Expected `dataFs` to be a LogFs/);
  await t.rejects(Runtime.start({ onFailed: "no" as never }), /Expected `onFailed` to be a function/);
});

t.test("stored messages outlive a crash, in order; taken ones do not come back", async (t) => {
  const fs = new MemoryFs();
  const o = owners(t, fs);
  let owner = await o.start();
  owner.mailbox("jobs", { durable: true });
  const sender = await Runtime.start({ endpoint: endpointFor("ipc"), probeInterval: 100 });
  t.teardown(() => sender.close());
  const address = `jobs@${o.endpoint}`;
  for (let i = 1; i <= 5; i++) await sender.send(i, address);
  t.same(await drain(owner, "jobs", 2), [1, 2]);
  // The next stored message's sync carries the takes of 1 and 2 to disk.
  await sender.send(6, address);
  await o.crash(owner);
  owner = await o.start();
  const jobs = owner.mailbox("jobs", { durable: true });
  t.equal(jobs.depth, 4);
  t.same(await drain(owner, "jobs", 4), [3, 4, 5, 6]);
  await sender.send(7, address);
  t.same(await drain(owner, "jobs", 1), [7], "the sender goes on with the restarted owner");
});

t.test("a take whose record was not synced comes again, with attempt + 1 and the same id", async (t) => {
  const fs = new MemoryFs();
  const o = owners(t, fs);
  let owner = await o.start();
  owner.mailbox("jobs", { durable: true });
  const sender = await Runtime.start({ endpoint: endpointFor("ipc"), probeInterval: 100 });
  t.teardown(() => sender.close());
  await sender.send({ job: 1 }, `jobs@${o.endpoint}`);
  const syncs = owner.stats().log!.syncs;
  const d = await owner.receive(`jobs@${o.endpoint}`, { ack: "manual" });
  t.equal(d.attempt, 1);
  // The attempt is recorded with the next sync (at once); the ack waits for a later one.
  await eventually(() => owner.stats().log!.syncs > syncs, 5000, "the attempt synced");
  t.equal(d.ack(), true);
  await o.crash(owner);
  owner = await o.start();
  owner.mailbox("jobs", { durable: true });
  const again = await owner.receive(`jobs@${o.endpoint}`, { ack: "manual", timeout: 5000 });
  t.same(again.value, { job: 1 });
  t.equal(again.attempt, 2);
  t.equal(again.id, d.id, "the delivery id stays the same across restarts");
  again.ack();
});

t.test("an ack that was synced is final", async (t) => {
  const fs = new MemoryFs();
  const o = owners(t, fs);
  let owner = await o.start();
  owner.mailbox("jobs", { durable: true });
  const sender = await Runtime.start({ endpoint: endpointFor("ipc"), probeInterval: 100 });
  t.teardown(() => sender.close());
  await sender.send("a", `jobs@${o.endpoint}`);
  const d = await owner.receive(`jobs@${o.endpoint}`, { ack: "manual" });
  d.ack();
  await owner.close(); // a clean close syncs the ack
  owner = await o.start();
  const jobs = owner.mailbox("jobs", { durable: true });
  t.equal(jobs.depth, 0);
});

t.test("a sender that re-sends after the owner restarted gets its duplicates dropped", async (t) => {
  const fs = new MemoryFs();
  const o = owners(t, fs);
  let owner = await o.start();
  owner.mailbox("jobs", { durable: true, capacity: 100 });
  const c = new RawClient(o.endpoint, "raw-durable");
  t.teardown(() => c.close());
  await c.send([V, "hello", "jobs", 1, 3]);
  await eventually(() => ((c.last("ack")?.[6] as number) ?? 0) >= 3, 5000, "credit");
  const { lens, body } = batch(["a", "b", "c"]);
  await c.send([V, "data", "jobs", 1, 0, lens, 0], body);
  await eventually(() => c.last("ack")?.[4] === 3, 5000, "stored, on disk");
  const rid = c.last("ack")![3];
  await o.crash(owner);
  owner = await o.start();
  const jobs = owner.mailbox("jobs", { durable: true, capacity: 100 });
  t.equal(jobs.depth, 3);
  // The sender never saw the restart: it re-sends 1..3 (its acks could have been lost) and 4.
  await c.probe([V, "hello", "jobs", 1, 1], () => c.last("ack")?.[3] !== rid && ((c.last("ack")?.[6] as number) ?? 0) >= 4, 5000, "the new incarnation's credit");
  t.equal(c.last("ack")![4], 3, "the new incarnation knows seq 3 is stored");
  const more = batch(["a", "b", "c", "d"]);
  await c.send([V, "data", "jobs", 1, 0, more.lens, 0], more.body);
  await eventually(() => c.last("ack")?.[4] === 4, 5000, "seq 4 stored");
  t.equal(owner.stats().duplicates, 3);
  t.same(await drain(owner, "jobs", 4), ["a", "b", "c", "d"]);
});

t.test("the log compacts to what the mailboxes hold, and keeps the channels' seqs", async (t) => {
  const fs = new MemoryFs();
  const o = owners(t, fs);
  let owner = await o.start();
  owner.mailbox("jobs", { durable: true, capacity: 1000 });
  // A new channel gets at most `slack` credit (min(64, capacity / 8)): 1000 lets it have 50 at once.
  const c = new RawClient(o.endpoint, "raw-compact");
  t.teardown(() => c.close());
  await c.send([V, "hello", "jobs", 1, 50]);
  await eventually(() => ((c.last("ack")?.[6] as number) ?? 0) >= 50, 5000, "credit");
  const { lens, body } = batch(Array.from({ length: 50 }, (_, i) => "x".repeat(100) + i));
  await c.send([V, "data", "jobs", 1, 0, lens, 0], body);
  await eventually(() => c.last("ack")?.[4] === 50, 5000, "stored");
  await drain(owner, "jobs", 49);
  const before = fs.durableBytes(join(DIR, DURABLE_LOG_FILE));
  await owner.close();
  owner = await o.start();
  owner.mailbox("jobs", { durable: true, capacity: 1000 });
  // The takes are on disk; compaction drops them with the 49 messages they took.
  await owner.compactLog();
  const after = fs.durableBytes(join(DIR, DURABLE_LOG_FILE));
  t.ok(after < before / 5, `the log shrank from ${before} to ${after} bytes`);
  await o.crash(owner);
  owner = await o.start();
  owner.mailbox("jobs", { durable: true, capacity: 1000 });
  t.same(await drain(owner, "jobs", 1), ["x".repeat(100) + 49]);
  await c.probe([V, "hello", "jobs", 1, 1], () => ((c.last("ack")?.[6] as number) ?? 0) >= 51, 5000, "credit again");
  await c.send([V, "data", "jobs", 50, 0, batch(["dup"]).lens, 0], batch(["dup"]).body);
  await eventually(() => owner.stats().duplicates === 1, 5000, "seq 50 is a duplicate after compaction");
});

t.test("a failed sync stops the runtime: closed, onFailed and pending calls say why", async (t) => {
  const fs = new MemoryFs();
  const failures: Error[] = [];
  const o = owners(t, fs, { onFailed: (e) => failures.push(e) });
  const owner = await o.start();
  owner.mailbox("jobs", { durable: true });
  const waiting = t.rejects(owner.receive(`jobs@${owner.endpoint}`), RuntimeFailedError, "a waiting receive rejects with it");
  const sender = await Runtime.start({ endpoint: endpointFor("ipc"), probeInterval: 100 });
  t.teardown(() => sender.close());
  fs.failNext("datasync");
  fs.failNext("write");
  const send = sender.send("lost?", `jobs@${o.endpoint}`, { timeout: 1000 });
  const closed = await owner.closed;
  t.ok(closed instanceof RuntimeFailedError, "closed resolves with RuntimeFailedError");
  t.equal(failures.length, 1, "onFailed is called once");
  t.equal(failures[0], closed);
  await waiting;
  t.throws(() => owner.mailbox("other"), RuntimeFailedError);
  await t.rejects(send, TimeoutError, "the send was never acked: it times out, never resolves");
});

t.test("a bad data directory is a clear error at start", async (t) => {
  const base = await mkdtemp(join(tmpdir(), "zmbox-durable-"));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  await t.rejects(Runtime.start({ dataDir: join(base, "missing") }), /Expected `dataDir` to be an existing directory.*ENOENT/);
  await writeFile(join(base, "file"), "");
  await t.rejects(Runtime.start({ dataDir: join(base, "file") }), /Expected `dataDir` to be a directory/);
  const rt = await Runtime.start({ dataDir: base });
  await t.rejects(Runtime.start({ dataDir: base }), LogLockedError, "one runtime per directory");
  rt.mailbox("jobs", { durable: true });
  await rt.send("a", `jobs@${rt.endpoint}`);
  await rt.send("b", `jobs@${rt.endpoint}`);
  await rt.close();
  // Damage the first record: valid records follow it, so it is not a torn tail.
  const path = join(base, DURABLE_LOG_FILE);
  const bytes = await readFile(path);
  bytes[16 + 8 + 2] = bytes[16 + 8 + 2]! ^ 0xff;
  await writeFile(path, bytes);
  await t.rejects(Runtime.start({ dataDir: base }), LogCorruptError, "a corrupt log never opens as an empty mailbox");
  if (process.getuid?.() !== 0) {
    const ro = join(base, "ro");
    await rm(path);
    await import("node:fs/promises").then((f) => f.mkdir(ro));
    await chmod(ro, 0o500);
    await t.rejects(Runtime.start({ dataDir: ro }), /Expected `dataDir` to be a writable directory/);
  }
});

t.test("a mailbox made without durable where the directory holds its messages is an error", async (t) => {
  const fs = new MemoryFs();
  const o = owners(t, fs);
  let owner = await o.start();
  owner.mailbox("jobs", { durable: true });
  await owner.send("a", `jobs@${o.endpoint}`);
  await owner.close();
  owner = await o.start();
  t.throws(() => owner.mailbox("jobs"), /Expected `durable: true` for the mailbox "jobs": the data directory holds 1 message of it/);
});

t.test("a durable channel that knows less than its sender takes the sender's seq, not a refusal", async (t) => {
  const fs = new MemoryFs();
  const o = owners(t, fs);
  const owner = await o.start();
  owner.mailbox("jobs", { durable: true, capacity: 100 });
  const c = new RawClient(o.endpoint, "raw-ahead");
  t.teardown(() => c.close());
  await c.send([V, "hello", "jobs", 1, 1]);
  await eventually(() => ((c.last("ack")?.[6] as number) ?? 0) >= 1, 5000, "credit");
  await c.send([V, "data", "jobs", 1, 0, batch(["a"]).lens, 0], batch(["a"]).body);
  await eventually(() => c.last("ack")?.[4] === 1, 5000, "seq 1 stored");
  // Acks only say what was on disk: a sender at base 10 had seqs up to 9 stored (and taken).
  await c.send([V, "hello", "jobs", 10, 1]);
  await eventually(() => c.last("ack")?.[4] === 9 && ((c.last("ack")?.[6] as number) ?? 0) >= 10, 5000, "the channel at seq 9, with credit");
  t.equal(c.last("ack")![5], 9, "taken = stored");
  await c.send([V, "data", "jobs", 10, 0, batch(["b"]).lens, 0], batch(["b"]).body);
  t.same(await drain(owner, "jobs", 2), ["a", "b"]);
});
