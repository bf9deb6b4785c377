// The owner's credit allocator (PROTOCOL.md 5.4-5.6): fair shares, bounded windows, the new
// channels' pool, revocation and forgetting, and its bookkeeping under random operations.
import t from "tap";
import { CreditAllocator, type InChannel } from "../src/flow.js";
import { rng } from "../../../test/support/index.js";

const PEER = Buffer.from("p");

/** Opens channel `name` saying it wants `want`. */
function open(a: CreditAllocator, name: string, want: number, now = 0): InChannel {
  const ch = a.open(name, PEER, "m", 1, now);
  ch.want = a.capWant(want);
  return ch;
}

/** The sender stores `n` messages of `ch` (within its credit). */
function store(a: CreditAllocator, ch: InChannel, n: number): void {
  for (let i = 0; i < n; i++) {
    ch.stored++;
    a.used(ch);
  }
}

/** Free slots of a mailbox holding `depth` messages. */
const free = (a: CreditAllocator, depth = 0): number => a.capacity - depth - a.reserved;
const sum = (chs: Iterable<InChannel>, f: (ch: InChannel) => number): number => [...chs].reduce((n, ch) => n + f(ch), 0);

t.test("credit - a huge want buys no more than the channel has shown it uses", async (t) => {
  const a = new CreditAllocator(1000);
  const greedy = open(a, "greedy", 2 ** 40);
  const honest = open(a, "honest", 10);
  a.grant(free(a), () => {});
  t.equal(greedy.want, 1000, "want is capped at the capacity");
  t.ok(greedy.outstanding <= a.slack, `the greedy channel holds ${greedy.outstanding} <= slack ${a.slack}`);
  t.ok(honest.outstanding >= 10, "the honest channel got what it waits for");
});

t.test("credit - new channels hold at most a quarter of the capacity; working ones still get theirs", async (t) => {
  const a = new CreditAllocator(1000);
  const worker = open(a, "worker", 1);
  a.grant(free(a), () => {});
  store(a, worker, 1);
  const crowd = Array.from({ length: 300 }, (_, i) => open(a, `new${i}`, 100));
  worker.want = 50;
  a.grant(free(a), () => {});
  const held = sum(crowd, (ch) => ch.outstanding);
  t.ok(held <= a.newPool, `the crowd holds ${held} <= ${a.newPool}`);
  t.equal(a.reservedNew, held, "the pool's bookkeeping matches");
  t.ok(worker.outstanding >= 50, `the working channel holds ${worker.outstanding} >= its want`);
});

t.test("credit - a working channel's window grows with what it stores and falls back when revoked", async (t) => {
  const a = new CreditAllocator(1000);
  const ch = open(a, "c", 1000);
  a.grant(free(a), () => {});
  t.equal(ch.outstanding, a.slack, "a new channel starts with slack");
  store(a, ch, a.slack);
  a.grant(free(a), () => {});
  t.equal(ch.outstanding, 2 * a.slack, "it doubled after a window's worth stored");
  a.revoke(ch);
  t.equal(ch.outstanding, 0);
  t.equal(ch.window, a.slack, "back to slack");
  t.equal(a.reserved, 0);
});

t.test("credit - unused credit goes back after a fifth of the lease for a new channel, the whole lease for a working one", async (t) => {
  const a = new CreditAllocator(100);
  const fresh = open(a, "fresh", 5, 0);
  const worker = open(a, "worker", 5, 0);
  a.grant(free(a), () => {});
  store(a, worker, 1);
  const revoked: string[] = [];
  const forgotten: string[] = [];
  a.sweep(300, 1000, 60_000, (ch) => revoked.push(ch.key), (ch) => forgotten.push(ch.key));
  t.same(revoked, ["fresh"], "only the new channel lost its credit at 300 ms");
  a.sweep(900, 1000, 60_000, (ch) => revoked.push(ch.key), (ch) => forgotten.push(ch.key));
  t.same(forgotten, [], "a channel heard from within the lease is kept");
  a.sweep(1100, 1000, 60_000, (ch) => revoked.push(ch.key), (ch) => forgotten.push(ch.key));
  t.same(revoked, ["fresh", "worker"], "the working one lost it after its lease");
  t.same(forgotten, ["fresh"], "a channel that never stored is forgotten after a lease of silence, not the one that did");
  t.equal(a.reserved, 0);
});

