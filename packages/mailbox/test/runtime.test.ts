import t from "tap";
import {
  AbortedError,
  BufferTooSmallError,
  ClosedError,
  EncodedMessage,
  InvalidAddressError,
  InvalidArgumentError,
  MailboxClosedError,
  MailboxExistsError,
  MessageTooLargeError,
  NoSuchMailboxError,
  Runtime,
  TimeoutError,
  encodeMessage,
} from "../src/index.js";
import { endpointFor, eventually, sleep, starter, transports } from "../../../test/support/index.js";

const start = starter(Runtime);

for (const transport of transports) {
  t.test(`over ${transport}`, async (t) => {
    t.test("send until stored, then receive gives the value back", async (t) => {
      const a = await start(t, transport);
      const b = await start(t, transport);
      const inbox = b.mailbox("inbox");
      const values = [{ order: 1, items: ["rutabaga"] }, "text", 42, [1, 2, 3], null, true];
      for (const v of values) await a.send(v, inbox.address);
      t.equal(inbox.depth, values.length, "all stored before any receive");
      for (const v of values) t.same(await b.receive(inbox), v);
    });

    t.test("raw bytes travel as they are and come back as a Buffer", async (t) => {
      const a = await start(t, transport);
      const b = await start(t, transport);
      const inbox = b.mailbox("bytes");
      const bytes = Buffer.from([0, 1, 2, 255, 0xc1]);
      await a.send(bytes, inbox.address);
      await a.send(new Uint8Array([9, 8, 7]), inbox.address);
      const first = await inbox.receive();
      t.ok(Buffer.isBuffer(first));
      t.same([...(first as Buffer)], [0, 1, 2, 255, 0xc1]);
      t.same([...(await inbox.receive() as Buffer)], [9, 8, 7]);
    });

    t.test("the sender may reuse its buffer as soon as send returns", async (t) => {
      const a = await start(t, transport);
      const b = await start(t, transport);
      const inbox = b.mailbox("reuse");
      const buf = Buffer.from("first");
      const sent = a.send(buf, inbox.address, { until: "queued" });
      buf.write("XXXXX");
      await sent;
      t.equal((await inbox.receive() as Buffer).toString(), "first");
    });

    t.test("a message encoded once goes to many mailboxes, and more than once, as the value it was made from", async (t) => {
      const a = await start(t, transport);
      const b = await start(t, transport);
      const boxes = [a.mailbox("enc-local"), b.mailbox("enc-1"), b.mailbox("enc-2")];
      const value = { type: "tick", n: 7, tags: ["a", "b"], bytes: Buffer.from([1, 2, 3]) };
      const encoded = encodeMessage(value);
      t.ok(encoded instanceof EncodedMessage);
      t.ok(encoded.byteLength > 10, "its size in bytes");
      await Promise.all(boxes.map((mb) => a.send(encoded, mb.address)));
      await a.send(encoded, boxes[1]!.address);
      for (const mb of boxes) t.same(await mb.receive({ timeout: 5000 }), value);
      t.same(await boxes[1]!.receive({ timeout: 5000 }), value, "the second copy");
      const bytes = encodeMessage(Buffer.from("raw"));
      await a.send(bytes, boxes[2]!.address);
      t.same(await boxes[2]!.receive({ timeout: 5000 }), Buffer.from("raw"), "bytes stay bytes");
    });

    t.test("encodeMessage says what cannot be encoded, and a message encoded too large for the runtime is refused at send", async (t) => {
      t.throws(() => encodeMessage(10n ** 30n), { name: "EncodeError", code: "ERR_ENCODE", message: /could not encode the message as MessagePack: .*too large/ });
      t.throws(() => encodeMessage(Symbol("s")), { name: "EncodeError", message: /Unknown type: symbol/ });
      t.throws(() => encodeMessage(undefined), { name: "EncodeError", message: /got `undefined`/ });
      // Bytes that did not come from encodeMessage never reach a peer as a message.
      const Make = EncodedMessage as unknown as new (...args: unknown[]) => EncodedMessage;
      t.throws(() => new Make(Symbol("EncodedMessage"), Buffer.from("x"), 0), InvalidArgumentError);
      t.throws(() => new Make(undefined, "not bytes", 0), { message: /made by encodeMessage/ });
      const a = await start(t, transport, { maxMessageSize: 64 });
      const inbox = a.mailbox("enc-size");
      await t.rejects(a.send(encodeMessage("x".repeat(100)), inbox.address), MessageTooLargeError);
      t.equal(inbox.depth, 0);
    });

    t.test("until queued resolves before the message is stored; until received only once taken", async (t) => {
      const a = await start(t, transport);
      const b = await start(t, transport);
      const inbox = b.mailbox("modes");
      await a.send("q", inbox.address, { until: "queued" });
      t.equal(inbox.depth, 0, "queued returned before the owner stored it");
      await eventually(() => inbox.depth === 1, 5000, "queued message stored");
      let received = false;
      const p = a.send("r", inbox.address, { until: "received" }).then(() => (received = true));
      await eventually(() => inbox.depth === 2, 5000, "received-mode message stored");
      await sleep(50);
      t.equal(received, false, "not resolved while the message sits in the mailbox");
      t.equal(await inbox.receive(), "q");
      await sleep(50);
      t.equal(received, false, "not resolved when an earlier message is taken");
      t.equal(await inbox.receive(), "r");
      await p;
      t.equal(received, true, "resolved once a receiver took it");
    });

    t.test("several waiting receivers: each message wakes exactly one, first come first served", async (t) => {
      const a = await start(t, transport);
      const b = await start(t, transport);
      const inbox = b.mailbox("fifo");
      const order: string[] = [];
      const waiters = ["w1", "w2", "w3"].map((w) => inbox.receive().then((m) => (order.push(`${w}:${String(m)}`), m)));
      await sleep(10);
      for (const m of ["m1", "m2", "m3"]) await a.send(m, inbox.address);
      t.same(await Promise.all(waiters), ["m1", "m2", "m3"]);
      t.same(order, ["w1:m1", "w2:m2", "w3:m3"]);
      t.equal(b.stats().mailboxes.fifo!.waiting, 0, "no receiver left waiting");
    });

    t.test("competing receivers never get the same message, and none is lost", async (t) => {
      const a = await start(t, transport);
      const b = await start(t, transport);
      const inbox = b.mailbox("compete", { capacity: 50 });
      const N = 3000;
      const got: number[][] = [[], [], [], []];
      const consumers = got.map(async (mine) => {
        for (;;) {
          const m = (await inbox.receive()) as number;
          if (m < 0) return;
          mine.push(m);
        }
      });
      const sends: Promise<void>[] = [];
      for (let i = 0; i < N; i++) sends.push(a.send(i, inbox.address, { until: "queued" }));
      for (let i = 0; i < got.length; i++) sends.push(a.send(-1, inbox.address, { until: "queued" }));
      await Promise.all(sends);
      await Promise.all(consumers);
      const all = got.flat().sort((x, y) => x - y);
      t.equal(all.length, N, "every message received once");
      t.ok(all.every((m, i) => m === i), "no duplicates, no gaps");
      t.ok(got.filter((g) => g.length > 0).length >= 2, "the work was shared");
      for (const g of got) t.ok(g.every((m, i) => i === 0 || g[i - 1]! < m), "each receiver sees its messages in send order");
    });

    t.test("receiveInto copies the bytes and returns the length; a message too big stays", async (t) => {
      const a = await start(t, transport);
      const b = await start(t, transport);
      const inbox = b.mailbox("into");
      await a.send(Buffer.from("hello world"), inbox.address);
      const small = Buffer.alloc(4);
      const err = await b.receiveInto(small, inbox).catch((e: unknown) => e);
      t.type(err, BufferTooSmallError);
      t.equal((err as BufferTooSmallError).code, "ERR_BUFFER_TOO_SMALL");
      t.equal((err as BufferTooSmallError).needed, 11);
      t.equal(inbox.depth, 1, "the message stayed in the mailbox");
      const buf = Buffer.alloc(64);
      t.equal(await b.receiveInto(buf, inbox), 11);
      t.equal(buf.subarray(0, 11).toString(), "hello world");
      // A waiting receiveInto whose buffer is too small is told so when the message arrives; the message stays.
      const waiting = b.receiveInto(Buffer.alloc(2), inbox).catch((e: unknown) => e);
      await a.send(Buffer.from("abc"), inbox.address);
      t.type(await waiting, BufferTooSmallError);
      t.equal(inbox.depth, 1);
      t.same([...(await inbox.receive() as Buffer)], [...Buffer.from("abc")]);
    });

    t.test("a mailbox never holds more than its capacity; a sender without credit waits", async (t) => {
      const a = await start(t, transport);
      const b = await start(t, transport);
      const inbox = b.mailbox("small", { capacity: 5 });
      let stored = 0;
      const sends = Array.from({ length: 20 }, (_, i) => a.send(i, inbox.address).then(() => stored++));
      await eventually(() => stored === 5, 5000, "5 stored");
      await sleep(100);
      t.equal(stored, 5, "no send past the capacity resolves while nobody receives");
      const s = b.stats().mailboxes.small!;
      t.ok(s.depth + s.creditOutstanding <= 5, `depth ${s.depth} + credit ${s.creditOutstanding} <= capacity`);
      let maxDepth = 0;
      for (let i = 0; i < 20; i++) {
        maxDepth = Math.max(maxDepth, inbox.depth);
        t.equal(await inbox.receive(), i, "in order");
      }
      await Promise.all(sends);
      t.ok(maxDepth <= 5, `peak depth ${maxDepth} <= 5`);
      t.equal(b.stats().refused.credit ?? 0, 0, "a well-behaved sender is never refused");
    });

    t.test("the local outbox of queued sends is bounded: send waits when it is full", async (t) => {
      const a = await start(t, transport, { outboxCapacity: 4 });
      const b = await start(t, transport);
      const inbox = b.mailbox("tight", { capacity: 2 });
      let queued = 0;
      const sends = Array.from({ length: 12 }, (_, i) => a.send(i, inbox.address, { until: "queued" }).then(() => queued++));
      await eventually(() => inbox.depth === 2, 5000, "mailbox full");
      await sleep(100);
      t.equal(queued, 6, "2 stored at the owner + 4 in the outbox returned; the rest wait");
      t.equal(a.stats().outbox, 10, "the outbox holds what is not yet stored");
      for (let i = 0; i < 12; i++) t.equal(await inbox.receive(), i);
      await Promise.all(sends);
    });

    t.test("a send to a mailbox that does not exist rejects promptly", async (t) => {
      const a = await start(t, transport);
      const b = await start(t, transport);
      const started = performance.now();
      const err = await a.send("x", `nobody@${b.endpoint}`, { timeout: 10_000 }).catch((e: unknown) => e);
      t.type(err, NoSuchMailboxError);
      t.equal((err as NoSuchMailboxError).code, "ERR_NO_SUCH_MAILBOX");
      t.ok(performance.now() - started < 5000, "did not wait for the timeout");
      t.match((err as Error).message, /nobody/);
    });

    t.test("remote receive from another runtime's mailbox", async (t) => {
      const a = await start(t, transport);
      const b = await start(t, transport);
      const c = await start(t, transport);
      const inbox = b.mailbox("shared");
      await a.send({ n: 1 }, inbox.address);
      t.same(await c.receive(inbox.address, { timeout: 5000 }), { n: 1 });
      const buf = Buffer.alloc(16);
      await a.send(Buffer.from("xyz"), inbox.address);
      t.equal(await c.receiveInto(buf, inbox.address, { timeout: 5000 }), 3);
      t.equal(buf.subarray(0, 3).toString(), "xyz");
      await eventually(() => b.stats().mailboxes.shared!.depth === 0, 5000, "taken noticed by the owner");
      const missing = await c.receive(`ghost@${b.endpoint}`, { timeout: 5000 }).catch((e: unknown) => e);
      t.type(missing, NoSuchMailboxError, "a remote receive on a missing mailbox fails at once");
    });
  });
}

