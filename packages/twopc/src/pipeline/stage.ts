/**
 * A pipeline stage: `concurrency` workers, each running the textbook consumer loop
 *
 *   while (...) { message = await receive(from); output = handle(message); await send(output, to) }
 *
 * with `send(..., { until: "stored" })`, so a worker holds at most one message and waits
 * while the next mailbox is full: the mailbox windows bound the whole pipeline, and a slow
 * last stage slows the first. `from` may be a mailbox of this runtime or the address of one
 * anywhere (remote receive): stages run in whichever processes you like.
 *
 * The receive is a manual-ack one: the message stays in `from` (leased to the worker) until
 * its output is stored in `to`, or its dead letter in `deadLetter`, and only then is it
 * acked. A stage process killed at any instant loses nothing: what it held comes again
 * (at-least-once; a kill between the forward and the ack gives one duplicate output).
 *
 *   from                 worker                                to / deadLetter
 *    | -- delivery ------> |  handler(value, { id, attempt })    |
 *    |                     | -- send(output, until: "stored") -> |
 *    |                     | <------------------------- stored -- |
 *    | <---------- ack --- |
 *
 * Every message a worker takes ends in exactly one of:
 *   forwarded    the output is stored in `to`; acked
 *   consumed     the handler returned `undefined`, or the stage is a sink; acked
 *   dead-letter  the handler threw, or the output could not be sent: a {@link DeadLetter}
 *                is stored in `deadLetter`, acked, and the stage goes on
 *   handed back  the stage was cancelled and the handler threw: nacked, back in `from`
 *   retried      the dead-letter send itself failed (e.g. the dead-letter mailbox is gone):
 *                nacked, so it comes again after a second; never dropped
 */
import { AbortedError, ClosedError, MailboxClosedError, TimeoutError } from "@zmbox/mailbox";
import type { Delivery, Mailbox, Runtime } from "@zmbox/mailbox";
import { parseAddress } from "@zmbox/mailbox";
import { onAbort } from "@zmbox/mailbox/internal";
import { addressOf, checkMailbox, checkRuntime } from "../check.js";
import { checkFunction } from "@zmbox/mailbox/internal";
import { deadLetter } from "./dead-letter.js";
import { parseDrainOptions, parseStageOptions, type DrainOptions, type ParsedStageOptions, type StageOptions } from "./options.js";

/** What a stage handler learns besides the message. */
export interface StageContext {
  /** The stage's name. */
  readonly stage: string;
  /** Aborts when the stage is cancelled (its `signal` option). */
  readonly signal: AbortSignal;
  /**
   * The message's identity in `from`: the same on every attempt. A handler with effects
   * outside the pipeline (a database write, an email) records it to do them once.
   */
  readonly id: string;
  /** 1 the first time the message is handled, then one more each time it comes again. */
  readonly attempt: number;
}

/** Handles one message: the value returned goes to the next stage; `undefined` sends nothing. */
export type StageHandler<In = any, Out = unknown> = (message: In, context: StageContext) => Out | undefined | Promise<Out | undefined>;

/** Figures from {@link Stage.stats}. */
export interface StageStats {
  name: string;
  /** Messages taken from `from`. */
  received: number;
  /** Outputs stored in `to`. */
  forwarded: number;
  /** Messages finished without an output to send. */
  consumed: number;
  /** Messages sent to the dead-letter mailbox. */
  deadLettered: number;
  /** Messages given back to `from` (nacked) after a cancel. */
  handedBack: number;
  /** Messages whose dead-letter send failed: nacked, they come again. */
  retried: number;
  /** Messages being handled or sent now (at most `concurrency`). */
  inFlight: number;
  /** Workers still running. */
  workers: number;
}

type Mode = "run" | "drain" | "stop";

/** A running stage; made by {@link stage}. */
export class Stage implements AsyncDisposable {
  readonly name: string;
  /** The mailbox the stage takes from. */
  readonly from: string;
  /**
   * Resolves once every worker has ended and every message taken is finished: with
   * `undefined` after `stop()`, `drain()`, a cancel or the runtime closing, or with the error
   * that ended the workers (e.g. `NoSuchMailboxError` for a remote `from` that does not exist).
   */
  readonly closed: Promise<Error | undefined>;
  readonly #runtime: Runtime;
  readonly #source: string | Mailbox;
  readonly #handler: StageHandler;
  readonly #options: ParsedStageOptions;
  readonly #cancel = new AbortController();
  readonly #counts = { received: 0, forwarded: 0, consumed: 0, deadLettered: 0, handedBack: 0, retried: 0, inFlight: 0, workers: 0 };
  #mode: Mode = "run";
  #idleTimeout = 0;
  /** Aborted to wake the workers' receives when the mode changes. */
  #interrupt = new AbortController();
  #failure: Error | undefined;
  /** Stops listening to `options.signal`. */
  #unlisten: (() => void) | undefined;

