import type { Clock } from '../../clock';
import { MAX_TIMER_MS } from '../../queue-scheduler.constants';
import { type HeapPlaced, IndexedHeap } from '../binary-heap';

/** What waits here: a run time, and the push order that breaks ties between equal ones. */
export interface Delayable extends HeapPlaced {
  runAtMs: number;
  /** A number in runAtMs's order that V8 need not box (see MemoryEntry.runAtKey); the heap compares this. */
  readonly runAtKey: number;
  seq: number;
}

const byRunAt = (a: Delayable, b: Delayable): boolean => a.runAtKey < b.runAtKey || (a.runAtKey === b.runAtKey && a.seq < b.seq);

/**
 * The memory queue's tasks and retries waiting for their run time: a heap by
 * run time (push order among equals) and a single timer, armed for the
 * earliest, so a million delayed tasks cost one timer. When it fires,
 * `onDue` takes what is due (takeDue); a timer that fired before the clock
 * reached the run time finds nothing due and is armed again for the rest.
 */
export class DelayedTasks<T extends Delayable> {
  private readonly heap = new IndexedHeap<T>(byRunAt);
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: () => void,
  ) {}

  get size(): number {
    return this.heap.size;
  }

  /** The earliest run time (epoch ms), null when nothing waits. */
  earliest(): number | null {
    return this.heap.peek()?.runAtMs ?? null;
  }

  add(entry: T): void {
    this.heap.push(entry);
    this.arm();
  }

  /** Takes `entry` out; false when it was not waiting here. */
  remove(entry: T): boolean {
    return this.heap.remove(entry);
  }

  /** Hands each entry due by the clock to `take`, earliest first; returns how many. */
  takeDue(take: (entry: T) => void): number {
    if (this.heap.size === 0) return 0;
    const now = this.clock.now();
    let moved = 0;
    for (let head = this.heap.peek(); head && head.runAtMs <= now; head = this.heap.peek()) {
      take(this.heap.pop()!);
      moved++;
    }
    return moved;
  }

  /** Stops the timer (shutdown); what waits stays. */
  clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private arm(): void {
    const head = this.heap.peek();
    // a manual clock's owner takes what is due when it moves time (MemoryQueueService.promoteDelayed)
    if (!head || this.clock.manual) return this.clearTimer();
    const at = head.runAtMs;
    if (this.timer && at >= this.timerAt) return;
    this.clearTimer();
    this.timerAt = at;
    // Node fires delays above 2^31-1 ms at once: re-arm in steps instead.
    const wait = Math.min(Math.max(0, at - this.clock.now()), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.onDue();
      this.arm();
    }, wait);
    this.timer.unref();
  }
}
