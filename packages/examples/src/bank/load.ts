/**
 * `bank.js load --coordinator tcp://127.0.0.1:7100 --transfers N [--concurrency C] [--seed S]`
 *
 * Sends N random transfers between accounts on different shards, C at a time, and prints
 * `{"committed","aborted","failed"}`. Amounts go up to `--max-amount` (default 1500, more
 * than an account opens with), so some transfers find too little money and the shard votes
 * abort. A transfer "failed" when it got a typed error instead of an answer (a timeout while
 * the coordinator was down, say): its outcome is unknown to the client, and the audit checks it.
 *
 * Each request is sent once (no retries): a retry that reached a restarted coordinator would
 * run the transfer a second time, since its reply cache died with it.
 */
import { Runtime } from "@zmbox/mailbox";
import { Client } from "@zmbox/twopc";
import { Random } from "../random.js";
import { endpoint, integer, parseFlags, required, UsageError } from "./args.js";
import { STATUS_MAILBOX, TRANSFERS_MAILBOX, type Status, type TransferReply, type TransferRequest } from "./names.js";

export const LOAD_USAGE =
  "usage: bank.js load --coordinator tcp://127.0.0.1:7100 --transfers N [--concurrency 8] [--seed 1] [--accounts 10] [--max-amount 1500] [--timeout MS]";

/** Options of {@link runLoad}. */
export interface LoadOptions {
  /** The coordinator's endpoint, `tcp://host:port`. */
  readonly coordinator: string;
  /** How many transfers; `Infinity` runs until `signal` aborts. */
  readonly transfers: number;
  /** Transfers in flight at once. @default 8 */
  readonly concurrency?: number;
  /** Seeds the choices of accounts and amounts. @default 1 */
  readonly seed?: number;
  /** Accounts per shard (the shards' `--accounts`). @default 10 */
  readonly accounts?: number;
  /** Largest amount. @default 1500 */
  readonly maxAmount?: number;
  /** How long a transfer waits for its answer, in ms. @default 15000 */
  readonly timeout?: number;
  /** Stops starting transfers; those in flight finish. */
  readonly signal?: AbortSignal;
  /** Called with every answer. */
  readonly onReply?: (request: TransferRequest, reply: TransferReply) => void;
}

/** What {@link runLoad} counts. */
export interface LoadResult {
  committed: number;
  aborted: number;
  /** Aborted transfers by why: the shard's reason (`insufficient-funds`, ...) or the coordinator's (`vote-timeout`, ...). */
  abortedBy: Record<string, number>;
  /** Typed errors, by code. */
  failed: number;
  errors: Record<string, number>;
  /** Errors with no `code`: bugs, not outcomes. */
  untyped: number;
}

/** Asks the coordinator which shards it has (its status lists them). */
async function shardsOf(rt: Runtime, coordinator: string, timeout: number): Promise<string[]> {
  const client = new Client(rt);
  try {
    // A status request can be retried: it changes nothing.
    const status = await client.request<Status>({}, `${STATUS_MAILBOX}@${coordinator}`, { timeout, retries: 3 });
    if (!Array.isArray(status.shards) || status.shards.length < 2) throw new Error(`the coordinator at ${coordinator} has fewer than two shards`);
    return [...status.shards];
  } finally {
    client.close();
  }
}

/** Runs transfers against the coordinator at `options.coordinator`; see the command above. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const concurrency = options.concurrency ?? 8;
  const accounts = options.accounts ?? 10;
  const maxAmount = options.maxAmount ?? 1500;
  const timeout = options.timeout ?? 15_000;
  const result: LoadResult = { committed: 0, aborted: 0, abortedBy: {}, failed: 0, errors: {}, untyped: 0 };
  const rt = await Runtime.start();
  const client = new Client(rt);
  try {
    const shards = await shardsOf(rt, options.coordinator, timeout);
    const random = new Random(options.seed ?? 1);
    let started = 0;
    const next = (): TransferRequest => {
      const a = random.int(shards.length);
      const b = (a + 1 + random.int(shards.length - 1)) % shards.length; // another shard
      return { type: "transfer", from: `${shards[a]}:${random.int(accounts)}`, to: `${shards[b]}:${random.int(accounts)}`, amount: random.between(1, maxAmount) };
    };
    const worker = async (): Promise<void> => {
      while (started < options.transfers && !options.signal?.aborted) {
        started++;
        const request = next();
        try {
          const reply = await client.request<TransferReply>(request, `${TRANSFERS_MAILBOX}@${options.coordinator}`, { timeout, retries: 0 });
          if (reply.committed) result.committed++;
          else {
            result.aborted++;
            const why = reply.detail ?? reply.reason;
            result.abortedBy[why] = (result.abortedBy[why] ?? 0) + 1;
          }
          options.onReply?.(request, reply);
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          if (typeof code === "string") {
            result.failed++;
            result.errors[code] = (result.errors[code] ?? 0) + 1;
          } else {
            result.untyped++;
            console.error("load:", error);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    client.close();
    await rt.close();
  }
  return result;
}

export async function load(argv: readonly string[]): Promise<void> {
  const values = parseFlags(argv, {
    coordinator: { type: "string" },
    transfers: { type: "string" },
    concurrency: { type: "string" },
    seed: { type: "string" },
    accounts: { type: "string" },
    "max-amount": { type: "string" },
    timeout: { type: "string" },
  });
  const coordinator = endpoint(required(values, "coordinator"), "coordinator");
  if (values.transfers === undefined) throw new UsageError("Missing --transfers");
  const result = await runLoad({
    coordinator,
    transfers: integer(values, "transfers", 0, 0)!,
    concurrency: integer(values, "concurrency", 8, 1)!,
    seed: integer(values, "seed", 1, 0)!,
    accounts: integer(values, "accounts", 10, 1)!,
    maxAmount: integer(values, "max-amount", 1500, 1)!,
    timeout: integer(values, "timeout", 15_000, 1)!,
  });
  const { committed, aborted, abortedBy, failed, errors } = result;
  console.log(JSON.stringify({ committed, aborted, failed, abortedBy, ...(failed > 0 ? { errors } : {}) }));
  process.exitCode = result.untyped === 0 ? 0 : 1;
}
