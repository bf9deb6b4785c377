/**
 * CURVE security: every connection encrypted and authenticated by key pair (ZeroMQ RFC 26),
 * an allow-list of client keys enforced by our own ZAP handler (RFC 27; zeromq.js ships none),
 * and the binding of each Router routing id to the key that made it (PROTOCOL.md section 11).
 *
 * Why the binding: the owner's Router sees only a frame's routing id, never the CURVE key of
 * the connection it came on (zeromq.js does not expose the ZAP `User-Id` message property, and
 * the ZAP request does not carry the client's routing id). So a client names its key in its
 * routing id, and proves it there:
 *
 *   routing id = <client public key, z85, 40 chars> "." <incarnation id> "." <n> "." <tag>
 *   tag        = base64url(HMAC-SHA256(X25519(client secret, server public), "zmbox-rid\n" + prefix))[0..22]
 *
 * The owner computes the same X25519 secret from its own secret key and the client public key
 * the routing id names, and checks the tag. Only the holder of that client secret key (or the
 * owner) can make a valid tag for that server, and the routing id travels only inside the
 * CURVE-encrypted handshake, so no one else can present it. A frame whose routing id does not
 * check, or names a key that is not (or no longer) on the allow-list, is dropped.
 */
import { createHmac, createPrivateKey, createPublicKey, diffieHellman, timingSafeEqual, type KeyObject } from "node:crypto";
import * as zmq from "zeromq";
import { describe, isPlainObject } from "./check.js";
import { InvalidArgumentError } from "./errors.js";
import { Refusal } from "./wire.js";

/** CURVE options of {@link Runtime.start} (`curve`). */
export interface CurveOptions {
  /** This runtime's public key, z85 (40 characters), from `zmbox-keygen` or `generateKeyPair()`. */
  publicKey: string;
  /** This runtime's secret key, z85 (40 characters). Keep it out of logs and source control. */
  secretKey: string;
  /**
   * The public keys of the runtimes this one sends to or receives from, by endpoint exactly as
   * addresses spell it (`"tcp://10.0.0.5:7001"`). More can be added with `runtime.setPeerKey`.
   * A send to an endpoint with no key rejects. This runtime's own endpoint needs none.
   * @default {}
   */
  peers?: Record<string, string>;
  /**
   * The public keys of the clients (other runtimes) admitted to connect to this one. This
   * runtime's own key is always admitted. Change it while running with `runtime.allow(key)` and
   * `runtime.revoke(key)`.
   * @default []
   */
  allow?: readonly string[];
}

/** @internal Parsed {@link CurveOptions}. */
export interface ParsedCurveOptions {
  publicKey: string;
  secretKey: string;
  peers: Map<string, string>;
  allow: string[];
}

const Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;
const Z85_VALUE = new Map([...Z85].map((c, i) => [c, i]));

/** Decodes a z85 string (a multiple of 5 characters) to bytes. */
export function z85Decode(text: string): Buffer {
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let i = 0; i < text.length; i += 5) {
    let v = 0;
    for (let j = 0; j < 5; j++) v = v * 85 + Z85_VALUE.get(text[i + j]!)!;
    out.writeUInt32BE(v >>> 0, (i / 5) * 4);
  }
  return out;
}

/**
 * Throws unless `value` is a CURVE key in z85: 40 characters of the z85 alphabet (32 bytes).
 * @returns the key.
 */
export function checkKey(name: string, value: unknown): string {
  if (typeof value === "string" && Z85_KEY.test(value)) {
    // 40 z85 characters can spell more than 2^256: each group of 5 must fit in 32 bits.
    let fits = true;
    for (let i = 0; i < 40 && fits; i += 5) {
      let v = 0;
      for (let j = 0; j < 5; j++) v = v * 85 + Z85_VALUE.get(value[i + j]!)!;
      fits = v <= 0xffff_ffff;
    }
    if (fits) return value;
  }
  throw new InvalidArgumentError(`Expected \`${name}\` to be a CURVE key in z85 (40 characters, from zmbox-keygen), got ${describe(value)}`);
}

/** The X25519 private key object of a z85 secret key. */
function privateKey(secretKey: string): KeyObject {
  // PKCS#8 DER of an X25519 private key: a fixed 16-byte prefix, then the 32 key bytes.
  const der = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), z85Decode(secretKey)]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

function publicKeyObject(publicKey: string): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: z85Decode(publicKey).toString("base64url") }, format: "jwk" });
}

