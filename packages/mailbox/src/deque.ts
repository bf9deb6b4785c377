/**
 * A FIFO queue with O(1) push, shift and peek: a growable ring buffer.
 * Arrays used as queues pay O(n) for `shift()`; the mailbox, the outbox and the
 * waiter lists all shift on their hot paths.
 */
export class Deque<T> {
  #items: (T | undefined)[] = new Array(16);
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#length) & (this.#items.length - 1)] = item;
    this.#length++;
  }

  /** Puts an item back at the front, where `shift` will find it first. */
  unshift(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#head = (this.#head - 1) & (this.#items.length - 1);
    this.#items[this.#head] = item;
    this.#length++;
  }

  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    this.#length--;
    return item;
  }

  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  /** The item at position `index` from the front (0 is the front). */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.#length) return undefined;
    return this.#items[(this.#head + index) & (this.#items.length - 1)];
  }

  /** Inserts `item` before position `index` (0: the front); O(n), for rare re-insertions. */
  insert(index: number, item: T): void {
    this.push(item);
    const mask = this.#items.length - 1;
    for (let j = this.#length - 1; j > index; j--) {
      this.#items[(this.#head + j) & mask] = this.#items[(this.#head + j - 1) & mask];
    }
    this.#items[(this.#head + index) & mask] = item;
  }

  /** Removes the first item equal to `item`; O(n), for rare cancellations. */
  remove(item: T): boolean {
    const mask = this.#items.length - 1;
    for (let i = 0; i < this.#length; i++) {
      if (this.#items[(this.#head + i) & mask] !== item) continue;
      for (let j = i; j < this.#length - 1; j++) {
        this.#items[(this.#head + j) & mask] = this.#items[(this.#head + j + 1) & mask];
      }
      this.#items[(this.#head + this.#length - 1) & mask] = undefined;
      this.#length--;
      return true;
    }
    return false;
  }

  /** Empties the queue and returns what it held, front first. */
  drain(): T[] {
    const out: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item);
    return out;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.#length; i++) yield this.at(i) as T;
  }

  #grow(): void {
    const next: (T | undefined)[] = new Array(this.#items.length * 2);
    for (let i = 0; i < this.#length; i++) next[i] = this.at(i);
    this.#items = next;
    this.#head = 0;
  }
}
