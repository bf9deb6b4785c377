/**
 * `pnpm demo` (redo): a worker killed mid-job, and its job done again by another.
 *
 * The parent owns a `jobs` mailbox and forks worker 1, which takes a job with `ack: "manual"`:
 * the job stays in the mailbox, leased to the worker, until the worker acks it. The parent
 * kills worker 1 with SIGKILL in the middle of the job. Its owner hears nothing from it for
 * `receiverTimeout` (1 s here), takes the lease back, and worker 2 gets the same job (same id,
 * attempt 2), finishes it and acks it. Nothing is lost; the job is done once to the end.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Runtime } from "@zmbox/mailbox";
import { exitWithParent } from "./parent.js";

type Report = { started: string; id: string; attempt: number } | { finished: string; id: string; attempt: number };

const role = process.argv[2] ?? "owner";

if (role === "worker") {
  exitWithParent();
  const [jobs, jobMs] = process.argv.slice(3) as [string, string];
  const rt = await Runtime.start({ probeInterval: 200 });
  for await (const d of rt.deliveries(jobs, { lease: 60_000 })) {
    const job = d.value as string;
    process.send!({ started: job, id: d.id, attempt: d.attempt } satisfies Report);
    await new Promise((r) => setTimeout(r, Number(jobMs))); // the work
    d.ack(); // only now does the job leave the mailbox
    process.send!({ finished: job, id: d.id, attempt: d.attempt } satisfies Report);
  }
} else {
  // The owner takes back the leases of a worker it has not heard from for 1 s.
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0", receiverTimeout: 1000 });
  const jobs = rt.mailbox("jobs", { capacity: 4 });
  await rt.send("resize photo 17", jobs);
  const worker = (n: number, jobMs: number): ChildProcess => {
    const child = fork(fileURLToPath(import.meta.url), ["worker", jobs.address, String(jobMs)], { stdio: "inherit" });
    child.on("message", (m: Report) => {
      if ("started" in m) console.log(`worker ${n}: started "${m.started}" (id ${m.id}, attempt ${m.attempt})`);
      else console.log(`worker ${n}: finished "${m.finished}" and acked it (attempt ${m.attempt})`);
    });
    return child;
  };
  const nextReport = (child: ChildProcess): Promise<Report> => new Promise((resolve) => child.once("message", resolve));

  const w1 = worker(1, 60_000);
  await nextReport(w1);
  console.log(`redo: jobs holds ${jobs.depth} (the job is leased, not gone); killing worker 1 mid-job`);
  w1.kill("SIGKILL");
  await new Promise((r) => w1.once("exit", r));

  const w2 = worker(2, 100);
  const started = await nextReport(w2);
  await nextReport(w2);
  // The ack travels to the owner beside the report: wait for it to land.
  for (let i = 0; i < 200 && jobs.depth > 0; i++) await new Promise((r) => setTimeout(r, 10));
  const s = rt.stats().mailboxes.jobs!;
  console.log(`redo: the job came again as attempt ${started.attempt}; jobs holds ${jobs.depth}, redelivered ${s.redelivered}`);
  w2.kill();
  await new Promise((r) => w2.once("exit", r));
  await rt.close();
  console.log("redo done");
}
