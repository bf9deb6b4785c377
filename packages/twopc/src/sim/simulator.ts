/**
 * The deterministic simulator: one seed draws a scenario (nodes, transactions, fault mix), then
 * runs the real machines, driver, log and MemoryFs on a virtual clock through a network that drops,
 * duplicates, reorders and delays messages, crashing and restarting nodes at random steps
 * (unsynced log bytes lost, torn tails). Faults stop at `healAt`; the run then continues until
 * nothing is left to do.
 *
 * Checked:
 * - after every step that changes what the checker sees (a resource-manager call or a
 *   coordinator outcome): atomicity, see `atomicityViolation`; resource-manager misuse
 *   (commit without prepare, abort after commit, prepare after commit);
 * - at the end (liveness): the run went quiet before the time limit, every node is up and
 *   holds no transaction, no resource manager is left prepared, every transaction begun by a
 *   coordinator that did not crash got an outcome, and no node's log holds a transaction that
 *   a restart would still have to act on.
 */
import { LOG_FILE_NAME, LogCorruptError, readLog } from "@zmbox/log";
import type { TwopcAction } from "../protocol/actions.js";
import type { ParticipantEvent } from "../protocol/events.js";
import { summarizeRecords } from "../protocol/machine.js";
import type { TwopcMessage } from "../protocol/messages.js";
import type { Mutation } from "./mutation.js";
import { Decision, Vote, type NodeId, type TxId } from "../protocol/types.js";
import { EventQueue } from "./event-queue.js";
import { RmState, atomicityViolation, rmAbort, rmCommit, rmPrepare, type RmStep } from "./model.js";
import { LOG_DIR, NodeStatus, SimNode, type World } from "./node.js";

/** Where a simulated node's log file is on its own MemoryFs. */
const LOG_PATH = `${LOG_DIR}/${LOG_FILE_NAME}`;
import { Rng } from "./rng.js";
import { SIM_LATENCY, drawScenario, type Scenario, type ScenarioTx } from "./scenario.js";
import { describeMessage } from "./trace.js";
import type { TraceSink } from "../trace/events.js";

/** Chance that a resource manager's commit or abort fails before healing (the driver retries it). */
const RM_FAILURE_RATE = 0.1;

/** @internal Virtual time by which a healed run must have gone quiet. */
export const TIME_LIMIT_MS = 60_000;

export interface SimOptions {
  /** @internal Run deliberately broken machines (to show the checker catches them). */
  readonly mutation?: Mutation;
  /** Record a readable trace of every step. */
  readonly trace?: boolean;
  /**
   * Disk corruption: when a node crashes, one byte of its log's durable part is damaged, with
   * this chance. A node whose log then refuses to open (`LogCorruptError`) stays down, as a real
   * one would until an operator restores it; its transactions are exempt from the liveness
   * check, never from safety. Drawn from a second random stream, so a seed's other faults stay
   * as they were.
   * @default 0
   */
  readonly corruption?: number;
  /**
   * Open a damaged log by cutting it (`LogOptions.salvage`) instead of refusing. `true` salvages
   * every node's log: a coordinator's log is its decisions, so cutting it breaks atomicity (the
   * checkers' self-test shows it). `"participants"` salvages only the participants' logs, as
   * `Participant.open({ salvage: true })` does: what they may have voted commit on is held in
   * doubt, and atomicity holds.
   * @default false
   */
  readonly salvage?: boolean | "participants";
  /** Receives trace events of every node, crashes included (see `renderSvg`). */
  readonly onTrace?: TraceSink;
}

export interface SimStats {
  transactions: number;
  committed: number;
  aborted: number;
  crashes: number;
  messages: number;
  dropped: number;
  duplicated: number;
  steps: number;
  /** Log compactions by the nodes' last incarnations. */
  compactions: number;
  /** Bytes damaged in durable logs (`corruption`). */
  corruptions: number;
  /** Restarts refused by a log found corrupt (the node stayed down). */
  refusedCorrupt: number;
  /** Resource-manager commits and aborts that failed (and that the driver retried). */
  rmFailures: number;
  /** Restarts that salvaged a corrupt log (`salvage`). */
  salvages: number;
  /** Transactions a salvage may have cut that were held in doubt (WORKER-IN-DOUBT) instead of presumed aborted. */
  heldInDoubt: number;
}

export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  /** What went wrong, with the virtual time. */
  readonly violation?: string;
  readonly stats: SimStats;
  /** Empty unless `trace` was asked for. */
  readonly trace: string[];
}

