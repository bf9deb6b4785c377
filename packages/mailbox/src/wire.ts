/**
 * The frames of the mailbox protocol (PROTOCOL.md is the specification; this file and it
 * must agree). Every ZeroMQ message is a header frame, a MessagePack array
 * `[version, kind, mailbox, ...fields]`, followed for `data` and `deliver` by the body: one
 * frame, or a small body cut into parts (see {@link addBody}).
 */
import { C1, Packr, Unpackr } from "msgpackr";
import { InvalidArgumentError } from "./errors.js";

export const PROTOCOL_VERSION = 2;

/** Frame kinds. */
export const Kind = {
  /** sender -> owner: open or probe a channel, say how many messages wait for credit. */
  Hello: "hello",
  /** sender -> owner: a batch of consecutive messages of one channel. */
  Data: "data",
  /** owner -> sender: what is stored and taken, and the credit limit. */
  Ack: "ack",
  /** owner -> peer: a refusal that ends the operation (e.g. no such mailbox). */
  Nak: "nak",
  /** remote receiver -> owner: ask for up to `window` messages. */
  Pull: "pull",
  /** owner -> remote receiver: one message handed out under a delivery id. */
  Deliver: "deliver",
  /** remote receiver -> owner: these deliveries were taken by a receiver. */
  Taken: "taken",
  /** remote receiver -> owner: hand these deliveries back (not taken). */
  Release: "release",
  /** remote receiver -> owner: these deliveries were taken by manual-ack receives (or extended): lease them for `ms`. */
  Lease: "lease",
  /** remote receiver -> owner: settle these leased deliveries: `ack` (done) or `nack` (again after `delay`). */
  Settle: "settle",
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** Message flags, per data frame (every message of the frame has the same flags). */
export const Flag = {
  /** The payload is the message's bytes as sent; otherwise it is one MessagePack value. */
  Raw: 1,
  /**
   * The sender waits on these messages ("stored" or "received" sends): ack them as soon as
   * they are stored, and again as soon as they are taken. Without it the owner may delay and
   * gather acks (a few ms), as long as the sender has credit and the unacked stay few.
   */
  AckNow: 2,
} as const;

/** `nak` codes. */
export const NakCode = {
  /** No mailbox of that name: every message of the channel fails. */
  NoMailbox: "NO_MAILBOX",
  /** The owner does not know the channel: open it again with hello. */
  NoChannel: "NO_CHANNEL",
  /** The message `seq` was refused (too large, or not MessagePack) and consumed: it fails alone. */
  BadMessage: "BAD_MESSAGE",
  /** The mailbox does not let this peer's key send (hello, data) or receive (pull): every operation of the channel fails. */
  Forbidden: "FORBIDDEN",
  /**
   * The owner refused to open the channel: the sender's runtime has as many channels there as
   * it may (`maxChannelsPerPeer`), or the owner serves as many peers as it may (`maxPeers`).
   * Every message of the channel fails with `LimitExceededError`.
   */
  Limit: "LIMIT",
} as const;
export type NakCode = (typeof NakCode)[keyof typeof NakCode];

export type Frame =
  | { kind: "hello"; mailbox: string; base: number; want: number; probe: boolean }
  | { kind: "data"; mailbox: string; seq: number; flags: number; lens: number[]; want: number; body: Buffer }
  | { kind: "ack"; mailbox: string; rid: string; stored: number; taken: number; limit: number; resend: boolean; max: number }
  | { kind: "nak"; mailbox: string; rid: string; code: string; message: string; seq: number }
  | { kind: "pull"; mailbox: string; window: number; epoch: number; rid: string; seen: number; held: number[] }
  | { kind: "deliver"; mailbox: string; rid: string; epoch: number; id: number; flags: number; attempt: number; mid: string; body: Buffer }
  | { kind: "taken"; mailbox: string; rid: string; ids: number[] }
  | { kind: "release"; mailbox: string; rid: string; ids: number[] }
  | { kind: "lease"; mailbox: string; rid: string; ids: number[]; ms: number }
  | { kind: "settle"; mailbox: string; rid: string; op: SettleOp; ids: number[]; delay: number };

/** What a `settle` frame does with its deliveries. */
export const SettleOp = {
  /** Done: the message leaves the mailbox for good. */
  Ack: "ack",
  /** Not done: the message is given again (attempt + 1) after `delay` ms, or dead-lettered. */
  Nack: "nack",
} as const;
export type SettleOp = (typeof SettleOp)[keyof typeof SettleOp];

/** Why an incoming frame was dropped; `stats().refused` counts each. */
export const Refusal = {
  /** The header is not MessagePack, or not an array. */
  Decode: "decode",
  /** The version is not {@link PROTOCOL_VERSION}. */
  Version: "version",
  /** The kind is unknown, or not one this side accepts. */
  Kind: "kind",
  /** A field is missing or has the wrong type. */
  Fields: "fields",
  /** The frame or a message is larger than allowed, or the body does not match the lengths. */
  Size: "size",
  /** A message payload is not valid MessagePack. */
  Payload: "payload",
  /** No mailbox of that name. */
  Mailbox: "mailbox",
  /** Data on a channel the owner does not know (never opened with `hello`, or forgotten). */
  Channel: "channel",
  /** Messages past the credit limit. */
  Credit: "credit",
  /** Messages after a gap in the sequence. */
  Order: "order",
  /** CURVE: a connection whose key is not on the allow-list (refused by the ZAP handler). */
  Denied: "denied",
  /** CURVE: a frame whose routing id is not bound to an admitted key (forged, or the key was revoked). */
  Unauthenticated: "unauthenticated",
  /** CURVE: a frame (or its messages) from a key the mailbox does not let send or receive. */
  Forbidden: "forbidden",
  /** A mailbox name longer than {@link MAX_NAME_LENGTH}, or not a string. */
  Name: "name",
  /** A MessagePack value nested deeper than {@link MAX_DEPTH}, claiming more items or bytes than it has, or holding 0xc1. */
  Malformed: "malformed",
  /** A hello or pull from a peer that already has `maxChannelsPerPeer` channels at this owner. */
  Channels: "channels",
  /** A hello or pull from a new peer while the owner serves `maxPeers` peers. */
  Peers: "peers",
  /** A connection libzmq dropped (a frame over the socket's size limit, or not ZMTP); counted from socket events. */
  Dropped: "dropped",
} as const;
export type Refusal = (typeof Refusal)[keyof typeof Refusal];

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** The largest body part that zeromq.js copies when sending (it lends larger ones). */
export const BODY_PART_BYTES = 128;
/** A body of at most this many parts of {@link BODY_PART_BYTES} is sent cut into parts. */
export const MAX_BODY_PARTS = 8;

/**
 * Appends the frames that carry `body` to `frames` (a header, say), and returns `frames`.
 * zeromq.js sends a part above 128 bytes without copying it, and gives it back by waking the
 * sender's event loop once libzmq has written it: one more wake-up for every message, on the
 * sender's cores, while the message is on its way. Smaller parts are copied and need none. So a
 * body of up to 1 KiB goes as parts of at most 128 bytes, and the receiver joins them. Measured
 * one request at a time with three processes on two cores: the sender's thread woke 1.0 times a
 * request instead of 1.9, and twopc.latency went from 1.03-1.12 ms to 0.96-1.04 ms. A larger
 * body keeps one frame: under load those wake-ups coalesce, and copying would cost more.
 */
export function addBody(frames: Buffer[], body: Buffer): Buffer[] {
  if (body.length <= BODY_PART_BYTES || body.length > BODY_PART_BYTES * MAX_BODY_PARTS) {
    frames.push(body);
    return frames;
  }
  for (let at = 0; at < body.length; at += BODY_PART_BYTES) frames.push(body.subarray(at, at + BODY_PART_BYTES));
  return frames;
}

/** The body of a `data` or `deliver` message (`parts` after the header), or undefined if it has no body or too many parts. */
function joinBody(parts: Buffer[]): Buffer | undefined {
  if (parts.length === 2) return parts[1];
  if (parts.length < 2 || parts.length > 1 + MAX_BODY_PARTS) return undefined;
  return Buffer.concat(parts.slice(1));
}

/**
 * Encodes a header array: the bytes msgpackr writes (a test compares them), written directly
 * when the header holds only what headers hold (see writeHeader), by msgpackr otherwise.
 */
export function encodeHeader(fields: unknown[]): Buffer {
  return writeHeader(fields) ?? packr.pack(fields);
}

/** writeHeader's scratch space: a header larger than this goes to msgpackr. */
const HEAD = Buffer.alloc(1024);
let hat = 0;

/**
 * Writes a header of at most 15 fields that are integers from 0 to 2^32-1, ASCII strings of at
 * most 255 characters, booleans, or arrays of such integers; undefined for anything else.
 */
export function writeHeader(fields: unknown[]): Buffer | undefined {
  if (fields.length > 15) return undefined;
  hat = 0;
  HEAD[hat++] = 0x90 | fields.length;
  for (const v of fields) {
    if (!writeField(v, true)) return undefined;
  }
  const out = Buffer.allocUnsafe(hat);
  HEAD.copy(out, 0, 0, hat);
  return out;
}

function writeField(v: unknown, nest: boolean): boolean {
  if (hat > HEAD.length - 300) return false;
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) return false;
    if (v < 0x80) HEAD[hat++] = v;
    else if (v < 0x100) { HEAD[hat++] = 0xcc; HEAD[hat++] = v; }
    else if (v < 0x10000) { HEAD[hat++] = 0xcd; HEAD.writeUInt16BE(v, hat); hat += 2; }
    else { HEAD[hat++] = 0xce; HEAD.writeUInt32BE(v, hat); hat += 4; }
    return true;
  }
  if (typeof v === "string") {
    const n = v.length;
    if (n > 255) return false;
    if (n < 32) HEAD[hat++] = 0xa0 | n;
    else { HEAD[hat++] = 0xd9; HEAD[hat++] = n; }
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c >= 0x80) return false;
      HEAD[hat++] = c;
    }
    return true;
  }
  if (typeof v === "boolean") {
    HEAD[hat++] = v ? 0xc3 : 0xc2;
    return true;
  }
  if (nest && Array.isArray(v)) {
    const n = v.length;
    if (n > 30) return false;
    if (n < 16) HEAD[hat++] = 0x90 | n;
    else { HEAD[hat++] = 0xdc; HEAD[hat++] = 0; HEAD[hat++] = n; }
    for (const x of v) if (typeof x !== "number" || !writeField(x, false)) return false;
    return true;
  }
  return false;
}

