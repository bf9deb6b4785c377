/**
 * Log framing. Each record is one frame:
 *
 * ```
 * +----------------+----------------+---------------------------+
 * | length: u32 LE | crc32: u32 LE  | payload: msgpack (length) |
 * +----------------+----------------+---------------------------+
 * ```
 *
 * `crc32` is `zlib.crc32(payload)`. The payload is plain MessagePack (no record extension), so
 * a log can be read from another language. A reader stops at the first frame that is cut short,
 * has a zero or oversized length, a CRC mismatch or undecodable bytes: everything from there is
 * a torn or corrupt tail.
 */
import { crc32 } from "node:zlib";
import { Packr } from "msgpackr";
import { RecordTooLargeError } from "./errors.js";

/** Bytes before each payload. */
export const FRAME_HEADER_BYTES = 8;
/** Largest payload accepted, in bytes (a bigger length field is taken as corruption). */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

const packr = new Packr({ useRecords: false });

/** Encodes one record as a frame. @throws {RecordTooLargeError} */
export function encodeFrame(value: unknown): Buffer {
  const payload = packr.pack(value);
  if (payload.length > MAX_RECORD_BYTES) throw new RecordTooLargeError(payload.length, MAX_RECORD_BYTES);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** One decoded frame and where its bytes are. */
export interface Frame {
  readonly value: unknown;
  readonly offset: number;
  readonly bytes: number;
}

/** The valid prefix of a log file. */
export interface DecodedFrames {
  readonly frames: Frame[];
  /** Length of the valid prefix; bytes after it are a torn or corrupt tail. */
  readonly validBytes: number;
}

/** Decodes frames from the start of `data` up to the first invalid one. */
export function decodeFrames(data: Uint8Array): DecodedFrames {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const frames: Frame[] = [];
  let offset = 0;
  while (buf.length - offset >= FRAME_HEADER_BYTES) {
    const length = buf.readUInt32LE(offset);
    const end = offset + FRAME_HEADER_BYTES + length;
    if (length === 0 || length > MAX_RECORD_BYTES || end > buf.length) break;
    const payload = buf.subarray(offset + FRAME_HEADER_BYTES, end);
    if (crc32(payload) !== buf.readUInt32LE(offset + 4)) break;
    let value: unknown;
    try {
      value = packr.unpack(payload);
    } catch {
      break;
    }
    frames.push({ value, offset, bytes: end - offset });
    offset = end;
  }
  return { frames, validBytes: offset };
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
