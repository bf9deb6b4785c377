// The sending side against a hand-driven owner: the owner's answers are chosen by the test, so
// that orders of acks and naks that a real network produces only now and then happen every time.
import t from "tap";
import { PROTOCOL_VERSION as V } from "../src/wire.js";
import { Runtime } from "../src/index.js";
import { eventually, freePort, RawOwner, sleep, starter } from "../../../test/support/index.js";

const start = starter(Runtime);

const RID = "r-hand-owner";

/** The first seq of each data frame received so far. */
const dataSeqs = (owner: RawOwner): number[] => owner.frames("data").map((f) => f.header[3] as number);

t.test("an ack whose stored passes a rewound sentSeq: new messages get seqs after stored, not ones the owner has", async (t) => {
  const owner = await RawOwner.bind(t);
  const sender = await start(t, "tcp", { probeInterval: 60_000, drainTimeout: 0 });
  const to = `box@${owner.endpoint}`;
  const first = Array.from({ length: 10 }, (_, i) => sender.send(i, to, { until: "queued" }));
  await Promise.all(first);
  await eventually(() => owner.frames("hello").length > 0, 5000, "the channel's hello");
  const peer = owner.frames("hello")[0]!.peer;
  await owner.send(peer, [V, "ack", "box", RID, 0, 0, 10, false]);
  await eventually(() => owner.frames("data").length > 0, 5000, "seqs 1 to 10");
  t.same(dataSeqs(owner), [1], "seqs 1 to 10 went out in one frame");
  // A probe's answer (resend, stored 5, no credit past it) overtakes the ack of the frame on its
  // way; then that ack arrives: stored 10, credit for 10 more.
  await owner.send(peer, [V, "ack", "box", RID, 5, 5, 5, true]);
  await owner.send(peer, [V, "ack", "box", RID, 10, 10, 20, false]);
  const stored = [sender.send("a", to), sender.send("b", to)];
  await eventually(() => owner.frames("data").length > 1, 5000, "the next data frame");
  const next = owner.frames("data")[1]!;
  t.equal(next.header[3], 11, "the next frame starts after what the owner stored");
  t.equal((next.header[5] as number[]).length, 2, "it carries the two new messages");
  await owner.send(peer, [V, "ack", "box", RID, 12, 12, 20, false]);
  await Promise.all(stored);
  t.pass("both stored sends resolved");
});

t.test("a burst of NO_CHANNEL naks gets one probe; an ack lets the next nak probe again", async (t) => {
  const owner = await RawOwner.bind(t);
  const sender = await start(t, "tcp", { probeInterval: 60_000, drainTimeout: 0 });
  const to = `box@${owner.endpoint}`;
  for (let i = 0; i < 3; i++) void sender.send(i, to, { until: "queued" });
  await eventually(() => owner.frames("hello").length > 0, 5000, "the channel's hello");
  const peer = owner.frames("hello")[0]!.peer;
  await owner.send(peer, [V, "ack", "box", RID, 0, 0, 10, false]);
  await eventually(() => owner.frames("data").length > 0, 5000, "data");
  // The owner forgot the channel while three frames were on their way: three naks.
  for (let i = 0; i < 3; i++) await owner.send(peer, [V, "nak", "box", RID, "NO_CHANNEL", "forgotten", 0]);
  await eventually(() => owner.frames("hello").length > 1, 5000, "a probe");
  await sleep(200);
  const probes = owner.frames("hello").slice(1);
  t.equal(probes.length, 1, "one probe for the three naks");
  t.equal(probes[0]!.header[5], true, "it is a probe");
  // The probe's answer reopens the channel; a nak after that is a new loss, and probes again.
  await owner.send(peer, [V, "ack", "box", RID, 0, 0, 10, true]);
  await owner.send(peer, [V, "nak", "box", RID, "NO_CHANNEL", "forgotten again", 0]);
  await eventually(() => owner.frames("hello").length > 2, 5000, "a second probe");
  t.equal(owner.frames("hello")[2]!.header[5], true, "after an ack, the next NO_CHANNEL probes again");
});

t.test("a sender whose ZeroMQ queue to an owner is full waits for room and loses nothing", async (t) => {
  // The owner is not there yet: each of 1,100 channels queues a hello, past the 1,000 frames
  // libzmq queues for one connection, so a send fails with EAGAIN and the writer must wait.
  const endpoint = `tcp://127.0.0.1:${await freePort()}`;
  const sender = await start(t, "tcp", { probeInterval: 60_000 });
  const names = Array.from({ length: 1100 }, (_, i) => `box${i}`);
  await Promise.all(names.map((name, i) => sender.send(i, `${name}@${endpoint}`, { until: "queued" })));
  await sleep(200);
  const owner = await start(t, "tcp", { endpoint, maxChannelsPerPeer: 2000 });
  const got = await Promise.all(names.map((name) => owner.mailbox(name).receive({ timeout: 20_000 })));
  t.same(got, names.map((_, i) => i), "every message arrived, once, once the owner was there");
  await eventually(() => sender.stats().outbox === 0, 5000, "every message acknowledged as stored");
});
