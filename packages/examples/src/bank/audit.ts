/**
 * `bank.js audit --coordinator-data DIR --data DIR_A --data DIR_B ...` (with the processes stopped)
 *
 * Reads what every node has on disk and checks the bank as a whole:
 *
 * - money is conserved: the shards' balances sum to what they opened with;
 * - no transaction is in doubt: no shard holds a transfer prepared, no participant log is in
 *   READY, the coordinator's log has nothing undecided (WAIT);
 * - every node that knows a transaction's outcome agrees: the coordinator's log, each shard's
 *   2PC log and each shard's own journal (nodes that forgot it say nothing).
 *
 * Prints `{"ok","total","expectedTotal","inDoubt","disagreements"}`; exits 0 only if ok.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readLog } from "@zmbox/log";
import { summarizeRecords } from "@zmbox/twopc/2pc";
import { readAccounts } from "../accounts.js";
import { lockHolder } from "../lock.js";
import { list, parseFlags, required, UsageError } from "./args.js";
import { TWOPC_DIR } from "./names.js";

export const AUDIT_USAGE = "usage: bank.js audit --coordinator-data DIR --data DIR_A --data DIR_B [...]";

type Outcome = "commit" | "abort";

/** A transaction some node holds unfinished. */
export interface InDoubt {
  readonly txId: string;
  /** e.g. `"shard A"`, `"shard A journal"`, `"coordinator"`. */
  readonly node: string;
  /** `READY` (participant log), `prepared` (journal), `WAIT` (coordinator log). */
  readonly state: string;
}

/** A transaction whose outcome the nodes do not agree on. */
export interface Disagreement {
  readonly txId: string;
  /** What each node that knows says. */
  readonly views: Record<string, Outcome>;
}

/** The audit's verdict. */
export interface AuditReport {
  readonly ok: boolean;
  /** The shards' balances summed. */
  readonly total: number;
  /** What they opened with. */
  readonly expectedTotal: number;
  readonly inDoubt: InDoubt[];
  readonly disagreements: Disagreement[];
}

/**
 * Audits the data directories of a stopped bank.
 *
 * @throws {Error} when a directory is in use by a running process or holds no shard.
 */
export async function audit(coordinatorDir: string, shardDirs: readonly string[]): Promise<AuditReport> {
  for (const dir of [coordinatorDir, ...shardDirs]) {
    const pid = lockHolder(dir);
    if (pid !== undefined) throw new Error(`the data directory ${dir} is in use by process ${pid}: stop the bank before the audit`);
  }
  const views = new Map<string, Record<string, Outcome>>();
  const know = (txId: string, node: string, outcome: Outcome): void => {
    let v = views.get(txId);
    if (v === undefined) views.set(txId, (v = {}));
    v[node] = outcome;
  };
  const inDoubt: InDoubt[] = [];

  const coordinatorLog = summarizeRecords((await readLog(join(coordinatorDir, TWOPC_DIR))).records);
  for (const c of coordinatorLog.coordinator.values()) {
    if (c.phase === "COMMIT") know(c.txId, "coordinator", "commit");
    else if (c.phase === "ABORT") know(c.txId, "coordinator", "abort");
    else if (!c.ended) inDoubt.push({ txId: c.txId, node: "coordinator", state: "WAIT" });
  }

  let total = 0;
  let expectedTotal = 0;
  for (const dir of shardDirs) {
    const accounts = await readAccounts(dir);
    if (accounts === undefined) throw new Error(`${dir} holds no shard (no ${join(dir, "accounts")} journal)`);
    const node = `shard ${accounts.name}`;
    total += Object.values(accounts.balances).reduce((a, b) => a + b, 0);
    expectedTotal += accounts.initialTotal;
    for (const txId of Object.keys(accounts.prepared)) inDoubt.push({ txId, node: `${node} journal`, state: "prepared" });
    for (const [txId, d] of Object.entries(accounts.decided)) know(txId, `${node} journal`, d.outcome);
    const log = summarizeRecords((await readLog(join(dir, TWOPC_DIR))).records);
    for (const w of log.participant.values()) {
      if (w.phase === "READY") inDoubt.push({ txId: w.txId, node, state: "READY" });
      else know(w.txId, node, w.phase === "COMMIT" ? "commit" : "abort");
    }
  }

  const disagreements: Disagreement[] = [];
  for (const [txId, v] of views) if (new Set(Object.values(v)).size > 1) disagreements.push({ txId, views: v });
  return { ok: total === expectedTotal && inDoubt.length === 0 && disagreements.length === 0, total, expectedTotal, inDoubt, disagreements };
}

export async function auditCommand(argv: readonly string[]): Promise<void> {
  const values = parseFlags(argv, { "coordinator-data": { type: "string" }, data: { type: "string", multiple: true } });
  const coordinatorDir = required(values, "coordinator-data");
  const shardDirs = list(values, "data");
  if (shardDirs.length === 0) throw new UsageError("Missing --data (give one per shard)");
  for (const [flag, dir] of [["coordinator-data", coordinatorDir] as const, ...shardDirs.map((d) => ["data", d] as const)]) {
    if (!existsSync(dir)) throw new UsageError(`Expected --${flag} to be an existing data directory, got \`${dir}\``);
  }
  const report = await audit(coordinatorDir, shardDirs);
  console.log(JSON.stringify(report));
  process.exitCode = report.ok ? 0 : 1;
}
