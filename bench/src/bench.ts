/**
 * `pnpm bench [--json] [--quick] [--only a,b]`: runs the benchmark entries and prints a table,
 * or with `--json` exactly one JSON object `{"results": [...]}` on stdout. Progress goes to
 * stderr. Exit code 1 if an entry failed, 2 on bad usage.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { entries } from "./entries/index.js";
import { formatTable } from "./report.js";
import { runEntries } from "./runner.js";

const USAGE = `usage: node bench/dist/bench.js [--json] [--quick] [--only name[,prefix...]]
  --json    print one JSON object {"results": [...]} on stdout, nothing else
  --quick   short runs, for a smoke test (numbers are not comparable)
  --only    run the entries whose names start with one of these (and the baselines they need)
entries: ${entries.map((e) => e.name).join(", ")}`;

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
  const only = options.only?.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);
  let results;
  try {
    results = await runEntries(entries, { only, quick: options.quick, log });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  process.stdout.write(options.json ? `${JSON.stringify({ results })}\n` : `${formatTable(results)}\n`);
  return results.some((r) => r.error !== undefined) ? 1 : 0;
}

process.exitCode = await main();
