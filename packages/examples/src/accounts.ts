/**
 * A bank shard's resource manager for 2PC: balances, the transfers it has promised, and the
 * transactions it has decided, kept durably in the shard's data directory.
 *
 * It keeps the contract of `ResourceManager` (packages/twopc/README.md):
 *
 * - `prepare` votes `"commit"` only once the promise is on disk (an fsync'd journal record),
 *   and locks the accounts it touches until the decision;
 * - asked again for the same id, it gives the same vote; once an id is decided (committed or
 *   aborted) a late `prepare` votes `"abort"`;
 * - `commit` and `abort` are idempotent, and `abort` accepts ids it never saw;
 * - `recover()` lists the ids still prepared, after a crash too.
 *
 * The state is a journal in `<dir>/accounts/` (a `StableLog` from @zmbox/log: length + CRC
 * framed records, torn tail cut on open). Every record is synced before the call that wrote
 * it returns. Now and then a snapshot of the whole state is appended and the records before it
 * are compacted away; decided ids older than `rememberFor` are dropped then.
 *
 *   prepare(t1, A:3 -100)  -> { type: "prepare", txId: t1, moves }   (A:3 locked)
 *   commit(t1)             -> { type: "commit", txId: t1 }           (A:3 -= 100, unlocked)
 *   prepare(t2, A:3 -9999) -> { type: "abort", txId: t2, reason: "insufficient-funds" }
 *
 * A move is `{ account: "A:3", delta: -100 }`: the account ids start with the shard's name and
 * a colon, so each shard knows which moves of a transfer are its own.
 */
import { join } from "node:path";
import { readLog, StableLog } from "@zmbox/log";
import { InvalidArgumentError } from "@zmbox/mailbox";
import type { ResourceManager } from "@zmbox/twopc";
import { DEFAULT_REMEMBER_FOR } from "@zmbox/twopc/2pc";

/** One account's change in a transfer. The deltas of a transfer sum to zero. */
export interface Move {
  /** `<shard>:<index>`, e.g. `"A:3"`. */
  readonly account: string;
  /** A safe integer: negative takes money out. */
  readonly delta: number;
}

/** What the coordinator hands to `prepare`: every move of the transfer, on every shard. */
export interface TransferPayload {
  readonly moves: readonly Move[];
}

/** Why a shard voted abort. The 2PC protocol does not carry it: it is counted and reported here. */
export const Refusal = {
  /** An account would go below zero. */
  InsufficientFunds: "insufficient-funds",
  /** An account is locked by another prepared transfer. Worth a retry. */
  AccountBusy: "account-busy",
  /** A move names an account of this shard that does not exist. */
  NoSuchAccount: "no-such-account",
  /** The payload is not a transfer: no moves, bad deltas, or deltas that do not sum to zero. */
  BadTransfer: "bad-transfer",
  /** The id was decided before (a late or repeated VOTE-REQ). */
  AlreadyDecided: "already-decided",
} as const;
export type Refusal = (typeof Refusal)[keyof typeof Refusal];

/** A decided transaction, remembered for `rememberFor` so that a late prepare votes abort. */
export interface Decided {
  readonly outcome: "commit" | "abort";
  /** When it was decided, ms since the epoch. */
  readonly at: number;
  /** For an abort this shard voted: why. */
  readonly reason?: Refusal;
}

/** The whole state of a shard, as the journal holds it. */
export interface AccountsState {
  /** The shard's name: its accounts are `<name>:0` ... */
  readonly name: string;
  /** The sum of the balances when the shard was created: what they must still sum to. */
  readonly initialTotal: number;
  readonly balances: Record<string, number>;
  /** Transfers voted commit and not yet decided, by txId: their accounts are locked. */
  readonly prepared: Record<string, readonly Move[]>;
  readonly decided: Record<string, Decided>;
}

/** Counters since open. */
export interface AccountsStats {
  /** Votes to commit. */
  prepared: number;
  committed: number;
  aborted: number;
  /** Votes to abort, by reason. */
  refused: Record<Refusal, number>;
  /** Transactions prepared now (their accounts are locked). */
  holding: number;
  /** Journal records since open. */
  records: number;
  /** Snapshots written since open. */
  checkpoints: number;
}

