/** Server side of `nats.rr.*`: a NATS core subscriber that answers every request with its body. */
import { connect } from "nats";
import { runRole } from "../harness.js";

export interface NatsResponderRole {
  args: { url: string; subject: string };
  ready: null;
  start: never;
  /** How many requests it answered. */
  result: { handled: number };
}

runRole<NatsResponderRole>(async (ctx) => {
  const nc = await connect({ servers: ctx.args.url, noEcho: true });
  let handled = 0;
  nc.subscribe(ctx.args.subject, {
    callback: (err, m) => {
      if (err !== null) return;
      handled++;
      m.respond(m.data);
    },
  });
  await nc.flush(); // the subscription is known to the server before the client starts
  ctx.ready(null);
  await ctx.stopped;
  await nc.close();
  return { handled };
});
