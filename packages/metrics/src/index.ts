/**
 * Prometheus metrics for zmbox: what an operator scrapes from a process that runs mailbox
 * runtimes and 2PC nodes. Every figure is read from the objects' own `stats()` at scrape time,
 * so watching costs nothing between scrapes and `stats()` stays the one source of truth.
 *
 * @example
 * import { Registry } from "prom-client";
 * import { ZmboxMetrics, serveMetrics } from "@zmbox/metrics";
 *
 * const metrics = new ZmboxMetrics();          // or new ZmboxMetrics({ registry })
 * metrics.watchRuntime(runtime);
 * metrics.watchNode(coordinator);
 * const server = await serveMetrics(metrics, { port: 9464 });
 * // curl http://127.0.0.1:9464/metrics
 */
import { createServer, type Server } from "node:http";
import { Counter, Gauge, Registry, type Metric } from "prom-client";

/** What the metrics read from a mailbox runtime: `Runtime` from `@zmbox/mailbox` fits. */
export interface WatchedRuntime {
  readonly endpoint: string;
  stats(): {
    readonly mailboxes: Readonly<Record<string, object>>;
    readonly sent: number;
    readonly retransmitted: number;
    readonly stored: number;
    readonly received: number;
    readonly duplicates: number;
    readonly undeliverable: number;
    readonly outbox: number;
    readonly unsent: number;
    readonly refused: Readonly<Record<string, number>>;
    /** Per destination mailbox (address): messages sent and sent again. */
    readonly channels?: Readonly<Record<string, { readonly sent: number; readonly retransmitted: number }>>;
  };
}

/** A histogram in Prometheus's shape: cumulative counts per upper bound (seconds). */
export interface WatchedHistogram {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly count: number;
  readonly sum: number;
}

/** What the metrics read from a 2PC node: `Coordinator` and `Participant` from `@zmbox/twopc` fit. */
export interface WatchedNode {
  readonly address: string;
  stats(): {
    readonly transactions: number;
    readonly messagesIn: number;
    readonly messagesOut: number;
    readonly badMessages: number;
    readonly sendFailures: number;
    readonly committed?: number;
    readonly aborted?: number;
    readonly outcomes?: Readonly<Record<string, number>>;
    readonly log: {
      readonly bytes: number;
      readonly appends: number;
      readonly writes: number;
      readonly syncs: number;
      readonly compactions: number;
      readonly syncSeconds?: WatchedHistogram;
    };
  };
  inDoubt(): readonly unknown[];
}

/** Options of {@link ZmboxMetrics}. */
export interface MetricsOptions {
  /**
   * The prom-client registry the metrics join (for example the one your process already serves).
   * @default a new Registry
   */
  readonly registry?: Registry;
  /**
   * Prefix of every metric name.
   * @default "zmbox_"
   */
  readonly prefix?: string;
}

type Labels = Record<string, string>;
type Sample = readonly [labels: Labels, value: number];

/**
 * The metrics of the runtimes and 2PC nodes it watches, in a prom-client registry.
 *
 * Per mailbox: depth, capacity, credit outstanding, sender channels, waiting receivers, messages
 * handed to remote receivers; per runtime: messages sent, retransmitted, stored, received,
 * duplicates dropped, undeliverable, refusals by reason, outbox size; per 2PC node: transactions
 * held, outcomes (by outcome and reason where the node counts them), in-doubt transactions,
 * protocol messages, and its stable log's syncs, bytes and sync latency.
 */
export class ZmboxMetrics {
  /** The registry that holds the metrics: serve `await registry.metrics()`. */
  readonly registry: Registry;
  readonly #runtimes = new Set<WatchedRuntime>();
  readonly #nodes = new Set<WatchedNode>();
  readonly #prefix: string;

