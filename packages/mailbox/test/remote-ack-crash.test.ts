// Manual-ack consumers in their own processes, SIGKILLed while they hold unacked deliveries:
// nothing is lost, every message is acked once in the end, and a poison message ends in the
// dead-letter mailbox after maxAttempts.
import t from "tap";
import type { ChildProcess } from "node:child_process";
import { Runtime, type DeadLetter } from "../src/index.js";
import { eventually, exited, fixtures, forkChild, nextMessage, starter, type Teardown } from "../../../test/support/index.js";

const start = starter(Runtime);
const fixture = fixtures(import.meta.url);

type Report = { ready: true } | { got: number; attempt: number; id: string } | { acked: number; attempt: number; id: string };

/** Starts a consumer process; its reports go into `log`. */
async function consumer(t: Teardown, address: string, mode: "hold" | "ack", log: Report[]): Promise<ChildProcess> {
  const child = forkChild(t, fixture("manual-consumer"), [address, mode, "4"]);
  child.on("message", (m: Report) => log.push(m));
  await nextMessage(child, (m: Report) => "ready" in m);
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  child.kill("SIGKILL");
  await exited(child);
}

t.test("consumers killed while they hold unacked deliveries: each message comes again and is acked once; the poison one is dead-lettered", async (t) => {
  // The owner takes a silent receiver's leases back after 1 s (its receivers keep alive every 200 ms).
  const owner = await start(t, "tcp", { receiverTimeout: 1000 });
  const dead = owner.mailbox("dead");
  const jobs = owner.mailbox("jobs", { capacity: 100, maxAttempts: 3, deadLetter: "dead" });
  const N = 30;
  const POISON = 7;
  for (let i = 0; i < N; i++) await owner.send(i === POISON ? { i, poison: true } : { i }, jobs);

  // A takes some and hangs on them; killed, its leases come back after receiverTimeout.
  const a: Report[] = [];
  const childA = await consumer(t, jobs.address, "hold", a);
  await eventually(() => a.filter((m) => "got" in m).length >= 3, 60_000, "A holding three");
  // Every delivery A has reported taking is leased at the owner: A reports a take as its receive
  // resolves, and its lease notice can still be on the way (then a kill loses it, and the owner,
  // never told, gives the message out again as the same attempt).
  await eventually(() => jobs.stats().leased >= Math.max(3, a.filter((m) => "got" in m).length), 10_000, "A's leases at the owner");
  const heldByA = a.flatMap((m) => ("got" in m ? [m] : []));
  await kill(childA);

  // B acks as it goes; killed mid-stream, with deliveries open.
  const b: Report[] = [];
  const childB = await consumer(t, jobs.address, "ack", b);
  await eventually(() => b.filter((m) => "acked" in m).length >= 8, 60_000, "B acked eight");
  await kill(childB);

  // C finishes.
  const c: Report[] = [];
  await consumer(t, jobs.address, "ack", c);
  const letter = (await dead.receive({ timeout: 60_000 })) as DeadLetter;
  t.match(letter, { reason: "max-attempts", attempts: 3, mailbox: jobs.address, value: { i: POISON, poison: true } });
  await eventually(() => jobs.depth === 0, 60_000, "the jobs mailbox empty");

  // Every message but the poison one was acked; the owner took each exactly once (acks and the dead letter).
  t.equal(owner.stats().mailboxes.jobs!.deadLettered, 1);
  t.equal(jobs.stats().leased, 0);
  const acked = new Set([...b, ...c].flatMap((m) => ("acked" in m ? [m.acked] : [])));
  t.notOk(acked.has(POISON), "the poison message was never acked");
  // B's last ack may have reached the owner after its report was cut off by the kill: count at the owner.
  t.equal(owner.stats().received, N + 1, "taken once each: N - 1 acks and one dead letter, and the dead letter received here");
  // B works one job at a time: the kill can cut off at most one ack report.
  t.ok(acked.size >= N - 2, `acks reported for ${acked.size} of ${N - 1}`);
  // What A held came again, with the same id and a later attempt.
  const later = [...b, ...c].flatMap((m) => ("got" in m ? [m] : []));
  for (const h of heldByA) {
    const again = later.find((m) => m.id === h.id);
    t.ok(again !== undefined && again.got === h.got && again.attempt > h.attempt, `message ${h.got}, held by A, came again with attempt ${again?.attempt}`);
  }
  const redelivered = later.filter((m) => m.attempt > 1 && m.got !== POISON);
  t.comment(`A held ${heldByA.length}; ${redelivered.length} deliveries were repeats (A's, and B's open ones)`);
});
