import type { TaskEventKind } from '../interfaces/task.interface';
import { DURATION_BUCKETS_MS, type HistogramSnapshot } from '../metrics/histogram';
import type { EventCounts, QueueSchedulerMetricsSnapshot } from '../metrics/queue-scheduler-metrics';
import { OTHER_TYPE_LABEL } from './prometheus.options';

export interface TypeTotals {
  events: EventCounts;
  durationMs: HistogramSnapshot;
}

const KINDS: readonly TaskEventKind[] = ['queued', 'started', 'progress', 'succeeded', 'retrying', 'dead', 'cancelled'];

function emptyTotals(): TypeTotals {
  return {
    events: { queued: 0, started: 0, progress: 0, succeeded: 0, retrying: 0, dead: 0, cancelled: 0 },
    durationMs: { bounds: DURATION_BUCKETS_MS, cumulative: DURATION_BUCKETS_MS.map(() => 0), count: 0, sum: 0, max: 0 },
  };
}

function add(into: TypeTotals, from: TypeTotals): void {
  for (const kind of KINDS) into.events[kind] += from.events[kind];
  const h = into.durationMs;
  const o = from.durationMs;
  // every duration histogram has the same bounds (DURATION_BUCKETS_MS), so buckets add index by index
  into.durationMs = {
    bounds: h.bounds,
    cumulative: h.cumulative.map((n, i) => n + (o.cumulative[i] ?? 0)),
    count: h.count + o.count,
    sum: h.sum + o.sum,
    max: Math.max(h.max, o.max),
  };
}

/**
 * The snapshot's per-type figures by `type` label value: one entry per task
 * type with a registered handler (zeros until it has events, so `rate()`
 * starts from 0), and OTHER_TYPE_LABEL for every other name together, plus
 * any event counted without a type (none of the backends reports one today).
 * Summed over labels, each kind equals the snapshot's total, and the label
 * values are bounded by the code.
 */
export function totalsByTypeLabel(snapshot: QueueSchedulerMetricsSnapshot, handledTypes: readonly string[]): Map<string, TypeTotals> {
  const byLabel = new Map<string, TypeTotals>();
  for (const type of handledTypes) byLabel.set(type, emptyTotals());
  if (!byLabel.has(OTHER_TYPE_LABEL)) byLabel.set(OTHER_TYPE_LABEL, emptyTotals());
  const other = byLabel.get(OTHER_TYPE_LABEL)!;
  const handled = new Set(handledTypes);
  for (const [type, figures] of Object.entries(snapshot.types)) add(handled.has(type) ? byLabel.get(type)! : other, figures);
  for (const kind of KINDS) {
    let labelled = 0;
    for (const totals of byLabel.values()) labelled += totals.events[kind];
    other.events[kind] += Math.max(0, snapshot.events[kind] - labelled);
  }
  return byLabel;
}
