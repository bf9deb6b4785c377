/**
 * Receiving side of `nats.core.publish` and `nats.jetstream.publish*`: counts `count` 100-byte
 * messages and times them from the first to the last.
 *
 * - `"core"`: a plain subscription. NATS core has no flow control of its own and cuts off a
 *   subscriber that falls far behind, so every `CREDIT_EVERY` messages this role publishes how
 *   many it got, and the publisher stays within a window of that.
 * - `"jetstream"`: it creates a work-queue stream on `subject` (memory or file storage) and a
 *   durable pull consumer with explicit acks, and acks every message; it deletes the stream at
 *   the end.
 */
import { AckPolicy, RetentionPolicy, StorageType, connect } from "nats";
import { runRole } from "../harness.js";

const CREDIT_EVERY = 8192;

export interface NatsConsumerRole {
  args: {
    url: string;
    mode: "core" | "jetstream";
    subject: string;
    creditSubject: string;
    stream: string;
    storage: "memory" | "file";
    count: number;
    size: number;
  };
  ready: null;
  start: never;
  result: { received: number; elapsedMs: number };
}

runRole<NatsConsumerRole>(async (ctx) => {
  const { url, mode, subject, creditSubject, stream, storage, count, size } = ctx.args;
  const nc = await connect({ servers: url });
  let received = 0;
  let first = 0;
  let done!: (elapsedMs: number) => void;
  let fail!: (err: Error) => void;
  const finished = new Promise<number>((resolve, reject) => ((done = resolve), (fail = reject)));
  const got = (length: number): void => {
    if (received === 0) first = performance.now();
    if (length !== size) fail(new Error(`a message of ${length} bytes, expected ${size}`));
    received++;
    if (mode === "core" && received % CREDIT_EVERY === 0) nc.publish(creditSubject, String(received));
    if (received === count) done(performance.now() - first);
  };
  try {
    if (mode === "core") {
      nc.subscribe(subject, { callback: (err, m) => (err === null ? got(m.data.length) : fail(err)) });
      await nc.flush();
    } else {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.delete(stream).catch(() => false);
      await jsm.streams.add({
        name: stream,
        subjects: [subject],
        storage: storage === "file" ? StorageType.File : StorageType.Memory,
        retention: RetentionPolicy.Workqueue,
        num_replicas: 1,
      });
      await jsm.consumers.add(stream, { durable_name: "bench", ack_policy: AckPolicy.Explicit, max_ack_pending: 20_000 });
      const consumer = await nc.jetstream().consumers.get(stream, "bench");
      await consumer.consume({
        max_messages: 1000,
        callback: (m) => {
          m.ack();
          got(m.data.length);
        },
      });
    }
    ctx.ready(null);
    const elapsedMs = await finished;
    await nc.flush();
    return { received, elapsedMs };
  } finally {
    if (mode === "jetstream") await (await nc.jetstreamManager()).streams.delete(stream).catch(() => false);
    await nc.close();
  }
});
