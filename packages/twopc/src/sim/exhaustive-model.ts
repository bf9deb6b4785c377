/**
 * The model the exhaustive checker explores: one coordinator, two participants, one transaction.
 * The machines are the real per-transaction transition functions; around them, everything
 * that may happen in any order is a transition:
 *
 * - the network is a set of messages in flight: delivering one leaves it there (so any message
 *   can be duplicated, reordered, or delayed without bound); a loss empties the set. For safety,
 *   losing a message is the same as never delivering it, which the set already allows; for
 *   liveness, losing everything is the worst loss (a fault-free continuation may always ignore
 *   a message), so "lose all in flight", possible at any moment, stands for every loss pattern;
 * - any armed timer can fire at any moment (timing is abstract, which covers every race);
 * - a node's log is its durable records plus appended-but-unsynced ones; a sync makes them all
 *   durable (and feeds the `durable` events); a crash keeps any prefix of the unsynced ones
 *   (a torn tail), drops timers and in-flight resource-manager calls. Only a forced record
 *   triggers a sync: an unforced one that was synced early behaves like one kept by a crash,
 *   so leaving it unsynced loses no behaviour (and a clean shutdown would sync it);
 * - a resource-manager call completes at any moment; a crashed node restarts at any moment.
 *
 * Loss and crashes are faults; the rest is a fault-free step.
 *
 * The machines' actions are carried out by the driver the real nodes and the simulator use
 * (driver/driver.ts), through ports that record into the state: it decides how each record is
 * appended, when `durable` is fed back, and what a resource manager's answer becomes. Its
 * completions are model steps: a sync reports the forced records durable; an unforced write is
 * reported written right after the step that appended it (the earliest it can be). What the
 * model abstracts instead of sharing: the `StableLog` (durable + unsynced lists; a sync and a
 * crash are steps), the `Timers` (a set of armed timer names, any of which may fire next), the
 * resource manager's retries (its calls never fail here: a failure then a retry is the same, to
 * everyone else, as a later completion, which the model already allows), and the machine classes'
 * maps of transactions (one transaction, through the per-transaction step functions).
 */
import type { Clock } from "@zmbox/mailbox/internal";
import type { TwopcAction } from "../protocol/actions.js";
import { recoverCoordinatorTx, stepCoordinator, type CoordinatorTx } from "../protocol/coordinator.js";
import type { TimerName, TwopcEvent } from "../protocol/events.js";
import { summarizeRecords } from "../protocol/machine.js";
import type { TwopcMessage } from "../protocol/messages.js";
import { isMachineMutation, type Mutation } from "./mutation.js";
import { parseCoordinatorMachineOptions, parseParticipantMachineOptions, type ResolvedCoordinatorMachineOptions, type ResolvedParticipantMachineOptions } from "../protocol/options.js";
import type { TwopcRecord } from "../protocol/records.js";
import { Decision, type NodeId, type TxId, type Vote } from "../protocol/types.js";
import { isParticipantTxDone, type ParticipantTx } from "../protocol/participant-state.js";
import { recoverUnloggedPrepared, recoverParticipantTx, stepParticipant } from "../protocol/participant.js";
import { RmState, atomicityViolation, rmAbort, rmCommit, rmPrepare, type RmStep } from "./model.js";
import { describeAction, describeEvent, describeMessage } from "./trace.js";
import { Driver, FORCED, type AppendMode, type DriverPorts } from "../driver/driver.js";

const TX = "tx";
const COORDINATOR = "c";
const PARTICIPANTS = ["w1", "w2"] as const;
const NODES = [COORDINATOR, ...PARTICIPANTS] as const;

type RmCall = "rm-prepare" | "rm-commit" | "rm-abort";

export interface ModelNode {
  readonly up: boolean;
  readonly tx: CoordinatorTx | ParticipantTx | undefined;
  readonly durable: readonly TwopcRecord[];
  readonly unsynced: readonly { readonly record: TwopcRecord; readonly force: boolean }[];
  readonly timers: readonly TimerName[];
  readonly rmCalls: readonly RmCall[];
}

export interface ModelState {
  /** Coordinator, then w1, w2. */
  readonly nodes: readonly ModelNode[];
  /** Messages in flight as `"<to> <msg as JSON>"`, sorted, no duplicates. */
  readonly network: readonly string[];
  /** The participants' resource managers (they survive crashes). */
  readonly rm: readonly RmState[];
  readonly decided: { readonly commit: boolean; readonly abort: boolean };
  readonly crashes: number;
  readonly losses: number;
  /** Interned ids of each node and of the network, and the canonical key built from them. */
  readonly nodeIds: readonly number[];
  readonly networkId: number;
  readonly key: string;
}

