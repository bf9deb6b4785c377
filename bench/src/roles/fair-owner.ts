/**
 * Owner of the `mailbox.fair.*` entries: one runtime with one mailbox and a consumer loop that
 * takes every message at once. Runs until stopped; reports what it took, its sender channels
 * and what it refused (the crowd's frames).
 */
import { Runtime } from "@zmbox/mailbox";
import { runRole } from "../harness.js";

export interface FairOwnerRole {
  args: { capacity: number };
  ready: { address: string };
  start: never;
  result: { received: number; channels: number; refused: Record<string, number> };
}

/** Nothing else may keep this process's event loop alive while it waits for the harness. */
const keepAlive = (): NodeJS.Timeout => setInterval(() => {}, 1000);

runRole<FairOwnerRole>(async (ctx) => {
  keepAlive();
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
  try {
    const box = rt.mailbox("fair", { capacity: ctx.args.capacity });
    let received = 0;
    const loop = (async () => {
      for await (const message of box) {
        void message;
        received++;
      }
    })();
    ctx.ready({ address: box.address });
    await ctx.stopped;
    const s = rt.stats();
    const result = { received, channels: s.mailboxes["fair"]?.channels ?? 0, refused: s.refused };
    await rt.close();
    await loop;
    return result;
  } finally {
    await rt.close();
  }
});
