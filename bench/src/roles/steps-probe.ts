/**
 * The instrument of `bench/dist/steps.js`: marks in a process's memory, on the clock every process
 * on the machine shares (`performance.timeOrigin + performance.now()`), and zeromq.js's `send`
 * and `receive` wrapped to mark each call: a send when it was called and how long the call took, a
 * receive when its promise resolved. Kept in typed arrays (a ring of the last marks), so that
 * marking adds no garbage of its own.
 */
import * as zmq from "zeromq";

/** What a mark records. Router and Dealer are told apart: acks travel on the other socket. */
export const Mark = {
  Request: 0,
  Resolved: 1,
  Handler: 2,
  DealerSend: 3,
  RouterSend: 4,
  DealerReceive: 5,
  RouterReceive: 6,
} as const;
export type Mark = (typeof Mark)[keyof typeof Mark];

/** The marks of one process, oldest first: when (epoch ms), what, and a send call's length (ms). */
export interface Marks {
  t: number[];
  kind: number[];
  ms: number[];
}

export class Probe {
  readonly #t: Float64Array;
  readonly #kind: Uint8Array;
  readonly #ms: Float32Array;
  #n = 0;

  constructor(capacity: number) {
    this.#t = new Float64Array(capacity);
    this.#kind = new Uint8Array(capacity);
    this.#ms = new Float32Array(capacity);
  }

  mark(kind: Mark, t = now(), ms = 0): void {
    const i = this.#n++ % this.#t.length;
    this.#t[i] = t;
    this.#kind[i] = kind;
    this.#ms[i] = ms;
  }

  /** The marks kept, oldest first. */
  marks(): Marks {
    const size = Math.min(this.#n, this.#t.length);
    const out: Marks = { t: [], kind: [], ms: [] };
    for (let k = this.#n - size; k < this.#n; k++) {
      const i = k % this.#t.length;
      out.t.push(this.#t[i]!);
      out.kind.push(this.#kind[i]!);
      out.ms.push(this.#ms[i]!);
    }
    return out;
  }

  /** Wraps zeromq.js's send and receive (every socket of this process) to mark each call. */
  wrapZeromq(): void {
    const socket = Object.getPrototypeOf(zmq.Dealer.prototype) as object;
    const owner = (name: string): Record<string, unknown> => {
      for (let p: object | null = socket; p !== null; p = Object.getPrototypeOf(p) as object | null) {
        if (Object.hasOwn(p, name)) return p as Record<string, unknown>;
      }
      throw new Error(`zeromq.js has no ${name}`);
    };
    const sends = owner("send");
    const send = sends["send"] as (this: zmq.Socket, ...args: unknown[]) => unknown;
    const receives = owner("receive");
    const receive = receives["receive"] as (this: zmq.Socket) => Promise<unknown>;
    const probe = this;
    Object.defineProperty(sends, "send", {
      configurable: true,
      writable: true,
      value: function (this: zmq.Socket, ...args: unknown[]): unknown {
        const t = now();
        const result = send.apply(this, args);
        probe.mark(this instanceof zmq.Router ? Mark.RouterSend : Mark.DealerSend, t, now() - t);
        return result;
      },
    });
    Object.defineProperty(receives, "receive", {
      configurable: true,
      writable: true,
      value: function (this: zmq.Socket): Promise<unknown> {
        const kind = this instanceof zmq.Router ? Mark.RouterReceive : Mark.DealerReceive;
        return receive.call(this).then((parts) => {
          probe.mark(kind);
          return parts;
        });
      },
    });
  }
}

/** Calls `once`, marked where it starts and where its promise resolves. */
export function marked(probe: Probe, once: () => Promise<unknown>): Promise<unknown> {
  probe.mark(Mark.Request);
  return once().then(() => probe.mark(Mark.Resolved));
}

export function now(): number {
  return performance.timeOrigin + performance.now();
}
