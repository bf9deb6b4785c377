/** Server side of the `rr.*` benchmarks: `serve()` on a mailbox, handing every request body back. */
import { Runtime, type CurveOptions } from "@zmbox/mailbox";
import { serve } from "@zmbox/twopc";
import { runRole } from "../harness.js";

export interface RrEchoServerRole {
  args: { concurrency: number; curve?: CurveOptions };
  ready: { address: string };
  start: never;
  /** How many requests the handler ran, and the server's dedup counters. */
  result: { handled: number; duplicates: number; joined: number };
}

runRole<RrEchoServerRole>(async (ctx) => {
  const { curve } = ctx.args;
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0", ...(curve === undefined ? {} : { curve }) });
  try {
    const echo = rt.mailbox("echo", { capacity: 1000 });
    const server = serve(rt, echo, (body: unknown) => body, { concurrency: ctx.args.concurrency });
    ctx.ready({ address: echo.address });
    await ctx.stopped;
    await server.close();
    const { handled, duplicates, joined } = server.stats();
    return { handled, duplicates, joined };
  } finally {
    await rt.close();
  }
});
