import t from "tap";
import { Packr } from "msgpackr";
import { MAX_BODY_PARTS, PROTOCOL_VERSION as V, addBody, decodeFrame, decodeValue, readHeader, writeHeader } from "../src/wire.js";
import { Runtime } from "../src/index.js";
import { batch, eventually, RawClient, sleep, starter, rng } from "../../../test/support/index.js";

const start = starter(Runtime);

const packr = new Packr({ useRecords: false });

t.test("a peer that sends past its credit is refused and counted, never buffered", async (t) => {
  const owner = await start(t, "tcp");
  const mb = owner.mailbox("guarded", { capacity: 8 });
  const c = new RawClient(owner.endpoint, "raw-credit");
  t.teardown(() => c.close());
  await c.send([V, "hello", "guarded", 1, 0]);
  await eventually(() => c.last("ack") !== undefined, 5000, "ack");
  const [, , , rid, stored, taken, limit] = c.last("ack")!;
  t.equal(typeof rid, "string");
  t.same([stored, taken], [0, 0]);
  t.ok((limit as number) >= 1 && (limit as number) <= 8, `limit ${String(limit)} within capacity`);
  const n = (limit as number) + 5;
  const { lens, body } = batch(Array.from({ length: n }, (_, i) => i));
  await c.send([V, "data", "guarded", 1, 0, lens, 0], body);
  await eventually(() => (owner.stats().refused.credit ?? 0) === 5, 5000, "refusals counted");
  t.equal(mb.depth, limit, "only what credit allowed was stored");
  await eventually(() => c.last("ack")?.[4] === limit && c.last("ack")?.[7] === true, 5000, "ack asks for a re-send");
});

t.test("a re-sent message is enqueued once", async (t) => {
  const owner = await start(t, "tcp");
  const mb = owner.mailbox("once");
  const c = new RawClient(owner.endpoint, "raw-dup");
  t.teardown(() => c.close());
  await c.send([V, "hello", "once", 1, 3]);
  await eventually(() => ((c.last("ack")?.[6] as number) ?? 0) >= 3, 5000, "credit for 3");
  const { lens, body } = batch(["a", "b", "c"]);
  await c.send([V, "data", "once", 1, 0, lens, 0], body);
  await c.send([V, "data", "once", 1, 0, lens, 0], body);
  await eventually(() => owner.stats().duplicates === 3, 5000, "duplicates counted");
  t.equal(mb.depth, 3);
  t.same([await mb.receive(), await mb.receive(), await mb.receive()], ["a", "b", "c"]);
});

t.test("each kind of bad frame is dropped and counted by its reason", async (t) => {
  const owner = await start(t, "tcp");
  owner.mailbox("target", { capacity: 4 });
  const c = new RawClient(owner.endpoint, "raw-bad");
  t.teardown(() => c.close());
  const h = (fields: unknown[]): Buffer => packr.pack(fields);
  const cases: [string, Buffer[]][] = [
    ["malformed", [Buffer.from([0xc1])]],
    ["malformed", [Buffer.from([0x93, 0x02, 0xc1, 0x00])]],
    ["malformed", [Buffer.concat([Buffer.alloc(100, 0x91), Buffer.from([0x00])])]],
    ["malformed", [Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x00])]],
    ["decode", [h({ not: "an array" } as never)]],
    ["version", [h([V + 1, "hello", "target", 1, 0])]],
    ["kind", [h([V, "launch", "target"])]],
    ["kind", [h([V, "ack", "target", "rid", 0, 0, 0, false])]],
    ["fields", [h([V, "hello", "target", "one", 0])]],
    ["fields", [h([V, "data", "target", 1, 0, [1], 0])]],
    ["name", [h([V, "hello", 7, 1, 0])]],
    ["name", [h([V, "hello", "n".repeat(201), 1, 0])]],
    ["mailbox", [h([V, "hello", "nowhere", 1, 0])]],
    ["channel", [h([V, "data", "target", 1, 0, [1], 0]), Buffer.from([0x01])]],
  ];
  for (const [, frames] of cases) await c.sendRaw(frames);
  // Now open the channel and send a body that does not match its lengths, a bad payload and a gap.
  await c.send([V, "hello", "target", 1, 4]);
  await eventually(() => ((c.last("ack")?.[6] as number) ?? 0) >= 1, 5000, "credit");
  await c.send([V, "data", "target", 1, 0, [5], 0], Buffer.from([1, 2]));
  await c.send([V, "data", "target", 1, 0, [1], 0], Buffer.from([0xc1]));
  await c.send([V, "data", "target", 3, 0, [1], 0], Buffer.from([0x01]));
  const expected = { decode: 1, malformed: 5, name: 2, version: 1, kind: 2, fields: 2, mailbox: 1, channel: 1, size: 1, order: 1 };
  await eventually(() => {
    const r = owner.stats().refused;
    return Object.entries(expected).every(([k, v]) => (r[k] ?? 0) >= v);
  }, 5000, "all refusals counted");
  t.same(owner.stats().refused, expected);
  t.equal(owner.stats().mailboxes.target!.depth, 0, "nothing bad was stored");
  t.ok(c.received.some((f) => f[1] === "nak" && f[4] === "NO_MAILBOX"), "a missing mailbox is answered with a nak");
});

