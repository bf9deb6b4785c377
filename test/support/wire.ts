// Speaking the mailbox protocol by hand (PROTOCOL.md): a bare Dealer as a sender or remote
// receiver, a bare Router as an owner, and the body of a data frame.
import * as zmq from "zeromq";
import { Packr } from "msgpackr";
import type { Teardown } from "./runtime.js";
import { eventually } from "./wait.js";

const packr = new Packr({ useRecords: false });

/** A hand-driven protocol client: a bare Dealer that speaks the frames of PROTOCOL.md. */
export class RawClient {
  readonly dealer: zmq.Dealer;
  readonly received: unknown[][] = [];
  #reading: Promise<void>;

  constructor(endpoint: string, routingId: string) {
    const dealer = new zmq.Dealer({ routingId, linger: 0 });
    this.dealer = dealer;
    dealer.connect(endpoint);
    this.#reading = (async () => {
      try {
        for await (const [head] of dealer) this.received.push(packr.unpack(head!) as unknown[]);
      } catch {
        // closed
      }
    })();
  }

  /** Sends a header array and optional body frame. */
  async send(header: unknown[], body?: Buffer): Promise<void> {
    await this.dealer.send(body === undefined ? [packr.pack(header)] : [packr.pack(header), body]);
  }

  /** Sends raw frames as they are. */
  async sendRaw(frames: Buffer[]): Promise<void> {
    await this.dealer.send(frames);
  }

  /**
   * Sends `header` (a hello) every 100 ms until `done()`, as a runtime's sender probes: one sent
   * right after the owner's process went away can go down with the old connection, before the
   * socket has noticed it and connected to the new one. Rejects after `ms` saying `what`.
   */
  async probe(header: unknown[], done: () => boolean, ms: number, what: string): Promise<void> {
    let next = 0;
    let failed: unknown;
    await eventually(() => {
      if (failed !== undefined) throw failed;
      if (done()) return true;
      if (performance.now() >= next) {
        next = performance.now() + 100;
        this.send(header).catch((error: unknown) => (failed = error));
      }
      return false;
    }, ms, `${what} (probing)`);
  }

  /** The last frame received of `kind`. */
  last(kind: string): unknown[] | undefined {
    for (let i = this.received.length - 1; i >= 0; i--) if (this.received[i]![1] === kind) return this.received[i];
    return undefined;
  }

  async close(): Promise<void> {
    this.dealer.close();
    await this.#reading;
  }
}

/** Encodes values the way a sender does: concatenated MessagePack payloads and their lengths. */
export function batch(values: unknown[]): { lens: number[]; body: Buffer } {
  const parts = values.map((v) => packr.pack(v));
  return { lens: parts.map((p) => p.length), body: Buffer.concat(parts) };
}

/** A frame a {@link RawOwner} received: who sent it, its decoded header and its body parts. */
export interface RawFrame {
  peer: Buffer;
  header: unknown[];
  body: Buffer[];
}

/** A hand-driven owner: a bare Router that records what senders and remote receivers send, and answers as the test says. */
export class RawOwner {
  readonly router: zmq.Router;
  readonly received: RawFrame[] = [];
  readonly endpoint: string;
  #reading: Promise<void>;

  private constructor(router: zmq.Router) {
    this.router = router;
    this.endpoint = router.lastEndpoint!;
    this.#reading = (async () => {
      try {
        for await (const [peer, head, ...body] of router) this.received.push({ peer: peer!, header: packr.unpack(head!) as unknown[], body });
      } catch {
        // closed
      }
    })();
  }

  /** Binds a Router on a free tcp port; the test closes it when it ends. */
  static async bind(t: Teardown): Promise<RawOwner> {
    const router = new zmq.Router({ linger: 0 });
    await router.bind("tcp://127.0.0.1:*");
    const owner = new RawOwner(router);
    t.teardown(() => owner.close());
    return owner;
  }

  /** The frames received of `kind`, oldest first. */
  frames(kind: string): RawFrame[] {
    return this.received.filter((f) => f.header[1] === kind);
  }

  /** Sends a header array (and an optional body) to `peer`. */
  async send(peer: Buffer, header: unknown[], body?: Buffer): Promise<void> {
    await this.router.send(body === undefined ? [peer, packr.pack(header)] : [peer, packr.pack(header), body]);
  }

  async close(): Promise<void> {
    this.router.close();
    await this.#reading;
  }
}
