import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { context, createTraceState, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { type PushTaskInput, QUEUE_SCHEDULER_ENTITIES, QueuedTask, QueueSchedulerModule, RateLimitedError, SchedulerService, type TaskContext, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { type Backend, BACKENDS, useBackendApp } from './support/backend-app';
import { DATABASES, useTestDatabase } from './support/databases';
import { type Instance, startInstance, stopAll, waitReady } from './support/processes';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

/** A finished span as this process and the child process (test/support/app-process.ts, app `traced`) both report it. */
interface SpanLine {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  links: Array<{ traceId: string; spanId: string; traceState?: string }>;
  attributes: Record<string, unknown>;
  status: { code: number; message?: string };
  events: Array<{ name: string; attributes?: Record<string, unknown> }>;
}

const exporter = new InMemorySpanExporter();
const tracer = () => trace.getTracer('tracing-spec');
/** What the request's trace carries from upstream: the task must carry it on. */
const VENDOR_STATE = 'vendor=opaque-42';

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
});

afterAll(() => {
  trace.disable();
  context.disable();
});

beforeEach(() => exporter.reset());

function lineOf(span: ReadableSpan): SpanLine {
  const { traceId, spanId } = span.spanContext();
  const links = span.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId, traceState: l.context.traceState?.serialize() }));
  const events = span.events.map((e) => ({ name: e.name, attributes: e.attributes }));
  // through JSON, as the child's lines come: undefined fields dropped alike
  return JSON.parse(JSON.stringify({ name: span.name, kind: span.kind, traceId, spanId, parentSpanId: span.parentSpanContext?.spanId, links, attributes: span.attributes, status: span.status, events })) as SpanLine;
}

const finished = (): SpanLine[] => exporter.getFinishedSpans().map(lineOf);
const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

/**
 * Pushes `input` inside a `request` span, as a traced HTTP handler would:
 * its trace comes from upstream with a tracestate. Returns the task's id and
 * the request span.
 */
async function pushInRequest(queue: TaskQueue, input: PushTaskInput): Promise<{ id: string; request: SpanLine }> {
  const upstream = trace.setSpanContext(ROOT_CONTEXT, { traceId: hex(16), spanId: hex(8), traceFlags: 1, isRemote: true, traceState: createTraceState(VENDOR_STATE) });
  const { id, span } = await tracer().startActiveSpan('request', {}, upstream, async (span) => {
    try {
      return { id: await queue.pushTask(input), span };
    } finally {
      span.end();
    }
  });
  return { id, request: lineOf(span as unknown as ReadableSpan) };
}

/** The push span of task `id`: a PRODUCER child of `request`, in its trace. */
function pushSpanOf(spans: SpanLine[], id: string, request: SpanLine): SpanLine {
  const push = spans.filter((s) => s.name === 'queue.push' && s.attributes['queue.task.id'] === id);
  expect(push).toHaveLength(1);
  expect(push[0]).toMatchObject({ kind: SpanKind.PRODUCER, traceId: request.traceId, parentSpanId: request.spanId });
  return push[0];
}

/** The tries' spans of task `id`, first attempt first. */
function trySpansOf(spans: SpanLine[], id: string): SpanLine[] {
  return spans
    .filter((s) => s.name === 'queue.task' && s.attributes['queue.task.id'] === id)
    .sort((a, b) => Number(a.attributes['queue.task.attempt']) - Number(b.attributes['queue.task.attempt']));
}

/** A try's span: a CONSUMER root span of its own trace, linked to the push span, tracestate included. */
function expectLinkedTry(span: SpanLine, push: SpanLine, attributes: Record<string, unknown>): void {
  expect(span).toMatchObject({ kind: SpanKind.CONSUMER, links: [{ traceId: push.traceId, spanId: push.spanId, traceState: VENDOR_STATE }], attributes });
  expect(span.parentSpanId).toBeUndefined();
  expect(span.traceId).not.toBe(push.traceId);
}

/** The exception events and ERROR status of a failed try. */
function expectFailure(span: SpanLine, message: string): void {
  expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message });
  expect(span.events).toEqual([{ name: 'exception', attributes: expect.objectContaining({ 'exception.type': 'Error', 'exception.message': message }) }]);
}

