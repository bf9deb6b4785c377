import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import t from "tap";
import * as zmq from "zeromq";
import { ForbiddenError, generateKeyPair, InvalidArgumentError, Runtime, TimeoutError, type KeyPair, type RuntimeOptions } from "../src/index.js";
import { eventually, starter, type Teardown } from "../../../test/support/index.js";
import { PROTOCOL_VERSION as V, encodeHeader } from "../src/wire.js";
import { checkKey, encodeZ85, z85Decode } from "../src/curve.js";

const start = starter(Runtime);

/** Two runtimes with keys that admit each other and know each other's endpoint. */
async function pair(t: Teardown, extra: RuntimeOptions = {}): Promise<{ a: Runtime; b: Runtime; ka: KeyPair; kb: KeyPair }> {
  const ka = generateKeyPair();
  const kb = generateKeyPair();
  const a = await start(t, "tcp", { ...extra, curve: { ...ka, allow: [kb.publicKey] } });
  const b = await start(t, "tcp", { ...extra, curve: { ...kb, allow: [ka.publicKey], peers: { [a.endpoint]: ka.publicKey } } });
  a.setPeerKey(b.endpoint, kb.publicKey);
  return { a, b, ka, kb };
}

t.test("curve - two runtimes with keys exchange messages both ways, and the owner sees who sent", async (t) => {
  const { a, b, ka, kb } = await pair(t);
  const inA = a.mailbox("in");
  const inB = b.mailbox("in");
  await b.send({ hello: "a" }, inA.address);
  await a.send({ hello: "b" }, inB.address);
  const d = await inA.receive({ ack: "manual", timeout: 5000 });
  t.same(d.value, { hello: "a" });
  t.equal(d.sender, kb.publicKey, "the delivery carries the authenticated key of the sender");
  d.ack();
  t.same(await inB.receive({ timeout: 5000 }), { hello: "b" });
  // Remote receive across the encrypted link, and a send to a mailbox of its own.
  await a.send("for b to take", inA.address);
  t.equal(await b.receive(inA.address, { timeout: 5000 }), "for b to take");
  const self = a.mailbox("self");
  await a.send(1, self.address);
  const mine = await self.receive({ ack: "manual", timeout: 5000 });
  t.equal(mine.sender, ka.publicKey, "a runtime's own sends carry its own key");
  t.equal(a.publicKey, ka.publicKey);
  t.equal(b.keyOf(a.endpoint), ka.publicKey);
  t.equal(a.keyOf(a.endpoint), ka.publicKey, "its own endpoint has its own key");
});

t.test("curve - a plaintext runtime can neither connect nor send nor receive", async (t) => {
  const owner = await start(t, "tcp", { curve: generateKeyPair() });
  const mb = owner.mailbox("guarded");
  await owner.send("kept", mb);
  const plain = await start(t, "tcp");
  const sent = await plain.send("intruder", mb.address, { timeout: 1000 }).catch((e: Error) => e);
  t.type(sent, TimeoutError, "the send times out: no connection");
  const taken = await plain.receive(mb.address, { timeout: 1000 }).catch((e: Error) => e);
  t.type(taken, TimeoutError, "the remote receive times out");
  t.equal(owner.stats().stored, 1, "only the owner's own message was stored");
  t.equal(mb.depth, 1, "nothing was taken");
});

