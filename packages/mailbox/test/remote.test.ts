import t from "tap";
import { MessageTooLargeError, Runtime } from "../src/index.js";
import { eventually, fixtures, forkChild, nextMessage, RawClient, sleep, starter } from "../../../test/support/index.js";
import { PROTOCOL_VERSION as V } from "../src/wire.js";

const start = starter(Runtime);
const fixture = fixtures(import.meta.url);

t.test("two spellings of one owner's endpoint are two channels: nothing is lost", async (t) => {
  const owner = await start(t, "tcp");
  const mb = owner.mailbox("spelled");
  const port = owner.endpoint.split(":").pop();
  const sender = await start(t, "tcp");
  for (let i = 0; i < 5; i++) await sender.send(i, `spelled@tcp://127.0.0.1:${port}`);
  for (let i = 5; i < 10; i++) await sender.send(i, `spelled@tcp://localhost:${port}`);
  const got: unknown[] = [];
  for (let i = 0; i < 10; i++) got.push(await mb.receive({ timeout: 5000 }));
  t.same(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.equal(owner.stats().duplicates, 0);
});

t.test("a remote receiver that pauses between receives gets every message once", async (t) => {
  const owner = await start(t, "tcp");
  const mb = owner.mailbox("paced", { capacity: 64 });
  const receiver = await start(t, "tcp", { probeInterval: 20, receiveWindow: 8 });
  const N = 400;
  const sending = (async () => {
    for (let i = 0; i < N; i++) await owner.send(i, mb, { until: "queued" });
  })();
  const got: number[] = [];
  while (got.length < N) {
    got.push((await receiver.receive(mb.address, { timeout: 10_000 })) as number);
    await sleep(1);
  }
  await sending;
  t.same(got, Array.from({ length: N }, (_, i) => i), "each once, in order");
  await sleep(100);
  t.equal(mb.depth, 0, "nothing came back to the mailbox");
});

t.test("a remote receiver whose event loop blocks past receiverTimeout delivers nothing twice", async (t) => {
  const owner = await start(t, "tcp", { receiverTimeout: 1500 });
  const mb = owner.mailbox("blocked", { capacity: 100 });
  const N = 200;
  for (let i = 0; i < N; i++) await owner.send({ i }, mb, { until: "queued" });
  const child = forkChild(t, fixture("blocked-receiver"), [mb.address, "5", "4000"]);
  t.teardown(() => child.kill("SIGKILL"));
  const byChild: number[] = [];
  child.on("message", (m: { got?: number }) => typeof m.got === "number" && byChild.push(m.got));
  await eventually(() => byChild.length >= 5, 20_000, "the child took some");
  // While the child is blocked, the owner takes its window back; a local receiver drains.
  const local: number[] = [];
  const draining = (async () => {
    for (;;) {
      const m = (await mb.receive({ timeout: 6000 }).catch(() => undefined)) as { i: number } | undefined;
      if (m === undefined) return;
      local.push(m.i);
    }
  })();
  await draining;
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  const twice = local.filter((i) => byChild.includes(i));
  t.same(twice, [], "no message taken by both");
  t.equal(new Set([...byChild, ...local]).size, N, "every message taken by someone");
});

t.test("a remote receiver that closes right after a receive does not get that message delivered again", async (t) => {
  const owner = await start(t, "tcp", { receiverTimeout: 300 });
  const mb = owner.mailbox("closing", { capacity: 20 });
  for (let i = 0; i < 10; i++) await owner.send({ i }, mb, { until: "queued" });
  const child = forkChild(t, fixture("closing-receiver"), [mb.address]);
  const { got } = await nextMessage<{ got: number }>(child);
  await new Promise((r) => child.once("exit", r));
  await sleep(600);
  const rest: number[] = [];
  while (mb.depth > 0) rest.push(((await mb.receive()) as { i: number }).i);
  t.same(rest.sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => i).filter((i) => i !== got), "the rest came back, the taken one did not");
  t.same(rest, [...rest].sort((a, b) => a - b), "messages handed back keep their order");
});

