/**
 * One "abort" listener per AbortSignal, however many operations wait on it. A server's receive
 * loop passes the same signal to every receive; adding and removing a listener of Node's
 * EventTarget for each one cost about 5% of a request-response server's CPU.
 */

/**
 * The callbacks waiting on one signal. The first goes in `one`: a signal with one operation
 * waiting at a time (a server's worker and its receive) then never grows and shrinks a Set,
 * which cost 120 bytes of garbage a receive.
 */
interface Listeners {
  one: (() => void) | undefined;
  more: Set<() => void> | undefined;
}

const waiting = new WeakMap<AbortSignal, Listeners>();

/**
 * Calls `onAbort` when `signal` aborts (the caller checks `signal.aborted` first). Returns the
 * function that stops listening; call it when the operation settles. However many operations
 * listen to one signal, Node sees one listener: it warns of a leak past 10 on a signal
 * (MaxListenersExceededWarning), and adding and removing one per operation is slow.
 * Exported as `onAbort`.
 * @example
 * if (signal.aborted) throw new AbortedError("aborted");
 * const stop = onAbort(signal, () => reject(new AbortedError("aborted")));
 * try { return await work(); } finally { stop(); }
 */
export function listen(signal: AbortSignal, onAbort: () => void): () => void {
  let listeners = waiting.get(signal);
  if (listeners === undefined) {
    const entry: Listeners = { one: undefined, more: undefined };
    listeners = entry;
    waiting.set(signal, entry);
    signal.addEventListener(
      "abort",
      () => {
        waiting.delete(signal);
        const { one, more } = entry;
        entry.one = entry.more = undefined;
        one?.();
        if (more) for (const callback of more) callback();
      },
      { once: true },
    );
  }
  const entry = listeners;
  if (entry.one === undefined) entry.one = onAbort;
  else (entry.more ??= new Set()).add(onAbort);
  return () => {
    if (entry.one === onAbort) entry.one = undefined;
    else entry.more?.delete(onAbort);
  };
}
