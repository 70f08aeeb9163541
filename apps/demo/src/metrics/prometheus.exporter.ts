import { Injectable } from '@nestjs/common';
import { type HistogramSnapshot, QueueSchedulerMetrics, type QueueSchedulerMetricsSnapshot } from 'nestjs-queue-scheduler';
import { Counter, Gauge, type Metric, Registry } from 'prom-client';

const PREFIX = 'queue_scheduler_';

/** One line of a metric, as prom-client's Registry reads it from `get()`. */
interface SeriesValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * A prom-client histogram fed from a snapshot's buckets. prom-client's own
 * Histogram only observes values one by one; the library has already counted
 * them, so this reports its buckets as they are (in seconds, as Prometheus expects).
 */
class SnapshotHistogram {
  readonly type = 'histogram';
  private series: Array<{ labels: Record<string, string>; h: HistogramSnapshot }> = [];

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  set(series: Array<{ labels: Record<string, string>; h: HistogramSnapshot }>): void {
    this.series = series;
  }

  reset(): void {
    this.series = [];
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: SeriesValue[] }> {
    const values: SeriesValue[] = [];
    for (const { labels, h } of this.series) {
      h.bounds.forEach((le, i) => values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: le / 1000 }, value: h.cumulative[i] }));
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
      values.push({ metricName: `${this.name}_sum`, labels, value: h.sum / 1000 });
      values.push({ metricName: `${this.name}_count`, labels, value: h.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: 'sum', values };
  }
}

/**
 * The demo's Prometheus endpoint: one registry (not prom-client's global one,
 * so several apps in one test process do not clash), refreshed from
 * `QueueSchedulerMetrics.snapshot()` on every scrape.
 */
@Injectable()
export class PrometheusExporter {
  readonly registry = new Registry();
  private readonly tasks = this.gauge('tasks', 'Tasks by status, as the queue reports them', ['status']);
  private readonly depth = this.gauge('queue_depth', 'Tasks waiting (ready or delayed)');
  private readonly busy = this.gauge('workers_busy', 'Tasks running now in this process');
  private readonly size = this.gauge('workers_size', 'Tasks this process may run at once (0 when stopped)');
  private readonly events = this.counter('task_events_total', 'Task events seen by this process', ['type', 'kind']);
  private readonly retries = this.counter('retries_total', 'Failed tries queued again');
  private readonly dead = this.counter('dead_lettered_total', 'Tasks moved to the dead-letter list');
  private readonly fired = this.counter('schedule_fired_total', 'Schedule occurrences fired by this instance');
  private readonly misfires = this.counter('misfires_total', 'Schedule occurrences missed while no instance ran');
  private readonly skipped = this.counter('schedule_skipped_total', "Occurrences of overlap 'skip' schedules dropped while the previous run was unfinished");
  private readonly coalesced = this.counter('schedule_coalesced_total', "Occurrences of overlap 'wait' schedules folded into one run after waiting");
  private readonly durations = this.histogram('handler_duration_seconds', 'Handler run time of each finished try');
  private readonly lag = this.histogram('schedule_lag_seconds', 'Fire time minus scheduled time of each fired occurrence');

  constructor(private readonly metrics: QueueSchedulerMetrics) {}

  /** The Prometheus text exposition of the current snapshot. */
  async scrape(): Promise<string> {
    this.update(await this.metrics.snapshot());
    return this.registry.metrics();
  }

  private update(s: QueueSchedulerMetricsSnapshot): void {
    for (const [status, n] of Object.entries(s.tasksByStatus)) this.tasks.set({ status }, n);
    this.depth.set(s.queueDepth);
    this.busy.set(s.workers.busy);
    this.size.set(s.workers.size);
    // Counters only grow; the snapshot holds the totals, so each scrape sets them afresh.
    this.events.reset();
    for (const [type, t] of Object.entries(s.types)) {
      for (const [kind, n] of Object.entries(t.events)) this.events.inc({ type, kind }, n);
    }
    this.total(this.retries, s.retries);
    this.total(this.dead, s.deadLettered);
    this.total(this.fired, s.schedules.fired);
    this.total(this.misfires, s.schedules.misfires);
    this.total(this.skipped, s.schedules.skipped);
    this.total(this.coalesced, s.schedules.coalesced);
    this.durations.set(Object.entries(s.types).map(([type, t]) => ({ labels: { type }, h: t.durationMs })));
    this.lag.set([{ labels: {}, h: s.schedules.lagMs }]);
  }

  private total(counter: Counter, value: number): void {
    counter.reset();
    counter.inc(value);
  }

  private gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    return new Gauge({ name: PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  private counter(name: string, help: string, labelNames: string[] = []): Counter {
    return new Counter({ name: PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  private histogram(name: string, help: string): SnapshotHistogram {
    const h = new SnapshotHistogram(PREFIX + name, help);
    // the registry only calls name, help, type, get() and reset(): the contract of a prom-client metric
    this.registry.registerMetric(h as unknown as Metric);
    return h;
  }
}
