/**
 * One "abort" listener per AbortSignal, however many operations wait on it. A server's receive
 * loop passes the same signal to every receive; adding and removing a listener of Node's
 * EventTarget for each one cost about 5% of a request-response server's CPU.
 */
const waiting = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `onAbort` when `signal` aborts (the caller checks `signal.aborted` first). Returns the
 * function that stops listening; call it when the operation settles.
 */
export function listen(signal: AbortSignal, onAbort: () => void): () => void {
  let callbacks = waiting.get(signal);
  if (callbacks === undefined) {
    const set = new Set<() => void>();
    callbacks = set;
    waiting.set(signal, set);
    signal.addEventListener(
      "abort",
      () => {
        waiting.delete(signal);
        for (const callback of set) callback();
        set.clear();
      },
      { once: true },
    );
  }
  const set = callbacks;
  set.add(onAbort);
  return () => {
    set.delete(onAbort);
  };
}
