/**
 * A bank on two-phase commit, as separate long-running processes:
 *
 *   node packages/examples/dist/bank.js shard --name A --listen tcp://127.0.0.1:7101 --data ./data/a
 *   node packages/examples/dist/bank.js shard --name B --listen tcp://127.0.0.1:7102 --data ./data/b
 *   node packages/examples/dist/bank.js coordinator --listen tcp://127.0.0.1:7100 --data ./data/c \
 *        --shard A=tcp://127.0.0.1:7101 --shard B=tcp://127.0.0.1:7102
 *   node packages/examples/dist/bank.js load --coordinator tcp://127.0.0.1:7100 --transfers 1000
 *   (stop them with Ctrl-C or SIGTERM, then)
 *   node packages/examples/dist/bank.js audit --coordinator-data ./data/c --data ./data/a --data ./data/b
 *
 *        load ──transfer──> coordinator ──2PC──> shard A (accounts A:0..A:9)
 *                           (2pc log)    └─2PC─> shard B (accounts B:0..B:9)
 *
 * Each shard keeps its accounts with {@link Accounts} (the resource manager) and a 2PC log;
 * the coordinator keeps its 2PC log. Kill any of them with SIGKILL at any moment and start it
 * again with the same flags: nothing it acknowledged is lost. `packages/examples/README.md`
 * gives every flag and output.
 *
 * With no command, a short demo: two shards and a coordinator as child processes, shard B
 * SIGKILLed in READY and restarted, a load, a clean stop, an audit, and pictures of the crash.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "./bank/args.js";
import { AUDIT_USAGE, auditCommand } from "./bank/audit.js";
import { exited, freePorts, startCommand, stop, whenReady } from "./bank/children.js";
import { COORDINATOR_USAGE, coordinator } from "./bank/coordinator.js";
import { LOAD_USAGE, load } from "./bank/load.js";
import { SHARD_USAGE, shard } from "./bank/shard.js";
import { exitWithParent } from "./parent.js";
import { progress, type Progress } from "./progress.js";
import { readLog } from "@zmbox/log";
import { readTraces, renderMermaid, renderSvg } from "@zmbox/twopc/trace";
import { TWOPC_DIR } from "./bank/names.js";

const commands: Record<string, { run: (argv: readonly string[]) => Promise<void>; usage: string }> = {
  shard: { run: shard, usage: SHARD_USAGE },
  coordinator: { run: coordinator, usage: COORDINATOR_USAGE },
  load: { run: load, usage: LOAD_USAGE },
  audit: { run: auditCommand, usage: AUDIT_USAGE },
};

const USAGE = `usage: bank.js [shard|coordinator|load|audit] [flags]   (no command: a short demo)\n${Object.values(commands)
  .map((c) => `  ${c.usage}`)
  .join("\n")}`;

const [command, ...argv] = process.argv.slice(2);
if (command === undefined) {
  await demo();
} else if (command === "--help" || command === "-h") {
  console.log(USAGE);
} else {
  const chosen = commands[command];
  if (chosen === undefined) {
    console.error(`bank.js: unknown command \`${command}\`\n${USAGE}`);
    process.exit(2);
  }
  try {
    await chosen.run(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`bank.js ${command}: ${error.message}\n${chosen.usage}`);
      process.exit(2);
    }
    console.error(`bank.js ${command}: ${(error as Error).message}`);
    process.exit(1);
  }
}

/**
 * Two shards and a coordinator as child processes. First, one transfer with a crash where 2PC
 * is weakest: shard B is SIGKILLed in READY (it voted commit, the decision has not come), the
 * coordinator commits while B is down, and B, restarted with the same flags, finds the
 * transaction in its log, asks, and commits it. Then a load, a clean stop, an audit, and
 * pictures of the crash drawn from the nodes' traces.
 */
