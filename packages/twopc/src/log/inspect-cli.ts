#!/usr/bin/env node
/**
 * `twopc-inspect <logdir>`: prints a node's transactions by state, in-doubt ones first.
 * Exit status: 0 printed, 1 unreadable or invalid log, 2 usage.
 */
import { formatInspection, inspectLog } from "./inspect.js";

const [dir, ...rest] = process.argv.slice(2);
if (dir === undefined || rest.length > 0 || dir === "--help" || dir === "-h") {
  process.stderr.write("usage: twopc-inspect <logdir>\n");
  process.exitCode = 2;
} else {
  try {
    process.stdout.write(`${formatInspection(await inspectLog(dir))}\n`);
  } catch (err) {
    process.stderr.write(`twopc-inspect: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
