export { StableLog, readLog, LOG_FILE_NAME, DEFAULT_COMPACT_MIN_BYTES, DEFAULT_COMPACT_RATIO } from "./log.js";
export { nodeFs, createNodeFs } from "./fs.js";
export { MemoryFs } from "./memory-fs.js";
export { encodeFrame, decodeFrames, FRAME_HEADER_BYTES, MAX_RECORD_BYTES } from "./frame.js";
export { LogFailedError, LogClosedError, RecordTooLargeError } from "./errors.js";

export type { LogOptions, AppendOptions, LogStats, OpenedLog, LogContents } from "./log.js";
export type { LogFs, LogFileHandle, NodeFsOptions } from "./fs.js";
export type { MemoryFsOptions, MemoryFsOp } from "./memory-fs.js";
export type { Frame, DecodedFrames } from "./frame.js";
