import type { Entry } from "../harness.js";
import type { PullRole } from "../roles/zmq-pull.js";
import type { PushRole } from "../roles/zmq-push.js";

/**
 * `zeromq.push-pull`: the raw throughput floor. A Push in one process sends 100-byte payloads,
 * one awaited `send` each, to a Pull bound on tcp loopback in another; msg/s is measured at the
 * receiver, from its first message to its last (about 2-3 s of traffic here).
 */
export const zeromqPushPull: Entry = {
  name: "zeromq.push-pull",
  unit: "msg/s",
  better: "higher",
  async run(ctx) {
    const count = ctx.quick ? 100_000 : 1_000_000;
    const size = 100;
    const pull = await ctx.fork<PullRole>("zmq-pull", { count, size });
    const push = await ctx.fork<PushRole>("zmq-push", { endpoint: pull.info.endpoint, count, size });
    push.start(null);
    const { elapsedMs } = await pull.result();
    await push.stop();
    const value = Math.round(count / (elapsedMs / 1000));
    return { value, extra: { messages: count, seconds: Math.round(elapsedMs) / 1000 } };
  },
};
