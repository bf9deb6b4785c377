// Request-response: serve() and Client/request() over the mailbox runtime.
//
//   client runtime                                  server runtime
//   [rr.reply.<id>] <--- reply {clientId, requestId, ok, body|error} ---+
//        |                                                              |
//   request() -- send {type:"request", clientId, requestId, replyTo, body} --> [svc] -> serve(): cache -> handler
import { once } from "node:events";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import t from "tap";
import { AbortedError, ClosedError, InvalidAddressError, NoSuchMailboxError, TimeoutError, Runtime } from "@zmbox/mailbox";
import {
  Client,
  RemoteError,
  ReplyCache,
  RequestTimeoutError,
  request,
  serve,
  type CompactReply,
  type CompactRequest,
  type ReplyEnvelope,
  type RequestEnvelope,
} from "../src/rr.js";
import { eventually, exited, fixtures, forkChild, nextMessage, sleep, starter } from "../../../test/support/index.js";

const start = starter(Runtime);
const fixture = fixtures(import.meta.url);

/** A promise with its resolve, to hold a handler until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

t.test("rr - a request gets the handler's reply at the client's own reply mailbox", async (t) => {
  const serverRt = await start(t);
  const clientRt = await start(t);
  const seen: { clientId: string; requestId: number; replyTo: string }[] = [];
  const server = serve(serverRt, serverRt.mailbox("files"), (command: string, ctx) => {
    seen.push({ clientId: ctx.clientId, requestId: ctx.requestId, replyTo: ctx.replyTo });
    return `contents of ${command.split(" ")[1]}`;
  });
  t.teardown(() => server.close());
  const client = new Client(clientRt);
  t.teardown(() => client.close());
  t.equal(await client.request("read rutabaga", `files@${serverRt.endpoint}`), "contents of rutabaga");
  t.same(seen, [{ clientId: client.id, requestId: 1, replyTo: client.address }], "the request carried client id, request id and reply address");
  t.match(client.address, new RegExp(`^rr\\.reply\\.${client.id}@`), "the reply mailbox is the client's own");
  t.equal(await request(clientRt, "read turnip", server.address), "contents of turnip", "request() uses the runtime's default client");
  // The server's runtime first: it waits (briefly) for the client's ack of the last reply.
  // Closed the other way round, that ack can be lost and the close waits its drainTimeout.
  await server.close();
  await serverRt.close();
});

t.test("rr - a handler may return a value, a promise or any thenable, and may throw or reject: each is answered", async (t) => {
  const rt = await start(t);
  const handlers: Record<string, (n: number) => unknown> = {
    value: (n) => n + 1,
    promise: async (n) => n + 2,
    thenable: (n) => ({ then: (resolve: (v: number) => void) => resolve(n + 3) }),
    throws: () => {
      throw Object.assign(new Error("sync no"), { code: "E_SYNC" });
    },
    rejects: async () => {
      throw Object.assign(new Error("async no"), { code: "E_ASYNC" });
    },
    badThenable: () => ({ then: (_: unknown, reject: (e: Error) => void) => reject(new Error("thenable no")) }),
  };
  const servers = Object.entries(handlers).map(([name, h]) => serve(rt, rt.mailbox(name), h));
  t.teardown(() => Promise.all(servers.map((s) => s.close())));
  const client = new Client(rt);
  t.teardown(() => client.close());
  const at = (name: string): string => `${name}@${rt.endpoint}`;
  t.equal(await client.request(10, at("value")), 11);
  t.equal(await client.request(10, at("promise")), 12);
  t.equal(await client.request(10, at("thenable")), 13, "a thenable is waited on, as `await` would");
  await t.rejects(client.request(10, at("throws")), { name: "RemoteError", message: /sync no/, code: "E_SYNC" });
  await t.rejects(client.request(10, at("rejects")), { name: "RemoteError", message: /async no/, code: "E_ASYNC" });
  await t.rejects(client.request(10, at("badThenable")), { name: "RemoteError", message: /thenable no/ });
  t.same(servers.map((s) => [s.stats().handled, s.stats().failed]), [[1, 0], [1, 0], [1, 0], [0, 1], [0, 1], [0, 1]], "counted as handled or failed");
});

t.test("rr - concurrent requests each get their own reply (correlation by request id)", async (t) => {
  const rt = await start(t);
  const server = serve(rt, rt.mailbox("square"), async (n: number) => {
    await sleep(n % 7); // replies come back out of order
    return n * n;
  }, { concurrency: 32 });
  t.teardown(() => server.close());
  const client = new Client(rt);
  t.teardown(() => client.close());
  const ns = Array.from({ length: 300 }, (_, i) => i);
  const replies = await Promise.all(ns.map((n) => client.request<number>(n, server.address)));
  t.same(replies, ns.map((n) => n * n));
  t.equal(client.stats().late, 0);
  t.equal(client.stats().inFlight, 0);
});

t.test("rr - serve runs at most `concurrency` handlers at once; the rest wait in the mailbox", async (t) => {
  const rt = await start(t);
  const mb = rt.mailbox("slow", { capacity: 100 });
  let active = 0;
  let most = 0;
  const release = gate();
  const server = serve(rt, mb, async () => {
    active++;
    most = Math.max(most, active);
    await release.promise;
    active--;
    return "ok";
  }, { concurrency: 4 });
  t.teardown(() => server.close());
  const client = new Client(rt);
  t.teardown(() => client.close());
  const all = Promise.all(Array.from({ length: 20 }, (_, i) => client.request(i, mb, { timeout: 20_000 })));
  await eventually(() => active === 4 && mb.depth === 16, 5000, "4 running, 16 waiting in the mailbox");
  t.equal(server.stats().active, 4, "the server holds only what it runs");
  release.open();
  await all;
  t.equal(most, 4, "never more than 4 at once");
});

t.test("rr - a handler's throw reaches the caller as a RemoteError with its message, code and name", async (t) => {
  const rt = await start(t);
  const server = serve(rt, rt.mailbox("files"), (command: string) => {
    if (command === "read nothing") throw Object.assign(new Error("ENOENT: no such file, open 'nothing'"), { code: "ENOENT" });
    if (command === "bad") throw new RangeError("out of range");
    if (command === "string") throw "just a string";
    return "fine";
  });
  t.teardown(() => server.close());
  const client = new Client(rt);
  t.teardown(() => client.close());
  const error = await client.request("read nothing", server.address).catch((e: unknown) => e);
  t.type(error, RemoteError);
  t.match(error, { name: "RemoteError", code: "ENOENT", remoteName: "Error", message: "ENOENT: no such file, open 'nothing'", requestId: 1, server: server.address });
  t.match(await client.request("bad", server.address).catch((e: unknown) => e), { code: "ERR_REMOTE", remoteName: "RangeError", message: "out of range" });
  t.match(await client.request("string", server.address).catch((e: unknown) => e), { code: "ERR_REMOTE", message: "just a string" });
  t.equal(await client.request("ok", server.address), "fine", "the server goes on");
  t.match(server.stats(), { failed: 3, handled: 1 });
});

t.test("rr - a missing service fails at once with NoSuchMailboxError, without retries", async (t) => {
  const rt = await start(t);
  const client = new Client(rt);
  t.teardown(() => client.close());
  await t.rejects(client.request("hello", `nobody@${rt.endpoint}`, { timeout: 30_000, retries: 5 }), NoSuchMailboxError);
  t.equal(client.stats().retries, 0, "no retry was made");
  t.equal(client.stats().timeouts, 0);
});

t.test("rr - no reply in time is a RequestTimeoutError that says how long it waited and how many attempts", async (t) => {
  const rt = await start(t);
  rt.mailbox("deaf"); // stores requests, nobody serves them
  const client = new Client(rt);
  t.teardown(() => client.close());
  const error = await client.request("anyone?", `deaf@${rt.endpoint}`, { timeout: 100, retries: 2 }).catch((e: unknown) => e);
  t.type(error, RequestTimeoutError);
  t.type(error, TimeoutError, "a runtime TimeoutError too");
  const e = error as RequestTimeoutError;
  t.equal(e.code, "ERR_TIMEOUT");
  t.equal(e.attempts, 3);
  t.equal(e.timeout, 100);
  // Timers may fire a millisecond early against performance.now(): allow for it.
  t.ok(e.waited >= 295, `it waited all three attempts (${Math.round(e.waited)} ms)`);
  t.match(e.message, /^no reply from deaf@tcp:\/\/\S+ to request 1 after 3 attempts in \d+ ms \(100 ms per attempt\)$/);
  t.match(client.stats(), { retries: 2, timeouts: 1, inFlight: 0 });
});

t.test("rr - a late reply after a timeout is discarded and counted; the client goes on", async (t) => {
  const rt = await start(t);
  const release = gate();
  const server = serve(rt, rt.mailbox("late"), async (body: string) => {
    if (body === "slow") await release.promise;
    return body;
  });
  t.teardown(() => server.close());
  const client = new Client(rt);
  t.teardown(() => client.close());
  await t.rejects(client.request("slow", server.address, { timeout: 50, retries: 0 }), RequestTimeoutError);
  release.open();
  await eventually(() => client.stats().late === 1, 5000, "the late reply");
  t.equal(await client.request("next", server.address), "next", "the next request gets its own reply");
  t.match(client.stats(), { late: 1, replies: 1, inFlight: 0 });
});

t.test("rr - a retry while the first run is in progress joins it: the handler runs once", async (t) => {
  const rt = await start(t);
  let runs = 0;
  const release = gate();
  const server = serve(rt, rt.mailbox("once"), async () => {
    runs++;
    await release.promise;
    return runs;
  });
  t.teardown(() => server.close());
  const client = new Client(rt);
  t.teardown(() => client.close());
  const pending = client.request("charge the card", server.address, { timeout: 50, retries: 100 });
  await eventually(() => server.stats().joined >= 2, 5000, "two retries joined the run");
  release.open();
  t.equal(await pending, 1, "the reply of the one run");
  t.equal(runs, 1, "the handler ran once");
  t.ok(client.stats().retries >= 2);
});

t.test("rr - a retry after the reply is answered from the reply cache (raw envelopes, as another language would send)", async (t) => {
  const rt = await start(t);
  let runs = 0;
  const server = serve(rt, rt.mailbox("once"), (body: { amount: number }) => ({ charged: body.amount, run: ++runs }));
  t.teardown(() => server.close());
  const replies = rt.mailbox("my-replies");
  const envelope: RequestEnvelope = { type: "request", clientId: "c-hand-made", requestId: 7, replyTo: replies.address, body: { amount: 5 } };
  await rt.send(envelope, server.address);
  const first = (await replies.receive({ timeout: 5000 })) as ReplyEnvelope;
  await rt.send(envelope, server.address);
  const second = (await replies.receive({ timeout: 5000 })) as ReplyEnvelope;
  t.same(first, { type: "reply", clientId: "c-hand-made", requestId: 7, ok: true, body: { charged: 5, run: 1 } });
  t.same(second, first, "the cached reply");
  t.equal(runs, 1, "the handler ran once");
  t.match(server.stats(), { duplicates: 1, handled: 1, cached: 1 });
  await rt.send({ ...envelope, clientId: "another-client" }, server.address);
  t.match(await replies.receive({ timeout: 5000 }), { body: { run: 2 } }, "the cache key is client id + request id");
});

t.test("rr - the reply cache lets go of a reply as soon as it is evicted or replaced", async (t) => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const cache = new ReplyCache<object>({ max: 2, ttl: 60_000 });
  const kept: WeakRef<object>[] = [];
  const finish = (client: string, id: number): void => {
    const reply = { client, id, bytes: new Uint8Array(64 * 1024) };
    kept.push(new WeakRef(reply));
    cache.start(client, id);
    cache.finish(client, id, reply);
  };
  for (let id = 1; id <= 10; id++) finish("a", id);
  finish("b", 1);
  cache.start("b", 1); // run again: the first run's reply is no longer wanted
  // A WeakRef's target lives at least to the end of the turn that made it.
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  const alive = kept.map((ref) => ref.deref() !== undefined);
  t.same(alive, [false, false, false, false, false, false, false, false, false, true, false], "only a10 is still held (max 2: a10, and b1's new run)");
  t.match(cache.get("a", 10), { state: "done", value: { client: "a", id: 10 } });
  t.same(cache.get("b", 1), { state: "running" });
  t.equal(cache.size, 1);
});

t.test("rr - the reply cache is bounded in size and in age", async (t) => {
  let now = 0;
  const cache = new ReplyCache<string>({ max: 2, ttl: 1000, now: () => now });
  const requests: [string, number][] = [["a", 1], ["b", 1], ["a", 2]];
  for (const [client, id] of requests) {
    cache.start(client, id);
    t.same(cache.get(client, id), { state: "running" });
    cache.finish(client, id, `reply ${client}${id}`);
  }
  t.equal(cache.size, 2);
  t.equal(cache.get("a", 1), undefined, "the oldest went first");
  t.same(cache.get("a", 2), { state: "done", value: "reply a2" });
  t.equal(cache.get("b", 2), undefined, "another request of a known client");
  t.equal(cache.get("c", 1), undefined, "the same request id of another client");
  now = 1001;
  t.equal(cache.get("b", 1), undefined, "too old");
  t.equal(cache.size, 0);
  t.equal(cache.evicted, 3);
  cache.start("d", 1);
  now = 5000;
  t.same(cache.get("d", 1), { state: "running" }, "a run in progress is never evicted");
  t.equal(cache.running, 1);
  cache.abandon("d", 1);
  t.equal(cache.get("d", 1), undefined, "an abandoned run leaves nothing");
  t.equal(cache.running, 0);
  // Run again after it finished (a retry after a restart of the handler's side): a new run, one entry.
  cache.start("e", 1);
  cache.finish("e", 1, "first");
  cache.start("e", 1);
  t.same(cache.get("e", 1), { state: "running" });
  t.equal(cache.size, 0, "the finished run was replaced");
  cache.finish("e", 1, "second");
  t.same(cache.get("e", 1), { state: "done", value: "second" });
  t.equal(cache.size, 1);
  // begin: get, and start when there is nothing to answer with.
  t.equal(cache.begin("f", 1), undefined, "new: started");
  t.same(cache.begin("f", 1), { state: "running" }, "a retry while it runs joins it");
  cache.finish("f", 1, "f1");
  t.same(cache.begin("f", 1), { state: "done", value: "f1" }, "a retry after it gets the reply");
  now += 1001;
  t.equal(cache.begin("f", 1), undefined, "too old: runs again");
  t.equal(cache.running, 1);

  // The same bound at a server: with room for one reply, a retry of an evicted request runs again.
  const rt = await start(t);
  let runs = 0;
  const server = serve(rt, rt.mailbox("tiny"), () => ++runs, { replyCache: { max: 1, ttl: 60_000 } });
  t.teardown(() => server.close());
  const replies = rt.mailbox("replies");
  const ask = async (requestId: number): Promise<unknown> => {
    await rt.send({ type: "request", clientId: "c", requestId, replyTo: replies.address, body: 0 }, server.address);
    return ((await replies.receive({ timeout: 5000 })) as { body: unknown }).body;
  };
  t.equal(await ask(1), 1);
  t.equal(await ask(2), 2);
  t.equal(await ask(2), 2, "the newest is cached");
  t.equal(await ask(1), 3, "the evicted one ran again (documented: size bounds the de-duplication)");
  t.match(server.stats(), { cached: 1, evicted: 2 });
});

t.test("rr - the compact spelling: an array request gets an array reply, retries too; bad arrays get an array error", async (t) => {
  const rt = await start(t);
  let runs = 0;
  const server = serve(rt, rt.mailbox("compact"), (body: { amount: number } | undefined) => (body === undefined ? undefined : { charged: body.amount, run: ++runs }));
  t.teardown(() => server.close());
  const replies = rt.mailbox("compact-replies");
  const request: CompactRequest = ["request", "c-array", 3, replies.address, { amount: 9 }];
  await rt.send(request, server.address);
  const first = (await replies.receive({ timeout: 5000 })) as CompactReply;
  t.same(first, ["reply", "c-array", 3, true, { charged: 9, run: 1 }]);
  await rt.send(request, server.address);
  t.same(await replies.receive({ timeout: 5000 }), first, "a retry: the cached reply, in the same spelling");
  t.equal(runs, 1);
  // No body: the array is one shorter, both ways.
  await rt.send(["request", "c-array", 4, replies.address], server.address);
  t.same(await replies.receive({ timeout: 5000 }), ["reply", "c-array", 4, true]);
  // The same request as a map, from another client: a map reply.
  await rt.send({ type: "request", clientId: "c-map", requestId: 3, replyTo: replies.address, body: { amount: 1 } }, server.address);
  t.same(await replies.receive({ timeout: 5000 }), { type: "reply", clientId: "c-map", requestId: 3, ok: true, body: { charged: 1, run: 2 } });
  // Bad arrays that name a replyTo are told so, as arrays.
  await rt.send(["ask", "c-array", 5, replies.address, 1], server.address);
  t.match(await replies.receive({ timeout: 5000 }), ["reply", "c-array", 5, false, { code: "ERR_BAD_REQUEST", message: /the first field is not "request"/ }]);
  await rt.send(["request", "c-array", 0, replies.address, 1], server.address);
  t.match(await replies.receive({ timeout: 5000 }), ["reply", "c-array", 0, false, { code: "ERR_BAD_REQUEST", message: /requestId/ }]);
  await rt.send(["request", "c-array", 6, replies.address, 1, "extra"], server.address);
  t.match(await replies.receive({ timeout: 5000 }), ["reply", "c-array", 6, false, { message: /not 4 or 5 fields/ }]);
  await rt.send(["request", "c-array", 7, "nowhere"], server.address);
  await eventually(() => server.stats().badRequests === 4, 5000, "four bad requests");
  t.equal(replies.depth, 0, "no reply to a request without a good replyTo");
});

t.test("rr - a client takes a reply in either spelling, and discards bad ones", async (t) => {
  const rt = await start(t);
  // A server by hand, answering the client's array requests with map replies, then array ones.
  const mbox = rt.mailbox("by-hand");
  const client = new Client(rt);
  t.teardown(() => client.close());
  const first = client.request("a", mbox);
  const second = client.request("b", mbox);
  const failing = client.request("c", mbox).catch((error: unknown) => error);
  const [, id1, n1, replyTo] = (await mbox.receive()) as CompactRequest;
  const [, id2, n2] = (await mbox.receive()) as CompactRequest;
  const [, id3, n3] = (await mbox.receive()) as CompactRequest;
  t.equal(replyTo, client.address);
  await rt.send(["reply", id1, n1, true, "A"] satisfies CompactReply, replyTo);
  await rt.send({ type: "reply", clientId: id2, requestId: n2, ok: true, body: "B" } satisfies ReplyEnvelope, replyTo);
  await rt.send(["reply", id3, n3, false, { name: "Oops", message: "no", code: "E_NO" }] satisfies CompactReply, replyTo);
  t.equal(await first, "A");
  t.equal(await second, "B");
  t.match(await failing, { name: "RemoteError", code: "E_NO", remoteName: "Oops" });
  for (const junk of [["reply", id1], ["reply", id1, 99, true, 1, 2], ["reply", id1, 99, false, "not an error"], ["reply", id1, 99, "yes", 1]]) await rt.send(junk, replyTo);
  await eventually(() => client.stats().badReplies === 4, 5000, "four bad replies");
});

t.test("rr - messages that are not requests are answered with ERR_BAD_REQUEST or dropped, and counted; the server goes on", async (t) => {
  const rt = await start(t);
  const server = serve(rt, rt.mailbox("svc"), (body: number) => body + 1);
  t.teardown(() => server.close());
  const replies = rt.mailbox("replies");
  for (const junk of ["garbage", 42, [1, 2], Buffer.from([0xc1, 0xff]), { type: "request", clientId: "c", requestId: 1 }, { type: "nope", replyTo: replies.address }]) {
    await rt.send(junk, server.address);
  }
  await rt.send({ type: "request", clientId: "c", requestId: 0, replyTo: replies.address, body: 1 }, server.address);
  const answer = (await replies.receive({ timeout: 5000 })) as ReplyEnvelope;
  t.match(answer, { type: "reply", ok: false, error: { code: "ERR_BAD_REQUEST", name: "BadRequestError" } });
  t.match(answer, { error: { message: /`type` is not "request"/ }, clientId: "", requestId: 0 }, "the first junk that named a replyTo");
  t.match(await replies.receive({ timeout: 5000 }), { ok: false, error: { code: "ERR_BAD_REQUEST", message: /requestId/ } });
  const client = new Client(rt);
  t.teardown(() => client.close());
  t.equal(await client.request(1, server.address), 2, "the server still serves");
  t.match(server.stats(), { badRequests: 7, handled: 1 });
  // Replies a client did not ask for are discarded and counted, too.
  await rt.send("junk", client.address);
  await rt.send({ type: "reply", clientId: "someone-else", requestId: 1, ok: true }, client.address);
  await eventually(() => client.stats().badReplies === 2, 5000, "two bad replies");
});

t.test("rr - a reply too large to send becomes a RemoteError for the caller", async (t) => {
  const rt = await start(t, "tcp", { maxMessageSize: 1024 });
  const server = serve(rt, rt.mailbox("big"), (n: number) => "x".repeat(n));
  t.teardown(() => server.close());
  const client = new Client(rt);
  t.teardown(() => client.close());
  t.equal(await client.request(10, server.address), "xxxxxxxxxx");
  t.match(await client.request(4096, server.address).catch((e: unknown) => e), { name: "RemoteError", code: "ERR_MESSAGE_TOO_LARGE", remoteName: "MessageTooLargeError" });
});

t.test("rr - a handler value that cannot be encoded becomes a RemoteError, and a retry gets the same error without a second run", async (t) => {
  const rt = await start(t);
  let runs = 0;
  const server = serve(rt, rt.mailbox("enc"), () => {
    runs++;
    return { huge: 10n ** 30n };
  });
  t.teardown(() => server.close());
  const replies = rt.mailbox("replies-enc");
  const request = { type: "request", clientId: "c-enc", requestId: 1, replyTo: replies.address, body: null };
  await rt.send(request, server.address);
  const first = (await replies.receive({ timeout: 5000 })) as ReplyEnvelope;
  t.match(first, { ok: false, requestId: 1, error: { name: "EncodeError", code: "ERR_ENCODE", message: /too large to fit/ } });
  // The same request again (a retry): answered from the cache, the handler does not run again.
  await rt.send(request, server.address);
  t.same(await replies.receive({ timeout: 5000 }), first, "the cached error reply");
  t.equal(runs, 1);
  t.match(server.stats(), { handled: 1, duplicates: 1 });
});

t.test("rr - an aborted request rejects with AbortedError and its late reply is discarded", async (t) => {
  const rt = await start(t);
  const release = gate();
  const server = serve(rt, rt.mailbox("svc"), async () => {
    await release.promise;
    return "done";
  });
  t.teardown(() => server.close());
  const client = new Client(rt);
  t.teardown(() => client.close());
  const ac = new AbortController();
  const pending = client.request("x", server.address, { signal: ac.signal, timeout: 10_000 });
  await eventually(() => server.stats().active === 1, 5000, "the handler runs");
  ac.abort(new Error("user gave up"));
  await t.rejects(pending, AbortedError);
  await t.rejects(client.request("x", server.address, { signal: ac.signal }), AbortedError, "an aborted signal rejects at once");
  release.open();
  await eventually(() => client.stats().late === 1, 5000, "the late reply");
});

t.test("rr - one signal for many requests and servers: no listener per request, and an abort ends exactly the ones still open", async (t) => {
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => void warnings.push(w);
  process.on("warning", onWarning);
  t.teardown(() => void process.off("warning", onWarning));
  const rt = await start(t);
  const shutdown = new AbortController();
  const release = gate();
  // Twelve servers on one signal (Node warns past ten listeners on a signal).
  const servers = Array.from({ length: 12 }, (_, i) =>
    serve(rt, rt.mailbox(`sig-${i}`), async (n: number) => {
      if (n >= 100) await release.promise;
      return n + 1;
    }, { signal: shutdown.signal, concurrency: 50 }),
  );
  const client = new Client(rt);
  t.teardown(() => client.close());
  const requests = new AbortController();
  const fast = await Promise.all(Array.from({ length: 30 }, (_, n) => client.request(n, servers[n % 12]!.address, { signal: requests.signal })));
  t.same(fast, Array.from({ length: 30 }, (_, n) => n + 1), "answered, and no longer listening");
  const slow = Array.from({ length: 30 }, (_, n) => client.request(100 + n, servers[0]!.address, { signal: requests.signal, timeout: 10_000 }));
  await eventually(() => servers[0]!.stats().active === 30, 5000, "all 30 running");
  requests.abort(new Error("enough"));
  for (const p of slow) await t.rejects(p, AbortedError);
  t.equal(client.stats().inFlight, 0);
  release.open();
  await eventually(() => client.stats().late === 30, 5000, "the 30 late replies, discarded");
  t.equal(warnings.filter((w) => w.name === "MaxListenersExceededWarning").length, 0, "no MaxListenersExceededWarning");
  // The servers' one signal cancels all twelve.
  shutdown.abort(new Error("shutdown"));
  for (const s of servers) t.equal(await s.closed, undefined);
});

t.test("rr - close() waits for running handlers to reply; requests still in the mailbox stay for the next server", async (t) => {
  const rt = await start(t);
  const mb = rt.mailbox("svc");
  const release = gate();
  let first = true;
  const server = serve(rt, mb, async (n: number) => {
    if (first) {
      first = false;
      await release.promise;
    }
    return n * 10;
  }, { concurrency: 1 });
  const client = new Client(rt);
  t.teardown(() => client.close());
  const answers = [1, 2, 3].map((n) => client.request(n, mb, { timeout: 20_000, retries: 0 }));
  await eventually(() => server.stats().active === 1 && mb.depth === 2, 5000, "one running, two waiting");
  const closing = server.close();
  let closed = false;
  void closing.then(() => (closed = true));
  await sleep(20);
  t.notOk(closed, "close() waits for the running handler");
  release.open();
  t.equal(await closing, undefined);
  t.equal(await answers[0], 10, "the running request was answered");
  t.equal(mb.depth, 2, "the others stayed in the mailbox");
  const next = serve(rt, mb, (n: number) => n * 100);
  t.teardown(() => next.close());
  t.same(await Promise.all(answers.slice(1)), [200, 300], "the next server answered them");
});

t.test("rr - a cancelled server aborts its handlers, replies nothing, and a retry is run by the next server", async (t) => {
  const rt = await start(t);
  const mb = rt.mailbox("svc");
  const ac = new AbortController();
  const server = serve(rt, mb, (_: unknown, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("cancelled")))), { signal: ac.signal });
  const client = new Client(rt);
  t.teardown(() => client.close());
  const pending = client.request("job", mb, { timeout: 300, retries: 20 });
  await eventually(() => server.stats().active === 1, 5000, "the handler runs");
  ac.abort();
  t.equal(await server.closed, undefined);
  t.match(server.stats(), { cancelled: 1, failed: 0 });
  const next = serve(rt, mb, (body: string) => `${body} done`);
  t.teardown(() => next.close());
  t.equal(await pending, "job done", "the retry ran at the next server: nothing was cached for it");
});

t.test("rr - close() of the client rejects its requests in flight with ClosedError", async (t) => {
  const rt = await start(t);
  rt.mailbox("deaf");
  const client = new Client(rt);
  const pending = client.request("x", `deaf@${rt.endpoint}`, { timeout: 10_000 });
  await eventually(() => client.stats().inFlight === 1);
  client.close();
  await t.rejects(pending, ClosedError);
  await t.rejects(client.request("y", `deaf@${rt.endpoint}`), ClosedError);
});

t.test("rr - servers in several runtimes compete for one mailbox (remote receive)", async (t) => {
  const owner = await start(t);
  const mb = owner.mailbox("svc", { capacity: 50 });
  const workers = await Promise.all([start(t, "tcp", { receiveWindow: 2 }), start(t, "tcp", { receiveWindow: 2 })]);
  const servers = workers.map((w, i) => serve(w, mb.address, async (n: number) => {
    await sleep(1);
    return { n, by: i };
  }, { concurrency: 2 }));
  t.teardown(() => Promise.all(servers.map((s) => s.close())));
  const client = new Client(owner);
  t.teardown(() => client.close());
  const replies = await Promise.all(Array.from({ length: 100 }, (_, n) => client.request<{ n: number; by: number }>(n, mb)));
  t.same(replies.map((r) => r.n), Array.from({ length: 100 }, (_, n) => n));
  t.same(new Set(replies.map((r) => r.by)), new Set([0, 1]), "both servers took requests");
  t.equal(servers[0]!.stats().handled + servers[1]!.stats().handled, 100, "each request ran once");
});

t.test("rr - options are checked, with TypeErrors that name the option and the value", async (t) => {
  const rt = await start(t);
  const mb = rt.mailbox("svc");
  const h = (): number => 1;
  t.throws(() => serve({} as never, mb, h), { name: "InvalidArgumentError", code: "ERR_INVALID_ARGUMENT", message: /`runtime`.*got `\[object Object\]` \(object\)/ });
  t.throws(() => serve(rt, "nope" as never, h), InvalidAddressError);
  t.throws(() => serve(rt, mb, "h" as never), { message: "Expected `handler` to be a function, got `\"h\"` (string)" });
  t.throws(() => serve(rt, mb, h, { concurrency: 0 }), { message: "Expected `concurrency` to be an integer from 1 and up, got `0` (number)" });
  t.throws(() => serve(rt, mb, h, { replyCache: { max: 1.5 } }), { message: /`replyCache.max`.*`1.5` \(number\)/ });
  t.throws(() => serve(rt, mb, h, { replyCache: { ttlMs: 5 } as never }), { message: /Unknown replyCache option `ttlMs`/ });
  t.throws(() => serve(rt, mb, h, { concurency: 2 } as never), { message: /Unknown serve option `concurency`/ });
  t.throws(() => serve(rt, mb, h, { signal: "stop" as never }), { message: /`signal` to be an AbortSignal/ });
  const bad = (fn: () => unknown): unknown => {
    try {
      fn();
    } catch (error) {
      return error;
    }
    return undefined;
  };
  t.ok(bad(() => new Client(rt, { capacity: -1 })) instanceof TypeError, "a TypeError (InvalidArgumentError)");
  const client = new Client(rt);
  t.teardown(() => client.close());
  await t.rejects(client.request("x", mb, { timeout: 0 }), { message: "Expected `timeout` to be an integer from 1 and up (or Infinity), got `0` (number)" });
  await t.rejects(client.request("x", mb, { retries: -1 }), { message: /`retries`.*`-1` \(number\)/ });
  await t.rejects(client.request("x", mb, { timeout: "5s" as never }), { code: "ERR_INVALID_ARGUMENT", message: /`"5s"` \(string\)/ });
  await t.rejects(client.request(undefined, mb), { message: /request body/ });
  await t.rejects(client.request("x", "no-at-sign"), InvalidAddressError);
  t.ok(await request(null as never, "x", mb).catch((e: unknown) => e instanceof TypeError), "request() without a runtime: TypeError");
  t.equal(client.stats().requests, 0, "nothing was sent");
});

t.test("rr - a server restarted between a request and its retry: the retry is answered by the new one", async (t) => {
  const rt = await start(t, "tcp", { probeInterval: 200, heartbeatInterval: 200 });
  const client = new Client(rt);
  t.teardown(() => client.close());
  const first = forkChild(t, fixture("rr-server"), ["tcp://127.0.0.1:0", "hang"]);
  const { ready: endpoint } = await nextMessage<{ ready: string }>(first, (m) => "ready" in m);
  const pending = client.request<{ pid: number; runs: number }>({ job: 1 }, `svc@${endpoint}`, { timeout: 1000, retries: 15 });
  await nextMessage(first, (m: { started?: number }) => m.started === 1);
  first.kill("SIGKILL");
  t.equal(await exited(first), "SIGKILL");
  const second = forkChild(t, fixture("rr-server"), [endpoint, "answer"]);
  await nextMessage(second, (m: { ready?: string }) => m.ready === endpoint);
  const reply = await pending;
  t.same(reply, { pid: second.pid, job: 1, runs: 1 }, "answered by the new incarnation, which ran the handler once");
  t.ok(client.stats().retries >= 1, "it took a retry");
  second.send("stop");
  t.equal(await exited(second), 0, "the server closed and exited on its own");
});
