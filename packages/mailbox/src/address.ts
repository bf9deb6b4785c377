import { InvalidAddressError, InvalidArgumentError } from "./errors.js";
import { describe } from "./check.js";

/** A parsed mailbox address `name@endpoint`. */
export interface MailboxAddress {
  readonly name: string;
  readonly endpoint: string;
}

/** Mailbox names: letters, digits and `. _ - : /`, 1 to 200 characters. */
const NAME = /^[A-Za-z0-9._:/-]{1,200}$/;
const TCP = /^tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+|\*):(\d{1,5}|\*)$/;
const IPC = /^ipc:\/\/.+$/;
const INPROC = /^inproc:\/\/.+$/;

/** Throws unless `name` is a valid mailbox name. */
export function checkMailboxName(name: unknown): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new InvalidArgumentError(
      `Expected a mailbox name of 1-200 letters, digits or ". _ - : /", got ${describe(name)}`,
    );
  }
  return name;
}

/**
 * Throws unless `endpoint` is a ZeroMQ endpoint this runtime speaks:
 * `tcp://host:port`, `ipc://path` or `inproc://name`.
 */
export function checkEndpoint(endpoint: unknown, what = "endpoint"): string {
  if (typeof endpoint !== "string") {
    throw new InvalidArgumentError(`Expected \`${what}\` to be a string, got ${describe(endpoint)}`);
  }
  const tcp = TCP.exec(endpoint);
  if (tcp) {
    const port = tcp[2] === "*" ? 0 : Number(tcp[2]);
    if (port <= 65535) return endpoint;
  } else if (IPC.test(endpoint) || INPROC.test(endpoint)) {
    return endpoint;
  }
  throw new InvalidArgumentError(
    `Expected \`${what}\` to be tcp://host:port, ipc://path or inproc://name, got ${describe(endpoint)}`,
  );
}

/**
 * Parses `name@endpoint`, e.g. `orders@tcp://127.0.0.1:7001`.
 * @throws InvalidAddressError naming what was wrong.
 */
export function parseAddress(address: unknown): MailboxAddress {
  if (typeof address !== "string") {
    throw new InvalidAddressError(`Expected a mailbox address "name@endpoint", got ${describe(address)}`);
  }
  const at = address.indexOf("@");
  if (at <= 0) {
    throw new InvalidAddressError(
      `Expected a mailbox address "name@endpoint" (e.g. "orders@tcp://127.0.0.1:7001"), got ${describe(address)}`,
    );
  }
  const name = address.slice(0, at);
  const endpoint = address.slice(at + 1);
  try {
    checkMailboxName(name);
    checkEndpoint(endpoint);
  } catch (error) {
    throw new InvalidAddressError(`Invalid mailbox address ${describe(address)}: ${(error as Error).message}`);
  }
  return { name, endpoint };
}

/** Formats a mailbox address. */
export function formatAddress(name: string, endpoint: string): string {
  return `${name}@${endpoint}`;
}
