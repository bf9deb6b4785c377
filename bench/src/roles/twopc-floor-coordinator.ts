/**
 * Coordinator of `twopc.floor.latency`: one transaction at a time over one raw Dealer a
 * participant. It sends every participant a VOTE-REQ at once, waits for all the votes, forces
 * its COMMIT record, and reports the outcome; then it sends GLOBAL-COMMIT (the outcome does not
 * wait for it, as `Coordinator.transact` does not). No mailbox, acks, timeouts or recovery.
 * With `spinUs` (`headroom.js`) it also burns that much CPU at every vote it receives and once
 * more after every VOTE-REQ it sends, as a runtime's own work a message would.
 */
import * as zmq from "zeromq";
import { cpuUs, percentiles, runRole, type Timed } from "../harness.js";
import { decode, encode } from "./floor-wire.js";
import { FloorLog } from "./twopc-floor-log.js";
import { spin } from "./spin.js";

export interface TwopcFloorCoordinatorRole {
  /** `spinUs`: CPU to burn a message (default 0). */
  args: { logDir: string; endpoints: string[]; count: number; warmup: number; spinUs?: number };
  ready: null;
  start: null;
  /** Transaction latencies in microseconds. */
  result: Timed;
}

const COMMIT = 3;

runRole<TwopcFloorCoordinatorRole>(async (ctx) => {
  const { logDir, endpoints, count, warmup, spinUs = 0 } = ctx.args;
  const log = new FloorLog(logDir);
  const dealers = endpoints.map((endpoint) => {
    const d = new zmq.Dealer({ linger: 0 });
    d.connect(endpoint);
    return d;
  });
  let txId = 0;
  const vote = async (d: zmq.Dealer, id: number): Promise<void> => {
    await d.send(encode(["vote-req", id]));
    if (spinUs > 0) setImmediate(() => spin(spinUs));
    const parts = await d.receive();
    spin(spinUs);
    const [kind, votedId] = decode(parts) as [string, number];
    if (kind !== "vote-commit" || votedId !== id) throw new Error(`expected a commit vote on ${id}, got ${kind} on ${votedId}`);
  };
  /** One transaction; returns when its outcome is final (in microseconds), after telling the participants. */
  const transact = async (): Promise<number> => {
    const id = ++txId;
    const t0 = performance.now();
    await Promise.all(dealers.map((d) => vote(d, id)));
    log.append(COMMIT, id, true);
    const us = (performance.now() - t0) * 1000;
    // The outcome is final; telling the participants is not on the clock (nor is it for
    // `Coordinator.transact`), but a Dealer takes one send at a time, so it is done here.
    const decision = encode(["global-commit", id]);
    await Promise.all(dealers.map((d) => d.send(decision)));
    return us;
  };
  try {
    ctx.ready(null);
    await ctx.started;
    // After the go, as the other roles warm up: thousands of transactions could outlast the
    // harness's wait for ready on a slow machine.
    for (let i = 0; i < warmup; i++) await transact();
    ctx.timed();
    const times = new Float64Array(count);
    const cpu0 = cpuUs();
    const started = performance.now();
    for (let i = 0; i < count; i++) times[i] = await transact();
    const elapsedMs = performance.now() - started;
    const [p50Us = NaN, p99Us = NaN, p999Us = NaN] = percentiles(times, [50, 99, 99.9]);
    const meanUs = times.reduce((a, b) => a + b, 0) / count;
    return { count, p50Us, p99Us, p999Us, meanUs, elapsedMs, cpuUs: cpuUs() - cpu0 };
  } finally {
    for (const d of dealers) d.close();
    log.close();
  }
});
