/**
 * A node's trace as a JSON-lines file: `<dir>/<node name>.trace.jsonl`, one `TraceEvent` a line.
 * Lines are buffered and appended in batches (at most every `FLUSH_MS`, or once `FLUSH_LINES`
 * wait); `close` writes the rest. A crash loses the unflushed tail, which a picture survives.
 */
import { closeSync, mkdirSync, openSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { InvalidArgumentError } from "@zmbox/mailbox";
import type { TraceEvent, TraceSink } from "./events.js";
import type { TracePort } from "./record.js";

/** How long a traced event may wait in memory before its batch is written, in ms. */
const FLUSH_MS = 50;
/** A batch this long is written at once. */
const FLUSH_LINES = 512;

/** The file a node named `name` traces to in `dir`: characters unsafe in file names become `_`. */
export function traceFileName(dir: string, name: string): string {
  return join(dir, `${name.replace(/[^A-Za-z0-9._-]/g, "_")}.trace.jsonl`);
}

/** Appends trace events to one file, in batches. */
export class TraceFile {
  readonly path: string;
  #fd: number | undefined;
  #lines: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** The first write error, after which events are dropped (tracing must not stop a node). */
  error: Error | undefined;

  constructor(path: string) {
    this.path = path;
  }

  /** Buffers one event. */
  readonly write: TraceSink = (event: TraceEvent): void => {
    if (this.#closed || this.error !== undefined) return;
    this.#lines.push(JSON.stringify(event));
    if (this.#lines.length >= FLUSH_LINES) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  };

  /** Writes what is buffered (the file is opened, for appending, on the first write). */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#lines.length === 0 || this.error !== undefined) return;
    const text = this.#lines.join("\n") + "\n";
    this.#lines = [];
    try {
      this.#fd ??= openSync(this.path, "a");
      writeSync(this.#fd, text);
    } catch (error) {
      this.error = error as Error;
    }
  }

  /** Writes the rest and closes the file. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** A node's `trace` option, made ready: the port for its driver, and what to close with the node. */
export interface NodeTrace {
  readonly port: TracePort;
  readonly file: TraceFile | undefined;
}

/**
 * Checks a node's `trace` option (a function, or a directory path, created if missing) and
 * makes its port; `name` names the file in a directory.
 * @throws InvalidArgumentError for anything else, or a path that is not a directory.
 */
export function openNodeTrace(trace: unknown, name: string): NodeTrace | undefined {
  if (trace === undefined) return undefined;
  // The real nodes' clock is performance.now(): from the process's start. Epoch ms merge across processes.
  const origin = performance.timeOrigin;
  if (typeof trace === "function") return { port: { sink: trace as TraceSink, origin }, file: undefined };
  if (typeof trace !== "string" || trace === "") {
    throw new InvalidArgumentError(`Expected \`trace\` to be a function or a directory path, got \`${String(trace)}\` (${typeof trace})`);
  }
  try {
    mkdirSync(trace, { recursive: true });
  } catch (cause) {
    throw new InvalidArgumentError(`Expected \`trace\` to be a directory path, got \`${trace}\` (${(cause as Error).message})`, { cause });
  }
  if (!statSync(trace).isDirectory()) throw new InvalidArgumentError(`Expected \`trace\` to be a directory path, got \`${trace}\` (not a directory)`);
  const file = new TraceFile(traceFileName(trace, name));
  return { port: { sink: file.write, origin }, file };
}
