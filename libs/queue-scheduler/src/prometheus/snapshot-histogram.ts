import type { HistogramSnapshot } from '../metrics/histogram';

export interface HistogramSeries {
  labels: Record<string, string>;
  histogram: HistogramSnapshot;
}

interface SampleValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * A histogram whose buckets the library has already counted
 * (`QueueSchedulerMetrics` keeps fixed buckets in ms). prom-client's own
 * Histogram only observes values one by one, so this reports the counted
 * buckets as they are, in seconds, through the members a prom-client
 * registry reads of a metric: name, help, type, aggregator, get() and reset().
 */
export class SnapshotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => Promise<HistogramSeries[]>,
  ) {}

  /** Nothing to reset: every scrape reads the library's counts afresh. */
  reset(): void {}

  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: SampleValue[] }> {
    const values: SampleValue[] = [];
    for (const { labels, histogram: h } of await this.read()) {
      h.bounds.forEach((le, i) => values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: le / 1000 }, value: h.cumulative[i] }));
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
      values.push({ metricName: `${this.name}_sum`, labels, value: h.sum / 1000 });
      values.push({ metricName: `${this.name}_count`, labels, value: h.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
