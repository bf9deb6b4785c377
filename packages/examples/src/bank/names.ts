/**
 * Where the bank's processes listen, and what they say to each other besides 2PC.
 *
 *   load ---- { type: "transfer", from, to, amount } ----> transfers@<coordinator>
 *        <--- { txId, committed, reason, by? } -----------
 *   coordinator (2PC) coordinator@<coordinator> <------> shard-<name>@<shard>  (each shard)
 *   anyone --- {} ---> status@<any process>: its counters and what it holds in doubt
 */

/** The 2PC participant mailbox of shard `name`: naming the shard makes a wrong `--shard` map fail, not misroute. */
export const shardMailbox = (name: string): string => `shard-${name}`;
/** The coordinator's 2PC mailbox. */
export const COORDINATOR_MAILBOX = "coordinator";
/** Where the coordinator takes transfer requests (request-response). */
export const TRANSFERS_MAILBOX = "transfers";
/** Every bank process answers `{}` here with its status. */
export const STATUS_MAILBOX = "status";
/** The 2PC log inside a data directory. */
export const TWOPC_DIR = "2pc";

/** A transfer request. `from` and `to` are account ids, `<shard>:<index>`. */
export interface TransferRequest {
  readonly type: "transfer";
  readonly from: string;
  readonly to: string;
  /** A positive integer. */
  readonly amount: number;
}

/** The reply to a transfer: the 2PC outcome. */
export interface TransferReply {
  readonly txId: string;
  readonly committed: boolean;
  /** The coordinator's reason: `"all-voted-commit"`, `"voted-abort"`, `"vote-timeout"`, ... */
  readonly reason: string;
  /** With `"voted-abort"`: the shard that voted abort. */
  readonly by?: string;
  /** With `"voted-abort"`: why (`"insufficient-funds"`, `"account-busy"`, ...). */
  readonly detail?: string;
}

/** A process's answer at its status mailbox. */
export interface Status {
  readonly role: "shard" | "coordinator";
  readonly name: string;
  readonly pid: number;
  /** Transactions this node holds unfinished (participant READY; coordinator WAIT or COMMIT awaiting ACKs). */
  readonly inDoubt: number;
  /** Shard: transfers its resource manager holds prepared. */
  readonly prepared: number;
  readonly stats: unknown;
  /** Coordinator: the shards it knows, by name. */
  readonly shards?: readonly string[];
}

/** The shard of an account id. */
export const shardOf = (account: string): string => account.slice(0, account.lastIndexOf(":"));
