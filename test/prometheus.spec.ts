import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type INestApplication, Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  InvalidOptionsError,
  QueueSchedulerMetrics,
  QueueSchedulerModule,
  type QueueSchedulerModuleOptions,
  type TaskContext,
  TaskHandler,
  TaskQueue,
  WorkerPoolService,
} from 'nestjs-queue-scheduler';
import { DEFAULT_SNAPSHOT_TIMEOUT_MS, MAX_TRACKED_TYPES } from 'nestjs-queue-scheduler/metrics/queue-scheduler-metrics';
import { OTHER_TYPE_LABEL, QueueSchedulerPrometheusModule } from 'nestjs-queue-scheduler/prometheus';
import { Counter, type OpenMetricsContentType, register, Registry } from 'prom-client';
import type { DataSourceOptions } from 'typeorm';
import { type Backend, useBackendApp } from './support/backend-app';
import { DATABASES, type DatabaseKind, useTestDatabase } from './support/databases';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { useProxiedApp } from './support/tcp-proxy';
import { waitFor } from './support/wait-for';
import { runJsonChild } from './support/json-child';

jest.setTimeout(60_000);

const ROOT = join(__dirname, '..');
const fastRetry = { retries: { attempts: 2, backoff: 'fixed' as const, delayMs: 10 } };
const HANDLED = ['ok', 'flaky', 'broken'];

@Injectable()
class OutcomeHandlers {
  @TaskHandler('ok')
  async ok(_params: unknown, ctx: TaskContext): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 5)); // simulated work: a duration above 0
    ctx.progress(100);
  }

  @TaskHandler('flaky', fastRetry)
  flaky(_params: unknown, ctx: TaskContext): void {
    if (ctx.attempt === 1) throw new Error('first try fails');
  }

  @TaskHandler('broken', fastRetry)
  broken(): void {
    throw new Error('every try fails');
  }
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (label values here never hold a comma or a quote). */
function parse(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not a sample line: ${line}`);
      const labels = Object.fromEntries((match[2] ? match[2].split(',') : []).map((pair) => /^(\w+)="(.*)"$/.exec(pair)!.slice(1, 3)));
      return { name: match[1], labels, value: Number(match[3]) };
    });
}

/** The value of the sample with exactly these labels; undefined when absent. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const keys = Object.keys(labels);
  return samples.find((s) => s.name === name && Object.keys(s.labels).length === keys.length && keys.every((k) => s.labels[k] === labels[k]))?.value;
}

/** `# TYPE name type` of every series in the exposition. */
function types(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
}

/** The README's "Prometheus" table: series name → type, labels. */
function documentedSeries(): Map<string, { type: string; labels: string[] }> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Prometheus');
  expect(start).toBeGreaterThan(0);
  const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1));
  const rows = [...section.matchAll(/^\| `(queue_scheduler_\w+)` \| (\w+) \|([^|]*)\|/gm)];
  return new Map(rows.map((r) => [r[1], { type: r[2], labels: [...r[3].matchAll(/`(\w+)`/g)].map((l) => l[1]) }]));
}

async function listen(app: INestApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
}

async function scrape(base: string, path = '/metrics'): Promise<{ status: number; contentType: string | null; text: string }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
}

/** Scrapes until `done` holds of the samples (outcome events follow the stored outcome by a moment); the last scrape. */
async function scrapeUntil(base: string, done: (samples: Sample[]) => boolean, what: string, { path = '/metrics', timeoutMs = 10_000 } = {}) {
  let last = await scrape(base, path);
  await waitFor(async () => done(parse((last = await scrape(base, path)).text)), what, timeoutMs);
  return last;
}

