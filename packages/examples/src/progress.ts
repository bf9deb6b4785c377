/**
 * Progress for the demos: on a terminal, one status line that updates in place (with the time
 * the current step has taken); otherwise, as in a log or a pipe, each step on a plain line of
 * its own.
 */
import type { WriteStream } from "node:tty";

export interface Progress {
  /** Starts a step: shown at once, and on a terminal kept updated until the next call. */
  step(text: string): void;
  /** A line to keep (a result): printed above the status line. */
  log(text: string): void;
  /** Clears the status line. */
  end(): void;
}

/** A progress reporter on `out` (default stdout); `prefix` starts every line. */
export function progress(prefix: string, out: NodeJS.WriteStream = process.stdout): Progress {
  const tty = out.isTTY === true;
  let current: string | undefined;
  let since = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = (): void => {
    if (current === undefined) return;
    const seconds = ((performance.now() - since) / 1000).toFixed(1);
    const line = `${prefix}${current} (${seconds} s)`;
    const width = (out as WriteStream).columns ?? 100;
    out.write(`\r\x1b[K${line.length > width - 1 ? line.slice(0, width - 2) + "…" : line}`);
  };
  const clear = (): void => {
    if (tty && current !== undefined) out.write("\r\x1b[K");
  };
  return {
    step(text) {
      current = text;
      since = performance.now();
      if (!tty) {
        out.write(`${prefix}${text}\n`);
        return;
      }
      draw();
      timer ??= setInterval(draw, 100);
      timer.unref();
    },
    log(text) {
      clear();
      out.write(`${prefix}${text}\n`);
      if (tty) draw();
    },
    end() {
      clear();
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      current = undefined;
    },
  };
}
