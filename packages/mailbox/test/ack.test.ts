import t from "tap";
import { Delivery, InvalidArgumentError, Runtime } from "../src/index.js";
import { Flag } from "../src/wire.js";
import { eventually, sleep, starter } from "../../../test/support/index.js";
import { virtualMailbox } from "./virtual-mailbox.js";

const start = starter(Runtime);

/** Lets promise callbacks run. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test("ack takes the message out for good; settling again does nothing", async (t) => {
  const { mb, ch, put } = virtualMailbox();
  put("a");
  const d = await mb.receive({ ack: "manual" });
  t.ok(d instanceof Delivery);
  t.same([d.value, d.attempt, d.redelivered], ["a", 1, false]);
  t.equal(mb.depth, 1, "a leased message is still in the mailbox");
  t.equal(mb.stats().leased, 1);
  t.equal(ch.taken, 0, "not taken before the ack");
  t.equal(d.ack(), true);
  t.equal(d.settled, true);
  t.equal(mb.depth, 0);
  t.equal(mb.stats().leased, 0);
  t.equal(ch.taken, 1, "taken on the ack");
  t.equal(d.ack(), false, "a second ack");
  t.equal(d.nack(), false, "a nack after the ack");
  t.equal(d.extend(1000), false, "an extend after the ack");
});

t.test("nack gives the message again with attempt + 1 and the same id", async (t) => {
  const { mb, put } = virtualMailbox();
  put("a");
  put("b");
  const first = await mb.receive({ ack: "manual" });
  t.equal(first.nack(), true);
  const again = await mb.receive({ ack: "manual" });
  t.same([again.value, again.attempt, again.redelivered], ["a", 2, true], "back at the front, before b");
  t.equal(again.id, first.id);
  const b = await mb.receive({ ack: "manual" });
  t.not(b.id, first.id, "another message, another id");
  t.equal(mb.stats().redelivered, 1);
  t.equal(mb.depth, 2, "both leased, both counted");
});

t.test("nack with a delay holds the message back until the delay is over", async (t) => {
  const { clock, mb, put } = virtualMailbox();
  put("a");
  (await mb.receive({ ack: "manual" })).nack({ delay: 1000 });
  t.equal(mb.depth, 1, "a delayed message still counts");
  let got: Delivery | undefined;
  void mb.receive({ ack: "manual" }).then((d) => (got = d));
  clock.advance(999);
  await settle();
  t.equal(got, undefined, "not given during the delay");
  clock.advance(1);
  await settle();
  t.same([got?.value, got?.attempt], ["a", 2]);
});

t.test("a lease that runs out gives the message to the next receiver", async (t) => {
  const { clock, mb, put } = virtualMailbox();
  put("a");
  const d = await mb.receive({ ack: "manual", lease: 1000 });
  const next = mb.receive({ ack: "manual" });
  clock.advance(1000);
  const again = await next;
  t.same([again.value, again.attempt, again.id], ["a", 2, d.id]);
  t.equal(d.settled, true);
  t.equal(d.ack(), false, "the first receiver's ack comes too late");
  t.equal(again.ack(), true);
  t.equal(mb.depth, 0);
});

t.test("extend pushes the lease out from now", async (t) => {
  const { clock, mb, put } = virtualMailbox();
  put("a");
  const d = await mb.receive({ ack: "manual", lease: 1000 });
  clock.advance(900);
  t.equal(d.extend(1000), true);
  clock.advance(900);
  t.equal(d.settled, false, "1800 ms after the take, within the extended lease");
  clock.advance(100);
  t.equal(d.settled, true, "the extended lease ran out");
  t.equal(mb.stats().leased, 0);
  t.equal(mb.depth, 1, "back in the mailbox");
});

t.test("a message that used up maxAttempts goes to the dead-letter mailbox with the reason", async (t) => {
  const { clock, mb, ch, put, letters } = virtualMailbox({ maxAttempts: 2, deadLetter: "dead@inproc://test" });
  put({ job: 1 });
  const d1 = await mb.receive({ ack: "manual" });
  d1.nack();
  const d2 = await mb.receive({ ack: "manual", lease: 500 });
  clock.advance(500); // the second attempt's lease runs out
  await settle();
  t.same(letters, [{ address: "dead@inproc://test", record: { reason: "max-attempts", attempts: 2, mailbox: "jobs@inproc://test", id: d1.id, value: { job: 1 } } }]);
  t.equal(d2.settled, true);
  t.equal(mb.depth, 0);
  t.equal(ch.taken, 1, "the message left the mailbox");
  t.equal(mb.stats().deadLettered, 1);
});

t.test("a raw message goes to the dead-letter mailbox as bytes", async (t) => {
  const { mb, put, letters } = virtualMailbox({ maxAttempts: 1, deadLetter: "dead@inproc://test" });
  put(Buffer.from([1, 2, 3]), Flag.Raw);
  (await mb.receive({ ack: "manual" })).nack();
  await settle();
  t.same(letters[0]?.record.bytes, Buffer.from([1, 2, 3]));
  t.notOk("value" in letters[0]!.record);
});

t.test("a dead letter that cannot be stored leaves the message in its mailbox, attempts anew", async (t) => {
  const { mb, put } = virtualMailbox({ maxAttempts: 1, deadLetter: "dead@inproc://test" }, true);
  put("a");
  (await mb.receive({ ack: "manual" })).nack();
  await settle();
  t.equal(mb.depth, 1, "not dropped");
  t.equal(mb.stats().deadLettered, 0);
  const d = await mb.receive({ ack: "manual" });
  t.same([d.value, d.attempt], ["a", 1]);
});

t.test("without a dead-letter mailbox a message is given again for ever", async (t) => {
  const { mb, put } = virtualMailbox();
  put("a");
  for (let i = 1; i <= 20; i++) {
    const d = await mb.receive({ ack: "manual" });
    t.equal(d.attempt, i);
    d.nack();
  }
  t.equal(mb.depth, 1);
});

t.test("ending a deliveries loop gives back what it holds unsettled", async (t) => {
  const { mb, put } = virtualMailbox();
  put("a");
  put("b");
  const seen: unknown[] = [];
  for await (const d of mb.deliveries({ lease: 60_000 })) {
    seen.push(d.value);
    if (d.value === "a") d.ack();
    else break; // b is neither acked nor nacked
  }
  t.same(seen, ["a", "b"]);
  t.equal(mb.stats().leased, 0, "no lease left");
  t.equal(mb.depth, 1);
  const d = await mb.receive({ ack: "manual" });
  t.same([d.value, d.attempt], ["b", 2], "b at once, not after its lease");
});

t.test("aborting a deliveries loop ends it quietly", async (t) => {
  const { mb } = virtualMailbox();
  const ac = new AbortController();
  const done = (async () => {
    for await (const d of mb.deliveries({ signal: ac.signal })) d.ack();
  })();
  ac.abort();
  await done;
  t.equal(mb.stats().waiting, 0);
});

t.test("closing the mailbox settles its deliveries", async (t) => {
  const { mb, put } = virtualMailbox();
  put("a");
  const d = await mb.receive({ ack: "manual" });
  mb.shutdown(new Error("closed"));
  t.equal(d.settled, true);
  t.equal(d.ack(), false);
  t.equal(d.nack(), false);
});

t.test("a lease of Infinity never runs out", async (t) => {
  const { clock, mb, put } = virtualMailbox();
  put("a");
  const d = await mb.receive({ ack: "manual", lease: Infinity });
  clock.advance(1e12);
  t.equal(d.settled, false);
  t.equal(clock.pending, 0, "no timer armed for it");
  t.equal(d.ack(), true);
});

t.test("a receiver waiting with ack: \"manual\" gets a message that arrives later", async (t) => {
  const { mb, put } = virtualMailbox();
  const waiting = mb.receive({ ack: "manual" });
  put("late");
  const d = await waiting;
  t.same([d.value, d.attempt], ["late", 1]);
  t.equal(mb.stats().leased, 1);
});

t.test("the auto receive still takes at once", async (t) => {
  const { mb, ch, put } = virtualMailbox();
  put("a");
  t.equal(await mb.receive(), "a");
  t.equal(ch.taken, 1);
  t.equal(mb.depth, 0);
});

t.test("bad input is refused with what was expected", async (t) => {
  const { mb, put } = virtualMailbox();
  put("a");
  await t.rejects(mb.receive({ ack: "yes" as "manual" }), new InvalidArgumentError('Expected `ack` to be "auto" or "manual", got `"yes"` (string)'));
  await t.rejects(mb.receive({ lease: 10 }), { name: "InvalidArgumentError", message: /`lease` is for ack: "manual"/ });
  await t.rejects(mb.receive({ ack: "manual", lease: 0 }), { name: "InvalidArgumentError", message: /`lease`/ });
  await t.rejects(mb.receiveInto(Buffer.alloc(10), { ack: "manual" }), { name: "InvalidArgumentError", message: /receiveInto/ });
  const d = await mb.receive({ ack: "manual" });
  t.throws(() => d.nack({ delay: -1 }), { name: "InvalidArgumentError", message: /`delay`/ });
  t.throws(() => d.extend(undefined as unknown as number), { name: "InvalidArgumentError", message: /`ms`/ });
  t.throws(() => d.extend(0), { name: "InvalidArgumentError", message: /`ms`/ });
  t.equal(d.settled, false, "a refused call leaves the delivery as it was");
});

t.test("through a runtime", async (t) => {
  t.test("a sender cannot fill slots that leased messages hold", async (t) => {
    const rt = await start(t, "tcp");
    const mb = rt.mailbox("jobs", { capacity: 2 });
    await rt.send(1, mb.address);
    await rt.send(2, mb.address);
    const d1 = await rt.receive(mb, { ack: "manual" });
    const d2 = await rt.receive(mb, { ack: "manual" });
    let stored = false;
    const third = rt.send(3, mb.address).then(() => (stored = true));
    await sleep(200);
    t.equal(stored, false, "no room while both are leased");
    t.equal(mb.depth, 2);
    const s = rt.stats().mailboxes.jobs!;
    t.ok(s.depth + s.creditOutstanding <= s.capacity, "depth + credit <= capacity");
    d1.nack();
    await sleep(100);
    t.equal(stored, false, "a nacked message still holds its slot");
    (await rt.receive(mb, { ack: "manual" })).ack();
    await third;
    t.equal(stored, true, "an ack frees a slot");
    d2.ack();
    t.equal(await rt.receive(mb), 3);
  });

  t.test("until: \"received\" resolves on the ack, not on the take", async (t) => {
    const a = await start(t, "tcp");
    const b = await start(t, "tcp");
    const mb = b.mailbox("jobs");
    let received = false;
    const sent = a.send("x", mb.address, { until: "received" }).then(() => (received = true));
    const d = await b.receive(mb, { ack: "manual" });
    await sleep(200);
    t.equal(received, false, "taken, not acked");
    d.ack();
    await sent;
    t.equal(received, true);
  });

  t.test("dead letters go to a mailbox of the same runtime named by its name", async (t) => {
    const rt = await start(t, "tcp");
    const dead = rt.mailbox("dead");
    const mb = rt.mailbox("jobs", { maxAttempts: 2, deadLetter: "dead" });
    await rt.send({ job: 7 }, mb.address);
    const d = await rt.receive(mb, { ack: "manual" });
    d.nack();
    (await rt.receive(mb, { ack: "manual" })).nack();
    t.same(await rt.receive(dead, { timeout: 5000 }), { reason: "max-attempts", attempts: 2, mailbox: mb.address, id: d.id, value: { job: 7 } });
    await eventually(() => rt.stats().mailboxes.jobs!.deadLettered === 1 && mb.depth === 0);
  });

  t.test("closing the runtime with deliveries out settles them and ends cleanly", async (t) => {
    const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
    const mb = rt.mailbox("jobs");
    await rt.send("a", mb.address);
    const d = await rt.receive(mb, { ack: "manual", lease: 60_000 });
    await rt.close();
    t.equal(d.settled, true);
    t.equal(d.ack(), false);
  });

  t.test("mailbox options are checked", async (t) => {
    const rt = await start(t, "tcp");
    t.throws(() => rt.mailbox("a", { maxAttempts: 3 }), { name: "InvalidArgumentError", message: /`maxAttempts` needs a `deadLetter`/ });
    t.throws(() => rt.mailbox("b", { deadLetter: "b" }), { name: "InvalidArgumentError", message: /another mailbox/ });
    t.throws(() => rt.mailbox("c", { deadLetter: 5 as unknown as string }), { name: "InvalidArgumentError", message: /`deadLetter`/ });
    t.throws(() => rt.mailbox("d", { deadLetter: "x", maxAttempts: 0 }), { name: "InvalidArgumentError", message: /`maxAttempts`/ });
    t.throws(() => rt.mailbox("e", { deadLetter: "no-endpoint@" }), { name: "InvalidAddressError" });
  });
});