/** @internal Validates `curve` options. */
export function parseCurveOptions(options: unknown): ParsedCurveOptions | undefined {
  if (options === undefined) return undefined;
  if (!isPlainObject(options)) throw new InvalidArgumentError(`Expected \`curve\` to be an object { publicKey, secretKey, peers?, allow? }, got ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (!["publicKey", "secretKey", "peers", "allow"].includes(key)) {
      throw new InvalidArgumentError(`Unknown curve option \`${key}\`; expected one of \`publicKey\`, \`secretKey\`, \`peers\`, \`allow\``);
    }
  }
  const publicKey = checkKey("curve.publicKey", options.publicKey);
  const secretKey = checkKey("curve.secretKey", options.secretKey);
  const derived = createPublicKey(privateKey(secretKey)).export({ format: "jwk" }).x;
  if (derived !== z85Decode(publicKey).toString("base64url")) {
    throw new InvalidArgumentError("Expected `curve.publicKey` to be the public key of `curve.secretKey`; they are not a pair");
  }
  const peers = new Map<string, string>();
  if (options.peers !== undefined) {
    if (!isPlainObject(options.peers)) throw new InvalidArgumentError(`Expected \`curve.peers\` to be an object { endpoint: publicKey }, got ${describe(options.peers)}`);
    for (const [endpoint, key] of Object.entries(options.peers)) peers.set(endpoint, checkKey(`curve.peers[${JSON.stringify(endpoint)}]`, key));
  }
  const allow: string[] = [];
  if (options.allow !== undefined) {
    if (!Array.isArray(options.allow)) throw new InvalidArgumentError(`Expected \`curve.allow\` to be an array of public keys, got ${describe(options.allow)}`);
    options.allow.forEach((key: unknown, i: number) => allow.push(checkKey(`curve.allow[${i}]`, key)));
  }
  return { publicKey, secretKey, peers, allow };
}

/** A CURVE key pair in z85. */
export interface KeyPair {
  publicKey: string;
  secretKey: string;
}

/**
 * A new CURVE key pair in z85, for the `curve` runtime option (the `zmbox-keygen` command
 * prints one).
 * @example
 * const { publicKey, secretKey } = generateKeyPair();
 */
export function generateKeyPair(): KeyPair {
  const { publicKey, secretKey } = zmq.curveKeyPair();
  return { publicKey, secretKey };
}

/** Tag length in base64url characters (16 bytes of HMAC-SHA256 = 128 bits). */
const TAG_CHARS = 22;
/** Most routing ids remembered as checked; past it the cache starts again. */
const MAX_CHECKED = 10_000;

/** @internal Counters CURVE reports to its runtime. */
export interface CurveCounters {
  refused: Record<string, number>;
}

/**
 * @internal A runtime's CURVE state: its key pair, the allow-list, the peers' keys, the ZAP
 * handler and the routing-id check.
 */
export class Curve {
  readonly publicKey: string;
  readonly secretKey: string;
  /** Every socket of a secure runtime lives in this context: its ZAP handler serves only them. */
  readonly context: zmq.Context;
  readonly #private: KeyObject;
  readonly #allowed: Set<string>;
  /** Keys revoked and not allowed again: refused as clients and as servers. */
  readonly #revoked = new Set<string>();
  readonly #peers: Map<string, string>;
  /** Shared secrets by peer public key. */
  readonly #secrets = new Map<string, Buffer>();
  /** Routing ids checked (latin1) -> the key they proved, or "" for one that did not check. */
  readonly #checked = new Map<string, string>();
  readonly #zap: zmq.Reply;
  readonly #counters: CurveCounters;

  private constructor(o: ParsedCurveOptions, zap: zmq.Reply, context: zmq.Context, counters: CurveCounters) {
    this.publicKey = o.publicKey;
    this.secretKey = o.secretKey;
    this.context = context;
    this.#private = privateKey(o.secretKey);
    this.#allowed = new Set(o.allow);
    this.#peers = o.peers;
    this.#zap = zap;
    this.#counters = counters;
    void this.#serveZap();
  }

  /** Binds the ZAP handler in a new context; the runtime's sockets must be made after it. */
  static async start(o: ParsedCurveOptions, counters: CurveCounters): Promise<Curve> {
    const context = new zmq.Context();
    // RFC 27: the handler is a REP socket bound to inproc://zeromq.zap.01 in the sockets' context.
    const zap = new zmq.Reply({ context, linger: 0 });
    await zap.bind("inproc://zeromq.zap.01");
    return new Curve(o, zap, context, counters);
  }

  /** Whether a client with this key may connect and be heard. */
  admits(key: string): boolean {
    return key === this.publicKey || this.#allowed.has(key);
  }