describe.each<Backend>(['memory', 'sqlite'])('QueueSchedulerPrometheusModule on %s', (backend) => {
  const apps = useBackendApp(backend);

  it('serves every documented series at GET /metrics, with the counts of tasks that succeeded, retried and died', async () => {
    const registry = new Registry();
    const app = await apps.boot({}, [OutcomeHandlers], { imports: [QueueSchedulerPrometheusModule.forRoot({ registry })] });
    const base = await listen(app);
    const queue = app.get(TaskQueue);
    const snapshots = jest.spyOn(app.get(QueueSchedulerMetrics), 'snapshot');

    for (let i = 0; i < 3; i++) await queue.pushTask({ type: 'ok' });
    await queue.pushTask({ type: 'flaky' });
    await queue.pushTask({ type: 'broken' });
    const later = await queue.pushTask({ type: 'ok', delayMs: 60_000 });
    expect(await queue.cancelTask(later)).toBe(true);
    await waitFor(async () => (await queue.getTask(later))?.status === 'cancelled' && (await queue.countByStatus()).dead === 1 && (await queue.countByStatus()).succeeded === 4, 'every outcome stored');
    // collect on scrape: nothing read the metrics while the tasks ran
    expect(snapshots).not.toHaveBeenCalled();

    const res = await scrapeUntil(
      base,
      (samples) => value(samples, 'queue_scheduler_dead_lettered_total') === 1 && value(samples, 'queue_scheduler_task_events_total', { type: 'ok', kind: 'succeeded' }) === 3,
      'the outcomes in the scrape',
    );
    const calls = snapshots.mock.calls.length;
    await scrape(base);
    // one snapshot serves all the series of a scrape
    expect(snapshots.mock.calls.length - calls).toBe(1);

    expect(res.status).toBe(200);
    expect(res.contentType).toBe(Registry.PROMETHEUS_CONTENT_TYPE);
    const samples = parse(res.text);
    const at = (name: string, labels?: Record<string, string>) => value(samples, `queue_scheduler_${name}`, labels);

    // the documented series, each with its documented type and labels, and no other
    const documented = documentedSeries();
    expect(documented.size).toBeGreaterThanOrEqual(14);
    expect(types(res.text)).toEqual(new Map([...documented].map(([name, d]) => [name, d.type])));
    for (const s of samples) {
      const base = [...documented.keys()].find((name) => s.name === name || (documented.get(name)!.type === 'histogram' && s.name.startsWith(`${name}_`)))!;
      expect(Object.keys(s.labels).filter((l) => l !== 'le').sort()).toEqual([...documented.get(base)!.labels].filter((l) => l !== 'le').sort());
    }

    expect(at('task_events_total', { type: 'ok', kind: 'queued' })).toBe(4);
    expect(at('task_events_total', { type: 'ok', kind: 'succeeded' })).toBe(3);
    expect(at('task_events_total', { type: 'ok', kind: 'progress' })).toBe(3);
    expect(at('task_events_total', { type: 'flaky', kind: 'started' })).toBe(2);
    expect(at('task_events_total', { type: 'flaky', kind: 'retrying' })).toBe(1);
    expect(at('task_events_total', { type: 'flaky', kind: 'succeeded' })).toBe(1);
    expect(at('task_events_total', { type: 'broken', kind: 'retrying' })).toBe(1);
    expect(at('task_events_total', { type: 'broken', kind: 'dead' })).toBe(1);
    expect(at('task_events_total', { type: OTHER_TYPE_LABEL, kind: 'queued' })).toBe(0);
    // the database backend does not know the type of a task it cancels before it runs: counted under (other) there
    const cancelled = samples.filter((s) => s.name === 'queue_scheduler_task_events_total' && s.labels.kind === 'cancelled');
    expect(cancelled.reduce((sum, s) => sum + s.value, 0)).toBe(1);
    expect(new Set(samples.filter((s) => s.name === 'queue_scheduler_task_events_total').map((s) => s.labels.type))).toEqual(new Set([...HANDLED, OTHER_TYPE_LABEL]));

    expect(at('retries_total')).toBe(2);
    expect(at('dead_lettered_total')).toBe(1);
    expect(at('tasks', { status: 'succeeded' })).toBe(4);
    expect(at('tasks', { status: 'dead' })).toBe(1);
    expect(at('tasks', { status: 'cancelled' })).toBe(1);
    expect(at('tasks', { status: 'pending' })).toBe(0);
    expect(at('queue_depth')).toBe(0);
    expect(at('workers_running')).toBe(1);
    expect(at('workers_busy')).toBe(0);
    expect(at('workers_size')).toBe(app.get(WorkerPoolService).size);
    expect(at('schedule_fired_total')).toBe(0);
    expect(at('schedule_lag_seconds_count')).toBe(0);

    // handler durations: ok 3 tries, flaky 2, broken 2; each bucket cumulative up to +Inf = count
    for (const [type, tries] of [['ok', 3], ['flaky', 2], ['broken', 2]] as const) {
      expect(at('handler_duration_seconds_count', { type })).toBe(tries);
      expect(at('handler_duration_seconds_bucket', { type, le: '+Inf' })).toBe(tries);
      expect(at('handler_duration_seconds_bucket', { type, le: '600' })).toBe(tries);
    }
    expect(at('handler_duration_seconds_sum', { type: 'ok' })).toBeGreaterThanOrEqual(3 * 0.004);
  });

  it('registers in prom-client\'s global register by default, serves no route with path: false, and leaves the register clean on close', async () => {
    const app = await apps.boot({}, [OutcomeHandlers], { imports: [QueueSchedulerPrometheusModule.forRoot({ path: false })] });
    const base = await listen(app);
    expect((await scrape(base)).status).toBe(404);
    await app.get(TaskQueue).pushTask({ type: 'ok' });
    await waitFor(async () => (await register.getSingleMetricAsString('queue_scheduler_task_events_total')).includes('type="ok",kind="succeeded"} 1'), 'the success in the global register');
    expect(parse(await register.metrics()).map((s) => s.name)).toContain('queue_scheduler_handler_duration_seconds_bucket');
    await apps.close();
    expect(register.getSingleMetric('queue_scheduler_tasks')).toBeUndefined();
    expect(await register.metrics()).not.toContain('queue_scheduler_');
  });
});

