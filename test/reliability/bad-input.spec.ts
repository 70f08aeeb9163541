/**
 * Scenario 9, the bad-input catalogue: every public method, fed what users
 * get wrong. Each call must throw the library's typed error naming the
 * field, and write nothing (row counts / queue sizes unchanged).
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  DatabaseQueueService,
  InvalidArgumentError,
  InvalidScheduleError,
  InvalidTaskError,
  MemoryQueueService,
  QueueSchedulerModule,
  SchedulerService,
  TaskNotFoundError,
} from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { DATABASES, useTestDatabase } from '../support/databases';

jest.setTimeout(60_000);

const MAX_PAYLOAD = 4096;
type ErrorClass = typeof InvalidTaskError | typeof InvalidScheduleError | typeof InvalidArgumentError;
type Case<C> = [name: string, call: (c: C) => unknown, error: ErrorClass, field: string | RegExp];

function circular(): Record<string, unknown> {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  return o;
}

/** What a push gets wrong; the same table runs on both backends. */
const BAD_PUSHES: Array<[string, unknown, string | RegExp]> = [
  ['not an object', null, 'task'],
  ['empty type', { type: '' }, 'type'],
  ['blank type', { type: '   ' }, 'type'],
  ['missing type', { params: {} }, 'type'],
  ['type longer than 191', { type: 'x'.repeat(192) }, 'type'],
  ['empty taskId', { type: 't', taskId: '' }, 'taskId'],
  ['circular params', { type: 't', params: circular() }, 'params.self'],
  ['BigInt params', { type: 't', params: { n: 10n } }, 'params.n'],
  ['function params', { type: 't', params: { cb: () => 1 } }, 'params.cb'],
  ['Map params', { type: 't', params: { m: new Map() } }, 'params.m'],
  ['oversized payload', { type: 't', params: { blob: 'x'.repeat(MAX_PAYLOAD) } }, 'params'],
  ['negative delay', { type: 't', delayMs: -1 }, 'delayMs'],
  ['NaN delay', { type: 't', delayMs: NaN }, 'delayMs'],
  ['Infinity delay', { type: 't', delayMs: Infinity }, 'delayMs'],
  ['delay beyond any date', { type: 't', delayMs: Number.MAX_VALUE }, 'delayMs'],
  ['fractional priority', { type: 't', priority: 1.5 }, 'priority'],
  ['priority beyond a 32-bit column', { type: 't', priority: 2 ** 31 }, 'priority'],
  ['negative maxRetries', { type: 't', maxRetries: -1 }, 'maxRetries'],
  ['maxRetries beyond a 32-bit column', { type: 't', maxRetries: 2 ** 31 }, 'maxRetries'],
  ['invalid scheduledAt', { type: 't', scheduledAt: new Date(NaN) }, 'scheduledAt'],
];

const BAD_STORE: Array<[string, unknown[], string]> = [
  ['empty key', ['', 1], 'key'],
  ['non-string key', [42, 1], 'key'],
  ['zero TTL', ['k', 1, 0], 'ttlSeconds'],
  ['negative TTL', ['k', 1, -5], 'ttlSeconds'],
  ['NaN TTL', ['k', 1, NaN], 'ttlSeconds'],
  ['TTL beyond any date', ['k', 1, 1e300], 'ttlSeconds'],
];

const GOOD = { name: 'ok', taskType: 't', scheduleType: 'interval', intervalSeconds: 60 } as const;
const BAD_SCHEDULES: Array<[string, Record<string, unknown>, string | RegExp]> = [
  ['cron minute 61', { scheduleType: 'cron', cronExpression: '61 * * * *' }, 'cronExpression'],
  ['cron with 3 fields', { scheduleType: 'cron', cronExpression: '* * *' }, 'cronExpression'],
  ['cron with 7 fields', { scheduleType: 'cron', cronExpression: '* * * * * * *' }, 'cronExpression'],
  ['cron missing', { scheduleType: 'cron', cronExpression: undefined }, 'cronExpression'],
  ['timezone Europe/Berlinn', { scheduleType: 'cron', cronExpression: '0 * * * *', timezone: 'Europe/Berlinn' }, 'timezone'],
  ['interval 0', { intervalSeconds: 0 }, 'intervalSeconds'],
  ['interval negative', { intervalSeconds: -5 }, 'intervalSeconds'],
  ['interval NaN', { intervalSeconds: NaN }, 'intervalSeconds'],
  ['interval Infinity', { intervalSeconds: Infinity }, 'intervalSeconds'],
  ['interval fractional', { intervalSeconds: 1.5 }, 'intervalSeconds'],
  ['once in the past', { scheduleType: 'once', executeAt: new Date(Date.now() - 60_000) }, 'executeAt'],
  ['once at an invalid date', { scheduleType: 'once', executeAt: new Date(NaN) }, 'executeAt'],
  ['once without a time', { scheduleType: 'once' }, 'executeAt'],
  ['unknown schedule type', { scheduleType: 'weekly' }, 'scheduleType'],
  ['empty taskType', { taskType: '' }, 'taskType'],
  ['empty name', { name: '' }, 'name'],
  ['unknown misfire policy', { misfirePolicy: 'sometimes' }, 'misfirePolicy'],
  ['negative maxRuns', { maxRuns: -1 }, 'maxRuns'],
  ['maxRuns beyond a 32-bit column', { maxRuns: 2 ** 31 }, 'maxRuns'],
  ['priority beyond a 32-bit column', { priority: 2 ** 31 }, 'priority'],
  ['circular params', { params: circular() }, 'params.self'],
  ['BigInt params', { params: { n: 1n } }, 'params.n'],
  ['function params', { params: { f: () => 1 } }, 'params.f'],
  ['array params', { params: [1, 2] }, 'params'],
  ['oversized params', { params: { blob: 'x'.repeat(MAX_PAYLOAD) } }, 'params'],
];

