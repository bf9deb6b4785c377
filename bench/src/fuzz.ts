/**
 * `pnpm fuzz`: hostile input at scale against live runtimes.
 *
 * 1. Mailbox: `--peers` raw ZeroMQ peers send `--frames` random and mutated frames (all kinds,
 *    every field, cut, grown, random bytes; remote receive only at a decoy mailbox) to a runtime, beside `--idle` connections that
 *    connect (half of them say one hello) and then stay silent, while a well-behaved runtime
 *    sends numbered `until: "stored"` messages into the same mailbox. Checks: no crash, every
 *    good message arrives exactly once and in order, the runtime still serves; reports RSS.
 * 2. 2PC: the same raw frames, plus well-formed messages of random MessagePack values sent by a
 *    real runtime, at a coordinator and two participants while transactions run (one in five
 *    voted down by a participant). Checks: every outcome is what the votes decide, and each
 *    participant committed exactly the transactions the coordinator committed.
 *
 * Prints a JSON summary; exits 1 if a check failed.
 *
 *   pnpm fuzz [--frames 100000] [--peers 8] [--idle 1000] [--transactions 200] [--seed 1]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Packr } from "msgpackr";
import * as zmq from "zeromq";
import { Runtime } from "@zmbox/mailbox";
import { Coordinator, Participant, type ResourceManager } from "@zmbox/twopc";

const V = 2;
const packr = new Packr({ useRecords: false, variableMapSize: true });

/** The seeded generator of the tests (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const USAGE = "usage: pnpm fuzz [--frames 100000] [--peers 8] [--idle 1000] [--transactions 200] [--seed 1]";
let parsed: ReturnType<typeof parseFlags>;
try {
  parsed = parseFlags();
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
const { values: args } = parsed;
function parseFlags() {
  return parseArgs({
    options: {
      frames: { type: "string", default: "100000" },
      peers: { type: "string", default: "8" },
      idle: { type: "string", default: "1000" },
      transactions: { type: "string", default: "200" },
      seed: { type: "string", default: "1" },
      // Internal: this process is the fuzzing peers of a run (see `attack`).
      attack: { type: "string" },
    },
  });
}
const count = (name: keyof typeof args, min: number): number => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min) {
    process.stderr.write(`Expected \`--${name}\` to be an integer from ${min} up, got \`${String(args[name])}\`\n`);
    process.exit(2);
  }
  return v;
};
const FRAMES = count("frames", 0);
const PEERS = count("peers", 1);
const IDLE = count("idle", 0);
const TRANSACTIONS = count("transactions", 1);
const random = rng(count("seed", 0));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
const int = (n: number): number => Math.floor(random() * n);
const context = new zmq.Context({ maxSockets: IDLE + 4 * PEERS + 256 });

/** A random MessagePack-able value, nested a few levels, with the field names 2PC messages use. */
function junk(depth = 0): unknown {
  const keys = ["type", "kind", "txId", "tx", "vote", "decision", "commit", "from", "by", "participants", "payload", "reply", "id"];
  switch (int(depth > 2 ? 5 : 8)) {
    case 0: return int(1000);
    case 1: return pick(["commit", "abort", "VOTE", "GLOBAL-COMMIT", "GLOBAL-ABORT", "prepare", "", "x".repeat(int(300))]);
    case 2: return pick([true, false, null, -1, 2 ** 53, 1.5]);
    case 3: return `${int(99)}-${int(9)}`;
    case 4: return Buffer.from(Array.from({ length: int(20) }, () => int(256)));
    case 5: return Array.from({ length: int(5) }, () => junk(depth + 1));
    default: return Object.fromEntries(Array.from({ length: 1 + int(5) }, () => [pick(keys), junk(depth + 1)]));
  }
}

