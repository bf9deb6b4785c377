import t from "tap";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError, Runtime } from "@zmbox/mailbox";
import { Coordinator, Participant, type ResourceManager } from "../src/2pc.js";
import { simulateSeed } from "../src/sim.js";
import { parseTraceLines, readTraces, renderMermaid, renderSvg, TraceKind, type TraceEvent } from "../src/trace.js";

const dir = (): string => mkdtempSync(join(tmpdir(), "twopc-trace-"));

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A resource manager voting `vote` (per transaction), remembering what it did. */
function rm(vote: (txId: string) => "commit" | "abort"): ResourceManager & { done: string[] } {
  const done: string[] = [];
  return {
    done,
    prepare: (txId) => vote(txId),
    commit: (txId) => void done.push(`commit ${txId}`),
    abort: (txId) => void done.push(`abort ${txId}`),
  };
}

/**
 * A tiny XML well-formedness check: one root element, tags nested and closed in order,
 * attributes quoted, only the five named entities or character references. Returns the text
 * content of the elements named `text`.
 */
function checkXml(xml: string): string[] {
  const texts: string[] = [];
  let rest = xml.replace(/^<\?xml[^?]*\?>\s*/, "");
  const stack: string[] = [];
  let roots = 0;
  const checkText = (s: string): string => {
    if (/[<>]/.test(s)) throw new Error(`a bare < or > in text: ${s}`);
    const bad = /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.exec(s);
    if (bad) throw new Error(`a bare & in: ${s}`);
    return s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))).replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">");
  };
  while (rest.length > 0) {
    const lt = rest.indexOf("<");
    if (lt < 0) {
      if (rest.trim() !== "") throw new Error(`text after the root: ${rest.slice(0, 40)}`);
      break;
    }
    const text = rest.slice(0, lt);
    if (stack.length === 0 && text.trim() !== "") throw new Error(`text outside the root: ${text}`);
    const decoded = checkText(text);
    if (stack.at(-1) === "text" && decoded.trim() !== "") texts.push(decoded);
    const gt = rest.indexOf(">", lt);
    if (gt < 0) throw new Error("an unclosed tag");
    const tag = rest.slice(lt + 1, gt);
    rest = rest.slice(gt + 1);
    if (tag.startsWith("/")) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${String(open)}>`);
      continue;
    }
    const m = /^([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)$/.exec(tag);
    if (m === null) throw new Error(`a malformed tag: <${tag}>`);
    checkText(m[2]!);
    if (stack.length === 0 && ++roots > 1) throw new Error("more than one root element");
    if (m[3] !== "/") stack.push(m[1]!);
  }
  if (stack.length > 0) throw new Error(`unclosed elements: ${stack.join(", ")}`);
  if (roots !== 1) throw new Error("no root element");
  return texts;
}

t.test("the XML checker refuses what is not well-formed", async (t) => {
  t.same(checkXml(`<svg><text x="1">a &amp; b</text></svg>`), ["a & b"]);
  t.throws(() => checkXml(`<svg><text>a</svg>`));
  t.throws(() => checkXml(`<svg><text x=1>a</text></svg>`));
  t.throws(() => checkXml(`<svg>a & b</svg>`));
  t.throws(() => checkXml(`<svg></svg><svg></svg>`));
});

t.test("a traced 2PC run on the runtime: its events, and both pictures of it", async (t) => {
  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const events: TraceEvent[] = [];
  const trace = (e: TraceEvent): void => void events.push(e);
  const a = rm(() => "commit");
  const b = rm((tx) => (tx === "t2" ? "abort" : "commit"));
  const wa = await Participant.open({ runtime: rt, logDir: dir(), mailbox: "a", resourceManager: a, trace });
  const wb = await Participant.open({ runtime: rt, logDir: dir(), mailbox: "b", resourceManager: b, trace });
  const c = await Coordinator.open({ runtime: rt, logDir: dir(), mailbox: "c", trace });
  const before = Date.now();
  t.equal((await c.transact({ participants: [wa.address, wb.address], txId: "t1" })).committed, true);
  t.equal((await c.transact({ participants: [wa.address, wb.address], txId: "t2" })).committed, false);
  await until(() => a.done.includes("commit t1") && b.done.includes("commit t1") && a.done.includes("abort t2"));
  // The last ACK of t1 reaches the coordinator (it then logs COORD-END).
  await until(() => events.some((e) => e.node === c.address && e.kind === "append" && e.record === "COORD-END" && e.tx === "t1"));
  for (const n of [c, wa, wb]) await n.close();

  const of = (node: string, tx?: string): TraceEvent[] => events.filter((e) => e.node === node && (tx === undefined || e.tx === tx));
  const kinds = (list: TraceEvent[]): string[] =>
    list.map((e) => [e.kind, e.msg ?? e.record ?? e.call ?? "", e.peer ?? "", e.forced === true ? "forced" : "", e.result ?? ""].filter((s) => s !== "").join(" "));
  for (const n of [c, wa, wb]) {
    t.equal(of(n.address)[0]?.kind, TraceKind.Start, `${n.address} starts with a start`);
    t.equal(of(n.address).at(-1)?.kind, TraceKind.Stop, `${n.address} ends with its stop`);
    const ts = of(n.address).map((e) => e.t);
    t.same(ts, [...ts].sort((x, y) => x - y), "a node's times never go back");
  }
  const t1 = events.find((e) => e.tx === "t1")!;
  t.ok(t1.t > before - 60_000 && t1.t < Date.now() + 60_000, "times are epoch ms, so that several processes' traces merge");

  // 2PC at the coordinator: COMMIT durable before GLOBAL-COMMIT goes out.
  const ct1 = kinds(of(c.address, "t1"));
  const durable = ct1.indexOf("durable COORD-COMMIT");
  t.ok(ct1.indexOf("append COORD-COMMIT forced") >= 0 && durable > ct1.indexOf("append COORD-COMMIT forced"), "the commit record is forced, then durable");
  t.ok(ct1.indexOf(`send GLOBAL-COMMIT ${wa.address}`) > durable && ct1.indexOf(`send GLOBAL-COMMIT ${wb.address}`) > durable, "GLOBAL-COMMIT after the durable point");
  t.ok(ct1.includes(`send VOTE-REQ ${wa.address}`) && ct1.includes(`receive VOTE-COMMIT ${wb.address}`));
  t.match(of(c.address, "t1").find((e) => e.kind === "outcome"), { committed: true, reason: "all-voted-commit" });
  t.match(of(c.address, "t2").find((e) => e.kind === "outcome"), { committed: false, reason: "voted-abort" });
  // At a participant: prepare, READY forced and durable, then the vote.
  const at1 = kinds(of(wa.address, "t1"));
  t.same(at1.slice(0, 2), [`receive VOTE-REQ ${c.address}`, "rm-call prepare"]);
  const ready = at1.indexOf("durable WORKER-READY");
  t.ok(at1.indexOf("rm-result prepare commit") < at1.indexOf("append WORKER-READY forced") && ready > 0, "prepare, then READY forced");
  t.ok(at1.indexOf(`send VOTE-COMMIT ${c.address}`) > ready, "the vote after READY is durable");
  t.ok(kinds(of(wb.address, "t2")).includes(`send VOTE-ABORT ${c.address}`));
  t.ok(kinds(of(wa.address, "t2")).includes("rm-result abort aborted"));
  t.ok(events.some((e) => e.kind === "timer-set" && e.node === c.address && e.timer === "vote"), "timers are traced");

  const sends = events.filter((e) => e.kind === "send");
  const labels = new Set(sends.map((e) => `${e.msg!} ${e.tx!}`));
  for (const l of ["VOTE-REQ t1", "VOTE-COMMIT t1", "GLOBAL-COMMIT t1", "ACK t1", "VOTE-REQ t2", "VOTE-ABORT t2", "GLOBAL-ABORT t2"]) t.ok(labels.has(l), `${l} was sent`);

  const svg = renderSvg(events);
  const texts = checkXml(svg);
  t.notMatch(svg, /<script|@import|url\(http/i, "nothing external");
  for (const name of ["a", "b", "c"]) t.ok(texts.includes(name), `the lane of ${name} is titled`);
  for (const l of labels) t.ok(texts.includes(l), `the SVG labels ${l}`);
  t.ok(texts.includes("COMMITTED t1 (all-voted-commit)") && texts.includes("ABORTED t2 (voted-abort)"), "outcomes are marked");
  t.ok(texts.some((s) => s.startsWith("force WORKER-READY")), "forced writes are marked");

  const mmd = renderMermaid(events);
  const lines = mmd.split("\n");
  t.equal(lines[0], "sequenceDiagram");
  t.same(lines.slice(1, 4), ["  participant n0 as c", "  participant n1 as a", "  participant n2 as b"], "the coordinator's lane first");
  const id: Record<string, string> = { [c.address]: "n0", [wa.address]: "n1", [wb.address]: "n2" };
  for (const s of sends) t.ok(lines.includes(`  ${id[s.node]}->>${id[s.peer!]}: ${s.msg!} ${s.tx!}`), `an arrow for ${s.msg!} ${s.tx!} from ${s.node}`);
  t.ok(lines.includes("  Note over n0: force COORD-COMMIT t1"));
  t.notOk(mmd.includes("-x"), "no message was lost");

  // Only t2: t1's messages are left out.
  const only = renderMermaid(events, { txIds: ["t2"] });
  t.notOk(only.includes("GLOBAL-COMMIT"));
  t.ok(only.includes("n0->>n2: VOTE-REQ"), "one transaction's labels need no tx id");
});

t.test("nodes traced to a directory write one JSON-lines file each, which the CLI draws", async (t) => {
  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const traces = join(dir(), "run1");
  const a = rm(() => "commit");
  const wa = await Participant.open({ runtime: rt, logDir: dir(), mailbox: "a", resourceManager: a, trace: traces });
  const c = await Coordinator.open({ runtime: rt, logDir: dir(), mailbox: "c", trace: traces });
  await c.transact({ participants: [wa.address], txId: "t1" });
  await until(() => a.done.includes("commit t1"));
  await c.close();
  await wa.close();
  t.same(readdirSync(traces).sort(), ["a.trace.jsonl", "c.trace.jsonl"]);
  const read = await readTraces([traces]);
  t.same(read.skipped, []);
  t.ok(read.events.some((e) => e.node === c.address && e.kind === "outcome" && e.committed === true));
  t.ok(read.events.filter((e) => e.kind === "stop").length === 2, "flushed on close, up to the stop");

  const out = join(dir(), "pictures");
  const cli = fileURLToPath(new URL("../dist/cli/twopc-trace.js", import.meta.url));
  const run = spawnSync(process.execPath, [cli, traces, "--out", out], { encoding: "utf8" });
  t.equal(run.status, 0, run.stderr);
  t.ok(readFileSync(join(out, "run.mmd"), "utf8").includes("n0->>n1: VOTE-REQ"));
  t.ok(checkXml(readFileSync(join(out, "run.svg"), "utf8")).includes("GLOBAL-COMMIT"));

  const usage = spawnSync(process.execPath, [cli, traces], { encoding: "utf8" });
  t.equal(usage.status, 2, "no --out: usage");
  const missing = spawnSync(process.execPath, [cli, join(traces, "nope"), "--out", out], { encoding: "utf8" });
  t.equal(missing.status, 1);
  t.match(missing.stderr, /Expected `.*nope` to be a trace file or a directory of them/);
});

t.test("a start after a node's events without a stop is drawn as a crash, a stop then a start is not", async (t) => {
  const c = "c@inproc://x";
  const w = "w1@inproc://x";
  const events: TraceEvent[] = [
    { t: 1, node: c, kind: "start", records: 0 },
    { t: 1, node: w, kind: "start", records: 0 },
    { t: 2, node: c, kind: "send", tx: "t1", msg: "VOTE-REQ", peer: w },
    { t: 3, node: w, kind: "receive", tx: "t1", msg: "VOTE-REQ", peer: c },
    { t: 3, node: w, kind: "append", tx: "t1", record: "WORKER-READY", forced: true },
    { t: 9, node: c, kind: "timeout", tx: "t1", timer: "vote" },
    { t: 9, node: c, kind: "send", tx: "t1", msg: "GLOBAL-ABORT", peer: w },
    { t: 20, node: w, kind: "start", records: 1 },
    { t: 20, node: w, kind: "recovered", tx: "t1", phase: "READY" },
    { t: 30, node: c, kind: "stop", error: "closed" },
    { t: 40, node: c, kind: "start", records: 1 },
  ];
  const mmd = renderMermaid(events);
  t.same(mmd.match(/CRASH/g), ["CRASH"], "one crash: w1's, not the coordinator's stop and start");
  t.match(mmd, /Note over n1: CRASH \(inferred[^\n]*\n {2}Note over n1: start: 1 log records\n {2}Note over n1: recovered t1: READY/);
  t.match(mmd, "n0-xn1: GLOBAL-ABORT (lost)");
  t.match(mmd, "Note over n0: timeout: vote");
  const texts = checkXml(renderSvg(events));
  t.ok(texts.some((s) => s.startsWith("CRASH (inferred")));
  t.ok(texts.includes("GLOBAL-ABORT (lost)"));
  t.ok(texts.includes("timeout: vote"));
});

t.test("the simulator traces crashes through the same port", async (t) => {
  const events: TraceEvent[] = [];
  // Seed 750: w1 crashes before its WORKER-COMMIT is durable, restarts READY and asks.
  const result = await simulateSeed(750, { onTrace: (e) => events.push(e) });
  t.ok(result.ok);
  t.ok(events.some((e) => e.kind === "crash"), "a crash is reported");
  const mmd = renderMermaid(events);
  t.match(mmd, /CRASH[\s\S]*recovered tx1: READY[\s\S]*DECISION-REQ[\s\S]*DECISION commit/);
  t.ok(checkXml(renderSvg(events)).includes("CRASH"));
});

t.test("bad input: clear errors, bad trace lines skipped", async (t) => {
  t.throws(() => renderSvg(5 as never), new InvalidArgumentError("Expected `events` to be an array of trace events, got `5` (number)"));
  t.throws(() => renderMermaid([{ t: "x", node: "a", kind: "start" } as never]), new InvalidArgumentError("Expected `events[0].t` to be a finite number, got `x` (string)"));
  t.throws(() => renderMermaid([{ t: 1, node: "a", kind: "boom" } as never]), /Expected `events\[0\].kind` to be one of start, /);
  t.throws(() => renderSvg([], { txIds: "t1" as never }), /Expected `txIds` to be an array of transaction ids/);
  t.equal(checkXml(renderSvg([])).length > 0, true, "an empty run is still a picture (its legend)");

  const skipped: string[] = [];
  const good = JSON.stringify({ t: 1, node: "a", kind: "start" });
  t.equal(parseTraceLines(`${good}\n{"t":2,"node":"a","ki`, "a.trace.jsonl", skipped).length, 1, "a torn last line is skipped");
  t.match(skipped, [/^a.trace.jsonl:2: /]);

  const rt = await Runtime.start();
  t.teardown(() => rt.close());
  const notDir = join(dir(), "file");
  writeFileSync(notDir, "");
  await t.rejects(Participant.open({ runtime: rt, logDir: dir(), mailbox: "a", resourceManager: rm(() => "commit"), trace: 5 as never }), {
    name: "InvalidArgumentError",
    message: "Expected `trace` to be a function or a directory path, got `5` (number)",
  });
  await t.rejects(Coordinator.open({ runtime: rt, logDir: dir(), mailbox: "c", trace: notDir }), { name: "InvalidArgumentError", message: /Expected `trace` to be a directory path/ });

  // A trace function that throws loses its events, nothing else.
  const a = rm(() => "commit");
  const wa = await Participant.open({ runtime: rt, logDir: dir(), mailbox: "a2", resourceManager: a, trace: () => { throw new Error("broken"); } });
  const c = await Coordinator.open({ runtime: rt, logDir: dir(), mailbox: "c2", trace: () => { throw new Error("broken"); } });
  t.equal((await c.transact({ participants: [wa.address] })).committed, true);
  await c.close();
  await wa.close();
});
