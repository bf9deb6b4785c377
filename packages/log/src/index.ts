export { StableLog, readLog, LOG_FILE_NAME, DEFAULT_COMPACT_MIN_BYTES, DEFAULT_COMPACT_RATIO } from "./log.js";
export { nodeFs, createNodeFs, LOCK_FILE_NAME } from "./fs.js";
export { MemoryFs } from "./memory-fs.js";
export { encodeFrame, encodeLogFile, decodeLog, decodeFrames, FRAME_HEADER_BYTES, FILE_HEADER_BYTES, MAX_RECORD_BYTES, LOG_FORMAT_VERSION } from "./frame.js";
export { LogFailedError, LogClosedError, LogCorruptError, LogLockedError, RecordTooLargeError } from "./errors.js";

export type { LogOptions, AppendOptions, LogStats, SyncHistogram, OpenedLog, LogContents, Salvage } from "./log.js";
export type { LogFs, LogFileHandle, NodeFsOptions } from "./fs.js";
export type { MemoryFsOptions, MemoryFsOp } from "./memory-fs.js";
export type { Frame, DecodedLog, Corruption } from "./frame.js";
