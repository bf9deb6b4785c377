// A short torture run: the bank under load, a random process SIGKILLed and restarted each
// round, then stopped and audited. Any violation fails it.
import t from "tap";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

// Five processes restarting: minutes when the machine is busy, ~30 s when it is not.
t.setTimeout(300_000);

const TORTURE = fileURLToPath(new URL("../packages/examples/dist/torture.js", import.meta.url));

function torture(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TORTURE, ...args], { timeout: 280_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

t.test("torture - three rounds of SIGKILL and restart lose no acknowledged transfer and leave nothing in doubt", async (t) => {
  const { code, stdout, stderr } = await torture(["--rounds", "3", "--seed", "7", "--concurrency", "4"]);
  if (!stdout.startsWith("{")) t.fail(`no summary; exit code ${code}, stderr: ${stderr}`);
  if (!stdout.startsWith("{")) return;
  const summary = JSON.parse(stdout) as { rounds: number; kills: number; committed: number; aborted: number; inDoubt: number; violations: string[]; seed: number };
  t.same(summary.violations, [], stderr);
  t.equal(code, 0);
  t.match(summary, { rounds: 3, kills: 3, inDoubt: 0, seed: 7 });
  t.ok(summary.committed > 0, `${summary.committed} transfers committed`);
  t.ok(summary.aborted > 0, `${summary.aborted} aborted`);
});

t.test("torture - a bad flag is named, with exit code 2", async (t) => {
  const { code, stderr } = await torture(["--rounds", "many"]);
  t.equal(code, 2);
  t.match(stderr, /Expected --rounds to be an integer from 0 and up, got `many`\nusage: torture\.js --rounds N/);
});