interface TxState {
  readonly spec: ScenarioTx;
  readonly decided: { commit: boolean; abort: boolean };
  readonly rm: Map<NodeId, RmState>;
  /** The coordinator incarnation that began it, if it was begun. */
  begunBy: number | undefined;
}

const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class Simulation implements World {
  now = 0;
  readonly trace: ((line: string) => void) | undefined;
  readonly lines: string[] = [];
  readonly onTrace: TraceSink | undefined;
  readonly stats: SimStats = { transactions: 0, committed: 0, aborted: 0, crashes: 0, messages: 0, dropped: 0, duplicated: 0, steps: 0, compactions: 0, rmFailures: 0, corruptions: 0, refusedCorrupt: 0, salvages: 0, heldInDoubt: 0 };
  violation: string | undefined;
  readonly #rng: Rng;
  readonly #scenario: Scenario;
  readonly #queue = new EventQueue<() => void>();
  readonly #nodes = new Map<NodeId, SimNode>();
  readonly #txs = new Map<TxId, TxState>();
  #healed = false;
  #io = false;

  readonly #corruption: number;
  readonly salvage: boolean | "participants";
  readonly #damageRng: Rng;
  /** Nodes whose log refused to open: down for good. */
  readonly #refused = new Set<NodeId>();

  constructor(seed: number, options: SimOptions) {
    this.#rng = new Rng(seed);
    this.#corruption = options.corruption ?? 0;
    this.salvage = options.salvage ?? false;
    if (this.salvage !== false && this.salvage !== true && this.salvage !== "participants") {
      throw new TypeError(`Expected \`salvage\` to be a boolean or "participants", got \`${String(this.salvage)}\``);
    }
    this.#damageRng = new Rng(seed ^ 0x5eed);
    this.#scenario = drawScenario(this.#rng);
    this.trace = options.trace === true ? (line) => this.lines.push(line) : undefined;
    this.onTrace = options.onTrace;
    const { coordinator, participants, txs, timing } = this.#scenario;
    this.#nodes.set(coordinator, new SimNode(coordinator, "coordinator", this, timing, options.mutation));
    for (const w of participants) this.#nodes.set(w, new SimNode(w, "participant", this, timing, options.mutation));
    for (const spec of txs) this.#txs.set(spec.txId, { spec, decided: { commit: false, abort: false }, rm: new Map(), begunBy: undefined });
  }

  schedule(delayMs: number, run: () => void): void {
    this.#queue.push(this.now + delayMs, run);
  }

  between(lo: number, hi: number): number {
    return this.#rng.between(lo, hi);
  }

  touchedIo(): void {
    this.#io = true;
  }

  fail(reason: string): void {
    this.violation ??= `${this.now}ms: ${reason}`;
    this.trace?.(`!!! VIOLATION ${reason}`);
  }

  send(from: NodeId, to: NodeId, msg: TwopcMessage): void {
    const s = this.#scenario;
    this.stats.messages++;
    if (!this.#healed && this.#rng.chance(s.dropRate)) {
      this.stats.dropped++;
      this.trace?.(`${"".padStart(8)} ${from.padEnd(3)}   (lost: ${describeMessage(msg)} to ${to})`);
      return;
    }
    const copies = !this.#healed && this.#rng.chance(s.duplicateRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) this.schedule(this.#rng.between(1, s.maxDelay), () => this.#nodes.get(to)?.receive(msg));
  }

  resourceManager(node: NodeId, call: TwopcAction & { type: "rm-prepare" | "rm-commit" | "rm-abort" }): ParticipantEvent | undefined {
    const { txId } = call;
    const tx = this.#txs.get(txId);
    if (tx === undefined) throw new Error(`unknown transaction ${txId}`);
    const before = tx.rm.get(node) ?? RmState.Idle;
    if (call.type !== "rm-prepare" && !this.#healed && this.#rng.chance(RM_FAILURE_RATE)) {
      // A transient failure (the database was busy, say): nothing changes; the driver retries.
      this.stats.rmFailures++;
      this.trace?.(`${"".padStart(8)} ${node.padEnd(3)}   resource manager: ${call.type.slice(3)} ${txId} FAILED (to be retried)`);
      return undefined;
    }
    let step: RmStep;
    let event: ParticipantEvent;
    switch (call.type) {
      case "rm-prepare": {
        const prepared = rmPrepare(before, tx.spec.votes.get(node) ?? Vote.Commit);
        step = prepared;
        event = { type: "prepared", txId, vote: prepared.vote };
        break;
      }
      case "rm-commit":
        step = rmCommit(before);
        event = { type: "applied", txId, decision: Decision.Commit };
        break;
      case "rm-abort":
        step = rmAbort(before);
        event = { type: "applied", txId, decision: Decision.Abort };
        break;
      default:
        throw new Error(`unhandled call ${JSON.stringify(call satisfies never)}`);
    }
    tx.rm.set(node, step.state);
    this.trace?.(`${"".padStart(8)} ${node.padEnd(3)}   resource manager: ${call.type.slice(3)} ${txId}: ${before} -> ${step.state}`);
    if (step.violation !== undefined) this.fail(`${node} ${txId}: ${step.violation}`);
    this.#check(tx);
    return event;
  }

  outcome(txId: TxId, decision: Decision): void {
    const tx = this.#txs.get(txId);
    if (tx === undefined) return this.fail(`outcome for unknown transaction ${txId}`);
    tx.decided[decision] = true;
    this.#check(tx);
  }

  get coordinator(): NodeId {
    return this.#scenario.coordinator;
  }

  salvaged(node: NodeId, inDoubt: readonly TxId[]): void {
    this.stats.salvages++;
    this.stats.heldInDoubt += inDoubt.length;
    this.trace?.(`${String(this.now).padStart(6)}ms ${node.padEnd(3)} SALVAGED its log; held in doubt: ${inDoubt.join(",") || "nothing"}`);
  }

  preparedAt(node: NodeId): TxId[] {
    const out: TxId[] = [];
    for (const [txId, tx] of this.#txs) if (tx.rm.get(node) === RmState.Prepared) out.push(txId);
    return out;
  }

  #check(tx: TxState): void {
    const violation = atomicityViolation({ participants: tx.spec.participants, decided: tx.decided, rm: tx.rm });
    if (violation !== undefined) this.fail(`${tx.spec.txId}: ${violation}`);
  }

  #start(node: SimNode): void {
    if (this.#refused.has(node.id)) return;
    this.#io = true;
    node.start().catch((err: unknown) => {
      // The log never lies: damage it cannot explain as a torn write, it refuses to open on.
      if (err instanceof LogCorruptError) {
        this.#refused.add(node.id);
        this.stats.refusedCorrupt++;
        node.status = NodeStatus.Down;
        this.trace?.(`${String(this.now).padStart(6)}ms ${node.id.padEnd(3)} REFUSED TO START: ${err.message}`);
        return;
      }
      this.fail(`${node.id} failed to start: ${String(err)}`);
    });
  }

  #begin(tx: TxState): void {
    const c = this.#nodes.get(this.#scenario.coordinator)!;
    if (c.status !== NodeStatus.Up) {
      this.trace?.(`${String(this.now).padStart(6)}ms ${c.id.padEnd(3)} begin ${tx.spec.txId} refused: coordinator down`);
      return;
    }
    tx.begunBy = c.incarnation;
    this.stats.transactions++;
    c.handle({ type: "begin", txId: tx.spec.txId, participants: tx.spec.participants, ...(tx.spec.durableStart ? { durableStart: true } : {}) });
  }

  #crashSomeNode(): void {
    const up = [...this.#nodes.values()].filter((n) => n.status === NodeStatus.Up);
    if (up.length === 0) return;
    const node = this.#rng.pick(up);
    this.stats.crashes++;
    node.crash((unsynced) => this.#rng.int(unsynced + 1));
    if (this.#corruption > 0 && this.#damageRng.chance(this.#corruption)) {
      const durable = node.fs.durableBytes(LOG_PATH);
      if (durable > 0) {
        const offset = this.#damageRng.int(durable);
        node.fs.damage(LOG_PATH, offset, 1 << this.#damageRng.int(8));
        this.stats.corruptions++;
        this.trace?.(`${String(this.now).padStart(6)}ms ${node.id.padEnd(3)} DISK: byte ${offset} of its log damaged`);
      }
    }
    this.schedule(this.#rng.between(SIM_LATENCY.downMs[0], SIM_LATENCY.downMs[1]), () => this.#start(node));
  }

  #heal(): void {
    this.#healed = true;
    this.trace?.(`${String(this.now).padStart(6)}ms --- HEAL: no more loss, duplication or crashes; every node restarts`);
    for (const node of this.#nodes.values()) this.#start(node);
  }

  async run(): Promise<void> {
    const s = this.#scenario;
    this.trace?.(
      `scenario: participants ${s.participants.join(",")}; drop ${s.dropRate}, duplicate ${s.duplicateRate}, delay <= ${s.maxDelay}ms, crash rate ${s.crashRate}; heal at ${s.healAt}ms; timing ${JSON.stringify(s.timing)}`,
    );
    for (const tx of this.#txs.values()) {
      const votes = [...tx.spec.votes].map(([w, v]) => `${w}:${v}`).join(" ");
      this.trace?.(`  ${tx.spec.txId} at ${tx.spec.at}ms, votes ${votes}${tx.spec.joiners.length > 0 ? `, joined first by ${tx.spec.joiners.join(",")}` : ""}`);
    }
    for (const node of this.#nodes.values()) this.#start(node);
    for (const tx of this.#txs.values()) {
      for (const w of tx.spec.joiners) {
        const at = Math.max(0, tx.spec.at - this.#rng.between(1, 20));
        this.schedule(at, () => this.#nodes.get(w)!.handle({ type: "join", txId: tx.spec.txId, coordinator: s.coordinator }));
      }
      this.schedule(tx.spec.at, () => this.#begin(tx));
    }
    this.schedule(s.healAt, () => this.#heal());
    for (;;) {
      while (this.#io) {
        // Let the logs' promise chains run (a sync completing may append and sync again).
        this.#io = false;
        await drain();
      }
      if (this.violation !== undefined) return;
      const next = this.#queue.pop();
      if (next === undefined) break;
      if (next.time > TIME_LIMIT_MS) {
        // With a node down for good, the others may ask it for ever: that is the expected block.
        if (this.#refused.size > 0) break;
        return this.fail(`still busy at the ${TIME_LIMIT_MS}ms limit (liveness): ${this.#holdings().join("; ")}`);
      }
      this.now = next.time;
      next.event();
      this.stats.steps++;
      if (!this.#healed && this.stats.crashes < s.maxCrashes && this.#rng.chance(s.crashRate)) this.#crashSomeNode();
    }
    await this.#checkEnd();
  }

  #holdings(): string[] {
    const out: string[] = [];
    for (const node of this.#nodes.values()) {
      for (const tx of node.machine?.transactions() ?? []) out.push(`${node.id} holds ${tx.txId} in ${tx.phase}`);
    }
    return out;
  }

  async #checkEnd(): Promise<void> {
    if (this.#refused.size > 0) {
      // A node down for good (its log refused to open) blocks what it took part in: liveness
      // cannot hold, and an operator must restore its log. Safety was checked at every step.
      this.stats.committed = [...this.#txs.values()].filter((tx) => tx.decided.commit).length;
      return;
    }
    for (const node of this.#nodes.values()) if (node.status !== NodeStatus.Up) return this.fail(`${node.id} is not up after healing`);
    const held = this.#holdings();
    if (held.length > 0) return this.fail(`quiet but unfinished (liveness): ${held.join("; ")}`);
    const coordinator = this.#nodes.get(this.#scenario.coordinator)!;
    for (const tx of this.#txs.values()) {
      for (const [node, state] of tx.rm) if (state === RmState.Prepared) return this.fail(`${node} is still prepared for ${tx.spec.txId} (blocked forever)`);
      if (tx.begunBy === coordinator.incarnation && !tx.decided.commit && !tx.decided.abort) return this.fail(`${tx.spec.txId} never got an outcome`);
      if (tx.decided.commit) this.stats.committed++;
      else if (tx.begunBy !== undefined) this.stats.aborted++;
    }
    for (const node of this.#nodes.values()) {
      this.stats.compactions += node.log?.stats.compactions ?? 0;
      const { records } = await readLog(LOG_DIR, node.fs);
      const summary = summarizeRecords(records);
      for (const state of [...summary.coordinator.values(), ...summary.participant.values()]) {
        if (!state.ended) return this.fail(`${node.id}'s log still has ${state.txId} in ${state.phase}: a restart would act on it`);
      }
    }
  }
}

/**
 * Runs one seed. The same seed always produces the same run (and the same trace).
 *
 * @example
 * const result = await simulateSeed(42)
 * if (!result.ok) console.log((await simulateSeed(42, { trace: true })).trace.join("\n"))
 */
export async function simulateSeed(seed: number, options: SimOptions = {}): Promise<SimResult> {
  const sim = new Simulation(seed, options);
  await sim.run();
  const { violation } = sim;
  return { seed, ok: violation === undefined, ...(violation === undefined ? {} : { violation }), stats: sim.stats, trace: sim.lines };
}
