/**
 * A simulated node: the driver the real nodes use (driver/driver.ts), with ports over the
 * simulated world: a `StableLog` over a `MemoryFs` (whose syncs complete on the virtual clock),
 * opened with the real nodes' write delays, which run on the virtual clock too; a virtual
 * network; the machines' timers on a `Timers` over the virtual clock; and a durable
 * resource-manager model behind the same resource-manager port a real participant uses.
 */
import type { Clock, ClockTimer } from "@zmbox/mailbox/internal";
import { MemoryFs } from "@zmbox/log";
import { StableLog, type OpenedLog } from "@zmbox/log";
import type { TwopcAction } from "../protocol/actions.js";
import { CoordinatorMachine } from "../protocol/coordinator.js";
import type { TwopcEvent, ParticipantEvent } from "../protocol/events.js";
import type { TwopcMessage } from "../protocol/messages.js";
import type { TwopcRecord } from "../protocol/records.js";
import { Decision, type NodeId, type TxId, type Vote } from "../protocol/types.js";
import { ParticipantMachine } from "../protocol/participant.js";
import { openParticipantLog } from "../driver/salvage.js";
import { DRIVER_LOG_OPTIONS, Driver, resourceManagerPort, stableLogPort, type DriverPorts, type LogPort } from "../driver/driver.js";
import { isMachineMutation, type Mutation } from "./mutation.js";
import { SIM_LATENCY, type SimTiming } from "./scenario.js";
import { describeAction, describeEvent } from "./trace.js";
import { TraceKind, type TraceSink } from "../trace/events.js";

/** Where simulated nodes live: the clock, the network, the resource managers, the checker. */
export interface World {
  readonly now: number;
  /** Open damaged logs by cutting them (`LogOptions.salvage`): every node's, or only the participants'. */
  readonly salvage: boolean | "participants";
  /** The coordinator's node id (participants ask it about what a salvage cut). */
  readonly coordinator: NodeId;
  /** A node salvaged its log; `inDoubt` are the transactions it holds in doubt for it. */
  salvaged(node: NodeId, inDoubt: readonly TxId[]): void;
  /** Runs `run` after `delayMs` of virtual time. */
  schedule(delayMs: number, run: () => void): void;
  /** A random integer in [lo, hi]. */
  between(lo: number, hi: number): number;
  send(from: NodeId, to: NodeId, msg: TwopcMessage): void;
  /**
   * The resource manager at `node` runs one call; returns the event to feed back, or
   * `undefined` when a commit or abort failed (transiently: the driver retries it).
   */
  resourceManager(node: NodeId, call: TwopcAction & { type: "rm-prepare" | "rm-commit" | "rm-abort" }): ParticipantEvent | undefined;
  outcome(txId: TxId, decision: Decision): void;
  /** Transactions the resource manager at `node` holds prepared (its recover hook). */
  preparedAt(node: NodeId): TxId[];
  /** Marks that asynchronous log work was started and must be let run. */
  touchedIo(): void;
  fail(reason: string): void;
  /** Records a trace line, when tracing. */
  readonly trace: ((line: string) => void) | undefined;
  /** Receives trace events (for pictures of the run), when asked for. */
  readonly onTrace?: TraceSink | undefined;
}

export const NodeStatus = { Down: "down", Starting: "starting", Up: "up" } as const;
export type NodeStatus = (typeof NodeStatus)[keyof typeof NodeStatus];

/** Where each simulated node keeps its log (on its own MemoryFs). */
export const LOG_DIR = "/log";

/** Log compaction thresholds small enough that compaction happens within a seed. */
const COMPACT = { compactMinBytes: 512, compactRatio: 2 } as const;

/** A timer of the virtual clock. */
interface VirtualTimer extends ClockTimer {
  cancelled: boolean;
}
const noop = (): void => {};

export class SimNode {
  readonly id: NodeId;
  readonly role: "coordinator" | "participant";
  readonly fs: MemoryFs;
  status: NodeStatus = NodeStatus.Down;
  /** Bumped by every crash: callbacks from an older incarnation are dropped. */
  incarnation = 0;
  machine: CoordinatorMachine | ParticipantMachine | undefined;
  log: StableLog<TwopcRecord> | undefined;
  driver: Driver | undefined;
  readonly #world: World;
  readonly #mutation: Mutation | undefined;
  readonly #timing: SimTiming;

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