async function demo(): Promise<void> {
  exitWithParent();
  const dir = mkdtempSync(join(tmpdir(), "zmbox-bank-"));
  // Kept after the demo: the nodes' traces and the pictures drawn from them.
  const pictures = mkdtempSync(join(tmpdir(), "zmbox-bank-pictures-"));
  const traces = join(pictures, "traces");
  const [c, a, b] = (await freePorts(3)).map((p) => `tcp://127.0.0.1:${p}`) as [string, string, string];
  const data = { a: join(dir, "a"), b: join(dir, "b"), c: join(dir, "coordinator") };
  const shardArgs = (name: string, listen: string, at: string): string[] =>
    ["shard", "--name", name, "--listen", listen, "--data", at, "--accounts", "4", "--initial", "100", "--trace", traces];
  const shards = [startCommand(shardArgs("A", a, data.a)), startCommand(shardArgs("B", b, data.b))];
  const coord = startCommand(["coordinator", "--listen", c, "--data", data.c, "--shard", `A=${a}`, "--shard", `B=${b}`, "--vote-timeout", "20000", "--trace", traces]);
  const show = progress("demo: ");
  let code = 0;
  let crashed: string | undefined;
  try {
    show.step("starting shards A and B and a coordinator");
    await Promise.all([...shards.map((s, i) => whenReady(s, `shard ${"AB"[i]}`)), whenReady(coord, "coordinator")]);
    show.log(`shards A (pid ${shards[0]!.pid}) and B (pid ${shards[1]!.pid}), coordinator (pid ${coord.pid}); data in ${dir}`);

    crashed = await killInReady(show, shards, { c, b, data: data.b, restart: () => startCommand(shardArgs("B", b, data.b)) });

    // The load and the audit are commands too; each prints one JSON line.
    show.step("load: 30 transfers, 4 at a time");
    const loaded = await run(["load", "--coordinator", c, "--transfers", "30", "--concurrency", "4", "--seed", "7", "--accounts", "4", "--max-amount", "120"]);
    show.log(`load ${loaded.out} (exit ${loaded.code})`);
    if (loaded.code !== 0) code = 1;
  } catch (error) {
    show.log(`FAILED: ${(error as Error).message}`);
    code = 1;
  } finally {
    show.step("stopping every process (SIGTERM)");
    const exits = await Promise.all([stop(coord), ...shards.map((s) => stop(s))]);
    show.log(`stopped (exit codes ${exits.join(", ")})`);
    if (exits.some((e) => e !== 0)) code = 1;
  }
  if (code === 0) {
    show.step("audit");
    const { code: exit, out } = await run(["audit", "--coordinator-data", data.c, "--data", data.a, "--data", data.b]);
    show.log(`audit ${out} (exit ${exit})`);
    const report = JSON.parse(out) as { ok: boolean; total: number; expectedTotal: number };
    show.log(`balances total ${report.total} (was ${report.expectedTotal}): ${report.ok ? "money conserved, nothing in doubt" : "AUDIT FAILED"}`);
    if (exit !== 0) code = 1;
  }
  if (crashed !== undefined) {
    show.step("drawing the crash");
    const { events } = await readTraces([traces]);
    const only = { txIds: [crashed] };
    writeFileSync(join(pictures, "ready-crash.svg"), renderSvg(events, only));
    writeFileSync(join(pictures, "ready-crash.mmd"), renderMermaid(events, only));
    show.log(`pictures of ${crashed} (shard B killed in READY): ${join(pictures, "ready-crash.svg")} and ${join(pictures, "ready-crash.mmd")}`);
    show.log(`the whole run: pnpm twopc-trace ${traces} --out ${pictures}   (one trace per node, JSON lines, from --trace)`);
  }
  show.end();
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = code;
}

/** The first transaction in a participant's log that is in READY (promised, no outcome). */
async function readyIn(dataDir: string): Promise<string | undefined> {
  const { records } = await readLog<{ type: string; txId: string }>(join(dataDir, TWOPC_DIR));
  const ready = new Set<string>();
  for (const r of records) {
    if (r.type === "WORKER-READY") ready.add(r.txId);
    else ready.delete(r.txId);
  }
  return ready.values().next().value;
}

/** Whether a participant's log has committed `txId`. */
async function committedIn(dataDir: string, txId: string): Promise<boolean> {
  const { records } = await readLog<{ type: string; txId: string }>(join(dataDir, TWOPC_DIR));
  return records.some((r) => r.type === "WORKER-COMMIT" && r.txId === txId);
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await check();
    if (found !== undefined && found !== false) return found;
    if (Date.now() > deadline) throw new Error(`gave up after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * One transfer between A and B with B SIGKILLed in READY. Shard A is paused (SIGSTOP) so that
 * the coordinator waits for its vote: B votes commit, and is killed before any decision can
 * exist. Returns the transaction id.
 */
async function killInReady(
  show: Progress,
  shards: ChildProcess[],
  o: { c: string; b: string; data: string; restart: () => ChildProcess },
): Promise<string> {
  const [shardA, shardB] = shards as [ChildProcess, ChildProcess];
  show.step("one transfer; shard A paused (SIGSTOP), so the coordinator waits for its vote");
  shardA.kill("SIGSTOP");
  let transfer: Promise<{ code: number | string; out: string }> | undefined;
  try {
    transfer = run(["load", "--coordinator", o.c, "--transfers", "1", "--seed", "3", "--accounts", "4", "--max-amount", "10"]);
    show.step("waiting for shard B to vote commit (WORKER-READY forced to its log)");
    const txId = await waitFor("shard B's READY record", () => readyIn(o.data));
    await new Promise((r) => setTimeout(r, 300)); // its VOTE-COMMIT leaves once READY is durable
    await stop(shardB, "SIGKILL");
    show.log(`shard B SIGKILLed in READY: it voted commit for ${txId}, and no decision exists yet`);
    shardA.kill("SIGCONT");
    show.step("shard A resumed (SIGCONT): it votes, and the coordinator commits with B down");
    const done = await transfer;
    transfer = undefined;
    show.log(`the transfer: ${done.out} (exit ${done.code})`);
    if (done.code !== 0 || !done.out.includes('"committed":1')) throw new Error(`the transfer did not commit: ${done.out}`);
    show.step("restarting shard B with the same flags");
    const restarted = o.restart();
    shards[1] = restarted;
    await whenReady(restarted, "shard B");
    show.step(`shard B recovers ${txId} from its log in READY, asks the coordinator, and commits`);
    await waitFor(`shard B to commit ${txId}`, () => committedIn(o.data, txId));
    show.log(`shard B restarted (pid ${restarted.pid}): found ${txId} in READY, asked the coordinator, committed it`);
    return txId;
  } finally {
    shardA.kill("SIGCONT");
    await transfer?.catch(() => undefined);
  }
}

/** Runs a command to its end: its exit code and what it printed. */
async function run(args: string[]): Promise<{ code: number | string; out: string }> {
  const child = startCommand(args, ["ignore", "pipe", "inherit", "ipc"]);
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  const code = await exited(child);
  return { code, out: out.trim() };
}
