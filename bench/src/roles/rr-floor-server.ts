/**
 * Server of `rr.floor.rtt`: request-response reduced to what any such layer must do, over a
 * raw Router. It decodes the envelope, looks the request up in a reply cache (client id, then
 * request id, at most 10,000 a client), runs an async echo handler, and sends the encoded reply
 * back over the connection the request came in on. No mailbox, flow control or acks.
 */
import * as zmq from "zeromq";
import { runRole } from "../harness.js";
import { decode, encode } from "./floor-wire.js";
import { Mark, Probe, type Marks } from "./steps-probe.js";

export interface RrFloorServerRole {
  /** With `steps`, the handler and zeromq.js's calls are marked (see steps-probe.ts), keeping that many marks. */
  args: { steps?: number };
  ready: { endpoint: string };
  start: never;
  /** How many requests the handler ran. */
  result: { handled: number; marks?: Marks };
}

type Request = [kind: string, clientId: string, requestId: number, replyTo: string, body: unknown];

runRole<RrFloorServerRole>(async (ctx) => {
  const { steps } = ctx.args;
  const probe = steps === undefined ? undefined : new Probe(steps);
  probe?.wrapZeromq();
  const router = new zmq.Router({ linger: 0 });
  try {
    await router.bind("tcp://127.0.0.1:0");
    void ctx.stopped.then(() => router.close());
    ctx.ready({ endpoint: router.lastEndpoint ?? "" });
    const handler = probe === undefined ? async (body: unknown): Promise<unknown> => body : async (body: unknown): Promise<unknown> => (probe.mark(Mark.Handler), body);
    const cache = new Map<string, Map<number, Buffer[] | null>>();
    let handled = 0;
    for await (const [peer, ...parts] of router) {
      const [, clientId, requestId, , body] = decode(parts) as Request;
      let replies = cache.get(clientId);
      if (replies === undefined) cache.set(clientId, (replies = new Map()));
      const cached = replies.get(requestId);
      if (cached !== undefined) {
        if (cached !== null) await router.send([peer!, ...cached]);
        continue;
      }
      replies.set(requestId, null);
      const reply = encode(["reply", clientId, requestId, true, await handler(body)]);
      handled++;
      replies.set(requestId, reply);
      if (replies.size > 10_000) replies.delete(replies.keys().next().value!);
      await router.send([peer!, ...reply]);
    }
    return { handled, ...(probe === undefined ? {} : { marks: probe.marks() }) };
  } finally {
    router.close();
  }
});