/** Frames of every kind aimed at `mailboxes`, as a peer could send them, before mutation. */
function template(mailboxes: readonly string[]): Buffer[] {
  const mb = pick(mailboxes);
  const body = packr.pack(junk());
  switch (int(8)) {
    case 0: return [packr.pack([V, "hello", mb, 1 + int(50), pick([0, 1, 100, 2 ** 31]), random() < 0.5])];
    case 1: return [packr.pack([V, "data", mb, 1 + int(50), int(4), [body.length], int(100)]), body];
    // Remote receive only at the decoy: a peer allowed to receive from a mailbox may take its
    // messages (who may is a matter for access control, not for fuzzing).
    case 2: return [packr.pack([V, "pull", "decoy", int(20), int(3), "r", int(10), [int(5)]])];
    case 3: return [packr.pack([V, pick(["taken", "release"]), "decoy", "r", [int(10), int(10)]])];
    case 4: return [packr.pack([V, pick(["ack", "nak", "deliver"]), mb, "r", int(9), int(9), int(9), true])];
    case 5: return [packr.pack([V, "hello", "m".repeat(1 + int(400)), 1, 1])];
    case 6: return [Buffer.from(Array.from({ length: int(64) }, () => int(256)))];
    default: return [Buffer.concat([Buffer.alloc(int(200), pick([0x91, 0x81, 0xdc, 0xdd, 0xc1])), Buffer.from([0])])];
  }
}

function mutate(frames: Buffer[]): Buffer[] {
  const out = frames.map((f) => Buffer.from(f));
  switch (int(6)) {
    case 0: {
      const f = pick(out);
      for (let i = 0; i < 1 + int(4) && f.length > 0; i++) f[int(f.length)] = int(256);
      return out;
    }
    case 1: return out.map((f) => f.subarray(0, int(f.length + 1)));
    case 2: return [...out, Buffer.from([int(256)])];
    case 3: return out.slice(0, Math.max(1, out.length - 1));
    case 4: return [...out, ...out];
    default: return out;
  }
}

/** `peers` raw Dealers sending `frames` frames in all to `endpoints`, each with a routing id of its own. */
async function fuzz(endpoints: readonly string[], mailboxes: readonly string[], frames: number, peers: number): Promise<number> {
  const dealers = Array.from({ length: peers }, (_, i) => {
    const d = new zmq.Dealer({ context, routingId: `fuzz-${i}-${int(1e9)}`, linger: 0, sendTimeout: 0, receiveHighWaterMark: 100 });
    for (const e of endpoints) d.connect(e);
    // Read and drop what comes back, so that the owners' sends are not held up on us.
    void (async () => {
      try {
        for await (const _ of d) void _;
      } catch {
        // closed
      }
    })();
    return d;
  });
  let sent = 0;
  await Promise.all(
    dealers.map(async (d) => {
      // A frame ZeroMQ would not take at once (its queue full) is tried again, so that `frames`
      // really leave; a peer that nothing takes from for a second gives up.
      let failures = 0;
      for (let i = 0; i < Math.ceil(frames / peers) && failures < 1000; ) {
        const raw = template(mailboxes);
        const ok = await d.send(random() < 0.25 ? raw : mutate(raw)).then(() => true, () => false);
        if (ok) {
          sent++;
          failures = 0;
          if (++i % 100 === 0) await sleep(0);
        } else {
          failures++;
          await sleep(1);
        }
      }
    }),
  );
  for (const d of dealers) d.close();
  return sent;
}

/** `n` connections to `endpoint` that say at most one hello each, then stay silent. */
function idleConnections(endpoint: string, mailbox: string, n: number): zmq.Dealer[] {
  return Array.from({ length: n }, (_, i) => {
    const d = new zmq.Dealer({ context, linger: 0, sendTimeout: 0 });
    d.connect(endpoint);
    if (i % 2 === 0) d.send(packr.pack([V, "hello", mailbox, 1, 1, true])).catch(() => undefined);
    return d;
  });
}