@Injectable()
class TracedHandlers {
  @TaskHandler('traced-ok')
  async ok(): Promise<string> {
    // after an await, still in the try's span: the handler's own spans are its children
    await new Promise((resolve) => setImmediate(resolve));
    tracer().startSpan('handler.work').end();
    return 'ok';
  }

  @TaskHandler('traced-fail', { retries: { attempts: 2, backoff: 'fixed', delayMs: 10 } })
  fail(_params: unknown, ctx: TaskContext): never {
    throw new Error(`boom on attempt ${ctx.attempt}`);
  }

  /** Backs off once with RateLimitedError (given back, no attempt used), then succeeds. */
  backedOff = new Set<string>();
  @TaskHandler('traced-limited')
  limited(_params: unknown, ctx: TaskContext): string {
    if (this.backedOff.has(ctx.taskId)) return 'ok';
    this.backedOff.add(ctx.taskId);
    throw new RateLimitedError(20);
  }

  /** Runs until cancelTask aborts its signal. */
  started = new Set<string>();
  @TaskHandler('traced-cancel')
  cancellable(_params: unknown, ctx: TaskContext): Promise<never> {
    this.started.add(ctx.taskId);
    return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  }
}

/** The trace context as stored: the entity's column on a database, the status API elsewhere. */
async function storedTraceContext(app: INestApplication, backend: Backend, id: string): Promise<string | null | undefined> {
  if (backend === 'memory' || backend === 'redis') return (await app.get(TaskQueue).getTask(id)).traceContext;
  return (await app.get(DataSource).getRepository(QueuedTask).findOneByOrFail({ taskId: id })).traceContext;
}

async function settled(queue: TaskQueue, id: string, status: 'succeeded' | 'dead'): Promise<void> {
  await waitFor(async () => (await queue.getTask(id)).status === status, `task ${id} ${status}`);
}

describe.each(BACKENDS)('tracing on the %s backend', (backend) => {
  const apps = useBackendApp(backend);
  const boot = (tracing: boolean) => apps.boot({ tracing, queue: { pollIntervalMs: 50 } }, [TracedHandlers]);

  it("links each try's span to the span of its push, carrying the tracestate, and runs the handler inside it", async () => {
    const app = await boot(true);
    const queue = app.get(TaskQueue);
    const { id, request } = await pushInRequest(queue, { type: 'traced-ok' });
    await settled(queue, id, 'succeeded');

    const spans = finished();
    const push = pushSpanOf(spans, id, request);
    expect(push.attributes).toEqual({ 'messaging.system': 'nestjs-queue-scheduler', 'messaging.operation.type': 'send', 'queue.backend': apps.db.present ? 'database' : backend, 'queue.task.type': 'traced-ok', 'queue.task.id': id });
    const stored = `00-${push.traceId}-${push.spanId}-01;${VENDOR_STATE}`;
    expect(await storedTraceContext(app, backend, id)).toBe(stored);
    expect((await queue.getTask(id)).traceContext).toBe(stored);

    const tries = trySpansOf(spans, id);
    expect(tries).toHaveLength(1);
    expectLinkedTry(tries[0], push, { 'messaging.operation.type': 'process', 'queue.task.type': 'traced-ok', 'queue.task.attempt': 1, 'queue.task.outcome': 'succeeded' });
    expect(tries[0].status.code).toBe(SpanStatusCode.UNSET);
    expect(spans.filter((s) => s.name === 'handler.work')).toEqual([expect.objectContaining({ traceId: tries[0].traceId, parentSpanId: tries[0].spanId })]);
  });

  it('records the error on the failed try and on the dead one, each linked to the push', async () => {
    const app = await boot(true);
    const queue = app.get(TaskQueue);
    const { id, request } = await pushInRequest(queue, { type: 'traced-fail' });
    await settled(queue, id, 'dead');

    const spans = finished();
    const push = pushSpanOf(spans, id, request);
    const tries = trySpansOf(spans, id);
    expect(tries.map((s) => s.attributes['queue.task.outcome'])).toEqual(['failed', 'dead']);
    tries.forEach((span, i) => {
      expectLinkedTry(span, push, { 'queue.task.attempt': i + 1 });
      expectFailure(span, `boom on attempt ${i + 1}`);
    });
  });

  it('names the outcome of a try given back (RateLimitedError) and of a cancelled one, linked like any other', async () => {
    const app = await boot(true);
    const queue = app.get(TaskQueue);
    const handlers = app.get(TracedHandlers);
    const limited = await pushInRequest(queue, { type: 'traced-limited' });
    const cancelled = await pushInRequest(queue, { type: 'traced-cancel' });
    await settled(queue, limited.id, 'succeeded');
    await waitFor(() => handlers.started.has(cancelled.id), 'the cancellable task started');
    expect(await queue.cancelTask(cancelled.id)).toBe(true);
    await waitFor(async () => (await queue.getTask(cancelled.id)).status === 'cancelled', 'cancelled');

    const spans = finished();
    const limitedTries = trySpansOf(spans, limited.id);
    expect(limitedTries.map((s) => [s.attributes['queue.task.attempt'], s.attributes['queue.task.outcome']])).toEqual([[1, 'released'], [1, 'succeeded']]);
    for (const span of limitedTries) expectLinkedTry(span, pushSpanOf(spans, limited.id, limited.request), {});
    const [cancelledTry] = trySpansOf(spans, cancelled.id);
    expectLinkedTry(cancelledTry, pushSpanOf(spans, cancelled.id, cancelled.request), { 'queue.task.outcome': 'cancelled' });
    // neither is a failure
    expect([...limitedTries, cancelledTry].map((s) => [s.status.code, s.events])).toEqual([[0, []], [0, []], [0, []]]);
  });

  it("stores nothing for a push made outside any span, and that task's try links to nothing", async () => {
    const app = await boot(true);
    const queue = app.get(TaskQueue);
    const id = await queue.pushTask({ type: 'traced-ok' });
    await settled(queue, id, 'succeeded');
    expect(await storedTraceContext(app, backend, id)).toBeFalsy();
    const spans = finished();
    expect(spans.filter((s) => s.name === 'queue.push')).toEqual([]);
    expect(trySpansOf(spans, id)).toEqual([expect.objectContaining({ links: [], attributes: expect.objectContaining({ 'queue.task.outcome': 'succeeded' }) })]);
  });

  it('with tracing off, captures nothing: no span of its own, nothing stored, the handler outside any try span', async () => {
    const app = await boot(false);
    const queue = app.get(TaskQueue);
    const { id } = await pushInRequest(queue, { type: 'traced-ok' });
    await settled(queue, id, 'succeeded');
    expect(await storedTraceContext(app, backend, id)).toBeFalsy();
    const spans = finished();
    expect(spans.map((s) => s.name).sort()).toEqual(['handler.work', 'request']);
    expect(spans.find((s) => s.name === 'handler.work')!.parentSpanId).toBeUndefined();
  });
});