t.test("port 0 binds a free port and the runtime reports it", async (t) => {
  const rt = await start(t, "tcp");
  t.match(rt.endpoint, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  t.not(rt.endpoint, "tcp://127.0.0.1:0");
  const mb = rt.mailbox("here");
  t.equal(mb.address, `here@${rt.endpoint}`);
});

t.test("inproc works within one process", async (t) => {
  const a = await start(t, "inproc");
  const inbox = a.mailbox("local");
  await a.send("self", inbox.address);
  t.equal(await inbox.receive(), "self");
});

t.test("malformed addresses and options are clear errors", async (t) => {
  const rt = await start(t, "tcp");
  for (const bad of ["", "noat", "@tcp://127.0.0.1:1", "name@", "name@http://x:1", "na me@tcp://127.0.0.1:1", "x@tcp://host", 42, null]) {
    const err = await rt.send("m", bad as string).catch((e: unknown) => e);
    t.type(err, InvalidAddressError, `address ${JSON.stringify(bad)}`);
    t.equal((err as InvalidAddressError).code, "ERR_INVALID_ADDRESS");
    t.match((err as Error).message, /name@endpoint|Invalid mailbox address/);
  }
  const mb = rt.mailbox("ok");
  t.rejects(rt.send("m", mb, { until: "soon" as never }), { code: "ERR_INVALID_ARGUMENT", message: /`until`.*"soon"/ });
  t.rejects(rt.send("m", mb, { timeout: -1 }), { message: /`timeout`.*-1/ });
  t.rejects(rt.send("m", mb, { tiemout: 5 } as never), { message: /Unknown send option `tiemout`/ });
  t.rejects(rt.send(undefined, mb), InvalidArgumentError);
  t.throws(() => rt.mailbox("ok"), MailboxExistsError);
  t.throws(() => rt.mailbox("bad name"), InvalidArgumentError);
  t.throws(() => rt.mailbox("c", { capacity: 0 }), { message: /`capacity`.*`0` \(number\)/ });
  await t.rejects(Runtime.start({ endpoint: "tcp://127.0.0.1" }), InvalidArgumentError);
  await t.rejects(Runtime.start({ batchSize: 0 }), { message: /`batchSize`/ });
  t.rejects(mb.receiveInto("nope" as never), InvalidArgumentError);
  t.rejects(mb.receive({ timeout: "1" as never }), InvalidArgumentError);
});

t.test("a queued send that fails after it returned calls onUndeliverable, and is counted", async (t) => {
  const owner = await start(t, "tcp", { maxMessageSize: 1000 });
  owner.mailbox("small");
  const sender = await start(t, "tcp");
  const missing = await new Promise<Error>((resolve) => {
    void sender.send("m", `nobody@${owner.endpoint}`, { until: "queued", onUndeliverable: resolve });
  });
  t.type(missing, NoSuchMailboxError, "no such mailbox: told after the send returned");
  t.match(missing.message, /nobody/);
  const refused = await new Promise<Error>((resolve) => {
    void sender.send(Buffer.alloc(2000), `small@${owner.endpoint}`, { until: "queued", onUndeliverable: resolve });
  });
  t.type(refused, MessageTooLargeError, "too large for the owner (as its acks say): refused, and told");
  t.equal(sender.stats().undeliverable, 2, "both counted as undeliverable");
  await t.rejects(sender.send("m", `small@${owner.endpoint}`, { until: "stored", onUndeliverable: () => {} }), {
    code: "ERR_INVALID_ARGUMENT",
    message: /onUndeliverable.*"queued"/,
  }, "only for queued sends: the others reject instead");
  await t.rejects(sender.send("m", `small@${owner.endpoint}`, { until: "queued", onUndeliverable: "log" as never }), {
    message: /`onUndeliverable` to be a function, got/,
  });
});

t.test("a message larger than maxMessageSize is refused before it is sent", async (t) => {
  const rt = await start(t, "tcp", { maxMessageSize: 1000 });
  const mb = rt.mailbox("big");
  await t.rejects(rt.send(Buffer.alloc(1001), mb), MessageTooLargeError);
  await rt.send(Buffer.alloc(1000), mb);
  t.equal(mb.depth, 1);
});

t.test("timeouts and aborts", async (t) => {
  t.test("a send to a dead endpoint times out, saying what it waited for", async (t) => {
    const a = await start(t, "tcp");
    const err = await a.send("x", "inbox@tcp://127.0.0.1:1", { timeout: 300 }).catch((e: unknown) => e);
    t.type(err, TimeoutError);
    t.equal((err as TimeoutError).code, "ERR_TIMEOUT");
    t.match((err as Error).message, /not stored within 300 ms \(no answer from tcp:\/\/127\.0\.0\.1:1\)/);
  });
  t.test("receive times out; an abort signal rejects with AbortedError", async (t) => {
    const rt = await start(t, "tcp");
    const mb = rt.mailbox("quiet");
    await t.rejects(mb.receive({ timeout: 50 }), TimeoutError);
    const ac = new AbortController();
    const p = mb.receive({ signal: ac.signal });
    ac.abort(new Error("stop"));
    const err = await p.catch((e: unknown) => e);
    t.type(err, AbortedError);
    t.equal((err as AbortedError).cause instanceof Error && ((err as AbortedError).cause as Error).message, "stop");
    t.equal(rt.stats().mailboxes.quiet!.waiting, 0, "the aborted receiver left the line");
    // An already aborted signal takes nothing, even when a message is waiting.
    await rt.send("kept", mb);
    await t.rejects(mb.receive({ signal: ac.signal }), AbortedError);
    t.equal(mb.depth, 1, "the message stayed");
    t.equal(await mb.receive(), "kept");
    // A message sent now goes to the next receiver, not to the one that gave up.
    await rt.send("after", mb);
    t.equal(await mb.receive(), "after");
  });
  t.test("a timeout past setTimeout's range (2^31 - 1 ms) waits, without re-arming its timer every millisecond", async (t) => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on("warning", onWarning);
    t.teardown(() => void process.off("warning", onWarning));
    const rt = await start(t, "tcp");
    const mb = rt.mailbox("patient");
    const waiting = mb.receive({ timeout: 2 ** 31 + 1000 });
    const sending = rt.send("x", "nobody@tcp://127.0.0.1:1", { timeout: 2 ** 32 }).catch((error: unknown) => error);
    const before = process.cpuUsage();
    await sleep(300);
    const cpu = process.cpuUsage(before);
    t.equal(warnings.filter((w) => w.name === "TimeoutOverflowWarning").length, 0, "no TimeoutOverflowWarning");
    t.ok(cpu.user + cpu.system < 100_000, `idle while waiting (${cpu.user + cpu.system} us of CPU in 300 ms)`);
    await rt.send("late", mb);
    t.equal(await waiting, "late", "the receive still waits, and gets the next message");
    await rt.close();
    t.type(await sending, ClosedError, "the send waited until the runtime closed");
  });

  t.test("one signal for many receives: those served leave it, an abort ends exactly the ones still waiting", async (t) => {
    const rt = await start(t, "tcp");
    const mb = rt.mailbox("shared-signal");
    const ac = new AbortController();
    // One receive at a time on the signal, many times over (a server's worker), then several at once.
    for (let i = 0; i < 50; i++) {
      const p = mb.receive({ signal: ac.signal });
      await rt.send(i, mb);
      t.equal(await p, i);
    }
    const waiting = Array.from({ length: 5 }, () => mb.receive({ signal: ac.signal }));
    await rt.send("first", mb);
    await rt.send("third", mb);
    t.equal(await waiting[0], "first", "served in order");
    t.equal(await waiting[1], "third");
    ac.abort(new Error("stop"));
    for (const p of waiting.slice(2)) await t.rejects(p, AbortedError);
    t.equal(rt.stats().mailboxes["shared-signal"]!.waiting, 0, "no receiver left waiting");
    await rt.send("kept", mb);
    t.equal(mb.depth, 1, "no aborted receiver took it");
  });
  t.test("a send that times out before it was forwarded is withdrawn", async (t) => {
    const a = await start(t, "tcp");
    const b = await start(t, "tcp");
    const mb = b.mailbox("one", { capacity: 1 });
    await a.send("first", mb.address);
    await t.rejects(a.send("second", mb.address, { timeout: 100 }), { code: "ERR_TIMEOUT", message: /credit/ });
    t.equal(await mb.receive(), "first");
    await a.send("third", mb.address);
    t.equal(await mb.receive(), "third", "the withdrawn message never arrives");
  });
});

