/**
 * A simulated node: the sim's driver for one machine. It executes actions exactly as the
 * contract in `twopc/machine.ts` says, against a `StableLog` over a `MemoryFs` (whose syncs
 * complete on the virtual clock), a virtual network and a durable resource-manager model.
 */
import { MemoryFs } from "@zmbox/log";
import { StableLog } from "@zmbox/log";
import type { TwopcAction } from "../protocol/actions.js";
import { CoordinatorMachine } from "../protocol/coordinator.js";
import type { CoordinatorEvent, TimerName, TwopcEvent, ParticipantEvent } from "../protocol/events.js";
import type { TwopcMessage } from "../protocol/messages.js";
import type { Mutation } from "../protocol/options.js";
import type { TwopcRecord } from "../protocol/records.js";
import type { Decision, NodeId, TxId } from "../protocol/types.js";
import { ParticipantMachine } from "../protocol/participant.js";
import { SIM_LATENCY, type SimTiming } from "./scenario.js";
import { describeAction, describeEvent } from "./trace.js";

/** Where simulated nodes live: the clock, the network, the resource managers, the checker. */
export interface World {
  readonly now: number;
  /** Runs `run` after `delayMs` of virtual time. */
  schedule(delayMs: number, run: () => void): void;
  /** A random integer in [lo, hi]. */
  between(lo: number, hi: number): number;
  send(from: NodeId, to: NodeId, msg: TwopcMessage): void;
  /** The resource manager at `node` runs one call; returns the event to feed back. */
  resourceManager(node: NodeId, call: TwopcAction & { type: "rm-prepare" | "rm-commit" | "rm-abort" }): ParticipantEvent;
  outcome(txId: TxId, decision: Decision): void;
  /** Transactions the resource manager at `node` holds prepared (its recover hook). */
  preparedAt(node: NodeId): TxId[];
  /** Marks that asynchronous log work was started and must be let run. */
  touchedIo(): void;
  fail(reason: string): void;
  /** Records a trace line, when tracing. */
  readonly trace: ((line: string) => void) | undefined;
}

export const NodeStatus = { Down: "down", Starting: "starting", Up: "up" } as const;
export type NodeStatus = (typeof NodeStatus)[keyof typeof NodeStatus];

/** Where each simulated node keeps its log (on its own MemoryFs). */
export const LOG_DIR = "/log";

/** Log compaction thresholds small enough that compaction happens within a seed. */
const COMPACT = { compactMinBytes: 512, compactRatio: 2 } as const;

function isCoordinatorEvent(event: TwopcEvent): event is CoordinatorEvent {
  return event.type === "begin" || event.type === "receive" || event.type === "timeout" || event.type === "durable";
}

export class SimNode {
  readonly id: NodeId;
  readonly role: "coordinator" | "participant";
  readonly fs: MemoryFs;
  status: NodeStatus = NodeStatus.Down;
  /** Bumped by every crash: callbacks from an older incarnation are dropped. */
  incarnation = 0;
  machine: CoordinatorMachine | ParticipantMachine | undefined;
  log: StableLog<TwopcRecord> | undefined;
  readonly #world: World;
  readonly #mutation: Mutation | undefined;
  readonly #timing: SimTiming;
  readonly #timers = new Map<string, number>();
  #timerTokens = 0;

  constructor(id: NodeId, role: "coordinator" | "participant", world: World, timing: SimTiming, mutation: Mutation | undefined) {
    this.id = id;
    this.role = role;
    this.#world = world;
    this.#timing = timing;
    this.#mutation = mutation;
    this.fs = new MemoryFs({
      scheduleSync: (done) => world.schedule(world.between(SIM_LATENCY.syncMs[0], SIM_LATENCY.syncMs[1]), () => {
        world.touchedIo();
        done();
      }),
    });
  }

