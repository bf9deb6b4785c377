import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import type { Better, Entry, Measurement, RunContext } from "./entry.js";
import type { RoleSpec } from "./ipc.js";
import { ProcessGroup } from "./proc.js";

/** An entry that has not finished after this long fails, and its role processes are killed. */
export const ENTRY_TIMEOUT_MS = 180_000;

/** One element of the report's `results` (the `--json` output). */
export interface Result {
  readonly name: string;
  /** `null` when the entry failed; see `error`. */
  readonly value: number | null;
  readonly unit: string;
  /** The baseline's name (or a derived baseline's label); `null` for a baseline itself. */
  readonly baseline: string | null;
  readonly baselineValue: number | null;
  /** `value / baselineValue`, rounded to 3 decimals; read it with `better`. */
  readonly ratio: number | null;
  readonly better: Better;
  readonly extra?: Readonly<Record<string, unknown>>;
  readonly error?: string;
}

/** How {@link runEntries} runs. */
export interface RunOptions {
  /** Names or name prefixes to run (with the baselines they need); all entries if absent. */
  readonly only?: readonly string[] | undefined;
  readonly quick: boolean;
  /** Receives progress lines (the CLI sends them to stderr). */
  readonly log: (line: string) => void;
}

/** The entries a baseline-carrying entry needs measured before it. */
function dependencies(entry: Entry): readonly string[] {
  if (entry.baseline === undefined) return [];
  return typeof entry.baseline === "string" ? [entry.baseline] : entry.baseline.from;
}

/**
 * The entries to run, in order: those `only` selects (all if absent), each preceded by the
 * baselines it needs, which run even if `only` left them out; each entry at most once.
 * Throws on a filter that matches nothing, a duplicate name or an unknown baseline.
 */
export function plan(entries: readonly Entry[], only?: readonly string[]): Entry[] {
  const byName = new Map<string, Entry>();
  for (const e of entries) {
    if (byName.has(e.name)) throw new Error(`two entries are named ${e.name}`);
    byName.set(e.name, e);
  }
  for (const prefix of only ?? []) {
    if (!entries.some((e) => e.name.startsWith(prefix))) {
      throw new Error(`--only ${prefix}: no such entry (entries: ${[...byName.keys()].join(", ")})`);
    }
  }
  const wanted = only === undefined ? entries : entries.filter((e) => only.some((p) => e.name.startsWith(p)));
  const order: Entry[] = [];
  const seen = new Set<string>();
  const visit = (entry: Entry): void => {
    if (seen.has(entry.name)) return;
    seen.add(entry.name);
    for (const name of dependencies(entry)) {
      const dep = byName.get(name);
      if (dep === undefined) throw new Error(`${entry.name}: unknown baseline ${name}`);
      visit(dep);
    }
    order.push(entry);
  };
  wanted.forEach(visit);
  return order;
}

/** The baseline's label and value for `entry`, from what this invocation has measured. */
function baselineOf(
  entry: Entry,
  measured: ReadonlyMap<string, Measurement>,
): [string | null, number | null] {
  const { baseline } = entry;
  if (baseline === undefined) return [null, null];
  if (typeof baseline === "string") return [baseline, measured.get(baseline)?.value ?? null];
  const get = (name: string): Measurement => {
    const m = measured.get(name);
    if (m === undefined) throw new Error(`${name} was not measured`);
    return m;
  };
  try {
    const value = baseline.value(get);
    return [baseline.label, Number.isFinite(value) ? value : null];
  } catch {
    return [baseline.label, null];
  }
}

/** Runs one entry with its own role processes and temp dirs, all gone when it returns. */
async function measure(entry: Entry, opts: RunOptions): Promise<Measurement> {
  const group = new ProcessGroup();
  const dirs: string[] = [];
  const ctx: RunContext = {
    quick: opts.quick,
    log: (message) => opts.log(`${entry.name}: ${message}`),
    fork: <R extends RoleSpec>(role: string, args: R["args"]) => group.fork<R>(role, args),
    tempDir: async () => {
      const dir = await mkdtemp(path.join(process.env["BENCH_LOG_DIR"] ?? os.tmpdir(), "zmbox-bench-"));
      dirs.push(dir);
      return dir;
    },
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    const expire = (): void => reject(new Error(`timed out after ${ENTRY_TIMEOUT_MS / 1000} s`));
    timer = setTimeout(expire, ENTRY_TIMEOUT_MS);
  });
  const running = entry.run(ctx);
  running.catch(() => {}); // after a timeout nobody awaits it any more
  try {
    const m = await Promise.race([running, timeout]);
    if (!Number.isFinite(m.value)) throw new Error(`measured a value of ${m.value}`);
    return m;
  } finally {
    clearTimeout(timer);
    await group.close();
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

/**
 * Runs the entries {@link plan} picks, one at a time, and computes each ratio from the baseline
 * measured in this same invocation. An entry that fails gets `value: null` and an `error`, and
 * the others still run.
 */
export async function runEntries(entries: readonly Entry[], opts: RunOptions): Promise<Result[]> {
  const measured = new Map<string, Measurement>();
  const results: Result[] = [];
  for (const entry of plan(entries, opts.only)) {
    opts.log(`${entry.name}: running`);
    const t0 = performance.now();
    let outcome: Measurement | Error;
    try {
      outcome = await measure(entry, opts);
      measured.set(entry.name, outcome);
    } catch (err) {
      outcome = err instanceof Error ? err : new Error(String(err));
    }
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const [baseline, baselineValue] = baselineOf(entry, measured);
    const { name, unit, better } = entry;
    if (outcome instanceof Error) {
      opts.log(`${name}: FAILED after ${secs} s: ${outcome.stack ?? outcome.message}`);
      const error = outcome.message;
      results.push({ name, value: null, unit, baseline, baselineValue, ratio: null, better, error });
      continue;
    }
    const { value, extra } = outcome;
    const ratio = baselineValue ? Math.round((value / baselineValue) * 1000) / 1000 : null;
    opts.log(`${name}: ${value} ${unit}${ratio === null ? "" : `, ratio ${ratio}`} (${secs} s)`);
    results.push({ name, value, unit, baseline, baselineValue, ratio, better, ...(extra && { extra }) });
  }
  return results;
}
