import { checkEndpoint } from "./address.js";
import { checkInteger, checkOptions, checkSignal, describe } from "./check.js";
import type { LogFs } from "@zmbox/log";
import { InvalidArgumentError } from "./errors.js";
import { checkKey, parseCurveOptions, type CurveOptions, type ParsedCurveOptions } from "./curve.js";

/** When `send` resolves. See {@link SendOptions.until}. */
export const Until = {
  /** The message is in this runtime's outbox (bounded); it will be forwarded as credit allows. */
  Queued: "queued",
  /** The destination runtime acknowledged that the message is in the mailbox. */
  Stored: "stored",
  /** A receiver has taken the message from the mailbox. */
  Received: "received",
} as const;
export type Until = (typeof Until)[keyof typeof Until];

/** Options of {@link Runtime.start}. */
export interface RuntimeOptions {
  /**
   * Where the runtime's Router binds: `tcp://host:port` (port 0 picks a free port),
   * `ipc://path` or `inproc://name`. The bound address is `runtime.endpoint`.
   * @default "tcp://127.0.0.1:0"
   */
  endpoint?: string;
  /**
   * How long a `send` waits, in ms, when its own options give no `timeout`.
   * `Infinity` waits for ever.
   * @default 30000
   */
  sendTimeout?: number;
  /**
   * Largest encoded message, in bytes. Larger sends reject with `MessageTooLargeError`;
   * larger frames from peers are cut at the socket.
   * @default 4194304 (4 MiB)
   */
  maxMessageSize?: number;
  /**
   * Messages this runtime holds per destination mailbox before they are acknowledged as
   * stored. A `send` waits while its destination's outbox is full.
   * @default 4096
   */
  outboxCapacity?: number;
  /**
   * Most messages carried by one ZeroMQ send.
   * @default 1024
   */
  batchSize?: number;
  /**
   * A sender channel that uses none of its credit for this long loses it, which goes to
   * other senders; it asks again when it has something to send.
   * @default 5000
   */
  creditLease?: number;
  /**
   * How often a sender that waits for an acknowledgement or for credit asks the receiver
   * where things stand (and re-sends what a broken connection lost), in ms.
   * @default 1000
   */
  probeInterval?: number;
  /**
   * ZeroMQ heartbeat interval in ms; a peer silent for 3 intervals is dropped and reconnected.
   * @default 1000
   */
  heartbeatInterval?: number;
  /**
   * Most messages a remote receiver (`receive` on another runtime's mailbox) holds that it
   * has not yet taken.
   * @default 16
   */
  receiveWindow?: number;
  /**
   * The owner of a mailbox takes back the messages it handed to a remote receiver that has
   * been silent this long, in ms, and gives them to other receivers.
   * @default 5000
   */
  receiverTimeout?: number;
  /**
   * How long `close()` waits for queued messages to be stored at their destinations, in ms.
   * @default 2000
   */
  drainTimeout?: number;
  /**
   * A directory for the log of this runtime's durable mailboxes (`mailbox(name, { durable:
   * true })`). It must exist and be writable, and only one running runtime may use it (its
   * `LOCK` file); the log is the file `mailboxes.log` in it. Started again on the same
   * directory, the runtime takes back what its durable mailboxes held.
   * @default none: the runtime cannot own durable mailboxes
   * @example
   * const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:7001", dataDir: "/var/lib/jobs" });
   * const jobs = rt.mailbox("jobs", { durable: true });
   */
  dataDir?: string;
  /**
   * The file system `dataDir` is on. Tests pass a `MemoryFs` from `@zmbox/log`, which loses
   * what was not synced when it "crashes".
   * @default the real one
   */
  dataFs?: LogFs;
  /**
   * Called once if the runtime fails: the log of its durable mailboxes could not be written or
   * synced. The runtime has then stopped, and every call pending on it rejected with
   * `RuntimeFailedError`. A process that cannot go on without it should exit here, so that its
   * supervisor restarts it and it recovers from the log. Not called for `close()`. See also
   * `runtime.closed`.
   */
  onFailed?: (error: Error) => void;
  /**
   * CURVE encryption and authentication for every connection, to and from this runtime: its
   * key pair, the keys of the runtimes it connects to (`peers`, by endpoint) and the client
   * keys it admits (`allow`). Without it, connections are plaintext and anyone who can reach
   * the endpoint can use every mailbox. Needs a `tcp://` or `ipc://` endpoint.
   * @default undefined (plaintext)
   * @example
   * const rt = await Runtime.start({
   *   endpoint: "tcp://0.0.0.0:7001",
   *   curve: { publicKey, secretKey, peers: { "tcp://10.0.0.6:7001": otherPublicKey }, allow: [otherPublicKey] },
   * });
   */
  curve?: CurveOptions;
  /**
   * Most peers (other runtimes, by routing id) this runtime serves as an owner at once: a
   * `hello` or `pull` from one more is refused (`LimitExceededError` at its sender) and counted
   * in `stats().refused.peers`. A peer counts while it has a channel or a remote receiver here.
   * @default 10000
   */
  maxPeers?: number;
  /**
   * Most channels (sender channels and remote receivers, one per mailbox) one peer may have at
   * this runtime: one more is refused (`LimitExceededError` at its sender) and counted in
   * `stats().refused.channels`.
   * @default 1000
   */
  maxChannelsPerPeer?: number;
}