function rssSampler(): { stop(): { startMiB: number; peakMiB: number; endMiB: number } } {
  const MiB = 2 ** 20;
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 200);
  return {
    stop() {
      clearInterval(timer);
      const end = process.memoryUsage.rss();
      const r = (b: number): number => Math.round((b / MiB) * 10) / 10;
      return { startMiB: r(start), peakMiB: r(Math.max(peak, end)), endMiB: r(end) };
    },
  };
}

const failures: string[] = [];
const check = (ok: boolean, what: string): void => {
  if (!ok) failures.push(what);
};

async function mailboxPhase(): Promise<Record<string, unknown>> {
  const owner = await Runtime.start({ creditLease: 1000, receiverTimeout: 1000 });
  const mb = owner.mailbox("fuzzed", { capacity: 256 });
  owner.mailbox("decoy", { capacity: 64 });
  const good = await Runtime.start();
  const rss = rssSampler();
  const got: number[] = [];
  let stop = false;
  const consumer = (async () => {
    for (;;) {
      const m = (await mb.receive({ timeout: 60_000 })) as { good?: unknown } | undefined;
      if (typeof m === "object" && m !== null && typeof m.good === "number") {
        if (m.good === -1) return;
        got.push(m.good);
      }
    }
  })();
  let sent = 0;
  const sender = (async () => {
    while (!stop) await good.send({ good: sent++ }, mb.address, { until: "stored", timeout: 60_000 });
  })();
  const started = performance.now();
  const { frames } = await attack({ endpoints: [owner.endpoint], mailboxes: ["fuzzed", "decoy", "nowhere"], frames: FRAMES, idle: IDLE, forge: [] });
  stop = true;
  await sender;
  await good.send({ good: -1 }, mb.address, { until: "stored", timeout: 60_000 });
  await consumer;
  const seconds = (performance.now() - started) / 1000;
  check(got.length === sent, `the good sender's ${sent} stored messages all arrived (got ${got.length})`);
  check(got.every((m, i) => m === i), "the good messages arrived exactly once, in order");
  await good.send("still serving", mb.address, { timeout: 10_000 });
  check((await mb.receive({ timeout: 10_000 })) === "still serving", "the runtime still serves");
  const stats = owner.stats();
  await good.close();
  await owner.close();
  return { frames, idleConnections: IDLE, peers: PEERS, seconds: Math.round(seconds * 10) / 10, goodMessages: got.length, refused: stats.refused, rssMiB: rss.stop() };
}

/** A resource manager that votes as the payload says and records what it applied. */
function recorder(name: string): ResourceManager & { committed: Set<string>; aborted: Set<string> } {
  const committed = new Set<string>();
  const aborted = new Set<string>();
  return {
    committed,
    aborted,
    prepare: (_txId, payload) => ((payload as { abortAt?: string } | undefined)?.abortAt === name ? "abort" : "commit"),
    commit: (txId) => void committed.add(String(txId)),
    abort: (txId) => void aborted.add(String(txId)),
  };
}

