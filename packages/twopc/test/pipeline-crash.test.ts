// A three-stage pipeline across processes, its stage processes SIGKILLed at random moments and
// started again: every input ends as exactly one output or one dead letter. Duplicate outputs
// are allowed only as the README says (a kill between a forward and its ack), and counted.
import t from "tap";
import type { ChildProcess } from "node:child_process";
import { Runtime } from "@zmbox/mailbox";
import { produce, type DeadLetter } from "../src/index.js";
import { eventually, exited, fixtures, forkChild, nextMessage, rng, sleep, starter } from "../../../test/support/index.js";

const start = starter(Runtime);
const fixture = fixtures(import.meta.url);

t.test("pipeline across processes - stages killed at random: every input ends as one output or one dead letter", async (t) => {
  // The owner takes a dead stage's leases back after 1 s (stages keep alive every 200 ms).
  const owner = await start(t, "tcp", { receiverTimeout: 1000 });
  const names = ["a", "b", "c"] as const;
  const boxes = [...names, "out"].map((n) => owner.mailbox(n, { capacity: 20 }));
  const dead = owner.mailbox("dead", { capacity: 1000 });
  const stageArgs = (k: number): string[] => [names[k]!, boxes[k]!.address, boxes[k + 1]!.address, dead.address];
  const spawn = async (k: number): Promise<ChildProcess> => {
    const child = forkChild(t, fixture("stage"), stageArgs(k));
    await nextMessage(child, (m: { ready?: boolean }) => m.ready === true);
    return child;
  };
  const children = await Promise.all(names.map((_, k) => spawn(k)));

  const N = 40;
  const outputs: { i: number; path: string[] }[] = [];
  const letters: DeadLetter[] = [];
  const collecting = (async () => {
    for await (const m of boxes[3]!) outputs.push(m as { i: number; path: string[] });
  })();
  const collectingDead = (async () => {
    for await (const m of dead) letters.push(m as DeadLetter);
  })();
  const producing = produce(owner, boxes[0]!, Array.from({ length: N }, (_, i) => ({ i, path: [] as string[] })));

  // Kill a random stage at a random moment, three times, starting it again each time.
  const random = rng(12);
  const KILLS = 3;
  for (let k = 0; k < KILLS; k++) {
    await sleep(100 + Math.floor(random() * 400));
    const which = Math.floor(random() * 3);
    children[which]!.kill("SIGKILL");
    await exited(children[which]!);
    children[which] = await spawn(which);
  }
  await producing;

  const ended = (): Set<number> => new Set([...outputs.map((o) => o.i), ...letters.map((l) => (l.message as { i: number }).i)]);
  await eventually(() => ended().size === N, 120_000, "every input ended");
  // Let anything still on its way arrive, so that duplicates are counted.
  await eventually(() => boxes.every((b) => b.depth === 0), 30_000, "every mailbox empty");
  await sleep(300);

  const poison = Array.from({ length: N }, (_, i) => i).filter((i) => i % 7 === 0);
  const outputIs = new Set(outputs.map((o) => o.i));
  const letterIs = new Set(letters.map((l) => (l.message as { i: number }).i));
  t.same([...letterIs].sort((x, y) => x - y), poison, "the poison inputs, and only they, are dead letters");
  t.equal([...outputIs].filter((i) => letterIs.has(i)).length, 0, "no input is both an output and a dead letter");
  t.equal(outputIs.size + letterIs.size, N, "every input ended");
  t.ok(outputs.every((o) => o.path.join() === "a,b,c"), "every output went through a, b and c");
  for (const l of letters) t.match(l, { stage: "b", phase: "handler", error: { message: /poison/ } });
  // A kill between a forward and its ack repeats each message that worker had forwarded:
  // at most `concurrency` (2) per kill, and they may repeat again downstream.
  const duplicates = outputs.length + letters.length - N;
  t.comment(`${duplicates} duplicates (outputs ${outputs.length}, dead letters ${letters.length}) after ${KILLS} kills`);
  t.ok(duplicates <= KILLS * 2, `duplicates (${duplicates}) at most 2 per kill`);
  void collecting;
  void collectingDead;
});
