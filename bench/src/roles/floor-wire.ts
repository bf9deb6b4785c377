/**
 * The envelopes of the `rr.floor.*` roles: the least a request-response layer with correlation
 * ids puts on the wire. MessagePack arrays, as `@zmbox/twopc` sends them (`["request", clientId,
 * requestId, replyTo, body]`, `["reply", clientId, requestId, ok, body]`), split like the
 * mailbox runtime's bodies into parts of at most 128 bytes: zeromq.js copies those, and lends
 * larger ones to libzmq at the cost of one more wake-up of the sender's event loop.
 */
import { Packr } from "msgpackr";

const packr = new Packr({ useRecords: false });
const PART = 128;

export function encode(value: unknown): Buffer[] {
  const bytes = packr.pack(value);
  if (bytes.length <= PART) return [bytes];
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += PART) parts.push(bytes.subarray(at, at + PART));
  return parts;
}

export function decode(parts: Buffer[]): unknown {
  return packr.unpack(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
}