async function twopcPhase(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), "zmbox-fuzz-"));
  const [rc, ra, rb] = await Promise.all([Runtime.start(), Runtime.start(), Runtime.start()]);
  const rmA = recorder("a");
  const rmB = recorder("b");
  const a = await Participant.open({ runtime: ra, logDir: join(dir, "a"), mailbox: "store", resourceManager: rmA });
  const b = await Participant.open({ runtime: rb, logDir: join(dir, "b"), mailbox: "store", resourceManager: rmB });
  const coordinator = await Coordinator.open({ runtime: rc, logDir: join(dir, "c"), mailbox: "coordinator" });
  const rss = rssSampler();
  const attacking = attack({
    endpoints: [rc.endpoint, ra.endpoint, rb.endpoint], mailboxes: ["store", "coordinator"], frames: Math.ceil(FRAMES / 2), idle: 0,
    forge: [a.address, b.address, `coordinator@${rc.endpoint}`],
  });
  const outcomes: { txId: string; committed: boolean; reason: string; expected: boolean }[] = [];
  for (let i = 0; i < TRANSACTIONS; i++) {
    const abortAt = i % 5 === 4 ? "b" : undefined;
    const o = await coordinator.transact({ participants: [a.address, b.address], payload: { i, abortAt } });
    outcomes.push({ txId: String(o.txId), committed: o.committed, reason: o.reason, expected: abortAt === undefined });
  }
  const { frames, forged } = await attacking;
  // A vote that came too late on the loaded machine aborts (vote-timeout): allowed. A commit the
  // votes did not give, or an abort by a vote that was not cast, would be a forged outcome.
  const wrong = outcomes.filter((o) => (o.committed && !o.expected) || (!o.committed && o.expected && o.reason !== "vote-timeout"));
  const timedOut = outcomes.filter((o) => !o.committed && o.reason === "vote-timeout").length;
  check(wrong.length === 0, `every outcome is what the votes decide (${wrong.length} wrong: ${JSON.stringify(wrong.slice(0, 3))})`);
  const committed = new Set(outcomes.filter((o) => o.committed).map((o) => o.txId));
  // The decisions reach the participants a moment after the outcome.
  const until = performance.now() + 30_000;
  while (performance.now() < until && ![rmA, rmB].every((rm) => [...committed].every((tx) => rm.committed.has(tx)))) await sleep(50);
  for (const [name, rm] of [["a", rmA], ["b", rmB]] as const) {
    check([...committed].every((tx) => rm.committed.has(tx)), `participant ${name} committed every committed transaction`);
    check([...rm.committed].every((tx) => committed.has(tx)), `participant ${name} committed nothing else`);
  }
  await coordinator.close();
  await Promise.all([a.close(), b.close()]);
  await Promise.all([rc.close(), ra.close(), rb.close()]);
  await rm(dir, { recursive: true, force: true });
  return { frames, forgedMessages: forged, transactions: outcomes.length, committed: committed.size, voteTimeouts: timedOut, rssMiB: rss.stop() };
}

interface Attack {
  endpoints: string[];
  mailboxes: string[];
  frames: number;
  idle: number;
  /** Addresses to send well-formed messages of random values to, through a real runtime. */
  forge: string[];
}

/** Runs an attack in a process of its own (so that it does not share the targets' event loop). */
function attack(plan: Attack): Promise<{ frames: number; forged: number }> {
  const child = fork(fileURLToPath(import.meta.url), ["--attack", JSON.stringify(plan), "--seed", String(int(1e9)), "--peers", String(PEERS)], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    child.once("message", (m) => resolve(m as { frames: number; forged: number }));
    child.once("exit", (code) => reject(new Error(`the attacking process exited (${code}) without a report`)));
  });
}

/** The attacking process: idle connections, raw fuzzing peers and a forger, until the frames are sent. */
async function attacker(plan: Attack): Promise<void> {
  const idle = plan.endpoints.flatMap((e) => idleConnections(e, plan.mailboxes[0]!, Math.ceil(plan.idle / plan.endpoints.length)));
  const forger = plan.forge.length > 0 ? await Runtime.start() : undefined;
  let forged = 0;
  let done = false;
  const forging = (async () => {
    while (forger !== undefined && !done) {
      await forger.send(junk(), pick(plan.forge), { until: "queued", timeout: 10_000 }).then(() => void forged++, () => undefined);
      if (forged % 20 === 0) await sleep(1);
    }
  })();
  const frames = await fuzz(plan.endpoints, plan.mailboxes, plan.frames, PEERS);
  done = true;
  await forging;
  await forger?.close();
  for (const d of idle) d.close();
  process.send!({ frames, forged }, () => process.exit(0));
}

if (args.attack !== undefined) {
  await attacker(JSON.parse(args.attack) as Attack);
  await new Promise(() => {});
}

const mailbox = await mailboxPhase();
const twopc = await twopcPhase();
process.stdout.write(`${JSON.stringify({ ok: failures.length === 0, failures, mailbox, twopc }, null, 2)}\n`);
process.exit(failures.length === 0 ? 0 : 1);
