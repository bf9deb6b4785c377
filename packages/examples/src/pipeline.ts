/**
 * A producer-consumer pipeline across three OS processes.
 *
 *   main process                      square process               format process (slow)
 *   producer loop --> [numbers] ---> stage "square" ---------> [squares] --> stage "format" --+
 *                        ^   (remote receive: it takes        (its own       (5 ms a message) |
 *                        |    from main's mailbox)             mailbox)                       |
 *   consumer loop <-- [results] <-------------------------------------------------------------+
 *   dead letters  <-- [dead]    <-- stage "square" throws on 13
 *
 * The producer and the last consumer are the textbook loops, written as they are:
 *   while (...) await send(msg, mbox);        while (...) await receive(mbox);
 * Every mailbox has a small capacity, so the slow last stage sets the pace of the producer,
 * and no queue anywhere grows past its capacity. This program is the main process; it forks
 * itself for the other two (`pipeline.js square ...`, `pipeline.js format ...`).
 */
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { Runtime } from "@zmbox/mailbox";
import { isDeadLetter, stage } from "@zmbox/twopc";
import { exitWithParent } from "./parent.js";

const N = 60;
const role = process.argv[2] ?? "main";
if (role !== "main") exitWithParent(); // a forked stage ends with the main process
if (role === "square") await square(...(process.argv.slice(3) as [string, string, string]));
else if (role === "format") await format(...(process.argv.slice(3) as [string, string]));
else await main();

/** Stage 1, in its own process: takes from main's `numbers` mailbox (a remote receive). */
async function square(numbers: string, squares: string, dead: string): Promise<void> {
  const rt = await Runtime.start();
  const s = stage(rt, numbers, (n: number) => {
    if (n === 13) throw Object.assign(new Error("13 is unlucky"), { code: "EUNLUCKY" });
    return { n, square: n * n };
  }, { name: "square", to: squares, deadLetter: dead, concurrency: 2 });
  process.send!({ ready: true });
  await once(process, "message"); // "stop"
  const stats = await s.stop();
  console.log(`square: stopped (${stats.received} taken, ${stats.forwarded} forwarded, ${stats.deadLettered} dead-lettered)`);
  await rt.close();
  process.disconnect();
}

/** Stage 2, in its own process: owns the `squares` mailbox, slow on purpose. */
async function format(results: string, dead: string): Promise<void> {
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
  const squares = rt.mailbox("squares", { capacity: 4 });
  const s = stage(rt, squares, async (m: { n: number; square: number }) => {
    await new Promise((r) => setTimeout(r, 5));
    return `${m.n}² = ${m.square}`;
  }, { name: "format", to: results, deadLetter: dead, concurrency: 1 });
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, squares.depth)), 1);
  process.send!({ address: squares.address });
  await once(process, "message"); // "stop": upstream has stopped, so empty the mailbox and end
  const stats = await s.drain({ idleTimeout: 100 });
  clearInterval(sampler);
  console.log(`format: drained (${stats.received} taken); squares mailbox peaked at ${peak}/${squares.capacity}`);
  await rt.close();
  process.disconnect();
}

function readyOrExit<T>(child: ChildProcess): Promise<T> {
  return Promise.race([
    once(child, "message").then(([m]) => m as T),
    once(child, "exit").then(([code]) => Promise.reject(new Error(`a stage process exited (${code}) before it was ready`))),
  ]);
}

async function stopChild(child: ChildProcess): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
  const exit = once(child, "exit").then(([code, signal]) => (code ?? signal) as number | string | null);
  if (child.connected) child.send("stop");
  return await exit;
}

async function main(): Promise<void> {
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
  const { send, receive } = rt;
  const numbers = rt.mailbox("numbers", { capacity: 4 });
  const results = rt.mailbox("results", { capacity: 4 });
  const dead = rt.mailbox("dead", { capacity: 10 });
  const self = fileURLToPath(import.meta.url);
  const formatter = fork(self, ["format", results.address, dead.address], { stdio: "inherit" });
  let squarer: ChildProcess | undefined;
  let code = 0;
  try {
    const { address: squares } = await readyOrExit<{ address: string }>(formatter);
    squarer = fork(self, ["square", numbers.address, squares, dead.address], { stdio: "inherit" });
    await readyOrExit(squarer);
    console.log(`main: square in process ${squarer.pid}, format in process ${formatter.pid}`);

    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, numbers.depth, results.depth)), 1);
    let consumed = 0;
    // The textbook consumer: while (1) { receive(buffer, mbox); process message; }
    const consumer = (async () => {
      while (consumed < N - 1) {
        const line = (await receive(results, { timeout: 20_000 })) as string;
        consumed++;
        if (consumed % 15 === 0) console.log(`main: result ${consumed}: ${line}`);
      }
    })();
    // The textbook producer: while (1) { prepare message; send(msg, mbox); }
    const started = performance.now();
    let n = 1;
    while (n <= N) {
      await send(n, numbers); // until "stored": waits while the pipeline is full
      if (n % 15 === 0) console.log(`main: sent ${n}, ${consumed} through the whole pipeline so far`);
      n++;
    }
    console.log(`main: all ${N} sent after ${(performance.now() - started).toFixed(0)} ms: the slow stage set the pace`);
    await consumer;
    const letter = await receive(dead, { timeout: 20_000 });
    if (!isDeadLetter(letter)) throw new Error("expected a dead letter");
    console.log(`main: dead letter from stage "${letter.stage}": ${JSON.stringify(letter.message)} failed with ${letter.error.code}: ${letter.error.message}`);
    clearInterval(sampler);
    console.log(`main: ${consumed} results + 1 dead letter = ${N} messages; main's mailboxes peaked at ${peak}/4`);
  } catch (error) {
    console.error("main:", error);
    code = 1;
  } finally {
    // Stop front to back: the first stage stops taking, then the second drains what is left.
    const exits = [squarer ? await stopChild(squarer) : 0, await stopChild(formatter)];
    console.log(`main: stage processes exited with ${exits.join(", ")}`);
    await rt.close();
    if (exits.some((e) => e !== 0)) code = 1;
  }
  process.exitCode = code;
}
