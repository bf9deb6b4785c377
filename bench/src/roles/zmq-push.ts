/** Raw ZeroMQ sender of `zeromq.push-pull`: one awaited `send` per message, nothing batched. */
import * as zmq from "zeromq";
import { runRole } from "../harness.js";

export interface PushRole {
  args: { endpoint: string; count: number; size: number };
  ready: null;
  start: null;
  result: { sent: number };
}

runRole<PushRole>(async (ctx) => {
  const { endpoint, count, size } = ctx.args;
  const push = new zmq.Push({ linger: 0 });
  try {
    push.connect(endpoint);
    ctx.ready(null);
    await ctx.started;
    const payload = Buffer.alloc(size, 0x61);
    for (let i = 0; i < count; i++) await push.send(payload);
    // A sent message may still sit in ZeroMQ's queue: close (linger 0) only once the
    // harness says the receiver has had them all.
    await ctx.stopped;
    return { sent: count };
  } finally {
    push.close();
  }
});