export const DEFAULT_ENDPOINT = "tcp://127.0.0.1:0";
export const DEFAULT_SEND_TIMEOUT = 30_000;
export const DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024;
export const DEFAULT_OUTBOX_CAPACITY = 4096;
export const DEFAULT_BATCH_SIZE = 1024;
export const DEFAULT_CREDIT_LEASE = 5000;
export const DEFAULT_PROBE_INTERVAL = 1000;
export const DEFAULT_HEARTBEAT_INTERVAL = 1000;
export const DEFAULT_DRAIN_TIMEOUT = 2000;
export const DEFAULT_MAX_PEERS = 10_000;
export const DEFAULT_MAX_CHANNELS_PER_PEER = 1000;
export const DEFAULT_RECEIVE_WINDOW = 16;
export const DEFAULT_RECEIVER_TIMEOUT = 5000;
export const DEFAULT_CAPACITY = 1000;
export const DEFAULT_LEASE = 30_000;
export const DEFAULT_MAX_ATTEMPTS = 5;

export type ParsedRuntimeOptions = Required<Omit<RuntimeOptions, "dataDir" | "dataFs" | "onFailed" | "curve">> & {
  dataDir: string | undefined;
  dataFs: LogFs | undefined;
  onFailed: ((error: Error) => void) | undefined;
  curve: ParsedCurveOptions | undefined;
};

/** Options of {@link Runtime.mailbox}. */
export interface MailboxOptions {
  /**
   * Most messages the mailbox holds, counting those granted as credit to senders.
   * @default 1000
   */
  capacity?: number;
  /**
   * Attempts a message taken with `receive({ ack: "manual" })` gets: when the last one is
   * nacked or its lease runs out, the message goes to `deadLetter`. Needs `deadLetter` (a
   * message is never dropped): without one, messages are delivered again for as long as
   * receivers give them back.
   * @default 5 with `deadLetter`, else Infinity
   */
  maxAttempts?: number;
  /**
   * Where a message goes after `maxAttempts` failed attempts: the name of a mailbox of this
   * runtime, or a `name@endpoint` address. It gets `{ reason: "max-attempts", attempts,
   * mailbox, id, value }` (`bytes` instead of `value` for a message sent as raw bytes).
   */
  deadLetter?: string;
  /**
   * Keep the mailbox's messages on stable storage, in the runtime's `dataDir`: a `"stored"`
   * send resolves once its message is on disk (fdatasync, one for all that arrived together),
   * and after a crash and a restart on the same directory the mailbox holds every message that
   * was stored and not yet taken, in order. Needs the runtime's `dataDir`.
   * @default false
   */
  durable?: boolean;
  /**
   * With CURVE: the public keys of the runtimes that may send to this mailbox. Others are
   * refused (`FORBIDDEN` nak, counted in `stats().refused.forbidden`); this runtime itself
   * always may. Ignored without CURVE.
   * @default every admitted key
   */
  senders?: readonly string[];
  /**
   * With CURVE: the public keys of the runtimes that may receive from this mailbox remotely.
   * This runtime's own receivers always may. Ignored without CURVE.
   * @default every admitted key
   */
  receivers?: readonly string[];
}

/** Options of `send`. */
export interface SendOptions {
  /**
   * When `send` resolves: `"queued"` (in this runtime's bounded outbox), `"stored"` (the
   * destination acknowledged it is in the mailbox) or `"received"` (a receiver took it).
   * @default "stored"
   */
  until?: Until;
  /**
   * Most ms to wait for the `until` point. `Infinity` waits for ever.
   * @default the runtime's `sendTimeout` (30000)
   */
  timeout?: number;
  /** Aborts the wait; the send rejects with `AbortedError`. */
  signal?: AbortSignal;
  /**
   * For `until: "queued"` only: called (on a later microtask) if the message turns out to be
   * undeliverable after `send` returned: the mailbox does not exist or was closed
   * (`NoSuchMailboxError`), or the owner refused the message (`MessageRefusedError`). Such a
   * message is counted in `stats().undeliverable` either way. With it, a sender learns of a
   * missing mailbox without waiting for every send to be acknowledged. An exception the callback
   * throws is not caught (it is reported as uncaught, as from an event listener).
   */
  onUndeliverable?: (error: Error) => void;
}