  allow(key: string): void {
    this.#revoked.delete(key);
    this.#allowed.add(key);
  }

  revoke(key: string): void {
    if (key === this.publicKey) return;
    this.#allowed.delete(key);
    this.#revoked.add(key);
  }

  revoked(key: string): boolean {
    return this.#revoked.has(key);
  }

  setPeer(endpoint: string, key: string): void {
    this.#peers.set(endpoint, key);
  }

  /** The public key of the runtime at `endpoint`, if known (`self` is this runtime's endpoint). */
  peerKey(endpoint: string, self: string): string | undefined {
    return endpoint === self ? this.publicKey : this.#peers.get(endpoint);
  }

  /** The routing id this runtime presents to the server with key `serverKey`: see the file comment. */
  routingId(serverKey: string, suffix: string): string {
    const prefix = `${this.publicKey}.${suffix}`;
    return `${prefix}.${this.#tag(this.#secret(serverKey), prefix)}`;
  }

  /**
   * The admitted key a Router routing id proves, or undefined: the tag does not check, or the
   * key is not (or no longer) on the allow-list.
   */
  keyOf(routingId: Buffer): string | undefined {
    const id = routingId.toString("latin1");
    let key = this.#checked.get(id);
    if (key === undefined) {
      // No crypto (nor a cache entry) for a key that is not admitted anyway: a peer cannot make
      // the owner compute X25519 for keys of its choosing.
      if (!this.admits(id.slice(0, 40))) return undefined;
      key = this.#check(id);
      if (this.#checked.size >= MAX_CHECKED) this.#checked.clear();
      this.#checked.set(id, key);
    }
    return key !== "" && this.admits(key) ? key : undefined;
  }

  close(): void {
    this.#zap.close();
  }

  #check(id: string): string {
    const key = id.slice(0, 40);
    const dot = id.lastIndexOf(".");
    if (id[40] !== "." || dot <= 41 || !Z85_KEY.test(key)) return "";
    try {
      checkKey("key", key);
      const expected = Buffer.from(this.#tag(this.#secret(key), id.slice(0, dot)));
      const tag = Buffer.from(id.slice(dot + 1), "latin1");
      return tag.length === expected.length && timingSafeEqual(tag, expected) ? key : "";
    } catch {
      return "";
    }
  }

  #secret(key: string): Buffer {
    let secret = this.#secrets.get(key);
    if (secret === undefined) {
      secret = diffieHellman({ privateKey: this.#private, publicKey: publicKeyObject(key) });
      if (this.#secrets.size >= MAX_CHECKED) this.#secrets.clear();
      this.#secrets.set(key, secret);
    }
    return secret;
  }

  #tag(secret: Buffer, prefix: string): string {
    return createHmac("sha256", secret).update(`zmbox-rid\n${prefix}`).digest("base64url").slice(0, TAG_CHARS);
  }

  /**
   * RFC 27 requests: [version "1.0", request id, domain, address, identity, mechanism, ...credentials];
   * for CURVE the one credential is the client's 32-byte public key. Replies: [version, request
   * id, status code, status text, user id, metadata]. 200 admits, 400 refuses.
   */
  async #serveZap(): Promise<void> {
    try {
      for await (const request of this.#zap) {
        const [version, requestId, , , , mechanism, credential] = request;
        let status = "400";
        let text = "key not allowed";
        let user = "";
        if (version?.toString() !== "1.0") {
          text = "unsupported ZAP version";
        } else if (mechanism?.toString() !== "CURVE" || credential?.length !== 32) {
          text = "CURVE required";
        } else {
          user = encodeZ85(credential);
          if (this.admits(user)) {
            status = "200";
            text = "OK";
          }
        }
        if (status !== "200") this.#counters.refused[Refusal.Denied] = (this.#counters.refused[Refusal.Denied] ?? 0) + 1;
        await this.#zap.send([version ?? "1.0", requestId ?? "", status, text, status === "200" ? user : "", Buffer.alloc(0)]);
      }
    } catch {
      // The context closed with the runtime.
    }
  }
}

/** Encodes bytes (a multiple of 4) as z85. */
export function encodeZ85(bytes: Uint8Array): string {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = "";
  for (let i = 0; i < view.length; i += 4) {
    let v = view.readUInt32BE(i);
    const chunk: string[] = [];
    for (let j = 0; j < 5; j++) {
      chunk.unshift(Z85[v % 85]!);
      v = Math.floor(v / 85);
    }
    out += chunk.join("");
  }
  return out;
}
