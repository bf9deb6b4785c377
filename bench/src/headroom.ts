/**
 * `node bench/dist/headroom.js`: how much CPU a message the 2PC nodes may spend above raw
 * zeromq.js for a given `twopc.latency`. It runs `twopc.latency` and `twopc.floor.latency` with
 * the floor's nodes burning `--spins` microseconds of CPU (each value in turn) at every message
 * they receive and after every VOTE-REQ and vote they send, all in alternating rounds, and
 * prints each floor's p50 over `twopc.latency`'s in the same round. The spin at which the floor
 * reaches `twopc.latency` is about what the runtime costs a message now; the spin at which it
 * reaches a goal is what the runtime could cost and meet it.
 *
 * A spin is work on two busy cores that other threads wait for, as the runtime's is, but it
 * touches no memory: the runtime's work also costs cache misses, so read the crossing as an
 * estimate, not a measurement of the runtime itself.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import type { Entry } from "./entry.js";
import { floorLatency, twopcLatency } from "./entries/twopc.js";
import { formatTable } from "./report.js";
import { runEntries } from "./runner.js";

const USAGE = "usage: node bench/dist/headroom.js [--json] [--quick] [--rounds N] [--spins 0,15,30,45]";

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<number> {
  let values;
  try {
    values = parseArgs({
      options: {
        json: { type: "boolean", default: false },
        quick: { type: "boolean", default: false },
        rounds: { type: "string", default: "3" },
        spins: { type: "string", default: "0,15,30,45" },
      },
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) fail(`Expected \`--rounds\` to be an integer from 1 up, got \`${values.rounds}\``);
  const spins = values.spins.split(",").map((s) => s.trim());
  const bad = spins.find((s) => !/^\d+$/.test(s) || Number(s) > 10_000);
  if (bad !== undefined || new Set(spins.map(Number)).size !== spins.length) {
    fail(`Expected \`--spins\` to be distinct whole numbers of microseconds from 0 to 10000, comma-separated, got \`${values.spins}\``);
  }
  // twopc.latency without its derived baseline (it would add fs.fdatasync and the raw round trip).
  const { baseline: _derived, ...zmbox } = twopcLatency;
  const entries: Entry[] = [zmbox, ...spins.map((s): Entry => ({ ...floorLatency(Number(s)), baseline: "twopc.latency" }))];
  const results = await runEntries(entries, { quick: values.quick, rounds, log: (line) => process.stderr.write(`[headroom] ${line}\n`) });
  if (values.json) console.log(JSON.stringify({ spinsUs: spins.map(Number), results }));
  else console.log(formatTable(results));
  return results.some((r) => r.error !== undefined) ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