/** Options of `receive` and `receiveInto`. */
export interface ReceiveOptions {
  /**
   * Most ms to wait for a message.
   * @default Infinity
   */
  timeout?: number;
  /** Aborts the wait; the receive rejects with `AbortedError`. */
  signal?: AbortSignal;
  /**
   * `"auto"`: the message is the receiver's once `receive` returns it. `"manual"`: `receive`
   * resolves with a {@link Delivery}; the message stays in the mailbox until `delivery.ack()`,
   * and comes back for another attempt on `nack()` or when the lease runs out. Local mailboxes
   * only (not yet for remote receivers), and not for `receiveInto`.
   * @default "auto"
   */
  ack?: "auto" | "manual";
  /**
   * With `ack: "manual"`: ms the receiver has to ack (or `extend`) before the message is
   * delivered again.
   * @default 30000
   */
  lease?: number;
}

/** Options of a `receive` that resolves with a {@link Delivery}. */
export type ManualReceiveOptions = ReceiveOptions & { ack: "manual" };

const RUNTIME_OPTIONS = [
  "endpoint", "sendTimeout", "maxMessageSize", "outboxCapacity", "batchSize", "creditLease", "probeInterval",
  "heartbeatInterval", "receiveWindow", "receiverTimeout", "drainTimeout", "maxPeers", "maxChannelsPerPeer", "dataDir", "dataFs", "onFailed", "curve",
] as const;
const MAILBOX_OPTIONS = ["capacity", "maxAttempts", "deadLetter", "durable", "senders", "receivers"] as const;
const SEND_OPTIONS = ["until", "timeout", "signal", "onUndeliverable"] as const;
const RECEIVE_OPTIONS = ["timeout", "signal", "ack", "lease"] as const;

/** Validates runtime options, filling defaults. */
export function parseRuntimeOptions(options: unknown): ParsedRuntimeOptions {
  const o = checkOptions(options, "runtime", RUNTIME_OPTIONS);
  return {
    endpoint: o.endpoint === undefined ? DEFAULT_ENDPOINT : checkEndpoint(o.endpoint),
    sendTimeout: checkInteger("sendTimeout", o.sendTimeout, DEFAULT_SEND_TIMEOUT, 0, true),
    maxMessageSize: checkInteger("maxMessageSize", o.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE, 1),
    outboxCapacity: checkInteger("outboxCapacity", o.outboxCapacity, DEFAULT_OUTBOX_CAPACITY, 1),
    batchSize: checkInteger("batchSize", o.batchSize, DEFAULT_BATCH_SIZE, 1),
    creditLease: checkInteger("creditLease", o.creditLease, DEFAULT_CREDIT_LEASE, 1),
    probeInterval: checkInteger("probeInterval", o.probeInterval, DEFAULT_PROBE_INTERVAL, 1),
    heartbeatInterval: checkInteger("heartbeatInterval", o.heartbeatInterval, DEFAULT_HEARTBEAT_INTERVAL, 1),
    receiveWindow: checkInteger("receiveWindow", o.receiveWindow, DEFAULT_RECEIVE_WINDOW, 1),
    receiverTimeout: checkInteger("receiverTimeout", o.receiverTimeout, DEFAULT_RECEIVER_TIMEOUT, 1),
    drainTimeout: checkInteger("drainTimeout", o.drainTimeout, DEFAULT_DRAIN_TIMEOUT, 0),
    maxPeers: checkInteger("maxPeers", o.maxPeers, DEFAULT_MAX_PEERS, 1),
    maxChannelsPerPeer: checkInteger("maxChannelsPerPeer", o.maxChannelsPerPeer, DEFAULT_MAX_CHANNELS_PER_PEER, 1),
    dataDir: checkDataDir(o.dataDir),
    dataFs: checkDataFs(o.dataFs),
    onFailed: checkFunction("onFailed", o.onFailed),
    curve: parseCurveOptions(o.curve),
  };
}

/** An optional list of CURVE public keys (`senders`, `receivers`). */
function checkKeys(name: string, value: unknown): Set<string> | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new InvalidArgumentError(`Expected \`${name}\` to be an array of CURVE public keys (z85), got ${describe(value)}`);
  return new Set(value.map((key: unknown, i: number) => checkKey(`${name}[${i}]`, key)));
}

function checkDataDir(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw new InvalidArgumentError(`Expected \`dataDir\` to be a directory path, got ${describe(value)}`);
  return value;
}

