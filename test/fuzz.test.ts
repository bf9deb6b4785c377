// A short `pnpm fuzz` (the full one is 100,000 frames and 1,000 idle connections): random and
// mutated frames from several peers at once against a live runtime, and against a coordinator
// and two participants while transactions run. Runs the compiled command (`pnpm test` builds it).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import t from "tap";

const root = fileURLToPath(new URL("..", import.meta.url));

t.test("fuzz - hostile frames change no good message and no transaction's outcome", async (t) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["bench/dist/fuzz.js", "--frames", "5000", "--peers", "4", "--idle", "200", "--transactions", "20"],
    { cwd: root, timeout: 240_000 },
  );
  const report = JSON.parse(stdout) as {
    ok: boolean;
    failures: string[];
    mailbox: { frames: number; goodMessages: number; refused: Record<string, number> };
    twopc: { frames: number; transactions: number; committed: number };
  };
  t.same(report.failures, [], "every check held");
  t.equal(report.ok, true);
  t.equal(report.mailbox.frames, 5000, "every frame was sent");
  t.ok(report.mailbox.goodMessages > 0, `the good sender's messages got through (${report.mailbox.goodMessages})`);
  const refused = Object.values(report.mailbox.refused).reduce((a, b) => a + b, 0);
  t.ok(refused > 1000, `bad frames were refused and counted (${refused})`);
  t.equal(report.twopc.transactions, 20);
  t.ok(report.twopc.committed >= 1, "transactions committed under the attack");
});

t.test("fuzz - rejects a bad --frames with exit code 2", async (t) => {
  const failed = await promisify(execFile)(process.execPath, ["bench/dist/fuzz.js", "--frames", "1.5"], { cwd: root, timeout: 30_000 }).then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  );
  t.equal(failed?.code, 2);
  t.match(failed?.stderr, /Expected `--frames` to be an integer from 0 up, got `1.5`/);
});

t.test("fuzz - an unknown flag gets the usage and exit code 2, not a stack trace", async (t) => {
  const failed = await promisify(execFile)(process.execPath, ["bench/dist/fuzz.js", "--frame", "10"], { cwd: root, timeout: 30_000 }).then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  );
  t.equal(failed?.code, 2);
  t.match(failed?.stderr, /Unknown option '--frame'/);
  t.match(failed?.stderr, /^usage: pnpm fuzz /m);
  t.notMatch(failed?.stderr, /at parseArgs/);
});
