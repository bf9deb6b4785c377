import t from "tap";
import { exited, fixtures, forkChild, nextMessage } from "../../../test/support/index.js";

const fixture = fixtures(import.meta.url);

t.test("a flood from peers that hang up does not abort the owner's process (its sockets never pause reading)", async (t) => {
  const child = forkChild(t, fixture("hangup-flood"), ["runtime", "12"]);
  const done = nextMessage<{ received: number }>(child);
  t.equal(await exited(child), 0, "the process lived through 12 rounds of flood and hang-up");
  t.ok((await done).received > 0, "and it did read the flood");
});

// The control: with libzmq's default receive queue the same flood is known to abort libzmq
// 4.3.5 within a few rounds. If this starts to pass, libzmq was fixed, and sockets.ts can drop
// `receiveHighWaterMark: 0`.
t.test("control: the same flood at sockets that pause reading aborts inside libzmq 4.3.5", async (t) => {
  const child = forkChild(t, fixture("hangup-flood"), ["pausing", "40"], "pipe");
  t.equal(await exited(child), "SIGABRT", "libzmq aborted the process");
});
