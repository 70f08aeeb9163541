import { SchedulerService, WorkerPoolService } from 'nestjs-queue-scheduler';
import { waitFor, useDemoApp } from './support/demo-app';

jest.setTimeout(30_000);

const demo = useDemoApp();

/** Reads one sample of a Prometheus text exposition; undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = match[2] ? match[2].split(',') : [];
    if (have.length === wanted.length && wanted.every((w) => have.includes(w))) return Number(match[3]);
  }
  return undefined;
}

const scrape = async () => (await demo.http().get('/metrics').expect(200)).text;

describe('GET /api/health', () => {
  it('is 200 with every check of the queue scheduler up', async () => {
    const res = await demo.http().get('/api/health').expect(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.info.queue_scheduler).toMatchObject({
      status: 'up',
      database: { status: 'up', responseTimeMs: expect.any(Number) },
      scheduler: { status: 'up', running: true },
      scheduleLag: { status: 'up', lagMs: expect.any(Number), maxLagMs: 60_000 },
      workers: { status: 'up', running: true, size: 3 },
    });
  });

  it('is 503 naming the check while the scheduler is stopped, and 200 again once it runs', async () => {
    const scheduler = demo.app.get(SchedulerService);
    await scheduler.stop();
    try {
      const down = await demo.http().get('/api/health').expect(503);
      expect(down.body.status).toBe('error');
      expect(down.body.error.queue_scheduler).toMatchObject({ status: 'down', scheduler: { status: 'down', error: 'the scheduler is not running' } });
      expect(down.body.error.queue_scheduler.database.status).toBe('up');
    } finally {
      scheduler.start();
    }
    await demo.http().get('/api/health').expect(200);
  });

  it('is 503 while the worker pool is stopped', async () => {
    const workers = demo.app.get(WorkerPoolService);
    await workers.stop();
    try {
      const down = await demo.http().get('/api/health').expect(503);
      expect(down.body.error.queue_scheduler.workers).toMatchObject({ status: 'down', running: false });
    } finally {
      workers.start();
    }
    await demo.http().get('/api/health').expect(200);
  });
});

describe('GET /metrics', () => {
  it('serves the Prometheus text format at the root, not under /api', async () => {
    const res = await demo.http().get('/metrics').expect(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.text).toContain('# TYPE queue_scheduler_handler_duration_seconds histogram');
    expect(res.text).toContain('# TYPE queue_scheduler_retries_total counter');
    expect(sample(res.text, 'queue_scheduler_workers_size')).toBe(3);
    for (const status of ['pending', 'running', 'succeeded', 'failed', 'dead', 'cancelled']) {
      expect(sample(res.text, 'queue_scheduler_tasks', { status })).toEqual(expect.any(Number));
    }
    await demo.http().get('/api/metrics').expect(404);
  });

  it('counts successes, retries and dead letters, with handler durations per type', async () => {
    const before = await scrape();
    const count = (text: string, name: string, labels?: Record<string, string>) => sample(text, name, labels) ?? 0;
    const ok = { type: 'convert_format', kind: 'succeeded' };
    await demo.http().post('/api/tasks').send({ type: 'convert_format', params: { file: 'm.wav', simulateMs: 0 } }).expect(202);
    // an unknown format fails both tries (2 attempts, 500 ms apart): one retry, then dead
    await demo.http().post('/api/tasks').send({ type: 'convert_format', params: { file: 'm.wav', format: 'xyz', simulateMs: 0 } }).expect(202);
    const after = await waitFor(
      scrape,
      (text) => count(text, 'queue_scheduler_dead_lettered_total') > count(before, 'queue_scheduler_dead_lettered_total') && count(text, 'queue_scheduler_task_events_total', ok) > count(before, 'queue_scheduler_task_events_total', ok),
      'a success and a dead letter in /metrics',
    );
    expect(count(after, 'queue_scheduler_retries_total')).toBeGreaterThan(count(before, 'queue_scheduler_retries_total'));
    expect(count(after, 'queue_scheduler_task_events_total', { type: 'convert_format', kind: 'dead' })).toBeGreaterThanOrEqual(1);
    const tries = count(after, 'queue_scheduler_handler_duration_seconds_count', { type: 'convert_format' });
    expect(tries).toBeGreaterThanOrEqual(3);
    expect(count(after, 'queue_scheduler_handler_duration_seconds_bucket', { type: 'convert_format', le: '+Inf' })).toBe(tries);
    expect(count(after, 'queue_scheduler_handler_duration_seconds_bucket', { type: 'convert_format', le: '600' })).toBe(tries);
  });

  it('records the schedule lag of a fired occurrence', async () => {
    const executeAt = new Date(Date.now() + 300).toISOString();
    await demo.http().post('/api/schedules').send({ name: 'metrics once', taskType: 'convert_format', scheduleType: 'once', executeAt, params: { file: 'o.wav', simulateMs: 0 } }).expect(201);
    const text = await waitFor(scrape, (t) => (sample(t, 'queue_scheduler_schedule_fired_total') ?? 0) >= 1, 'a fired occurrence');
    const fired = sample(text, 'queue_scheduler_schedule_fired_total')!;
    expect(sample(text, 'queue_scheduler_schedule_lag_seconds_count')).toBe(fired);
    expect(sample(text, 'queue_scheduler_schedule_lag_seconds_bucket', { le: '3600' })).toBe(fired);
    expect(sample(text, 'queue_scheduler_misfires_total')).toBe(0);
    expect(sample(text, 'queue_scheduler_schedule_skipped_total')).toBe(0);
    expect(sample(text, 'queue_scheduler_schedule_coalesced_total')).toBe(0);
  });
});
