// The examples are real programs across real processes: each must run to the end, exit 0 on
// its own, and print what it promises. They run here only (the built files, as `pnpm demo`
// runs them). examples-parent.test.ts kills them.
import t from "tap";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

// Each example starts several processes, which takes seconds when the machine is busy.
t.setTimeout(300_000);

const dist = (name: string): string => fileURLToPath(new URL(`../packages/examples/dist/${name}.js`, import.meta.url));

function run(name: string, timeout = 60_000): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [dist(name)], { timeout }, (error, stdout) => {
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

t.test("redo: a worker killed mid-job, and its job done again by another", async (t) => {
  const { code, stdout } = await run("redo");
  t.equal(code, 0);
  t.match(stdout, /worker 1: started "resize photo 17" \(id (\S+), attempt 1\)/);
  t.match(stdout, /redo: jobs holds 1 \(the job is leased, not gone\)/);
  const ids = [...stdout.matchAll(/started "resize photo 17" \(id (\S+), attempt/g)].map((m) => m[1]);
  t.equal(ids.length, 2, "started twice");
  t.equal(ids[0], ids[1], "the same job id both times");
  t.match(stdout, /worker 2: finished "resize photo 17" and acked it \(attempt 2\)/);
  t.match(stdout, /redo: the job came again as attempt 2; jobs holds 0, redelivered 1/);
});

t.test("file server: the notes' client and server in two processes", async (t) => {
  const { code, stdout } = await run("file-server");
  t.equal(code, 0);
  t.match(stdout, /client: sent "read rutabaga"/);
  t.match(stdout, /client: got "Rutabaga/);
  t.match(stdout, /RemoteError ENOENT/, "the missing file's error reached the client");
  t.match(stdout, /server exited with 0/);
});

t.test("secure: two runtimes with keys; a stranger, a restricted mailbox and a revoked key are kept out", async (t) => {
  const { code, stdout } = await run("secure");
  t.equal(code, 0);
  t.match(stdout, /a got \{"hello":"from b"\} from key .* \(b\)/);
  t.match(stdout, /b got "from a"/);
  t.match(stdout, /stranger's send: .*refused this runtime's CURVE key/);
  t.match(stdout, /b's send to audit: ERR_FORBIDDEN/);
  t.match(stdout, /after a revoked b's key, b's send: timed out/);
  t.match(stdout, /a stored 1 message\(s\) in all/);
});

t.test("pipeline: three processes, bounded end to end", async (t) => {
  const { code, stdout } = await run("pipeline");
  t.equal(code, 0);
  t.match(stdout, /main: 59 results \+ 1 dead letter = 60 messages/);
  t.match(stdout, /dead letter from stage "square": 13 failed with EUNLUCKY/);
  t.match(stdout, /stage processes exited with 0, 0/);
});

t.test("bank: the demo kills a shard in READY and it commits after its restart; a load and an audit as commands; pictures of the crash", async (t) => {
  const { readFileSync, rmSync } = await import("node:fs");
  const { dirname } = await import("node:path");
  // Three processes, one killed and restarted, then a load: about 15 s idle, 40 s on a busy machine.
  const { code, stdout } = await run("bank", 150_000);
  t.equal(code, 0);
  const killed = /demo: shard B SIGKILLed in READY: it voted commit for (\S+), and no decision exists yet/.exec(stdout);
  t.ok(killed, "shard B was killed in READY");
  const txId = killed?.[1] ?? "?";
  t.match(stdout, /demo: the transfer: \{"committed":1,"aborted":0,"failed":0/, "the coordinator committed it while B was down");
  t.match(stdout, new RegExp(`demo: shard B restarted \\(pid \\d+\\): found ${txId} in READY, asked the coordinator, committed it`));
  const drawn = /demo: pictures of \S+ \(shard B killed in READY\): (\S+\.svg) and (\S+\.mmd)/.exec(stdout);
  t.ok(drawn, "the demo says where the pictures are");
  if (drawn) {
    t.teardown(() => rmSync(dirname(drawn[1]!), { recursive: true, force: true }));
    const mermaid = readFileSync(drawn[2]!, "utf8");
    t.match(mermaid, /participant n\d as shard-B/);
    t.match(mermaid, /VOTE-COMMIT[\s\S]*CRASH[\s\S]*recovered \S+: READY[\s\S]*DECISION-REQ[\s\S]*force WORKER-COMMIT/, "the picture shows the vote, the crash, the recovery in READY, the ask and the commit");
    t.match(readFileSync(drawn[1]!, "utf8"), /^(<\?xml[^>]*>\s*)?<svg[\s\S]*shard-B[\s\S]*<\/svg>\s*$/);
  }
  t.match(stdout, /demo: load \{"committed":[1-9]\d*,"aborted":\d+,"failed":0,"abortedBy":\{[^}]*\}\} \(exit 0\)/, "some transfers committed");
  t.match(stdout, /"abortedBy":\{[^}]*"(insufficient-funds|account-busy)":[1-9]/, "an aborted transfer says why: the shard's reason reached the client");
  t.match(stdout, /vote abort \S+: insufficient-funds/, "a shard voted abort for lack of money, and said so");
  t.match(stdout, /demo: stopped \(exit codes 0, 0, 0\)/);
  t.match(stdout, /demo: audit \{"ok":true,"total":800,"expectedTotal":800,"inDoubt":\[\],"disagreements":\[\]\} \(exit 0\)/);
});
