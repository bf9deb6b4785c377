/**
 * Many deadlines on one timer: an indexed min-heap of due times with a single `setTimeout`
 * armed for the earliest. A send or receive with a timeout costs a heap insert and a heap
 * removal, not a timer of its own, which matters at hundreds of thousands of sends a second.
 */
export interface Deadline {
  readonly at: number;
  readonly fire: () => void;
  /** Position in the heap; -1 once fired or cancelled. */
  index: number;
}

export class Deadlines {
  #heap: Deadline[] = [];
  #timer: NodeJS.Timeout | undefined;
  #armedAt = Infinity;

  /** How many deadlines are pending. */
  get size(): number {
    return this.#heap.length;
  }

  /** Calls `fire` after `ms` milliseconds unless cancelled first. */
  add(ms: number, fire: () => void): Deadline {
    const deadline: Deadline = { at: performance.now() + ms, fire, index: this.#heap.length };
    this.#heap.push(deadline);
    this.#up(deadline.index);
    if (deadline.at < this.#armedAt) this.#arm();
    return deadline;
  }

  /** Removes a deadline so it never fires; a no-op for one already gone. */
  cancel(deadline: Deadline | undefined): void {
    if (!deadline || deadline.index < 0) return;
    const i = deadline.index;
    const last = this.#heap.pop()!;
    deadline.index = -1;
    if (last !== deadline) {
      this.#heap[i] = last;
      last.index = i;
      this.#down(i);
      this.#up(last.index);
    }
    // The armed timer may now be early; #expire re-arms for whatever is first then.
  }

  /** Drops every deadline without firing it. */
  clear(): void {
    for (const d of this.#heap) d.index = -1;
    this.#heap = [];
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
  }

  #arm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
    const first = this.#heap[0];
    if (!first) return;
    this.#armedAt = first.at;
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, first.at - performance.now()) + 1);
  }

  #expire(): void {
    this.#timer = undefined;
    this.#armedAt = Infinity;
    const now = performance.now();
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now) {
      const due = this.#heap[0]!;
      this.cancel(due);
      due.fire();
    }
    this.#arm();
  }

  #up(i: number): void {
    const h = this.#heap;
    const d = h[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent]!;
      if (p.at <= d.at) break;
      h[i] = p;
      p.index = i;
      i = parent;
    }
    h[i] = d;
    d.index = i;
  }

  #down(i: number): void {
    const h = this.#heap;
    const d = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && h[r]!.at < h[l]!.at ? r : l;
      const child = h[c]!;
      if (child.at >= d.at) break;
      h[i] = child;
      child.index = i;
      i = c;
    }
    h[i] = d;
    d.index = i;
  }
}