  constructor(options: MetricsOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`Expected metrics options to be an object, got \`${String(options)}\` (${typeof options})`);
    }
    if (options.registry !== undefined && !(options.registry instanceof Registry)) {
      throw new TypeError("Expected `registry` to be a prom-client Registry");
    }
    if (options.prefix !== undefined && (typeof options.prefix !== "string" || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(options.prefix))) {
      throw new TypeError(`Expected \`prefix\` to be a Prometheus metric name prefix (letters, digits, _ and :), got \`${String(options.prefix)}\``);
    }
    this.registry = options.registry ?? new Registry();
    this.#prefix = options.prefix ?? "zmbox_";
    this.#define();
  }

  /** Watches a runtime until {@link unwatch} (a closed runtime keeps its last figures). */
  watchRuntime(runtime: WatchedRuntime): this {
    if (typeof runtime?.stats !== "function" || typeof runtime.endpoint !== "string") {
      throw new TypeError("Expected a mailbox Runtime (from Runtime.start()) to watch");
    }
    this.#runtimes.add(runtime);
    return this;
  }

  /** Watches a 2PC node (a `Coordinator` or a `Participant`). */
  watchNode(node: WatchedNode): this {
    if (typeof node?.stats !== "function" || typeof node.inDoubt !== "function" || typeof node.address !== "string") {
      throw new TypeError("Expected a 2PC node (a Coordinator or a Participant) to watch");
    }
    this.#nodes.add(node);
    return this;
  }

  /** Stops watching a runtime or a node. */
  unwatch(watched: WatchedRuntime | WatchedNode): void {
    this.#runtimes.delete(watched as WatchedRuntime);
    this.#nodes.delete(watched as WatchedNode);
  }

  /** The metrics in Prometheus's text format, as a scrape gets them. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  #define(): void {
    const mailboxGauge = (name: string, help: string, field: string): void =>
      this.#gauge(name, help, ["runtime", "mailbox"], () => this.#perMailbox(field));
    mailboxGauge("mailbox_depth", "Messages a mailbox holds, including those handed to remote receivers and not yet taken.", "depth");
    mailboxGauge("mailbox_capacity", "Most messages a mailbox holds, counting credit granted to senders.", "capacity");
    mailboxGauge("mailbox_credit_outstanding", "Credit granted to senders and not yet used.", "creditOutstanding");
    mailboxGauge("mailbox_channels", "Sender channels a mailbox knows.", "channels");
    mailboxGauge("mailbox_waiting_receivers", "Receivers waiting on a mailbox (a remote receiver counts once).", "waiting");
    mailboxGauge("mailbox_in_flight_remote", "Messages handed to remote receivers and not yet taken.", "inFlightRemote");
    mailboxGauge("mailbox_leased", "Messages out on a manual-ack lease, not yet acked.", "leased");
    const mailboxCounter = (name: string, help: string, field: string): void =>
      this.#counter(name, help, ["runtime", "mailbox"], () => this.#perMailbox(field));
    mailboxCounter("mailbox_redelivered_total", "Messages given to a receiver again (nacked, or their lease ran out).", "redelivered");
    mailboxCounter("mailbox_dead_lettered_total", "Messages moved to the dead-letter mailbox after maxAttempts.", "deadLettered");

    const runtimeCounter = (name: string, help: string, field: "sent" | "retransmitted" | "stored" | "received" | "duplicates" | "undeliverable" | "unsent"): void =>
      this.#counter(name, help, ["runtime"], () => [...this.#runtimes].map((rt) => [{ runtime: rt.endpoint }, rt.stats()[field]] as const));
    runtimeCounter("messages_sent_total", "Messages forwarded to their destination the first time.", "sent");
    runtimeCounter("messages_retransmitted_total", "Messages forwarded again, after a lost connection or a refusal.", "retransmitted");
    runtimeCounter("messages_stored_total", "Messages stored in this runtime's mailboxes.", "stored");
    runtimeCounter("messages_received_total", "Messages taken by receivers from this runtime's mailboxes.", "received");
    runtimeCounter("messages_duplicate_total", "Copies of messages already stored, dropped.", "duplicates");
    runtimeCounter("messages_undeliverable_total", "Sends that failed after they returned (queued sends to a missing mailbox, say).", "undeliverable");
    runtimeCounter("frames_unsent_total", "Acks and deliveries ZeroMQ could not hand to a peer at once.", "unsent");
    this.#gauge("outbox_messages", "Messages in a runtime's outboxes, not yet stored at their destination.", ["runtime"], () =>
      [...this.#runtimes].map((rt) => [{ runtime: rt.endpoint }, rt.stats().outbox] as const),
    );
    const channelCounter = (name: string, help: string, field: "sent" | "retransmitted"): void =>
      this.#counter(name, help, ["runtime", "destination"], () =>
        [...this.#runtimes].flatMap((rt) => Object.entries(rt.stats().channels ?? {}).map(([destination, c]) => [{ runtime: rt.endpoint, destination }, c[field]] as const)),
      );
    channelCounter("channel_messages_sent_total", "Messages a runtime forwarded the first time, per destination mailbox.", "sent");
    channelCounter("channel_messages_retransmitted_total", "Messages a runtime forwarded again, per destination mailbox: a sign of a lossy link or a restarting owner.", "retransmitted");
    this.#counter("refused_total", "Frames or messages a runtime dropped, by reason.", ["runtime", "reason"], () =>
      [...this.#runtimes].flatMap((rt) => Object.entries(rt.stats().refused).map(([reason, n]) => [{ runtime: rt.endpoint, reason }, n] as const)),
    );

    const nodes = (): Array<[WatchedNode, ReturnType<WatchedNode["stats"]>]> => [...this.#nodes].map((n) => [n, n.stats()]);
    this.#gauge("twopc_transactions", "Transactions a 2PC node holds: in progress, or finished and still remembered.", ["node"], () =>
      nodes().map(([n, s]) => [{ node: n.address }, s.transactions] as const),
    );
    this.#gauge("twopc_in_doubt", "Transactions a node has not finished: a participant's promised and undecided ones, a coordinator's undecided or unacknowledged ones.", ["node"], () =>
      [...this.#nodes].map((n) => [{ node: n.address }, n.inDoubt().length] as const),
    );
    this.#counter("twopc_outcomes_total", "Transactions a node finished, by outcome (committed or aborted) and, at a coordinator, by reason.", ["node", "outcome", "reason"], () =>
      nodes().flatMap(([n, s]): Sample[] => {
        if (s.outcomes !== undefined) {
          return Object.entries(s.outcomes).map(([key, count]) => {
            const [outcome = key, reason = ""] = key.split(":");
            return [{ node: n.address, outcome, reason }, count];
          });
        }
        const out: Sample[] = [];
        if (s.committed !== undefined) out.push([{ node: n.address, outcome: "committed", reason: "" }, s.committed]);
        if (s.aborted !== undefined) out.push([{ node: n.address, outcome: "aborted", reason: "" }, s.aborted]);
        return out;
      }),
    );
    const nodeCounter = (name: string, help: string, read: (s: ReturnType<WatchedNode["stats"]>) => number): void =>
      this.#counter(name, help, ["node"], () => nodes().map(([n, s]) => [{ node: n.address }, read(s)] as const));
    nodeCounter("twopc_messages_in_total", "2PC protocol messages a node received.", (s) => s.messagesIn);
    nodeCounter("twopc_messages_out_total", "2PC protocol messages a node sent.", (s) => s.messagesOut);
    nodeCounter("twopc_bad_messages_total", "Messages a node received that were not 2PC messages (dropped).", (s) => s.badMessages);
    nodeCounter("twopc_send_failures_total", "Sends the runtime refused at once.", (s) => s.sendFailures);
    nodeCounter("log_syncs_total", "Syncs of a node's stable log (fdatasync, or a durable write).", (s) => s.log.syncs);
    nodeCounter("log_appends_total", "Records appended to a node's stable log.", (s) => s.log.appends);
    nodeCounter("log_compactions_total", "Compactions of a node's stable log.", (s) => s.log.compactions);
    this.#gauge("log_bytes", "Size of a node's stable log.", ["node"], () => nodes().map(([n, s]) => [{ node: n.address }, s.log.bytes] as const));
    this.#histogram("log_sync_seconds", "How long each sync of a node's stable log took.", () =>
      nodes().flatMap(([n, s]) => (s.log.syncSeconds === undefined ? [] : [[{ node: n.address }, s.log.syncSeconds] as const])),
    );
  }

  #perMailbox(field: string): Sample[] {
    const out: Sample[] = [];
    for (const rt of this.#runtimes) {
      for (const [mailbox, stats] of Object.entries(rt.stats().mailboxes)) {
        const value = (stats as Record<string, unknown>)[field];
        if (typeof value === "number") out.push([{ runtime: rt.endpoint, mailbox }, value]);
      }
    }
    return out;
  }

  #gauge(name: string, help: string, labelNames: string[], read: () => readonly Sample[]): void {
    new Gauge({
      name: this.#prefix + name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.set(labels, value);
      },
    });
  }

  #counter(name: string, help: string, labelNames: string[], read: () => readonly Sample[]): void {
    new Counter({
      name: this.#prefix + name,
      help,
      labelNames,
      registers: [this.registry],
      // The figures are cumulative already: the counter is set to them at each scrape.
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.inc(labels, value);
      },
    });
  }

  /** A histogram whose buckets another object keeps (prom-client's own Histogram only takes observations). */
  #histogram(name: string, help: string, read: () => ReadonlyArray<readonly [Labels, WatchedHistogram]>): void {
    const full = this.#prefix + name;
    const metric = {
      name: full,
      help,
      type: "histogram",
      aggregator: "sum",
      reset() {},
      async get() {
        const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
        for (const [labels, h] of read()) {
          h.bounds.forEach((le, i) => values.push({ metricName: `${full}_bucket`, labels: { ...labels, le }, value: h.counts[i] ?? 0 }));
          values.push({ metricName: `${full}_bucket`, labels: { ...labels, le: "+Inf" }, value: h.count });
          values.push({ metricName: `${full}_sum`, labels, value: h.sum });
          values.push({ metricName: `${full}_count`, labels, value: h.count });
        }
        return { name: full, help, type: "histogram", aggregator: "sum", values };
      },
    };
    this.registry.registerMetric(metric as unknown as Metric);
  }
}

