// Acknowledged receive by remote receivers (PROTOCOL.md 6.8): the owner's side on a virtual
// clock, then whole runtimes talking over tcp, then raw peers that try what a receiver must not.
import t from "tap";
import { Delivery, Runtime } from "../src/index.js";
import type { AckSettings, StoredMessage } from "../src/mailbox.js";
import { RemoteWindow } from "../src/remote-window.js";
import { eventually, RawClient, sleep, starter } from "../../../test/support/index.js";
import { PROTOCOL_VERSION as V } from "../src/wire.js";
import { virtualMailbox } from "./virtual-mailbox.js";

const start = starter(Runtime);

/** A mailbox on a virtual clock with one remote window on it; `deliveries` records what the window was handed. */
function windowSetup(ack?: AckSettings) {
  const { clock, mb, ch, put, letters } = virtualMailbox(ack);
  const deliveries: { id: number; message: StoredMessage }[] = [];
  let ids = 0;
  const w = new RemoteWindow("peer\njobs", Buffer.from("peer"), mb, 0, 1, () => ++ids, (_w, id, message) => deliveries.push({ id, message }));
  return { clock, mb, ch, put, w, deliveries, letters };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test("owner side, on a virtual clock", async (t) => {
  t.test("a delivery leased by a manual receive stays in the mailbox until the ack", async (t) => {
    const { mb, ch, put, w, deliveries } = windowSetup();
    put("a");
    w.pull(1, 1, true, 0, [], 0);
    t.equal(deliveries.length, 1);
    w.lease([deliveries[0]!.id], 1000, 0);
    t.equal(mb.depth, 1, "leased: still counted");
    t.equal(mb.stats().leased, 1);
    t.equal(mb.stats().inFlightRemote, 0, "no longer in flight");
    t.equal(ch.taken, 0, "not taken before the ack");
    w.settle("ack", [deliveries[0]!.id], 0, 0);
    t.equal(mb.depth, 0);
    t.equal(ch.taken, 1, "taken on the ack");
    t.equal(w.leases.size, 0);
  });

  t.test("a lease that runs out gives the message again with attempt + 1, and the late ack does nothing", async (t) => {
    const { clock, mb, ch, put, w, deliveries } = windowSetup();
    put("a");
    w.pull(1, 1, true, 0, [], 0);
    const first = deliveries[0]!;
    t.equal(first.message.attempts, 0, "delivered, not yet taken: no attempt counted");
    w.lease([first.id], 1000, 0);
    t.equal(first.message.attempts, 1);
    clock.advance(999);
    t.equal(deliveries.length, 1, "not before the lease runs out");
    clock.advance(1);
    t.equal(deliveries.length, 2, "given again (to the same window, which has room)");
    t.equal(deliveries[1]!.message, first.message, "the same message");
    t.not(deliveries[1]!.id, first.id, "under a new delivery id");
    w.settle("ack", [first.id], 0, 0);
    t.equal(ch.taken, 0, "the ack of the lease that ran out is ignored");
    t.equal(mb.depth, 1);
    w.lease([deliveries[1]!.id], 1000, 0);
    t.equal(first.message.attempts, 2);
    t.equal(mb.stats().redelivered, 1);
  });

  t.test("lease again (extend) moves the due time from now", async (t) => {
    const { clock, put, w, deliveries } = windowSetup();
    put("a");
    w.pull(1, 1, true, 0, [], 0);
    w.lease([deliveries[0]!.id], 1000, 0);
    clock.advance(800);
    w.lease([deliveries[0]!.id], 1000, 800);
    clock.advance(900);
    t.equal(deliveries.length, 1, "extended: not given again at 1000");
    clock.advance(100);
    t.equal(deliveries.length, 2, "given again at 1800");
  });

  t.test("a nack with a delay gives the message again after the delay", async (t) => {
    const { clock, mb, put, w, deliveries } = windowSetup();
    put("a");
    w.pull(1, 1, true, 0, [], 0);
    w.lease([deliveries[0]!.id], 0, 0);
    w.settle("nack", [deliveries[0]!.id], 500, 0);
    t.equal(mb.depth, 1, "still counted while it waits");
    clock.advance(499);
    t.equal(deliveries.length, 1);
    clock.advance(1);
    t.equal(deliveries.length, 2);
  });

  t.test("a lease of 0 ms never runs out; the window's expiry gives the message back", async (t) => {
    const { clock, put, w, deliveries } = windowSetup();
    put("a");
    w.pull(1, 1, true, 0, [], 0);
    w.lease([deliveries[0]!.id], 0, 0);
    clock.advance(10_000_000);
    t.equal(deliveries.length, 1);
    w.expire();
    t.equal(deliveries[0]!.message.attempts, 1);
    t.equal(w.leases.size, 0);
  });

  t.test("a new epoch takes back what is in flight, not what is leased", async (t) => {
    const { mb, put, w, deliveries } = windowSetup();
    put("a");
    put("b");
    w.pull(2, 1, true, 0, [], 0);
    w.lease([deliveries[0]!.id], 1000, 0);
    w.pull(1, 2, true, 0, [], 0);
    t.equal(mb.stats().leased, 1, "the lease holds");
    t.equal(deliveries.length, 3, "the other came back, and was handed out again in the new epoch");
    t.equal(deliveries[2]!.message, deliveries[1]!.message);
    t.equal(mb.depth, 2);
  });

  t.test("the last attempt's lease running out sends the message to the dead-letter mailbox", async (t) => {
    const { clock, mb, put, w, deliveries, letters } = windowSetup({ maxAttempts: 2, deadLetter: "dead@inproc://test" });
    put({ job: 1 });
    w.pull(1, 1, true, 0, [], 0);
    w.lease([deliveries[0]!.id], 100, 0);
    clock.advance(100);
    w.lease([deliveries[1]!.id], 100, 100);
    clock.advance(100);
    await settle();
    t.equal(letters.length, 1);
    t.same(letters[0]?.record, { reason: "max-attempts", attempts: 2, mailbox: "jobs@inproc://test", id: "r1.jobs.0", value: { job: 1 } });
    t.equal(mb.depth, 0);
    t.equal(deliveries.length, 2, "not given a third time");
  });

  t.test("ids the window never delivered, or already settled, are ignored", async (t) => {
    const { mb, ch, put, w, deliveries } = windowSetup();
    put("a");
    w.pull(1, 1, true, 0, [], 0);
    w.settle("ack", [deliveries[0]!.id], 0, 0);
    t.equal(ch.taken, 0, "an ack of a delivery not leased yet does nothing");
    w.lease([99], 1000, 0);
    w.settle("ack", [99], 0, 0);
    t.equal(mb.stats().leased, 0);
    t.equal(mb.depth, 1);
  });
});

t.test("remote receivers, over tcp", async (t) => {
  t.test("a remote manual receive gets a Delivery; ack takes the message out", async (t) => {
    const owner = await start(t, "tcp");
    const mb = owner.mailbox("jobs");
    const receiver = await start(t, "tcp");
    await owner.send({ job: 1 }, mb);
    const d = await receiver.receive(mb.address, { ack: "manual", lease: 30_000, timeout: 5000 });
    t.ok(d instanceof Delivery);
    t.same([d.value, d.attempt, d.redelivered, d.settled], [{ job: 1 }, 1, false, false]);
    t.match(d.id, /\.jobs\.0$/);
    await eventually(() => mb.stats().leased === 1, 5000, "leased at the owner");
    t.equal(mb.depth, 1, "still in the mailbox");
    t.equal(d.ack(), true);
    t.equal(d.ack(), false, "a second ack");
    await eventually(() => mb.depth === 0, 5000, "acked at the owner");
  });

  t.test("a nacked delivery comes again with attempt + 1 and the same id", async (t) => {
    const owner = await start(t, "tcp");
    const mb = owner.mailbox("jobs");
    const receiver = await start(t, "tcp");
    await owner.send("a", mb);
    const d1 = await receiver.receive(mb.address, { ack: "manual", timeout: 5000 });
    t.equal(d1.nack(), true);
    const d2 = await receiver.receive(mb.address, { ack: "manual", timeout: 5000 });
    t.same([d2.value, d2.attempt, d2.redelivered, d2.id], ["a", 2, true, d1.id]);
    d2.ack();
    await eventually(() => mb.depth === 0);
    t.equal(mb.stats().redelivered, 1);
  });

  t.test("a lease that runs out gives the message to another receiver, and extend keeps it", async (t) => {
    const owner = await start(t, "tcp");
    const mb = owner.mailbox("jobs");
    const a = await start(t, "tcp");
    const b = await start(t, "tcp");
    await owner.send("slow", mb);
    const d1 = await a.receive(mb.address, { ack: "manual", lease: 300, timeout: 5000 });
    t.equal(d1.extend(60_000), true);
    await eventually(() => mb.stats().leased === 1);
    await sleep(600);
    t.equal(d1.settled, false, "extended: still ours");
    t.equal(d1.extend(200), true);
    const d2 = await b.receive(mb.address, { ack: "manual", lease: 30_000, timeout: 10_000 });
    t.same([d2.value, d2.attempt, d2.id], ["slow", 2, d1.id]);
    t.equal(d1.settled, true, "the first lease ran out");
    t.equal(d1.ack(), false, "and cannot be acked any more");
    d2.ack();
    await eventually(() => mb.depth === 0);
  });

  t.test("for await over remote deliveries; breaking the loop nacks the open one", async (t) => {
    const owner = await start(t, "tcp");
    const mb = owner.mailbox("jobs");
    const receiver = await start(t, "tcp");
    for (let i = 0; i < 5; i++) await owner.send(i, mb);
    const got: number[] = [];
    for await (const d of receiver.deliveries(mb.address, { lease: 30_000 })) {
      if (got.length === 3) break;
      got.push(d.value as number);
      d.ack();
    }
    t.same(got, [0, 1, 2]);
    // The fourth was nacked by the break: it is given again (attempt 2), the fifth for the first time.
    const rest: [unknown, number][] = [];
    for (let i = 0; i < 2; i++) {
      const d = await receiver.receive(mb.address, { ack: "manual", timeout: 5000 });
      rest.push([d.value, d.attempt]);
      d.ack();
    }
    t.same(rest.sort(), [[3, 2], [4, 1]]);
    await eventually(() => mb.depth === 0);
  });

  t.test("a poison message reaches the dead-letter mailbox after maxAttempts", async (t) => {
    const owner = await start(t, "tcp");
    const dead = owner.mailbox("dead");
    const mb = owner.mailbox("jobs", { maxAttempts: 3, deadLetter: "dead" });
    const receiver = await start(t, "tcp");
    await owner.send({ poison: true }, mb);
    let id = "";
    for (let i = 1; i <= 3; i++) {
      const d = await receiver.receive(mb.address, { ack: "manual", timeout: 5000 });
      t.equal(d.attempt, i);
      id = d.id;
      d.nack();
    }
    t.same(await dead.receive({ timeout: 5000 }), { reason: "max-attempts", attempts: 3, mailbox: mb.address, id, value: { poison: true } });
    await eventually(() => mb.depth === 0 && owner.stats().mailboxes.jobs!.deadLettered === 1);
  });

  t.test("closing the receiver's runtime gives its open deliveries back at once", async (t) => {
    const owner = await start(t, "tcp");
    const mb = owner.mailbox("jobs");
    const a = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
    const b = await start(t, "tcp");
    await owner.send("a", mb);
    const d = await a.receive(mb.address, { ack: "manual", lease: 600_000, timeout: 5000 });
    await eventually(() => mb.stats().leased === 1);
    await a.close();
    t.equal(d.settled, true);
    const d2 = await b.receive(mb.address, { ack: "manual", timeout: 5000 });
    t.same([d2.value, d2.attempt], ["a", 2]);
    d2.ack();
  });

  t.test("a receiver busy with a long job keeps its lease: the keep-alive runs while it holds a delivery", async (t) => {
    const owner = await start(t, "tcp", { receiverTimeout: 400 });
    const mb = owner.mailbox("jobs");
    const receiver = await start(t, "tcp", { probeInterval: 100 });
    await owner.send("long", mb);
    const d = await receiver.receive(mb.address, { ack: "manual", lease: 600_000, timeout: 5000 });
    await sleep(1500);
    t.equal(mb.stats().leased, 1, "still leased after several receiverTimeouts without a receive");
    t.equal(mb.stats().redelivered, 0);
    t.equal(d.ack(), true);
    await eventually(() => mb.depth === 0);
  });
});

t.test("raw peers", async (t) => {
  /** A raw receiver that pulled one message and took it with a lease. */
  async function leasedByRaw(owner: Runtime, mailbox: string, routingId: string) {
    const c = new RawClient(owner.endpoint, routingId);
    t.teardown(() => c.close());
    await c.send([V, "pull", mailbox, 1, 1, "", 0, []]);
    await eventually(() => c.last("deliver") !== undefined, 5000, "a delivery");
    const deliver = c.last("deliver")!;
    const [, , , rid, , id, , attempt, mid] = deliver;
    await c.send([V, "lease", mailbox, rid, [id], 60_000]);
    return { c, rid: rid as string, id: id as number, attempt: attempt as number, mid: mid as string };
  }

  t.test("a peer cannot ack or nack another receiver's delivery", async (t) => {
    const owner = await start(t, "tcp");
    const mb = owner.mailbox("jobs");
    await owner.send("a", mb);
    const { rid, id, attempt, mid } = await leasedByRaw(owner, "jobs", "victim");
    t.equal(attempt, 1);
    t.match(mid, /\.jobs\.0$/);
    await eventually(() => mb.stats().leased === 1);
    const thief = new RawClient(owner.endpoint, "thief");
    t.teardown(() => thief.close());
    await thief.send([V, "pull", "jobs", 1, 1, rid, 0, []]);
    await thief.send([V, "settle", "jobs", rid, "ack", [id]]);
    await thief.send([V, "settle", "jobs", rid, "nack", [id], 0]);
    await thief.send([V, "lease", "jobs", rid, [id], 1]);
    await sleep(300);
    t.equal(mb.stats().leased, 1, "still leased to the victim");
    t.equal(mb.depth, 1);
    t.equal(thief.last("deliver"), undefined, "nothing handed to the thief");
  });

  t.test("a receiver silent for receiverTimeout loses its leases: the message comes again with attempt + 1", async (t) => {
    const owner = await start(t, "tcp", { receiverTimeout: 300 });
    const mb = owner.mailbox("jobs");
    await owner.send("a", mb);
    const { mid } = await leasedByRaw(owner, "jobs", "silent");
    const receiver = await start(t, "tcp");
    const d = await receiver.receive(mb.address, { ack: "manual", timeout: 10_000 });
    t.same([d.value, d.attempt, d.id], ["a", 2, mid]);
    d.ack();
  });

  t.test("malformed lease and settle frames are refused", async (t) => {
    const owner = await start(t, "tcp");
    owner.mailbox("jobs");
    const c = new RawClient(owner.endpoint, "bad");
    t.teardown(() => c.close());
    await c.send([V, "settle", "jobs", "r", "maybe", [1]]);
    await c.send([V, "lease", "jobs", "r", [1]]);
    await c.send([V, "settle", "jobs", "r", "nack", [1], -1]);
    await eventually(() => (owner.stats().refused.fields ?? 0) >= 3);
    t.equal(owner.stats().refused.fields, 3);
  });
});