t.test("a message larger than the owner takes fails at once at the sender; the ones after it go on", async (t) => {
  const owner = await start(t, "tcp", { maxMessageSize: 100 });
  const mb = owner.mailbox("picky");
  const sender = await start(t, "tcp", { maxMessageSize: 1000 });
  const big = sender.send(Buffer.alloc(500), mb.address, { timeout: 5000 });
  const after = sender.send("small", mb.address, { timeout: 5000 });
  const err = await big.catch((e: unknown) => e);
  t.type(err, MessageTooLargeError);
  t.equal((err as MessageTooLargeError).code, "ERR_MESSAGE_TOO_LARGE");
  t.match((err as Error).message, /500 bytes; .* takes at most 100 \(its maxMessageSize\)/);
  await after;
  t.equal(await mb.receive(), "small");
  t.equal(owner.stats().refused.size, undefined, "it never reached the owner");
  t.equal(sender.stats().retransmitted, 0, "nothing was sent again");
  // The acks say how large a message the owner takes.
  const c = new RawClient(owner.endpoint, "raw-bad-payload");
  t.teardown(() => c.close());
  await c.send([V, "hello", "picky", 1, 3]);
  await eventually(() => ((c.last("ack")?.[6] as number) ?? 0) >= 3, 5000, "credit");
  t.equal(c.last("ack")?.[8], 100, "the ack carries the owner's maxMessageSize");
  // A client that sends one anyway, and a payload that is not MessagePack: each refused alone.
  await c.send([V, "data", "picky", 1, 0, [1, 200, 1], 0], Buffer.concat([Buffer.from([0xc1]), Buffer.alloc(200, 0x07), Buffer.from([0x07])]));
  await eventually(() => c.last("ack")?.[4] === 3, 5000, "all three consumed");
  const naks = c.received.filter((f) => f[1] === "nak");
  t.same(naks.map((f) => [f[4], f[6]]), [["BAD_MESSAGE", 1], ["BAD_MESSAGE", 2]], "a nak names each refused seq");
  t.equal(owner.stats().refused.size, 1);
  t.equal(owner.stats().refused.malformed, 1);
  t.equal(await mb.receive(), 7);
});

t.test("credit taken back from an idle channel is not granted again until it speaks", async (t) => {
  const owner = await start(t, "tcp", { creditLease: 100 });
  owner.mailbox("idle", { capacity: 16 });
  const c = new RawClient(owner.endpoint, "raw-idle");
  t.teardown(() => c.close());
  await c.send([V, "hello", "idle", 1, 0]);
  await eventually(() => ((c.last("ack")?.[6] as number) ?? 0) > 0, 5000, "slack credit");
  await eventually(() => c.last("ack")?.[6] === 0, 5000, "credit revoked");
  const acks = c.received.filter((f) => f[1] === "ack").length;
  await sleep(500);
  t.equal(c.received.filter((f) => f[1] === "ack").length, acks, "no more acks to an idle channel");
  t.equal(owner.stats().mailboxes.idle!.creditOutstanding, 0, "it holds no capacity");
});

t.test("a sporadic sender whose credit was taken back gets it again at once", async (t) => {
  const owner = await start(t, "tcp", { creditLease: 100 });
  const mb = owner.mailbox("sporadic");
  const sender = await Runtime.start({ probeInterval: 10_000 });
  t.teardown(() => sender.close());
  await sender.send(1, mb.address);
  await sleep(400);
  const started = performance.now();
  await sender.send(2, mb.address, { timeout: 5000 });
  t.ok(performance.now() - started < 1000, "did not wait for a probe");
  t.same([await mb.receive(), await mb.receive()], [1, 2]);
});

t.test("a remote receiver across an owner restart: the new owner's messages are each taken once, none lost", async (t) => {
  const first = await Runtime.start();
  const endpoint = first.endpoint;
  const address = `m@${endpoint}`;
  const a = first.mailbox("m", { capacity: 100 });
  for (let i = 0; i < 20; i++) await first.send(`a${i}`, a, { until: "queued" });
  const receiver = await start(t, "tcp", { receiveWindow: 8 });
  const got: string[] = [(await receiver.receive(address, { timeout: 5000 })) as string];
  await sleep(50);
  await first.close(); // the owner dies with the receiver holding a1..a7
  // The old socket lets go of the port a moment after close (its linger).
  let second: Runtime | undefined;
  for (let i = 0; second === undefined; i++) {
    second = await Runtime.start({ endpoint, receiverTimeout: 1000 }).catch((e: unknown) => {
      if (i > 100) throw e;
      return sleep(20).then(() => undefined);
    });
  }
  t.teardown(() => second.close());
  const b = second.mailbox("m", { capacity: 100 });
  const sender = await start(t, "tcp");
  const received = Array.from({ length: 20 }, (_, i) => sender.send(`b${i}`, b.address, { until: "received", timeout: 20_000 }).then(() => `b${i}`));
  for (;;) {
    const m = (await receiver.receive(address, { timeout: 5000 })) as string;
    got.push(m);
    if (m.startsWith("b")) break;
  }
  await receiver.close();
  const drained: string[] = [];
  for (;;) {
    const m = (await b.receive({ timeout: 2500 }).catch(() => undefined)) as string | undefined;
    if (m === undefined) break;
    drained.push(m);
  }
  const bs = [...got.filter((m) => m.startsWith("b")), ...drained];
  t.same([...bs].sort(), Array.from({ length: 20 }, (_, i) => `b${i}`).sort(), "every b taken exactly once");
  t.equal((await Promise.all(received)).length, 20, "each \"received\" send resolved, after a real take");
});