  /**
   * The virtual clock of this incarnation: its timers are dropped once it crashed. With `io`,
   * a timer that fires lets the logs' promise chains run (the log's write delays).
   */
  #clock(incarnation: number, io: boolean): Clock {
    const world = this.#world;
    return {
      now: () => world.now,
      setTimeout: (run, ms) => {
        const timer: VirtualTimer = { cancelled: false, ref: noop, unref: noop };
        world.schedule(ms, () => {
          if (timer.cancelled || incarnation !== this.incarnation) return;
          if (io) world.touchedIo();
          run();
        });
        return timer;
      },
      clearTimeout: (timer) => {
        (timer as VirtualTimer).cancelled = true;
      },
    };
  }

  /** Opens the log, recovers the machine and runs what recovery asks for. */
  async start(): Promise<void> {
    if (this.status !== NodeStatus.Down) return;
    this.status = NodeStatus.Starting;
    const world = this.#world;
    const incarnation = this.incarnation;
    const planted = this.#mutation;
    const mutation = isMachineMutation(planted) ? { mutation: planted } : {};
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
            coordinator: world.coordinator,
            ...mutation,
          });
    const logOptions = {
      fs: this.fs,
      retain: (r: TwopcRecord) => machine.retains(r.txId),
      ...COMPACT,
      // The real nodes' write delays, in virtual time.
      ...DRIVER_LOG_OPTIONS,
      clock: this.#clock(incarnation, true),
    };
    const opened: OpenedLog<TwopcRecord> & { inDoubt?: readonly TxId[] } =
      this.role === "participant"
        ? await openParticipantLog(LOG_DIR, logOptions, world.salvage !== false, world.preparedAt(this.id))
        : await StableLog.open<TwopcRecord>(LOG_DIR, { ...logOptions, salvage: world.salvage === true });
    const { log, records, truncatedBytes } = opened;
    if (opened.salvaged !== undefined && incarnation === this.incarnation) world.salvaged(this.id, opened.inDoubt ?? []);
    if (incarnation !== this.incarnation) return;
    const current = (): boolean => incarnation === this.incarnation;
    const logPort = stableLogPort(log);
    const rm = (call: TwopcAction & { type: "rm-prepare" | "rm-commit" | "rm-abort" }): Promise<ParticipantEvent> =>
      new Promise((resolve, reject) => {
        // A call in flight when the node crashes never reaches the resource manager.
        world.schedule(world.between(SIM_LATENCY.rmMs[0], SIM_LATENCY.rmMs[1]), () => {
          if (!current()) return;
          world.touchedIo();
          const event = world.resourceManager(this.id, call);
          if (event === undefined) reject(new Error("resource manager failed"));
          else resolve(event);
        });
      });
    const ports: DriverPorts = {
      log: {
        append(record, mode, sink) {
          world.touchedIo();
          logPort.append(record, mode, sink);
        },
      } satisfies LogPort,
      send: (to, msg) => {
        world.send(this.id, to, msg);
        return undefined;
      },
      clock: this.#clock(incarnation, false),
      ...(this.role === "participant"
        ? {
            resourceManager: resourceManagerPort({
              prepare: async (txId: TxId, payload: unknown) => ((await rm({ type: "rm-prepare", txId, payload })) as { vote: Vote }).vote,
              commit: async (txId: TxId) => void (await rm({ type: "rm-commit", txId })),
              abort: async (txId: TxId) => void (await rm({ type: "rm-abort", txId })),
            }),
          }
        : {}),
      outcome: (action) => world.outcome(action.txId, action.committed ? Decision.Commit : Decision.Abort),
      stopped: (error) => {
        if (current()) world.fail(`${this.id} stopped while up: ${error.message}${error.cause === undefined ? "" : ` (${String(error.cause)})`}`);
      },
      ...(world.onTrace === undefined ? {} : { tracer: { sink: world.onTrace, origin: 0 } }),
      ...(world.trace === undefined
        ? {}
        : {
            trace: {
              event: (event: TwopcEvent) => this.#trace(describeEvent(event)),
              action: (action: TwopcAction) => this.#trace(`  -> ${describeAction(action)}`),
            },
          }),
    };
    const driver = new Driver(machine as CoordinatorMachine & ParticipantMachine, ports, { address: this.id, mutation: this.#mutation });
    this.machine = machine;
    this.log = log;
    this.driver = driver;
    this.status = NodeStatus.Up;
    this.#trace(`RESTART: ${records.length} records recovered${truncatedBytes > 0 ? `, ${truncatedBytes} bytes of torn tail cut` : ""}`);
    this.#guard("recovery", () => {
      const actions = machine instanceof ParticipantMachine ? machine.recover(records, world.preparedAt(this.id)) : machine.recover(records);
      driver.started(records.length, machine);
      driver.execute(actions);
    });
  }

  /** Power loss: unsynced log bytes are lost except a random torn prefix. */
  crash(keepUnsynced: (unsynced: number) => number): void {
    // Before the driver's stop: a picture shows the crash, and the node down from then on.
    this.#world.onTrace?.({ t: this.#world.now, node: this.id, kind: TraceKind.Crash });
    this.incarnation++;
    this.status = NodeStatus.Down;
    this.driver?.stop(new Error("crashed"));
    this.driver = undefined;
    this.machine = undefined;
    this.log = undefined;
    this.fs.crash((_, unsynced) => keepUnsynced(unsynced));
    this.#trace("CRASH");
  }

  /** Feeds one event from the application (begin, join) to the machine (dropped while the node is not up). */
  handle(event: TwopcEvent): void {
    const driver = this.driver;
    if (driver === undefined || this.status !== NodeStatus.Up) return;
    if ((event.type === "begin") !== (this.role === "coordinator") && event.type !== "receive") {
      this.#world.fail(`${this.id} got ${event.type}`);
      return;
    }
    this.#guard(describeEvent(event), () => driver.feed(event));
  }

  /** A message from the network (dropped while the node is not up). */
  receive(msg: TwopcMessage): void {
    const driver = this.driver;
    if (driver === undefined || this.status !== NodeStatus.Up) return;
    this.#guard(`recv ${msg.type}`, () => driver.receive(msg));
  }

  #guard(what: string, run: () => void): void {
    try {
      run();
    } catch (err) {
      this.#world.fail(`${this.id} threw on ${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