/**
 * Numbers distinct texts. Node states and message sets are immutable and shared between
 * states, so each is serialised only when it changes, and a state's key is a short string of
 * ids: equal for equal states (up to the JSON field order of the machines' state objects).
 */
export class Interner {
  readonly #ids = new Map<string, number>();
  readonly #logs = new WeakMap<object, number>();

  id(text: string): number {
    let id = this.#ids.get(text);
    if (id === undefined) this.#ids.set(text, (id = this.#ids.size));
    return id;
  }

  /** A node's id. Its log lists change rarely, so they are interned once per list. */
  node(node: ModelNode): number {
    const tx = node.tx === undefined ? "" : JSON.stringify(node.tx);
    return this.id(`${node.up ? 1 : 0};${tx};${this.#log(node.durable)};${this.#log(node.unsynced)};${node.timers.join(",")};${node.rmCalls.join(",")}`);
  }

  #log(list: readonly object[]): number {
    let id = this.#logs.get(list);
    if (id === undefined) this.#logs.set(list, (id = this.id(JSON.stringify(list))));
    return id;
  }
}

export interface ModelConfig {
  /** Each participant's resource-manager vote. */
  readonly votes: readonly [Vote, Vote];
  /** Participants whose application joined before VOTE-REQ (they start in INIT with a join timer). */
  readonly joined: readonly [boolean, boolean];
  /** The coordinator forces COORD-START before VOTE-REQ (a caller's own transaction id). */
  readonly durableStart: boolean;
  readonly maxCrashes: number;
  /** How many times the network may lose everything in flight. */
  readonly maxLosses: number;
  readonly mutation: Mutation | undefined;
}

export interface Transition {
  readonly label: string;
  readonly faulty: boolean;
  readonly next: ModelState;
  /** Set when the transition broke a safety invariant. */
  readonly violation: string | undefined;
}

interface MachineOptions {
  readonly coordinator: ResolvedCoordinatorMachineOptions;
  readonly participants: readonly ResolvedParticipantMachineOptions[];
}

interface Options extends MachineOptions {
  /** The nodes' drivers (shared by every state: what differs between states is in the draft). */
  readonly drivers: ModelDrivers;
}

const resolved = new WeakMap<ModelConfig, Options>();

function options(config: ModelConfig): Options {
  let o = resolved.get(config);
  if (o === undefined) {
    const planted = config.mutation;
    const mutation = isMachineMutation(planted) ? { mutation: planted } : {};
    const coordinator = parseCoordinatorMachineOptions({ self: COORDINATOR, ...mutation });
    const participants = PARTICIPANTS.map((self) => parseParticipantMachineOptions({ self, rememberFor: Infinity, ...mutation }));
    o = { coordinator, participants, drivers: new ModelDrivers({ coordinator, participants }, planted) };
    resolved.set(config, o);
  }
  return o;
}

const emptyNode: ModelNode = { up: true, tx: undefined, durable: [], unsynced: [], timers: [], rmCalls: [] };

/** Mutable scratch copy of a state while one transition's actions are applied. */
class Draft {
  readonly nodes: ModelNode[];
  network: readonly string[];
  readonly rm: RmState[];
  decided: { commit: boolean; abort: boolean };
  crashes: number;
  losses: number;
  violation: string | undefined;
  /** What happened, when tracing (`undefined` while searching, for speed). */
  readonly log: string[] | undefined;
  readonly #base: ModelState | undefined;

  constructor(state: Omit<ModelState, "nodeIds" | "networkId" | "key">, traced: boolean) {
    this.#base = "key" in state ? (state as ModelState) : undefined;
    this.log = traced ? [] : undefined;
    this.nodes = [...state.nodes];
    this.network = state.network;
    this.rm = [...state.rm];
    this.decided = state.decided;
    this.crashes = state.crashes;
    this.losses = state.losses;
  }

  /** Whether nothing (but possibly the trace) differs from the state the draft started from. */
  unchanged(): boolean {
    const base = this.#base;
    if (base === undefined || this.network !== base.network || this.decided !== base.decided) return false;
    if (this.crashes !== base.crashes || this.losses !== base.losses) return false;
    return this.nodes.every((n, i) => n === base.nodes[i]) && this.rm.every((r, i) => r === base.rm[i]);
  }