t.test("a header is decoded byte-exactly: any cut of a valid frame is refused, never thrown", async (t) => {
  const { lens, body } = batch([{ a: 1 }, "bb"]);
  const head = packr.pack([V, "data", "m", 1, 0, lens, 0]);
  t.ok(decodeFrame([head, body], 1 << 20).ok, "the whole frame decodes");
  for (let cut = 0; cut < head.length; cut++) {
    const d = decodeFrame([head.subarray(0, cut), body], 1 << 20);
    t.equal(d.ok, false, `header cut at ${cut}`);
  }
  for (let cut = 0; cut < body.length; cut++) {
    const d = decodeFrame([head, body.subarray(0, cut)], 1 << 20);
    t.equal(d.ok, false, `body cut at ${cut}`);
  }
});

t.test("the header fast path reads what the general reader reads, and leaves it everything else", async (t) => {
  const random = rng(15);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  // Mostly what headers hold (the fast path's kinds), now and then what only the general reader reads.
  const int = (): number => pick([0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, -1, -32, 7, 1000]);
  const rare = (): unknown => pick([2 ** 32, 2 ** 53 - 1, -33, -200, 1.5, 0.25, "é", "mailbox-ü", "z".repeat(300), Buffer.from([1, 2, 3]), { a: 1 }]);
  const value = (depth: number): unknown => {
    const r = random();
    if (r < 0.03) return rare();
    if (r < 0.5) return int();
    if (r < 0.7) return pick(["", "data", "m", "x".repeat(31), "y".repeat(32)]);
    if (r < 0.8) return pick([true, false, null]);
    return depth > 1 ? int() : Array.from({ length: Math.floor(random() * 20) }, () => value(depth + 1));
  };
  let fast = 0;
  let fellBack = 0;
  const differ: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const header = Array.from({ length: pick([0, 1, 5, 7, 9, 15, 16, 20]) }, () => value(1));
    const bytes = packr.pack(header);
    // Whole, cut short, or with one byte changed: whatever the fast path reads, the general
    // reader reads the same; what it does not read is left to the general one.
    const variants = [bytes, bytes.subarray(0, Math.floor(random() * bytes.length)), Buffer.from(bytes)];
    const changed = variants[2]!;
    changed[Math.floor(random() * changed.length)] = Math.floor(random() * 256);
    for (const b of variants) {
      const h = readHeader(b);
      if (h === undefined) {
        fellBack++;
        continue;
      }
      fast++;
      if (JSON.stringify(h) !== JSON.stringify(decodeValue(b, 0))) differ.push(b.toString("hex"));
    }
  }
  t.same(differ, [], "every header the fast path read, it read as the general reader does");
  t.ok(fast > 1000 && fellBack > 1000, `both paths taken (${fast} fast, ${fellBack} left to the general reader)`);
  t.same(readHeader(packr.pack([V, "data", "m", 1, 0, [3, 2], 0])), [V, "data", "m", 1, 0, [3, 2], 0], "a data header is read by the fast path");
});