/** Options of {@link Accounts.open}. */
export interface AccountsOptions {
  /** The data directory; the journal is in `<dir>/accounts/`. */
  readonly dir: string;
  /** The shard's name: letters, digits, `_` and `-`. Checked against the journal on reopen. */
  readonly name: string;
  /**
   * Accounts made when the journal is new (`<name>:0` to `<name>:<accounts - 1>`).
   * @default 10
   */
  readonly accounts?: number;
  /**
   * Each new account's opening balance.
   * @default 1000
   */
  readonly initial?: number;
  /**
   * How long a decided id is remembered, in ms. Give the participant's `rememberFor` or more.
   * @default 600000 (twopc's DEFAULT_REMEMBER_FOR)
   */
  readonly rememberFor?: number;
  /**
   * A snapshot is written after this many records, or after as many as the snapshot holds
   * entries if that is more (so snapshots cost O(1) per record).
   * @default 10000
   */
  readonly checkpointEvery?: number;
  /** Called for each vote to abort, with why; `detail` says it in words. */
  readonly onRefuse?: (txId: string, reason: Refusal, detail: string) => void;
  /** The clock, in ms since the epoch. @default Date.now */
  readonly now?: () => number;
}

/** The journal directory inside a shard's data directory. */
export const ACCOUNTS_DIR = "accounts";

type JournalRecord =
  | { readonly type: "snapshot"; readonly seq: number; readonly state: AccountsState }
  | { readonly type: "prepare"; readonly seq: number; readonly txId: string; readonly moves: readonly Move[] }
  | { readonly type: "commit"; readonly seq: number; readonly txId: string; readonly at: number }
  | { readonly type: "abort"; readonly seq: number; readonly txId: string; readonly at: number; readonly reason?: Refusal };

const NAME = /^[A-Za-z0-9_-]{1,32}$/;

function describe(value: unknown): string {
  return `\`${typeof value === "string" ? JSON.stringify(value) : String(value)}\` (${value === null ? "null" : typeof value})`;
}

function positiveInteger(name: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(`Expected \`${name}\` to be an integer from ${min} and up, got ${describe(value)}`);
  }
  return value;
}

/** Folds journal records (oldest first) into the state. A snapshot replaces everything before it. */
function replay(records: readonly unknown[]): { state: AccountsState | undefined; seq: number; snapshotSeq: number } {
  let state: { -readonly [K in keyof AccountsState]: AccountsState[K] } | undefined;
  let seq = 0;
  let snapshotSeq = 0;
  for (const raw of records) {
    const r = raw as JournalRecord;
    seq = r.seq;
    if (r.type === "snapshot") {
      state = structuredClone(r.state) as typeof state;
      snapshotSeq = r.seq;
      continue;
    }
    if (state === undefined) throw new Error(`the accounts journal starts with a ${r.type} record, not a snapshot`);
    switch (r.type) {
      case "prepare":
        state.prepared[r.txId] = r.moves;
        break;
      case "commit": {
        for (const m of state.prepared[r.txId] ?? []) state.balances[m.account] = (state.balances[m.account] ?? 0) + m.delta;
        delete state.prepared[r.txId];
        state.decided[r.txId] = { outcome: "commit", at: r.at };
        break;
      }
      case "abort":
        delete state.prepared[r.txId];
        state.decided[r.txId] = r.reason === undefined ? { outcome: "abort", at: r.at } : { outcome: "abort", at: r.at, reason: r.reason };
        break;
      default:
        throw new Error(`unknown record in the accounts journal: ${JSON.stringify(raw)}`);
    }
  }
  return { state, seq, snapshotSeq };
}

/**
 * Reads a shard's state from its data directory without changing anything (for an audit, with
 * the shard stopped). `undefined` if the directory holds no journal.
 */
export async function readAccounts(dir: string): Promise<AccountsState | undefined> {
  const { records } = await readLog(join(dir, ACCOUNTS_DIR));
  return replay(records).state;
}

