/**
 * `node packages/examples/dist/secure.js`: two runtimes with CURVE keys.
 *
 * Each runtime has a key pair (as `zmbox-keygen` prints), admits the other's public key and
 * knows the other's endpoint's key. They exchange messages over encrypted, authenticated
 * connections; the owner of a mailbox sees who sent each message by key. A third runtime, with
 * a key nobody admitted, cannot store anything; a mailbox can name the only keys that may send
 * to it; and a revoked key is cut off on the connection it already has.
 */
import { ForbiddenError, generateKeyPair, Runtime, TimeoutError } from "@zmbox/mailbox";

const alice = generateKeyPair();
const bob = generateKeyPair();

const a = await Runtime.start({ endpoint: "tcp://127.0.0.1:0", curve: { ...alice, allow: [bob.publicKey] } });
const b = await Runtime.start({
  endpoint: "tcp://127.0.0.1:0",
  curve: { ...bob, allow: [alice.publicKey], peers: { [a.endpoint]: alice.publicKey } },
});
// a learns b's key once b is up (b's port was picked at start).
a.setPeerKey(b.endpoint, bob.publicKey);
const short = (key: string): string => `${key.slice(0, 8)}…`;
console.log(`a at ${a.endpoint} (key ${short(alice.publicKey)}), b at ${b.endpoint} (key ${short(bob.publicKey)})`);

// Both ways, encrypted; the owner's delivery says which key sent it.
const inbox = a.mailbox("inbox");
await b.send({ hello: "from b" }, inbox.address);
const d = await inbox.receive({ ack: "manual", timeout: 5000 });
d.ack();
console.log(`a got ${JSON.stringify(d.value)} from key ${short(d.sender!)} (${d.sender === bob.publicKey ? "b" : "?"})`);
const bInbox = b.mailbox("inbox");
await a.send("from a", bInbox.address);
console.log(`b got ${JSON.stringify(await bInbox.receive({ timeout: 5000 }))}`);

// A key nobody admitted: the ZAP handler refuses the connection; nothing is stored.
const stranger = await Runtime.start({ curve: { ...generateKeyPair(), peers: { [a.endpoint]: alice.publicKey } } });
const refused = await stranger.send("let me in", inbox.address, { timeout: 500 }).catch((e: Error) => e);
console.log(`stranger's send: ${refused instanceof TimeoutError ? refused.message : "stored?!"}; a refused ${a.stats().refused.denied ?? 0} handshake(s)`);
await stranger.close();

// A mailbox that only a itself may send to: b is refused at once.
const audit = a.mailbox("audit", { senders: [] });
const forbidden = await b.send("tamper", audit.address).catch((e: Error) => e);
console.log(`b's send to audit: ${forbidden instanceof ForbiddenError ? forbidden.code : "stored?!"}`);

// Revoked while connected: b's frames are dropped from now on.
a.revoke(bob.publicKey);
const cut = await b.send("after revoke", inbox.address, { timeout: 500 }).catch((e: Error) => e);
console.log(`after a revoked b's key, b's send: ${cut instanceof TimeoutError ? "timed out" : "stored?!"}; a dropped ${a.stats().refused.unauthenticated ?? 0} frame(s)`);
console.log(`a stored ${a.stats().stored} message(s) in all: b's hello`);

await b.close();
await a.close();
