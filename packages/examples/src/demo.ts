/**
 * `pnpm demo`: mailboxes across two OS processes.
 *
 * The parent starts a runtime with an `orders` mailbox (capacity 8) and forks a consumer
 * process that takes from it remotely. The parent sends in each `until` mode and prints what
 * each one waited for; the consumer's slowness shows flow control: the producer never gets
 * more than the mailbox's capacity ahead.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Runtime } from "@zmbox/mailbox";
import { exitWithParent } from "./parent.js";

const role = process.argv[2] ?? "producer";

if (role === "consumer") {
  exitWithParent(); // the consumer is forked: it ends with the producer
  // The textbook consumer: while (1) { receive(buffer, mbox); process message; }
  const [ordersAddress, doneAddress] = process.argv.slice(3) as [string, string];
  const rt = await Runtime.start();
  const { receive, send } = rt;
  let taken = 0;
  for (;;) {
    const order = (await receive(ordersAddress)) as { id: number; item: string } | "end";
    if (order === "end") break;
    taken++;
    await new Promise((r) => setTimeout(r, 5)); // a slow consumer: 5 ms an order
  }
  await send({ taken, pid: process.pid }, doneAddress);
  await rt.close();
} else {
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
  const orders = rt.mailbox("orders", { capacity: 8 });
  const done = rt.mailbox("done", { capacity: 1 });
  console.log(`runtime ${rt.id} at ${rt.endpoint}`);
  const child = fork(fileURLToPath(import.meta.url), ["consumer", orders.address, done.address], { stdio: "inherit" });
  const { send } = rt;

  let t = performance.now();
  await send({ id: 0, item: "rutabaga" }, orders, { until: "received" });
  console.log(`until "received": a consumer in process ${child.pid} took order 0 (${(performance.now() - t).toFixed(1)} ms)`);

  t = performance.now();
  await send({ id: 1, item: "turnip" }, orders, { until: "stored" });
  console.log(`until "stored":   order 1 is in the mailbox (${(performance.now() - t).toFixed(1)} ms)`);

  // The textbook producer: while (1) { prepare message; send(msg, mbox); }
  t = performance.now();
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, orders.depth)), 1);
  for (let id = 2; id < 200; id++) await send({ id, item: "parsnip" }, orders, { until: "queued" });
  console.log(`until "queued":   198 orders handed to the local outbox in ${(performance.now() - t).toFixed(1)} ms`);
  t = performance.now();
  await send("end", orders, { until: "stored" });
  clearInterval(sampler);
  console.log(`flow control:     the slow consumer set the pace (${(performance.now() - t).toFixed(0)} ms to drain);`);
  console.log(`                  the mailbox never held more than ${peak} (capacity ${orders.capacity})`);

  const report = (await done.receive({ timeout: 30_000 })) as { taken: number; pid: number };
  console.log(`consumer ${report.pid} took ${report.taken} orders; stats:`, JSON.stringify(rt.stats().mailboxes.orders));
  await new Promise((r) => child.once("exit", r));
  await rt.close();
  console.log("demo done");
}
