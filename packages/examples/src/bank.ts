/**
 * Two-phase commit across three OS processes: a coordinator (this process) moves money
 * between accounts held by two banks (two child processes, each a 2PC participant with its
 * own stable log). A transfer commits at both banks or at neither.
 *
 * Each bank's resource manager isolates concurrent transfers with locks (a transfer that
 * finds an account locked votes abort, and the caller retries), keeps balances and promises
 * in a file it writes before voting, and makes commit and abort idempotent, as 2PC requires.
 *
 *   node packages/examples/dist/bank.js
 */
import { fork, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, fsyncSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Runtime } from "@zmbox/mailbox";
import { Coordinator, Participant, type ResourceManager } from "@zmbox/twopc";

interface Move {
  bank: string;
  account: string;
  delta: number;
}

interface BankState {
  balances: Record<string, number>;
  /** Promised transfers (voted commit), not yet decided: their accounts are locked. */
  prepared: Record<string, Move[]>;
}

/** A bank's resource manager: balances and promises in one JSON file, replaced atomically. */
function bank(name: string, file: string, opening: Record<string, number>): ResourceManager & { state: BankState } {
  const state: BankState = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as BankState) : { balances: opening, prepared: {} };
  // Written to a new file, synced, then renamed over the old one: a crash leaves one or the other.
  const save = (): void => {
    const fd = openSync(`${file}.tmp`, "w");
    writeSync(fd, JSON.stringify(state));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(`${file}.tmp`, file);
  };
  const locked = (account: string): boolean => Object.values(state.prepared).some((ms) => ms.some((m) => m.account === account));
  return {
    state,
    prepare(txId, payload) {
      const moves = (payload as { moves: Move[] }).moves.filter((m) => m.bank === name);
      if (moves.length === 0) return "read-only";
      for (const m of moves) {
        if (locked(m.account)) return "abort"; // another transfer holds the account
        if ((state.balances[m.account] ?? 0) + m.delta < 0) return "abort"; // insufficient funds
      }
      state.prepared[txId] = moves;
      save(); // the promise is durable before the vote leaves
      return "commit";
    },
    commit(txId) {
      const moves = state.prepared[txId];
      if (moves === undefined) return; // already applied: commit is idempotent
      for (const m of moves) state.balances[m.account] = (state.balances[m.account] ?? 0) + m.delta;
      delete state.prepared[txId];
      save();
    },
    abort(txId) {
      if (state.prepared[txId] === undefined) return;
      delete state.prepared[txId];
      save();
    },
    // After a crash: what is still promised; the worker settles each by its log and the protocol.
    recover: () => Object.keys(state.prepared),
  };
}

const role = process.argv[2];

if (role === "bank") {
  const [name, dir] = process.argv.slice(3) as [string, string];
  const opening = name === "bank-a" ? { alice: 100, bob: 100 } : { carol: 100, dave: 100 };
  const rm = bank(name, join(dir, `${name}.json`), opening);
  const rt = await Runtime.start();
  const participant = await Participant.open({ runtime: rt, logDir: join(dir, `${name}-log`), mailbox: name, resourceManager: rm });
  process.on("message", async (m) => {
    if (m === "balances") process.send!({ balances: rm.state.balances, prepared: Object.keys(rm.state.prepared).length });
    if (m === "stop") {
      await participant.close();
      await rt.close();
      process.disconnect();
    }
  });
  process.send!({ address: participant.address });
} else {
  const dir = mkdtempSync(join(tmpdir(), "zmbox-bank-"));
  const self = fileURLToPath(import.meta.url);
  const banks = ["bank-a", "bank-b"].map((name) => ({ name, child: fork(self, ["bank", name, dir], { stdio: "inherit" }) }));
  const ask = <T>(child: ChildProcess, message: string): Promise<T> =>
    new Promise((resolve) => {
      child.once("message", (m) => resolve(m as T));
      child.send(message);
    });
  const addresses = await Promise.all(banks.map((b) => new Promise<string>((r) => b.child.once("message", (m) => r((m as { address: string }).address)))));
  const where: Record<string, string> = { alice: "bank-a", bob: "bank-a", carol: "bank-b", dave: "bank-b" };
  const bankAddress: Record<string, string> = { "bank-a": addresses[0]!, "bank-b": addresses[1]! };

  const rt = await Runtime.start();
  const coordinator = await Coordinator.open({ runtime: rt, logDir: join(dir, "coordinator-log"), mailbox: "coordinator" });
  console.log(`coordinator ${coordinator.address}; banks ${addresses.join(", ")}`);

  const people = Object.keys(where);
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return (((x ^ (x >>> 14)) >>> 0) / 4294967296) * n | 0;
  };
  const transfer = async (from: string, to: string, amount: number): Promise<string> => {
    const moves: Move[] = [
      { bank: where[from]!, account: from, delta: -amount },
      { bank: where[to]!, account: to, delta: amount },
    ];
    const participants = [...new Set(moves.map((m) => bankAddress[m.bank]!))];
    // A bank votes abort when an account is locked by another transfer (worth a retry) or
    // when the money is not there (retries will not help): give up after a few.
    for (let attempt = 1; ; attempt++) {
      const outcome = await coordinator.transact({ participants, payload: { moves } });
      if (outcome.committed) return `${from} -> ${to} ${amount}: committed${attempt > 1 ? ` (attempt ${attempt})` : ""}`;
      if (attempt === 5) return `${from} -> ${to} ${amount}: aborted (${outcome.reason} by ${outcome.by ?? "?"})`;
      await new Promise((r) => setTimeout(r, 5 * attempt));
    }
  };

  const jobs: Promise<string>[] = [];
  for (let i = 0; i < 16; i++) {
    const from = people[random(4)]!;
    let to = people[random(4)]!;
    if (to === from) to = people[(people.indexOf(from) + 1) % 4]!;
    jobs.push(transfer(from, to, 10 + random(80)));
  }
  for (const line of await Promise.all(jobs)) console.log(`  ${line}`);

  // transact() resolves once the decision is durable at the coordinator; each bank applies it
  // when GLOBAL-COMMIT reaches it. Read the balances once no bank holds a transfer prepared.
  let finals: { balances: Record<string, number>; prepared: number }[] = [];
  for (;;) {
    finals = [];
    for (const b of banks) finals.push(await ask<{ balances: Record<string, number>; prepared: number }>(b.child, "balances"));
    if (finals.every((f) => f.prepared === 0)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const all = Object.assign({}, ...finals.map((f) => f.balances)) as Record<string, number>;
  const total = Object.values(all).reduce((a, b) => a + b, 0);
  console.log(`balances: ${JSON.stringify(all)}; total ${total} (was 400)`);
  console.log(`coordinator: ${JSON.stringify({ committed: coordinator.stats().committed, aborted: coordinator.stats().aborted })}`);
  for (const b of banks) b.child.send("stop");
  await Promise.all(banks.map((b) => new Promise((r) => b.child.once("exit", r))));
  await coordinator.close();
  await rt.close();
  rmSync(dir, { recursive: true, force: true });
  if (total !== 400) {
    console.error("money was created or destroyed!");
    process.exit(1);
  }
}