describe('tracing the scheduler on sqlite', () => {
  const apps = useBackendApp('sqlite');

  it('claims in a queue.scheduler.claim span that the occurrence’s push, and so its try, links back to', async () => {
    const app = await apps.boot({ tracing: true, queue: { pollIntervalMs: 50 }, scheduler: { pollIntervalMs: 50 } }, [TracedHandlers]);
    const schedule = await app.get(SchedulerService).addSchedule({ name: 'traced once', taskType: 'traced-ok', scheduleType: 'once', executeAt: new Date(Date.now() + 200) });
    await waitFor(() => finished().some((s) => s.name === 'queue.task' && s.attributes['queue.schedule.id'] === schedule.taskId), 'the occurrence ran');

    const spans = finished();
    const claims = spans.filter((s) => s.name === 'queue.scheduler.claim' && s.attributes['queue.scheduler.occurrences'] === 1);
    expect(claims).toEqual([expect.objectContaining({ kind: SpanKind.INTERNAL, attributes: { 'queue.backend': 'database', 'queue.scheduler.due': 1, 'queue.scheduler.claimed': 1, 'queue.scheduler.occurrences': 1 } })]);
    const [tried] = spans.filter((s) => s.name === 'queue.task' && s.attributes['queue.schedule.id'] === schedule.taskId);
    const push = pushSpanOf(spans, String(tried.attributes['queue.task.id']), claims[0]);
    expect(push.attributes['queue.schedule.id']).toBe(schedule.taskId);
    expect(tried).toMatchObject({ links: [{ traceId: push.traceId, spanId: push.spanId }], attributes: { 'queue.task.outcome': 'succeeded' } });
  });
});

/**
 * Pushes a task that succeeds and one that fails twice from this process (A),
 * inside spans; starts process B with `startB` (the `traced` app, whose SDK
 * prints each span it ends) to run them, and checks that B's try spans link
 * to A's push spans.
 */
