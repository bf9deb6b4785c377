/**
 * How zmbox holds up as a deployment grows: many sender channels into one runtime, and 2PC
 * transactions over many participants.
 */
import type { Entry, RunContext } from "../harness.js";
import type { MailboxOwnerManyRole } from "../roles/mailbox-owner-many.js";
import type { MailboxSenderManyRole } from "../roles/mailbox-sender-many.js";
import type { TwopcCoordinatorRole } from "../roles/twopc-coordinator.js";
import type { TwopcParticipantGroupRole } from "../roles/twopc-participant-group.js";

const SENDERS = 4;
const MAILBOXES = 250;
const CAPACITY = 100;
const round = (x: number, places = 1): number => Math.round(x * 10 ** places) / 10 ** places;

/**
 * `mailbox.scale.channels`: 4 sender processes, each one runtime sending round-robin to the 250
 * mailboxes (capacity 100 each) of one owner runtime in a fifth process: 1,000 channels, 200,000
 * messages of 100 bytes, one awaited `until: "queued"` send each; msg/s at the owner, first to
 * last message.
 * Compared with `mailbox.throughput.queued` (one channel). In `extra`: the owner's RSS growth over
 * the run divided by the channels (`ownerKiBPerChannel`), and the most it held and had granted at
 * once against the mailboxes' total capacity (`peakHeld` <= `capacity`): credit bounds what an
 * owner holds, however many channels send to it.
 */
export const mailboxScaleChannels: Entry = {
  name: "mailbox.scale.channels",
  unit: "msg/s",
  better: "higher",
  baseline: "mailbox.throughput.queued",
  async run(ctx) {
    const perSender = ctx.quick ? 10_000 : 50_000;
    const count = perSender * SENDERS;
    const owner = await ctx.fork<MailboxOwnerManyRole>("mailbox-owner-many", { mailboxes: MAILBOXES, capacity: CAPACITY, count });
    const { addresses } = owner.info;
    const senders = await Promise.all(
      Array.from({ length: SENDERS }, () => ctx.fork<MailboxSenderManyRole>("mailbox-sender-many", { addresses, count: perSender, size: 100 })),
    );
    for (const s of senders) s.start(null);
    const r = await owner.result();
    await Promise.all(senders.map((s) => s.stop()));
    if (r.received !== count) throw new Error(`the owner got ${r.received} of ${count} messages`);
    if (r.channels !== SENDERS * MAILBOXES) throw new Error(`the owner knew ${r.channels} channels, expected ${SENDERS * MAILBOXES}`);
    if (r.peakHeld > r.capacity) throw new Error(`the owner held and granted ${r.peakHeld}, over its capacity of ${r.capacity}`);
    const growthMiB = (r.rssPeak - r.rssStart) / 2 ** 20;
    return {
      value: Math.round(count / (r.elapsedMs / 1000)),
      extra: {
        messages: count,
        seconds: round(r.elapsedMs / 1000, 3),
        channels: r.channels,
        senders: SENDERS,
        mailboxes: MAILBOXES,
        ownerRssGrowthMiB: round(growthMiB),
        ownerKiBPerChannel: round((growthMiB * 1024) / r.channels),
        peakHeld: r.peakHeld,
        capacity: r.capacity,
      },
    };
  },
};

/** The processes participants are spread over: at most 4, so 32 participants stay 8 a process. */
const GROUPS = 4;

async function transactions(ctx: RunContext, participants: number, count: number) {
  const groups = Math.min(participants, GROUPS);
  const members: number[][] = Array.from({ length: groups }, () => []);
  for (let i = 0; i < participants; i++) members[i % groups]!.push(i);
  const nodes = await Promise.all(
    members.map(async (ids) =>
      ctx.fork<TwopcParticipantGroupRole>("twopc-participant-group", {
        logDirs: await Promise.all(ids.map(() => ctx.tempDir())),
        // Every other participant has nothing to commit.
        readOnly: ids.map((i) => i % 2 === 1),
      }),
    ),
  );
  const addresses = nodes.flatMap((n) => n.info.addresses);
  const coordinator = await ctx.fork<TwopcCoordinatorRole>("twopc-coordinator", {
    logDir: await ctx.tempDir(), participants: addresses, count, inFlight: 1, warmup: count / 10,
  });
  coordinator.start(null);
  const r = await coordinator.result();
  await Promise.all(nodes.map((n) => n.stop()));
  if (r.aborted > 0) throw new Error(`${r.aborted} transactions aborted; every participant votes commit or read-only`);
  return {
    value: round(r.p50Ms, 3),
    p99: round(r.p99Ms, 3),
    p999: round(r.p999Ms, 3),
    extra: { transactions: r.committed, participants, readOnly: Math.floor(participants / 2), processes: groups },
  };
}

/**
 * `twopc.scale.participants.N` (N = 3, 8, 32): p50 ms of one transaction at a time over N
 * participants, every other one voting read-only, spread over at most 4 processes (p99 and
 * p99.9 beside it). The 8 and 32 are compared with the 3: the ratio is how latency grows with
 * the participants.
 */
function scaleParticipants(participants: number, count: number, quickCount: number): Entry {
  return {
    name: `twopc.scale.participants.${participants}`,
    unit: "ms",
    better: "lower",
    ...(participants === 3 ? {} : { baseline: "twopc.scale.participants.3" }),
    run: (ctx) => transactions(ctx, participants, ctx.quick ? quickCount : count),
  };
}

export const twopcScaleParticipants3 = scaleParticipants(3, 1000, 100);
// Fewer at 8 and 32, whose transactions take longer, to keep each run within a few seconds.
export const twopcScaleParticipants8 = scaleParticipants(8, 500, 100);
export const twopcScaleParticipants32 = scaleParticipants(32, 250, 50);