/** Only this module makes an EncodedMessage. */
const MAKE: unique symbol = Symbol("EncodedMessage");

/**
 * A message encoded once, to be sent any number of times (to many mailboxes, or again later)
 * without being encoded again: make one with `encodeMessage(value)` and pass it to `send` in
 * place of the value. Receivers get the value, exactly as if it had been sent itself. Its bytes
 * are never changed, so one instance may be in many sends at once.
 */
export class EncodedMessage {
  /** @internal */
  readonly payload: Buffer;
  /** @internal */
  readonly flags: number;

  /** Use `encodeMessage`: bytes made any other way could be anything. */
  private constructor(token: typeof MAKE, payload: Buffer, flags: number) {
    // JavaScript callers are not stopped by `private`.
    if (token !== MAKE) throw new InvalidArgumentError("An EncodedMessage is made by encodeMessage(value), not with `new`");
    this.payload = payload;
    this.flags = flags;
  }

  /** @internal */
  static make(payload: Buffer, flags: number): EncodedMessage {
    return new EncodedMessage(MAKE, payload, flags);
  }

  /** The encoded size in bytes (what `maxMessageSize` limits). */
  get byteLength(): number {
    return this.payload.length;
  }
}

/** Encodes a message value: bytes travel raw, anything else as one MessagePack value. Throws what msgpackr throws. */
export function encodeValue(value: unknown): EncodedMessage {
  if (value instanceof Uint8Array) {
    // Copied, so the caller may reuse its buffer as soon as send returns.
    const payload = Buffer.allocUnsafe(value.byteLength);
    payload.set(value);
    return EncodedMessage.make(payload, Flag.Raw);
  }
  return EncodedMessage.make(packr.pack(value), 0);
}