t.test("the header fast path writes the bytes msgpackr writes, and leaves it everything else", async (t) => {
  const random = rng(16);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  const int = (): number => pick([0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 7, 1000, 123456]);
  const rare = (): unknown => pick([2 ** 32, -1, 1.5, "é", "z".repeat(256), null, Buffer.from([1]), { a: 1 }, [[1]], Array(31).fill(1)]);
  const value = (depth: number): unknown => {
    const r = random();
    if (r < 0.03) return rare();
    if (r < 0.5) return int();
    if (r < 0.7) return pick(["", "data", "m", "x".repeat(31), "y".repeat(32), "w".repeat(255)]);
    if (r < 0.8) return pick([true, false]);
    return depth > 1 ? int() : Array.from({ length: Math.floor(random() * 31) }, () => value(depth + 1));
  };
  const reference = new Packr({ useRecords: false, variableMapSize: true });
  let fast = 0;
  let left = 0;
  const differ: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const header = Array.from({ length: pick([0, 1, 5, 7, 9, 15, 16]) }, () => value(1));
    const bytes = writeHeader(header);
    if (bytes === undefined) {
      left++;
      continue;
    }
    fast++;
    if (bytes.toString("hex") !== reference.pack(header).toString("hex")) differ.push(JSON.stringify(header));
  }
  t.same(differ, [], "every header written here has msgpackr's bytes");
  t.ok(fast > 1000 && left > 500, `both paths taken (${fast} written here, ${left} left to msgpackr)`);
});

t.test("a small body travels in parts of at most 128 bytes and is joined again; a large one stays whole", async (t) => {
  for (const size of [1, 128, 129, 300, 1024, 1025, 5000]) {
    const payload = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7) & 0xff));
    const parts = addBody([], payload);
    const expectParts = size > 128 && size <= 1024 ? Math.ceil(size / 128) : 1;
    t.equal(parts.length, expectParts, `${size} bytes: ${expectParts} part(s)`);
    t.ok(parts.every((p) => p.length <= 128) || parts.length === 1, `${size} bytes: no part above 128 unless whole`);
    const head = packr.pack([V, "data", "m", 1, 1, [size], 0]);
    const d = decodeFrame([head, ...parts], 1 << 20);
    t.ok(d.ok && d.frame.kind === "data" && d.frame.body.equals(payload), `${size} bytes: joined byte-exactly`);
    const del = decodeFrame([packr.pack([V, "deliver", "m", "rid", 1, 1, 1]), ...parts], 1 << 20);
    t.ok(del.ok && del.frame.kind === "deliver" && del.frame.body.equals(payload), `${size} bytes: a deliver is joined too`);
  }
  const tooMany = Array.from({ length: MAX_BODY_PARTS + 1 }, () => Buffer.from([0x01]));
  const d = decodeFrame([packr.pack([V, "data", "m", 1, 0, Array(tooMany.length).fill(1), 0]), ...tooMany], 1 << 20);
  t.same(d.ok ? "accepted" : d.reason, "fields", `a body of ${MAX_BODY_PARTS + 1} parts is refused`);

  // End to end, over a real connection: sizes around both limits arrive intact, in order.
  const owner = await start(t, "tcp");
  const sender = await start(t, "tcp");
  const mb = owner.mailbox("parts", { capacity: 16 });
  const sizes = [128, 129, 640, 1024, 1025, 70_000];
  const sent = sizes.map((n) => Buffer.alloc(n, n & 0xff));
  for (const m of sent) await sender.send(m, mb.address, { until: "stored" });
  for (const m of sent) t.ok(((await mb.receive()) as Buffer).equals(m), `${m.length}-byte message intact`);
  t.equal(Object.keys(owner.stats().refused).length, 0, "nothing refused");
});

