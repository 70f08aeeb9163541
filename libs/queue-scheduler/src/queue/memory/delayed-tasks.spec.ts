import type { Clock } from '../../clock';
import { MAX_TIMER_MS } from '../../queue-scheduler.constants';
import { DelayedTasks } from './delayed-tasks';

interface Entry {
  id: string;
  runAtMs: number;
  readonly runAtKey: number;
  seq: number;
  heapIndex: number;
}

/** An entry whose heap key follows its run time, as MemoryEntry's offset does. */
const delayable = (id: string, runAtMs: number, seq: number): Entry => ({
  id,
  runAtMs,
  get runAtKey() {
    return this.runAtMs;
  },
  seq,
  heapIndex: -1,
});

describe('DelayedTasks', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  let seq = 0;
  const entry = (id: string, inMs: number): Entry => delayable(id, Date.now() + inMs, seq++);

  /** A queue whose timer takes what is due into `taken`, as the memory queue's does. */
  function make(clock: Clock = { now: () => Date.now(), manual: false }) {
    const taken: Array<[string, number]> = [];
    const delayed: DelayedTasks<Entry> = new DelayedTasks<Entry>(clock, () => delayed.takeDue((e) => taken.push([e.id, Date.now()])));
    return { delayed, taken };
  }

  it('hands each entry over at its run time, earliest first, equal times in push order', async () => {
    const { delayed, taken } = make();
    const start = Date.now();
    for (const [id, inMs] of [['c', 300], ['a', 100], ['b1', 200], ['b2', 200]] as const) delayed.add(entry(id, inMs));
    expect(delayed.earliest()).toBe(start + 100);
    await jest.advanceTimersByTimeAsync(1000);
    expect(taken).toEqual([['a', start + 100], ['b1', start + 200], ['b2', start + 200], ['c', start + 300]]);
    expect(delayed.size).toBe(0);
    expect(delayed.earliest()).toBeNull();
  });

  it('an earlier entry added later moves the timer forward', async () => {
    const { delayed, taken } = make();
    const start = Date.now();
    delayed.add(entry('late', 5000));
    delayed.add(entry('soon', 50));
    await jest.advanceTimersByTimeAsync(60);
    expect(taken).toEqual([['soon', start + 50]]);
  });

  it('a timer that fires before the clock reaches the run time is armed again, not lost', async () => {
    // the clock runs 1% slow against the timers, as Date.now() can behind a timer's own clock
    const start = Date.now();
    const clock = { now: () => start + Math.floor((Date.now() - start) * 0.99), manual: false };
    const { delayed, taken } = make(clock);
    delayed.add(delayable('x', start + 100, seq++));
    await jest.advanceTimersByTimeAsync(100);
    expect(taken).toEqual([]);
    await jest.advanceTimersByTimeAsync(5);
    expect(taken).toEqual([['x', start + 102]]);
  });

  it('a run time beyond the longest timer Node keeps is reached in steps', async () => {
    const { delayed, taken } = make();
    const start = Date.now();
    delayed.add(entry('far', MAX_TIMER_MS + 1000));
    await jest.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(taken).toEqual([]);
    await jest.advanceTimersByTimeAsync(1000);
    expect(taken).toEqual([['far', start + MAX_TIMER_MS + 1000]]);
  });

  it('a removed entry is never handed over', async () => {
    const { delayed, taken } = make();
    const gone = entry('gone', 100);
    delayed.add(gone);
    delayed.add(entry('kept', 200));
    expect(delayed.remove(gone)).toBe(true);
    expect(delayed.remove(gone)).toBe(false);
    await jest.advanceTimersByTimeAsync(300);
    expect(taken.map(([id]) => id)).toEqual(['kept']);
  });

  it('with a manual clock no timer is armed: the owner takes what is due', async () => {
    let now = Date.now();
    const { delayed, taken } = make({ now: () => now, manual: true });
    delayed.add(delayable('m', now + 100, seq++));
    await jest.advanceTimersByTimeAsync(1000);
    expect(taken).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
    now += 100;
    const owned: string[] = [];
    expect(delayed.takeDue((e) => owned.push(e.id))).toBe(1);
    expect(owned).toEqual(['m']);
  });

  it('clearTimer stops the timer and keeps what waits', async () => {
    const { delayed, taken } = make();
    delayed.add(entry('kept', 100));
    delayed.clearTimer();
    await jest.advanceTimersByTimeAsync(500);
    expect(taken).toEqual([]);
    expect(delayed.size).toBe(1);
  });
});