async function expectTracedAcross(queue: TaskQueue, startB: () => Instance, backend: string): Promise<Instance> {
  const ok = await pushInRequest(queue, { type: 'traced-ok' });
  const failing = await pushInRequest(queue, { type: 'traced-fail' });
  const inA = finished();
  const b = startB();
  await waitReady([b]);
  const inB = (): SpanLine[] => b.lines.filter((l) => l.event === 'span') as unknown as SpanLine[];
  await waitFor(() => trySpansOf(inB(), ok.id).length === 1 && trySpansOf(inB(), failing.id).length === 2, "B's try spans", 20_000);

  const okTries = trySpansOf(inB(), ok.id);
  expectLinkedTry(okTries[0], pushSpanOf(inA, ok.id, ok.request), { 'queue.backend': backend, 'queue.task.type': 'traced-ok', 'queue.task.id': ok.id, 'queue.task.attempt': 1, 'queue.task.outcome': 'succeeded' });
  const failedTries = trySpansOf(inB(), failing.id);
  const failedPush = pushSpanOf(inA, failing.id, failing.request);
  expect(failedTries.map((s) => s.attributes['queue.task.outcome'])).toEqual(['failed', 'dead']);
  failedTries.forEach((span, i) => {
    expectLinkedTry(span, failedPush, { 'queue.task.type': 'traced-fail', 'queue.task.attempt': i + 1 });
    expectFailure(span, `boom on attempt ${i + 1}`);
  });
  expect(b.stderr).toEqual([]);
  return b;
}

/**
 * A task lost with its worker more than queue.maxLostTries (0) times: B kills itself in the try, and the B started
 * after it finds the task lost at its claim and ends it dead without running it, in a try span of its own, linked to
 * the push and recording the TaskLostError, as a dead try's span does.
 */
async function expectLostTraced(queue: TaskQueue, startB: () => Instance, backend: string): Promise<void> {
  const lost = await pushInRequest(queue, { type: 'traced-lost' });
  const push = pushSpanOf(finished(), lost.id, lost.request);
  const killed = startB();
  expect(await killed.exited).not.toBe(0);
  const b = startB();
  await settled(queue, lost.id, 'dead');
  const inB = (): SpanLine[] => b.lines.filter((l) => l.event === 'span') as unknown as SpanLine[];
  await waitFor(() => trySpansOf(inB(), lost.id).length === 1, "the dead task's try span", 20_000);
  const [span] = trySpansOf(inB(), lost.id);
  expectLinkedTry(span, push, { 'queue.backend': backend, 'queue.task.type': 'traced-lost', 'queue.task.id': lost.id, 'queue.task.outcome': 'dead' });
  expect(span.status.code).toBe(SpanStatusCode.ERROR);
  expect(span.events).toEqual([{ name: 'exception', attributes: expect.objectContaining({ 'exception.type': 'TaskLostError' }) }]);
  const record = await queue.getTask(lost.id);
  expect(record.error).toMatch(/lost with their worker/);
  // the attempt the task's record shows (the claim that found it lost counts as one on every backend)
  expect(span.attributes['queue.task.attempt']).toBe(record.attempts);
}

/** B's options for the lost-try case: a short lease, and no lost try allowed. */
const LOSING = { leaseMs: 1000, sweepIntervalMs: 200, maxLostTries: 0 };

describe.each(DATABASES)('tracing across processes on the database backend (%s)', (kind) => {
  // process A, this one: pushes inside spans and runs nothing
  const apps = useBackendApp(kind);
  let b: Instance | undefined;
  apps.db.beforeDrop(async () => {
    if (b) await stopAll([b]);
    b = undefined;
  });

  it("B's try spans link to A's push spans, with the outcome and the error of each try", async () => {
    const app = await apps.boot({ tracing: true, workers: { enabled: false }, scheduler: { enabled: false } }, []);
    const startB = () => (b = startInstance(apps.db.options, { tracing: true, queue: { backend: 'database', pollIntervalMs: 50 } }, { app: 'traced' }));
    await expectTracedAcross(app.get(TaskQueue), startB, 'database');
  });

  it('a task dead of its lost tries gets a dead try span, linked to its push', async () => {
    // the last test's B would take the task too
    if (b) await stopAll([b]);
    const app = await apps.boot({ tracing: true, workers: { enabled: false }, scheduler: { enabled: false } }, []);
    const startB = () => (b = startInstance(apps.db.options, { tracing: true, queue: { backend: 'database', pollIntervalMs: 50, ...LOSING } }, { app: 'traced' }));
    await expectLostTraced(app.get(TaskQueue), startB, 'database');
  });
});

