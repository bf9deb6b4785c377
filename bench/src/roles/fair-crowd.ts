/**
 * The hostile crowd of `mailbox.fair.good.crowded`, speaking the wire protocol with raw ZeroMQ
 * Dealers: `hoarders` peers that each say `hello` with a huge `want` every 500 ms and never send,
 * and, every `churnEveryMs`, `churn` new connections that each say one plain `hello` and close.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Packr } from "msgpackr";
import * as zmq from "zeromq";
import { runRole } from "../harness.js";

export interface FairCrowdRole {
  args: { address: string; hoarders: number; churn: number; churnEveryMs: number };
  ready: null;
  start: null;
  result: { hellos: number; connections: number };
}

const packr = new Packr({ useRecords: false, variableMapSize: true });
const VERSION = 2;

/** Nothing else may keep this process's event loop alive while it waits for the harness. */
const keepAlive = (): NodeJS.Timeout => setInterval(() => {}, 1000);

runRole<FairCrowdRole>(async (ctx) => {
  keepAlive();
  const { address, hoarders, churn, churnEveryMs } = ctx.args;
  const at = address.indexOf("@");
  const mailbox = address.slice(0, at);
  const endpoint = address.slice(at + 1);
  const context = new zmq.Context({ maxSockets: hoarders + churn + 64 });
  const dealer = (): zmq.Dealer => {
    const d = new zmq.Dealer({ context, linger: 0, sendTimeout: 0 });
    d.connect(endpoint);
    return d;
  };
  const hoarding = Array.from({ length: hoarders }, dealer);
  const greedy = packr.pack([VERSION, "hello", mailbox, 1, 2 ** 31, false]);
  const plain = packr.pack([VERSION, "hello", mailbox, 1, 1, true]);
  let hellos = 0;
  let connections = hoarders;
  const send = (d: zmq.Dealer, frame: Buffer): void => {
    d.send(frame).then(() => void hellos++, () => undefined);
  };
  ctx.ready(null);
  await ctx.started;
  const hoard = (async () => {
    while (!ctx.signal.aborted) {
      for (const d of hoarding) send(d, greedy);
      await sleep(500);
    }
  })();
  const churning = (async () => {
    while (!ctx.signal.aborted) {
      const batch = Array.from({ length: churn }, dealer);
      connections += churn;
      for (const d of batch) send(d, plain);
      await sleep(100);
      for (const d of batch) d.close();
      await sleep(churnEveryMs);
    }
  })();
  await Promise.all([hoard, churning]);
  for (const d of hoarding) d.close();
  return { hellos, connections };
});
