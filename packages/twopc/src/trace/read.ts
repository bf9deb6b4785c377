/**
 * Reading trace files back: JSON lines, one `TraceEvent` a line, from the files of several
 * nodes. A line that is not a trace event (the torn last line of a node that crashed, say) is
 * skipped and reported, never fatal.
 */
import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { InvalidArgumentError } from "@zmbox/mailbox";
import type { TraceEvent } from "./events.js";
import { checkTraceEvents } from "./model.js";

/** What `readTraces` found. */
export interface ReadTraces {
  /** Every node's events, in time order. */
  readonly events: TraceEvent[];
  /** The files read. */
  readonly files: string[];
  /** Lines skipped: `file:line: why`. */
  readonly skipped: string[];
}

/** Parses the text of one trace file; lines that are not trace events go to `skipped`, named by `source`. */
export function parseTraceLines(text: string, source: string, skipped: string[] = []): TraceEvent[] {
  const events: TraceEvent[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      const event: unknown = JSON.parse(line);
      checkTraceEvents([event]);
      events.push(event as TraceEvent);
    } catch (error) {
      skipped.push(`${source}:${i + 1}: ${(error as Error).message.replace("events[0]", "the event")}`);
    }
  });
  return events;
}

/**
 * Reads trace files: each path a `.jsonl` file, or a directory whose `*.trace.jsonl` files are
 * read. Events of all files are merged by time.
 * @throws InvalidArgumentError naming a path that cannot be read, or when no trace file is found.
 */
export async function readTraces(paths: readonly string[]): Promise<ReadTraces> {
  if (!Array.isArray(paths) || paths.length === 0 || paths.some((p) => typeof p !== "string" || p === "")) {
    throw new InvalidArgumentError(`Expected trace files or directories, got \`${JSON.stringify(paths)}\``);
  }
  const files: string[] = [];
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch (cause) {
      throw new InvalidArgumentError(`Expected \`${path}\` to be a trace file or a directory of them: ${(cause as Error).message}`, { cause });
    }
    if (!isDir) files.push(path);
    else for (const name of (await readdir(path)).sort()) if (name.endsWith(".trace.jsonl")) files.push(join(path, name));
  }
  if (files.length === 0) throw new InvalidArgumentError(`Expected \`*.trace.jsonl\` files in ${paths.join(", ")}, found none`);
  const skipped: string[] = [];
  const events: TraceEvent[] = [];
  for (const file of files) events.push(...parseTraceLines(await readFile(file, "utf8"), file, skipped));
  events.sort((a, b) => a.t - b.t);
  return { events, files, skipped };
}