t.test("credit - more working channels shrink the standing window and trim what was granted before", async (t) => {
  const a = new CreditAllocator(100);
  const first = open(a, "first", 1);
  a.grant(free(a), () => {});
  store(a, first, 1);
  first.want = 0;
  a.grant(free(a), () => {});
  t.equal(first.outstanding, a.slack, "alone, it holds the standing window");
  const others = Array.from({ length: 20 }, (_, i) => open(a, `o${i}`, 1));
  a.grant(free(a), () => {});
  for (const ch of others) store(a, ch, 1);
  t.equal(a.standing, Math.floor(100 / 42), "the standing window shrank");
  t.ok(a.trim(first, a.standing), "the first channel's surplus is taken back");
  t.equal(first.outstanding, a.standing);
});

t.test("credit - bookkeeping holds under random operations: reserved is the sum of outstanding credit, within capacity", async (t) => {
  const random = rng(13);
  const a = new CreditAllocator(200);
  let depth = 0;
  let now = 0;
  const chs: InChannel[] = [];
  for (let step = 0; step < 20_000; step++) {
    now += random() * 50;
    const r = random();
    const ch = chs[Math.floor(random() * chs.length)];
    if (r < 0.05 || ch === undefined) chs.push(open(a, `c${step}`, Math.floor(random() * 400), now));
    else if (r < 0.2) ch.want = a.capWant(Math.floor(random() * 10_000));
    else if (r < 0.55 && ch.outstanding > 0) {
      const n = 1 + Math.floor(random() * ch.outstanding);
      store(a, ch, n);
      ch.lastUsed = now;
      depth += n;
    } else if (r < 0.8 && depth > 0) depth -= 1 + Math.floor(random() * depth);
    else if (r < 0.85) a.revoke(ch);
    else if (r < 0.9) a.sweep(now, 1000, 5000, () => {}, () => {});
    a.grant(free(a, depth), () => {}, now);
    for (let i = chs.length - 1; i >= 0; i--) if (!a.channels.has(chs[i]!.key)) chs.splice(i, 1);
    const live = [...a.channels.values()];
    if (a.reserved !== sum(live, (c) => c.outstanding)) throw new Error(`step ${step}: reserved ${a.reserved} is not the sum of outstanding credit`);
    if (a.reservedNew !== sum(live.filter((c) => !c.proven), (c) => c.outstanding)) throw new Error(`step ${step}: the new channels' pool is off`);
    if (depth + a.reserved > a.capacity) throw new Error(`step ${step}: depth ${depth} + reserved ${a.reserved} > capacity`);
    if (a.reservedNew > a.newPool) throw new Error(`step ${step}: new channels hold ${a.reservedNew} > ${a.newPool}`);
    if (live.some((c) => c.outstanding > c.window)) throw new Error(`step ${step}: a channel holds more than its window`);
  }
  t.pass("20,000 random steps kept every invariant");
});

t.test("acks - credit a sender may be waiting for goes at once; credit it does not need yet may wait", async (t) => {
  const a = new CreditAllocator(128);
  const ch = open(a, "low", 16);
  a.grant(free(a), () => {});
  ch.acked();
  const known = ch.limit;
  t.ok(known - ch.stored >= 8, `the sender knows of ${known - ch.stored} credit`);
  store(a, ch, 4);
  t.notOk(ch.ackIsUrgent, "four messages stored, credit in hand: the ack may wait");
  store(a, ch, known - ch.stored - 2);
  t.notOk(ch.ackIsUrgent, "little credit left but none to give: nothing to hurry for");
  // Taken messages free slots; the grant raises the limit far above what is stored. The ack must
  // go now: judged by the limit the owner holds (plenty), it would wait while the sender, which
  // knows only the old limit, stands still (the stall a broken connection then made endless).
  ch.taken = ch.stored;
  a.grant(free(a, 0), () => {});
  t.ok(ch.limit - ch.stored >= 8, "the owner has granted more credit");
  t.ok(ch.ackIsUrgent, "the sender knows of less than 8 credit and there is more: the ack goes at once");
  ch.acked();
  t.notOk(ch.ackIsUrgent, "once it is sent, nothing is due");
});
