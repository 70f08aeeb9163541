import type { Clock } from '../../clock';
import { DelayedTasks } from './delayed-tasks';
import type { PendingRun } from './pending-runs';
import type { MemoryEntry } from './memory-entries';
import { ReadyTasks } from './ready-tasks';
import type { ClaimFilter } from '../queue-consumer';
import { Waiters } from '../waiters';
import { holdProcess } from '../keep-alive';

/**
 * Where the memory queue's waiting tasks are, and who waits for them: the
 * ready lanes, the heap of delayed tasks (its one timer moves the due ones
 * to the lanes) and the consumers asleep until a task is ready.
 */
export class WaitingTasks {
  private readonly ready = new ReadyTasks();
  private readonly delayed: DelayedTasks<MemoryEntry>;
  private readonly waiters = new Waiters();
  private readonly readyUp = (entry: MemoryEntry): void => this.makeReady(entry);
  private readyOrder = 0;
  private stopped = false;

  constructor(private readonly clock: Clock) {
    this.delayed = new DelayedTasks(clock, () => this.waiters.wake(this.promoteDue()));
  }

  /** Ready and delayed tasks. */
  get size(): number {
    return this.ready.size + this.delayed.size;
  }

  get readyCount(): number {
    return this.ready.size;
  }

  /** When the earliest delayed task is due, epoch ms; null when none waits. */
  earliest(): number | null {
    return this.delayed.earliest();
  }

  /** Queues `entry` by its run time and wakes a consumer when it is ready now. */
  add(entry: MemoryEntry, now = this.clock.now()): void {
    if (entry.runAtMs > now) return this.delayed.add(entry);
    this.makeReady(entry);
    this.waiters.wakeOne();
  }

  /** Whether a consumer sleeps until a task is ready: the next push is taken at once. */
  get sleepers(): boolean {
    return this.waiters.size > 0;
  }

  /** The ready order the next task to become ready gets. */
  get nextOrder(): number {
    return this.readyOrder;
  }

  /** A task ready now, appended to `run` with order `nextOrder` (`fresh`: the run is new, its first task). */
  addToRun(run: PendingRun<MemoryEntry>, fresh: boolean): void {
    this.readyOrder++;
    if (fresh) this.ready.pushRun(run);
    else this.ready.grew(run);
    this.waiters.wakeOne();
  }

  /** A task given back (shutdown) goes first again: it was taken first. */
  giveBack(entry: MemoryEntry): void {
    if (entry.runAtMs > this.clock.now()) return this.delayed.add(entry);
    this.ready.unshift(entry);
    this.waiters.wakeOne();
  }

  /** Takes a waiting task out, ready or delayed (cancel, retry now). */
  remove(entry: MemoryEntry): void {
    // a delayed one says where it is in O(1): the ready lanes' O(n) search would make a scheduler's stop, which
    // cancels every occurrence it queued ahead, O(n^2) in the ready tasks of their type
    if (entry.heapIndex >= 0) this.delayed.remove(entry);
    else this.ready.remove(entry);
  }

  /** Takes many waiting tasks out at once (a flow's cancel): the ready ones in one pass per type. */
  removeAll(entries: readonly MemoryEntry[]): void {
    const ready = new Set<MemoryEntry>();
    for (const entry of entries) {
      if (entry.heapIndex >= 0) this.delayed.remove(entry);
      else ready.add(entry);
    }
    if (ready.size === 1) this.ready.remove(ready.values().next().value!);
    else if (ready.size > 1) this.ready.removeAll(ready);
  }

  /** Takes up to `limit` ready tasks `filter` allows into `out`, in order. */
  take(filter: ClaimFilter, limit: number, out: MemoryEntry[]): void {
    this.promoteDue();
    if (this.ready.size === 0) return;
    const left = filter.remaining?.size ? new Map(filter.remaining) : undefined;
    this.ready.takeMany(filter, this.ready.typesOf(filter), left, limit, out);
  }

  /** Whether a take with `filter` would get a task now. */
  has(filter: ClaimFilter): boolean {
    this.promoteDue();
    return this.ready.has(filter);
  }

  /** Moves the delayed tasks due by the clock to the lanes and wakes as many consumers (a manual clock's owner calls it). */
  promote(): number {
    const moved = this.promoteDue();
    this.waiters.wake(moved);
    return moved;
  }

  /** Sleeps until a task is ready, `timeoutMs` passes or `signal` aborts. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.waiters.wait(timeoutMs, signal);
  }

  /**
   * A caller's wait for a task (popTask): it holds the process, as onIdle does (the timers are unref'd, and a script
   * awaiting popTask exited before its timeout with the promise never settled); false once the queue stopped.
   */
  async waitHeld(timeoutMs: number): Promise<boolean> {
    if (this.stopped) return false;
    await this.waiters.wait(timeoutMs).finally(holdProcess());
    return !this.stopped;
  }

  /** Wakes every sleeper, so each looks again (a type was resumed). */
  wakeAll(): void {
    this.waiters.wakeAll();
  }

  /** Shutdown: the timer stops, every sleeper wakes; what waits stays. */
  stop(): void {
    this.stopped = true;
    this.delayed.clearTimer();
    this.waiters.wakeAll();
  }

  private makeReady(entry: MemoryEntry): void {
    entry.order = this.readyOrder++;
    this.ready.push(entry);
  }

  private promoteDue(): number {
    // every claim calls this: no closure made per call, and nothing but a size check when nothing is delayed
    return this.delayed.size === 0 ? 0 : this.delayed.takeDue(this.readyUp);
  }
}
