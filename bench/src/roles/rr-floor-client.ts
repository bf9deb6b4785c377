/**
 * Client of `rr.floor.rtt`: one request at a time over a raw Dealer, each a promise kept in a
 * map by request id until its reply comes, with a deadline checked by one timer. The envelope
 * names a reply address, as a real client's must, though the reply comes back on the Dealer.
 */
import * as zmq from "zeromq";
import { runRole, timeEach, type Timed } from "../harness.js";
import { decode, encode } from "./floor-wire.js";
import { Probe, marked, type Marks } from "./steps-probe.js";

export interface RrFloorClientRole {
  /** With `steps`, the timed requests are marked step by step (see steps-probe.ts), keeping that many marks. */
  args: { endpoint: string; count: number; warmup: number; size: number; steps?: number };
  ready: null;
  start: null;
  /** Round-trip times in microseconds, and this process's CPU time over the timed requests. */
  result: Timed & { marks?: Marks };
}

interface Pending {
  due: number;
  resolve: (body: unknown) => void;
  reject: (error: Error) => void;
}

type Reply = [kind: string, clientId: string, requestId: number, ok: boolean, body: unknown];

runRole<RrFloorClientRole>(async (ctx) => {
  const { endpoint, count, warmup, size, steps } = ctx.args;
  const probe = steps === undefined ? undefined : new Probe(steps);
  probe?.wrapZeromq();
  const dealer = new zmq.Dealer({ linger: 0 });
  const pending = new Map<number, Pending>();
  const clientId = `c${process.pid.toString(16).padStart(16, "0")}`;
  const replyTo = `rr.reply.${clientId}@tcp://127.0.0.1:1`;
  let nextId = 0;
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const [id, p] of pending) if (p.due <= now) pending.delete(id), p.reject(new Error(`request ${id} timed out`));
  }, 100);
  const request = (body: unknown, timeout: number): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { due: performance.now() + timeout, resolve, reject });
      dealer.send(encode(["request", clientId, id, replyTo, body])).catch(reject);
    });
  const replies = (async () => {
    for await (const parts of dealer) {
      const [, , requestId, ok, body] = decode(parts) as Reply;
      const p = pending.get(requestId);
      if (p === undefined) continue;
      pending.delete(requestId);
      if (ok) p.resolve(body);
      else p.reject(new Error(String(body)));
    }
  })();
  try {
    dealer.connect(endpoint);
    const body = Buffer.alloc(size, 0x61);
    for (let i = 0; i < warmup; i++) await request(body, 30_000);
    ctx.ready(null);
    await ctx.started;
    if (probe === undefined) return await timeEach(count, () => request(body, 30_000));
    const timed = await timeEach(count, () => marked(probe, () => request(body, 30_000)));
    return { ...timed, marks: probe.marks() };
  } finally {
    clearInterval(sweep);
    dealer.close();
    await replies.catch(() => undefined);
  }
});
