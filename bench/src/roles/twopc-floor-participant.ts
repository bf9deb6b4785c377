/**
 * Participant of `twopc.floor.latency`: 2PC reduced to what any participant must do, over a raw
 * Router. On a VOTE-REQ it forces a READY record and votes commit on the same connection; on a
 * GLOBAL-COMMIT it writes a COMMIT record, unforced. No mailbox, acks, timers or recovery.
 * With `spinUs` (`headroom.js`) it also burns that much CPU at every message it receives and
 * once more after every vote it sends, as a runtime's own work a message would.
 */
import * as zmq from "zeromq";
import { runRole } from "../harness.js";
import { decode, encode } from "./floor-wire.js";
import { FloorLog } from "./twopc-floor-log.js";
import { spin } from "./spin.js";

export interface TwopcFloorParticipantRole {
  /** `spinUs`: CPU to burn a message (default 0). */
  args: { logDir: string; spinUs?: number };
  ready: { endpoint: string };
  start: never;
  /** Transactions voted on and committed. */
  result: { voted: number; committed: number };
}

const READY = 1;
const COMMIT = 2;

runRole<TwopcFloorParticipantRole>(async (ctx) => {
  const log = new FloorLog(ctx.args.logDir);
  const spinUs = ctx.args.spinUs ?? 0;
  const router = new zmq.Router({ linger: 0 });
  let voted = 0;
  let committed = 0;
  try {
    await router.bind("tcp://127.0.0.1:0");
    void ctx.stopped.then(() => router.close());
    ctx.ready({ endpoint: router.lastEndpoint ?? "" });
    for await (const [peer, ...parts] of router) {
      spin(spinUs);
      const [kind, txId] = decode(parts) as [string, number];
      if (kind === "vote-req") {
        log.append(READY, txId, true);
        voted++;
        await router.send([peer!, ...encode(["vote-commit", txId])]);
        if (spinUs > 0) setImmediate(() => spin(spinUs));
      } else if (kind === "global-commit") {
        log.append(COMMIT, txId, false);
        committed++;
      }
    }
  } catch (error) {
    if (!router.closed) throw error;
  } finally {
    log.close();
  }
  return { voted, committed };
});
