/** A 2PC participant for the twopc benchmarks: its own runtime and log; its resource manager votes commit. */
import { Runtime } from "@zmbox/mailbox";
import { Participant } from "@zmbox/twopc";
import { runRole } from "../harness.js";

export interface TwopcParticipantRole {
  args: { logDir: string };
  ready: { address: string };
  start: never;
  result: { committed: number; syncs: number; appends: number };
}

runRole<TwopcParticipantRole>(async (ctx) => {
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
  const participant = await Participant.open({
    runtime: rt,
    logDir: ctx.args.logDir,
    mailbox: "participant",
    resourceManager: { prepare: () => "commit", commit: () => {}, abort: () => {} },
  });
  ctx.ready({ address: participant.address });
  await new Promise((r) => ctx.signal.addEventListener("abort", r, { once: true }));
  const s = participant.stats();
  await participant.close();
  await rt.close();
  return { committed: s.committed, syncs: s.log.syncs, appends: s.log.appends };
});
