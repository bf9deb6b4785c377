// Producer-consumer pipelines: stage(), produce(), pipeline() over the mailbox runtime.
//
//   producer loop -> [a] -> stage a -> [b] -> stage b -> [c] -> stage c -> sink / consumer loop
//                             \______________\_______________\____> [dead-letter]
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { InvalidAddressError, NoSuchMailboxError, Runtime } from "@zmbox/mailbox";
import { isDeadLetter, pipeline, produce, stage, type DeadLetter } from "../src/index.js";
import { eventually, exited, fixtures, forkChild, nextMessage, sleep, starter } from "../../../test/support/index.js";

const start = starter(Runtime);
const fixture = fixtures(import.meta.url);

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

t.test("pipeline - the notes' loops, as written, feed and drain stages", async (t) => {
  const rt = await start(t);
  const { send, receive } = rt;
  const input = rt.mailbox("input", { capacity: 5 });
  const middle = rt.mailbox("middle", { capacity: 5 });
  const output = rt.mailbox("output", { capacity: 5 });
  const dead = rt.mailbox("dead");
  const double = stage(rt, input, (n: number) => n * 2, { to: middle, deadLetter: dead });
  const inc = stage(rt, middle, (n: number) => n + 1, { to: output, deadLetter: dead });
  t.teardown(() => Promise.all([double.stop(), inc.stop()]));
  // Producer: while (1) { prepare message; send(msg, mbox); }
  const producer = (async () => {
    let i = 0;
    while (i < 50) await send(i++, input);
  })();
  // Consumer: while (1) { receive(buffer, mbox); process message; }
  const got: number[] = [];
  while (got.length < 50) got.push((await receive(output, { timeout: 5000 })) as number);
  await producer;
  t.same(got, Array.from({ length: 50 }, (_, i) => i * 2 + 1), "every message, in order (one worker per stage)");
  await eventually(() => double.stats().forwarded === 50, 5000, "the last ack"); // a send counts once stored
  t.match(double.stats(), { received: 50, forwarded: 50, deadLettered: 0, inFlight: 0 });
});