describe('QueueSchedulerPrometheusModule options', () => {
  const apps = useBackendApp('memory');

  it('forRootAsync: a registry and prefix from a factory, the route at another path', async () => {
    const registry = new Registry();
    const app = await apps.boot({}, [OutcomeHandlers], {
      imports: [QueueSchedulerPrometheusModule.forRootAsync({ useFactory: async () => ({ registry, prefix: 'jobs_' }), path: '/internal/prom' })],
    });
    const base = await listen(app);
    expect((await scrape(base)).status).toBe(404);
    await app.get(TaskQueue).pushTask({ type: 'ok' });
    const { text } = await scrapeUntil(base, (samples) => value(samples, 'jobs_task_events_total', { type: 'ok', kind: 'succeeded' }) === 1, 'the success under the prefix', { path: '/internal/prom' });
    expect(text).not.toContain('queue_scheduler_');
    expect(await registry.getSingleMetricAsString('jobs_workers_size')).toContain('jobs_workers_size ');
    expect(register.getSingleMetric('jobs_tasks')).toBeUndefined();
  });

  it("serves the app's own metrics in the same registry, in the registry's content type", async () => {
    const registry = new Registry<OpenMetricsContentType>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    new Counter({ name: 'app_logins', help: 'the app', registers: [registry] }).inc(2);
    const app = await apps.boot({}, [OutcomeHandlers], { imports: [QueueSchedulerPrometheusModule.forRoot({ registry })] });
    const res = await scrape(await listen(app));
    expect(res.contentType).toBe(Registry.OPENMETRICS_CONTENT_TYPE);
    expect(res.text).toContain('app_logins_total 2');
    expect(res.text).toContain('queue_scheduler_retries_total 0');
    expect(res.text.trimEnd().endsWith('# EOF')).toBe(true);
  });

  it('stops start-up naming the registry when a series name is taken there, and registers none of its series', async () => {
    const registry = new Registry();
    new Counter({ name: 'queue_scheduler_retries_total', help: 'someone else', registers: [registry] });
    const error = await apps.boot({}, [], { imports: [QueueSchedulerPrometheusModule.forRoot({ registry })] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error).toMatchObject({ field: 'registry', message: expect.stringContaining("already has a metric named 'queue_scheduler_retries_total'") });
    expect(registry.getMetricsAsArray()).toHaveLength(1);
  });

  it.each([
    [{ prefix: '9lives_' }, 'prefix', "got '9lives_'"],
    [{ prefix: 'has space' }, 'prefix', "got 'has space'"],
    [{ registry: {} as Registry }, 'registry', 'no registerMetric, removeSingleMetric, getSingleMetric, metrics'],
  ])('refuses %j with an InvalidOptionsError naming %s', async (options, field, detail) => {
    const error = await apps.boot({}, [], { imports: [QueueSchedulerPrometheusModule.forRoot(options)] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error).toMatchObject({ field, message: expect.stringContaining(detail) });
  });

  it.each([[''], ['  '], [42], [true]])('refuses path %j when the module is declared', (path) => {
    expect(() => QueueSchedulerPrometheusModule.forRoot({ path: path as string })).toThrow(
      expect.objectContaining({ name: 'InvalidOptionsError', field: 'path', message: expect.stringContaining('path must be a route') }),
    );
  });
});

describe('label cardinality', () => {
  const apps = useBackendApp('memory');

  it('10,000 pushes of random types without handlers add no series: they share type="(other)"', async () => {
    const registry = new Registry();
    const app = await apps.boot({}, [OutcomeHandlers], { imports: [QueueSchedulerPrometheusModule.forRoot({ registry })] });
    const base = await listen(app);
    const queue = app.get(TaskQueue);
    await queue.pushTask({ type: 'ok' });
    const before = parse((await scrapeUntil(base, (samples) => value(samples, 'queue_scheduler_task_events_total', { type: 'ok', kind: 'succeeded' }) === 1, 'the first success')).text);

    const junk = 10_000;
    for (let i = 0; i < junk; i++) await queue.pushTask({ type: `junk_${Math.random().toString(36).slice(2)}_${i}` });
    // no handler: each is dead-lettered at once; wait for all of them in the counts. ~5 s alone; 30 s was passed on a
    // CI run sharing the machine's two cores with another job, so the bound is far from the usual time
    const after = parse(
      (await scrapeUntil(base, (samples) => value(samples, 'queue_scheduler_task_events_total', { type: OTHER_TYPE_LABEL, kind: 'dead' }) === junk, 'every junk task dead-lettered', { timeoutMs: 100_000 })).text,
    );

    // the same series as before the flood: registered types and "(other)" only
    expect(after.length).toBe(before.length);
    expect(after.map((s) => `${s.name}${JSON.stringify(s.labels)}`).sort()).toEqual(before.map((s) => `${s.name}${JSON.stringify(s.labels)}`).sort());
    const typeLabels = new Set(after.filter((s) => s.labels.type !== undefined).map((s) => s.labels.type));
    expect(typeLabels).toEqual(new Set([...HANDLED, OTHER_TYPE_LABEL]));
    expect(value(after, 'queue_scheduler_task_events_total', { type: OTHER_TYPE_LABEL, kind: 'queued' })).toBe(junk);
    expect(value(after, 'queue_scheduler_dead_lettered_total')).toBe(junk);

    // and the library's own memory: the handled types, at most MAX_TRACKED_TYPES other names, one entry for the rest
    const snapshot = await app.get(QueueSchedulerMetrics).snapshot();
    expect(Object.keys(snapshot.types).length).toBeLessThanOrEqual(HANDLED.length + MAX_TRACKED_TYPES + 1);
    expect(snapshot.types.ok.events.succeeded).toBe(1);
  }, 150_000);
});

describe('prom-client is loaded only when the module starts', () => {
  /** test/support/prometheus-process.ts in a child process, with `hidden` packages unresolvable. */
  const runChild = (hidden: string) =>
    runJsonChild<{ afterMain: boolean; afterEntry: boolean; afterBoot: boolean; error?: { name: string; message: string; packageName?: string } }>('prometheus-process.ts', hidden);

  it('importing the main entry or the prometheus entry does not load prom-client; booting the module does', async () => {
    const result = await runChild('');
    expect(result).toEqual({ afterMain: false, afterEntry: false, afterBoot: true });
  });

  it('without prom-client installed, start-up stops with a MissingPackageError naming it and how to install it', async () => {
    const result = await runChild('prom-client');
    expect(result).toEqual({
      afterMain: false,
      afterEntry: false,
      afterBoot: false,
      error: {
        name: 'MissingPackageError',
        packageName: 'prom-client',
        message: "QueueSchedulerPrometheusModule (nestjs-queue-scheduler/prometheus) needs the package 'prom-client', which is not installed: run npm install prom-client",
      },
    });
  });
});


/** An app that serves /metrics with its queue (or its database) behind a TCP proxy the test can cut. */
async function bootBehind(connection: DataSourceOptions | null, queue: QueueSchedulerModuleOptions['queue']): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ...(connection ? [TypeOrmModule.forRoot({ ...connection, autoLoadEntities: true, synchronize: true, logging: false })] : []),
      QueueSchedulerModule.forRoot({ logLevel: 'fatal', queue, ...(connection ? {} : { dataSource: false }) }),
      QueueSchedulerPrometheusModule.forRoot({ registry: new Registry() }),
    ],
    providers: [OutcomeHandlers],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

/** A scrape's status and how long it took. */
async function timedScrape(base: string): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  const { status } = await scrape(base);
  return { status, ms: Date.now() - started };
}

