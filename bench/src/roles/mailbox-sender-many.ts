/**
 * A sender of `mailbox.scale.channels`: one runtime sending `count` 100-byte messages round-robin
 * to every address it is given, one awaited `until: "queued"` send each; one channel a mailbox
 * at the owner.
 */
import { Runtime } from "@zmbox/mailbox";
import { runRole } from "../harness.js";

export interface MailboxSenderManyRole {
  args: { addresses: string[]; count: number; size: number };
  ready: null;
  start: null;
  result: { sent: number };
}

runRole<MailboxSenderManyRole>(async (ctx) => {
  const { addresses, count, size } = ctx.args;
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
  try {
    ctx.ready(null);
    await ctx.started;
    const payload = Buffer.alloc(size, 0x61);
    for (let i = 0; i < count; i++) await rt.send(payload, addresses[i % addresses.length]!, { until: "queued", timeout: 60_000 });
    // Queued is not stored: the owner must have them all before this runtime closes.
    await ctx.stopped;
    return { sent: count };
  } finally {
    await rt.close();
  }
});
