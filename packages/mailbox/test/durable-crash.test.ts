// A durable mailbox across real processes: three senders send "stored" while its owner is
// killed with SIGKILL and started again on the same data directory, several times.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import t from "tap";
import { exited, fixtures, forkChild, freePort, nextMessage, rng, sleep } from "../../../test/support/index.js";

const fixture = fixtures(import.meta.url);
const SENDERS = 3;
const KILLS = 3;

interface Report {
  resolved: number[];
  rejected: { n: number; name: string; code: string }[];
}

t.test("every resolved stored send survives owner SIGKILLs exactly once, in per-sender order", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "zmbox-durable-crash-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const port = String(await freePort());
  const address = `jobs@tcp://127.0.0.1:${port}`;
  const random = rng(Number(process.env.SEED ?? Date.now() % 1_000_000));

  const startOwner = async (): Promise<ChildProcess> => {
    const owner = forkChild(t, fixture("durable-owner"), [port, dir]);
    await nextMessage(owner, (m: { ready?: boolean }) => m.ready === true);
    return owner;
  };
  let owner = await startOwner();
  const senders = Array.from({ length: SENDERS }, (_, i) => forkChild(t, fixture("durable-sender"), [address, String(i), "16", "2"]));
  await Promise.all(senders.map((s) => nextMessage(s, (m: { ready?: boolean }) => m.ready === true)));

  for (let k = 0; k < KILLS; k++) {
    await sleep(500 + Math.floor(random() * 1000));
    owner.kill("SIGKILL");
    await exited(owner);
    owner = await startOwner();
    t.comment(`kill ${k + 1} at ${Math.round(performance.now())} ms`);
  }
  await sleep(500);
  const reports = senders.map((s) => nextMessage<Report>(s, (m) => Array.isArray((m as Report).resolved)));
  for (const s of senders) s.send({ stop: true });
  // None hangs: every send settles (the senders' sendTimeout bounds it).
  const done = await Promise.all(reports);

  owner.send({ drain: true });
  const { values } = await nextMessage<{ values: { s: number; n: number }[] }>(owner, (m) => Array.isArray((m as { values?: unknown }).values));
  await exited(owner);

  let resolvedInAll = 0;
  for (let s = 0; s < SENDERS; s++) {
    const got = values.filter((v) => v.s === s).map((v) => v.n);
    const { resolved, rejected } = done[s]!;
    resolvedInAll += resolved.length;
    t.ok(got.every((n, i) => i === 0 || n > got[i - 1]!), `sender ${s}: no duplicates, in order (${got.length} messages)`);
    const have = new Set(got);
    const lost = resolved.filter((n) => !have.has(n));
    t.same(lost, [], `sender ${s}: every one of its ${resolved.length} resolved sends is in the mailbox`);
    if (rejected.length > 0) t.comment(`sender ${s} rejected: ${JSON.stringify(rejected.slice(0, 3))} ... n ${rejected[0]!.n}..${rejected[rejected.length - 1]!.n}, resolved up to ${Math.max(...resolved)}`);
    const untyped = rejected.filter((r) => !r.code.startsWith("ERR_"));
    t.same(untyped, [], `sender ${s}: sends that failed (${rejected.length}) failed with a typed error`);
  }
  t.ok(resolvedInAll > 0, `${resolvedInAll} sends resolved across ${KILLS} kills`);
});
