import { BinaryHeap } from '../binary-heap';
import { Deque } from '../deque';

interface Lane<T> {
  readonly priority: number;
  readonly items: Deque<T>;
}

/**
 * Ready tasks of one type: a FIFO lane per priority and a heap of the
 * non-empty lanes. Taking or adding a task is O(1) (O(log p) when a lane of
 * one of the p priorities in use opens or empties), so the cost per task
 * does not grow with the backlog as a heap of every task's would.
 */
export class PriorityLanes<T extends { readonly priority: number }> {
  private readonly lanes = new Map<number, Lane<T>>();
  private readonly byPriority = new BinaryHeap<Lane<T>>((a, b) => a.priority < b.priority);
  private count = 0;

  get size(): number {
    return this.count;
  }

  peek(): T | undefined {
    return this.byPriority.peek()?.items.peek();
  }

  push(item: T): void {
    this.lane(item.priority).items.push(item);
    this.count++;
  }

  /** At the front of its priority: a task given back goes first again. */
  unshift(item: T): void {
    this.lane(item.priority).items.unshift(item);
    this.count++;
  }

  shift(): T | undefined {
    const lane = this.byPriority.peek();
    if (!lane) return undefined;
    const item = lane.items.shift();
    if (lane.items.size === 0) {
      this.byPriority.pop();
      this.lanes.delete(lane.priority);
    }
    this.count--;
    return item;
  }

  /** O(n), for rare operations (cancel, retry now). */
  removeWhere(drop: (item: T) => boolean): T[] {
    const removed: T[] = [];
    for (const lane of this.lanes.values()) removed.push(...lane.items.removeWhere(drop));
    if (removed.length === 0) return removed;
    this.count -= removed.length;
    const left = [...this.lanes.values()].filter((lane) => lane.items.size > 0);
    this.lanes.clear();
    this.byPriority.clear();
    for (const lane of left) {
      this.lanes.set(lane.priority, lane);
      this.byPriority.push(lane);
    }
    return removed;
  }

  private lane(priority: number): Lane<T> {
    let lane = this.lanes.get(priority);
    if (!lane) {
      lane = { priority, items: new Deque<T>() };
      this.lanes.set(priority, lane);
      this.byPriority.push(lane);
    }
    return lane;
  }
}