t.test("curve - a runtime whose key is not allowed is refused by ZAP and stores nothing", async (t) => {
  const ko = generateKeyPair();
  const owner = await start(t, "tcp", { curve: ko });
  const mb = owner.mailbox("guarded");
  await owner.send("kept", mb);
  const stranger = await start(t, "tcp", { curve: { ...generateKeyPair(), peers: { [owner.endpoint]: ko.publicKey } } });
  const sent = await stranger.send("intruder", mb.address, { timeout: 1000 }).catch((e: Error) => e);
  t.type(sent, TimeoutError);
  t.match((sent as Error).message, /refused this runtime's CURVE key/);
  const taken = await stranger.receive(mb.address, { timeout: 1000 }).catch((e: Error) => e);
  t.type(taken, TimeoutError);
  t.ok((owner.stats().refused.denied ?? 0) > 0, "the ZAP handler counted the refusals");
  t.equal(owner.stats().stored, 1);
  t.equal(mb.depth, 1);
  // Allowed while running: the same runtime gets in on its next attempt.
  owner.allow(stranger.publicKey!);
  await stranger.send("welcome now", mb.address, { timeout: 10_000 });
  t.equal(mb.depth, 2);
});

t.test("curve - a client with a valid key cannot speak under another key's routing id", async (t) => {
  const { a, kb } = await pair(t);
  const mb = a.mailbox("target");
  // b's key pair, but the routing id claims a third key, or b's key with a tag made up.
  const third = generateKeyPair();
  for (const routingId of [`${third.publicKey}.r1.0.AAAAAAAAAAAAAAAAAAAAAA`, `${kb.publicKey}.r1.0.AAAAAAAAAAAAAAAAAAAAAA`, "plain-id"]) {
    const dealer = new zmq.Dealer({ routingId, linger: 0, curveServerKey: a.publicKey!, curvePublicKey: kb.publicKey, curveSecretKey: kb.secretKey });
    t.teardown(() => dealer.close());
    dealer.connect(a.endpoint);
    await dealer.send([encodeHeader([V, "hello", "target", 1, 1, true])]);
    await dealer.send([encodeHeader([V, "data", "target", 1, 0, [1], 0]), Buffer.from([0x2a])]);
  }
  await eventually(() => (a.stats().refused.unauthenticated ?? 0) >= 6, 5000, "every frame dropped and counted");
  t.equal(a.stats().stored, 0);
  t.equal(mb.depth, 0);
});

t.test("curve - a revoked key is cut off, on the connection it already has", async (t) => {
  const { a, b, kb } = await pair(t, { receiverTimeout: 60_000 });
  const mb = a.mailbox("jobs");
  await b.send("before", mb.address);
  t.equal(mb.depth, 1);
  // b holds a remote receiver's window on a's mailbox: revoking takes it back at once.
  await a.send("held", mb);
  t.equal(await b.receive(mb.address, { timeout: 5000 }), "before");
  await eventually(() => a.stats().received === 1, 5000, "a heard that b took it");
  a.revoke(kb.publicKey);
  const sent = await b.send("after", mb.address, { timeout: 1000 }).catch((e: Error) => e);
  t.type(sent, TimeoutError, "the send on the open connection is not stored");
  // "held" may have reached b's receive window before the revoke (a remote window fetches ahead):
  // b may still hand that one out, but it gets nothing from a any more.
  let taken = await b.receive(mb.address, { timeout: 1000 }).catch((e: Error) => e);
  if (taken === "held") taken = await b.receive(mb.address, { timeout: 1000 }).catch((e: Error) => e);
  t.type(taken, TimeoutError, "nor can it take any more");
  t.ok((a.stats().refused.unauthenticated ?? 0) > 0, "its frames were dropped and counted");
  t.equal(await mb.receive({ timeout: 5000 }), "held", "what it might have held is a's again");
  t.equal(mb.depth, 0, "\"after\" was never stored");
  // a no longer sends to b either.
  const out = await a.send("to b", b.mailbox("x").address).catch((e: Error) => e);
  t.type(out, ForbiddenError);
  a.allow(kb.publicKey);
  await a.send("to b", `x@${b.endpoint}`, { timeout: 5000 });
});

t.test("curve - a mailbox lets only its listed keys send and receive remotely", async (t) => {
  const { a, b, ka, kb } = await pair(t);
  const c = await start(t, "tcp", { curve: { ...generateKeyPair(), peers: { [a.endpoint]: ka.publicKey } } });
  a.allow(c.publicKey!);
  const mb = a.mailbox("private", { senders: [kb.publicKey], receivers: [kb.publicKey] });
  await b.send("from b", mb.address);
  const refused = await c.send("from c", mb.address, { timeout: 5000 }).catch((e: Error) => e);
  t.type(refused, ForbiddenError, "a key not listed gets a FORBIDDEN refusal");
  t.match((refused as Error).message, /does not let this runtime send/);
  const queued = await new Promise<Error>((resolve) => void c.send("queued from c", mb.address, { until: "queued", onUndeliverable: resolve }));
  t.type(queued, ForbiddenError, "a queued send learns it too");
  const pulled = await c.receive(mb.address, { timeout: 5000 }).catch((e: Error) => e);
  t.type(pulled, ForbiddenError);
  t.ok((a.stats().refused.forbidden ?? 0) >= 2);
  await a.send("from a itself", mb);
  t.equal(await b.receive(mb.address, { timeout: 5000 }), "from b");
  t.equal(await mb.receive({ timeout: 5000 }), "from a itself");
  t.equal(a.stats().stored, 2, "nothing of c's was stored");
});

t.test("curve - keys and options are checked with clear errors", async (t) => {
  const k = generateKeyPair();
  await t.rejects(Runtime.start({ curve: { publicKey: "short", secretKey: k.secretKey } }), {
    name: "InvalidArgumentError",
    message: /Expected `curve.publicKey` to be a CURVE key in z85 \(40 characters/,
  });
  await t.rejects(Runtime.start({ curve: { publicKey: generateKeyPair().publicKey, secretKey: k.secretKey } }), /not a pair/);
  await t.rejects(Runtime.start({ curve: { ...k, allow: ["nope"] } }), /`curve.allow\[0\]`/);
  await t.rejects(Runtime.start({ curve: { ...k, peers: { "tcp://h:1": 42 as unknown as string } } }), /curve.peers\["tcp:\/\/h:1"\]/);
  await t.rejects(Runtime.start({ curve: { ...k, extra: 1 } as never }), /Unknown curve option `extra`/);
  await t.rejects(Runtime.start({ endpoint: "inproc://secure", curve: k }), /tcp:\/\/ or ipc:\/\/ with `curve`/);
  const plain = await start(t, "tcp");
  t.throws(() => plain.allow(k.publicKey), InvalidArgumentError);
  t.throws(() => plain.revoke(k.publicKey), /needs a runtime started with the `curve` option/);
  t.equal(plain.publicKey, undefined);
  const secure = await start(t, "tcp", { curve: k });
  t.throws(() => secure.allow("x".repeat(41)), /Expected `publicKey` to be a CURVE key/);
  t.throws(() => secure.setPeerKey("nowhere", k.publicKey), /Expected `endpoint`/);
  t.throws(() => secure.mailbox("m", { senders: ["bad"] }), /`senders\[0\]`/);
  await t.rejects(secure.send(1, "m@tcp://127.0.0.1:9"), /Expected a CURVE public key for tcp:\/\/127.0.0.1:9/);
});

t.test("zmbox-keygen prints a key pair a runtime accepts", async (t) => {
  const bin = fileURLToPath(new URL("../dist/cli/zmbox-keygen.js", import.meta.url));
  const out = JSON.parse(execFileSync(process.execPath, [bin], { encoding: "utf8" })) as KeyPair;
  t.match(out, { publicKey: /^.{40}$/, secretKey: /^.{40}$/ });
  const rt = await start(t, "tcp", { curve: out });
  t.equal(rt.publicKey, out.publicKey);
  t.throws(() => execFileSync(process.execPath, [bin, "extra"], { stdio: "pipe" }), /takes no arguments/);
});

t.test("curve - z85 keys round-trip, and 40 characters that overflow 32 bytes are refused", async (t) => {
  const { publicKey } = generateKeyPair();
  t.equal(encodeZ85(z85Decode(publicKey)), publicKey);
  t.equal(z85Decode(publicKey).length, 32);
  t.equal(checkKey("k", publicKey), publicKey);
  t.throws(() => checkKey("k", "#".repeat(40)), /Expected `k` to be a CURVE key in z85/);
  t.throws(() => checkKey("k", `${publicKey.slice(0, 39)} `), /Expected `k`/);
  t.throws(() => checkKey("k", undefined), /got `undefined` \(undefined\)/);
});
