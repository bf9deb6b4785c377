/** Raw ZeroMQ receiver of `zeromq.push-pull`: a bound Pull socket that counts what arrives. */
import * as zmq from "zeromq";
import { runRole } from "../harness.js";

export interface PullRole {
  /** `count` messages of `size` bytes each are expected. */
  args: { count: number; size: number };
  ready: { endpoint: string };
  start: never;
  /** `elapsedMs`: from the first message received to the last. */
  result: { count: number; elapsedMs: number };
}

runRole<PullRole>(async (ctx) => {
  const { count, size } = ctx.args;
  const pull = new zmq.Pull({ linger: 0 });
  try {
    await pull.bind("tcp://127.0.0.1:0");
    ctx.ready({ endpoint: pull.lastEndpoint ?? "" });
    let received = 0;
    let first = 0;
    for await (const [msg] of pull) {
      if (received === 0) first = performance.now();
      if (msg?.length !== size) throw new Error(`got a ${msg?.length}-byte message, expected ${size}`);
      if (++received === count) break;
    }
    return { count: received, elapsedMs: performance.now() - first };
  } finally {
    pull.close();
  }
});