  freeze(interner: Interner): ModelState {
    const base = this.#base;
    const nodeIds = this.nodes.map((n, i) => (base !== undefined && n === base.nodes[i] ? base.nodeIds[i]! : interner.node(n)));
    const networkId = base !== undefined && this.network === base.network ? base.networkId : interner.id(this.network.join("\n"));
    const d = this.decided;
    const key = `${nodeIds.join(",")}|${networkId}|${this.rm.join(",")}|${d.commit ? 1 : 0}${d.abort ? 1 : 0}|${this.crashes}|${this.losses}`;
    return { nodes: this.nodes, network: this.network, rm: this.rm, decided: d, crashes: this.crashes, losses: this.losses, nodeIds, networkId, key };
  }

  fail(reason: string): void {
    this.violation ??= reason;
  }
}

function nodeIndex(id: NodeId): number {
  const i = (NODES as readonly string[]).indexOf(id);
  if (i < 0) throw new Error(`unknown node ${id}`);
  return i;
}

function addSorted<T>(list: readonly T[], item: T, key: (x: T) => string): T[] {
  const k = key(item);
  if (list.some((x) => key(x) === k)) return list as T[];
  return [...list, item].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** The model has no clock: timers are a set of names, and resource-manager calls never fail (so are never retried). */
const noClock: Clock = {
  now: () => 0,
  setTimeout: () => {
    throw new Error("the exhaustive model has no clock");
  },
  clearTimeout: () => {},
};

/** A node's one transaction, as the driver's machine: the per-transaction step functions. */
class ModelMachine {
  tx: CoordinatorTx | ParticipantTx | undefined;
  readonly #index: number;
  readonly #o: MachineOptions;

  constructor(index: number, o: MachineOptions) {
    this.#index = index;
    this.#o = o;
  }

  handle(event: TwopcEvent): readonly TwopcAction[] {
    let step;
    if (this.#index === 0) {
      if (event.type === "join" || event.type === "prepared" || event.type === "applied") throw new Error(`coordinator got ${event.type}`);
      step = stepCoordinator(this.tx as CoordinatorTx | undefined, event, this.#o.coordinator);
    } else {
      if (event.type === "begin") throw new Error("participant got begin");
      step = stepParticipant(this.tx as ParticipantTx | undefined, event, this.#o.participants[this.#index - 1]!);
    }
    this.tx = step.tx;
    return step.actions;
  }
}

/**
 * The drivers of the three nodes, with ports that write into the draft being built, one
 * transition at a time (`run` points them at its draft).
 */
class ModelDrivers {
  #draft: Draft | undefined;
  /** Unforced writes appended during this transition: reported written once it has run. */
  readonly #written: Array<{ index: number; record: TwopcRecord; mode: AppendMode }> = [];
  readonly #machines: ModelMachine[];
  readonly #drivers: Driver[];
  readonly #mutation: Mutation | undefined;

  constructor(o: MachineOptions, mutation: Mutation | undefined) {
    this.#mutation = mutation;
    this.#machines = NODES.map((_, i) => new ModelMachine(i, o));
    this.#drivers = NODES.map((_, i) => this.#driver(i));
  }

  get #d(): Draft {
    return this.#draft!;
  }

  #driver(index: number): Driver {
    const id = NODES[index]!;
    const node = (): ModelNode => this.#d.nodes[index]!;
    const set = (changed: Partial<ModelNode>): void => {
      this.#d.nodes[index] = { ...node(), ...changed };
    };
    const call = (c: RmCall): void => {
      if (!node().rmCalls.includes(c)) set({ rmCalls: addSorted(node().rmCalls, c, (x) => x) });
    };
    const ports: DriverPorts = {
      log: {
        append: (record, mode) => {
          // A lazy record syncs as a forced one does, only later: abstract timing covers it.
          set({ unsynced: [...node().unsynced, { record, force: mode.sync }] });
          if (!mode.sync) this.#written.push({ index, record, mode });
        },
      },
      send: (to, msg) => {
        this.#d.network = addSorted(this.#d.network, `${to} ${JSON.stringify(msg)}`, (m) => m);
        return undefined;
      },
      clock: noClock,
      timers: {
        set: (_txId: TxId, timer: TimerName) => {
          if (!node().timers.includes(timer)) set({ timers: addSorted(node().timers, timer, (t) => t) });
        },
        clear: (_txId: TxId, timer: TimerName) => {
          if (node().timers.includes(timer)) set({ timers: node().timers.filter((t) => t !== timer) });
        },
        clearAll: () => {},
      },
      ...(index === 0
        ? {
            outcome: (action) => {
              const key = action.committed ? "commit" : "abort";
              if (!this.#d.decided[key]) this.#d.decided = { ...this.#d.decided, [key]: true };
            },
          }
        : {
            resourceManager: {
              prepare: () => call("rm-prepare"),
              apply: (_txId, decision) => call(decision === Decision.Commit ? "rm-commit" : "rm-abort"),
            },
          }),
      stopped: (error) => this.#d.fail(`${id} ${error.message}: ${error.cause instanceof Error ? error.cause.message : String(error.cause)}`),
      trace: {
        event: (event) => this.#d.log?.push(`${id} ${describeEvent(event)}`),
        action: (action) => this.#d.log?.push(`  ${id} -> ${describeAction(action)}`),
      },
    };
    return new Driver(this.#machines[index]!, ports, { address: id, mutation: this.#mutation });
  }

  /**
   * Runs `step` on node `index`'s driver, its machine holding the node's transaction; then the
   * unforced writes it started complete (the driver ignores them unless it is broken).
   */
  run(draft: Draft, index: number, step: (driver: Driver) => void): void {
    this.#draft = draft;
    this.#step(index, step);
    for (let w = this.#written.shift(); w !== undefined; w = this.#written.shift()) {
      const { record, mode } = w;
      if (this.#d.nodes[w.index]!.up) this.#step(w.index, (driver) => driver.written(record, mode));
    }
    this.#draft = undefined;
  }

  #step(index: number, step: (driver: Driver) => void): void {
    // A driver stops only when its machine threw (a violation): the next transition gets a fresh one.
    if (this.#drivers[index]!.stopped) this.#drivers[index] = this.#driver(index);
    const machine = this.#machines[index]!;
    const before = this.#d.nodes[index]!.tx;
    machine.tx = before;
    try {
      step(this.#drivers[index]!);
    } catch (err) {
      this.#d.fail(`${NODES[index]} threw: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (machine.tx !== before) this.#d.nodes[index] = { ...this.#d.nodes[index]!, tx: machine.tx };
  }
}

/** Feeds `event` to node `index` through its driver. */
function feed(draft: Draft, index: number, event: TwopcEvent, o: Options): void {
  o.drivers.run(draft, index, (driver) => driver.feed(event));
}

/** Carries out `actions` (recovery's) on node `index` through its driver. */
function apply(draft: Draft, index: number, actions: readonly TwopcAction[], o: Options): void {
  o.drivers.run(draft, index, (driver) => driver.execute(actions));
}

function checkAtomicity(draft: Draft): void {
  const violation = atomicityViolation({ participants: PARTICIPANTS, decided: draft.decided, rm: new Map(PARTICIPANTS.map((w, i) => [w, draft.rm[i]!])) });
  if (violation !== undefined) draft.fail(violation);
}

/** The state after `begin` (and the joins), with every node up and nothing logged. */
export function initialState(config: ModelConfig, interner: Interner): { state: ModelState; log: string[] } {
  const o = options(config);
  const draft = new Draft({ nodes: NODES.map(() => emptyNode), network: [], rm: PARTICIPANTS.map(() => RmState.Idle), decided: { commit: false, abort: false }, crashes: 0, losses: 0 }, true);
  PARTICIPANTS.forEach((_, i) => {
    if (config.joined[i]) feed(draft, i + 1, { type: "join", txId: TX, coordinator: COORDINATOR }, o);
  });
  feed(draft, 0, { type: "begin", txId: TX, participants: PARTICIPANTS, ...(config.durableStart ? { durableStart: true } : {}) }, o);
  return { state: draft.freeze(interner), log: draft.log ?? [] };
}

function runRm(draft: Draft, index: number, call: RmCall, config: ModelConfig, o: Options): void {
  const w = index - 1;
  const before = draft.rm[w]!;
  let step: RmStep;
  let answer: (driver: Driver) => void;
  switch (call) {
    case "rm-prepare": {
      const prepared = rmPrepare(before, config.votes[w]!);
      step = prepared;
      answer = (driver) => driver.voted(TX, prepared.vote);
      break;
    }
    case "rm-commit":
      step = rmCommit(before);
      answer = (driver) => driver.applied(TX, Decision.Commit, true);
      break;
    case "rm-abort":
      step = rmAbort(before);
      answer = (driver) => driver.applied(TX, Decision.Abort, true);
      break;
    default:
      throw new Error(`unhandled call ${String(call satisfies never)}`);
  }
  draft.rm[w] = step.state;
  if (step.violation !== undefined) draft.fail(`${NODES[index]}: ${step.violation}`);
  const node = draft.nodes[index]!;
  draft.nodes[index] = { ...node, rmCalls: node.rmCalls.filter((c) => c !== call) };
  o.drivers.run(draft, index, answer);
}

function restart(draft: Draft, index: number, o: Options): void {
  const node = draft.nodes[index]!;
  const summary = summarizeRecords(node.durable);
  draft.nodes[index] = { ...emptyNode, durable: node.durable };
  draft.log?.push(`${NODES[index]} RESTART with ${node.durable.length} durable records`);
  if (index === 0) {
    const state = summary.coordinator.get(TX);
    if (state === undefined) return;
    const step = recoverCoordinatorTx(state, o.coordinator);
    draft.nodes[index] = { ...draft.nodes[index]!, tx: step.tx };
    apply(draft, index, step.actions, o);
    return;
  }
  const wo = o.participants[index - 1]!;
  const state = summary.participant.get(TX);
  const step = state !== undefined ? recoverParticipantTx(state, wo) : draft.rm[index - 1] === RmState.Prepared ? recoverUnloggedPrepared(TX) : undefined;
  if (step === undefined) return;
  draft.nodes[index] = { ...draft.nodes[index]!, tx: step.tx };
  apply(draft, index, step.actions, o);
}

/** Every transition enabled in `state`; with `traced`, labels say what the machines did. */
export function successors(state: ModelState, config: ModelConfig, interner: Interner, traced = false): Transition[] {
  const o = options(config);
  const out: Transition[] = [];
  const emit = (label: string, faulty: boolean, change: (draft: Draft) => void): void => {
    const draft = new Draft(state, traced);
    change(draft);
    if (draft.unchanged() && draft.violation === undefined) return; // a self-loop tells nothing
    if (draft.violation === undefined) checkAtomicity(draft);
    out.push({ label: draft.log === undefined ? label : [label, ...draft.log].join("\n"), faulty, next: draft.freeze(interner), violation: draft.violation });
  };
  for (const entry of state.network) {
    const space = entry.indexOf(" ");
    const to = nodeIndex(entry.slice(0, space));
    const msg = JSON.parse(entry.slice(space + 1)) as TwopcMessage;
    if (state.nodes[to]!.up) emit(`deliver to ${NODES[to]}: ${describeMessage(msg)}`, false, (d) => o.drivers.run(d, to, (driver) => driver.receive(msg)));
  }
  if (state.losses < config.maxLosses && state.network.length > 0) {
    emit(`LOSE all ${state.network.length} messages in flight`, true, (d) => {
      d.network = [];
      d.losses++;
    });
  }
  state.nodes.forEach((node, i) => {
    const id = NODES[i]!;
    if (!node.up) {
      emit(`restart ${id}`, false, (d) => restart(d, i, o));
      return;
    }
    for (const timer of node.timers) {
      emit(`${id} timer ${timer} fires`, false, (d) => {
        const n = d.nodes[i]!;
        d.nodes[i] = { ...n, timers: n.timers.filter((t) => t !== timer) };
        o.drivers.run(d, i, (driver) => driver.timeout(TX, timer));
      });
    }
    if (node.unsynced.some((u) => u.force)) {
      emit(`${id} log sync`, false, (d) => {
        const n = d.nodes[i]!;
        d.nodes[i] = { ...n, durable: [...n.durable, ...n.unsynced.map((u) => u.record)], unsynced: [] };
        for (const u of n.unsynced) if (u.force) o.drivers.run(d, i, (driver) => driver.written(u.record, FORCED));
      });
    }
    for (const call of node.rmCalls) emit(`${id} resource manager completes ${call}`, false, (d) => runRm(d, i, call, config, o));
    if (state.crashes < config.maxCrashes) {
      for (let keep = 0; keep <= node.unsynced.length; keep++) {
        emit(`CRASH ${id} keeping ${keep} of ${node.unsynced.length} unsynced records`, true, (d) => {
          d.nodes[i] = { ...emptyNode, up: false, durable: [...node.durable, ...node.unsynced.slice(0, keep).map((u) => u.record)] };
          d.crashes++;
        });
      }
    }
  });
  return out;
}

/** Nothing left to do anywhere: every node up and finished, and its log (once flushed) says so. */
export function isTerminal(state: ModelState): boolean {
  if (state.rm.includes(RmState.Prepared)) return false;
  return state.nodes.every((node, i) => {
    if (!node.up || node.rmCalls.length > 0 || node.unsynced.some((u) => u.force)) return false;
    if (node.tx !== undefined && (i === 0 || !isParticipantTxDone(node.tx as ParticipantTx))) return false;
    const summary = summarizeRecords([...node.durable, ...node.unsynced.map((u) => u.record)]);
    return [...summary.coordinator.values(), ...summary.participant.values()].every((s) => s.ended);
  });
}