  /** @internal Use {@link stage}. */
  constructor(runtime: Runtime, from: string | Mailbox, handler: StageHandler, options: ParsedStageOptions) {
    this.#runtime = runtime;
    this.#source = from;
    this.from = addressOf(from);
    this.#handler = handler;
    this.#options = options;
    this.name = options.name;
    const { signal } = options;
    if (signal) {
      const cancel = (): void => {
        this.#cancel.abort(signal.reason);
        this.#setMode("stop");
      };
      if (signal.aborted) cancel();
      else this.#unlisten = onAbort(signal, cancel);
    }
    const workers = Array.from({ length: options.concurrency }, () => this.#worker());
    this.closed = Promise.all(workers).then(() => {
      this.#unlisten?.();
      return this.#failure;
    });
  }

  /**
   * Counters and the messages in the stage now.
   * @example
   * const { received, forwarded, deadLettered, retried } = s.stats();
   */
  stats(): StageStats {
    return { name: this.name, ...this.#counts };
  }

  /**
   * Graceful stop: takes no more messages, finishes every message already taken (handled and
   * forwarded, or dead-lettered). Messages still in `from` stay there.
   * @example
   * process.once("SIGTERM", async () => { await stage.stop(); await rt.close(); });
   */
  async stop(): Promise<StageStats> {
    this.#setMode("stop");
    await this.closed;
    return this.stats();
  }

  /**
   * Takes messages until `from` has given none for `idleTimeout`, finishes them, then stops. Use
   * it once whatever feeds `from` has stopped, to empty the stage.
   * @example
   * await upstream.stop();
   * await downstream.drain({ idleTimeout: 200 });
   */
  async drain(options?: DrainOptions): Promise<StageStats> {
    const { idleTimeout } = parseDrainOptions(options);
    if (this.#mode === "run") {
      this.#idleTimeout = idleTimeout;
      this.#setMode("drain");
    }
    await this.closed;
    return this.stats();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #setMode(mode: Mode): void {
    if (this.#mode === "stop" || this.#mode === mode) return;
    this.#mode = mode;
    const old = this.#interrupt;
    this.#interrupt = new AbortController();
    old.abort();
  }

  async #worker(): Promise<void> {
    const { receive } = this.#runtime;
    this.#counts.workers++;
    try {
      while (this.#mode !== "stop") {
        const interrupt = this.#interrupt.signal;
        let d: Delivery;
        try {
          const { lease } = this.#options;
          d = await receive(
            this.#source,
            this.#mode === "drain" ? { ack: "manual", lease, timeout: this.#idleTimeout, signal: interrupt } : { ack: "manual", lease, signal: interrupt },
          );
        } catch (error) {
          if (error instanceof AbortedError) continue; // the mode changed: look again
          if (error instanceof TimeoutError && this.#mode === "drain") return; // drained
          if (error instanceof ClosedError || error instanceof MailboxClosedError) return;
          // Anything else (e.g. NoSuchMailboxError for a remote `from`) ends the whole stage.
          this.#failure ??= error as Error;
          this.#setMode("stop");
          return;
        }
        this.#counts.received++;
        this.#counts.inFlight++;
        try {
          await this.#process(d);
        } finally {
          this.#counts.inFlight--;
        }
      }
    } finally {
      this.#counts.workers--;
    }
  }

  /** Handles one delivery and forwards its output; acks it only once that is stored (or dead-lettered). */
  async #process(d: Delivery): Promise<void> {
    const message = d.value;
    let output: unknown;
    try {
      output = await this.#handler(message, { stage: this.name, signal: this.#cancel.signal, id: d.id, attempt: d.attempt });
    } catch (error) {
      if (this.#cancel.signal.aborted) {
        d.nack();
        this.#counts.handedBack++;
        return;
      }
      return this.#deadLetter(d, error, "handler");
    }
    const to = this.#options.to;
    if (output === undefined || to === undefined) {
      d.ack();
      this.#counts.consumed++;
      return;
    }
    try {
      await this.#runtime.send(output, to, { until: "stored", timeout: this.#options.sendTimeout });
    } catch (error) {
      // E.g. no such mailbox, an output that cannot be encoded, or the send timed out (then the
      // output may still arrive: the dead letter says so with the error).
      return this.#deadLetter(d, error, "forward");
    }
    // Stored at the next stage: only now does the message leave `from`.
    d.ack();
    this.#counts.forwarded++;
  }

  async #deadLetter(d: Delivery, error: unknown, phase: "handler" | "forward"): Promise<void> {
    try {
      await this.#runtime.send(deadLetter(this.name, this.from, phase, d.value, error), this.#options.deadLetter, {
        until: "stored",
        timeout: this.#options.sendTimeout,
      });
    } catch {
      // Never dropped: it stays in `from` and comes again.
      d.nack({ delay: RETRY_DELAY });
      this.#counts.retried++;
      return;
    }
    d.ack();
    this.#counts.deadLettered++;
  }
}

/** Ms before a message whose dead-letter send failed is tried again. */
const RETRY_DELAY = 1000;

/**
 * Starts a stage: `concurrency` workers take messages from `from`, run `handler` on each,
 * and send its output to `to` (until stored). A handler that throws sends the message to
 * `deadLetter` and the stage goes on.
 *
 * @example
 * // In the process of stage 2 of 3; the mailboxes may live anywhere.
 * const s = stage(rt, "resized@tcp://10.0.0.5:7001", async (image) => await watermark(image), {
 *   to: "stored@tcp://10.0.0.6:7001",
 *   deadLetter: "dead@tcp://10.0.0.5:7001",
 *   concurrency: 4,
 * });
 * // later
 * await s.stop();
 */
export function stage<In = any, Out = unknown>(
  runtime: Runtime,
  from: string | Mailbox,
  handler: StageHandler<In, Out>,
  options: StageOptions,
): Stage {
  const rt = checkRuntime(runtime);
  const source = checkMailbox("from", from);
  const fn = checkFunction<StageHandler>("handler", handler);
  const defaultName = typeof source === "string" ? parseAddress(source).name : source.name;
  return new Stage(rt, source, fn, parseStageOptions(options, defaultName));
}