function expectTyped(call: () => unknown, error: ErrorClass, field: string | RegExp): Promise<void> {
  return Promise.resolve()
    .then(call)
    .then(
      () => {
        throw new Error('expected a typed error, the call succeeded');
      },
      (err: unknown) => {
        expect(err).toBeInstanceOf(error);
        if (typeof field === 'string') expect((err as InvalidTaskError).field).toBe(field);
        else expect((err as InvalidTaskError).field).toMatch(field);
        // the message names the field
        expect((err as Error).message).toContain(typeof field === 'string' ? field : (err as InvalidTaskError).field);
      },
    );
}

describe('bad input, memory queue', () => {
  let app: INestApplication;
  let queue: MemoryQueueService;

  // a fresh queue per case, so what one case wrongly kept cannot hide or fail another
  beforeEach(async () => {
    const ref = await Test.createTestingModule({
      imports: [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, workers: { enabled: false }, queue: { maxPayloadBytes: MAX_PAYLOAD } })],
    }).compile();
    app = ref.createNestApplication({ logger: false });
    await app.init();
    queue = app.get(MemoryQueueService);
  });
  afterEach(() => app.close());

  const untouched = (): void => {
    expect(queue.getQueueSize()).toBe(0);
    expect(queue.listTasks().items).toEqual([]);
    expect(queue.getStoreSize()).toBe(0);
  };

  it.each(BAD_PUSHES)('pushTask: %s', async (_name, input, field) => {
    await expectTyped(() => queue.pushTask(input as never), InvalidTaskError, field);
    untouched();
  });

  it.each(BAD_STORE)('setPublic: %s', async (_name, args, field) => {
    await expectTyped(() => (queue.setPublic as (...a: unknown[]) => void)(...args), InvalidArgumentError, field);
    untouched();
  });

  const unknown: Array<[string, (q: MemoryQueueService) => unknown]> = [
    ['getTask', (q) => q.getTask('nope')],
    ['retryTask', (q) => q.retryTask('nope')],
    ['cancelTask', (q) => q.cancelTask('nope')],
    ['taskDone', (q) => q.taskDone('nope')],
  ];
  it.each(unknown)('%s of an unknown id: TaskNotFoundError naming it', (_name, call) => {
    expect(() => call(queue)).toThrow(TaskNotFoundError);
    expect(() => call(queue)).toThrow("'nope'");
    untouched();
  });

  it.each([
    ['limit 0', { limit: 0 }, 'limit'],
    ['limit 1.5', { limit: 1.5 }, 'limit'],
    ['foreign cursor', { cursor: 'abc' }, 'cursor'],
  ] as const)('listTasks: %s', async (_name, filter, field) => {
    await expectTyped(() => queue.listTasks(filter as never), InvalidArgumentError, field);
  });

  it('a delay beyond setTimeout range (2^31 ms) does not fire early', async () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
    try {
      const id = queue.pushTask({ type: 't', delayMs: 2 ** 31 + 60_000 });
      await jest.advanceTimersByTimeAsync(2 ** 31 - 1);
      expect(await queue.popTask(0)).toBeNull();
      await jest.advanceTimersByTimeAsync(59_000);
      expect(await queue.popTask(0)).toBeNull();
      await jest.advanceTimersByTimeAsync(2_000);
      expect((await queue.popTask(0))?.taskId).toBe(id);
      queue.taskDone(id);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe.each(DATABASES)('bad input, database backend and scheduler on %s', (kind) => {
  const db = useTestDatabase(kind);
  let app: INestApplication;
  let queue: DatabaseQueueService;
  let scheduler: SchedulerService;
  let ds: DataSource;
  db.beforeDrop(() => app?.close());

  beforeAll(async () => {
    const ref = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({
          logLevel: 'fatal',
          workers: { enabled: false },
          scheduler: { enabled: false },
          queue: { backend: 'database', maxPayloadBytes: MAX_PAYLOAD },
        }),
      ],
    }).compile();
    app = ref.createNestApplication({ logger: false });
    await app.init();
    queue = app.get(DatabaseQueueService);
    scheduler = app.get(SchedulerService);
    ds = app.get(DataSource);
  });
  afterEach(async () => {
    for (const table of ['task_queue', 'queue_store', 'scheduler_task']) await ds.query(`DELETE FROM ${table}`);
  });

  const rows = async (table: string): Promise<number> => Number((await ds.query(`SELECT COUNT(*) AS n FROM ${table}`))[0].n);
  const untouched = async (schedules = 0): Promise<void> => {
    expect(await rows('task_queue')).toBe(0);
    expect(await rows('queue_store')).toBe(0);
    expect(await rows('scheduler_task')).toBe(schedules);
  };

  it.each(BAD_PUSHES)('pushTask: %s', async (_name, input, field) => {
    await expectTyped(() => queue.pushTask(input as never), InvalidTaskError, field);
    await untouched();
  });

  it.each(BAD_PUSHES)('pushTasks with one bad task among good ones writes none: %s', async (_name, input, field) => {
    // the error names the input's place in the batch, as on the memory backend
    const inBatch = typeof field === 'string' ? `inputs[1].${field}` : new RegExp(`^inputs\\[1\\]\\.(${field.source.replace(/^\^/, '')})`);
    await expectTyped(() => queue.pushTasks([{ type: 'good' }, input as never, { type: 'good' }]), InvalidTaskError, inBatch);
    await untouched();
  });

  it.each(BAD_STORE)('setPublic: %s', async (_name, args, field) => {
    await expectTyped(() => (queue.setPublic as (...a: unknown[]) => Promise<void>)(...args), InvalidArgumentError, field);
    await untouched();
  });

  it.each([
    ['BigInt value', 1n, 'value'],
    // the path of the value that closes the cycle, as params name theirs
    ['circular value', circular(), 'value.self'],
    ['function value', () => 1, 'value'],
  ])('setPublic: %s', async (_name, value, field) => {
    await expectTyped(() => queue.setPublic('k', value), InvalidArgumentError, field);
    await untouched();
  });

  it.each([
    ['getTask', (q: DatabaseQueueService) => q.getTask('nope')],
    ['retryTask', (q: DatabaseQueueService) => q.retryTask('nope')],
    ['cancelTask', (q: DatabaseQueueService) => q.cancelTask('nope')],
  ])('%s of an unknown id: TaskNotFoundError naming it', async (_name, call) => {
    await expect(call(queue)).rejects.toThrow(TaskNotFoundError);
    await expect(call(queue)).rejects.toThrow("'nope'");
    await untouched();
  });

  it.each([
    ['limit 0', { limit: 0 }, 'limit'],
    ['limit 10001', { limit: 10_001 }, 'limit'],
    ['foreign cursor', { cursor: "1; DROP TABLE task_queue" }, 'cursor'],
  ] as const)('listTasks: %s', async (_name, filter, field) => {
    await expectTyped(() => queue.listTasks(filter as never), InvalidArgumentError, field);
  });

  it.each(BAD_SCHEDULES)('addSchedulerTask: %s', async (_name, patch, field) => {
    await expectTyped(() => scheduler.addSchedulerTask({ ...GOOD, ...patch } as never), InvalidScheduleError, field);
    await untouched();
  });

  it.each(BAD_SCHEDULES.filter(([name]) => !name.startsWith('once')))('updateTask: %s leaves the row as it was', async (_name, patch, field) => {
    const row = await scheduler.addSchedulerTask({ ...GOOD });
    try {
      const before = await scheduler.getTask(row.taskId);
      await expectTyped(() => scheduler.updateTask(row.taskId, patch as never), InvalidScheduleError, field);
      expect(await scheduler.getTask(row.taskId)).toEqual(before);
      await untouched(1);
    } finally {
      await scheduler.deleteTask(row.taskId);
    }
  });

  it.each([
    ['getTask', (s: SchedulerService) => s.getTask('nope')],
    ['pauseTask', (s: SchedulerService) => s.pauseTask('nope')],
    ['resumeTask', (s: SchedulerService) => s.resumeTask('nope')],
    ['updateTask', (s: SchedulerService) => s.updateTask('nope', { name: 'x' })],
    ['deleteTask', (s: SchedulerService) => s.deleteTask('nope')],
    ['runNow', (s: SchedulerService) => s.runNow('nope')],
  ])('scheduler %s of an unknown id: TaskNotFoundError naming it', async (_name, call) => {
    await expect(call(scheduler)).rejects.toThrow(TaskNotFoundError);
    await expect(call(scheduler)).rejects.toThrow("'nope'");
    await untouched();
  });

  it('a delay beyond setTimeout range (2^31 ms) is not claimable before its time', async () => {
    const id = await queue.pushTask({ type: 't', delayMs: 2 ** 31 + 60_000 });
    try {
      const filter = { types: ['t'], unknownTypes: false, handled: new Set(['t']) };
      expect(await queue.claim(filter, 10)).toEqual([]);
      const task = await queue.getTask(id);
      expect(task.runAt.getTime() - task.createdAt.getTime()).toBeGreaterThanOrEqual(2 ** 31 + 60_000 - 5);
    } finally {
      await ds.query('DELETE FROM task_queue');
    }
  });
});
