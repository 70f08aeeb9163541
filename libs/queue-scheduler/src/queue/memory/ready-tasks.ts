import type { MemoryEntry } from './memory-entries';
import { PendingRun } from './pending-runs';
import { PriorityLanes } from './priority-lanes';
import type { ClaimFilter } from '../queue-consumer';

interface TypeQueue {
  readonly type: string;
  readonly lanes: PriorityLanes<MemoryEntry>;
  /** Position in ReadyTasks.queues, for O(1) removal when it empties. */
  index: number;
}

/** When a lane's front task became ready: a run's front task is not made to be compared. */
const orderOf = (head: MemoryEntry | PendingRun<MemoryEntry>): number => (head instanceof PendingRun ? head.headOrder : head.order);

/**
 * The ready tasks of the memory backend, by type: a consumer takes the best
 * head (lowest priority number, then the earliest to become ready) among the
 * types it may run. O(types with ready tasks) per task taken, O(1) per add.
 */
export class ReadyTasks {
  private readonly byType = new Map<string, TypeQueue>();
  /** The same queues as an array: walked on every take, without an iterator. */
  private readonly queues: TypeQueue[] = [];
  /** Each filter's types as a Set, built once per filter (the pool keeps a filter until its caps change). */
  private readonly typeSets = new WeakMap<ClaimFilter, ReadonlySet<string>>();
  private count = 0;
  /** The lanes of the type queue dropped last, empty: the next type to get a ready task takes them, with their kept ring. */
  private spare: PriorityLanes<MemoryEntry> | undefined;

  get size(): number {
    return this.count;
  }

  push(entry: MemoryEntry): void {
    this.queueOf(entry.type).lanes.push(entry);
    this.count++;
  }

  /** A new run of plain tasks (see PendingRun), at the end of its lane. */
  pushRun(run: PendingRun<MemoryEntry>): void {
    this.queueOf(run.type).lanes.pushRun(run);
    this.count += run.live;
  }

  /** A task was appended to `run`, at the end of its lane. */
  grew(run: PendingRun<MemoryEntry>): void {
    this.byType.get(run.type)!.lanes.grew();
    this.count++;
  }

  unshift(entry: MemoryEntry): void {
    this.queueOf(entry.type).lanes.unshift(entry);
    this.count++;
  }

  /** Whether a claim with `filter` would get a task now. */
  has(filter: ClaimFilter): boolean {
    return this.best(filter, this.typesOf(filter)) !== undefined;
  }

  /**
   * Removes and returns the next task `filter` allows (`types` is
   * `typesOf(filter)`, looked up once per claim); `left` holds the free slots
   * of capped types and is decremented for the type taken.
   */
  take(filter: ClaimFilter, types: ReadonlySet<string>, left?: Map<string, number>): MemoryEntry | undefined {
    const q = this.best(filter, types, left);
    if (!q) return undefined;
    const entry = q.lanes.shift()!;
    this.count--;
    if (q.lanes.size === 0) this.drop(q);
    if (left) {
      const slots = left.get(entry.type);
      if (slots !== undefined) left.set(entry.type, slots - 1);
    }
    return entry;
  }

  /**
   * Takes up to `limit` tasks in order into `out` (see `take`). With one
   * type ready, as in a drain of one type, the type is checked once and its
   * tasks are taken back to back.
   */
  takeMany(filter: ClaimFilter, types: ReadonlySet<string>, left: Map<string, number> | undefined, limit: number, out: MemoryEntry[]): void {
    if (this.queues.length === 1 && !left) {
      const q = this.queues[0];
      if (!types.has(q.type) && !(filter.unknownTypes && !filter.handled.has(q.type))) return;
      const n = Math.min(limit - out.length, q.lanes.size);
      for (let i = 0; i < n; i++) out.push(q.lanes.shift()!);
      this.count -= n;
      if (q.lanes.size === 0) this.drop(q);
      return;
    }
    while (out.length < limit) {
      const entry = this.take(filter, types, left);
      if (!entry) return;
      out.push(entry);
    }
  }

  /** Takes `entry` out wherever it waits; O(n) of its type, for cancel and retry-now. */
  remove(entry: MemoryEntry): boolean {
    const q = this.byType.get(entry.type);
    if (!q || q.lanes.removeWhere((e) => e === entry).length === 0) return false;
    this.count--;
    if (q.lanes.size === 0) this.drop(q);
    return true;
  }

  /** Takes every one of `entries` out in one pass per type: a flow's cancel, one by one, was O(n^2) (15 s at 20,000). */
  removeAll(entries: ReadonlySet<MemoryEntry>): void {
    const types = new Set<string>();
    for (const entry of entries) types.add(entry.type);
    for (const type of types) {
      const q = this.byType.get(type);
      if (!q) continue;
      this.count -= q.lanes.removeWhere((e) => entries.has(e)).length;
      if (q.lanes.size === 0) this.drop(q);
    }
  }

  private best(filter: ClaimFilter, types: ReadonlySet<string>, left?: Map<string, number>): TypeQueue | undefined {
    let best: TypeQueue | undefined;
    let priority = 0;
    let order = 0;
    const queues = this.queues;
    for (let i = 0; i < queues.length; i++) {
      const q = queues[i];
      const allowed = types.has(q.type) || (filter.unknownTypes && !filter.handled.has(q.type));
      if (!allowed || left?.get(q.type) === 0) continue;
      const h = q.lanes.peek()!;
      const o = orderOf(h);
      if (!best || h.priority < priority || (h.priority === priority && o < order)) {
        best = q;
        priority = h.priority;
        order = o;
      }
    }
    return best;
  }

  /** The filter's types as a Set. */
  typesOf(filter: ClaimFilter): ReadonlySet<string> {
    let set = this.typeSets.get(filter);
    if (!set) {
      set = new Set(filter.types);
      this.typeSets.set(filter, set);
    }
    return set;
  }

  private queueOf(type: string): TypeQueue {
    let q = this.byType.get(type);
    if (!q) {
      q = { type, lanes: this.spare ?? new PriorityLanes<MemoryEntry>(), index: this.queues.length };
      this.spare = undefined;
      this.byType.set(type, q);
      this.queues.push(q);
    }
    return q;
  }

  /** Forgets an empty type's queue, so types that come and go do not pile up. */
  private drop(q: TypeQueue): void {
    this.byType.delete(q.type);
    this.spare = q.lanes;
    const last = this.queues.pop()!;
    if (last !== q) {
      this.queues[q.index] = last;
      last.index = q.index;
    }
  }
}
