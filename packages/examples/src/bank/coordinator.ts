/**
 * `bank.js coordinator --listen tcp://127.0.0.1:7100 --data DIR --shard A=tcp://127.0.0.1:7101 --shard B=...`
 *
 * The 2PC coordinator of the bank, and the service that takes transfer requests
 * (`transfers@<listen>`, request-response): each transfer is one 2PC transaction between the
 * shards of its two accounts. Its log is in DIR; restart it with the same flags after a crash.
 */
import { join } from "node:path";
import { Runtime } from "@zmbox/mailbox";
import { Coordinator, serve } from "@zmbox/twopc";
import type { Move } from "../accounts.js";
import { endpoint, integer, list, parseFlags, required, shardName, UsageError } from "./args.js";
import { COORDINATOR_MAILBOX, STATUS_MAILBOX, TRANSFERS_MAILBOX, TWOPC_DIR, shardMailbox, shardOf, type Status, type TransferReply } from "./names.js";
import { runService } from "./process.js";

export const COORDINATOR_USAGE =
  "usage: bank.js coordinator --listen tcp://127.0.0.1:7100 --data DIR --shard A=tcp://127.0.0.1:7101 [--shard B=...] [--vote-timeout MS] [--concurrency N] [--trace DIR]";

/** A transfer request that is not one: the caller gets a `RemoteError` with this code. */
class BadTransferError extends Error {
  override readonly name = "BadTransferError";
  readonly code = "EBADTRANSFER";
}

export async function coordinator(argv: readonly string[]): Promise<void> {
  const values = parseFlags(argv, {
    listen: { type: "string" },
    data: { type: "string" },
    shard: { type: "string", multiple: true },
    "vote-timeout": { type: "string" },
    concurrency: { type: "string" },
    trace: { type: "string" },
  });
  const listen = endpoint(required(values, "listen"), "listen");
  const dir = required(values, "data");
  const traceDir = values.trace === undefined ? undefined : required(values, "trace");
  const voteTimeout = integer(values, "vote-timeout", undefined, 1);
  const concurrency = integer(values, "concurrency", 64, 1)!;
  const shards = new Map<string, string>();
  for (const spec of list(values, "shard")) {
    const eq = spec.indexOf("=");
    if (eq < 0) throw new UsageError(`Expected --shard to be NAME=tcp://host:port, got \`${spec}\``);
    const name = shardName(spec.slice(0, eq), "shard");
    if (shards.has(name)) throw new UsageError(`Expected each --shard name once, got ${name} twice`);
    shards.set(name, `${shardMailbox(name)}@${endpoint(spec.slice(eq + 1), "shard")}`);
  }
  if (shards.size === 0) throw new UsageError("Missing --shard (give one per shard: --shard A=tcp://127.0.0.1:7101)");

  await runService("coordinator", dir, async (fail) => {
    const rt = await Runtime.start({ endpoint: listen });
    let node: Coordinator;
    try {
      node = await Coordinator.open({
        runtime: rt,
        logDir: join(dir, TWOPC_DIR),
        mailbox: COORDINATOR_MAILBOX,
        // Failure is loud: a coordinator whose log failed exits non-zero, for its supervisor.
        onFailed: fail,
        // What the node does, as JSON lines for `pnpm twopc-trace` (pictures of the run).
        ...(traceDir === undefined ? {} : { trace: traceDir }),
        ...(voteTimeout === undefined ? {} : { voteTimeout }),
      });
    } catch (error) {
      await rt.close();
      throw error;
    }
    const account = (value: unknown, field: string): string => {
      if (typeof value !== "string" || !shards.has(shardOf(value)) || !/:\d+$/.test(value)) {
        throw new BadTransferError(`Expected \`${field}\` to be an account <shard>:<index> of shard ${[...shards.keys()].join(", ")}, got \`${String(value)}\``);
      }
      return value;
    };
    const transfers = serve(rt, rt.mailbox(TRANSFERS_MAILBOX), async (body: unknown, context): Promise<TransferReply> => {
      const request = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
      if (request.type !== "transfer") throw new BadTransferError(`Expected a request { type: "transfer", from, to, amount }, got type \`${String(request.type)}\``);
      const from = account(request.from, "from");
      const to = account(request.to, "to");
      const amount = request.amount;
      if (typeof amount !== "number" || !Number.isSafeInteger(amount) || amount < 1) {
        throw new BadTransferError(`Expected \`amount\` to be an integer from 1 and up, got \`${String(amount)}\``);
      }
      if (from === to) throw new BadTransferError(`Expected \`from\` and \`to\` to differ, got ${from} twice`);
      const moves: Move[] = [
        { account: from, delta: -amount },
        { account: to, delta: amount },
      ];
      const participants = [...new Set([shards.get(shardOf(from))!, shards.get(shardOf(to))!])];
      // A commit is durable here before transact resolves, so the reply never acknowledges
      // anything a crash could take back.
      // The transfer's id is its request's, the same in every retry of it: a retry that reaches
      // a restarted coordinator (its reply cache gone with it) gets the first run's outcome
      // instead of moving the money a second time.
      const txId = `${context.clientId}-${context.requestId}`;
      const outcome = (await node.outcome(txId)) ?? (await node.transact({ txId, participants, payload: { moves } }));
      return { txId: outcome.txId, committed: outcome.committed, reason: outcome.reason, ...(outcome.by === undefined ? {} : { by: outcome.by }), ...(outcome.detail === undefined ? {} : { detail: outcome.detail }) };
    }, { concurrency });
    const status = serve(rt, rt.mailbox(STATUS_MAILBOX), (): Status => ({
      role: "coordinator",
      name: "coordinator",
      pid: process.pid,
      inDoubt: node.inDoubt().length,
      prepared: 0,
      stats: { coordinator: node.stats(), transfers: transfers.stats() },
      shards: [...shards.keys()],
    }));
    console.log(`coordinator: ${node.address} ready (pid ${process.pid}), transfers at ${TRANSFERS_MAILBOX}@${rt.endpoint}, ${node.inDoubt().length} in doubt; shards ${[...shards.values()].join(", ")}`);
    return {
      address: `${TRANSFERS_MAILBOX}@${rt.endpoint}`,
      async stop() {
        await transfers.close();
        await status.close();
        const { committed, aborted } = node.stats();
        await node.close();
        await rt.close();
        console.log(`coordinator: stopped ${JSON.stringify({ committed, aborted })}`);
      },
    };
  });
}
