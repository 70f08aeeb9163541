import { InvalidProgressError } from '../errors/errors';
import { MAX_PROGRESS_BYTES, normalizeProgress, ProgressReports } from './task-progress';

describe('normalizeProgress', () => {
  it('keeps a percentage and copies a plain object as JSON would', () => {
    expect(normalizeProgress(0)).toBe(0);
    expect(normalizeProgress(100)).toBe(100);
    const value = { done: 3, at: new Date(0), skip: undefined };
    expect(normalizeProgress(value)).toEqual({ done: 3, at: '1970-01-01T00:00:00.000Z' });
  });

  it.each([[101], [-0.5], [Infinity], ['50'], [true], [[1]], [null], [undefined], [{ big: 'x'.repeat(MAX_PROGRESS_BYTES) }]])('refuses bad value %# naming the field', (value) => {
    expect(() => normalizeProgress(value)).toThrow(InvalidProgressError);
  });
});

describe('ProgressReports', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('writes the first report of a window at once and the last one when it closes', () => {
    const written: unknown[] = [];
    const reports = new ProgressReports((v) => void written.push(v), 250);
    for (let i = 1; i <= 1000; i++) reports.report(i % 100);
    expect(written).toEqual([1]);
    jest.advanceTimersByTime(250);
    expect(written).toEqual([1, 0]);
    reports.report(5);
    reports.report(6);
    expect(written).toEqual([1, 0]);
    expect(reports.end()).toBeUndefined();
    // the end writes what waits, without waiting for the window
    expect(written).toEqual([1, 0, 6]);
    jest.advanceTimersByTime(1000);
    expect(written).toEqual([1, 0, 6]);
  });

  it('chains asynchronous writes: a later value never lands before an earlier one', async () => {
    jest.useRealTimers();
    const landed: unknown[] = [];
    const slowFirst = [30, 0];
    const reports = new ProgressReports((v) => new Promise<void>((resolve) => setTimeout(() => (landed.push(v), resolve()), slowFirst.shift() ?? 0)), 0);
    reports.report(10);
    reports.report(20);
    await reports.end();
    expect(landed).toEqual([10, 20]);
    expect(reports.end()).toBeUndefined();
  });
});
