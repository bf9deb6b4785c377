/**
 * `@zmbox/twopc/rr`: everything of request-response. `serve`, `request` and `Client` as in
 * the main entry, plus the reply cache, the envelopes a server and a client exchange (for a
 * peer in another language), and the stats types.
 */
export { serve, Server } from "./rr/server.js";
export { Client, request } from "./rr/client.js";
export { RemoteError, RequestTimeoutError } from "./rr/errors.js";
export { ReplyCache } from "./rr/reply-cache.js";
export { BAD_REQUEST } from "./rr/wire.js";
export type { Handler, RequestContext, ServerStats } from "./rr/server.js";
export type { ClientStats } from "./rr/client.js";
export type { ErrorInfo } from "./rr/errors.js";
export type { ReplyCacheOptions, CacheHit } from "./rr/reply-cache.js";
export type { ServeOptions, ClientOptions, RequestOptions } from "./rr/options.js";
export type { RequestEnvelope, ReplyEnvelope, CompactRequest, CompactReply } from "./rr/wire.js";
