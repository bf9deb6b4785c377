// A mailbox with no runtime around it, on a virtual clock: for the owner-side tests of leases,
// acks and dead letters.
import type { DeadLetter } from "../src/index.js";
import { Mailbox, type AckSettings, type MailboxHost } from "../src/mailbox.js";
import { WaitTimer } from "../src/wait.js";
import { Flag } from "../src/wire.js";
import { ManualClock } from "./manual-clock.js";

/**
 * Mailbox "jobs" (capacity 10) with one sender channel holding credit for 10; `put` stores the
 * next message of that channel. The host records dead letters (stored at once, or refused with
 * `deadLetterFails`).
 */
export function virtualMailbox(ack?: AckSettings, deadLetterFails = false) {
  const clock = new ManualClock();
  const letters: { address: string; record: DeadLetter }[] = [];
  const host: MailboxHost = {
    timer: new WaitTimer(),
    channelChanged: () => {},
    needsGrant: () => {},
    counted: () => {},
    close: () => {},
    id: "r1",
    clock,
    deadLetter: (address, record) => {
      if (deadLetterFails) return Promise.reject(new Error("no such mailbox"));
      letters.push({ address, record });
      return Promise.resolve();
    },
  };
  const mb = Mailbox.create("jobs", "jobs@inproc://test", 10, host, ack);
  const ch = mb.hello("k", Buffer.from("peer"), 1, 0, false, 0)!;
  ch.want = 10;
  mb.grant();
  let seq = 0;
  const put = (value: unknown, flags = 0): void =>
    mb.store(ch, ++seq, flags, flags & Flag.Raw ? (value as Buffer) : Buffer.from(JSON.stringify(value)), value);
  return { clock, mb, ch, put, letters };
}
