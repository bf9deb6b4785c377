/**
 * Log framing. A log file starts with a header, then one frame per record:
 *
 * ```
 * header (16 bytes):  | magic "ZMBXLOG" (7) | version: u8 = 2 | salt: 8 random bytes |
 * each frame:         | length: u32 LE | crc32: u32 LE | payload: msgpack (length bytes) |
 *
 * crc32 = zlib.crc32(payload, zlib.crc32(salt ++ offset: u64 LE))
 * ```
 *
 * `offset` is where the frame starts in the file. The checksum covers where a record is, not
 * only what it says: a flipped bit fails it, and so does a block written at the wrong place, or
 * a stale block left from an earlier file (each compaction writes a new file with a new salt).
 * The payload is plain MessagePack (no record extension), so a log can be read from another
 * language.
 *
 * A frame is bad when it is cut short, has a zero or oversized length, a checksum mismatch or
 * an undecodable payload. What a bad frame means depends on what follows it (see
 * {@link decodeLog}): with no valid frame after it, it is a torn tail (a write cut by a crash,
 * which nobody was told was durable); with a valid frame after it, it is corruption.
 *
 * Version 1 files (no header; the checksum covers the payload alone) are still read, so that a
 * log written before the header existed opens; the log rewrites them as version 2 on open.
 */
import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { Packr } from "msgpackr";
import { RecordTooLargeError } from "./errors.js";

/** Bytes before each payload. */
export const FRAME_HEADER_BYTES = 8;
/** Bytes of the file header. */
export const FILE_HEADER_BYTES = 16;
/** Largest payload accepted, in bytes (a bigger length field is taken as a bad frame). */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;
/** The format this code writes. */
export const LOG_FORMAT_VERSION = 2;

const MAGIC = Buffer.from("ZMBXLOG", "latin1");
// Binary fields are read as copies, not views of the file's bytes: a log that compacts holds
// the records it read at open, and one such record would otherwise keep the whole file in memory.
const packr = new Packr({ useRecords: false, copyBuffers: true });

/** A fresh file header with a new random salt. */
export function newFileHeader(): Buffer {
  const header = Buffer.alloc(FILE_HEADER_BYTES);
  MAGIC.copy(header, 0);
  header[MAGIC.length] = LOG_FORMAT_VERSION;
  randomBytes(8).copy(header, 8);
  return header;
}

/** The salt of a file header (its last 8 bytes). */
export function saltOf(header: Uint8Array): Buffer {
  return Buffer.from(header.buffer, header.byteOffset + 8, 8);
}

/** Encodes a record's payload. @throws {RecordTooLargeError} */
export function encodePayload(value: unknown): Buffer {
  const payload = packr.pack(value);
  if (payload.length > MAX_RECORD_BYTES) throw new RecordTooLargeError(payload.length, MAX_RECORD_BYTES);
  return payload;
}

/** The checksum of a version 2 frame: the payload, seeded with the salt and the frame's offset. */
function frameCrc(salt: Uint8Array, offset: number, payload: Uint8Array): number {
  return crc32(payload, seedCrc(salt, offset));
}

/** CRC-32's table (zlib's polynomial), for {@link seedCrc}. */
const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

/**
 * The checksum of the salt and the offset (8 bytes, little-endian), which a version 2 frame's
 * checksum starts from: zlib's `crc32` of those 16 bytes, worked out here a byte at a time,
 * which for 16 bytes costs less than the call into zlib (and the BigInt) it replaces.
 */
