export { Runtime, encodeMessage } from "./runtime.js";
export { Mailbox } from "./mailbox.js";
export { Delivery } from "./delivery.js";
export { parseAddress, formatAddress } from "./address.js";
export { Until } from "./options.js";
export { Refusal, NakCode, PROTOCOL_VERSION, EncodedMessage } from "./wire.js";
export { generateKeyPair, checkKey } from "./curve.js";
export {
  MailboxError,
  InvalidArgumentError,
  InvalidAddressError,
  NoSuchMailboxError,
  MailboxExistsError,
  TimeoutError,
  AbortedError,
  ClosedError,
  MailboxClosedError,
  ReceiverRestartedError,
  MessageTooLargeError,
  MessageRefusedError,
  BufferTooSmallError,
  EncodeError,
  RuntimeFailedError,
  ForbiddenError,
  LimitExceededError,
} from "./errors.js";
export { LogLockedError, LogCorruptError, LogFailedError } from "@zmbox/log";

export type { RuntimeStats, ChannelStats } from "./runtime.js";
export type { MailboxStats, DeadLetter } from "./mailbox.js";
export type { NackOptions } from "./delivery.js";
export type { MailboxAddress } from "./address.js";
export type { CurveOptions, KeyPair } from "./curve.js";
export type { RuntimeOptions, MailboxOptions, SendOptions, ReceiveOptions, ManualReceiveOptions } from "./options.js";
