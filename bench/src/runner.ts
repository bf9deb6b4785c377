import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import type { Better, Entry, Measurement, RunContext } from "./entry.js";
import type { RoleSpec } from "./ipc.js";
import { ProcessGroup } from "./proc.js";
import type { RunningService, Service } from "./service.js";
import { spread, type Spread } from "./stats.js";

/** An entry that has not finished after this long fails, and its role processes are killed. */
export const ENTRY_TIMEOUT_MS = 180_000;

/** A peer entry's comparison with the zmbox entry it matches (`Entry.peerOf`). */
export interface Versus {
  /** The zmbox entry. */
  readonly entry: string;
  /** Its median over the rounds. */
  readonly entryValue: number | null;
  /** `zmbox value / peer value` of each round: its median, rounded to 3 decimals. */
  readonly ratio: number | null;
  /** The same ratios: median, min, max and each round's. */
  readonly ratioSpread: Spread | null;
}

/** One element of the report's `results` (the `--json` output). */
export interface Result {
  readonly name: string;
  /** The median over the rounds that measured it; `null` when none did (see `error`, `skipped`). */
  readonly value: number | null;
  readonly unit: string;
  /** How many rounds were run (each entry runs once in every round). */
  readonly rounds: number;
  /** `value` over the rounds: median, min, max and each round's (null where a round failed). */
  readonly spread: Spread | null;
  /** A latency entry's p99 over the rounds (`value` is then its p50). */
  readonly p99?: Spread;
  /** A latency entry's p99.9 over the rounds. */
  readonly p999?: Spread;
  /** The baseline's name (or a derived baseline's label); `null` for a baseline itself. */
  readonly baseline: string | null;
  /** The baseline's median over the rounds. */
  readonly baselineValue: number | null;
  /**
   * The median of the per-round ratios `value / baselineValue` (each round's value over the
   * baseline measured in that round), rounded to 3 decimals; read it with `better`.
   */
  readonly ratio: number | null;
  /** The per-round ratios: median, min, max and each round's. */
  readonly ratioSpread: Spread | null;
  readonly better: Better;
  /** For a peer entry: how the zmbox entry it matches compares with it. */
  readonly versus?: Versus;
  /** The `extra` of the round whose value is nearest the median. */
  readonly extra?: Readonly<Record<string, unknown>>;
  /** Why the entry failed, in the first round it failed (the other rounds may have measured it). */
  readonly error?: string;
  /** Why the entry did not run at all (a server it needs is not installed). */
  readonly skipped?: string;
}

/** How {@link runEntries} runs. */
export interface RunOptions {
  /** Names or name prefixes to run (with the baselines they need); all entries if absent. */
  readonly only?: readonly string[] | undefined;
  readonly quick: boolean;
  /** How many times every entry runs, alternating the order (default 1). */
  readonly rounds?: number;
  /** Receives progress lines (the CLI sends them to stderr). */
  readonly log: (line: string) => void;
}

/** The entries an entry needs measured in the same round: its baseline's, and for a peer its zmbox entry. */
function dependencies(entry: Entry): readonly string[] {
  const deps: string[] = [];
  if (typeof entry.baseline === "string") deps.push(entry.baseline);
  else if (entry.baseline !== undefined) deps.push(...entry.baseline.from);
  if (entry.peerOf !== undefined) deps.push(entry.peerOf);
  return deps;
}

