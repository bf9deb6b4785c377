/**
 * Flags of the bank's commands: `node:util` parseArgs, plus checks that name the flag and what
 * was expected. A bad flag is a {@link UsageError}: the command prints it with its usage and
 * exits with code 2.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A bad command line. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly code = "ERR_USAGE";
}

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** Parses `argv` strictly (unknown flags and stray arguments are errors). */
export function parseFlags(argv: readonly string[], options: Options): Values {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as Values;
  } catch (error) {
    // parseArgs says which flag, e.g. "Unknown option '--shrad'".
    throw new UsageError((error as Error).message);
  }
}

function show(value: unknown): string {
  return `\`${String(value)}\``;
}

/** A required string flag. */
export function required(values: Values, flag: string): string {
  const value = values[flag];
  if (typeof value !== "string" || value === "") throw new UsageError(`Missing --${flag}`);
  return value;
}

/** An integer flag, `fallback` when absent. */
export function integer(values: Values, flag: string, fallback: number | undefined, min: number): number | undefined {
  const value = values[flag];
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== "string" || !/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`Expected --${flag} to be an integer from ${min} and up, got ${show(value)}`);
  }
  return n;
}

/** A `tcp://host:port` flag with a fixed port (a 2PC node's address must survive restarts). */
export function endpoint(value: string, flag: string): string {
  const match = /^tcp:\/\/([^:/]+):(\d+)$/.exec(value);
  const port = match ? Number(match[2]) : 0;
  if (!match || port < 1 || port > 65535 || match[1] === "*" || match[1] === "0.0.0.0") {
    throw new UsageError(`Expected --${flag} to be tcp://host:port with a fixed host and a port from 1 to 65535, got ${show(value)}`);
  }
  return value;
}

/** A shard name: letters, digits, `_` and `-`. */
export function shardName(value: string, flag: string): string {
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(value)) throw new UsageError(`Expected --${flag} to be 1 to 32 letters, digits, _ or -, got ${show(value)}`);
  return value;
}

/** A list flag (given several times). */
export function list(values: Values, flag: string): string[] {
  const value = values[flag];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}
