#!/usr/bin/env node
/**
 * `twopc-trace <trace files or dirs> [--tx id,...] --out DIR`: reads the JSON-lines traces of
 * a run's nodes (see the nodes' `trace` option), merges them by time and writes `run.mmd`
 * (Mermaid) and `run.svg` into DIR.
 * Exit status: 0 written, 1 unreadable traces or nothing to draw, 2 usage.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readTraces } from "../trace/read.js";
import { renderMermaid } from "../trace/mermaid.js";
import { renderSvg } from "../trace/svg.js";

const USAGE = "usage: twopc-trace <trace files or dirs>... [--tx id,...] --out DIR\n";

let args: ReturnType<typeof parse> | undefined;
function parse() {
  return parseArgs({ allowPositionals: true, options: { out: { type: "string" }, tx: { type: "string" }, help: { type: "boolean", short: "h" } } });
}
try {
  args = parse();
} catch (err) {
  process.stderr.write(`twopc-trace: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  process.exitCode = 2;
}
if (args !== undefined) {
  const { values, positionals } = args;
  if (values.help === true || positionals.length === 0 || values.out === undefined || values.out === "") {
    process.stderr.write(USAGE);
    process.exitCode = values.help === true ? 0 : 2;
  } else {
    try {
      const { events, files, skipped } = await readTraces(positionals);
      for (const line of skipped) process.stderr.write(`twopc-trace: skipped ${line}\n`);
      const txIds = values.tx?.split(",").map((s) => s.trim()).filter((s) => s !== "");
      const options = txIds === undefined ? {} : { txIds };
      if (events.length === 0) throw new Error(`no trace events in ${files.join(", ")}`);
      mkdirSync(values.out, { recursive: true });
      writeFileSync(join(values.out, "run.mmd"), renderMermaid(events, options));
      writeFileSync(join(values.out, "run.svg"), renderSvg(events, options));
      process.stdout.write(`${events.length} events from ${files.length} files -> ${join(values.out, "run.mmd")}, ${join(values.out, "run.svg")}\n`);
    } catch (err) {
      process.stderr.write(`twopc-trace: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  }
}
