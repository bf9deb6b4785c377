import t from "tap";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidAddressError, Runtime } from "@zmbox/mailbox";
import { eventually } from "../../../test/support/index.js";
import { Coordinator, NodeClosedError, NodeFailedError, Participant, type ResourceManager } from "../src/index.js";

const dir = (): string => mkdtempSync(join(tmpdir(), "twopc-node-"));

interface Recorder extends ResourceManager {
  log: string[];
}

function rm(vote: (txId: string, payload: unknown) => "commit" | "abort" | "read-only" | Promise<never>): Recorder {
  const log: string[] = [];
  return {
    log,
    prepare: (txId, payload) => {
      log.push(`prepare ${txId}`);
      return vote(txId, payload);
    },
    commit: (txId) => void log.push(`commit ${txId}`),
    abort: (txId) => void log.push(`abort ${txId}`),
  };
}

/** Waits for `check()`, polling; throws after `ms`. */
const until = (check: () => boolean, ms = 10_000): Promise<void> => eventually(check, ms);

t.test("2PC on the runtime: commit, a vote to abort, read-only votes", async (t) => {
  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const a = rm(() => "commit");
  const b = rm((_tx, p) => ((p as { refuse?: boolean } | undefined)?.refuse ? "abort" : "commit"));
  const ro = rm(() => "read-only");
  const wa = await Participant.open({ runtime: rt, logDir: dir(), mailbox: "a", resourceManager: a });
  const wb = await Participant.open({ runtime: rt, logDir: dir(), mailbox: "b", resourceManager: b });
  const wr = await Participant.open({ runtime: rt, logDir: dir(), mailbox: "ro", resourceManager: ro });
  const c = await Coordinator.open({ runtime: rt, logDir: dir(), mailbox: "c" });
  t.teardown(async () => {
    for (const n of [c, wa, wb, wr]) await n.close();
  });

  const ok = await c.transact({ participants: [wa.address, wb.address, wr.address], txId: "t1" });
  t.same(ok, { txId: "t1", committed: true, reason: "all-voted-commit" });
  await until(() => a.log.includes("commit t1") && b.log.includes("commit t1"));
  t.notOk(ro.log.includes("commit t1") || ro.log.includes("abort t1"), "a read-only voter leaves phase 2");

  const no = await c.transact({ participants: [wa.address, wb.address], payload: { refuse: true }, txId: "t2" });
  t.equal(no.committed, false);
  t.equal(no.reason, "voted-abort");
  t.equal(no.by, wb.address, "the outcome names who voted abort");
  await until(() => a.log.includes("abort t2"));
  t.notOk(a.log.includes("commit t2"), "nobody commits an aborted transaction");

  const allRo = await c.transact({ participants: [wr.address] });
  t.same([allRo.committed, allRo.reason], [true, "all-read-only"]);
  t.equal(c.stats().committed, 2);
  t.equal(c.stats().aborted, 1);
  t.same(c.inDoubt(), [], "nothing left unfinished");
});

t.test("a participant that does not answer: the coordinator aborts when the votes time out", async (t) => {
  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const a = rm(() => "commit");
  const wa = await Participant.open({ runtime: rt, logDir: dir(), mailbox: "a", resourceManager: a });
  const silent = rt.mailbox("silent"); // a mailbox nobody serves
  const c = await Coordinator.open({ runtime: rt, logDir: dir(), mailbox: "c", voteTimeout: 200 });
  t.teardown(async () => {
    await c.close();
    await wa.close();
  });
  const outcome = await c.transact({ participants: [wa.address, silent.address] });
  t.same([outcome.committed, outcome.reason], [false, "vote-timeout"]);
  await until(() => a.log.some((l) => l.startsWith("abort")));
});

