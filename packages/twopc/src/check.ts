/**
 * Argument checks shared by request-response and pipelines. Every failure is the mailbox
 * runtime's `InvalidArgumentError` (a `TypeError` with code `ERR_INVALID_ARGUMENT`) naming
 * the option and the value it got, in p-queue's form:
 * ``Expected `concurrency` to be an integer from 1 and up, got `0` (number)``.
 */
import { InvalidAddressError, InvalidArgumentError, Mailbox, Runtime, parseAddress } from "@zmbox/mailbox";

/** Describes a value for an error message: `` `0` (number) ``. */
export function describe(value: unknown): string {
  let shown: string;
  try {
    shown = typeof value === "string" ? JSON.stringify(value) : typeof value === "function" ? `[function ${value.name}]` : String(value);
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  if (shown.length > 60) shown = `${shown.slice(0, 57)}...`;
  return `\`${shown}\` (${value === null ? "null" : Array.isArray(value) ? "array" : typeof value})`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** `undefined` gives `{}`; anything but a plain object throws. Unknown keys throw too (a typo must not pass silently). */
export function checkOptions(options: unknown, what: string, allowed: readonly string[]): Record<string, unknown> {
  if (options === undefined) return {};
  if (!isPlainObject(options)) throw new InvalidArgumentError(`Expected ${what} options to be an object, got ${describe(options)}`);
  // for-in, not Object.keys: no array allocated for each request's options.
  for (const key in options) {
    if (Object.hasOwn(options, key) && !allowed.includes(key)) {
      throw new InvalidArgumentError(`Unknown ${what} option \`${key}\`; expected one of ${allowed.map((k) => `\`${k}\``).join(", ")}`);
    }
  }
  return options;
}

/** An optional integer option, `min` and up (and `Infinity` where allowed). */
export function checkInteger(name: string, value: unknown, fallback: number, min: number, allowInfinity = false): number {
  if (value === undefined) return fallback;
  if (typeof value === "number" && ((allowInfinity && value === Infinity) || (Number.isInteger(value) && value >= min))) return value;
  throw new InvalidArgumentError(
    `Expected \`${name}\` to be an integer from ${min} and up${allowInfinity ? " (or Infinity)" : ""}, got ${describe(value)}`,
  );
}

export function checkSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  throw new InvalidArgumentError(`Expected \`${name}\` to be an AbortSignal, got ${describe(value)}`);
}

export function checkRuntime(value: unknown): Runtime {
  if (value instanceof Runtime) return value;
  throw new InvalidArgumentError(`Expected \`runtime\` to be a Runtime (from Runtime.start()), got ${describe(value)}`);
}

export function checkFunction<F extends (...args: never[]) => unknown>(name: string, value: unknown): F {
  if (typeof value === "function") return value as F;
  throw new InvalidArgumentError(`Expected \`${name}\` to be a function, got ${describe(value)}`);
}

export function checkName(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value === "string" && value.length > 0 && value.length <= 200) return value;
  throw new InvalidArgumentError(`Expected \`${name}\` to be a non-empty string of at most 200 characters, got ${describe(value)}`);
}

/**
 * A mailbox, or a `name@endpoint` address (throws `InvalidAddressError`, a TypeError, when
 * it is not one). Returns what `send`/`receive` take.
 */
export function checkMailbox(name: string, value: unknown): string | Mailbox {
  if (value instanceof Mailbox) return value;
  if (typeof value !== "string") {
    throw new InvalidArgumentError(`Expected \`${name}\` to be a Mailbox or a "name@endpoint" address, got ${describe(value)}`);
  }
  if (!goodAddresses.has(value)) {
    try {
      parseAddress(value);
    } catch (error) {
      throw new InvalidAddressError(`Invalid \`${name}\`: ${(error as Error).message}`, { cause: error });
    }
    remember(value);
  }
  return value;
}

/** True when `value` is a `name@endpoint` address. */
export function isAddress(value: unknown): value is string {
  if (typeof value !== "string") return false;
  // Most often the address of the request before (a string compare, not a hash of it).
  if (value === lastGood || goodAddresses.has(value)) {
    lastGood = value;
    return true;
  }
  try {
    parseAddress(value);
  } catch {
    return false;
  }
  remember(value);
  return true;
}

/**
 * Addresses found good lately: a client sends to a few servers and a server answers a few
 * clients, many times each, and a lookup costs less than parsing (two regular expressions).
 */
const goodAddresses = new Set<string>();
let lastGood = "";

function remember(address: string): void {
  lastGood = address;
  if (goodAddresses.size >= 1024) goodAddresses.clear();
  goodAddresses.add(address);
}

/** The address of a mailbox reference. */
export function addressOf(mbox: string | Mailbox): string {
  return typeof mbox === "string" ? mbox : mbox.address;
}
