import type { Clock, ClockTimer } from "../src/internal.js";

interface ManualTimer extends ClockTimer {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
  cancelled: boolean;
  refed: boolean;
}

/**
 * A clock that moves only when a test says so: `advance(ms)` runs every timer due by then, in
 * time order (and in the order they were set, for equal times), timers set while it runs included.
 */
export class ManualClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers: ManualTimer[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(run: () => void, ms: number): ClockTimer {
    const timer: ManualTimer = {
      at: this.#now + ms,
      seq: this.#seq++,
      run,
      cancelled: false,
      refed: true,
      ref() {
        timer.refed = true;
        return timer;
      },
      unref() {
        timer.refed = false;
        return timer;
      },
    };
    this.#timers.push(timer);
    return timer;
  }

  clearTimeout(timer: ClockTimer): void {
    (timer as ManualTimer).cancelled = true;
  }

  /** Timers armed and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Whether some pending timer would keep a real process alive (is ref'd). */
  get holdsProcess(): boolean {
    return this.#timers.some((t) => !t.cancelled && t.refed);
  }

  /** Moves the time forward by `ms`, running the timers due on the way. */
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      const live = this.#timers.filter((t) => !t.cancelled);
      live.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = live[0];
      this.#timers = live;
      if (next === undefined || next.at > until) break;
      this.#timers.shift();
      this.#now = next.at;
      next.run();
    }
    this.#now = until;
  }
}
