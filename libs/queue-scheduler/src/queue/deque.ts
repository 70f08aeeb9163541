/**
 * A double-ended queue on a ring buffer whose capacity is a power of two:
 * O(1) push, shift and unshift without Array.shift's O(n) copy. Ready tasks
 * of one priority live in one, in the order they became ready.
 */
export class Deque<T> {
  private items: Array<T | undefined>;
  private head = 0;
  private count = 0;

  constructor(capacity = 16) {
    this.items = new Array<T | undefined>(2 ** Math.ceil(Math.log2(Math.max(2, capacity))));
  }

  get size(): number {
    return this.count;
  }

  /** Items it holds before it has to grow. */
  get capacity(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  /** The item `i` places from the front (0 ≤ i < size). */
  at(i: number): T | undefined {
    return i >= 0 && i < this.count ? this.items[(this.head + i) & (this.items.length - 1)] : undefined;
  }

  /** Replaces the item `i` places from the front (0 ≤ i < size). */
  setAt(i: number, item: T): void {
    if (i >= 0 && i < this.count) this.items[(this.head + i) & (this.items.length - 1)] = item;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) & (this.items.length - 1)] = item;
    this.count++;
  }

  /** Puts an item back at the front (a task given back keeps its place). */
  unshift(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.head = (this.head - 1) & (this.items.length - 1);
    this.items[this.head] = item;
    this.count++;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    // cleared so a finished task is not kept alive by the buffer
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.count--;
    return item;
  }

  /** Removes every item for which `drop` is true, keeping the order of the rest; O(n), for rare operations. */
  removeWhere(drop: (item: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    for (const item of this.values()) (drop(item) ? removed : kept).push(item);
    if (removed.length === 0) return removed;
    this.items.fill(undefined);
    this.head = 0;
    this.count = 0;
    for (const item of kept) this.push(item);
    return removed;
  }

  *values(): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.items[(this.head + i) & (this.items.length - 1)] as T;
  }

  private grow(): void {
    const old = this.items;
    const next = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = old[(this.head + i) & (old.length - 1)];
    this.items = next;
    this.head = 0;
  }
}
