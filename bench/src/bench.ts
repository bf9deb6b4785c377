/**
 * `pnpm bench [--json] [--quick] [--rounds N] [--peers] [--only a,b]`: runs the benchmark entries
 * in alternating rounds and prints a table, or with `--json` exactly one JSON object
 * `{"results": [...]}` on stdout. Progress goes to stderr. Exit code 1 if an entry failed, 2 on
 * bad usage.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { entries, peerEntries } from "./entries/index.js";
import { formatTable } from "./report.js";
import { runEntries } from "./runner.js";

const DEFAULT_ROUNDS = 3;

const USAGE = `usage: node bench/dist/bench.js [--json] [--quick] [--rounds N] [--peers] [--only name[,prefix...]]
  --json    print one JSON object {"results": [...]} on stdout, nothing else
  --quick   short runs, for a smoke test (numbers are not comparable)
  --rounds  run every entry N times, the order reversed every other round (default ${DEFAULT_ROUNDS})
  --peers   also measure NATS, RabbitMQ and PostgreSQL 2PC (servers: bench/peers/setup)
  --only    run the entries whose names start with one of these (and the baselines they need)
entries: ${entries.map((e) => e.name).join(", ")}
peer entries (--peers): ${peerEntries.map((e) => e.name).join(", ")}`;

/** Ends the process, and so every role process (see proc.ts), on Ctrl-C or a kill. */
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.on(signal, () => process.exit(code));
}

async function main(): Promise<number> {
  let options;
  try {
    options = parseArgs({
      options: {
        json: { type: "boolean", default: false },
        quick: { type: "boolean", default: false },
        only: { type: "string" },
        rounds: { type: "string" },
        peers: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    process.stderr.write(`${USAGE}\n`);
    return 0;
  }
  const rounds = options.rounds === undefined ? DEFAULT_ROUNDS : Number(options.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write(`Expected \`--rounds\` to be an integer from 1 up, got \`${options.rounds}\`\n${USAGE}\n`);
    return 2;
  }
  const only = options.only?.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const prefix of options.peers ? [] : (only ?? [])) {
    if (!entries.some((e) => e.name.startsWith(prefix)) && peerEntries.some((e) => e.name.startsWith(prefix))) {
      process.stderr.write(`--only ${prefix}: a peer entry; add --peers\n`);
      return 2;
    }
  }
  const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);
  let results;
  try {
    const all = options.peers ? [...entries, ...peerEntries] : entries;
    results = await runEntries(all, { only, quick: options.quick, rounds, log });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  process.stdout.write(options.json ? `${JSON.stringify({ results })}\n` : `${formatTable(results)}\n`);
  return results.some((r) => r.error !== undefined) ? 1 : 0;
}

process.exitCode = await main();
