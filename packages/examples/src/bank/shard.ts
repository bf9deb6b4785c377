/**
 * `bank.js shard --name A --listen tcp://127.0.0.1:7101 --data DIR [--accounts 10] [--initial 1000]`
 *
 * One bank shard: a 2PC participant (mailbox `shard-<name>`) whose resource manager is
 * {@link Accounts}, with its journal and its 2PC log in DIR. Restart it with the same flags
 * after a crash: it recovers from DIR.
 */
import { join } from "node:path";
import { Runtime } from "@zmbox/mailbox";
import { Participant, serve } from "@zmbox/twopc";
import { Accounts } from "../accounts.js";
import { endpoint, integer, parseFlags, required, shardName } from "./args.js";
import { STATUS_MAILBOX, TWOPC_DIR, shardMailbox, type Status } from "./names.js";
import { runService } from "./process.js";

export const SHARD_USAGE = "usage: bank.js shard --name A --listen tcp://127.0.0.1:7101 --data DIR [--accounts 10] [--initial 1000] [--remember-for MS] [--trace DIR]";

export async function shard(argv: readonly string[]): Promise<void> {
  const values = parseFlags(argv, {
    name: { type: "string" },
    listen: { type: "string" },
    data: { type: "string" },
    accounts: { type: "string" },
    initial: { type: "string" },
    "remember-for": { type: "string" },
    trace: { type: "string" },
  });
  const name = shardName(required(values, "name"), "name");
  const listen = endpoint(required(values, "listen"), "listen");
  const dir = required(values, "data");
  const traceDir = values.trace === undefined ? undefined : required(values, "trace");
  const accounts = integer(values, "accounts", 10, 1)!;
  const initial = integer(values, "initial", 1000, 0)!;
  const rememberFor = integer(values, "remember-for", undefined, 1);
  const label = `shard ${name}`;

  await runService(label, dir, async (fail) => {
    const rm = await Accounts.open({
      dir,
      name,
      accounts,
      initial,
      ...(rememberFor === undefined ? {} : { rememberFor }),
      // The protocol's VOTE-ABORT carries no reason: the shard says it here.
      onRefuse: (txId, reason, detail) => console.log(`${label}: vote abort ${txId}: ${reason} (${detail})`),
    });
    let rt: Runtime | undefined;
    let participant: Participant | undefined;
    try {
      rt = await Runtime.start({ endpoint: listen });
      participant = await Participant.open({
        runtime: rt,
        logDir: join(dir, TWOPC_DIR),
        mailbox: shardMailbox(name),
        // The vote says why it aborts (insufficient funds, account busy, ...): the coordinator's
        // outcome carries it to whoever asked for the transfer.
        resourceManager: {
          prepare: async (txId, payload) => {
            const vote = await rm.prepare(txId, payload);
            return vote === "abort" ? { vote, reason: rm.refusal(txId) ?? "refused" } : vote;
          },
          commit: (txId) => rm.commit(txId),
          abort: (txId) => rm.abort(txId),
          recover: () => rm.recover(),
        },
        // Failure is loud: a shard whose log failed exits non-zero, for its supervisor.
        onFailed: fail,
        // What the node does, as JSON lines for `pnpm twopc-trace` (pictures of the run).
        ...(traceDir === undefined ? {} : { trace: traceDir }),
        ...(rememberFor === undefined ? {} : { rememberFor }),
      });
    } catch (error) {
      await participant?.close();
      await rt?.close();
      await rm.close();
      throw error;
    }
    const p = participant;
    const status = serve(rt, rt.mailbox(STATUS_MAILBOX), (): Status => ({
      role: "shard",
      name,
      pid: process.pid,
      inDoubt: p.inDoubt().length,
      prepared: rm.recover().length,
      stats: { accounts: rm.stats(), participant: p.stats() },
    }));
    // A failed log stops the participant, a failed journal the accounts: the process stops
    // with them, to be restarted (recovery reads what the files hold).
    const watch = setInterval(() => {
      const failure = p.stopped ?? rm.failure;
      if (failure !== undefined) fail(failure);
    }, 200);
    const balances = Object.values(rm.balances());
    console.log(
      `${label}: ${p.address} ready (pid ${process.pid}), ${balances.length} accounts holding ${balances.reduce((a, b) => a + b, 0)}, ` +
        `${rm.recover().length} prepared, ${p.inDoubt().length} in doubt`,
    );
    const runtime = rt;
    return {
      address: p.address,
      async stop() {
        clearInterval(watch);
        await status.close();
        await p.close();
        await runtime.close();
        await rm.close();
        console.log(`${label}: stopped ${JSON.stringify(rm.stats())}`);
      },
    };
  });
}