function seedCrc(salt: Uint8Array, offset: number): number {
  let c = -1;
  for (let i = 0; i < 8; i++) c = CRC_TABLE[(c ^ salt[i]!) & 0xff]! ^ (c >>> 8);
  let lo = offset >>> 0;
  let hi = Math.floor(offset / 0x100000000);
  for (let i = 0; i < 4; i++, lo >>>= 8) c = CRC_TABLE[(c ^ lo) & 0xff]! ^ (c >>> 8);
  for (let i = 0; i < 4; i++, hi >>>= 8) c = CRC_TABLE[(c ^ hi) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function decodes(payload: Uint8Array): boolean {
  try {
    packr.unpack(payload);
    return true;
  } catch {
    return false;
  }
}

/** Writes the frame of `payload`, to start at `offset` of a file with `salt`, into `out` at `at`. */
export function writeFrame(out: Buffer, at: number, payload: Uint8Array, salt: Uint8Array, offset: number): void {
  out.writeUInt32LE(payload.length, at);
  out.writeUInt32LE(frameCrc(salt, offset, payload), at + 4);
  out.set(payload, at + FRAME_HEADER_BYTES);
}

/**
 * Encodes one record as a version 2 frame that starts at `offset` of a file with `salt`.
 * @throws {RecordTooLargeError}
 */
export function encodeFrame(value: unknown, salt: Uint8Array, offset: number): Buffer {
  const payload = encodePayload(value);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  writeFrame(frame, 0, payload, salt, offset);
  return frame;
}

/** One decoded frame and where its bytes are. */
export interface Frame {
  readonly value: unknown;
  readonly offset: number;
  readonly bytes: number;
  /** The payload's bytes (a view into the data read). */
  readonly payload: Uint8Array;
}

/** Damage that a crash cannot explain: a bad frame with valid frames after it, or a last frame damaged in place. */
export interface Corruption {
  /** Where the first bad frame starts. */
  readonly offset: number;
  /** Where the first valid frame after it starts, if one does. */
  readonly nextValidOffset?: number;
  /** Valid frames from `nextValidOffset` on, read one after another (0 when none follows). */
  readonly validAfter: number;
  /** What is wrong, in words. */
  readonly reason: string;
}

/** What a log file holds. */
export interface DecodedLog {
  /** 1 (no header) or 2; 0 for an empty file. */
  readonly version: number;
  /** The salt of a version 2 file (empty otherwise). */
  readonly salt: Uint8Array;
  /** The valid frames before the first bad one. */
  readonly frames: Frame[];
  /** Where the valid prefix ends. */
  readonly validBytes: number;
  /** Where the data ends: the zeros after it are preallocated space, not a tail. */
  readonly dataBytes: number;
  /** Present when a bad frame has valid frames after it: the file is corrupt, not torn. */
  readonly corruption?: Corruption;
  /** Present when the file header itself is bad: nothing in the file can be trusted. */
  readonly badHeader?: string;
}

/**
 * Decodes a log file: the valid frames up to the first bad one, and whether any valid frame
 * follows that bad one (then the file is corrupt; otherwise what follows the valid prefix is a
 * torn tail).
 */
export function decodeLog(data: Uint8Array): DecodedLog {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const empty = { version: 0, salt: Buffer.alloc(0), frames: [], validBytes: 0, dataBytes: 0 };
  if (endOfData(buf, 0) === 0) return empty;
  if (hasMagic(buf)) {
    // Shorter than a header: its first write was cut by a crash, before any record.
    if (buf.length < FILE_HEADER_BYTES) return empty;
    const version = buf[MAGIC.length]!;
    if (version !== LOG_FORMAT_VERSION) {
      return { ...empty, version, dataBytes: endOfData(buf, 0), badHeader: `unknown log format version ${version}` };
    }
    return scan(buf, FILE_HEADER_BYTES, 2, saltOf(buf));
  }
  if (buf.length < MAGIC.length && MAGIC.subarray(0, buf.length).equals(buf)) return empty;
  const v1 = scan(buf, 0, 1, Buffer.alloc(0));
  if (v1.frames.length === 0 && v1.corruption === undefined) {
    // Neither a header nor a record where the file starts: unless this is a version 1 log cut
    // inside its first record, the header was damaged.
    const length = buf.length >= 4 ? buf.readUInt32LE(0) : 0;
    const tornV1 = length > 0 && length <= MAX_RECORD_BYTES && FRAME_HEADER_BYTES + length > buf.length;
    if (!tornV1) return { ...v1, badHeader: "the file does not start with a log header" };
  }
  return v1;
}

function hasMagic(buf: Buffer): boolean {
  return buf.length >= MAGIC.length && buf.subarray(0, MAGIC.length).equals(MAGIC);
}

/** The frame at `offset`, if it is valid. */
function frameAt(buf: Buffer, offset: number, end: number, version: number, salt: Uint8Array): Frame | undefined {
  if (end - offset < FRAME_HEADER_BYTES) return undefined;
  const length = buf.readUInt32LE(offset);
  const stop = offset + FRAME_HEADER_BYTES + length;
  if (length === 0 || length > MAX_RECORD_BYTES || stop > end) return undefined;
  const payload = buf.subarray(offset + FRAME_HEADER_BYTES, stop);
  const expected = version === 1 ? crc32(payload) : frameCrc(salt, offset, payload);
  if (expected !== buf.readUInt32LE(offset + 4)) return undefined;
  let value: unknown;
  try {
    value = packr.unpack(payload);
  } catch {
    return undefined;
  }
  return { value, offset, bytes: stop - offset, payload };
}

function scan(buf: Buffer, start: number, version: number, salt: Uint8Array): DecodedLog {
  const end = buf.length;
  const frames: Frame[] = [];
  let offset = start;
  for (let frame = frameAt(buf, offset, end, version, salt); frame !== undefined; frame = frameAt(buf, offset, end, version, salt)) {
    frames.push(frame);
    offset += frame.bytes;
  }
  // Zeros after the last frame are preallocated space (a frame's length field is never zero).
  const dataBytes = endOfData(buf, offset);
  const result = { version, salt, frames, validBytes: offset, dataBytes };
  if (offset >= dataBytes) return result;
  // A bad frame. Look for a valid frame anywhere after it: its length field may be the damaged
  // part, so every later position is a candidate. A version 2 frame's checksum covers its
  // offset, so a match at the wrong place is a 1 in 2^32 chance, not a stray payload.
  for (let at = offset + 1; at < dataBytes; at++) {
    const next = frameAt(buf, at, end, version, salt);
    if (next === undefined) continue;
    let validAfter = 0;
    for (let f: Frame | undefined = next; f !== undefined; f = frameAt(buf, f.offset + f.bytes, end, version, salt)) validAfter++;
    const reason = `a bad record is followed by ${validAfter} valid record${validAfter === 1 ? "" : "s"}`;
    return { ...result, corruption: { offset, nextValidOffset: at, validAfter, reason } };
  }
  // The last frame is bad. A write cut by a crash leaves a frame that runs past the end of the
  // data (the rest is missing, or still the preallocated zeros): that is a torn tail. A frame
  // that is all there but does not check was damaged after it was written.
  const damage = lastFrameDamage(buf, offset, dataBytes, version, salt);
  return damage === undefined ? result : { ...result, corruption: { offset, validAfter: 0, reason: damage } };
}

/** Why the last, bad frame at `offset` is damage rather than a torn write, or `undefined` if it may be torn. */
function lastFrameDamage(buf: Buffer, offset: number, dataBytes: number, version: number, salt: Uint8Array): string | undefined {
  if (dataBytes - offset < FRAME_HEADER_BYTES) return undefined;
  const length = buf.readUInt32LE(offset);
  const stop = offset + FRAME_HEADER_BYTES + length;
  const plausible = length > 0 && length <= MAX_RECORD_BYTES;
  // Its last byte is the last byte of data: the whole record is there, and is wrong.
  if (plausible && stop === dataBytes) return "the last record is complete but does not match its checksum";
  if (plausible && stop < dataBytes) return "the last record is followed by bytes that are no record";
  // Runs past the data, or a length of 0: torn, unless the length field is what was damaged and
  // the record itself is whole: some length gives a payload that matches the checksum (what a
  // crash leaves after a whole record is part of the next one, never a whole record's
  // checksum). Every end is tried, the checksum carried along a byte at a time.
  const stored = buf.readUInt32LE(offset + 4);
  const start = offset + FRAME_HEADER_BYTES;
  const last = Math.min(buf.length, dataBytes + 16, start + MAX_RECORD_BYTES);
  let crc = version === 1 ? 0 : seedCrc(salt, offset);
  for (let at = start; at < last; at++) {
    crc = crc32(buf.subarray(at, at + 1), crc);
    if (crc === stored && decodes(buf.subarray(start, at + 1))) return "the last record's length field is damaged";
  }
  return undefined;
}

/**
 * Decodes the valid frames of a version 2 log's records region. Kept for tools and tests that
 * look at frames directly; {@link decodeLog} reads a whole file.
 */
export function decodeFrames(data: Uint8Array): { frames: Frame[]; validBytes: number } {
  const { frames, validBytes } = decodeLog(data);
  return { frames, validBytes };
}

/**
 * Where the data in a log file ends: after its last byte that is not zero. The file system log
 * preallocates space filled with zeros; those are not a torn tail.
 */
export function endOfData(data: Uint8Array, from: number): number {
  let end = data.length;
  while (end > from && data[end - 1] === 0) end--;
  return end;
}

/**
 * A whole log file holding `values` in order, as `StableLog` writes it (a header with a new
 * salt, then a frame per record). For tools and tests that make a log without a `StableLog`.
 * @throws {RecordTooLargeError}
 */
export function encodeLogFile(values: readonly unknown[]): Buffer {
  const header = newFileHeader();
  const salt = saltOf(header);
  const parts: Buffer[] = [header];
  let offset = FILE_HEADER_BYTES;
  for (const value of values) {
    const frame = encodeFrame(value, salt, offset);
    parts.push(frame);
    offset += frame.length;
  }
  return Buffer.concat(parts);
}
