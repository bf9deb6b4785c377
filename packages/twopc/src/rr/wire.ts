/**
 * The request-response envelopes: plain MessagePack maps, so a client or server in another
 * language can speak them over the mailbox protocol.
 *
 *   client                                        server mailbox
 *     | send({ type: "request", clientId, requestId, replyTo, body }) -->  |
 *     |                                     receive -> reply cache -> handler
 *     | <-- send({ type: "reply", clientId, requestId, ok: true, body })   |  to replyTo
 *     | <-- send({ type: "reply", clientId, requestId, ok: false,          |
 *     |             error: { name, message, code? } })                     |
 *
 * `clientId` is random per client instance (a restarted client at the same address gets a
 * new one), `requestId` counts up from 1 per client and is the same on every retry of a
 * request: together they key the server's reply cache. A `body` of `undefined` is left out.
 */
import { isAddress, isPlainObject } from "./check.js";
import type { ErrorInfo } from "./errors.js";

export interface RequestEnvelope {
  type: "request";
  clientId: string;
  requestId: number;
  /** The client's reply mailbox, `name@endpoint`. */
  replyTo: string;
  body?: unknown;
}

export type ReplyEnvelope =
  | { type: "reply"; clientId: string; requestId: number; ok: true; body?: unknown }
  | { type: "reply"; clientId: string; requestId: number; ok: false; error: ErrorInfo };

/** The `code` of the error reply to a message that is not a well-formed request. */
export const BAD_REQUEST = "ERR_BAD_REQUEST";

export function requestEnvelope(clientId: string, requestId: number, replyTo: string, body: unknown): RequestEnvelope {
  return body === undefined ? { type: "request", clientId, requestId, replyTo } : { type: "request", clientId, requestId, replyTo, body };
}

export function okReply(clientId: string, requestId: number, body: unknown): ReplyEnvelope {
  return body === undefined ? { type: "reply", clientId, requestId, ok: true } : { type: "reply", clientId, requestId, ok: true, body };
}

export function errorReply(clientId: string, requestId: number, error: ErrorInfo): ReplyEnvelope {
  return { type: "reply", clientId, requestId, ok: false, error };
}

const isId = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 1;
const isClientId = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= 200;

export type ParsedRequest =
  | { ok: true; request: RequestEnvelope }
  /** Not a request. `replyTo` (with ids) is set when the sender can still be told so. */
  | { ok: false; reason: string; replyTo: string | undefined; clientId: string; requestId: number };

/** Checks that a received message is a request; never throws. */
export function parseRequest(message: unknown): ParsedRequest {
  const m = isPlainObject(message) ? message : undefined;
  const replyTo = isAddress(m?.replyTo) ? m.replyTo : undefined;
  if (m === undefined) return bad("not a map", undefined);
  if (m.type !== "request") return bad('`type` is not "request"', m);
  if (!isClientId(m.clientId)) return bad("`clientId` is not a non-empty string", m);
  if (!isId(m.requestId)) return bad("`requestId` is not an integer from 1 and up", m);
  if (replyTo === undefined) return bad('`replyTo` is not a "name@endpoint" address', m);
  return { ok: true, request: m as unknown as RequestEnvelope };

  function bad(reason: string, fields: Record<string, unknown> | undefined): ParsedRequest {
    const clientId = isClientId(fields?.clientId) ? fields.clientId : "";
    const requestId = isId(fields?.requestId) ? fields.requestId : 0;
    return { ok: false, reason, replyTo, clientId, requestId };
  }
}

/** Checks that a received message is a reply; never throws. */
export function parseReply(message: unknown): ReplyEnvelope | undefined {
  if (!isPlainObject(message)) return undefined;
  const m = message;
  if (m.type !== "reply" || !isClientId(m.clientId) || !isId(m.requestId) || typeof m.ok !== "boolean") return undefined;
  if (m.ok) return m as unknown as ReplyEnvelope;
  const e = m.error;
  if (!isPlainObject(e) || typeof e.name !== "string" || typeof e.message !== "string") return undefined;
  if (e.code !== undefined && typeof e.code !== "string") return undefined;
  return m as unknown as ReplyEnvelope;
}
