import t from "tap";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { formatInspection, inspectLog } from "../src/cli/inspect.js";
import { FILE_HEADER_BYTES, FRAME_HEADER_BYTES, LOG_FILE_NAME, StableLog, readLog } from "@zmbox/log";
import type { TwopcRecord } from "../src/protocol/records.js";

async function writeLog(dir: string, records: TwopcRecord[]): Promise<void> {
  const { log } = await StableLog.open<TwopcRecord>(dir);
  for (const r of records) await log.append(r);
  await log.close();
}

t.test("inspect - participant log: in-doubt READY transactions are listed first", async (t) => {
  const dir = t.testdir();
  await writeLog(dir, [
    { type: "WORKER-READY", txId: "done", coordinator: "c", participants: ["w1", "w2"] },
    { type: "WORKER-COMMIT", txId: "done" },
    { type: "WORKER-END", txId: "done" },
    { type: "WORKER-READY", txId: "stuck", coordinator: "c", participants: ["w1", "w2"] },
    { type: "WORKER-ABORT", txId: "rolling-back" },
  ]);
  // A torn write: bytes where the next frame would have gone (the file holds preallocated zeros after them).
  const { validBytes } = await readLog(dir);
  const file = await open(join(dir, LOG_FILE_NAME), "r+");
  await file.write(Buffer.from([1, 2, 3]), 0, 3, validBytes);
  await file.close();
  const report = await inspectLog(dir);
  t.same(
    report.inDoubt.map((w) => w.txId),
    ["stuck"],
  );
  t.same(
    report.applying.map((w) => [w.txId, w.phase]),
    [["rolling-back", "ABORT"]],
  );
  t.equal(report.ended, 1);
  t.equal(report.fileBytes - report.validBytes, 3, "the torn tail is reported, not cut");
  const text = formatInspection(report);
  t.match(text, /3 bytes of torn tail/);
  t.notMatch(text, /CORRUPT/);
  t.ok(text.indexOf("IN DOUBT") < text.indexOf("PARTICIPANT DECIDED"), "in-doubt section comes first");
  t.match(text, /stuck {2}coordinator=c {2}participants=w1,w2/);
});

t.test("inspect - coordinator log: COMMIT awaiting ACKs and WAIT", async (t) => {
  const dir = t.testdir();
  await writeLog(dir, [
    { type: "COORD-START", txId: "t1", participants: ["w1", "w2"] },
    { type: "COORD-COMMIT", txId: "t1", participants: ["w1", "w2"] },
    { type: "COORD-START", txId: "t2", participants: ["w1"] },
    { type: "COORD-START", txId: "t3", participants: ["w2"] },
    { type: "COORD-ABORT", txId: "t3" },
  ]);
  const report = await inspectLog(dir);
  t.same(
    report.committing.map((c) => c.ackers),
    [["w1", "w2"]],
  );
  t.same(
    report.waiting.map((c) => c.txId),
    ["t2"],
  );
  t.equal(report.ended, 1);
  t.match(formatInspection(report), /t1 {2}must ack=w1,w2/);
});

t.test("inspect - a missing log is empty, an inconsistent one is an error", async (t) => {
  const empty = await inspectLog(t.testdir());
  t.equal(empty.records, 0);
  const dir = t.testdir();
  await writeLog(dir, [{ type: "WORKER-COMMIT", txId: "x" }]);
  await t.rejects(inspectLog(dir), { code: "ERR_INVALID_LOG" });
});

t.test("inspect - a corrupt log shows where, why and what a salvage would lose; twopc-inspect exits 1", async (t) => {
  const dir = t.testdir();
  await writeLog(dir, [
    { type: "WORKER-READY", txId: "promised", coordinator: "c", participants: ["w1", "w2"] },
    { type: "WORKER-READY", txId: "later", coordinator: "c", participants: ["w1", "w2"] },
  ]);
  const { readFile, writeFile } = await import("node:fs/promises");
  const path = join(dir, LOG_FILE_NAME);
  const data = await readFile(path);
  data[FILE_HEADER_BYTES + FRAME_HEADER_BYTES + 3]! ^= 0x01; // one bit inside the first record
  await writeFile(path, data);
  const report = await inspectLog(dir);
  t.match(report.corruption, { offset: FILE_HEADER_BYTES, validAfter: 1 });
  t.equal(report.records, 0, "nothing before the damage");
  const text = formatInspection(report);
  t.match(text, new RegExp(`CORRUPT at byte ${FILE_HEADER_BYTES}: a bad record is followed by 1 valid record`));
  t.match(text, /refuses to open/);
  t.match(text, /salvage: true/);
  const { spawnSync } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const cli = fileURLToPath(new URL("../dist/cli/twopc-inspect.js", import.meta.url));
  const run = spawnSync(process.execPath, [cli, dir], { encoding: "utf8" });
  t.equal(run.status, 1, "non-zero: a supervisor's script sees it");
  t.match(run.stdout, /CORRUPT at byte/);
});

t.test("twopc-inspect: a path that is not a log directory is a clear error", async (t) => {
  const { execFileSync } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const cli = fileURLToPath(new URL("../dist/cli/twopc-inspect.js", import.meta.url));
  const run = (args: string[]): { status: number; stderr: string } => {
    try {
      execFileSync(process.execPath, [cli, ...args], { stdio: "pipe" });
      return { status: 0, stderr: "" };
    } catch (e) {
      const err = e as { status: number; stderr: Buffer };
      return { status: err.status, stderr: err.stderr.toString() };
    }
  };
  t.match(run(["/nonexistent-zmbox"]), { status: 1, stderr: /not a directory/ });
  t.match(run([]), { status: 2, stderr: /usage/ });
});