/** Most levels of arrays and maps in one MessagePack value from a peer. */
export const MAX_DEPTH = 64;
/** Longest mailbox name (as in `checkMailboxName`). */
export const MAX_NAME_LENGTH = 200;

/** A MessagePack value from a peer that is not one well-formed value within the limits. */
export class MalformedError extends TypeError {
  override readonly name = "MalformedError";
}

/** checkMessagePack's stack: items still to read at each open level (counts up to 2^33). */
const TODO = new Float64Array(MAX_DEPTH + 2);

/** Bytes after a MessagePack type byte before its data: length bytes, plus 8 if a type byte follows them (ext). */
function lengthBytes(b: number): number {
  switch (b) {
    case 0xc4: case 0xd9: return 1; // bin8, str8
    case 0xc5: case 0xda: return 2; // bin16, str16
    case 0xc6: case 0xdb: return 4; // bin32, str32
    case 0xc7: return 1 | 8; // ext8 (+ type)
    case 0xc8: return 2 | 8;
    case 0xc9: return 4 | 8;
    default: return 0;
  }
}

/** Fixed-size types: bytes after the type byte. */
const FIXED: Record<number, number> = {
  0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8,
  0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17,
};

function readLength(buf: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + buf[at + i]!;
  return v;
}

/**
 * Checks, without building anything, that `buf` is exactly one MessagePack value that nests at
 * most `maxDepth` arrays and maps, whose every length fits in the bytes that are there (an
 * array or map claiming 4 billion items in a few bytes is refused before anything allocates
 * for it), and that holds no 0xc1 (never used in MessagePack; msgpackr decodes it to a marker
 * object rather than failing). Returns what is wrong, or undefined.
 */
