/**
 * Argument checks of request-response and pipelines that know the runtime's classes: a
 * Runtime, a Mailbox or an address. The generic ones (options, integers, signals, functions,
 * names) are the runtime's own, from `@zmbox/mailbox/internal`. Every failure is the mailbox
 * runtime's `InvalidArgumentError` (a `TypeError` with code `ERR_INVALID_ARGUMENT`) naming
 * the option and the value it got, in p-queue's form.
 */
import { InvalidAddressError, InvalidArgumentError, Mailbox, Runtime, parseAddress } from "@zmbox/mailbox";
import { describe } from "@zmbox/mailbox/internal";

export function checkRuntime(value: unknown): Runtime {
  if (value instanceof Runtime) return value;
  throw new InvalidArgumentError(`Expected \`runtime\` to be a Runtime (from Runtime.start()), got ${describe(value)}`);
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
