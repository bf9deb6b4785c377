import t from "tap";
import { MemoryFs, StableLog } from "@zmbox/log";
import { DRIVER_LOG_OPTIONS, Driver, FORCED, LAZY, UNFORCED, resourceManagerPort, stableLogPort, type AppendMode, type DriverPorts } from "../src/driver/driver.js";
import { NodeFailedError } from "../src/driver/errors.js";
import type { TwopcAction } from "../src/protocol/actions.js";
import type { TwopcEvent } from "../src/protocol/events.js";
import type { TwopcRecord } from "../src/protocol/records.js";
import { ManualClock } from "../../mailbox/test/manual-clock.js";

// The driver on its own: a scripted machine, and ports that record what they are asked.

const START: TwopcRecord = { type: "COORD-START", txId: "t1", participants: ["w1"] };
const COMMIT: TwopcRecord = { type: "COORD-COMMIT", txId: "t1", participants: ["w1"] };
const WORKER_COMMIT: TwopcRecord = { type: "WORKER-COMMIT", txId: "t2" };

/** Lets promise chains (the resource-manager port's) run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function rig(script: (event: TwopcEvent) => TwopcAction[], extra: Partial<DriverPorts> = {}, mutation?: "driver-durable-before-sync") {
  const clock = new ManualClock();
  const fed: TwopcEvent[] = [];
  const appended: Array<{ record: TwopcRecord; mode: AppendMode }> = [];
  const sent: string[] = [];
  const stops: Error[] = [];
  const machine = {
    handle(event: TwopcEvent): TwopcAction[] {
      fed.push(event);
      return script(event);
    },
  };
  const ports: DriverPorts = {
    log: { append: (record, mode) => void appended.push({ record, mode }) },
    send: (to, msg) => {
      sent.push(`${msg.type} to ${to}`);
      return undefined;
    },
    clock,
    stopped: (error) => void stops.push(error),
    ...extra,
  };
  const driver = new Driver(machine, ports, { address: "n1", ...(mutation === undefined ? {} : { mutation }) });
  return { clock, fed, appended, sent, stops, driver };
}

const appendAll = (): TwopcAction[] => [
  { type: "append", record: START, force: false },
  { type: "append", record: COMMIT, force: true },
  { type: "append", record: WORKER_COMMIT, force: true },
];

t.test("driver - forced records sync, WORKER-COMMIT lazily, unforced ones not; durable is fed back only once the log says so", async (t) => {
  const { driver, fed, appended } = rig((e) => (e.type === "begin" ? appendAll() : []));
  driver.feed({ type: "begin", txId: "t1", participants: ["w1"] });
  t.same(
    appended.map((a) => [a.record.type, a.mode]),
    [
      ["COORD-START", UNFORCED],
      ["COORD-COMMIT", FORCED],
      ["WORKER-COMMIT", LAZY],
    ],
  );
  t.equal(fed.length, 1, "nothing is durable yet");
  for (const { record, mode } of appended) driver.written(record, mode);
  t.same(
    fed.slice(1).map((e) => (e.type === "durable" ? e.record.type : e.type)),
    ["COORD-COMMIT", "WORKER-COMMIT"],
    "durable for the forced records only",
  );
});

t.test("driver - planted bug driver-durable-before-sync: a forced record is only written, and durable comes with the write", async (t) => {
  const { driver, fed, appended } = rig((e) => (e.type === "begin" ? appendAll() : []), {}, "driver-durable-before-sync");
  driver.feed({ type: "begin", txId: "t1", participants: ["w1"] });
  t.same(
    appended.map((a) => a.mode.sync),
    [false, false, false],
    "no sync asked for",
  );
  for (const { record, mode } of appended) driver.written(record, mode);
  t.equal(fed.filter((e) => e.type === "durable").length, 2, "yet durable is fed back for both forced records");
});

t.test("driver - messages: protocol ones go to the machine, anything else is counted and dropped", async (t) => {
  const { driver, fed } = rig(() => []);
  driver.receive({ type: "ACK", txId: "t1", from: "w1" });
  driver.receive({ type: "nonsense" });
  driver.receive("hello");
  t.same(
    fed.map((e) => e.type),
    ["receive"],
  );
  t.equal(driver.counters.messagesIn, 1);
  t.equal(driver.counters.badMessages, 2);
});

t.test("driver - a failed commit is retried with a doubling back-off on the injected clock until it succeeds", async (t) => {
  let failuresLeft = 2;
  const calls: number[] = [];
  let clockRef: ManualClock | undefined;
  const rm = resourceManagerPort({
    prepare: () => "commit",
    commit: () => {
      calls.push(clockRef!.now());
      if (failuresLeft-- > 0) throw new Error("busy");
    },
    abort: () => {},
  });
  const { driver, fed, clock } = rig((e) => (e.type === "receive" ? [{ type: "rm-commit", txId: "t1" }] : []), { resourceManager: rm });
  clockRef = clock;
  driver.receive({ type: "GLOBAL-COMMIT", txId: "t1", from: "c" });
  await settle();
  t.same(calls, [0], "tried at once, and failed");
  clock.advance(49);
  await settle();
  t.same(calls, [0], "not again before 50 ms");
  clock.advance(1);
  await settle();
  t.same(calls, [0, 50], "again at 50 ms, and failed");
  clock.advance(99);
  await settle();
  t.equal(calls.length, 2, "the wait doubled");
  clock.advance(1);
  await settle();
  t.same(calls, [0, 50, 150], "again at 150 ms, and it worked");
  t.same(fed.at(-1), { type: "applied", txId: "t1", decision: "commit" });
  t.equal(driver.counters.rmRetries, 2);
  t.equal(driver.counters.committed, 1);
  clock.advance(10_000);
  await settle();
  t.equal(calls.length, 3, "no try after success");
});

t.test("driver - a resource manager that throws in prepare, or answers nonsense, votes abort", async (t) => {
  const answers: Array<() => unknown> = [
    () => {
      throw new Error("no");
    },
    () => "maybe",
    () => "commit",
  ];
  const rm = resourceManagerPort({ prepare: () => answers.shift()!() as "commit", commit: () => {}, abort: () => {} });
  const { driver, fed } = rig((e) => (e.type === "receive" ? [{ type: "rm-prepare", txId: e.msg.txId, payload: undefined }] : []), { resourceManager: rm });
  for (const txId of ["a", "b", "c"]) driver.receive({ type: "VOTE-REQ", txId, from: "c", participants: ["n1"] });
  await settle();
  t.same(
    fed.filter((e) => e.type === "prepared").map((e) => (e.type === "prepared" ? `${e.txId}:${e.vote}` : "")),
    ["a:abort", "b:abort", "c:commit"],
  );
  t.equal(driver.counters.prepared, 1);
});

t.test("driver - a machine that throws on a completion stops the driver; it then ignores everything", async (t) => {
  const { driver, stops, fed, clock } = rig((e) => {
    if (e.type === "durable") throw new Error("bug");
    return e.type === "begin" ? [{ type: "append", record: COMMIT, force: true }, { type: "set-timer", txId: "t1", timer: "vote", ms: 10 }] : [];
  });
  driver.feed({ type: "begin", txId: "t1", participants: ["w1"] });
  t.equal(clock.pending, 1, "a timer is armed");
  driver.written(COMMIT, FORCED);
  t.equal(stops.length, 1);
  t.type(stops[0], NodeFailedError);
  t.match(stops[0]!.message, /machine threw on durable/);
  t.equal(driver.stopped, stops[0]);
  t.equal(clock.pending, 0, "its timers are cleared");
  driver.receive({ type: "ACK", txId: "t1", from: "w1" });
  driver.logFailed(new Error("late"));
  t.equal(fed.length, 2, "nothing fed after the stop");
  t.equal(stops.length, 1, "stopped once");
});

t.test("driver - timers run on the injected clock and feed timeouts", async (t) => {
  const { driver, fed, clock } = rig((e) =>
    e.type === "begin"
      ? [
          { type: "set-timer", txId: "t1", timer: "vote", ms: 100 },
          { type: "set-timer", txId: "t1", timer: "resend", ms: 50 },
          { type: "clear-timer", txId: "t1", timer: "resend" },
        ]
      : [],
  );
  driver.feed({ type: "begin", txId: "t1", participants: ["w1"] });
  clock.advance(99);
  t.equal(fed.length, 1);
  clock.advance(1);
  t.same(fed.at(-1), { type: "timeout", txId: "t1", timer: "vote" }, "only the timer not cleared");
});

t.test("driver - over a StableLog with the nodes' write delays, an unforced record waits for the clock; a forced one does not", async (t) => {
  const clock = new ManualClock();
  const fs = new MemoryFs();
  const { log } = await StableLog.open<TwopcRecord>("/log", { fs, ...DRIVER_LOG_OPTIONS, clock });
  const port = stableLogPort(log);
  const written: string[] = [];
  const sink = {
    written: (record: TwopcRecord) => void written.push(record.type),
    logFailed: () => {},
    voted: () => {},
    applied: () => {},
  };
  port.append(START, UNFORCED, sink);
  for (let i = 0; i < 5; i++) await settle();
  t.same(written, [], "the unforced record waits");
  clock.advance(DRIVER_LOG_OPTIONS.unforcedWriteDelay);
  for (let i = 0; i < 5; i++) await settle();
  t.same(written, ["COORD-START"], "written when the clock says so");
  port.append(COMMIT, FORCED, sink);
  for (let i = 0; i < 5; i++) await settle();
  t.same(written, ["COORD-START", "COORD-COMMIT"], "a forced record goes at once");
  await log.close();
});
