// Every example that forks: killed with SIGKILL mid-run, it leaves no process behind (each
// forked process watches its IPC channel and exits when the parent is gone).
import t from "tap";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// Each example starts several processes, which takes seconds when the machine is busy.
t.setTimeout(300_000);

const dist = (name: string): string => fileURLToPath(new URL(`../packages/examples/dist/${name}.js`, import.meta.url));

/** The pids whose parent is `pid` (Linux /proc), zombies left out. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(ppid) === pid && state !== "Z") out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const forking = [
  { name: "demo", children: 1 },
  { name: "redo", children: 1 },
  { name: "file-server", children: 1 },
  { name: "pipeline", children: 2 },
  { name: "bank", children: 3 },
];
for (const { name, children } of forking) {
  t.test(`${name}: killing the parent with SIGKILL ends the processes it forked`, { skip: !existsSync("/proc/self/stat") && "needs Linux /proc" }, async (t) => {
    // What the killed example leaves in its temporary directory goes with the test's.
    const tmp = mkdtempSync(join(tmpdir(), "examples-parent-"));
    t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
    const parent = spawn(process.execPath, [dist(name)], { stdio: "ignore", env: { ...process.env, TMPDIR: tmp } });
    let pids: number[] = [];
    const until = Date.now() + 30_000;
    while ((pids = childrenOf(parent.pid!)).length < children) {
      if (Date.now() > until || parent.exitCode !== null) t.fail(`never saw ${children} children of ${name}`);
      if (Date.now() > until || parent.exitCode !== null) return;
      await sleep(10);
    }
    parent.kill("SIGKILL");
    const deadline = Date.now() + 10_000;
    while (pids.some(running) && Date.now() < deadline) await sleep(50);
    t.same(pids.filter(running), [], `children ${pids.join(", ")} are gone`);
    for (const pid of pids.filter(running)) process.kill(pid, "SIGKILL");
  });
}
