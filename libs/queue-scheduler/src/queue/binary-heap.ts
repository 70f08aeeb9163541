/**
 * Array-backed binary min-heap: O(log n) push and pop, O(1) peek. Used for
 * ready tasks (priority, then arrival) and for delayed tasks (run time).
 */
export class BinaryHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    let i = items.push(item) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(item, items[parent])) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = item;
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) this.siftDown(last);
    return top;
  }

  /** Removes every item for which `drop` is true; O(n), for rare admin operations only. */
  removeWhere(drop: (item: T) => boolean): T[] {
    const removed = this.items.filter(drop);
    if (removed.length === 0) return removed;
    const kept = this.items.filter((item) => !drop(item));
    this.items.length = 0;
    for (const item of kept) this.push(item);
    return removed;
  }

  values(): readonly T[] {
    return this.items;
  }

  clear(): void {
    this.items.length = 0;
  }

  private siftDown(item: T): void {
    const items = this.items;
    const n = items.length;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.before(items[child + 1], items[child])) child++;
      if (!this.before(items[child], item)) break;
      items[i] = items[child];
      i = child;
    }
    items[i] = item;
  }
}

/** An item that knows where it sits in an IndexedHeap (-1: in none). */
export interface HeapPlaced {
  heapIndex: number;
}

/**
 * A binary min-heap whose items carry their own index, so one can be taken
 * out from anywhere in O(log n): the memory queue's delayed tasks, which a
 * cancel, a debounce or the scheduler's stop (every occurrence it queued
 * ahead) takes out one by one. A scan per removal made that stop O(n²).
 * An item is in at most one IndexedHeap at a time.
 */
export class IndexedHeap<T extends HeapPlaced> {
  private readonly items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    this.siftUp(item, this.items.push(item) - 1);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  /** Takes `item` out; false when it is not in this heap. */
  remove(item: T): boolean {
    const i = item.heapIndex;
    if (i < 0 || this.items[i] !== item) return false;
    this.removeAt(i);
    return true;
  }

  values(): readonly T[] {
    return this.items;
  }

  private removeAt(i: number): void {
    const items = this.items;
    items[i].heapIndex = -1;
    const last = items.pop()!;
    if (i === items.length) return;
    // the last item fills the hole, then moves whichever way its key says
    if (i > 0 && this.before(last, items[(i - 1) >> 1])) this.siftUp(last, i);
    else this.siftDown(last, i);
  }

  private siftUp(item: T, i: number): void {
    const items = this.items;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(item, items[parent])) break;
      items[i] = items[parent];
      items[i].heapIndex = i;
      i = parent;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  private siftDown(item: T, i: number): void {
    const items = this.items;
    const n = items.length;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.before(items[child + 1], items[child])) child++;
      if (!this.before(items[child], item)) break;
      items[i] = items[child];
      items[i].heapIndex = i;
      i = child;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}
