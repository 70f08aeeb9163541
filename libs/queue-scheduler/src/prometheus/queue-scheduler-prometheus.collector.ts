import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit, Optional, ServiceUnavailableException } from '@nestjs/common';
import type { ResolvedOptions } from '../interfaces/options.interface';
import { RESOLVED_OPTIONS } from '../queue-scheduler.constants';
import { LibraryLogger, OutageLog } from '../queue-scheduler.logger';
import type { Counter, Gauge, Metric, Registry, RegistryContentType } from 'prom-client';
import { InvalidOptionsError } from '../errors/errors';
import { TaskHandlerRegistry } from '../handlers/task-handler.registry';
import { QueueSchedulerMetrics, type QueueSchedulerMetricsSnapshot } from '../metrics/queue-scheduler-metrics';
import type { PromClientModule } from './prom-client.loader';
import type { ResolvedPrometheusOptions } from './prometheus.options';
import { type HistogramSeries, SnapshotHistogram } from './snapshot-histogram';
import { totalsByTypeLabel, type TypeTotals } from './type-labels';

/** prom-client and the resolved options, made by the module's factory at start-up. */
export const PROMETHEUS_SETUP = Symbol('QueueSchedulerPrometheusSetup');

export interface PrometheusSetup extends ResolvedPrometheusOptions {
  promClient: PromClientModule;
}

interface Scrape {
  snapshot: QueueSchedulerMetricsSnapshot;
  types: Map<string, TypeTotals>;
}

type Fill<M> = (metric: M, scrape: Scrape) => void;

/**
 * Registers the library's series in the app's prom-client registry and fills
 * them from one `QueueSchedulerMetrics.snapshot()` per scrape (collect on
 * scrape: no timer, nothing computed between scrapes). Removes them again when
 * the app closes, so the registry (often prom-client's global one) can take
 * the next app's.
 */
@Injectable()
export class QueueSchedulerPrometheusCollector implements OnModuleInit, OnModuleDestroy {
  /** Each series with its full name (prom-client's types do not expose a metric's name). */
  private readonly series: Array<{ name: string; metric: Metric }>;
  private pending?: Promise<Scrape>;
  /** The queue could not be counted: said once per outage, not with a stack per scrape. */
  private readonly outage: OutageLog;

  constructor(
    @Inject(PROMETHEUS_SETUP) private readonly setup: PrometheusSetup,
    private readonly source: QueueSchedulerMetrics,
    private readonly handlers: TaskHandlerRegistry,
    @Optional() @Inject(RESOLVED_OPTIONS) options?: ResolvedOptions,
  ) {
    this.outage = new OutageLog(new LibraryLogger('QueueSchedulerPrometheus', options?.logLevel));
    // The README's "Prometheus" section lists these; keep both in step.
    this.series = [
      this.gauge('tasks', 'Tasks by status, as the queue counts them (the whole table on the durable backends)', ['status'], (g, { snapshot }) => {
        for (const [status, n] of Object.entries(snapshot.tasksByStatus)) g.set({ status }, n);
      }),
      this.gauge('queue_depth', 'Tasks waiting, ready or delayed', [], (g, { snapshot }) => g.set(snapshot.queueDepth)),
      this.gauge('workers_running', '1 while this process runs its worker pool, else 0', [], (g, { snapshot }) => g.set(snapshot.workers.running ? 1 : 0)),
      this.gauge('workers_busy', 'Tasks running now in this process', [], (g, { snapshot }) => g.set(snapshot.workers.busy)),
      this.gauge('workers_size', 'Tasks this process may run at once (0 while stopped)', [], (g, { snapshot }) => g.set(snapshot.workers.size)),
      this.counter('task_events_total', `Task events seen by this process, by task type (types without a handler together) and kind`, ['type', 'kind'], (c, { types }) => {
        for (const [type, totals] of types) for (const [kind, n] of Object.entries(totals.events)) c.inc({ type, kind }, n);
      }),
      this.counter('retries_total', 'Failed tries queued again', [], (c, { snapshot }) => c.inc(snapshot.retries)),
      this.counter('dead_lettered_total', 'Tasks moved to the dead-letter list', [], (c, { snapshot }) => c.inc(snapshot.deadLettered)),
      this.counter('schedule_fired_total', 'Schedule occurrences fired by this instance', [], (c, { snapshot }) => c.inc(snapshot.schedules.fired)),
      this.counter('misfires_total', 'Schedule occurrences missed while no instance ran', [], (c, { snapshot }) => c.inc(snapshot.schedules.misfires)),
      this.counter('schedule_skipped_total', "Occurrences of overlap 'skip' schedules dropped while the previous run was unfinished", [], (c, { snapshot }) => c.inc(snapshot.schedules.skipped)),
      this.counter('schedule_coalesced_total', "Occurrences of overlap 'wait' schedules folded into one run after waiting", [], (c, { snapshot }) => c.inc(snapshot.schedules.coalesced)),
      this.histogram('handler_duration_seconds', 'Handler run time of each finished try (succeeded, retrying, dead), by task type', ({ types }) =>
        [...types].map(([type, totals]): HistogramSeries => ({ labels: { type }, histogram: totals.durationMs })),
      ),
      this.histogram('schedule_lag_seconds', 'Fire time minus scheduled time of each fired occurrence', ({ snapshot }) => [{ labels: {}, histogram: snapshot.schedules.lagMs }]),
    ];
  }

