/**
 * One stage of `pipeline.memory.slow-stage`, in its own process: a runtime owning the stage's
 * mailbox, and `stage()` taking from it (`concurrency` workers, `pauseMs` per message) and
 * forwarding to the next stage's address (none for the last). It samples its mailbox's depth
 * every millisecond until stopped; stopping ends the stage gracefully (`stage.stop()`).
 */
import { Runtime } from "@zmbox/mailbox";
import { stage } from "@zmbox/twopc";
import { runRole } from "../harness.js";

export interface PipelineStageRole {
  args: { name: string; capacity: number; concurrency: number; pauseMs: number; to: string | null };
  ready: { address: string };
  start: never;
  result: { name: string; peakDepth: number; capacity: number; received: number; forwarded: number; deadLettered: number };
}

runRole<PipelineStageRole>(async (ctx) => {
  const { name, capacity, concurrency, pauseMs, to } = ctx.args;
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
  try {
    const inbox = rt.mailbox(name, { capacity });
    const dead = rt.mailbox("dead", { capacity: 100 });
    let peakDepth = 0;
    const sample = (): void => void (peakDepth = Math.max(peakDepth, inbox.depth));
    const sampler = setInterval(sample, 1);
    const s = stage(rt, inbox, async (message: unknown) => {
      sample();
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      return message;
    }, { name, deadLetter: dead, concurrency, ...(to === null ? {} : { to }) });
    ctx.ready({ address: inbox.address });
    await ctx.stopped;
    const stats = await s.stop();
    clearInterval(sampler);
    return { name, peakDepth, capacity, received: stats.received, forwarded: stats.forwarded, deadLettered: stats.deadLettered };
  } finally {
    await rt.close();
  }
});
