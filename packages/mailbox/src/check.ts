/**
 * Argument and option checks, shared by every package of the project (through
 * `@zmbox/mailbox/internal`). Every failure is an `InvalidArgumentError` (a `TypeError` with
 * code `ERR_INVALID_ARGUMENT`) naming the option and the value it got, in p-queue's form:
 * ``Expected `concurrency` to be an integer from 1 and up, got `0` (number)``.
 */
import { InvalidArgumentError } from "./errors.js";

/** Describes a value for an error message: `` `0` (number) ``, as p-queue does. */
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

/** True for an object that can hold options: not null, an array or bytes. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/**
 * `undefined` gives `{}`; anything but a plain object throws. Unknown keys throw too (a typo
 * must not pass silently). `what` names the options in the message ("send", "runtime").
 */
export function checkOptions(options: unknown, what: string, allowed: readonly string[]): Record<string, unknown> {
  if (options === undefined) return {};
  if (!isPlainObject(options)) throw new InvalidArgumentError(`Expected ${what} options to be an object, got ${describe(options)}`);
  // for-in, not Object.keys: no array allocated for each send's or request's options. The
  // known keys are the common case: `includes` answers them without asking `hasOwn`.
  for (const key in options) {
    if (!allowed.includes(key) && Object.hasOwn(options, key)) {
      throw new InvalidArgumentError(`Unknown ${what} option \`${key}\`; expected one of ${allowed.map((k) => `\`${k}\``).join(", ")}`);
    }
  }
  return options;
}

/** An optional integer option, `min` and up (and `Infinity` where allowed); `undefined` gives `fallback`. */
export function checkInteger(name: string, value: unknown, fallback: number, min: number, allowInfinity = false): number {
  if (value === undefined) return fallback;
  if (typeof value === "number" && ((allowInfinity && value === Infinity) || (Number.isInteger(value) && value >= min))) return value;
  throw new InvalidArgumentError(
    `Expected \`${name}\` to be an integer from ${min} and up${allowInfinity ? " (or Infinity)" : ""}, got ${describe(value)}`,
  );
}

/** An optional duration in milliseconds, above 0 (and `Infinity` where allowed); `undefined` gives `fallback`. */
export function checkMs(name: string, value: unknown, fallback: number, allowInfinity = false): number {
  if (value === undefined) return fallback;
  const ok = typeof value === "number" && value > 0 && (Number.isFinite(value) || (allowInfinity && value === Infinity));
  if (!ok) throw new InvalidArgumentError(`Expected \`${name}\` to be a number of milliseconds above 0, got ${describe(value)}`);
  return value;
}

/** An optional `AbortSignal`. */
export function checkSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  throw new InvalidArgumentError(`Expected \`${name}\` to be an AbortSignal, got ${describe(value)}`);
}

/** A required function. */
export function checkFunction<F extends (...args: never[]) => unknown>(name: string, value: unknown): F {
  if (typeof value === "function") return value as F;
  throw new InvalidArgumentError(`Expected \`${name}\` to be a function, got ${describe(value)}`);
}

/** An optional non-empty string of at most 200 characters; `undefined` gives `fallback`. */
export function checkName(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value === "string" && value.length > 0 && value.length <= 200) return value;
  throw new InvalidArgumentError(`Expected \`${name}\` to be a non-empty string of at most 200 characters, got ${describe(value)}`);
}
