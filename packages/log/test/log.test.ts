import t from "tap";
import { crc32 } from "node:zlib";
import { open, readFile, writeFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes, randomInt } from "node:crypto";
import { unpack } from "msgpackr";
import { LogClosedError, LogCorruptError, LogFailedError, LogLockedError, RecordTooLargeError } from "../src/errors.js";
import { decodeLog, encodeFrame, encodeLogFile, endOfData, FILE_HEADER_BYTES, FRAME_HEADER_BYTES } from "../src/frame.js";
import { LOG_FILE_NAME, StableLog, readLog } from "../src/log.js";
import { MemoryFs } from "../src/memory-fs.js";
import { PREALLOCATE_BYTES, createNodeFs } from "../src/fs.js";

interface Rec {
  txId: string;
  n: number;
}

const recs = (n: number, tx = "tx"): Rec[] => Array.from({ length: n }, (_, i) => ({ txId: `${tx}-${i % 3}`, n: i }));

/** A MemoryFs whose syncs complete only when the test says so. */
function manualSyncFs(): { fs: MemoryFs; completeSync(): void; pendingSyncs(): number } {
  const pending: Array<() => void> = [];
  // Syncs complete by themselves until the first write after open (a new log's header is
  // synced while it opens); from then on only when the test says so.
  let manual = false;
  const fs = new MemoryFs({ scheduleSync: (done) => (manual ? pending.push(done) : queueMicrotask(done)) });
  const write = fs.openAppend.bind(fs);
  fs.openAppend = async (path: string) => {
    const handle = await write(path);
    manual = true;
    // Count only what the log does after it opened.
    fs.stats.writes = fs.stats.syncs = 0;
    return handle;
  };
  return { fs, completeSync: () => pending.shift()?.(), pendingSyncs: () => pending.length };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Where each record's frame ends in `file` (a whole log file). */
const frameEnds = (file: Buffer): number[] => decodeLog(file).frames.map((f) => f.offset + f.bytes);

t.test("log - file layout: a 16-byte header with a salt, then [u32 length][u32 crc32][msgpack payload] per record", async (t) => {
  const file = encodeLogFile([{ txId: "a", n: 1 }]);
  t.equal(file.subarray(0, 7).toString("latin1"), "ZMBXLOG", "magic");
  t.equal(file[7], 2, "format version");
  const salt = file.subarray(8, 16);
  const length = file.readUInt32LE(FILE_HEADER_BYTES);
  const payload = file.subarray(FILE_HEADER_BYTES + FRAME_HEADER_BYTES);
  t.equal(length, payload.length);
  const position = Buffer.alloc(16);
  salt.copy(position, 0);
  position.writeBigUInt64LE(BigInt(FILE_HEADER_BYTES), 8);
  t.equal(file.readUInt32LE(FILE_HEADER_BYTES + 4), crc32(payload, crc32(position)), "the checksum covers the salt and the offset, then the payload");
  t.same(unpack(payload), { txId: "a", n: 1 }, "plain MessagePack, readable without the record extension");
  t.same(encodeFrame({ txId: "a", n: 1 }, salt, FILE_HEADER_BYTES), file.subarray(FILE_HEADER_BYTES), "encodeFrame makes the same frame");
});

t.test("log - a frame's checksum is zlib's crc32 of the salt and the offset (64-bit little-endian), then the payload, at any offset", async (t) => {
  let checked = 0;
  // Offsets near the 32-bit edges and far past them.
  const near = [0, 16, 2 ** 31 - 500, 2 ** 32 - 500, 2 ** 40, Number.MAX_SAFE_INTEGER - 1000];
  for (let i = 0; i < 2000; i++) {
    const salt = randomBytes(8);
    const offset = near[i % near.length]! + randomInt(1000);
    const position = Buffer.alloc(16);
    salt.copy(position, 0);
    position.writeBigUInt64LE(BigInt(offset), 8);
    const frame = encodeFrame({ txId: "a", n: i }, salt, offset);
    const expected = crc32(frame.subarray(FRAME_HEADER_BYTES), crc32(position));
    if (frame.readUInt32LE(4) !== expected) {
      t.fail(`offset ${offset}, salt ${salt.toString("hex")}: ${frame.readUInt32LE(4)}, expected ${expected}`);
      return;
    }
    checked++;
  }
  t.equal(checked, 2000, "2,000 salts and offsets checked");
});

t.test("log - a record moved to another offset, or copied from a file with another salt, does not check", async (t) => {
  const file = encodeLogFile(recs(2));
  const [first, second] = decodeLog(file).frames;
  const moved = Buffer.concat([file.subarray(0, FILE_HEADER_BYTES), file.subarray(second!.offset, second!.offset + second!.bytes)]);
  t.equal(decodeLog(moved).frames.length, 0, "the second record written where the first was is not a record");
  const other = encodeLogFile(recs(2));
  const stale = Buffer.concat([file.subarray(0, first!.offset + first!.bytes), other.subarray(second!.offset)]);
  t.equal(decodeLog(stale).frames.length, 1, "a block of another file at the same place is not a record");
});

t.test("log - records come back in order after close and reopen (real files)", async (t) => {
  const dir = t.testdir();
  const { log, records } = await StableLog.open<Rec>(dir);
  t.same(records, []);
  for (const r of recs(5)) await log.append(r);
  await log.append({ txId: "lazy", n: 99 }, { sync: false });
  await log.close();
  const reopened = await StableLog.open<Rec>(dir);
  t.same(reopened.records, [...recs(5), { txId: "lazy", n: 99 }]);
  t.equal(reopened.truncatedBytes, 0);
  await reopened.log.close();
});

t.test("log - a torn tail at every cut point is cut off on open, byte at a time (real files)", async (t) => {
  const dir = t.testdir();
  const path = join(dir, LOG_FILE_NAME);
  const whole = encodeLogFile(recs(3));
  const ends = frameEnds(whole);
  for (let cut = 0; cut <= whole.length; cut++) {
    await writeFile(path, whole.subarray(0, cut));
    const complete = ends.filter((end) => end <= cut).length;
    // A cut inside the header: the file was being created, and opens empty with a new header.
    if (cut < FILE_HEADER_BYTES) {
      const { log, records, truncatedBytes } = await StableLog.open<Rec>(dir);
      if (records.length !== 0 || truncatedBytes !== 0) t.fail(`cut at ${cut} (in the header): got ${records.length} records`);
      await log.close();
      continue;
    }
    const valid = complete === 0 ? FILE_HEADER_BYTES : ends[complete - 1]!;
    const { log, records, truncatedBytes } = await StableLog.open<Rec>(dir);
    // Zeros at the very end of a cut are indistinguishable from preallocated space: not counted.
    const torn = endOfData(whole.subarray(0, cut), valid) - valid;
    if (JSON.stringify(records) !== JSON.stringify(recs(3).slice(0, complete)) || truncatedBytes !== torn) {
      t.fail(`cut at ${cut}: got ${records.length} records, truncated ${truncatedBytes}, expected ${torn}`);
    }
    const onDisk = await readFile(path);
    if (endOfData(onDisk, valid) !== valid) t.fail(`cut at ${cut}: torn bytes left after ${valid}`);
    await log.append({ txId: "after", n: cut });
    await log.close();
    const again = await readLog<Rec>(dir);
    if (again.records.length !== complete + 1 || again.validBytes !== again.fileBytes) t.fail(`cut at ${cut}: append after recovery lost`);
  }
  t.pass(`all ${whole.length + 1} cut points recovered the complete prefix`);
});

t.test("log - the file is preallocated with zeros: no torn tail on reopen, appends go after the data, torn writes there are cut (real files)", async (t) => {
  const dir = t.testdir();
  const path = join(dir, LOG_FILE_NAME);
  const first = await StableLog.open<Rec>(dir);
  for (const r of recs(3)) await first.log.append(r);
  await first.log.close();
  t.equal((await stat(path)).size, PREALLOCATE_BYTES, "the first durable write preallocated a chunk of zeros");

  const second = await StableLog.open<Rec>(dir);
  t.equal(second.truncatedBytes, 0, "the zeros after the data are not a torn tail");
  t.same(second.records, recs(3));
  await second.log.append({ txId: "after-reopen", n: 3 });
  await second.log.close();
  const { records, validBytes, fileBytes } = await readLog<Rec>(dir);
  t.same(records.map((r) => r.txId), ["tx-0", "tx-1", "tx-2", "after-reopen"], "the append went right after the data");
  t.equal(fileBytes, validBytes, "nothing but zeros after it");
  t.equal((await stat(path)).size, PREALLOCATE_BYTES, "and the file did not grow");

  // A write torn in the preallocated space: garbage where the next frame goes, zeros after it.
  const file = await open(path, "r+");
  await file.write(Buffer.from([7, 7, 7]), 0, 3, validBytes);
  await file.close();
  const third = await StableLog.open<Rec>(dir);
  t.equal(third.truncatedBytes, 3, "the torn bytes are found among the zeros");
  t.equal(third.records.length, 4);
  await third.log.append({ txId: "after-tear", n: 4 });
  await third.log.close();
  t.same((await readLog<Rec>(dir)).records.map((r) => r.txId).slice(-2), ["after-reopen", "after-tear"], "appends go on after the cut");
});

t.test("log - appends past the preallocated space grow the file by another chunk (real files)", async (t) => {
  const dir = t.testdir();
  const big = (n: number): Rec => ({ txId: `big-${n}`, n, pad: "x".repeat(400_000) }) as Rec;
  const { log } = await StableLog.open<Rec>(dir);
  for (let n = 0; n < 4; n++) await log.append(big(n));
  await log.close();
  const size = (await stat(join(dir, LOG_FILE_NAME))).size;
  t.ok(size >= 1_600_000 && size % PREALLOCATE_BYTES === 0, `grown in whole chunks (${size} bytes)`);
  const reopened = await StableLog.open<Rec>(dir);
  t.equal(reopened.truncatedBytes, 0);
  t.same(reopened.records.map((r) => r.n), [0, 1, 2, 3], "every record, across the chunk boundary");
  await reopened.log.close();
});

t.test("log - inline writes (on the calling thread) keep every record, across a chunk boundary (real files)", async (t) => {
  const dir = t.testdir();
  const fs = createNodeFs({ inlineWrites: true });
  const big = (n: number): Rec => ({ txId: `big-${n}`, n, pad: "x".repeat(300_000) }) as Rec;
  const { log } = await StableLog.open<Rec>(dir, { fs });
  await Promise.all(recs(10).map((r) => log.append(r)));
  await log.append({ txId: "unforced", n: 10 }, { sync: false });
  for (let n = 11; n < 16; n++) await log.append(big(n));
  await log.close();
  const reopened = await StableLog.open<Rec>(dir, { fs });
  t.equal(reopened.truncatedBytes, 0);
  t.same(reopened.records.map((r) => r.n), Array.from({ length: 16 }, (_, i) => i), "every record in order");
  t.ok((await stat(join(dir, LOG_FILE_NAME))).size >= 2 * PREALLOCATE_BYTES, "grown past the first chunk");
  await reopened.log.close();
});

t.test("log - a bad record with valid ones after it is corruption: open refuses with the file, the offset and the count", async (t) => {
  const dir = t.testdir();
  const path = join(dir, LOG_FILE_NAME);
  const data = encodeLogFile(recs(3));
  const [, second] = decodeLog(data).frames;
  data[second!.offset + FRAME_HEADER_BYTES + 2]! ^= 0xff; // a payload byte of the second record
  await writeFile(path, data);
  const error = await StableLog.open<Rec>(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(error, LogCorruptError);
  const corrupt = error as LogCorruptError;
  t.equal(corrupt.code, "ERR_LOG_CORRUPT");
  t.equal(corrupt.path, path);
  t.equal(corrupt.offset, second!.offset);
  t.equal(corrupt.validAfter, 1);
  t.match(corrupt.message, new RegExp(`byte ${second!.offset} is followed by 1 valid record`));
  t.same(await readFile(path), data, "the file is left as it was");
  const seen = await readLog<Rec>(dir);
  t.same(seen.corruption, { offset: second!.offset, nextValidOffset: second!.offset + second!.bytes, validAfter: 1, reason: "a bad record is followed by 1 valid record" });
  t.same(seen.records, recs(1), "readLog shows what is before the damage");
  await t.rejects(StableLog.open<Rec>(dir), LogCorruptError, "and refuses again: the lock was let go");
});

t.test("log - salvage cuts a corrupt log at the damage and says what it cut", async (t) => {
  const dir = t.testdir();
  const path = join(dir, LOG_FILE_NAME);
  const data = encodeLogFile(recs(4));
  const [, second] = decodeLog(data).frames;
  data[second!.offset + 5]! ^= 0x01; // one bit of the second record's checksum
  await writeFile(path, data);
  const { log, records, salvaged, truncatedBytes } = await StableLog.open<Rec>(dir, { salvage: true });
  t.same(records, recs(1));
  t.same(salvaged, { offset: second!.offset, cutBytes: data.length - second!.offset, cutRecords: 2 });
  t.equal(truncatedBytes, 0, "a salvage is not a torn tail");
  await log.append({ txId: "after", n: 9 });
  await log.close();
  t.same((await StableLog.open<Rec>(dir)).records.map((r) => r.txId), ["tx-0", "after"], "the salvaged log opens cleanly after");
  await t.rejects(StableLog.open<Rec>(dir, { salvage: "yes" as never }), { name: "TypeError", message: /`salvage` to be a boolean/ });
});

t.test("log - every byte of a real log flipped, zeroed in blocks, or cut at a record boundary: the same records, a torn tail, or LogCorruptError", async (t) => {
  const dir = t.testdir();
  const path = join(dir, LOG_FILE_NAME);
  const first = await StableLog.open<Rec>(dir);
  for (const r of recs(6)) await first.log.append(r);
  await first.log.close();
  const real = await readFile(path);
  const data = real.subarray(0, endOfData(real, 0));
  const ends = frameEnds(data);
  const lastStart = ends.at(-2)!;
  const outcomes = { same: 0, refused: 0, tornLast: 0 };
  const check = async (bytes: Buffer, what: string): Promise<void> => {
    await writeFile(path, bytes);
    try {
      const { log, records } = await StableLog.open<Rec>(dir);
      await log.close();
      if (JSON.stringify(records) === JSON.stringify(recs(6))) outcomes.same++;
      else if (JSON.stringify(records) === JSON.stringify(recs(5))) outcomes.tornLast++;
      else t.fail(`${what}: opened to ${records.length} records`);
    } catch (error) {
      if (error instanceof LogCorruptError) outcomes.refused++;
      else t.fail(`${what}: ${String(error)}`);
    }
  };
  for (let at = 0; at < data.length; at++) {
    const flipped = Buffer.from(data);
    flipped[at]! ^= 0x20;
    await check(flipped, `byte ${at} flipped`);
  }
  t.equal(outcomes.same, 0, "no flipped byte goes unnoticed");
  t.ok(outcomes.tornLast <= 4, `only a flip in the last record's length can pass for a torn write (${outcomes.tornLast})`);
  for (let at = 0; at < data.length; at += 16) {
    const zeroed = Buffer.from(data);
    zeroed.fill(0, at, Math.min(at + 16, data.length));
    await check(zeroed, `bytes ${at}..${at + 15} zeroed`);
  }
  for (const [i, end] of [FILE_HEADER_BYTES, ...ends].entries()) {
    await writeFile(path, data.subarray(0, end));
    const { log, records } = await StableLog.open<Rec>(dir);
    await log.close();
    if (JSON.stringify(records) !== JSON.stringify(recs(i))) t.fail(`cut at ${end}: opened to ${records.length} records, expected ${i}`);
  }
  t.ok(lastStart > FILE_HEADER_BYTES);
  t.ok(outcomes.refused > 0, `refused ${outcomes.refused} damaged files; ${outcomes.tornLast} taken for a torn last record`);
});

t.test("log - a damaged last record that is whole is corruption, not a torn tail", async (t) => {
  const data = encodeLogFile(recs(2));
  const [, last] = decodeLog(data).frames;
  const flipped = Buffer.from(data);
  flipped[last!.offset + FRAME_HEADER_BYTES + 1]! ^= 0x04;
  t.match(decodeLog(flipped).corruption, { offset: last!.offset, validAfter: 0, reason: /complete but does not match/ });
  const longer = Buffer.from(data);
  longer.writeUInt32LE(last!.bytes + 100, last!.offset); // the length field says more than is there
  t.match(decodeLog(longer).corruption, { offset: last!.offset, reason: /length field is damaged/ });
  const cut = data.subarray(0, data.length - 3);
  t.equal(decodeLog(cut).corruption, undefined, "a record cut short is a torn tail");
});

t.test("log - a log written before the file header (version 1) opens and is rewritten with a header", async (t) => {
  const dir = t.testdir();
  const path = join(dir, LOG_FILE_NAME);
  const v1 = (value: unknown): Buffer => {
    const payload = Buffer.from(encodeFrame(value, Buffer.alloc(8), 0).subarray(FRAME_HEADER_BYTES));
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    header.writeUInt32LE(payload.length, 0);
    header.writeUInt32LE(crc32(payload), 4);
    return Buffer.concat([header, payload]);
  };
  const old = Buffer.concat(recs(3).map(v1));
  await writeFile(path, Buffer.concat([old, Buffer.from([9, 9])])); // and a torn tail
  t.equal(decodeLog(old).version, 1);
  const { log, records, truncatedBytes } = await StableLog.open<Rec>(dir);
  t.same(records, recs(3));
  t.equal(truncatedBytes, 2);
  await log.append({ txId: "new", n: 3 });
  await log.close();
  const now = await readLog<Rec>(dir);
  t.equal(now.version, 2, "rewritten in the current format");
  t.same(now.records, [...recs(3), { txId: "new", n: 3 }]);
});

t.test("log - a file that does not start with a log header is refused", async (t) => {
  const dir = t.testdir();
  await writeFile(join(dir, LOG_FILE_NAME), Buffer.from("this is not a log, it is a text file that ended up here\n"));
  await t.rejects(StableLog.open<Rec>(dir), { code: "ERR_LOG_CORRUPT", offset: 0, message: /does not start with a log header/ });
});

t.test("log - a directory open in this process, or held by another live process, is refused; a stale lock is taken over", async (t) => {
  const dir = t.testdir();
  const { log } = await StableLog.open<Rec>(dir);
  await t.rejects(StableLog.open<Rec>(dir), LogLockedError);
  await t.rejects(StableLog.open<Rec>(dir), { code: "ERR_LOG_LOCKED", pid: process.pid, message: /in use by process \d+ \(this process\)/ });
  await log.close();
  const again = await StableLog.open<Rec>(dir);
  await again.log.close();
  // A lock left by a process that is gone (killed with -9): taken over.
  await writeFile(join(dir, "LOCK"), "2147483646\n");
  const third = await StableLog.open<Rec>(dir);
  await third.log.close();
  // A lock held by a live process (this test's parent stands in for one).
  await writeFile(join(dir, "LOCK"), `${process.ppid}\n`);
  await t.rejects(StableLog.open<Rec>(dir), { code: "ERR_LOG_LOCKED", pid: process.ppid });
});

t.test("log - group commit: appends made during a sync share the next write and sync", async (t) => {
  const { fs, completeSync, pendingSyncs } = manualSyncFs();
  const { log } = await StableLog.open<Rec>("/n1", { fs });
  const order: string[] = [];
  const first = log.append({ txId: "a", n: 0 }).then(() => order.push("a"));
  await tick();
  t.equal(pendingSyncs(), 1, "the first append is being synced");
  const rest = ["b", "c", "d"].map((tx, i) => log.append({ txId: tx, n: i + 1 }).then(() => order.push(tx)));
  await tick();
  t.equal(fs.stats.writes, 1, "nothing written while the sync runs");
  completeSync();
  await first;
  await tick();
  t.equal(fs.stats.writes, 2, "b, c and d went out in one write");
  t.equal(pendingSyncs(), 1, "...and one sync");
  completeSync();
  await Promise.all(rest);
  t.same(order, ["a", "b", "c", "d"], "promises settle in append order");
  t.match(log.stats, { appends: 4, writes: 2, syncs: 2 });
});

t.test("log - unforced appends are written without a sync and made durable by the next one", async (t) => {
  const fs = new MemoryFs();
  const { log } = await StableLog.open<Rec>("/n1", { fs });
  fs.stats.writes = fs.stats.syncs = 0; // count what follows the open (a new log syncs its header)
  await log.append({ txId: "a", n: 0 }, { sync: false });
  t.equal(fs.stats.syncs, 0);
  fs.crash();
  t.same((await StableLog.open<Rec>("/n1", { fs })).records, [], "an unforced record is lost in a crash");

  const again = (await StableLog.open<Rec>("/n1", { fs })).log;

  fs.stats.writes = fs.stats.syncs = 0; // count what follows the open (a new log syncs its header)
  await again.append({ txId: "b", n: 1 }, { sync: false });
  await again.append({ txId: "c", n: 2 });
  t.equal(fs.stats.syncs, 1);
  fs.crash();
  t.same((await StableLog.open<Rec>("/n1", { fs })).records, [{ txId: "b", n: 1 }, { txId: "c", n: 2 }], "the forced append synced the earlier one");
});

t.test("log - with lazyWriteDelay, unforced and lazy records wait for the next forced group, and a lazy one still resolves only when durable", async (t) => {
  const fs = new MemoryFs();
  const { log } = await StableLog.open<Rec>("/lazy", { fs, lazyWriteDelay: 50 });
  fs.stats.writes = fs.stats.syncs = 0; // count what follows the open (a new log syncs its header)
  let lazyDone = false;
  void log.append({ txId: "start", n: 0 }, { sync: false });
  const lazy = log.append({ txId: "commit", n: 1 }, { lazy: true }).then(() => (lazyDone = true));
  await new Promise((r) => setTimeout(r, 10));
  t.equal(fs.stats.writes, 0, "nothing written yet: both wait for company");
  t.equal(lazyDone, false, "a lazy forced record does not resolve before it is durable");
  await log.append({ txId: "ready", n: 2 });
  t.equal(fs.stats.writes, 1, "the forced record took both waiting ones in the same write");
  t.equal(fs.stats.syncs, 1, "...and the same sync");
  await lazy;
  fs.crash();
  t.same((await StableLog.open<Rec>("/lazy", { fs })).records.map((r) => r.txId), ["start", "commit", "ready"], "all three durable, in order");

  const alone = (await StableLog.open<Rec>("/lazy2", { fs, lazyWriteDelay: 20 })).log;
  const started = performance.now();
  await alone.append({ txId: "solo", n: 0 }, { lazy: true });
  t.ok(performance.now() - started >= 15, "a lazy record with no company goes out after lazyWriteDelay");
  fs.crash();
  t.same((await StableLog.open<Rec>("/lazy2", { fs })).records.map((r) => r.txId), ["solo"], "and it was synced");
});

t.test("log - unforced records alone wait unforcedWriteDelay; a lazy forced record brings the write forward to lazyWriteDelay", async (t) => {
  const fs = new MemoryFs();
  const { log } = await StableLog.open<Rec>("/unforced", { fs, lazyWriteDelay: 20, unforcedWriteDelay: 400 });
  fs.stats.writes = fs.stats.syncs = 0; // count what follows the open (a new log syncs its header)
  void log.append({ txId: "end-1", n: 0 }, { sync: false });
  await new Promise((r) => setTimeout(r, 60));
  t.equal(fs.stats.writes, 0, "an unforced record alone is still waiting after 3 x lazyWriteDelay");
  const started = performance.now();
  await log.append({ txId: "commit", n: 1 }, { lazy: true });
  const waited = performance.now() - started;
  t.ok(waited >= 15 && waited < 300, `the lazy forced record went out after about lazyWriteDelay (${waited.toFixed(0)} ms), not unforcedWriteDelay`);
  t.equal(fs.stats.writes, 1, "in one write with the unforced record");
  t.equal(fs.stats.syncs, 1, "and one sync");

  void log.append({ txId: "end-2", n: 2 }, { sync: false });
  const written = fs.stats.writes;
  await new Promise((r) => setTimeout(r, 500));
  t.equal(fs.stats.writes, written + 1, "an unforced record with no company is written after unforcedWriteDelay");
  fs.crash();
  t.same((await StableLog.open<Rec>("/unforced", { fs })).records.map((r) => r.txId), ["end-1", "commit"], "unsynced, the last one is lost in a crash, as unforced records may be");
  await t.rejects(StableLog.open<Rec>("/bad", { fs, unforcedWriteDelay: -1 }), /unforcedWriteDelay/, "a negative unforcedWriteDelay is refused, naming the option");
});

t.test("log - a crash tears the unsynced tail at any byte, and open recovers the synced prefix", async (t) => {
  for (let keep = 0; keep < 40; keep++) {
    const fs = new MemoryFs();
    const { log } = await StableLog.open<Rec>("/n1", { fs });
    await log.append({ txId: "durable", n: 0 });
    await log.append({ txId: "volatile-1", n: 1 }, { sync: false });
    await log.append({ txId: "volatile-2", n: 2 }, { sync: false });
    fs.crash(() => keep);
    const { records } = await StableLog.open<Rec>("/n1", { fs });
    if (records[0]?.txId !== "durable") t.fail(`keep ${keep}: the synced record was lost`);
    const expected = keep >= encodeFrame({ txId: "volatile-1", n: 1 }, Buffer.alloc(8), 0).length ? 2 : 1;
    if (records.length < expected) t.fail(`keep ${keep}: a complete surviving frame was dropped`);
  }
  t.pass("every tear point recovered");
});

t.test("log - a failed sync is fatal: pending and later appends reject, nothing claims durability", async (t) => {
  const { fs, completeSync } = manualSyncFs();
  const { log } = await StableLog.open<Rec>("/n1", { fs });
  fs.failNext("datasync", new Error("EIO: disk on fire"));
  const failed = log.append({ txId: "a", n: 0 });
  const queued = log.append({ txId: "b", n: 1 });
  const error = await failed.then(
    () => undefined,
    (err: unknown) => err,
  );
  t.type(error, LogFailedError);
  t.equal((error as LogFailedError).code, "ERR_LOG_FAILED");
  t.match((error as LogFailedError).cause, { message: "EIO: disk on fire" });
  await t.rejects(queued, LogFailedError, "an append queued behind the failed sync rejects too");
  await t.rejects(log.append({ txId: "c", n: 2 }), LogFailedError, "and so does every later one");
  t.equal(await log.closed, log.failure, "closed resolves with the failure");
  completeSync();
  t.equal(fs.stats.syncs, 0, "the failed sync was not retried");
});

t.test("log - a failed write is fatal", async (t) => {
  const fs = new MemoryFs();
  const { log } = await StableLog.open<Rec>("/n1", { fs });
  fs.failNext("write");
  await t.rejects(log.append({ txId: "a", n: 0 }, { sync: false }), { code: "ERR_LOG_FAILED" });
  await t.rejects(log.append({ txId: "b", n: 1 }), LogFailedError);
});

t.test("log - compaction keeps live transactions and drops the rest (real files)", async (t) => {
  const dir = t.testdir();
  const live = new Set(["tx-1"]);
  const { log } = await StableLog.open<Rec>(dir, { retain: (r) => live.has(r.txId) });
  for (const r of recs(9)) await log.append(r);
  const before = log.stats.bytes;
  await log.compact();
  t.equal(log.stats.compactions, 1);
  t.ok(log.stats.bytes < before);
  await log.append({ txId: "tx-1", n: 100 });
  await log.close();
  const reopened = await StableLog.open<Rec>(dir);
  t.same(
    reopened.records.map((r) => r.n),
    [1, 4, 7, 100],
    "live records in their order, then appends after compaction",
  );
  await reopened.log.close();
});

t.test("log - compaction starts by itself past the size and ratio thresholds", async (t) => {
  const fs = new MemoryFs();
  const { log } = await StableLog.open<Rec>("/n1", { fs, retain: (r) => r.n % 2 === 0, compactMinBytes: 200, compactRatio: 2 });
  for (let n = 0; n < 40; n++) await log.append({ txId: "t", n });
  t.ok(log.stats.compactions >= 1, `${log.stats.compactions} compactions`);
  t.ok(log.stats.bytes < 40 * encodeFrame({ txId: "t", n: 10 }, Buffer.alloc(8), 0).length, "the file stays small");
  await log.close();
  const { records } = await StableLog.open<Rec>("/n1", { fs });
  const odd = records.filter((r) => r.n % 2 === 1).map((r) => r.n);
  t.ok(
    odd.every((n) => n > 30),
    "only odd records appended after the last compaction remain",
  );
  t.same(
    records.filter((r) => r.n % 2 === 0).map((r) => r.n),
    Array.from({ length: 20 }, (_, i) => i * 2),
  );
});

t.test("log - a leftover compaction file is ignored and removed on open", async (t) => {
  const dir = t.testdir();
  await writeFile(join(dir, LOG_FILE_NAME), encodeLogFile(recs(2)));
  await writeFile(join(dir, `${LOG_FILE_NAME}.compact`), "half-written");
  const { log, records } = await StableLog.open<Rec>(dir);
  t.same(records, recs(2));
  await t.rejects(stat(join(dir, `${LOG_FILE_NAME}.compact`)), { code: "ENOENT" });
  await log.close();
});

t.test("log - append after close rejects; an oversized record is refused without harm", async (t) => {
  const fs = new MemoryFs();
  const { log } = await StableLog.open<unknown>("/n1", { fs });
  await t.rejects(log.append({ big: Buffer.alloc(17 * 1024 * 1024) }), RecordTooLargeError);
  await log.append({ small: true });
  await log.close();
  await t.rejects(log.append({ late: true }), LogClosedError);
  t.equal(await log.closed, undefined, "a clean close resolves closed with undefined");
});

t.test("log - options are validated with the field name", async (t) => {
  await t.rejects(StableLog.open("/x", { fs: new MemoryFs(), compactRatio: 0.5 }), {
    name: "TypeError",
    message: "Expected `compactRatio` to be a number from 1 and up, got `0.5` (number)",
  });
});

t.test("log - fileName names the file in the directory; a bad one is refused", async (t) => {
  const fs = new MemoryFs();
  const { log } = await StableLog.open<Rec>("/d", { fs, fileName: "other.log" });
  await log.append({ txId: "a", n: 1 });
  await log.close();
  t.equal(fs.durableBytes(`/d/${LOG_FILE_NAME}`), 0, "nothing in the default file");
  t.same((await readLog<Rec>("/d", fs, "other.log")).records, [{ txId: "a", n: 1 }]);
  await t.rejects(StableLog.open("/d", { fs, fileName: "x/y.log" }), /Expected `fileName` to be a file name without a directory, got `x\/y.log` \(string\)/);
});

t.test("log - appendAll writes a batch in one write and one sync, and settles once for all", async (t) => {
  const { fs, completeSync } = manualSyncFs();
  const { log } = await StableLog.open<Rec>("/d", { fs });
  let done = false;
  const p = log.appendAll(recs(5)).then(() => (done = true));
  await tick();
  t.equal(done, false, "not before the sync");
  completeSync();
  await p;
  t.same([fs.stats.writes, fs.stats.syncs], [1, 1]);
  t.same((await readLog<Rec>("/d", fs)).records, recs(5));
  await t.rejects(log.appendAll([{ txId: "big", n: 0, pad: "x".repeat(17 * 1024 * 1024) } as Rec]), RecordTooLargeError);
  await log.close();
});

t.test("log - compaction writes the snapshot first, then the records retain keeps", async (t) => {
  const fs = new MemoryFs();
  let next = 0;
  const { log } = await StableLog.open<Rec>("/d", { fs, retain: (r) => r.n % 2 === 0 && r.txId !== "next", snapshot: () => [{ txId: "next", n: next }] });
  for (const r of recs(6)) await log.append(r);
  next = 42;
  await log.compact();
  await log.close();
  t.same((await readLog<Rec>("/d", fs)).records.map((r) => [r.txId, r.n]), [["next", 42], ["tx-0", 0], ["tx-2", 2], ["tx-1", 4]]);
});

/** A MemoryFs that counts the times the log file is read. */
function countingFs(): { fs: MemoryFs; reads: () => number } {
  const fs = new MemoryFs();
  let reads = 0;
  const readFile = fs.readFile.bind(fs);
  fs.readFile = async (path: string) => {
    if (path.endsWith(LOG_FILE_NAME)) reads++;
    return readFile(path);
  };
  return { fs, reads: () => reads };
}

t.test("log - compaction keeps what retain says from the records it holds, without reading the file back; records read at open are held too", async (t) => {
  const { fs, reads } = countingFs();
  const live = new Set(["tx-1"]);
  const seen: Rec[] = [];
  const retain = (r: Rec): boolean => {
    seen.push(r);
    return live.has(r.txId);
  };
  const appended = recs(6);
  const { log } = await StableLog.open<Rec>("/d", { fs, retain });
  t.equal(reads(), 1, "open reads the file once");
  for (const r of appended) await log.append(r);
  await log.compact();
  t.equal(reads(), 1, "compaction did not read it");
  t.ok(seen.length === appended.length && seen.every((r, i) => r === appended[i]), "retain was given the objects appended, in order");
  await log.close();
  t.same((await readLog<Rec>("/d", fs)).records, [{ txId: "tx-1", n: 1 }, { txId: "tx-1", n: 4 }], "the file holds what retain kept");

  const again = await StableLog.open<Rec>("/d", { fs, retain: (r) => r.n === 4 });
  const readsAfterOpen = reads();
  await again.log.append({ txId: "tx-9", n: 9 });
  await again.log.compact();
  t.equal(reads(), readsAfterOpen, "compaction of a reopened log did not read it either");
  await again.log.close();
  t.same((await readLog<Rec>("/d", fs)).records, [{ txId: "tx-1", n: 4 }], "records read at open are kept or dropped like appended ones");
});

t.test("log - a compaction that fails rejects compact(), and every later append", async (t) => {
  const fs = new MemoryFs();
  const { log } = await StableLog.open<Rec>("/d", { fs, retain: (r) => r.n > 0, compactMinBytes: 2 ** 40 });
  for (const r of recs(3)) await log.append(r);
  fs.failNext("write", new Error("EIO: disk on fire"));
  await t.rejects(log.compact(), LogFailedError);
  t.match(log.failure?.cause, { message: "EIO: disk on fire" });
  await t.rejects(log.append({ txId: "d", n: 9 }), LogFailedError, "a later append rejects");
  t.same((await readLog<Rec>("/d", fs)).records, recs(3), "the log file is as it was");
});

t.test("log - close whose last sync fails rejects with the failure, rather than never settling", async (t) => {
  const fs = new MemoryFs();
  const { log } = await StableLog.open<Rec>("/n1", { fs });
  await log.append({ txId: "a", n: 0 }, { sync: false });
  fs.failNext("datasync", new Error("EIO: disk on fire"));
  await t.rejects(log.close(), LogFailedError);
  t.match(log.failure?.cause, { message: "EIO: disk on fire" });
  t.equal(await log.closed, log.failure, "closed resolves with the failure");
});

t.test("log - a held file damaged while open is rewritten whole by compaction, from the records in memory", async (t) => {
  const fs = new MemoryFs();
  const { log } = await StableLog.open<Rec>("/d", { fs, retain: (r) => r.n > 0 });
  for (const r of recs(4)) await log.append(r);
  fs.damage(`/d/${LOG_FILE_NAME}`, FILE_HEADER_BYTES + 2 * FRAME_HEADER_BYTES + 20, 1);
  t.ok((await readLog<Rec>("/d", fs)).corruption !== undefined, "the file on disk is damaged");
  await log.compact();
  await log.close();
  t.same((await readLog<Rec>("/d", fs)).records, recs(4).slice(1), "after compaction it holds every record retain keeps");
});

t.test("log - a compaction that would drop nothing leaves the file as it is; appends after it, and the compactions they start, lose nothing", async (t) => {
  const fs = new MemoryFs();
  const { log } = await StableLog.open<Rec>("/d", { fs, retain: () => true, compactMinBytes: 0 });
  for (const r of recs(3)) await log.append(r);
  const before = fs.bytes(`/d/${LOG_FILE_NAME}`);
  await log.compact();
  t.same(fs.bytes(`/d/${LOG_FILE_NAME}`), before, "not written again (a rewrite would have a new salt)");
  t.equal(log.stats.compactions, 0, "and not counted as a compaction");
  const bytes = log.stats.bytes;
  // With compactMinBytes 0, a compaction is due whenever the file is twice its baseline.
  while (log.stats.bytes < 2 * bytes) await log.append({ txId: "more", n: 0 });
  await log.close();
  t.equal((await readLog<Rec>("/d", fs)).records.length, log.stats.appends, "every record is still there");
});

t.test("log - compaction leaves the array snapshot returns as it was", async (t) => {
  const fs = new MemoryFs();
  const summary: Rec[] = [{ txId: "summary", n: 0 }];
  const { log } = await StableLog.open<Rec>("/d", { fs, retain: (r) => r.n === 2, snapshot: () => summary });
  for (const r of recs(3)) await log.append(r);
  await log.compact();
  await log.append({ txId: "tx-9", n: 9 });
  await log.compact();
  t.same(summary, [{ txId: "summary", n: 0 }], "the snapshot's own array is not added to");
  await log.close();
  t.same((await readLog<Rec>("/d", fs)).records, [{ txId: "summary", n: 0 }, { txId: "tx-2", n: 2 }]);
});

t.test("log - a binary field read at open is a copy, not a view that keeps the file's bytes alive", async (t) => {
  const fs = new MemoryFs();
  const first = await StableLog.open<{ txId: string; b: Buffer }>("/d", { fs, retain: () => true });
  for (let i = 0; i < 3; i++) await first.log.append({ txId: `tx-${i}`, b: Buffer.alloc(1000, i) });
  await first.log.close();
  const { log, records } = await StableLog.open<{ txId: string; b: Uint8Array }>("/d", { fs, retain: () => true });
  t.same(records.map((r) => [r.b.length, r.b[0]]), [[1000, 0], [1000, 1], [1000, 2]]);
  t.ok(records.every((r) => r.b.buffer.byteLength === r.b.length), "each has its own memory");
  await log.close();
});
