// The examples are real programs across real processes: each must run to the end, exit 0 on
// its own, and print what it promises.
import t from "tap";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const dist = (name: string): string => fileURLToPath(new URL(`../packages/examples/dist/${name}.js`, import.meta.url));

function run(name: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [dist(name)], { timeout: 60_000 }, (error, stdout) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout });
    });
  });
}

t.test("demo: a slow consumer in another process sets the producer's pace", async (t) => {
  const { code, stdout } = await run("demo");
  t.equal(code, 0);
  t.match(stdout, /until "received": a consumer in process \d+ took order 0/);
  t.match(stdout, /the mailbox never held more than [1-8] \(capacity 8\)/);
  t.match(stdout, /took 200 orders/);
});

t.test("file server: the notes' client and server in two processes", async (t) => {
  const { code, stdout } = await run("file-server");
  t.equal(code, 0);
  t.match(stdout, /client: got "Rutabaga/);
});

t.test("pipeline: three processes, bounded end to end", async (t) => {
  const { code, stdout } = await run("pipeline");
  t.equal(code, 0);
  t.match(stdout, /59 results \+ 1 dead letter = 60 messages/);
});

t.test("bank: transfers commit at both banks or at neither", async (t) => {
  const { code, stdout } = await run("bank");
  t.equal(code, 0);
  t.match(stdout, /total 400 \(was 400\)/);
  t.match(stdout, /committed/);
});
