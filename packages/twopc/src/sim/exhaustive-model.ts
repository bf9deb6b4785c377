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
 */
import type { TwopcAction } from "../protocol/actions.js";
import { recoverCoordinatorTx, stepCoordinator, type CoordinatorTx } from "../protocol/coordinator.js";
import type { TimerName, TwopcEvent } from "../protocol/events.js";
import { summarizeRecords } from "../protocol/machine.js";
import type { TwopcMessage } from "../protocol/messages.js";
import { type Mutation } from "./mutation.js";
import { parseCoordinatorMachineOptions, parseParticipantMachineOptions, type ResolvedCoordinatorMachineOptions, type ResolvedParticipantMachineOptions } from "../protocol/options.js";
import type { TwopcRecord } from "../protocol/records.js";
import { Decision, type NodeId, type Vote } from "../protocol/types.js";
import { isParticipantTxDone, type ParticipantTx } from "../protocol/participant-state.js";
import { recoverUnloggedPrepared, recoverParticipantTx, stepParticipant } from "../protocol/participant.js";
import { RmState, atomicityViolation, rmAbort, rmCommit, rmPrepare, type RmStep } from "./model.js";
import { describeAction, describeEvent, describeMessage } from "./trace.js";

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

interface Options {
  readonly coordinator: ResolvedCoordinatorMachineOptions;
  readonly participants: readonly ResolvedParticipantMachineOptions[];
}

const resolved = new WeakMap<ModelConfig, Options>();

function options(config: ModelConfig): Options {
  let o = resolved.get(config);
  if (o === undefined) {
    const mutation = config.mutation === undefined ? {} : { mutation: config.mutation };
    o = {
      coordinator: parseCoordinatorMachineOptions({ self: COORDINATOR, ...mutation }),
      participants: PARTICIPANTS.map((self) => parseParticipantMachineOptions({ self, rememberFor: Infinity, ...mutation })),
    };
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

function apply(draft: Draft, index: number, actions: readonly TwopcAction[]): void {
  const id = NODES[index]!;
  for (const action of actions) {
    draft.log?.push(`  ${id} -> ${describeAction(action)}`);
    const node = draft.nodes[index]!;
    switch (action.type) {
      case "append":
        draft.nodes[index] = { ...node, unsynced: [...node.unsynced, { record: action.record, force: action.force }] };
        break;
      case "send":
        draft.network = addSorted(draft.network, `${action.to} ${JSON.stringify(action.msg)}`, (m) => m);
        break;
      case "set-timer":
        if (!node.timers.includes(action.timer)) draft.nodes[index] = { ...node, timers: addSorted(node.timers, action.timer, (t) => t) };
        break;
      case "clear-timer":
        if (node.timers.includes(action.timer)) draft.nodes[index] = { ...node, timers: node.timers.filter((t) => t !== action.timer) };
        break;
      case "rm-prepare":
      case "rm-commit":
      case "rm-abort":
        if (!node.rmCalls.includes(action.type)) draft.nodes[index] = { ...node, rmCalls: addSorted(node.rmCalls, action.type, (c) => c) };
        break;
      case "outcome":
        if (!draft.decided[action.committed ? "commit" : "abort"]) draft.decided = { ...draft.decided, [action.committed ? "commit" : "abort"]: true };
        break;
      default:
        throw new Error(`unhandled action ${JSON.stringify(action satisfies never)}`);
    }
  }
}

function feed(draft: Draft, index: number, event: TwopcEvent, o: Options): void {
  const node = draft.nodes[index]!;
  draft.log?.push(`${NODES[index]} ${describeEvent(event)}`);
  let step;
  try {
    if (index === 0) {
      if (event.type === "join" || event.type === "prepared" || event.type === "applied") throw new Error(`coordinator got ${event.type}`);
      step = stepCoordinator(node.tx as CoordinatorTx | undefined, event, o.coordinator);
    } else {
      if (event.type === "begin") throw new Error("participant got begin");
      step = stepParticipant(node.tx as ParticipantTx | undefined, event, o.participants[index - 1]!);
    }
  } catch (err) {
    draft.fail(`${NODES[index]} threw: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  if (step.tx !== node.tx) draft.nodes[index] = { ...node, tx: step.tx };
  apply(draft, index, step.actions);
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
  feed(draft, 0, { type: "begin", txId: TX, participants: PARTICIPANTS }, o);
  return { state: draft.freeze(interner), log: draft.log ?? [] };
}

function runRm(draft: Draft, index: number, call: RmCall, config: ModelConfig, o: Options): void {
  const w = index - 1;
  const before = draft.rm[w]!;
  let step: RmStep;
  let event: TwopcEvent;
  switch (call) {
    case "rm-prepare": {
      const prepared = rmPrepare(before, config.votes[w]!);
      step = prepared;
      event = { type: "prepared", txId: TX, vote: prepared.vote };
      break;
    }
    case "rm-commit":
      step = rmCommit(before);
      event = { type: "applied", txId: TX, decision: Decision.Commit };
      break;
    case "rm-abort":
      step = rmAbort(before);
      event = { type: "applied", txId: TX, decision: Decision.Abort };
      break;
    default:
      throw new Error(`unhandled call ${String(call satisfies never)}`);
  }
  draft.rm[w] = step.state;
  if (step.violation !== undefined) draft.fail(`${NODES[index]}: ${step.violation}`);
  const node = draft.nodes[index]!;
  draft.nodes[index] = { ...node, rmCalls: node.rmCalls.filter((c) => c !== call) };
  feed(draft, index, event, o);
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
    apply(draft, index, step.actions);
    return;
  }
  const wo = o.participants[index - 1]!;
  const state = summary.participant.get(TX);
  const step = state !== undefined ? recoverParticipantTx(state, wo) : draft.rm[index - 1] === RmState.Prepared ? recoverUnloggedPrepared(TX) : undefined;
  if (step === undefined) return;
  draft.nodes[index] = { ...draft.nodes[index]!, tx: step.tx };
  apply(draft, index, step.actions);
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
    if (state.nodes[to]!.up) emit(`deliver to ${NODES[to]}: ${describeMessage(msg)}`, false, (d) => feed(d, to, { type: "receive", msg }, o));
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
        feed(d, i, { type: "timeout", txId: TX, timer }, o);
      });
    }
    if (node.unsynced.some((u) => u.force)) {
      emit(`${id} log sync`, false, (d) => {
        const n = d.nodes[i]!;
        d.nodes[i] = { ...n, durable: [...n.durable, ...n.unsynced.map((u) => u.record)], unsynced: [] };
        for (const u of n.unsynced) if (u.force) feed(d, i, { type: "durable", record: u.record }, o);
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
