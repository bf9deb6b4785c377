/**
 * The textbook producer loop, `while (...) { prepare message; send(msg, mbox) }`, over any
 * (async) iterable. Each send waits until stored (by default), so a full mailbox holds the
 * producer back: "no need for producer/consumer to keep track of space in mailbox".
 */
import type { Mailbox, Runtime } from "@zmbox/mailbox";
import { InvalidArgumentError } from "@zmbox/mailbox";
import { checkMailbox, checkRuntime } from "../check.js";
import { describe } from "@zmbox/mailbox/internal";
import { parseProduceOptions, type ProduceOptions } from "./options.js";

/**
 * Sends every value of `source` to `to`, one at a time, and resolves with how many were sent.
 * @example
 * const sent = await produce(rt, "numbers@tcp://127.0.0.1:7001", (function* () {
 *   for (let i = 0; i < 1000; i++) yield { n: i };
 * })());
 */
export async function produce(
  runtime: Runtime,
  to: string | Mailbox,
  source: Iterable<unknown> | AsyncIterable<unknown>,
  options?: ProduceOptions,
): Promise<number> {
  const { send } = checkRuntime(runtime);
  const dest = checkMailbox("to", to);
  const { until, timeout, signal } = parseProduceOptions(options);
  if (source === null || typeof source !== "object" || !(Symbol.iterator in source || Symbol.asyncIterator in source)) {
    throw new InvalidArgumentError(`Expected \`source\` to be an iterable or async iterable, got ${describe(source)}`);
  }
  const sendOptions = signal ? { until, timeout, signal } : { until, timeout };
  let sent = 0;
  for await (const message of source) {
    await send(message, dest, sendOptions);
    sent++;
  }
  return sent;
}
