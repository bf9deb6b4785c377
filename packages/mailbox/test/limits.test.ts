// The owner's limits (peers, channels per peer, message size, MessagePack shape), each with a
// clear error at the sender and a counter at the owner, and credit that comes back from a
// peer that left.
import t from "tap";
import { Packr } from "msgpackr";
import { LimitExceededError, MessageTooLargeError, Runtime } from "../src/index.js";
import { MAX_DEPTH, PROTOCOL_VERSION as V, checkMessagePack } from "../src/wire.js";
import { eventually, RawClient, rng, starter } from "../../../test/support/index.js";

const start = starter(Runtime);
const packr = new Packr({ useRecords: false, variableMapSize: true });

t.test("a peer past maxChannelsPerPeer gets LimitExceededError for the new channel; its others go on", async (t) => {
  const owner = await start(t, "tcp", { maxChannelsPerPeer: 2 });
  const boxes = ["a", "b", "c"].map((n) => owner.mailbox(n));
  const sender = await start(t, "tcp");
  await sender.send(1, boxes[0]!.address);
  await sender.send(2, boxes[1]!.address);
  const err = await sender.send(3, boxes[2]!.address, { timeout: 5000 }).catch((e: unknown) => e);
  t.type(err, LimitExceededError);
  t.equal((err as LimitExceededError).code, "ERR_LIMIT_EXCEEDED");
  t.match((err as Error).message, /maxChannelsPerPeer is 2/);
  t.equal(owner.stats().refused.channels, 1);
  await sender.send(4, boxes[0]!.address);
  t.same([await boxes[0]!.receive(), await boxes[0]!.receive()], [1, 4], "the channels it has still work");
});

t.test("a new peer past maxPeers is refused with a LIMIT nak and counted; known peers go on", async (t) => {
  const owner = await start(t, "tcp", { maxPeers: 1 });
  const mb = owner.mailbox("m");
  const first = new RawClient(owner.endpoint, "first");
  const second = new RawClient(owner.endpoint, "second");
  t.teardown(() => Promise.all([first.close(), second.close()]));
  await first.send([V, "hello", "m", 1, 1]);
  await eventually(() => first.last("ack") !== undefined, 5000, "the first peer's ack");
  await second.send([V, "hello", "m", 1, 1]);
  await eventually(() => second.last("nak") !== undefined, 5000, "the second peer's nak");
  t.equal(second.last("nak")?.[4], "LIMIT");
  t.match(second.last("nak")?.[5], /maxPeers/);
  t.equal(owner.stats().refused.peers, 1);
  const sender = await start(t, "tcp");
  const err = await sender.send("x", mb.address, { timeout: 5000 }).catch((e: unknown) => e);
  t.type(err, LimitExceededError, "a runtime sender gets the typed error");
});

t.test("credit held by a peer that disconnects comes back long before its lease would run out", async (t) => {
  const owner = await start(t, "tcp", { creditLease: 120_000 });
  owner.mailbox("m", { capacity: 100 });
  const c = new RawClient(owner.endpoint, "leaver");
  await c.send([V, "hello", "m", 1, 10]);
  await eventually(() => ((c.last("ack")?.[6] as number) ?? 0) >= 10, 5000, "credit granted");
  t.ok(owner.stats().mailboxes.m!.creditOutstanding >= 10, "it holds credit");
  await c.close();
  // The new channels' lease is 24 s here: only the disconnect explains its return.
  await eventually(() => owner.stats().mailboxes.m!.creditOutstanding === 0, 10_000, "credit back");
  t.equal(owner.stats().mailboxes.m!.channels, 0, "and the channel, which never stored, is forgotten");
});

t.test("a 1 MiB message to an owner that takes 1 KiB fails at once, and the next small send is stored", async (t) => {
  const owner = await start(t, "tcp", { maxMessageSize: 1024 });
  const mb = owner.mailbox("small");
  const sender = await start(t, "tcp");
  await sender.send("hello", mb.address);
  const err = await sender.send(Buffer.alloc(1024 * 1024), mb.address, { timeout: 10_000 }).catch((e: unknown) => e);
  t.type(err, MessageTooLargeError);
  t.match((err as Error).message, /1048576 bytes; .* takes at most 1024/);
  await sender.send("after", mb.address, { timeout: 10_000 });
  t.same([await mb.receive(), await mb.receive()], ["hello", "after"]);
  t.equal(sender.stats().retransmitted, 0, "nothing was sent again");
});

t.test("MessagePack check - accepts what msgpackr encodes", async (t) => {
  const random = rng(7);
  const value = (depth: number): unknown => {
    const r = random();
    if (depth > 3 || r < 0.3) return [null, true, 1, -1, 300, -70000, 2 ** 40, 1.5, "s", "x".repeat(300), new Uint8Array(70)][Math.floor(random() * 11)];
    if (r < 0.65) return Array.from({ length: Math.floor(random() * 6) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: Math.floor(random() * 6) }, (_, i) => [`k${i}`, value(depth + 1)]));
  };
  let checked = 0;
  for (let i = 0; i < 2000; i++) {
    const bytes = packr.pack(value(0));
    const wrong = checkMessagePack(bytes);
    if (wrong !== undefined) t.fail(`refused ${bytes.toString("hex").slice(0, 80)}: ${wrong}`);
    checked++;
  }
  t.equal(checked, 2000);
  t.equal(checkMessagePack(packr.pack(new Date(0))), undefined, "an extension type (a date)");
});

t.test("MessagePack check - every cut of a value is refused, a byte at a time", async (t) => {
  const bytes = packr.pack({ a: [1, "two", { three: 3 }], b: "x".repeat(40), c: 70000, d: new Uint8Array(5) });
  for (let n = 0; n < bytes.length; n++) {
    if (checkMessagePack(bytes.subarray(0, n)) === undefined) t.fail(`a cut at ${n} passed`);
  }
  t.equal(checkMessagePack(Buffer.concat([bytes, Buffer.from([0])])), "1 bytes after the value");
  t.equal(checkMessagePack(bytes), undefined);
});

t.test("MessagePack check - refuses deep nesting, huge claimed lengths and 0xc1 anywhere", async (t) => {
  const nested = (n: number): Buffer => Buffer.concat([Buffer.alloc(n, 0x91), Buffer.from([0x00])]);
  t.equal(checkMessagePack(nested(MAX_DEPTH)), undefined, `${MAX_DEPTH} levels pass`);
  t.match(checkMessagePack(nested(MAX_DEPTH + 1)), /nested deeper than 64/);
  t.match(checkMessagePack(nested(100_000)), /nested deeper/, "100,000 levels: refused, no stack overflow");
  t.match(checkMessagePack(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x00])), /claims 4294967295 items in 1 bytes/);
  t.match(checkMessagePack(Buffer.from([0xdf, 0x7f, 0xff, 0xff, 0xff])), /claims 4294967294 items/);
  t.match(checkMessagePack(Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61])), /claims more bytes/);
  t.match(checkMessagePack(Buffer.from([0xc6, 0x00, 0x10, 0x00, 0x00])), /claims more bytes/);
  t.match(checkMessagePack(Buffer.from([0x92, 0x01, 0xc1])), /0xc1/);
  t.match(checkMessagePack(Buffer.from([0x81, 0xc1, 0x01])), /0xc1/, "as a map key too");
});