describe('tracing across processes on the redis backend', () => {
  // B's TypeORM needs a database to boot on; the tasks are in Redis
  const db = useTestDatabase('sqlite');
  const prefix = testPrefix();
  let a: INestApplication | undefined;
  let b: Instance | undefined;
  db.beforeDrop(async () => {
    if (b) await stopAll([b]);
    await a?.close();
    await dropPrefix(prefix);
  });

  const queue = { backend: 'redis' as const, connection: REDIS, prefix, pollIntervalMs: 50 };

  /** Process A, this one: pushes inside spans and runs nothing. */
  async function bootA(): Promise<INestApplication> {
    if (a) return a;
    const moduleRef = await Test.createTestingModule({
      imports: [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, tracing: true, queue, workers: { enabled: false } })],
    }).compile();
    a = moduleRef.createNestApplication({ logger: false });
    await a.init();
    return a;
  }

  it("B's try spans link to A's push spans, carried in the job's data", async () => {
    const app = await bootA();
    const startB = () => (b = startInstance({ ...db.options, synchronize: true }, { tracing: true, queue }, { app: 'traced' }));
    await expectTracedAcross(app.get(TaskQueue), startB, 'redis');
  });

  it('a task dead of its lost tries gets a dead try span, linked to its push, as on the databases', async () => {
    // the last test's B would take the task too
    if (b) await stopAll([b]);
    const app = await bootA();
    const startB = () => (b = startInstance({ ...db.options, synchronize: true }, { tracing: true, queue: { ...queue, ...LOSING } }, { app: 'traced' }));
    await expectLostTraced(app.get(TaskQueue), startB, 'redis');
  });
});

describe('without @opentelemetry/api installed', () => {
  const db = useTestDatabase('sqlite');
  const hidden = { NODE_OPTIONS: `--require ${join(__dirname, 'support', 'hide-packages.js')}`, QS_HIDE_PACKAGES: '@opentelemetry/api' };
  let instances: Instance[] = [];
  db.beforeDrop(() => stopAll(instances));

  beforeAll(async () => {
    // the child apps expect the library's tables
    const ds = await new DataSource({ ...db.options, entities: QUEUE_SCHEDULER_ENTITIES, synchronize: true } as DataSourceOptions).initialize();
    await ds.destroy();
  });

  it('tracing: true stops start-up with an error naming the package', async () => {
    const instance = startInstance(db.options, { tracing: true, queue: { backend: 'database' } }, { app: 'bare', env: hidden });
    instances.push(instance);
    expect(await instance.exited).toBe(1);
    const stderr = instance.stderr.join('\n');
    expect(stderr).toContain('MissingPackageError');
    expect(stderr).toContain("tracing: true needs the package '@opentelemetry/api', which is not installed: run npm install @opentelemetry/api");
  });

  it('an app without tracing pushes and runs its tasks, and stores no trace context', async () => {
    const instance = startInstance(db.options, { queue: { backend: 'database', pollIntervalMs: 50 } }, { app: 'traced', env: { ...hidden, QS_TRACED_PUSHES: '3' } });
    instances.push(instance);
    await waitReady([instance]);
    await waitFor(() => instance.lines.some((l) => l.event === 'pushed'), 'the pushes');
    const ids = instance.lines.find((l) => l.event === 'pushed')!.ids as string[];
    expect(ids).toHaveLength(3);
    const ds = await new DataSource({ ...db.options, entities: QUEUE_SCHEDULER_ENTITIES } as DataSourceOptions).initialize();
    try {
      const rows = () => ds.getRepository(QueuedTask).findBy(ids.map((taskId) => ({ taskId })));
      await waitFor(async () => (await rows()).every((r) => r.status === 'succeeded'), 'the tasks ran');
      expect((await rows()).map((r) => r.traceContext)).toEqual([null, null, null]);
    } finally {
      await ds.destroy();
    }
    await stopAll([instance]);
    expect(instance.stderr).toEqual([]);
    instances = [];
  });
});