export function checkMessagePack(buf: Uint8Array, maxDepth = MAX_DEPTH): string | undefined {
  const end = buf.length;
  let at = 0;
  // Items still to read at each open level; the bottom level holds the one top value. One
  // stack for every call (this runs for every frame, and never re-enters).
  const todo = maxDepth <= MAX_DEPTH ? TODO : new Float64Array(maxDepth + 2);
  let depth = 1;
  todo[0] = 1;
  while (depth > 0) {
    if (todo[depth - 1] === 0) {
      depth--;
      continue;
    }
    todo[depth - 1]!--;
    if (at >= end) return `ends early at byte ${at}`;
    const b = buf[at++]!;
    let items = -1;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue;
    if (b === 0xc1) return `0xc1 (never used in MessagePack) at byte ${at - 1}`;
    if (b <= 0x8f) items = (b & 0x0f) * 2;
    else if (b <= 0x9f) items = b & 0x0f;
    else if (b <= 0xbf) at += b & 0x1f;
    else if (b === 0xdc || b === 0xdd || b === 0xde || b === 0xdf) {
      const n = b === 0xdc || b === 0xde ? 2 : 4;
      if (at + n > end) return `ends early at byte ${at}`;
      items = readLength(buf, at, n) * (b >= 0xde ? 2 : 1);
      at += n;
    } else if (FIXED[b] !== undefined) {
      at += FIXED[b];
    } else {
      const bytes = lengthBytes(b);
      const n = bytes & 7;
      if (at + n > end) return `ends early at byte ${at}`;
      at += n + (bytes >> 3) + readLength(buf, at, n);
    }
    if (at > end) return `a value claims more bytes than the ${end} there are`;
    if (items > 0) {
      // Every item takes at least one byte.
      if (items > end - at) return `an array or map claims ${items} items in ${end - at} bytes`;
      if (depth > maxDepth) return `nested deeper than ${maxDepth} levels`;
      todo[depth++] = items;
    }
  }
  if (at !== end) return `${end - at} bytes after the value`;
  return undefined;
}

/**
 * Decodes a message payload. Throws on bytes that are not exactly one well-formed MessagePack
 * value (see {@link checkMessagePack}).
 */
export function decodeValue(payload: Buffer, flags: number): unknown {
  if (flags & Flag.Raw) return payload;
  const wrong = checkMessagePack(payload);
  if (wrong !== undefined) throw new MalformedError(wrong);
  const value: unknown = unpackr.unpack(payload);
  // 0xc1 is never used in MessagePack; msgpackr returns a marker for it rather than throwing.
  if (value === C1) throw new MalformedError("0xc1 is not a MessagePack value");
  return value;
}

/** readHeader's buffer, position and end (it never re-enters). */
const NO_BYTES = Buffer.alloc(0);
let rbuf: Buffer = NO_BYTES;
let rat = 0;
let rend = 0;

/**
 * Reads a header the way `decodeValue` does, for the headers peers send: one array of
 * integers, ASCII strings, booleans, nil and arrays of integers, nothing nested deeper.
 * Undefined for anything else, well-formed or not (decodeValue then reads it, or says what is
 * wrong): this only saves the general reader's checks and allocations on every frame.
 */
export function readHeader(buf: Buffer): unknown[] | undefined {
  const first = buf[0];
  if (first === undefined || first < 0x90 || first > 0x9f) return undefined;
  rbuf = buf;
  rat = 1;
  rend = buf.length;
  const h = readList(first & 0x0f, 0);
  const whole = rat === rend;
  rbuf = NO_BYTES;
  return whole ? h : undefined;
}

function readList(n: number, depth: number): unknown[] | undefined {
  // Every item takes at least one byte.
  if (n > rend - rat) return undefined;
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    const v = readItem(depth);
    if (v === undefined) return undefined;
    out[i] = v;
  }
  return out;
}