/** Options of {@link serveMetrics}. */
export interface ServeMetricsOptions {
  /**
   * TCP port; 0 picks a free one (see the result's `url`).
   * @default 9464
   */
  readonly port?: number;
  /**
   * Address to listen on. Metrics show message counts and node addresses: keep them off public
   * interfaces unless you mean to publish them.
   * @default "127.0.0.1"
   */
  readonly host?: string;
  /**
   * Path that serves the metrics; other paths answer 404.
   * @default "/metrics"
   */
  readonly path?: string;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** Where to scrape, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `metrics` over HTTP in Prometheus's text format: one call for an endpoint to scrape.
 *
 * @example
 * const server = await serveMetrics(metrics, { port: 9464 });
 * console.log(`scrape ${server.url}`);
 */
export async function serveMetrics(metrics: ZmboxMetrics | Registry, options: ServeMetricsOptions = {}): Promise<MetricsServer> {
  const registry = metrics instanceof ZmboxMetrics ? metrics.registry : metrics;
  if (!(registry instanceof Registry)) throw new TypeError("Expected `metrics` to be a ZmboxMetrics or a prom-client Registry");
  const port = options.port ?? 9464;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`Expected \`port\` to be an integer from 0 to 65535, got \`${String(port)}\``);
  const host = options.host ?? "127.0.0.1";
  const path = options.path ?? "/metrics";
  if (typeof host !== "string" || host === "") throw new TypeError(`Expected \`host\` to be an address, got \`${String(host)}\``);
  if (typeof path !== "string" || !path.startsWith("/")) throw new TypeError(`Expected \`path\` to start with "/", got \`${String(path)}\``);
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== path) {
      res.writeHead(404, { "content-type": "text/plain" }).end(`not found: metrics are at ${path}\n`);
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${String(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const bound = typeof address === "object" && address !== null ? address.port : port;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${bound}${path}`,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
