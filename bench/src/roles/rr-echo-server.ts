/** Server side of the `rr.*` benchmarks: `serve()` on a mailbox, handing every request body back. */
import { Runtime, type CurveOptions } from "@zmbox/mailbox";
import { serve } from "@zmbox/twopc";
import { runRole } from "../harness.js";
import { Mark, Probe, type Marks } from "./steps-probe.js";

export interface RrEchoServerRole {
  /** With `steps`, the handler and zeromq.js's calls are marked (see steps-probe.ts), keeping that many marks. */
  args: { concurrency: number; curve?: CurveOptions; steps?: number };
  ready: { address: string };
  start: never;
  /** How many requests the handler ran, and the server's dedup counters. */
  result: { handled: number; duplicates: number; joined: number; marks?: Marks };
}

runRole<RrEchoServerRole>(async (ctx) => {
  const { curve, steps } = ctx.args;
  const probe = steps === undefined ? undefined : new Probe(steps);
  probe?.wrapZeromq();
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0", ...(curve === undefined ? {} : { curve }) });
  try {
    const echo = rt.mailbox("echo", { capacity: 1000 });
    const handler = probe === undefined ? (body: unknown) => body : (body: unknown) => (probe.mark(Mark.Handler), body);
    const server = serve(rt, echo, handler, { concurrency: ctx.args.concurrency });
    ctx.ready({ address: echo.address });
    await ctx.stopped;
    await server.close();
    const { handled, duplicates, joined } = server.stats();
    return { handled, duplicates, joined, ...(probe === undefined ? {} : { marks: probe.marks() }) };
  } finally {
    await rt.close();
  }
});
