import t from "tap";
import { createServer, connect, type Socket } from "node:net";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReceiverRestartedError, Runtime } from "../src/index.js";
import { eventually, fixtures, forkChild, nextMessage, sleep, starter } from "../../../test/support/index.js";

const start = starter(Runtime);
const fixture = fixtures(import.meta.url);

/** A TCP proxy in front of `target` whose connections can be cut at will. */
async function proxy(target: string): Promise<{ endpoint: string; cut(): void; close(): void }> {
  const [host, port] = target.replace("tcp://", "").split(":") as [string, string];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(port), host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address() as { port: number };
  return {
    endpoint: `tcp://127.0.0.1:${address.port}`,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

t.test("messages lost with a broken connection are re-sent, and enqueued once", async (t) => {
  const owner = await start(t, "tcp");
  const mb = owner.mailbox("through-proxy", { capacity: 200 });
  const p = await proxy(owner.endpoint);
  t.teardown(() => p.close());
  const sender = await start(t, "tcp", { probeInterval: 100, heartbeatInterval: 100 });
  const N = 5000;
  const got: number[] = [];
  const consumer = (async () => {
    while (got.length < N) got.push((await mb.receive({ timeout: 20_000 })) as number);
  })();
  const cutter = setInterval(() => p.cut(), 40);
  for (let i = 0; i < N; i++) await sender.send(i, `through-proxy@${p.endpoint}`, { until: "queued", timeout: 20_000 });
  await eventually(() => got.length === N || sender.stats().outbox === 0, 20_000, "outbox drained");
  clearInterval(cutter);
  await consumer;
  t.equal(got.length, N, "every message arrived");
  t.ok(got.every((m, i) => m === i), "exactly once and in order");
  const through = sender.stats().channels[`through-proxy@${p.endpoint}`];
  t.equal(through?.sent, N, "the channel sent each message once the first time");
  t.equal(through?.retransmitted, sender.stats().retransmitted, "and counts every re-send, the runtime's only channel");
  t.comment(`retransmitted ${sender.stats().retransmitted}, duplicates dropped ${owner.stats().duplicates}`);
});

t.test("a receiver that restarts: unacknowledged messages go to the new incarnation; a received-wait for a lost message rejects", async (t) => {
  const first = await Runtime.start();
  const endpoint = first.endpoint;
  first.mailbox("jobs");
  const sender = await start(t, "tcp", { probeInterval: 100 });
  const address = `jobs@${endpoint}`;
  const lost = sender.send("stored-then-lost", address, { until: "received", timeout: 20_000 }).catch((e: unknown) => e);
  await eventually(() => first.stats().mailboxes.jobs!.depth === 1, 5000, "stored in the first incarnation");
  await first.close();
  // While the owner is down, more sends queue up in the sender's outbox.
  const later = [1, 2, 3].map((i) => sender.send(`later-${i}`, address, { until: "stored", timeout: 20_000 }));
  await sleep(200);
  const second = await Runtime.start({ endpoint });
  t.teardown(() => second.close());
  const jobs = second.mailbox("jobs");
  t.not(second.id, first.id, "a new incarnation");
  const err = await lost;
  t.type(err, ReceiverRestartedError);
  t.equal((err as ReceiverRestartedError).code, "ERR_RECEIVER_RESTARTED");
  await Promise.all(later);
  t.same([await jobs.receive(), await jobs.receive(), await jobs.receive()], ["later-1", "later-2", "later-3"]);
  t.equal(jobs.depth, 0, "the lost message was not resurrected");
});

t.test("sender and receiver in separate OS processes", async (t) => {
  const owner = await start(t, "tcp");
  const mb = owner.mailbox("cross", { capacity: 100 });
  const children = [forkChild(t, fixture("sender"), [mb.address, "500", "stored"]), forkChild(t, fixture("sender"), [mb.address, "500", "queued"])];
  const exits = children.map((c) => new Promise<number | null>((r) => c.once("exit", (code) => r(code))));
  const byPid = new Map<number, number[]>();
  for (let n = 0; n < 1000; n++) {
    const m = (await mb.receive({ timeout: 30_000 })) as { i: number; pid: number };
    const list = byPid.get(m.pid) ?? [];
    list.push(m.i);
    byPid.set(m.pid, list);
  }
  t.same(await Promise.all(exits), [0, 0], "both senders closed and exited on their own");
  t.equal(byPid.size, 2);
  for (const list of byPid.values()) t.ok(list.length === 500 && list.every((m, i) => m === i), "each sender's messages once, in order");
});

t.test("a remote receiver killed mid-stream: no message is lost, and only what it took can come twice", async (t) => {
  const owner = await start(t, "tcp", { receiverTimeout: 500 });
  const mb = owner.mailbox("work", { capacity: 50 });
  const window = 4;
  const record = join(mkdtempSync(join(tmpdir(), "zmbox-taken-")), "taken");
  const child = forkChild(t, fixture("remote-receiver"), [mb.address, String(window), record]);
  t.teardown(() => child.kill("SIGKILL"));
  await nextMessage(child);
  const takenByChild: number[] = [];
  child.on("message", (m: { got?: number }) => {
    if (typeof m.got === "number") takenByChild.push(m.got);
  });
  const N = 300;
  let maxInFlight = 0;
  const sampler = setInterval(() => {
    maxInFlight = Math.max(maxInFlight, owner.stats().mailboxes.work!.inFlightRemote);
  }, 1);
  const sends = Array.from({ length: N }, (_, i) => owner.send({ i }, mb, { until: "queued" }));
  await Promise.all(sends);
  await eventually(() => takenByChild.length >= 40, 20_000, "the child took some");
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  clearInterval(sampler);
  t.ok(maxInFlight <= window, `the remote receiver never held more than its window (${maxInFlight} <= ${window})`);
  const local: number[] = [];
  for (;;) {
    const m = (await mb.receive({ timeout: 3000 }).catch(() => undefined)) as { i: number } | undefined;
    if (m === undefined) break;
    local.push(m.i);
  }
  // What the child's receive returned, as it recorded it before anything else (IPC may lag).
  const recorded = existsSync(record) ? readFileSync(record, "utf8").split("\n").filter((l) => l !== "").map(Number) : [];
  takenByChild.splice(0, takenByChild.length, ...recorded);
  const all = new Set([...takenByChild, ...local]);
  // A message is taken when receive returns it; the child records it on the next line. A kill
  // between the two (the taken notice leaves first) is the one message the record can miss.
  const missing = Array.from({ length: N }, (_, i) => i).filter((i) => !all.has(i));
  t.ok(missing.length <= 1, `at most the message being taken at the kill is unrecorded (${missing.join(",") || "none"})`);
  // The owner counts a take once: the child's when its taken notice arrives, else the local one
  // after the message was handed back. A message the child took whose notice was lost with it
  // comes twice (the documented case) and is still counted once.
  t.equal(owner.stats().received, N, "the owner counted every message taken exactly once (none lost)");
  const twice = local.filter((i) => takenByChild.includes(i));
  t.ok(twice.length <= window, `at most a window of messages came twice (${twice.length})`);
  t.equal(new Set(local).size, local.length, "the local receiver got no message twice");
  t.comment(`child took ${takenByChild.length}, local ${local.length}, twice ${twice.length}`);
});
