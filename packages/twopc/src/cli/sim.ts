#!/usr/bin/env node
/**
 * `node packages/twopc/dist/cli/sim.js --seeds N --seed S [--mutation M] [--corruption P [--salvage]]` (or `pnpm sim ...`):
 * simulates seeds S .. S+N-1 and prints one summary line. On the first failing seed it prints
 * the violation and the seed's full trace, and exits 1. Exit 2 on bad arguments.
 * With `--seeds 1 --picture PREFIX` it also draws the seed's run into PREFIX.svg and PREFIX.mmd.
 */
import { writeFileSync } from "node:fs";
import type { TraceEvent } from "../trace/events.js";
import { renderMermaid } from "../trace/mermaid.js";
import { renderSvg } from "../trace/svg.js";
import { parseArgs } from "node:util";
import { Mutation } from "../sim/mutation.js";
import { simulateSeed, type SimStats } from "../sim/simulator.js";

const usage =
  "usage: sim [--seeds N (default 1000)] [--seed S (default 1)] [--mutation " +
  Object.values(Mutation).join("|") +
  "] [--corruption P (chance, 0 to 1, that a crash also damages a byte of the node's durable log; default 0)] [--salvage (participants cut a corrupt log instead of refusing; what it may have promised is held in doubt)] [--picture PREFIX (with --seeds 1)]";

function fail(message: string): never {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}

function count(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) fail(`Expected \`--${name}\` to be an integer from ${min} and up, got \`${value}\``);
  return n;
}

let parsed;
try {
  parsed = parseArgs({
    options: { seeds: { type: "string" }, seed: { type: "string" }, mutation: { type: "string" }, corruption: { type: "string" }, salvage: { type: "boolean" }, picture: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
const { values } = parsed;
if (values.help === true) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const seeds = count("seeds", values.seeds, 1000, 1);
const first = count("seed", values.seed, 1, 0);
const mutation = values.mutation;
if (mutation !== undefined && !(Object.values(Mutation) as string[]).includes(mutation)) fail(`Unknown \`--mutation\` \`${mutation}\``);
const corruption = values.corruption === undefined ? 0 : Number(values.corruption);
if (!(corruption >= 0 && corruption <= 1)) fail(`Expected \`--corruption\` to be a number from 0 to 1, got \`${values.corruption}\``);
const picture = values.picture;
if (picture !== undefined && (picture === "" || seeds !== 1)) fail(`Expected \`--picture\` to be a file prefix, with \`--seeds 1\`, got \`${picture}\` with ${seeds} seeds`);
const events: TraceEvent[] = [];
const options = {
  ...(mutation === undefined ? {} : { mutation: mutation as Mutation }),
  ...(corruption > 0 ? { corruption } : {}),
  ...(values.salvage === true ? { salvage: "participants" as const } : {}),
  ...(picture === undefined ? {} : { onTrace: (e: TraceEvent) => void events.push(e) }),
};

const total: SimStats = { transactions: 0, committed: 0, aborted: 0, crashes: 0, messages: 0, dropped: 0, duplicated: 0, steps: 0, compactions: 0, rmFailures: 0, corruptions: 0, refusedCorrupt: 0, salvages: 0, heldInDoubt: 0 };
const started = performance.now();
let passed = 0;
let failedSeed: number | undefined;
for (let seed = first; seed < first + seeds; seed++) {
  const result = await simulateSeed(seed, options);
  for (const key of Object.keys(total) as Array<keyof SimStats>) total[key] += result.stats[key];
  if (!result.ok) {
    failedSeed = seed;
    break;
  }
  passed++;
}
const seconds = (performance.now() - started) / 1000;
const ran = passed + (failedSeed === undefined ? 0 : 1);
process.stdout.write(
  `sim${mutation === undefined ? "" : ` (mutation ${mutation})`}: seeds ${first}..${first + ran - 1}: ${passed} passed, ${ran - passed} failed in ${seconds.toFixed(1)}s (${Math.round(ran / seconds)} seeds/s); ` +
    `${total.transactions} transactions (${total.committed} committed, ${total.aborted} aborted), ${total.crashes} crashes, ` +
    `${total.messages} messages (${total.dropped} lost, ${total.duplicated} duplicated), ${total.rmFailures} resource-manager failures retried, ${total.compactions} compactions, ${total.steps} steps` +
    (corruption > 0 ? `; ${total.corruptions} log bytes damaged, ${total.refusedCorrupt} restarts refused for a corrupt log` : "") +
    (values.salvage === true ? `; ${total.salvages} logs salvaged, ${total.heldInDoubt} transactions held in doubt` : "") +
    "\n",
);
if (picture !== undefined) {
  writeFileSync(`${picture}.svg`, renderSvg(events));
  writeFileSync(`${picture}.mmd`, renderMermaid(events));
  process.stdout.write(`drew seed ${first}: ${picture}.svg, ${picture}.mmd\n`);
}
if (failedSeed !== undefined) {
  const replay = await simulateSeed(failedSeed, { ...options, trace: true });
  process.stdout.write(`\nFAILED seed ${failedSeed}: ${replay.violation ?? "(did not fail again: nondeterminism!)"}\n\ntrace:\n${replay.trace.join("\n")}\n`);
  process.stdout.write(`\nreplay: node packages/twopc/dist/cli/sim.js --seeds 1 --seed ${failedSeed}${mutation === undefined ? "" : ` --mutation ${mutation}`}${corruption > 0 ? ` --corruption ${corruption}` : ""}${values.salvage === true ? " --salvage" : ""}\n`);
  process.exitCode = 1;
}
