import t from "tap";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair, Runtime, type KeyPair } from "@zmbox/mailbox";
import { eventually, type Teardown } from "../../../test/support/index.js";
import { Coordinator, Participant, type ResourceManager } from "../src/index.js";

const dir = (): string => mkdtempSync(join(tmpdir(), "twopc-curve-"));

/** Runtimes with keys that all admit and know each other. */
async function mesh(t: Teardown, n: number): Promise<Runtime[]> {
  const keys: KeyPair[] = Array.from({ length: n }, () => generateKeyPair());
  const all = keys.map((k) => k.publicKey);
  const rts: Runtime[] = [];
  for (const k of keys) {
    const rt = await Runtime.start({ curve: { ...k, allow: all } });
    t.teardown(() => rt.close());
    rts.push(rt);
  }
  for (const rt of rts) for (const [i, other] of rts.entries()) rt.setPeerKey(other.endpoint, keys[i]!.publicKey);
  return rts;
}

t.test("2PC with keys: a forged GLOBAL-COMMIT or VOTE from a key that is not the coordinator's or a participant's is ignored and counted", async (t) => {
  const [rc, r1, r2, rx] = await mesh(t, 4);
  const log1: string[] = [];
  const rm1: ResourceManager = {
    prepare: (txId) => {
      log1.push(`prepare ${txId}`);
      return "commit";
    },
    commit: (txId) => void log1.push(`commit ${txId}`),
    abort: (txId) => void log1.push(`abort ${txId}`),
  };
  let vote2!: (v: "abort") => void;
  const rm2: ResourceManager = {
    prepare: () => new Promise((resolve) => (vote2 = resolve)),
    commit: () => undefined,
    abort: () => undefined,
  };
  const p1 = await Participant.open({ runtime: r1!, logDir: dir(), mailbox: "p1", resourceManager: rm1 });
  const p2 = await Participant.open({ runtime: r2!, logDir: dir(), mailbox: "p2", resourceManager: rm2 });
  const c = await Coordinator.open({ runtime: rc!, logDir: dir(), mailbox: "c", voteTimeout: 60_000 });
  t.teardown(async () => {
    for (const node of [c, p1, p2]) await node.close();
  });
  const attacker = rx!.mailbox("x").address;

  const outcome = c.transact({ participants: [p1.address, p2.address], txId: "t1" });
  // p1 is prepared and waits for the decision; p2 has not voted yet.
  await eventually(() => p1.inDoubt().length === 1 && vote2 !== undefined, 10_000, "p1 ready, p2 preparing");

  // A valid key that claims to be the coordinator, and one that speaks for itself.
  await rx!.send({ type: "GLOBAL-COMMIT", txId: "t1", from: c.address }, p1.address);
  await rx!.send({ type: "GLOBAL-COMMIT", txId: "t1", from: attacker }, p1.address);
  // Votes for p2: claimed in p2's name, and in the attacker's own.
  await rx!.send({ type: "VOTE-COMMIT", txId: "t1", from: p2.address }, c.address);
  await rx!.send({ type: "VOTE-COMMIT", txId: "t1", from: attacker }, c.address);
  await eventually(() => p1.stats().forged === 2 && c.stats().forged === 2, 10_000, "every forged message counted");
  t.equal(p1.stats().forged, 2, "the participant ignored both decisions");
  t.equal(c.stats().forged, 2, "the coordinator ignored both votes");
  t.notOk(log1.includes("commit t1"), "p1 did not commit on a forged decision");
  t.same(c.inDoubt().map((tx) => tx.txId), ["t1"], "the coordinator still waits for p2");

  vote2("abort");
  const o = await outcome;
  t.same([o.committed, o.reason, o.by], [false, "voted-abort", p2.address], "p2's real vote decides");
  await eventually(() => log1.includes("abort t1"), 10_000, "p1 aborts on the real decision");
  t.notOk(log1.includes("commit t1"));
  t.equal(p2.stats().forged, 0, "honest messages are never counted as forged");
});

t.test("2PC with keys: a participant whose senders are its coordinator's key cannot be asked to prepare by another key", async (t) => {
  const [rc, r1, rx] = await mesh(t, 3);
  const prepared: string[] = [];
  const rm: ResourceManager = {
    prepare: (txId) => {
      prepared.push(txId);
      return "commit";
    },
    commit: () => undefined,
    abort: () => undefined,
  };
  const p1 = await Participant.open({ runtime: r1!, logDir: dir(), mailbox: "p1", resourceManager: rm, senders: [rc!.publicKey!] });
  const c = await Coordinator.open({ runtime: rc!, logDir: dir(), mailbox: "c" });
  t.teardown(async () => {
    await c.close();
    await p1.close();
  });
  const x = rx!.mailbox("x").address;
  const refused = await rx!.send({ type: "VOTE-REQ", txId: "evil", from: x, participants: [p1.address] }, p1.address).catch((e: Error) => e);
  t.equal((refused as { code?: string }).code, "ERR_FORBIDDEN", "the attacker's VOTE-REQ is refused at the mailbox");
  const o = await c.transact({ participants: [p1.address], txId: "good" });
  t.equal(o.committed, true, "the coordinator's transaction goes through");
  t.same(prepared, ["good"], "only the coordinator's transaction was prepared");
  t.equal(r1!.stats().refused.forbidden, 1);
});