function readItem(depth: number): unknown {
  if (rat >= rend) return undefined;
  const buf = rbuf;
  const b = buf[rat++]!;
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return b - 0x100;
  if (b >= 0xa0 && b <= 0xbf) return readText(b & 0x1f);
  if (b >= 0x90 && b <= 0x9f) return depth === 0 ? readList(b & 0x0f, 1) : undefined;
  switch (b) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xcc: return rat + 1 <= rend ? buf[rat++] : undefined;
    case 0xcd: if (rat + 2 > rend) return undefined; rat += 2; return buf.readUInt16BE(rat - 2);
    case 0xce: if (rat + 4 > rend) return undefined; rat += 4; return buf.readUInt32BE(rat - 4);
    case 0xd9: return rat + 1 <= rend ? readText(buf[rat++]!) : undefined;
    case 0xdc: {
      if (depth !== 0 || rat + 2 > rend) return undefined;
      rat += 2;
      return readList(buf.readUInt16BE(rat - 2), 1);
    }
    default: return undefined;
  }
}

/**
 * Header strings seen lately, by a hash of their bytes: the same few (kinds, mailbox names,
 * owner ids) come in every frame, and comparing bytes with one costs less than making a string.
 */
const TEXTS: (string | undefined)[] = new Array(256).fill(undefined);

function readText(n: number): string | undefined {
  if (rat + n > rend) return undefined;
  const buf = rbuf;
  const start = rat;
  let hash = n;
  for (let i = start; i < start + n; i++) {
    const b = buf[i]!;
    if (b >= 0x80) return undefined;
    hash = (hash * 31 + b) | 0;
  }
  rat += n;
  const slot = (hash ^ (hash >>> 8)) & 255;
  const seen = TEXTS[slot];
  if (seen !== undefined && seen.length === n) {
    let same = true;
    for (let i = 0; i < n && same; i++) same = seen.charCodeAt(i) === buf[start + i];
    if (same) return seen;
  }
  const text = buf.toString("latin1", start, rat);
  TEXTS[slot] = text;
  return text;
}

const isUint = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
/** Integers a peer encoded as 64-bit (msgpackr reads those as BigInt) count when they fit. */
const asUint = (v: unknown): unknown =>
  typeof v === "bigint" && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
const isName = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= MAX_NAME_LENGTH;
const isUintArray = (v: unknown): v is number[] => Array.isArray(v) && v.every(isUint);

export type Decoded = { ok: true; frame: Frame } | { ok: false; reason: Refusal; detail: string };

const fail = (reason: Refusal, detail: string): Decoded => ({ ok: false, reason, detail });

/**
 * Decodes and validates one ZeroMQ message (`parts` without the Router's routing-id part).
 * Never throws: a bad frame comes back with the reason it is refused.
 */