t.test("a participant in READY blocks while its coordinator is down, and learns the outcome when it comes back", async (t) => {
  const coordLog = dir();
  const port = await (async () => {
    const probe = await Runtime.start();
    const p = probe.endpoint.split(":").pop()!;
    await probe.close();
    return p;
  })();
  const coordEndpoint = `tcp://127.0.0.1:${port}`;
  const wrt = await Runtime.start();
  t.teardown(() => wrt.close());
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  // Participant b holds its vote until the coordinator is gone: a is READY by then, b is not.
  const a = rm(() => "commit");
  const b = rm(async () => {
    await gate;
    return "commit" as never;
  });
  const wa = await Participant.open({ runtime: wrt, logDir: dir(), mailbox: "a", resourceManager: a, askAfter: 100, askInterval: 100 });
  const wb = await Participant.open({ runtime: wrt, logDir: dir(), mailbox: "b", resourceManager: b, askAfter: 100, askInterval: 100 });
  t.teardown(async () => {
    await wa.close();
    await wb.close();
  });
  let crt = await Runtime.start({ endpoint: coordEndpoint });
  let c = await Coordinator.open({ runtime: crt, logDir: coordLog, mailbox: "c", voteTimeout: 60_000 });
  const pending = t.rejects(c.transact({ participants: [wa.address, wb.address], txId: "blocked" }), NodeClosedError);
  await until(() => wa.inDoubt().length === 1);
  // The coordinator goes away in WAIT: its transact rejects; participant a is in doubt.
  await c.close();
  await pending;
  await crt.close();
  release();
  await new Promise((r) => setTimeout(r, 300));
  t.same(wa.inDoubt().map((d) => d.txId), ["blocked"], "a READY participant blocks: its peer b voted commit too, so it cannot decide");
  t.notOk(a.log.includes("commit blocked") || a.log.includes("abort blocked"));
  // Recovery by the notes' table: a coordinator restarted in WAIT aborts.
  crt = await Runtime.start({ endpoint: coordEndpoint });
  c = await Coordinator.open({ runtime: crt, logDir: coordLog, mailbox: "c" });
  t.teardown(async () => {
    await c.close();
    await crt.close();
  });
  await until(() => a.log.includes("abort blocked") && b.log.includes("abort blocked"));
  t.same(wa.inDoubt(), [], "no longer in doubt");
});

t.test("a transaction the resource manager holds prepared but the log never promised is aborted at open", async (t) => {
  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const log: string[] = [];
  const w = await Participant.open({
    runtime: rt, logDir: dir(), mailbox: "w",
    resourceManager: {
      prepare: () => "commit",
      commit: (txId) => void log.push(`commit ${txId}`),
      abort: (txId) => void log.push(`abort ${txId}`),
      // It crashed after prepare and before its READY record was durable.
      recover: () => ["half-prepared"],
    },
  });
  t.teardown(() => w.close());
  await until(() => log.includes("abort half-prepared"));
  t.same(log, ["abort half-prepared"]);
  await t.rejects(
    Participant.open({ runtime: rt, logDir: dir(), mailbox: "w2", resourceManager: { prepare: () => "commit", commit() {}, abort() {}, recover: () => [1] as never } }),
    { message: /recover/ },
  );
});

t.test("nodes whose logs write in the thread pool (inlineWrites: false) commit the same way, and recover", async (t) => {
  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const a = rm(() => "commit");
  const logs = { a: dir(), c: dir() };
  const wa = await Participant.open({ runtime: rt, logDir: logs.a, mailbox: "a", resourceManager: a, inlineWrites: false });
  const c = await Coordinator.open({ runtime: rt, logDir: logs.c, mailbox: "c", inlineWrites: false });
  const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => c.transact({ participants: [wa.address], txId: `p${i}` })));
  t.ok(outcomes.every((o) => o.committed), "20 transactions in flight commit");
  await until(() => a.log.filter((l) => l.startsWith("commit")).length === 20);
  await c.close();
  await wa.close();
  const { readLog } = await import("@zmbox/log");
  const records = (await readLog<{ type: string; txId: string }>(logs.c)).records;
  t.ok(records.filter((r) => r.type === "COORD-COMMIT").length === 20, "every decision is in the coordinator's log");
});