/**
 * The entries to run, in order: those `only` selects (all if absent), each preceded by the
 * baselines it needs (and a peer entry by the zmbox entry it matches), which run even if `only`
 * left them out; each entry at most once. Throws on a filter that matches nothing, a duplicate
 * name or an unknown baseline.
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

/** The baseline's value for `entry` in one round, from what that round measured. */
function baselineValueOf(entry: Entry, measured: ReadonlyMap<string, Measurement>): number | null {
  const { baseline } = entry;
  if (baseline === undefined) return null;
  if (typeof baseline === "string") return measured.get(baseline)?.value ?? null;
  const get = (name: string): Measurement => {
    const m = measured.get(name);
    if (m === undefined) throw new Error(`${name} was not measured`);
    return m;
  };
  try {
    const value = baseline.value(get);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

const label = (entry: Entry): string | null =>
  entry.baseline === undefined ? null : typeof entry.baseline === "string" ? entry.baseline : entry.baseline.label;

/** Runs one entry with its own role processes and temp dirs, all gone when it returns. */
async function measure(entry: Entry, opts: RunOptions, services: ReadonlyMap<string, RunningService<unknown>>): Promise<Measurement> {
  const group = new ProcessGroup();
  const dirs: string[] = [];
  const ctx: RunContext = {
    quick: opts.quick,
    log: (message) => opts.log(`${entry.name}: ${message}`),
    fork: <R extends RoleSpec>(role: string, args: R["args"]) => group.fork<R>(role, args),
    tempDir: async () => {
      const dir = await tempDir("zmbox-bench-");
      dirs.push(dir);
      return dir;
    },
    service: <I>(service: Service<I>): I => {
      const running = services.get(service.name);
      if (running === undefined) throw new Error(`${service.name} is not running: list it in the entry's services`);
      return running.info as I;
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

/** A fresh directory under `$BENCH_LOG_DIR` (default the OS temp dir). */
function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(process.env["BENCH_LOG_DIR"] ?? os.tmpdir(), prefix));
}

/** The servers the planned entries need, started once; those that cannot run say why. */
class Services {
  readonly running = new Map<string, RunningService<unknown>>();
  /** Service name to why its entries are skipped or fail. */
  readonly unavailable = new Map<string, { skipped?: string; error?: string }>();
  readonly #dirs: string[] = [];

  async start(order: readonly Entry[], log: (line: string) => void): Promise<void> {
    const needed = new Map<string, Service<unknown>>();
    for (const e of order) for (const s of e.services ?? []) needed.set(s.name, s);
    for (const service of needed.values()) {
      const missing = service.missing();
      if (missing !== undefined) {
        log(`${service.name}: skipped: ${missing}`);
        this.unavailable.set(service.name, { skipped: missing });
        continue;
      }
      const t0 = performance.now();
      try {
        const dir = await tempDir(`zmbox-bench-${service.name}-`);
        this.#dirs.push(dir);
        this.running.set(service.name, await service.start(dir, (line) => log(`${service.name}: ${line}`)));
        log(`${service.name}: started in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } catch (err) {
        const message = `${service.name} failed to start: ${(err as Error).message}`;
        log(message);
        this.unavailable.set(service.name, { error: message });
      }
    }
  }

  /** Why `entry` cannot run, if a server it needs is not running. */
  blocked(entry: Entry): { skipped?: string; error?: string } | undefined {
    for (const s of entry.services ?? []) {
      const why = this.unavailable.get(s.name);
      if (why !== undefined) return why;
    }
    return undefined;
  }

  async stop(log: (line: string) => void): Promise<void> {
    for (const [name, s] of this.running) {
      await s.stop().catch((err: Error) => log(`${name}: stopping failed: ${err.message}`));
      log(`${name}: stopped`);
    }
    this.running.clear();
    await Promise.all(this.#dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * Runs the entries {@link plan} picks in `rounds` rounds (default 1): every entry once a round,
 * the order reversed every other round, so that an entry and its baseline take turns at going
 * first and a load that comes and goes weighs on both. Each round's ratio is computed from the
 * baseline measured in that round; the result gives the median and range of the values and of
 * the ratios. An entry that fails gets an `error` (and `value: null` if no round measured it);
 * the others still run. Servers that entries need are started before the first round and
 * stopped after the last; the entries of one that is not installed are `skipped`.
 */
export async function runEntries(entries: readonly Entry[], opts: RunOptions): Promise<Result[]> {
  const rounds = opts.rounds ?? 1;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`Expected \`rounds\` to be an integer from 1 up, got \`${rounds}\``);
  const order = plan(entries, opts.only);
  const services = new Services();
  const measured: Map<string, Measurement>[] = [];
  const errors = new Map<string, string>();
  try {
    await services.start(order, opts.log);
    for (let r = 0; r < rounds; r++) {
      const inRound = new Map<string, Measurement>();
      measured.push(inRound);
      const sequence = r % 2 === 0 ? order : [...order].reverse();
      for (const entry of sequence) {
        if (services.blocked(entry) !== undefined) continue;
        const tag = rounds > 1 ? ` (round ${r + 1}/${rounds})` : "";
        opts.log(`${entry.name}: running${tag}`);
        const t0 = performance.now();
        try {
          const m = await measure(entry, opts, services.running);
          inRound.set(entry.name, m);
          const secs = ((performance.now() - t0) / 1000).toFixed(1);
          opts.log(`${entry.name}: ${m.value} ${entry.unit}${m.p99 === undefined ? "" : `, p99 ${m.p99}`} (${secs} s)${tag}`);
        } catch (err) {
          const e = err instanceof Error ? err : new Error(String(err));
          const secs = ((performance.now() - t0) / 1000).toFixed(1);
          opts.log(`${entry.name}: FAILED after ${secs} s${tag}: ${e.stack ?? e.message}`);
          if (!errors.has(entry.name)) errors.set(entry.name, rounds > 1 ? `round ${r + 1}: ${e.message}` : e.message);
        }
      }
    }
  } finally {
    await services.stop(opts.log);
  }
  return order.map((entry) => summarize(entry, measured, errors.get(entry.name), services.blocked(entry)));
}

/** One entry's result from every round's measurements. */
function summarize(
  entry: Entry,
  measured: readonly ReadonlyMap<string, Measurement>[],
  error: string | undefined,
  blocked: { skipped?: string; error?: string } | undefined,
): Result {
  const { name, unit, better } = entry;
  const mine = measured.map((round) => round.get(name));
  const values = mine.map((m) => m?.value ?? null);
  const valueSpread = spread(values);
  const percentile = (key: "p99" | "p999"): Spread | undefined =>
    spread(mine.map((m) => m?.[key] ?? null)) ?? undefined;
  const baselineSpread = spread(measured.map((round) => baselineValueOf(entry, round)));
  const ratioSpread = spread(
    measured.map((round, r) => {
      const v = values[r];
      const b = baselineValueOf(entry, round);
      return v === null || v === undefined || !b ? null : round3(v / b);
    }),
  );
  // The extra of the round nearest the median: one real run, not a mix of several.
  let extra: Readonly<Record<string, unknown>> | undefined;
  if (valueSpread !== null) {
    let best = Infinity;
    for (const m of mine) {
      if (m !== undefined && Math.abs(m.value - valueSpread.median) < best) {
        best = Math.abs(m.value - valueSpread.median);
        extra = m.extra;
      }
    }
  }
  let versus: Versus | undefined;
  if (entry.peerOf !== undefined) {
    const ours = measured.map((round) => round.get(entry.peerOf!)?.value ?? null);
    const ratios = spread(ours.map((v, r) => (v === null || !values[r] ? null : round3(v / values[r]!))));
    versus = {
      entry: entry.peerOf,
      entryValue: spread(ours)?.median ?? null,
      ratio: ratios === null ? null : round3(ratios.median),
      ratioSpread: ratios,
    };
  }
  const p99 = percentile("p99");
  const p999 = percentile("p999");
  // The peers' scripts report their tail as `extra.p99Us` / `extra.p99Ms`: the same key here
  // (the median p99 over the rounds) lets one tool read both.
  if (p99 !== undefined && (unit === "us" || unit === "ms")) {
    extra = { ...extra, [unit === "us" ? "p99Us" : "p99Ms"]: p99.median };
  }
  const why = error ?? blocked?.error;
  return {
    name,
    value: valueSpread?.median ?? null,
    unit,
    rounds: measured.length,
    spread: valueSpread,
    ...(p99 && { p99 }),
    ...(p999 && { p999 }),
    baseline: label(entry),
    baselineValue: baselineSpread?.median ?? null,
    ratio: ratioSpread === null ? null : round3(ratioSpread.median),
    ratioSpread,
    better,
    ...(versus && { versus }),
    ...(extra && { extra }),
    ...(why !== undefined && { error: why }),
    ...(blocked?.skipped !== undefined && { skipped: blocked.skipped }),
  };
}
