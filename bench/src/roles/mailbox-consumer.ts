/**
 * Receiving side of the mailbox benchmarks: a runtime with one mailbox and a consumer loop,
 * `for (...) await mailbox.receive()`. With `pauseMs` it is a slow consumer (one message per
 * `pauseMs`) that also samples the mailbox depth, for the memory entry. With `ack: "manual"`
 * each message is taken as a delivery and acked at once.
 */
import { Runtime, type CurveOptions } from "@zmbox/mailbox";
import { runRole } from "../harness.js";

export interface MailboxConsumerRole {
  /** Receives `count` messages (or until stopped, when `count` is 0). */
  args: { capacity: number; count: number; pauseMs: number; ack: "auto" | "manual"; dataDir?: string; curve?: CurveOptions };
  ready: { address: string };
  start: never;
  result: {
    received: number;
    elapsedMs: number;
    peakDepth: number;
    capacity: number;
    refused: number;
    /** With `dataDir`: the durable log's size at the end and at its largest, its syncs and compactions. */
    log?: { bytes: number; peakBytes: number; syncs: number; compactions: number; syncMs: number };
  };
}

runRole<MailboxConsumerRole>(async (ctx) => {
  const { capacity, count, pauseMs, ack, dataDir, curve } = ctx.args;
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0", ...(dataDir === undefined ? {} : { dataDir }), ...(curve === undefined ? {} : { curve }) });
  const mb = rt.mailbox("bench", { capacity, durable: dataDir !== undefined });
  ctx.ready({ address: mb.address });
  let received = 0;
  let first = 0;
  let peakDepth = 0;
  let peakLogBytes = 0;
  const sampler = setInterval(() => {
    peakDepth = Math.max(peakDepth, mb.depth);
    peakLogBytes = Math.max(peakLogBytes, rt.stats().log?.bytes ?? 0);
  }, 5);
  try {
    while (count === 0 || received < count) {
      // A receive that fails (the stop aborted it) ends the loop; the entry checks the count.
      try {
        if (ack === "manual") (await mb.receive({ ack: "manual", signal: ctx.signal })).ack();
        else await mb.receive({ signal: ctx.signal });
      } catch {
        break;
      }
      if (received === 0) first = performance.now();
      received++;
      peakDepth = Math.max(peakDepth, mb.depth + 1);
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
    const s = rt.stats();
    const refused = Object.values(s.refused).reduce((a, b) => a + b, 0);
    const elapsedMs = performance.now() - first;
    const log = s.log === undefined ? undefined : { ...s.log, peakBytes: Math.max(peakLogBytes, s.log.bytes) };
    return { received, elapsedMs, peakDepth, capacity, refused, ...(log === undefined ? {} : { log }) };
  } finally {
    clearInterval(sampler);
    await rt.close();
  }
});