/**
 * A shard's accounts, as a 2PC `ResourceManager`.
 *
 * @example
 * const accounts = await Accounts.open({ dir: "./data/a", name: "A", accounts: 10, initial: 1000 });
 * const participant = await Participant.open({ runtime, logDir: "./data/a/2pc", mailbox: "shard-A", resourceManager: accounts });
 * // ...
 * await participant.close();
 * await accounts.close();
 */
export class Accounts implements ResourceManager {
  readonly name: string;
  readonly #log: StableLog<JournalRecord>;
  readonly #state: AccountsState;
  /** Locked accounts: account -> the txId holding it. */
  readonly #locks = new Map<string, string>();
  /** Prepares not finished, by txId: a repeated one gets the same vote. */
  readonly #voting = new Map<string, Promise<"commit" | "abort" | "read-only">>();
  readonly #rememberFor: number;
  readonly #checkpointEvery: number;
  readonly #onRefuse: AccountsOptions["onRefuse"];
  readonly #now: () => number;
  #seq: number;
  /** Compaction keeps the records from this seq on: the last durable snapshot and after. */
  #keepFrom: number;
  #sinceCheckpoint = 0;
  #checkpointing = false;
  readonly #stats: AccountsStats = {
    prepared: 0,
    committed: 0,
    aborted: 0,
    refused: { "insufficient-funds": 0, "account-busy": 0, "no-such-account": 0, "bad-transfer": 0, "already-decided": 0 },
    holding: 0,
    records: 0,
    checkpoints: 0,
  };

  private constructor(log: StableLog<JournalRecord>, state: AccountsState, seq: number, keepFrom: number, options: AccountsOptions, rememberFor: number, checkpointEvery: number) {
    this.#log = log;
    this.#state = state;
    this.name = state.name;
    this.#seq = seq;
    this.#keepFrom = keepFrom;
    this.#rememberFor = rememberFor;
    this.#checkpointEvery = checkpointEvery;
    this.#onRefuse = options.onRefuse;
    this.#now = options.now ?? Date.now;
    for (const [txId, moves] of Object.entries(state.prepared)) for (const m of moves) this.#locks.set(m.account, txId);
  }

  /**
   * Opens the shard's journal in `<dir>/accounts/` (creating the accounts if it is new) and
   * replays it.
   *
   * @throws {InvalidArgumentError} for bad options, or a `name` other than the journal's.
   */
  static async open(options: AccountsOptions): Promise<Accounts> {
    if (typeof options !== "object" || options === null) throw new InvalidArgumentError(`Expected options to be an object, got ${describe(options)}`);
    if (typeof options.dir !== "string" || options.dir === "") throw new InvalidArgumentError(`Expected \`dir\` to be a directory path, got ${describe(options.dir)}`);
    if (typeof options.name !== "string" || !NAME.test(options.name)) {
      throw new InvalidArgumentError(`Expected \`name\` to be 1 to 32 letters, digits, \`_\` or \`-\`, got ${describe(options.name)}`);
    }
    const accounts = positiveInteger("accounts", options.accounts, 10);
    const initial = positiveInteger("initial", options.initial, 1000, 0);
    const rememberFor = positiveInteger("rememberFor", options.rememberFor, DEFAULT_REMEMBER_FOR, 0);
    const checkpointEvery = positiveInteger("checkpointEvery", options.checkpointEvery, 10_000);
    if (options.onRefuse !== undefined && typeof options.onRefuse !== "function") {
      throw new InvalidArgumentError(`Expected \`onRefuse\` to be a function, got ${describe(options.onRefuse)}`);
    }
    // Compaction keeps the last snapshot and what follows it (see #checkpoint).
    let self: Accounts | undefined;
    const { log, records } = await StableLog.open<JournalRecord>(join(options.dir, ACCOUNTS_DIR), {
      retain: (r) => self === undefined || r.seq >= self.#keepFrom,
      compactMinBytes: 1024 * 1024,
    });
    try {
      let { state, seq, snapshotSeq } = replay(records);
      if (state === undefined) {
        const balances: Record<string, number> = {};
        for (let i = 0; i < accounts; i++) balances[`${options.name}:${i}`] = initial;
        state = { name: options.name, initialTotal: accounts * initial, balances, prepared: {}, decided: {} };
        seq = snapshotSeq = 1;
        await log.append({ type: "snapshot", seq, state });
      } else if (state.name !== options.name) {
        throw new InvalidArgumentError(`Expected \`name\` to be ${JSON.stringify(state.name)}, the name of the shard in ${options.dir}, got ${describe(options.name)}`);
      }
      self = new Accounts(log, state, seq, snapshotSeq, options, rememberFor, checkpointEvery);
      return self;
    } catch (error) {
      await log.close().catch(() => undefined);
      throw error;
    }
  }

  /** Why this shard refused `txId` (voted abort), if it did and still remembers. */
  refusal(txId: string): Refusal | undefined {
    return this.#state.decided[txId]?.reason;
  }

  /**
   * Votes on a transfer: `"read-only"` if no move is on this shard, `"abort"` if it cannot be
   * done (see {@link Refusal}), else `"commit"` once the promise is durable.
   */
  prepare(txId: string, payload: unknown): Promise<"commit" | "abort" | "read-only"> {
    const running = this.#voting.get(txId);
    if (running !== undefined) return running;
    const vote = this.#prepare(txId, payload).finally(() => this.#voting.delete(txId));
    this.#voting.set(txId, vote);
    return vote;
  }

  async #prepare(txId: string, payload: unknown): Promise<"commit" | "abort" | "read-only"> {
    const state = this.#state;
    // Asked again: the same answer.
    if (state.prepared[txId] !== undefined) return "commit";
    if (state.decided[txId] !== undefined) {
      this.#stats.refused[Refusal.AlreadyDecided]++;
      this.#onRefuse?.(txId, Refusal.AlreadyDecided, `${txId} was ${state.decided[txId].outcome === "commit" ? "committed" : "aborted"} before`);
      return "abort";
    }
    const moves = (payload as Partial<TransferPayload> | null)?.moves;
    if (!Array.isArray(moves) || moves.length === 0 || !moves.every((m) => typeof m?.account === "string" && Number.isSafeInteger(m?.delta))) {
      return this.#refuse(txId, Refusal.BadTransfer, "the payload is not { moves: [{ account, delta }] } with integer deltas");
    }
    if (moves.reduce((sum, m: Move) => sum + m.delta, 0) !== 0) return this.#refuse(txId, Refusal.BadTransfer, "the deltas do not sum to zero");
    const mine = (moves as Move[]).filter((m) => m.account.startsWith(`${this.name}:`));
    if (mine.length === 0) return "read-only";
    const change = new Map<string, number>();
    for (const m of mine) {
      if (state.balances[m.account] === undefined) return this.#refuse(txId, Refusal.NoSuchAccount, `shard ${this.name} has no account ${m.account}`);
      const holder = this.#locks.get(m.account);
      if (holder !== undefined) return this.#refuse(txId, Refusal.AccountBusy, `${m.account} is locked by ${holder}`);
      change.set(m.account, (change.get(m.account) ?? 0) + m.delta);
    }
    for (const [account, delta] of change) {
      const balance = state.balances[account]!;
      if (balance + delta < 0) return this.#refuse(txId, Refusal.InsufficientFunds, `${account} has ${balance}, the transfer takes ${-delta}`);
    }
    // Lock now, before waiting for the disk, so that a concurrent prepare sees the lock.
    for (const m of mine) this.#locks.set(m.account, txId);
    state.prepared[txId] = mine;
    // 2PC: the promise is on stable storage before the vote to commit leaves.
    await this.#append({ type: "prepare", seq: 0, txId, moves: mine });
    this.#stats.prepared++;
    return "commit";
  }

  async #refuse(txId: string, reason: Refusal, detail: string): Promise<"abort"> {
    this.#state.decided[txId] = { outcome: "abort", at: this.#now(), reason };
    this.#stats.refused[reason]++;
    this.#onRefuse?.(txId, reason, detail);
    // Remembered durably, so that a repeated prepare after a crash votes abort again.
    await this.#append({ type: "abort", seq: 0, txId, at: this.#now(), reason });
    return "abort";
  }

  /**
   * Applies a prepared transfer. Idempotent.
   *
   * @throws {Error} if `txId` was never prepared here, or was aborted (a protocol violation).
   */
  async commit(txId: string): Promise<void> {
    const state = this.#state;
    const decided = state.decided[txId];
    if (decided?.outcome === "commit") return; // again after a restart
    const moves = state.prepared[txId];
    if (moves === undefined) {
      throw new Error(`cannot commit ${txId} at shard ${this.name}: ${decided === undefined ? "it was never prepared here" : "it was aborted"}`);
    }
    for (const m of moves) {
      state.balances[m.account] = state.balances[m.account]! + m.delta;
      this.#locks.delete(m.account);
    }
    delete state.prepared[txId];
    state.decided[txId] = { outcome: "commit", at: this.#now() };
    this.#stats.committed++;
    await this.#append({ type: "commit", seq: 0, txId, at: this.#now() });
  }

  /** Rolls back a transfer: unlocks its accounts. Idempotent, and fine for ids never seen. */
  async abort(txId: string): Promise<void> {
    const state = this.#state;
    if (state.decided[txId] !== undefined) return; // aborted already (or committed: nothing to roll back)
    const moves = state.prepared[txId];
    if (moves !== undefined) {
      for (const m of moves) this.#locks.delete(m.account);
      delete state.prepared[txId];
    }
    state.decided[txId] = { outcome: "abort", at: this.#now() };
    this.#stats.aborted++;
    // Remembered, so that a late prepare of this id votes abort.
    await this.#append({ type: "abort", seq: 0, txId, at: this.#now() });
  }

  /** The ids prepared and not decided: after a crash, the participant settles each. */
  recover(): string[] {
    return Object.keys(this.#state.prepared);
  }

  /** A copy of the balances. */
  balances(): Record<string, number> {
    return { ...this.#state.balances };
  }

  /** A copy of the whole state. */
  snapshot(): AccountsState {
    return structuredClone(this.#state);
  }

  stats(): AccountsStats {
    return { ...this.#stats, refused: { ...this.#stats.refused }, holding: Object.keys(this.#state.prepared).length };
  }

  /** Why the journal stopped, if it failed: from then on every call fails. Restart the shard. */
  get failure(): Error | undefined {
    return this.#log.failure;
  }

  /** Writes what is pending and closes the journal. */
  async close(): Promise<void> {
    await this.#log.close();
  }

  /** Appends a record (numbered here) and waits until it is synced. */
  async #append(record: JournalRecord): Promise<void> {
    const numbered = { ...record, seq: ++this.#seq };
    this.#stats.records++;
    this.#sinceCheckpoint++;
    const written = this.#log.append(numbered);
    const s = this.#state;
    const size = Object.keys(s.decided).length + Object.keys(s.prepared).length;
    if (!this.#checkpointing && this.#sinceCheckpoint >= Math.max(this.#checkpointEvery, size)) void this.#checkpoint();
    await written;
  }

  /**
   * Appends a snapshot of the state, then compacts the journal to it. Until the snapshot is
   * durable, compaction keeps everything. Decided ids older than `rememberFor` are dropped.
   */
  async #checkpoint(): Promise<void> {
    this.#checkpointing = true;
    this.#sinceCheckpoint = 0;
    try {
      const oldest = this.#now() - this.#rememberFor;
      for (const [txId, d] of Object.entries(this.#state.decided)) if (d.at < oldest) delete this.#state.decided[txId];
      const seq = ++this.#seq;
      this.#stats.records++;
      await this.#log.append({ type: "snapshot", seq, state: structuredClone(this.#state) });
      this.#keepFrom = seq;
      await this.#log.compact();
      this.#stats.checkpoints++;
    } catch {
      // A failed log fails the next append too; a snapshot too large only skips this checkpoint.
    } finally {
      this.#checkpointing = false;
    }
  }
}