export function decodeFrame(parts: Buffer[], maxMessageSize: number): Decoded {
  const head = parts[0];
  if (head === undefined) return fail(Refusal.Fields, "no header frame");
  let h: unknown = readHeader(head);
  if (h === undefined) try {
    h = decodeValue(head, 0);
  } catch (error) {
    if (error instanceof MalformedError) return fail(Refusal.Malformed, `header: ${error.message}`);
    return fail(Refusal.Decode, `header is not MessagePack: ${(error as Error).message}`);
  }
  if (!Array.isArray(h)) return fail(Refusal.Decode, "header is not an array");
  for (let i = 0; i < h.length; i++) {
    const v: unknown = h[i];
    if (typeof v === "bigint") h[i] = asUint(v);
    else if (Array.isArray(v)) for (let j = 0; j < v.length; j++) v[j] = asUint(v[j]);
  }
  if (h[0] !== PROTOCOL_VERSION) return fail(Refusal.Version, `version ${String(h[0])}, expected ${PROTOCOL_VERSION}`);
  const kind = h[1];
  const mailbox = h[2];
  if (typeof kind !== "string") return fail(Refusal.Fields, "kind is not a string");
  if (!isName(mailbox)) return fail(Refusal.Name, `mailbox is not a name of 1 to ${MAX_NAME_LENGTH} characters`);
  switch (kind) {
    case Kind.Hello: {
      const [, , , base, want, probe = true] = h;
      if (parts.length !== 1 || !isUint(base) || base < 1 || !isUint(want) || typeof probe !== "boolean") {
        return fail(Refusal.Fields, "hello needs base >= 1, want (and probe, a boolean)");
      }
      return { ok: true, frame: { kind, mailbox, base, want, probe } };
    }
    case Kind.Data: {
      const [, , , seq, flags, lens, want] = h;
      const body = joinBody(parts);
      if (
        body === undefined || !isUint(seq) || seq < 1 || !isUint(flags) ||
        !isUintArray(lens) || lens.length === 0 || !isUint(want)
      ) {
        return fail(Refusal.Fields, `data needs seq >= 1, flags, lens[], want and a body of 1 to ${MAX_BODY_PARTS} frames`);
      }
      // A message over maxMessageSize is refused on its own (with a nak), not the whole frame.
      let total = 0;
      for (const len of lens) total += len;
      if (total !== body.length) return fail(Refusal.Size, `lens add up to ${total}, body has ${body.length} bytes`);
      return { ok: true, frame: { kind, mailbox, seq, flags, lens, want, body } };
    }
    case Kind.Ack: {
      // `max`, the owner's maxMessageSize, came later: an ack without it sets no limit.
      const [, , , rid, stored, taken, limit, resend, max = Number.MAX_SAFE_INTEGER] = h;
      if (
        parts.length !== 1 || !isName(rid) || !isUint(stored) || !isUint(taken) || !isUint(limit) ||
        typeof resend !== "boolean" || !isUint(max)
      ) {
        return fail(Refusal.Fields, "ack needs rid, stored, taken, limit, resend (and max)");
      }
      return { ok: true, frame: { kind, mailbox, rid, stored, taken, limit, resend, max } };
    }
    case Kind.Nak: {
      const [, , , rid, code, message, seq = 0] = h;
      if (parts.length !== 1 || !isName(rid) || typeof code !== "string" || typeof message !== "string" || !isUint(seq)) {
        return fail(Refusal.Fields, "nak needs rid, code, message (and seq for BAD_MESSAGE)");
      }
      return { ok: true, frame: { kind, mailbox, rid, code, message, seq } };
    }
    case Kind.Pull: {
      const [, , , window, epoch, rid, seen, held] = h;
      if (parts.length !== 1 || !isUint(window) || !isUint(epoch) || typeof rid !== "string" || !isUint(seen) || !isUintArray(held)) {
        return fail(Refusal.Fields, "pull needs window, epoch, rid, seen, held[]");
      }
      return { ok: true, frame: { kind, mailbox, window, epoch, rid, seen, held } };
    }
    case Kind.Deliver: {
      const [, , , rid, epoch, id, flags, attempt = 1, mid = ""] = h;
      const body = joinBody(parts);
      if (
        body === undefined || !isName(rid) || !isUint(epoch) || !isUint(id) || !isUint(flags) ||
        !isUint(attempt) || attempt < 1 || typeof mid !== "string" || mid.length > 400
      ) {
        return fail(Refusal.Fields, `deliver needs rid, epoch, id, flags (and attempt >= 1, message id) and a body of 1 to ${MAX_BODY_PARTS} frames`);
      }
      if (body.length > maxMessageSize) return fail(Refusal.Size, `message of ${body.length} bytes exceeds ${maxMessageSize}`);
      return { ok: true, frame: { kind, mailbox, rid, epoch, id, flags, attempt, mid, body } };
    }
    case Kind.Lease: {
      const [, , , rid, ids, ms] = h;
      if (parts.length !== 1 || typeof rid !== "string" || !isUintArray(ids) || !isUint(ms)) return fail(Refusal.Fields, "lease needs rid, ids[], ms");
      return { ok: true, frame: { kind, mailbox, rid, ids, ms } };
    }
    case Kind.Settle: {
      const [, , , rid, op, ids, delay = 0] = h;
      if (parts.length !== 1 || typeof rid !== "string" || (op !== SettleOp.Ack && op !== SettleOp.Nack) || !isUintArray(ids) || !isUint(delay)) {
        return fail(Refusal.Fields, 'settle needs rid, op ("ack" or "nack"), ids[] (and delay)');
      }
      return { ok: true, frame: { kind, mailbox, rid, op, ids, delay } };
    }
    case Kind.Taken:
    case Kind.Release: {
      const [, , , rid, ids] = h;
      if (parts.length !== 1 || typeof rid !== "string" || !isUintArray(ids)) return fail(Refusal.Fields, `${kind} needs rid, ids[]`);
      return { ok: true, frame: { kind, mailbox, rid, ids } };
    }
    default:
      return fail(Refusal.Kind, `unknown kind ${JSON.stringify(kind).slice(0, 40)}`);
  }
}