t.test("close is graceful", async (t) => {
  t.test("waiting receivers and sends settle with ClosedError; later calls reject", async (t) => {
    const a = await Runtime.start();
    const mb = a.mailbox("m");
    const waiting = t.rejects(mb.receive(), ClosedError);
    const blocked = t.rejects(a.send("x", "inbox@tcp://127.0.0.1:1", { timeout: 60_000 }), ClosedError);
    await a.close();
    await waiting;
    await blocked;
    await t.rejects(a.send("y", mb), ClosedError);
    await t.rejects(a.receive(mb), ClosedError);
    t.throws(() => a.mailbox("n"), ClosedError);
    await a.close();
  });
  t.test("queued messages are delivered before close returns", async (t) => {
    const a = await Runtime.start();
    const b = await start(t, "tcp");
    const mb = b.mailbox("drain", { capacity: 1000 });
    for (let i = 0; i < 500; i++) await a.send(i, mb.address, { until: "queued" });
    await a.close();
    t.equal(mb.depth, 500);
  });
  t.test("closing a mailbox rejects its receivers and tells senders it is gone", async (t) => {
    const a = await start(t, "tcp");
    const b = await start(t, "tcp");
    const mb = b.mailbox("short-lived");
    const waiting = mb.receive();
    await a.send(1, mb.address);
    t.equal(await waiting, 1);
    const next = mb.receive();
    mb.close();
    await t.rejects(next, MailboxClosedError);
    await t.rejects(a.send(2, mb.address), NoSuchMailboxError);
  });
});

t.test("stats report depth, capacity, credit and counters", async (t) => {
  const a = await start(t, "tcp");
  const b = await start(t, "tcp");
  const mb = b.mailbox("counted", { capacity: 10 });
  for (let i = 0; i < 3; i++) await a.send(i, mb.address);
  await mb.receive();
  await eventually(() => b.stats().received === 1);
  const s = b.stats();
  t.equal(s.mailboxes.counted!.depth, 2);
  t.equal(s.mailboxes.counted!.capacity, 10);
  t.ok(s.mailboxes.counted!.creditOutstanding >= 1 && s.mailboxes.counted!.creditOutstanding <= 8);
  t.equal(s.stored, 3);
  t.equal(a.stats().sent, 3);
  t.equal(a.stats().retransmitted, 0);
  t.same(a.stats().channels, { [mb.address]: { sent: 3, retransmitted: 0, outbox: 0 } }, "per destination too");
});
