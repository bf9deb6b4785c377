#!/usr/bin/env node
/**
 * `twopc-inspect <logdir>`: prints a node's transactions by state, in-doubt ones first.
 * Exit status: 0 printed, 1 unreadable, invalid or corrupt log (a corrupt one is printed too), 2 usage.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { formatInspection, inspectLog } from "./inspect.js";
import { LOG_FILE_NAME } from "@zmbox/log";

const [dir, ...rest] = process.argv.slice(2);
if (dir === undefined || rest.length > 0 || dir === "--help" || dir === "-h") {
  process.stderr.write("usage: twopc-inspect <logdir>\n");
  process.exitCode = 2;
} else if (!existsSync(dir) || !statSync(dir).isDirectory()) {
  process.stderr.write(`twopc-inspect: ${dir} is not a directory (expected a node's log directory)\n`);
  process.exitCode = 1;
} else if (!existsSync(join(dir, LOG_FILE_NAME))) {
  process.stderr.write(`twopc-inspect: no ${LOG_FILE_NAME} in ${dir} (expected a node's log directory)\n`);
  process.exitCode = 1;
} else {
  try {
    const report = await inspectLog(dir);
    process.stdout.write(`${formatInspection(report)}\n`);
    if (report.corruption !== undefined) process.exitCode = 1;
  } catch (err) {
    process.stderr.write(`twopc-inspect: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
