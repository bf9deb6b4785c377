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
 * With no command, a short demo: two shards and a coordinator as child processes, a load, a
 * clean stop, and an audit.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "./bank/args.js";
import { AUDIT_USAGE, auditCommand } from "./bank/audit.js";
import { exited, freePorts, startCommand, stop, whenReady } from "./bank/children.js";
import { COORDINATOR_USAGE, coordinator } from "./bank/coordinator.js";
import { LOAD_USAGE, load } from "./bank/load.js";
import { SHARD_USAGE, shard } from "./bank/shard.js";
import { exitWithParent } from "./parent.js";

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

/** Two shards and a coordinator as child processes, a load, a clean stop, an audit. */
async function demo(): Promise<void> {
  exitWithParent();
  const dir = mkdtempSync(join(tmpdir(), "zmbox-bank-"));
  const [c, a, b] = (await freePorts(3)).map((p) => `tcp://127.0.0.1:${p}`) as [string, string, string];
  const data = { a: join(dir, "a"), b: join(dir, "b"), c: join(dir, "coordinator") };
  const shards = [
    startCommand(["shard", "--name", "A", "--listen", a, "--data", data.a, "--accounts", "4", "--initial", "100"]),
    startCommand(["shard", "--name", "B", "--listen", b, "--data", data.b, "--accounts", "4", "--initial", "100"]),
  ];
  const coord = startCommand(["coordinator", "--listen", c, "--data", data.c, "--shard", `A=${a}`, "--shard", `B=${b}`]);
  let code = 0;
  try {
    await Promise.all([...shards.map((s, i) => whenReady(s, `shard ${"AB"[i]}`)), whenReady(coord, "coordinator")]);
    console.log(`demo: shards A (pid ${shards[0]!.pid}) and B (pid ${shards[1]!.pid}), coordinator (pid ${coord.pid}); data in ${dir}`);

    // The load and the audit are commands too; each prints one JSON line.
    const loaded = await run(["load", "--coordinator", c, "--transfers", "40", "--concurrency", "4", "--seed", "7", "--accounts", "4", "--max-amount", "120"]);
    console.log(`demo: load ${loaded.out} (exit ${loaded.code})`);
    if (loaded.code !== 0) code = 1;
  } catch (error) {
    console.error("demo:", (error as Error).message);
    code = 1;
  } finally {
    const exits = await Promise.all([stop(coord), ...shards.map((s) => stop(s))]);
    console.log(`demo: stopped (exit codes ${exits.join(", ")})`);
    if (exits.some((e) => e !== 0)) code = 1;
  }
  if (code === 0) {
    const { code: exit, out } = await run(["audit", "--coordinator-data", data.c, "--data", data.a, "--data", data.b]);
    console.log(`demo: audit ${out} (exit ${exit})`);
    const report = JSON.parse(out) as { ok: boolean; total: number; expectedTotal: number };
    console.log(`demo: balances total ${report.total} (was ${report.expectedTotal}): ${report.ok ? "money conserved, nothing in doubt" : "AUDIT FAILED"}`);
    if (exit !== 0) code = 1;
  }
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = code;
}

/** Runs a command to its end: its exit code and what it printed. */
async function run(args: string[]): Promise<{ code: number | string; out: string }> {
  const child = startCommand(args, ["ignore", "pipe", "inherit", "ipc"]);
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  const code = await exited(child);
  return { code, out: out.trim() };
}
