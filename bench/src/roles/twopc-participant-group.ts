/**
 * Several 2PC participants in one process, for `twopc.scale.participants.*`: one runtime, one
 * mailbox and one durable log directory a participant. A participant whose `readOnly` flag is set
 * votes read-only (it has nothing to commit and writes no record); the others vote commit.
 */
import { Runtime } from "@zmbox/mailbox";
import { Participant } from "@zmbox/twopc";
import { runRole } from "../harness.js";

export interface TwopcParticipantGroupRole {
  args: { logDirs: string[]; readOnly: boolean[] };
  ready: { addresses: string[] };
  start: never;
  /** Per participant, in `logDirs` order. */
  result: { committed: number[]; syncs: number[] };
}

runRole<TwopcParticipantGroupRole>(async (ctx) => {
  const { logDirs, readOnly } = ctx.args;
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
  try {
    const participants = await Promise.all(
      logDirs.map((logDir, i) =>
        Participant.open({
          runtime: rt,
          logDir,
          mailbox: `participant${i}`,
          resourceManager: { prepare: () => (readOnly[i] ? "read-only" : "commit"), commit: () => {}, abort: () => {} },
        }),
      ),
    );
    ctx.ready({ addresses: participants.map((p) => p.address) });
    await ctx.stopped;
    const stats = participants.map((p) => p.stats());
    await Promise.all(participants.map((p) => p.close()));
    return { committed: stats.map((s) => s.committed), syncs: stats.map((s) => s.log.syncs) };
  } finally {
    await rt.close();
  }
});