  get registry(): Registry<RegistryContentType> {
    return this.setup.registry;
  }

  onModuleInit(): void {
    const { registry } = this.setup;
    // checked before registering any, so a clash leaves the registry as it was
    const taken = this.series.find(({ name }) => registry.getSingleMetric(name) !== undefined);
    if (taken) {
      throw new InvalidOptionsError(
        'registry',
        `the registry already has a metric named '${taken.name}' (another app or another QueueSchedulerPrometheusModule on the same registry?): give each its own registry or prefix`,
      );
    }
    for (const { metric } of this.series) registry.registerMetric(metric);
  }

  onModuleDestroy(): void {
    const { registry } = this.setup;
    // only our own: an app may have registered another metric under the name since
    for (const { name, metric } of this.series) if (registry.getSingleMetric(name) === metric) registry.removeSingleMetric(name);
  }

  /**
   * One snapshot for all series of a scrape: the registry asks every metric at
   * once, before any of them resolves, so they all share this promise.
   */
  private scrape(): Promise<Scrape> {
    this.pending ??= this.read().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async read(): Promise<Scrape> {
    let snapshot: QueueSchedulerMetricsSnapshot;
    try {
      snapshot = await this.source.snapshot();
    } catch (err) {
      const message = `the queue could not be counted: ${(err as Error).message}`;
      this.outage.failed(`scrape failed (503 until it can): ${message}`);
      // an HttpException: the scrape answers 503 and Nest logs no stack for it
      throw new ServiceUnavailableException(message);
    }
    this.outage.worked('the queue is counted again: scrapes answer 200');
    return { snapshot, types: totalsByTypeLabel(snapshot, this.handlers.types()) };
  }

  private gauge(name: string, help: string, labelNames: string[], fill: Fill<Gauge>): { name: string; metric: Metric } {
    const scrape = () => this.scrape();
    const fullName = this.setup.prefix + name;
    const gauge: Gauge = new this.setup.promClient.Gauge({
      name: fullName,
      help,
      labelNames,
      registers: [],
      async collect() {
        const s = await scrape();
        gauge.reset();
        fill(gauge, s);
      },
    });
    return { name: fullName, metric: gauge };
  }

  private counter(name: string, help: string, labelNames: string[], fill: Fill<Counter>): { name: string; metric: Metric } {
    const scrape = () => this.scrape();
    const fullName = this.setup.prefix + name;
    const counter: Counter = new this.setup.promClient.Counter({
      name: fullName,
      help,
      labelNames,
      registers: [],
      // The library holds the totals: each scrape sets them afresh (reset, then inc by the total), never adds twice.
      async collect() {
        const s = await scrape();
        counter.reset();
        fill(counter, s);
      },
    });
    return { name: fullName, metric: counter };
  }

  private histogram(name: string, help: string, series: (scrape: Scrape) => HistogramSeries[]): { name: string; metric: Metric } {
    const fullName = this.setup.prefix + name;
    const histogram = new SnapshotHistogram(fullName, help, async () => series(await this.scrape()));
    // the registry reads name, help, type, aggregator, get() and reset(): what SnapshotHistogram provides
    return { name: fullName, metric: histogram as unknown as Metric };
  }
}