t.test("bad input is a clear error; close rejects what waits", async (t) => {
  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const c = await Coordinator.open({ runtime: rt, logDir: dir(), mailbox: "c" });
  await t.rejects(c.transact({ participants: ["not an address"] }), InvalidAddressError);
  await t.rejects(c.transact({ participants: [] }), { code: "ERR_INVALID_PARTICIPANTS" });
  await t.rejects(c.transact({ participants: [c.address] }), { code: "ERR_INVALID_PARTICIPANTS" });
  await t.rejects(c.transact(null as never), { code: "ERR_INVALID_ARGUMENT" });
  await t.rejects(Participant.open({ runtime: rt, logDir: dir(), mailbox: "p", resourceManager: {} as never }), { message: /resourceManager/ });
  await t.rejects(Coordinator.open({ runtime: {} as never, logDir: dir(), mailbox: "x" }), { message: /runtime/ });
  await t.rejects(Coordinator.open({ runtime: rt, logDir: "", mailbox: "x" }), { message: /logDir/ });
  await t.rejects(Coordinator.open({ runtime: rt, logDir: dir(), mailbox: "x", inlineWrites: "yes" as never }), {
    code: "ERR_INVALID_ARGUMENT",
    message: /`inlineWrites` to be a boolean, got `yes`/,
  });
  const other = rt.mailbox("nobody");
  // A transaction id already in flight is refused; the first call still settles.
  const first = c.transact({ participants: [other.address], txId: "same", timeout: 100 });
  await t.rejects(c.transact({ participants: [other.address], txId: "same" }), { code: "ERR_TX_ID_IN_USE" });
  t.same((await first).reason, "vote-timeout");
  // A log that recovery refuses: a clear error, and the mailbox name is free again.
  const bad = dir();
  const { writeFileSync } = await import("node:fs");
  const { encodeLogFile } = await import("@zmbox/log");
  writeFileSync(join(bad, "twopc.log"), encodeLogFile([{ type: "COORD-START", txId: 7 }]));
  await t.rejects(Coordinator.open({ runtime: rt, logDir: bad, mailbox: "recovering" }), { code: "ERR_INVALID_LOG" });
  const again = await Coordinator.open({ runtime: rt, logDir: dir(), mailbox: "recovering" });
  await again.close();
  const waiting = t.rejects(c.transact({ participants: [other.address], timeout: 60_000 }), NodeClosedError);
  await c.close();
  await waiting;
  await t.rejects(c.transact({ participants: [other.address] }), NodeClosedError);
});

