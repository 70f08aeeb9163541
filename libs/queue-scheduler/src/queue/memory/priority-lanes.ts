import { BinaryHeap } from '../binary-heap';
import { Deque } from '../deque';
import { PendingRun } from './pending-runs';

/**
 * An emptied lane's ring up to this many slots (2 MiB of pointers) is kept
 * for the next lane to open: a backlog drained and refilled, as a burst of
 * pushes makes, would otherwise grow a ring from 16 slots by doubling each time.
 */
const MAX_SPARE_CAPACITY = 2 ** 18;

interface Lane<T> {
  readonly priority: number;
  /** Tasks, and runs of tasks kept as columns (see PendingRun). */
  readonly items: Deque<T | PendingRun<T>>;
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
  private spare: Deque<T | PendingRun<T>> | undefined;

  get size(): number {
    return this.count;
  }

  /** The front task, or the run it is in. */
  peek(): T | PendingRun<T> | undefined {
    return this.byPriority.peek()?.items.peek();
  }

  push(item: T): void {
    this.lane(item.priority).items.push(item);
    this.count++;
  }

  /** A new run, at the end of its priority's lane. */
  pushRun(run: PendingRun<T>): void {
    this.lane(run.priority).items.push(run);
    this.count += run.live;
  }

  /** A task was appended to a run at the end of its lane. */
  grew(): void {
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
    const head = lane.items.peek()!;
    let item: T | undefined;
    if (head instanceof PendingRun) {
      item = head.shift();
      if (head.live === 0) this.dropRun(lane.items.shift() as PendingRun<T>);
    } else {
      item = lane.items.shift() as T;
    }
    if (lane.items.size === 0) {
      this.byPriority.pop();
      this.lanes.delete(lane.priority);
      if (lane.items.capacity <= MAX_SPARE_CAPACITY) this.spare = lane.items;
    }
    this.count--;
    return item;
  }

  /** O(n), for rare operations (cancel, retry now); in a run, only tasks already made are asked about (see PendingRun.removeWhere). */
  removeWhere(drop: (item: T) => boolean): T[] {
    const removed: T[] = [];
    for (const lane of this.lanes.values()) {
      for (const item of lane.items.values()) if (item instanceof PendingRun) removed.push(...item.removeWhere(drop));
      for (const item of lane.items.removeWhere((i) => (i instanceof PendingRun ? i.live === 0 : drop(i)))) {
        if (item instanceof PendingRun) this.dropRun(item);
        else removed.push(item);
      }
    }
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

  private dropRun(run: PendingRun<T>): void {
    run.inLane = false;
  }

  private lane(priority: number): Lane<T> {
    let lane = this.lanes.get(priority);
    if (!lane) {
      lane = { priority, items: this.spare ?? new Deque<T | PendingRun<T>>() };
      this.spare = undefined;
      this.lanes.set(priority, lane);
      this.byPriority.push(lane);
    }
    return lane;
  }
}