describe('a scrape while the backend is away fails instead of hanging', () => {
  const proxied = useProxiedApp();

  describe('redis backend', () => {
    const prefix = testPrefix();
    afterAll(() => dropPrefix(prefix));

    it('answers 503 at once while the connection is lost, 200 again once Redis is back', async () => {
      const proxy = await proxied.start(REDIS.host, REDIS.port);
      const app = (proxied.app = await bootBehind(null, { backend: 'redis', connection: { host: '127.0.0.1', port: proxy.port }, prefix }));
      const base = await listen(app);
      await app.get(TaskQueue).pushTask({ type: 'ok' });
      expect((await timedScrape(base)).status).toBe(200);

      proxy.cut('reset');
      // once the client has seen the connection go, no scrape waits for the reconnect
      await waitFor(async () => (await timedScrape(base)).status === 503, 'a scrape to fail');
      const failed = await Promise.all([timedScrape(base), timedScrape(base)]);
      for (const { status, ms } of failed) {
        expect(status).toBe(503);
        expect(ms).toBeLessThan(1000);
      }
      await expect(app.get(QueueSchedulerMetrics).snapshot()).rejects.toThrow(/^the redis connection is /);
      const body = (await (await fetch(`${base}/metrics`)).json()) as { message: string };
      expect(body.message).toMatch(/^the queue could not be counted: the redis connection is /);

      proxy.restore();
      await waitFor(async () => (await timedScrape(base)).status === 200, 'scrapes to answer again');
    });
  });

  const serverKinds = DATABASES.filter((k): k is Exclude<DatabaseKind, 'sqlite'> => k !== 'sqlite');
  (serverKinds.length ? describe.each(serverKinds) : describe.skip.each(['mariadb']))('database backend on %s', (kind) => {
    const db = useTestDatabase(kind as DatabaseKind);

    it('fails a scrape after the snapshot timeout when the database stops answering, and answers again after', async () => {
      const target = db.options as { host: string; port: number };
      const proxy = await proxied.start(target.host, target.port);
      const app = (proxied.app = await bootBehind({ ...db.options, host: '127.0.0.1', port: proxy.port } as DataSourceOptions, { backend: 'database' }));
      const base = await listen(app);
      expect((await timedScrape(base)).status).toBe(200);

      proxy.cut('hang');
      const late = app.get(QueueSchedulerMetrics).snapshot({ timeoutMs: 300 });
      await expect(late).rejects.toThrow("counting the queue's tasks timed out after 300 ms");
      await expect(late).rejects.toMatchObject({ name: 'BackendTimeoutError', timeoutMs: 300 });
      const hung = await timedScrape(base);
      expect(hung.status).toBe(503);
      expect(hung.ms).toBeGreaterThanOrEqual(DEFAULT_SNAPSHOT_TIMEOUT_MS - 50);
      expect(hung.ms).toBeLessThan(DEFAULT_SNAPSHOT_TIMEOUT_MS + 2000);

      proxy.restore();
      await waitFor(async () => (await timedScrape(base)).status === 200, 'scrapes to answer again', 15_000);
    });
  });
});
