import { FixedHistogram, DURATION_BUCKETS_MS } from '../metrics/histogram';
import type { EventCounts, QueueSchedulerMetricsSnapshot, TaskTypeMetrics } from '../metrics/queue-scheduler-metrics';
import { OTHER_TYPE_LABEL } from './prometheus.options';
import { totalsByTypeLabel } from './type-labels';

const zero = (): EventCounts => ({ queued: 0, started: 0, progress: 0, succeeded: 0, retrying: 0, dead: 0, cancelled: 0 });

function figures(events: Partial<EventCounts>, durations: number[] = []): TaskTypeMetrics {
  const h = new FixedHistogram(DURATION_BUCKETS_MS);
  for (const d of durations) h.observe(d);
  return { events: { ...zero(), ...events }, durationMs: h.snapshot() };
}

function snapshot(types: Record<string, TaskTypeMetrics>, events: Partial<EventCounts>): QueueSchedulerMetricsSnapshot {
  return { types, events: { ...zero(), ...events } } as QueueSchedulerMetricsSnapshot;
}

describe('totalsByTypeLabel', () => {
  it('gives each handled type its own label, from zero before its first event', () => {
    const byLabel = totalsByTypeLabel(snapshot({}, {}), ['email', 'sms']);
    expect([...byLabel.keys()]).toEqual(['email', 'sms', OTHER_TYPE_LABEL]);
    expect(byLabel.get('sms')).toEqual({ events: zero(), durationMs: { bounds: DURATION_BUCKETS_MS, cumulative: DURATION_BUCKETS_MS.map(() => 0), count: 0, sum: 0, max: 0 } });
  });

  it('folds every type without a handler into (other), buckets added index by index', () => {
    const s = snapshot(
      { email: figures({ succeeded: 2 }, [3, 40]), junk_a: figures({ queued: 1, dead: 1 }, [0]), junk_b: figures({ queued: 2, dead: 2 }, [7, 700_000]) },
      { queued: 3, succeeded: 2, dead: 3 },
    );
    const byLabel = totalsByTypeLabel(s, ['email']);
    expect([...byLabel.keys()]).toEqual(['email', OTHER_TYPE_LABEL]);
    const other = byLabel.get(OTHER_TYPE_LABEL)!;
    expect(other.events).toEqual({ ...zero(), queued: 3, dead: 3 });
    expect(other.durationMs).toMatchObject({ count: 3, sum: 700_007, max: 700_000 });
    // ≤ 5 ms: 0; ≤ 10 ms: 0 and 7; 700 s is above every bound (only in count)
    expect(other.durationMs.cumulative[0]).toBe(1);
    expect(other.durationMs.cumulative[1]).toBe(2);
    expect(other.durationMs.cumulative.at(-1)).toBe(2);
    expect(byLabel.get('email')!.durationMs.count).toBe(2);
  });

  it('adds the events reported without a type to (other), so each kind sums to the total', () => {
    // the database backend's cancellation of a pending task: counted in the totals, under no type
    const s = snapshot({ email: figures({ queued: 1, cancelled: 0 }) }, { queued: 1, cancelled: 1 });
    const byLabel = totalsByTypeLabel(s, ['email']);
    expect(byLabel.get(OTHER_TYPE_LABEL)!.events.cancelled).toBe(1);
    for (const kind of Object.keys(zero()) as Array<keyof EventCounts>) {
      expect([...byLabel.values()].reduce((sum, t) => sum + t.events[kind], 0)).toBe(s.events[kind]);
    }
  });
});
