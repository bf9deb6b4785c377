/** Raw ZeroMQ echo server of `zeromq.dealer-router.*`: a Router that sends every request back. */
import * as zmq from "zeromq";
import { runRole } from "../harness.js";

export interface RouterEchoRole {
  args: null;
  ready: { endpoint: string };
  start: never;
  /** How many requests were echoed. */
  result: { echoed: number };
}

runRole<RouterEchoRole>(async (ctx) => {
  const router = new zmq.Router({ linger: 0 });
  try {
    await router.bind("tcp://127.0.0.1:0");
    // Closing ends the `for await` below.
    void ctx.stopped.then(() => router.close());
    ctx.ready({ endpoint: router.lastEndpoint ?? "" });
    let echoed = 0;
    for await (const frames of router) {
      await router.send(frames);
      echoed++;
    }
    return { echoed };
  } finally {
    router.close();
  }
});