  #trace(text: string): void {
    this.#world.trace?.(`${String(this.#world.now).padStart(6)}ms ${this.id.padEnd(3)} ${text}`);
  }

  /** Opens the log, recovers the machine and runs what recovery asks for. */
  async start(): Promise<void> {
    if (this.status !== NodeStatus.Down) return;
    this.status = NodeStatus.Starting;
    const incarnation = this.incarnation;
    const mutation = this.#mutation === undefined ? {} : { mutation: this.#mutation };
    const timing = this.#timing;
    const machine =
      this.role === "coordinator"
        ? new CoordinatorMachine({ self: this.id, voteTimeout: timing.voteTimeout, resendInterval: timing.resendInterval, ...mutation })
        : new ParticipantMachine({
            self: this.id,
            askAfter: timing.askAfter,
            askInterval: timing.askInterval,
            joinTimeout: timing.joinTimeout,
            rememberFor: SIM_LATENCY.rememberFor,
            ...mutation,
          });
    const { log, records, truncatedBytes } = await StableLog.open<TwopcRecord>(LOG_DIR, { fs: this.fs, retain: (r) => machine.retains(r.txId), ...COMPACT });
    if (incarnation !== this.incarnation) return;
    this.machine = machine;
    this.log = log;
    this.status = NodeStatus.Up;
    this.#trace(`RESTART: ${records.length} records recovered${truncatedBytes > 0 ? `, ${truncatedBytes} bytes of torn tail cut` : ""}`);
    this.#run(machine instanceof ParticipantMachine ? machine.recover(records, this.#world.preparedAt(this.id)) : machine.recover(records));
  }

  /** Power loss: unsynced log bytes are lost except a random torn prefix. */
  crash(keepUnsynced: (unsynced: number) => number): void {
    this.incarnation++;
    this.status = NodeStatus.Down;
    this.machine = undefined;
    this.log = undefined;
    this.#timers.clear();
    this.fs.crash((_, unsynced) => keepUnsynced(unsynced));
    this.#trace("CRASH");
  }

  /** Feeds one event to the machine (dropped while the node is not up). */
  handle(event: TwopcEvent): void {
    const machine = this.machine;
    if (machine === undefined || this.status !== NodeStatus.Up) return;
    this.#trace(describeEvent(event));
    let actions: TwopcAction[];
    try {
      if (machine instanceof CoordinatorMachine) {
        if (!isCoordinatorEvent(event)) throw new Error(`coordinator got ${event.type}`);
        actions = machine.handle(event);
      } else {
        if (event.type === "begin") throw new Error("participant got begin");
        actions = machine.handle(event);
      }
    } catch (err) {
      this.#world.fail(`${this.id} threw on ${describeEvent(event)}: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.#run(actions);
  }

  #run(actions: readonly TwopcAction[]): void {
    for (const action of actions) {
      this.#trace(`  -> ${describeAction(action)}`);
      this.#execute(action);
    }
  }

  #execute(action: TwopcAction): void {
    const world = this.#world;
    const incarnation = this.incarnation;
    const current = (): boolean => incarnation === this.incarnation;
    switch (action.type) {
      case "append": {
        const { record, force } = action;
        world.touchedIo();
        this.log!.append(record, { sync: force }).then(
          () => {
            if (force && current()) this.handle({ type: "durable", record });
          },
          (err: unknown) => {
            if (current()) world.fail(`${this.id}: log failed while up: ${String(err)}`);
          },
        );
        return;
      }
      case "send":
        world.send(this.id, action.to, action.msg);
        return;
      case "set-timer": {
        const key = `${action.txId}\u0000${action.timer}`;
        const token = ++this.#timerTokens;
        this.#timers.set(key, token);
        const { txId, timer } = action;
        world.schedule(action.ms, () => this.#fire(incarnation, key, token, txId, timer));
        return;
      }
      case "clear-timer":
        this.#timers.delete(`${action.txId}\u0000${action.timer}`);
        return;
      case "rm-prepare":
      case "rm-commit":
      case "rm-abort":
        world.schedule(world.between(SIM_LATENCY.rmMs[0], SIM_LATENCY.rmMs[1]), () => {
          if (current() && this.status === NodeStatus.Up) this.handle(world.resourceManager(this.id, action));
        });
        return;
      case "outcome":
        world.outcome(action.txId, action.committed ? "commit" : "abort");
        return;
      default:
        throw new Error(`unhandled action ${JSON.stringify(action satisfies never)}`);
    }
  }

  #fire(incarnation: number, key: string, token: number, txId: TxId, timer: TimerName): void {
    if (incarnation !== this.incarnation || this.#timers.get(key) !== token) return;
    this.#timers.delete(key);
    this.handle({ type: "timeout", txId, timer });
  }
}
