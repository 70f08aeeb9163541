import { MAX_TIMER_MS } from '../queue-scheduler.constants';
import { WakeTimers } from './wake-timers';

describe('WakeTimers', () => {
  const start = 1_000_000;
  beforeEach(() => jest.useFakeTimers({ now: start }));
  afterEach(() => {
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  function make() {
    const woken: number[] = [];
    const timers = new WakeTimers(() => woken.push(Date.now()));
    return { timers, woken };
  }

  it('keeps one timer for 20,000 wakes, and each wake still fires at its time', () => {
    const { timers, woken } = make();
    // distinct times in a shuffled order: every new earliest one moves the single timer forward
    const times = Array.from({ length: 20_000 }, (_, i) => start + 1 + ((i * 7919) % 20_000) * 3);
    for (const t of times) timers.at(new Date(t));
    expect(jest.getTimerCount()).toBe(1);
    expect(timers.size).toBe(20_000);
    jest.advanceTimersByTime(100);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(60_000);
    expect(woken).toEqual([...times].sort((a, b) => a - b));
    expect(jest.getTimerCount()).toBe(0);
  });

  it('coalesces equal times into one entry, yet wakes once per call', () => {
    const { timers, woken } = make();
    for (let i = 0; i < 5; i++) timers.at(new Date(start + 50));
    timers.at(new Date(start + 80));
    expect(timers.size).toBe(2);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(49);
    expect(woken).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(woken).toEqual(Array(5).fill(start + 50));
    jest.advanceTimersByTime(30);
    expect(woken).toHaveLength(6);
  });

  it('an earlier time added later moves the timer forward; a later one leaves it', () => {
    const { timers, woken } = make();
    timers.at(new Date(start + 5000));
    timers.at(new Date(start + 100));
    timers.at(new Date(start + 3000));
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(100);
    expect(woken).toEqual([start + 100]);
  });

  it('a timer that fires before Date.now() reaches the time waits out the rest', () => {
    // the wall clock runs 1% slow against the timers, as it does whenever the two clocks part
    jest.spyOn(Date, 'now').mockImplementation(() => start + Math.floor((jest.now() - start) * 0.99));
    const { timers, woken } = make();
    timers.at(new Date(start + 100));
    jest.advanceTimersByTime(100);
    expect(woken).toEqual([]);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(2);
    expect(woken).toEqual([start + 100]);
  });

  it('a time beyond the longest timer Node keeps is reached in steps', () => {
    const { timers, woken } = make();
    timers.at(new Date(start + MAX_TIMER_MS + 1000));
    jest.advanceTimersByTime(MAX_TIMER_MS);
    expect(woken).toEqual([]);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(1000);
    expect(woken).toEqual([start + MAX_TIMER_MS + 1000]);
  });

  it('a time already past wakes at once; clear() stops the timer and forgets every time', () => {
    const { timers, woken } = make();
    timers.at(new Date(start - 10));
    jest.advanceTimersByTime(0);
    expect(woken).toEqual([start]);
    timers.at(new Date(start + 10));
    timers.at(new Date(start + 20));
    timers.clear();
    expect(jest.getTimerCount()).toBe(0);
    expect(timers.size).toBe(0);
    jest.advanceTimersByTime(100);
    expect(woken).toHaveLength(1);
  });
});