t.test("pipeline - produce() sends every value of an (async) iterable and waits for room", async (t) => {
  const rt = await start(t);
  const mb = rt.mailbox("in", { capacity: 3 });
  async function* numbers(): AsyncGenerator<number> {
    for (let i = 0; i < 10; i++) yield i;
  }
  const producing = produce(rt, mb, numbers());
  await eventually(() => mb.depth === 3, 5000, "the mailbox full");
  const got: unknown[] = [];
  while (got.length < 10) got.push(await mb.receive({ timeout: 5000 }));
  t.equal(await producing, 10);
  t.same(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

t.test("pipeline - each stage runs at most its concurrency", async (t) => {
  const rt = await start(t);
  const active = [0, 0];
  const most = [0, 0];
  const gates = [gate(), gate()];
  const work = (k: number) => async (n: number) => {
    active[k]!++;
    most[k] = Math.max(most[k]!, active[k]!);
    await gates[k]!.promise;
    active[k]!--;
    return n;
  };
  const results = rt.mailbox("results", { capacity: 100 });
  const p = pipeline(rt, [
    { name: "a", handler: work(0), concurrency: 3 },
    { name: "b", handler: work(1), concurrency: 5 },
  ], { capacity: 20, to: results });
  await produce(rt, p.input, Array.from({ length: 20 }, (_, i) => i));
  await eventually(() => active[0] === 3 && rt.stats().mailboxes[p.mailboxes[0]!.name]!.leased === 3 && p.mailboxes[0]!.depth === 20, 5000, "stage a full (its three leased, still counted until acked), the rest waiting in its mailbox");
  gates[0]!.open();
  await eventually(() => active[1] === 5 && rt.stats().mailboxes[p.mailboxes[1]!.name]!.leased === 5 && p.mailboxes[1]!.depth === 20, 5000, "stage b full, the rest waiting in its mailbox");
  gates[1]!.open();
  const got = new Set<unknown>();
  while (got.size < 20) got.add(await results.receive({ timeout: 5000 }));
  await p.stop();
  t.same(most, [3, 5], "never more than 3 in stage a, 5 in stage b");
});

t.test("pipeline - a slow last stage slows the first; no mailbox goes past its capacity", async (t) => {
  const rt = await start(t);
  const finished: number[] = [];
  const p = pipeline(rt, [
    { name: "parse", handler: (n: number) => ({ n }), concurrency: 2 },
    { name: "enrich", handler: (m: { n: number }) => ({ ...m, sq: m.n * m.n }), concurrency: 2 },
    { name: "store", handler: async (m: { n: number }) => void (await sleep(2), finished.push(m.n)), concurrency: 1 },
  ], { capacity: 4 });
  t.teardown(() => p.stop());
  // Everything the pipeline can hold: 3 mailboxes of 4, plus one message per worker.
  const bound = 3 * 4 + (2 + 2 + 1);
  let most = 0;
  let deepest = 0;
  const N = 150;
  for (let i = 0; i < N; i++) {
    await rt.send(i, p.input); // until "stored": waits for room in the first mailbox
    most = Math.max(most, i + 1 - finished.length);
    for (const s of p.stats().stages) deepest = Math.max(deepest, s.depth / s.capacity);
  }
  t.ok(most <= bound, `the producer was never more than ${bound} ahead of the last stage (${most})`);
  t.ok(finished.length >= N - bound, `when the producer finished, the slow stage had done all but the pipeline's fill (${finished.length})`);
  t.ok(deepest <= 1, `no mailbox past its capacity (largest depth/capacity ${deepest})`);
  await eventually(() => finished.length === N, 10_000, "all stored");
  t.same([...finished].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i), "every message once");
});

t.test("pipeline - a handler that throws sends the message to the dead-letter mailbox with the error; the stage goes on", async (t) => {
  const rt = await start(t);
  const sink: number[] = [];
  const p = pipeline(rt, [
    {
      name: "check",
      handler: (n: number) => {
        if (n % 5 === 0) throw Object.assign(new RangeError(`${n} is a multiple of 5`), { code: "EFIVE" });
        return n;
      },
    },
    { name: "sink", handler: (n: number) => void sink.push(n) },
  ]);
  t.teardown(() => p.stop());
  await produce(rt, p.input, Array.from({ length: 30 }, (_, i) => i));
  const letters: DeadLetter[] = [];
  while (letters.length < 6) {
    const letter = await rt.receive(p.deadLetter, { timeout: 5000 });
    t.ok(isDeadLetter(letter));
    letters.push(letter as DeadLetter);
  }
  t.same(letters.map((l) => l.message), [0, 5, 10, 15, 20, 25]);
  t.match(letters[1], {
    type: "dead-letter",
    stage: "check",
    from: p.input,
    phase: "handler",
    message: 5,
    error: { name: "RangeError", message: "5 is a multiple of 5", code: "EFIVE", stage: "check" },
  });
  await eventually(() => sink.length === 24, 5000, "the others");
  await eventually(() => p.stats().stages[0]!.deadLettered + p.stats().stages[0]!.forwarded === 30, 5000, "the last acks");
  t.match(p.stats().stages[0], { received: 30, forwarded: 24, deadLettered: 6, retried: 0 });
});

t.test("pipeline - an output that cannot be forwarded is dead-lettered, not dropped", async (t) => {
  const rt = await start(t);
  const input = rt.mailbox("in");
  const dead = rt.mailbox("dead");
  const s = stage(rt, input, (n: number) => n, { to: `nowhere@${rt.endpoint}`, deadLetter: dead });
  t.teardown(() => s.stop());
  await rt.send(7, input);
  t.match(await dead.receive({ timeout: 5000 }), { phase: "forward", message: 7, error: { name: "NoSuchMailboxError", code: "ERR_NO_SUCH_MAILBOX", stage: "in" } });
  await eventually(() => s.stats().deadLettered === 1, 5000, "the dead letter's ack");
  t.match(s.stats(), { received: 1, forwarded: 0, deadLettered: 1, retried: 0 });
});

t.test("pipeline - stop() finishes every message taken; the rest stay in the input mailbox", async (t) => {
  const rt = await start(t);
  const input = rt.mailbox("in");
  const out = rt.mailbox("out");
  const dead = rt.mailbox("dead");
  const release = gate();
  const s = stage(rt, input, async (n: number) => {
    await release.promise;
    return n;
  }, { to: out, deadLetter: dead, concurrency: 2 });
  await produce(rt, input, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  await eventually(() => s.stats().inFlight === 2, 5000, "two taken");
  let stopped = false;
  const stopping = s.stop().then((stats) => ((stopped = true), stats));
  await sleep(20);
  t.notOk(stopped, "stop() waits for the messages in flight");
  release.open();
  t.match(await stopping, { received: 2, forwarded: 2, inFlight: 0, workers: 0 });
  t.equal(out.depth, 2, "both finished");
  t.equal(input.depth, 8, "the rest are still in the input mailbox");
  t.equal(await s.closed, undefined);
});

t.test("pipeline - Pipeline.stop() stops the first stage and drains the others: every message past the input is finished", async (t) => {
  const rt = await start(t);
  const results = rt.mailbox("results", { capacity: 100 });
  const p = pipeline(rt, [
    { name: "a", handler: async (n: number) => (await sleep(1), n), concurrency: 2 },
    { name: "b", handler: async (n: number) => (await sleep(3), n), concurrency: 1 },
    { name: "c", handler: async (n: number) => (await sleep(1), n), concurrency: 1 },
  ], { capacity: 5, to: results });
  await produce(rt, p.input, Array.from({ length: 40 }, (_, i) => i), { until: "queued" });
  await eventually(() => p.stats().stages[0]!.received >= 10, 5000, "the pipeline busy");
  const stats = await p.stop({ idleTimeout: 50 });
  const [a, b, c] = stats.stages;
  t.equal(b!.received, a!.forwarded, "b finished all a sent on");
  t.equal(c!.received, b!.forwarded);
  t.equal(results.depth, c!.forwarded, "every message stage a took came out at the end");
  t.same([p.mailboxes[1]!.depth, p.mailboxes[2]!.depth], [0, 0], "the inner mailboxes are empty");
  // The rest wait in the input mailbox (or, while it is full, in the producer's outbox).
  const rest: unknown[] = [];
  while (rest.length < 40 - a!.received) rest.push(await p.mailboxes[0]!.receive({ timeout: 5000 }));
  t.same(rest, Array.from({ length: rest.length }, (_, i) => a!.received + i), "the rest were still there, for whoever takes from the input next");
  await eventually(() => rt.stats().outbox === 0, 5000, "the producer's outbox empty");
  t.equal(p.mailboxes[0]!.depth, 0, "and nothing else");
});

t.test("pipeline - cancelling with an AbortSignal hands back the messages whose handlers gave up", async (t) => {
  const rt = await start(t);
  const input = rt.mailbox("in");
  const dead = rt.mailbox("dead");
  const ac = new AbortController();
  const s = stage(rt, input, (_: number, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))), {
    deadLetter: dead,
    concurrency: 3,
    signal: ac.signal,
  });
  await produce(rt, input, [1, 2, 3, 4, 5]);
  await eventually(() => s.stats().inFlight === 3, 5000, "three taken");
  t.equal(input.depth, 5, "the three taken are leased, still in the mailbox until acked");
  t.equal(rt.stats().mailboxes.in!.leased, 3);
  ac.abort(new Error("shutting down"));
  t.equal(await s.closed, undefined);
  t.match(s.stats(), { received: 3, handedBack: 3, deadLettered: 0, retried: 0, workers: 0 });
  t.equal(input.depth, 5, "all five are in the input mailbox again");
  t.equal(dead.depth, 0, "a cancel is not a failure");
});

t.test("pipeline - a stage on a remote mailbox that does not exist ends with NoSuchMailboxError", async (t) => {
  const owner = await start(t);
  const rt = await start(t);
  const s = stage(rt, `missing@${owner.endpoint}`, (n: number) => n, { deadLetter: `dead@${owner.endpoint}` });
  t.type(await s.closed, NoSuchMailboxError);
  t.equal(s.stats().workers, 0);
});

t.test("pipeline - options are checked, with TypeErrors that name the option and the value", async (t) => {
  const rt = await start(t);
  const mb = rt.mailbox("in");
  const h = (n: number): number => n;
  t.throws(() => stage(rt, mb, h, undefined as never), { code: "ERR_INVALID_ARGUMENT", message: /deadLetter/ });
  t.throws(() => stage(rt, mb, h, {} as never), { message: /Expected `deadLetter`/ });
  t.throws(() => stage(rt, mb, h, { deadLetter: mb, concurrency: 0 }), { message: "Expected `concurrency` to be an integer from 1 and up, got `0` (number)" });
  t.throws(() => stage(rt, mb, h, { deadLetter: mb, to: "nowhere" }), InvalidAddressError);
  t.throws(() => stage(rt, mb, h, { deadLetter: mb, sendTimeout: -5 }), { message: /`sendTimeout`.*`-5` \(number\)/ });
  t.throws(() => stage(rt, mb, h, { deadLetter: mb, workers: 2 } as never), { message: /Unknown stage option `workers`/ });
  t.throws(() => stage(rt, 42 as never, h, { deadLetter: mb }), { message: /`from` to be a Mailbox/ });
  t.throws(() => stage(rt, mb, null as never, { deadLetter: mb }), { message: "Expected `handler` to be a function, got `null` (null)" });
  t.throws(() => pipeline(rt, []), { message: /`stages` to be a non-empty array/ });
  t.throws(() => pipeline(rt, [{ name: "a", handler: h }, { name: "a", handler: h }]), { message: /unique stage names/ });
  t.throws(() => pipeline(rt, [{ name: "a", handler: h, concurrency: 1.5 }]), { message: /`stages\[0\].concurrency`/ });
  await t.rejects(produce(rt, mb, 5 as never), { message: /`source` to be an iterable/ });
  await t.rejects(produce(rt, mb, [1], { until: "sent" as never }), { message: /`until`/ });
  const s = pipeline(rt, [{ name: "ok", handler: h }]);
  t.throws(() => pipeline(rt, [{ name: "ok", handler: h }]), { code: "ERR_MAILBOX_EXISTS" }, "a second pipeline with the same names");
  await s.stop();
});

t.test("pipeline - a consumer process killed with SIGKILL mid-stream: every message forwarded, duplicates only of what the victim held", async (t) => {
  // A stage takes with `ack: "manual"` and acks once its output is stored. What the victim
  // held when it died (leased, not acked: being handled, or forwarded and not yet acked, or in
  // its receive window) comes back to the mailbox once the owner has heard nothing from it for
  // `receiverTimeout`, and the survivor forwards it: every message ends as an output, and only
  // those the victim held (at most its window) may be forwarded twice.
  const window = 4;
  const owner = await start(t, "tcp", { receiverTimeout: 1000 });
  const work = owner.mailbox("work", { capacity: 40 });
  const done = owner.mailbox("done", { capacity: 1000 });
  const dead = owner.mailbox("dead");
  const dir = mkdtempSync(join(tmpdir(), "zmbox-sigkill-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const logOf = (name: string): string => join(dir, `${name}.log`);
  const args = (name: string): string[] => [work.address, done.address, dead.address, logOf(name), String(window), "3"];
  const victim = forkChild(t, fixture("consumer"), args("victim"));
  const survivor = forkChild(t, fixture("consumer"), args("survivor"));
  await Promise.all([nextMessage(victim), nextMessage(survivor)]);

  const N = 400;
  const producing = produce(owner, work, Array.from({ length: N }, (_, i) => ({ i })));
  const byPid = new Map<number, number[]>();
  const collected = new Set<number>();
  let killed = false;
  const readLog = (name: string): number[] => {
    try {
      return readFileSync(logOf(name), "utf8").split("\n").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  // Kill the victim as soon as it has taken 40: it is then most likely in the middle of a
  // message (taken, not forwarded) and holding a window of messages it has not taken.
  let victimExit: Promise<number | string> | undefined;
  const watcher = setInterval(() => {
    if (killed || readLog("victim").length < 40) return;
    victim.kill("SIGKILL");
    killed = true;
    victimExit = exited(victim);
  }, 1);
  t.teardown(() => clearInterval(watcher));
  const collect = (m: { i: number; pid: number }): void => {
    byPid.set(m.pid, [...(byPid.get(m.pid) ?? []), m.i]);
    collected.add(m.i);
  };
  while (collected.size < N) collect((await done.receive({ timeout: 20_000 })) as { i: number; pid: number });
  clearInterval(watcher);
  // A message the victim forwarded and did not ack may still come again: wait until the work
  // mailbox has nothing leased or waiting, then read what else reached `done`.
  await eventually(() => owner.stats().mailboxes.work!.depth === 0, 20_000, "the work mailbox empty, every lease acked");
  for (;;) {
    const m = await done.receive({ timeout: 500 }).catch(() => undefined);
    if (m === undefined) break;
    collect(m as { i: number; pid: number });
  }
  t.equal(await victimExit, "SIGKILL");
  t.equal(await producing, N);
  t.ok(killed, "the victim was killed mid-stream");
  survivor.send("stop");
  t.equal(await exited(survivor), 0, "the survivor stopped and exited on its own");

  const victimLog = readLog("victim");
  const survivorDone = byPid.get(survivor.pid!) ?? [];
  const victimDone = byPid.get(victim.pid!) ?? [];
  t.ok(victimLog.length >= 40 && survivorDone.length > 0, `both worked (victim ${victimLog.length}, survivor ${survivorDone.length})`);
  t.ok(victimDone.every((i) => victimLog.includes(i)), "the victim's results are of messages in its log");
  t.same(readLog("survivor").sort((a, b) => a - b), [...survivorDone].sort((a, b) => a - b), "the survivor forwarded all it took");
  // Processings per message: the victim's log (everything it took) and the survivor's results.
  const count = new Map<number, number>();
  for (const i of [...victimLog, ...survivorDone]) count.set(i, (count.get(i) ?? 0) + 1);
  t.equal(count.size, N, "every message processed at least once");
  t.equal(new Set(victimLog).size, victimLog.length, "the victim took no message twice");
  const twice = [...count].filter(([, n]) => n > 1).map(([i]) => i);
  t.equal(new Set(survivorDone).size, survivorDone.length, "the survivor took no message twice");
  t.ok(twice.length <= window, `at most a window of messages came twice (${twice.length} <= ${window})`);
  t.ok(twice.every((i) => victimLog.includes(i) && survivorDone.includes(i)), "each duplicate is one the victim took and the survivor got back");
  t.comment(
    `victim took ${victimLog.length} and forwarded ${victimDone.length} before it died; survivor took ${survivorDone.length}; ` +
      `twice: ${twice.length} [${twice.join(", ")}]`,
  );
  t.equal(dead.depth, 0, "no dead letters");
  t.equal(owner.stats().mailboxes.work!.depth, 0, "nothing left behind");
});