function checkDataFs(value: unknown): LogFs | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || typeof (value as LogFs).openAppend !== "function") {
    throw new InvalidArgumentError(`Expected \`dataFs\` to be a LogFs (a MemoryFs from @zmbox/log, say), got ${describe(value)}`);
  }
  return value as LogFs;
}

function checkFunction<F>(name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "function") throw new InvalidArgumentError(`Expected \`${name}\` to be a function, got ${describe(value)}`);
  return value as F;
}

/** Validates mailbox options, filling defaults. */
export function parseMailboxOptions(options: unknown): ParsedMailboxOptions {
  const o = checkOptions(options, "mailbox", MAILBOX_OPTIONS);
  const { deadLetter } = o;
  if (deadLetter !== undefined && (typeof deadLetter !== "string" || deadLetter === "")) {
    throw new InvalidArgumentError(`Expected \`deadLetter\` to be a mailbox name or a name@endpoint address, got ${describe(deadLetter)}`);
  }
  if (deadLetter === undefined && o.maxAttempts !== undefined && o.maxAttempts !== Infinity) {
    throw new InvalidArgumentError(`\`maxAttempts\` needs a \`deadLetter\` mailbox for the messages that use them all up, got none`);
  }
  return {
    capacity: checkInteger("capacity", o.capacity, DEFAULT_CAPACITY, 1),
    maxAttempts: checkInteger("maxAttempts", o.maxAttempts, deadLetter === undefined ? Infinity : DEFAULT_MAX_ATTEMPTS, 1, true),
    deadLetter,
    durable: checkBoolean("durable", o.durable),
    senders: checkKeys("senders", o.senders),
    receivers: checkKeys("receivers", o.receivers),
  };
}

function checkBoolean(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw new InvalidArgumentError(`Expected \`${name}\` to be a boolean, got ${describe(value)}`);
  return value;
}

export interface ParsedMailboxOptions {
  durable: boolean;
  capacity: number;
  maxAttempts: number;
  deadLetter: string | undefined;
  senders: Set<string> | undefined;
  receivers: Set<string> | undefined;
}

export interface ParsedSendOptions {
  until: Until;
  timeout: number;
  signal: AbortSignal | undefined;
  onUndeliverable: ((error: Error) => void) | undefined;
}

/** Validates send options, filling defaults. */
export function parseSendOptions(options: unknown, defaultTimeout: number): ParsedSendOptions {
  if (options === undefined) return { until: "stored", timeout: defaultTimeout, signal: undefined, onUndeliverable: undefined };
  const o = checkOptions(options, "send", SEND_OPTIONS);
  const until = o.until ?? "stored";
  if (until !== "queued" && until !== "stored" && until !== "received") {
    throw new InvalidArgumentError(`Expected \`until\` to be "queued", "stored" or "received", got ${describe(until)}`);
  }
  const { onUndeliverable } = o;
  if (onUndeliverable !== undefined) {
    if (typeof onUndeliverable !== "function") {
      throw new InvalidArgumentError(`Expected \`onUndeliverable\` to be a function, got ${describe(onUndeliverable)}`);
    }
    if (until !== "queued") {
      throw new InvalidArgumentError(`\`onUndeliverable\` is for until: "queued" sends; a "${until}" send rejects instead`);
    }
  }
  return {
    until,
    timeout: checkInteger("timeout", o.timeout, defaultTimeout, 0, true),
    signal: checkSignal("signal", o.signal),
    onUndeliverable: onUndeliverable as ((error: Error) => void) | undefined,
  };
}

export interface ParsedReceiveOptions {
  timeout: number;
  signal: AbortSignal | undefined;
  /** `ack: "manual"`. */
  manual: boolean;
  lease: number;
}

const NO_RECEIVE_OPTIONS: ParsedReceiveOptions = Object.freeze({ timeout: Infinity, signal: undefined, manual: false, lease: DEFAULT_LEASE });

/** Validates receive options, filling defaults. */
export function parseReceiveOptions(options: unknown): ParsedReceiveOptions {
  if (options === undefined) return NO_RECEIVE_OPTIONS;
  const o = checkOptions(options, "receive", RECEIVE_OPTIONS);
  const { ack } = o;
  if (ack !== undefined && ack !== "auto" && ack !== "manual") {
    throw new InvalidArgumentError(`Expected \`ack\` to be "auto" or "manual", got ${describe(ack)}`);
  }
  const manual = ack === "manual";
  if (!manual && o.lease !== undefined) {
    throw new InvalidArgumentError(`\`lease\` is for ack: "manual" receives, got ack ${describe(ack)}`);
  }
  return {
    timeout: checkInteger("timeout", o.timeout, Infinity, 0, true),
    signal: checkSignal("signal", o.signal),
    manual,
    lease: checkInteger("lease", o.lease, DEFAULT_LEASE, 1, true),
  };
}
