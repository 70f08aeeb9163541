/** Upper bounds (ms) of the handler-duration buckets: 5 ms to 10 min. */
export const DURATION_BUCKETS_MS: readonly number[] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 600_000];

/** Upper bounds (ms) of the schedule-lag buckets: 1 ms to 1 h. */
export const LAG_BUCKETS_MS: readonly number[] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 15_000, 60_000, 300_000, 3_600_000];

/**
 * A histogram as `QueueSchedulerMetrics.snapshot()` reports it, in the shape
 * Prometheus uses: `cumulative[i]` observations were ≤ `bounds[i]` ms;
 * `count` includes the ones above the last bound (the `+Inf` bucket).
 * @publicApi
 */
export interface HistogramSnapshot {
  /** Upper bounds in milliseconds, ascending. */
  readonly bounds: readonly number[];
  /** Observations ≤ each bound (cumulative), one per bound. */
  readonly cumulative: number[];
  readonly count: number;
  /** Sum of all observations in ms (mean = sum / count). */
  readonly sum: number;
  /** Largest observation in ms; 0 before the first one. */
  readonly max: number;
}

/** Fixed buckets, O(buckets) memory and O(log buckets) per observation, whatever the traffic. */
export class FixedHistogram {
  private readonly counts: number[];
  private count = 0;
  private sum = 0;
  private max = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const v = Math.max(0, value);
    this.counts[this.bucketOf(v)]++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  snapshot(): HistogramSnapshot {
    const cumulative: number[] = [];
    let running = 0;
    for (let i = 0; i < this.bounds.length; i++) cumulative.push((running += this.counts[i]));
    return { bounds: this.bounds, cumulative, count: this.count, sum: this.sum, max: this.max };
  }

  /** Index of the first bound ≥ value (bounds.length: above all of them). */
  private bucketOf(value: number): number {
    let lo = 0;
    let hi = this.bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (value <= this.bounds[mid]) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