t.test("2PC on the runtime: a participant whose log is corrupt refuses to open, and presumes nothing", async (t) => {
  const { readFile, writeFile } = await import("node:fs/promises");
  const { FILE_HEADER_BYTES, FRAME_HEADER_BYTES, LOG_FILE_NAME, LogCorruptError } = await import("@zmbox/log");
  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const logDir = dir();
  // The participant voted commit on two transactions and stopped before any decision came.
  const first = rm(() => "commit");
  const p = await Participant.open({ runtime: rt, logDir, mailbox: "bank-a", resourceManager: first });
  const coordinator = rt.mailbox("silent-coordinator");
  for (const txId of ["t1", "t2"]) {
    await rt.send({ type: "VOTE-REQ", txId, from: coordinator.address, participants: [p.address] }, p.address);
  }
  await until(() => p.inDoubt().length === 2);
  await p.close();
  // One bit flips inside the first record (its WORKER-READY for t1).
  const path = join(logDir, LOG_FILE_NAME);
  const data = await readFile(path);
  data[FILE_HEADER_BYTES + FRAME_HEADER_BYTES + 4]! ^= 0x10;
  await writeFile(path, data);
  const second = rm(() => "commit");
  second.recover = () => ["t1", "t2"];
  const error = await Participant.open({ runtime: rt, logDir, mailbox: "bank-a", resourceManager: second }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(error, LogCorruptError, "a typed error, not a silent cut");
  t.match(error, { code: "ERR_LOG_CORRUPT", path, offset: FILE_HEADER_BYTES, validAfter: 1 });
  t.same(second.log, [], "the resource manager was told nothing: no presumed abort of a promised transaction");
  t.ok(rt.mailbox("bank-a"), "the mailbox name is free again");
});

/** A participant that voted commit on t1 and t2 and stopped before any decision; then a bit of its first record flipped. */
async function damagedParticipant(rt: Runtime, coordinator: string): Promise<{ logDir: string }> {
  const { readFile, writeFile } = await import("node:fs/promises");
  const { FILE_HEADER_BYTES, FRAME_HEADER_BYTES, LOG_FILE_NAME } = await import("@zmbox/log");
  const logDir = dir();
  const p = await Participant.open({ runtime: rt, logDir, mailbox: "bank-s", resourceManager: rm(() => "commit") });
  for (const txId of ["t1", "t2"]) await rt.send({ type: "VOTE-REQ", txId, from: coordinator, participants: [p.address] }, p.address);
  await until(() => p.inDoubt().length === 2);
  await p.close();
  const path = join(logDir, LOG_FILE_NAME);
  const data = await readFile(path);
  data[FILE_HEADER_BYTES + FRAME_HEADER_BYTES + 4]! ^= 0x10;
  await writeFile(path, data);
  return { logDir };
}

t.test("2PC on the runtime: a salvaged participant holds what the cut may have promised in doubt, asks its coordinator, and obeys", async (t) => {
  const { readLog } = await import("@zmbox/log");
  const { existsSync } = await import("node:fs");
  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const coordinator = rt.mailbox("salvage-coordinator");
  const { logDir } = await damagedParticipant(rt, coordinator.address);
  const second = rm(() => "commit");
  await t.rejects(Participant.open({ runtime: rt, logDir, mailbox: "bank-s", resourceManager: second, salvage: true }), {
    code: "ERR_INVALID_ARGUMENT",
    message: /resourceManager.recover/,
  }, "a salvage without knowing what is prepared would have to guess");
  second.recover = () => ["t1", "t2"];
  const p = await Participant.open({ runtime: rt, logDir, mailbox: "bank-s", resourceManager: second, salvage: true, coordinator: coordinator.address });
  t.teardown(() => p.close());
  t.same(second.log, [], "nothing presumed: no abort of a transaction it may have voted commit on");
  t.same(p.inDoubt().map((tx) => [tx.txId, tx.lost, tx.coordinator]), [["t1", true, coordinator.address], ["t2", true, coordinator.address]]);
  const asked = new Set<unknown>();
  while (asked.size < 2) {
    const question = (await coordinator.receive()) as { type: string; txId: string };
    t.equal(question.type, "DECISION-REQ");
    asked.add(question.txId);
  }
  const onDisk = (await readLog(logDir)).records as Array<{ type: string; txId: string }>;
  t.same(onDisk.map((r) => `${r.type} ${r.txId}`), ["WORKER-IN-DOUBT t1", "WORKER-IN-DOUBT t2"], "held in doubt durably, before starting");
  t.notOk(existsSync(join(logDir, "salvage-in-progress")), "the salvage finished");
  await rt.send({ type: "DECISION", txId: "t1", from: coordinator.address, decision: "commit" }, p.address);
  await rt.send({ type: "DECISION", txId: "t2", from: coordinator.address, decision: "abort" }, p.address);
  await until(() => second.log.length === 2);
  t.same(second.log.sort(), ["abort t2", "commit t1"], "each outcome is the coordinator's");
  t.same(p.inDoubt(), []);
});

t.test("2PC on the runtime: a salvage interrupted before its in-doubt records were durable is finished on the next open", async (t) => {
  const { writeFileSync } = await import("node:fs");
  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  // The cut is done (here: a log that never knew t9) but the marker says its records are not all durable.
  const logDir = dir();
  const first = await Participant.open({ runtime: rt, logDir, mailbox: "bank-m", resourceManager: rm(() => "commit") });
  await first.close();
  writeFileSync(join(logDir, "salvage-in-progress"), "");
  const bank = rm(() => "commit");
  bank.recover = () => ["t9"];
  const p = await Participant.open({ runtime: rt, logDir, mailbox: "bank-m", resourceManager: bank });
  t.teardown(() => p.close());
  t.same(p.inDoubt().map((tx) => [tx.txId, tx.lost]), [["t9", true]], "held in doubt, not presumed aborted");
  t.same(bank.log, []);
});

t.test("2PC on the runtime: a caller's own transaction id runs once, across a coordinator restart; outcome() answers for it", async (t) => {
  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const bank = rm(() => "commit");
  const p = await Participant.open({ runtime: rt, logDir: dir(), mailbox: "bank-b", resourceManager: bank });
  t.teardown(() => p.close());
  const logDir = dir();
  const first = await Coordinator.open({ runtime: rt, logDir, mailbox: "coordinator-own" });
  t.equal(await first.outcome("transfer-1"), undefined, "an id never used: safe to start");
  const done = await first.transact({ txId: "transfer-1", participants: [p.address], payload: 1 });
  t.equal(done.committed, true);
  await t.rejects(first.transact({ txId: "transfer-1", participants: [p.address] }), {
    code: "ERR_TX_ID_IN_USE",
    outcome: { committed: true },
    message: /was used on this coordinator already \(it committed/,
  });
  t.match(await first.outcome("transfer-1"), { txId: "transfer-1", committed: true });
  t.match(first.stats().outcomes, { "committed:all-voted-commit": 1 });
  await first.close();

  // A restart on the same log: the id is still known, and refused.
  const second = await Coordinator.open({ runtime: rt, logDir, mailbox: "coordinator-own" });
  t.teardown(() => second.close());
  await t.rejects(second.transact({ txId: "transfer-1", participants: [p.address] }), { code: "ERR_TX_ID_IN_USE", outcome: { committed: true } });
  t.match(await second.outcome("transfer-1"), { committed: true });
  t.equal(bank.log.filter((l) => l === "prepare transfer-1").length, 1, "the participant prepared it once");
  const generated = await second.transact({ participants: [p.address] });
  t.equal(generated.committed, true, "ids the coordinator makes up still run");
  await t.rejects(second.outcome(""), { code: "ERR_INVALID_ARGUMENT" });
  await t.rejects(Coordinator.open({ runtime: rt, logDir: dir(), mailbox: "c3", rememberFor: -1 }), { message: /`rememberFor`/ });
});

/** A directory on a tmpfs of `size` (a small disk that fills up), or why there cannot be one. */
function smallDisk(size: string): string | Error {
  const disk = dir();
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", disk], { stdio: "pipe" });
    return disk;
  } catch (error) {
    return new Error(`needs root to mount a small tmpfs as a full disk (${(error as Error).message.split("\n")[0]})`);
  }
}
const fullDisk = smallDisk("64k");

t.test("2PC on the runtime: a participant whose disk is full fails loudly, and after space is freed recovers with nothing half-done", { skip: fullDisk instanceof Error ? fullDisk.message : false }, async (t) => {
  const disk = fullDisk as string;
  t.teardown(() => execFileSync("umount", ["-l", disk]));
  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const coordinator = await Coordinator.open({ runtime: rt, logDir: dir(), mailbox: "coordinator-full", voteTimeout: 500 });
  t.teardown(() => coordinator.close());
  const bank = rm(() => "commit");
  const failures: Error[] = [];
  const logDir = join(disk, "bank");
  const p = await Participant.open({ runtime: rt, logDir, mailbox: "bank-full", resourceManager: bank, onFailed: (e) => failures.push(e) });
  // The first forced write needs the log's first 1 MiB of space: the disk has 64 KiB.
  const outcome = await coordinator.transact({ participants: [p.address], txId: "t-full" });
  t.match(outcome, { committed: false, reason: "vote-timeout" }, "the participant never voted: its READY could not be made durable");
  const closedWith = await p.closed;
  t.type(closedWith, NodeFailedError, "closed resolves with the failure");
  t.match((closedWith as Error & { cause?: { cause?: { code?: string } } }).cause?.cause, { code: "ENOSPC" }, "the cause is the disk being full");
  t.equal(failures.length, 1, "onFailed was called once");
  t.equal(failures[0], closedWith);
  t.equal(p.stopped, closedWith);
  t.same(bank.log, ["prepare t-full"], "the resource manager prepared, and was told nothing more");

  // Space is freed; the node restarts on the same log, with what its resource manager holds.
  execFileSync("mount", ["-o", "remount,size=4m", disk]);
  const again = rm(() => "commit");
  again.recover = () => ["t-full"];
  const restarted = await Participant.open({ runtime: rt, logDir, mailbox: "bank-full", resourceManager: again });
  t.teardown(() => restarted.close());
  await until(() => again.log.includes("abort t-full"));
  t.same(again.log, ["abort t-full"], "the unpromised transaction is rolled back: it never voted commit");
  const next = await coordinator.transact({ participants: [restarted.address], txId: "t-after" });
  t.equal(next.committed, true, "and the node commits again");
  t.equal(await Promise.race([restarted.closed.then(() => "settled"), Promise.resolve("running")]), "running", "closed is still pending while the node runs");
});

t.test("2PC on the runtime: a resource manager that says why it votes abort: the outcome carries the reason", async (t) => {
  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const poor: ResourceManager = { prepare: () => ({ vote: "abort", reason: "insufficient-funds" }), commit: () => {}, abort: () => {} };
  const rich = rm(() => "commit");
  const a = await Participant.open({ runtime: rt, logDir: dir(), mailbox: "poor", resourceManager: poor });
  const b = await Participant.open({ runtime: rt, logDir: dir(), mailbox: "rich", resourceManager: rich });
  const c = await Coordinator.open({ runtime: rt, logDir: dir(), mailbox: "coordinator-why" });
  t.teardown(async () => {
    await c.close();
    await a.close();
    await b.close();
  });
  const outcome = await c.transact({ participants: [a.address, b.address] });
  t.match(outcome, { committed: false, reason: "voted-abort", by: a.address, detail: "insufficient-funds" });
  await until(() => rich.log.some((l) => l.startsWith("abort")));
  const plain = await Coordinator.open({ runtime: rt, logDir: dir(), mailbox: "coordinator-plain" });
  t.teardown(() => plain.close());
  const no = rm(() => "abort");
  const d = await Participant.open({ runtime: rt, logDir: dir(), mailbox: "plain-no", resourceManager: no });
  t.teardown(() => d.close());
  const bare = await plain.transact({ participants: [d.address] });
  t.equal(bare.detail, undefined, "a plain \"abort\" vote gives no detail");
});