t.test("10,000 random and mutated frames: the runtime keeps serving, a good sender's messages arrive exactly once", async (t) => {
  // Fuzzed frames aim at the good sender's mailbox (hello, data) and at a decoy mailbox
  // (remote receive: pull, taken, release), so that a fuzzer can never legitimately take a good message.
  // Fuzzers open channels and ask for credit they never use: a short lease takes it back.
  const owner = await start(t, "tcp", { creditLease: 300, receiverTimeout: 300 });
  const mb = owner.mailbox("fuzzed", { capacity: 64 });
  const decoy = owner.mailbox("decoy", { capacity: 16 });
  const good = await start(t, "tcp");
  const rand = rng(20261125);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const { lens, body } = batch(["x", { y: 2 }]);
  const templates: Buffer[][] = [
    [packr.pack([V, "hello", "fuzzed", 1, 5])],
    [packr.pack([V, "data", "fuzzed", 1, 0, lens, 0]), body],
    [packr.pack([V, "data", "fuzzed", 9, 1, [3], 0]), Buffer.from("abc")],
    [packr.pack([V, "hello", "decoy", 1, 5])],
    [packr.pack([V, "data", "decoy", 1, 0, lens, 0]), body],
    [packr.pack([V, "pull", "decoy", 2, 0, []])],
    [packr.pack([V, "taken", "decoy", [1, 2]])],
    [packr.pack([V, "release", "decoy", [1]])],
  ];
  const mutate = (frames: Buffer[]): Buffer[] => {
    const out = frames.map((f) => Buffer.from(f));
    switch (Math.floor(rand() * 6)) {
      case 0: {
        const f = pick(out);
        for (let i = 0; i < 1 + rand() * 3 && f.length > 0; i++) f[Math.floor(rand() * f.length)] = Math.floor(rand() * 256);
        return out;
      }
      case 1:
        return out.map((f) => f.subarray(0, Math.floor(rand() * (f.length + 1))));
      case 2:
        return [...out, Buffer.from([Math.floor(rand() * 256)])];
      case 3:
        return [Buffer.from(Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)))];
      case 4:
        return out;
      default:
        return out.slice(0, Math.max(1, out.length - 1));
    }
  };
  const fuzzers = Array.from({ length: 4 }, (_, i) => new RawClient(owner.endpoint, `fuzz-${i}`));
  t.teardown(() => Promise.all(fuzzers.map((f) => f.close())));
  const N = 2000;
  const got: number[] = [];
  const isGood = (m: unknown): m is { good: number } =>
    typeof m === "object" && m !== null && typeof (m as { good?: unknown }).good === "number";
  const consumer = (async () => {
    while (got.length < N) {
      const m = await mb.receive({ timeout: 20_000 });
      if (isGood(m)) got.push(m.good);
    }
  })();
  const sender = (async () => {
    for (let i = 0; i < N; i++) await good.send({ good: i }, mb.address, { until: "queued" });
  })();
  for (let i = 0; i < 10_000; i++) {
    await pick(fuzzers).sendRaw(mutate(pick(templates)));
    if (i % 500 === 0) await sleep(1);
  }
  await sender;
  await consumer;
  t.equal(got.length, N, "every good message arrived");
  t.ok([...got].sort((a, b) => a - b).every((m, i) => m === i), "each exactly once");
  t.ok(got.every((m, i) => m === i), "in send order");
  const refused = Object.values(owner.stats().refused).reduce((a, b) => a + b, 0);
  t.ok(refused > 1000, `bad frames were counted (${refused})`);
  t.ok(mb.depth <= 64 && decoy.depth <= 16, "the mailboxes stayed within their capacity");
  await good.send("still alive", mb.address);
  for (let m = await mb.receive(); m !== "still alive"; m = await mb.receive());
  t.pass("the runtime still serves after the fuzzing");
});

t.test("a peer that asks for huge credit and never uses it holds at most the new channels' pool; other senders go on", async (t) => {
  // A long lease: the good sender must get through without waiting for the hog's to run out.
  const owner = await start(t, "tcp", { creditLease: 60_000 });
  const mb = owner.mailbox("contended", { capacity: 100 });
  const hogs = Array.from({ length: 20 }, (_, i) => new RawClient(owner.endpoint, `raw-hog-${i}`));
  t.teardown(() => Promise.all(hogs.map((h) => h.close())));
  for (const hog of hogs) await hog.send([V, "hello", "contended", 1, 2 ** 40]);
  await eventually(() => hogs.every((h) => h.last("ack") !== undefined), 5000, "every hog answered");
  const held = hogs.reduce((n, h) => n + (h.last("ack")?.[6] as number), 0);
  t.ok(held <= 25, `the hogs hold ${held} of 100, at most a quarter`);
  const sender = await start(t, "tcp", { probeInterval: 100 });
  const consumer = (async () => {
    const got: unknown[] = [];
    while (got.length < 300) got.push(await mb.receive({ timeout: 10_000 }));
    return got;
  })();
  for (let i = 0; i < 300; i++) await sender.send(i, mb.address, { timeout: 10_000 });
  t.same(await consumer, Array.from({ length: 300 }, (_, i) => i), "the good sender got every message through, in order");
  t.ok(owner.stats().mailboxes.contended!.creditOutstanding + mb.depth <= 100, "within capacity");
});
