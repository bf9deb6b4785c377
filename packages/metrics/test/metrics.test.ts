import t from "tap";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { Runtime } from "@zmbox/mailbox";
import { Coordinator, Participant } from "@zmbox/twopc";
import { ZmboxMetrics, serveMetrics } from "../src/index.js";

/** The value of one sample line, `name{labels} value`, from a scrape. */
function sample(text: string, name: string, labels: Record<string, string | number> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const have = (match[3] ?? "").split(",");
    if (wanted.every((w) => have.includes(w))) return Number(match[4]);
  }
  return undefined;
}

t.test("metrics - a scrape of a running runtime and 2PC nodes shows mailbox, message and 2PC figures", async (t) => {
  const owner = await Runtime.start();
  const sender = await Runtime.start();
  t.teardown(async () => {
    await sender.close();
    await owner.close();
  });
  const inbox = owner.mailbox("inbox", { capacity: 50 });
  for (let i = 0; i < 3; i++) await sender.send({ i }, inbox.address);
  await inbox.receive();

  const logs = mkdtempSync(join(tmpdir(), "zmbox-metrics-"));
  const participant = await Participant.open({
    runtime: owner,
    logDir: join(logs, "p"),
    mailbox: "bank-a",
    resourceManager: { prepare: () => "commit", commit: () => {}, abort: () => {} },
  });
  const coordinator = await Coordinator.open({ runtime: sender, logDir: join(logs, "c"), mailbox: "coordinator" });
  t.teardown(async () => {
    await coordinator.close();
    await participant.close();
  });
  const outcome = await coordinator.transact({ participants: [participant.address] });
  t.equal(outcome.committed, true);

  const metrics = new ZmboxMetrics().watchRuntime(owner).watchRuntime(sender).watchNode(coordinator).watchNode(participant);
  const server = await serveMetrics(metrics, { port: 0 });
  t.teardown(() => server.close());
  const response = await fetch(server.url);
  t.equal(response.status, 200);
  t.match(response.headers.get("content-type"), /^text\/plain/);
  const text = await response.text();

  const mb = { runtime: owner.endpoint, mailbox: "inbox" };
  t.equal(sample(text, "zmbox_mailbox_depth", mb), 2, "two of three messages are still in the mailbox");
  t.equal(sample(text, "zmbox_mailbox_capacity", mb), 50);
  t.ok((sample(text, "zmbox_mailbox_credit_outstanding", mb) ?? -1) >= 0, "credit outstanding is shown");
  t.ok((sample(text, "zmbox_messages_sent_total", { runtime: sender.endpoint }) ?? 0) >= 3, "the sender counts what it sent");
  t.ok((sample(text, "zmbox_messages_stored_total", { runtime: owner.endpoint }) ?? 0) >= 3, "the owner counts what it stored");
  t.equal(sample(text, "zmbox_channel_messages_sent_total", { runtime: sender.endpoint, destination: `inbox@${owner.endpoint}` }), 3, "and per destination");
  t.equal(sample(text, "zmbox_channel_messages_retransmitted_total", { runtime: sender.endpoint, destination: `inbox@${owner.endpoint}` }), 0, "nothing sent again");
  t.match(text, /# TYPE zmbox_refused_total counter/);
  t.equal(sample(text, "zmbox_mailbox_leased", mb), 0, "no manual-ack delivery out");
  t.match(text, /# TYPE zmbox_mailbox_redelivered_total counter/);
  t.equal(sample(text, "zmbox_twopc_outcomes_total", { node: coordinator.address, outcome: "committed" }), 1, "one commit at the coordinator");
  t.equal(sample(text, "zmbox_twopc_in_doubt", { node: participant.address }), 0);
  t.ok((sample(text, "zmbox_log_syncs_total", { node: participant.address }) ?? 0) >= 1, "the participant forced its READY");
  t.match(text, /# TYPE zmbox_log_sync_seconds histogram/);
  const syncs = sample(text, "zmbox_log_sync_seconds_count", { node: participant.address }) ?? 0;
  t.ok(syncs >= 1, `sync latency observed (${syncs})`);
  t.equal(sample(text, "zmbox_log_sync_seconds_bucket", { node: participant.address, le: "+Inf" }), syncs, "the +Inf bucket holds every sync");

  // The figures are read at scrape time: a later scrape sees later work.
  await inbox.receive();
  t.equal(sample(await metrics.metrics(), "zmbox_mailbox_depth", mb), 1);
  const missing = await fetch(server.url.replace("/metrics", "/other"));
  t.equal(missing.status, 404);
});

t.test("metrics - bad input is refused with what was expected", async (t) => {
  t.throws(() => new ZmboxMetrics({ prefix: "9bad" }), { name: "TypeError", message: /`prefix`/ });
  t.throws(() => new ZmboxMetrics({ registry: {} as never }), /prom-client Registry/);
  t.throws(() => new ZmboxMetrics().watchRuntime({} as never), /mailbox Runtime/);
  t.throws(() => new ZmboxMetrics().watchNode({} as never), /2PC node/);
  await t.rejects(serveMetrics(new ZmboxMetrics(), { port: 70000 }), /`port`/);
  await t.rejects(serveMetrics({} as never), /ZmboxMetrics or a prom-client Registry/);
  const registry = new Registry();
  const joined = new ZmboxMetrics({ registry, prefix: "app_zmbox_" });
  t.equal(joined.registry, registry, "joins the registry it is given");
  t.match(await registry.metrics(), /app_zmbox_mailbox_depth/);
});
