/**
 * Regression tests of issue 15 (data integrity at every backend's boundary),
 * cases 3, 4, 7 and 9: each failed on the code before the fix. The rules
 * themselves are proven with generated input in queue-contract.properties.spec.ts.
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  DatabaseQueueService,
  InvalidArgumentError,
  InvalidScheduleError,
  InvalidTaskError,
  QueueSchedulerModule,
  type QueueSchedulerModuleOptions,
  ResultTooLargeError,
  SchedulerService,
  TaskContext,
  TaskHandler,
  TaskNotFoundError,
  TaskQueue,
} from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { databaseFor, type DatabaseKind, DATABASES, type TestDatabase, useTestDatabase } from './support/databases';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(90_000);

@Injectable()
class Handlers {
  readonly seen = new Map<string, unknown>();

  @TaskHandler('echo')
  echo(params: { size?: number; value?: unknown }, ctx: TaskContext): unknown {
    this.seen.set(ctx.taskId, params);
    return params.size ? 'x'.repeat(params.size) : params.value;
  }

  @TaskHandler('throws')
  throws(params: { message: string }): never {
    // a lone surrogate cannot be pushed (params refuse it): the handler makes one, as a decoder of bad input would
    throw new Error(params.message.replace('<LONE>', '\uDC00'));
  }
}

/** A value nested `depth` arrays deep. */
const nested = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

type Backend = 'memory' | 'redis' | DatabaseKind;
const DURABLE: DatabaseKind[] = [...DATABASES, ...(DATABASES.includes('mariadb') ? (['mariadb-mysql'] as const) : [])];

async function boot(backend: Backend, db: TestDatabase | undefined, options: QueueSchedulerModuleOptions = {}): Promise<{ app: INestApplication; prefix?: string }> {
  const prefix = backend === 'redis' ? testPrefix() : undefined;
  const imports =
    backend === 'memory' || backend === 'redis'
      ? [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, ...options, queue: { ...options.queue, ...(prefix ? { backend: 'redis' as const, connection: REDIS, prefix, pollIntervalMs: 50 } : {}) } })]
      : [
          TypeOrmModule.forRoot({ ...db!.options, autoLoadEntities: true, synchronize: true, logging: false }),
          QueueSchedulerModule.forRoot({ logLevel: 'fatal', ...options, queue: { backend: 'database', pollIntervalMs: 50, ...options.queue } }),
        ];
  const moduleRef = await Test.createTestingModule({ imports, providers: [Handlers] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return { app, prefix };
}

describe.each(DURABLE)('a push on %s stores exactly what it acknowledges', (kind) => {
  const db = useTestDatabase(kind);
  let app: INestApplication;
  let queue: TaskQueue;
  db.beforeDrop(() => app?.close());

  beforeAll(async () => {
    ({ app } = await boot(kind, db, { workers: { enabled: false } }));
    queue = app.get(TaskQueue);
  });

  it('case 3: a batch holding params past the JSON depth or with a lone surrogate is refused whole, naming the path', async () => {
    const batch = [
      { taskId: 'c3-ok', type: 'echo', params: { value: 1 } },
      { taskId: 'c3-deep', type: 'echo', params: { value: nested(40) } },
      { taskId: 'c3-surrogate', type: 'echo', params: { value: 'a\uD800b' } },
    ];
    await expect(app.get(DatabaseQueueService).pushTasks(batch)).rejects.toMatchObject({ name: 'InvalidTaskError' });
    for (const { taskId } of batch) await expect(queue.getTask(taskId)).rejects.toBeInstanceOf(TaskNotFoundError);
    // alone, each is a typed error naming where, not the database's QueryFailedError
    await expect(queue.pushTask(batch[1])).rejects.toThrow(/params\.value(\.0)+ nests objects\/arrays deeper than 31/);
    await expect(queue.pushTask(batch[2])).rejects.toThrow(/params\.value must not hold a lone surrogate/);
    // the deepest the strictest database takes is stored, exactly
    const id = await queue.pushTask({ taskId: 'c3-31', type: 'echo', params: nested(30) });
    expect((await queue.getTask(id)).params).toEqual(nested(30));
  });

  it('pushing a stored id again (the dedupe rule) is no failed query in the app log: the pending task is kept, a finished one queued anew', async () => {
    const failed: string[] = [];
    const logger = { logQuery() {}, logQueryError: (error: string | Error, query: string) => void failed.push(`${String(error)}: ${query}`), logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} };
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: ['error'], logger }),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', workers: { enabled: false }, queue: { backend: 'database' } }),
      ],
    }).compile();
    const logged = moduleRef.createNestApplication({ logger: false });
    await logged.init();
    try {
      const q = logged.get(TaskQueue);
      expect(await q.pushTask({ taskId: 'again-1', type: 'echo', params: { value: 1 } })).toBe('again-1');
      expect(await q.pushTask({ taskId: 'again-1', type: 'echo', params: { value: 2 } })).toBe('again-1');
      const batch = await q.pushTasks([
        { taskId: 'again-1', type: 'echo' },
        { taskId: 'again-2', type: 'echo', params: { value: 3 } },
        { taskId: 'again-3', type: 'echo' },
        { taskId: 'again-2', type: 'echo', params: { value: 5 } },
      ]);
      expect(batch).toEqual(['again-1', 'again-2', 'again-3', 'again-2']);
      expect((await q.getTask('again-1')).params).toEqual({ value: 1 });
      expect((await q.getTask('again-2')).params).toEqual({ value: 3 });
      const ds = logged.get(DataSource);
      const p = (i: number) => (kind === 'postgres' ? `$${i}` : '?');
      await ds.query(`UPDATE task_queue SET status = 'succeeded', completed_at = ${p(1)} WHERE task_id = ${p(2)}`, [Date.now(), 'again-2']);
      expect(await q.pushTask({ taskId: 'again-2', type: 'echo', params: { value: 4 } })).toBe('again-2');
      expect(await q.getTask('again-2')).toMatchObject({ status: 'pending', params: { value: 4 } });
      expect(failed).toEqual([]);
    } finally {
      await logged.get(DataSource).query("DELETE FROM task_queue WHERE task_id LIKE 'again-%'");
      await logged.close();
    }
  });

  it('case 3: a schedule whose params no database would store is refused when it is added, so no occurrence is lost', async () => {
    const scheduler = app.get(SchedulerService);
    await expect(
      scheduler.addSchedulerTask({ name: 'deep', taskType: 'echo', scheduleType: 'interval', intervalSeconds: 60, params: { value: nested(40) } }),
    ).rejects.toBeInstanceOf(InvalidScheduleError);
    expect(await scheduler.listTasks()).toEqual([]);
  });

  it('case 4: a NUL in a type, an id or a store key is a typed error, and reads of such a key find nothing', async () => {
    await expect(queue.pushTask({ type: 'ec\0ho' })).rejects.toBeInstanceOf(InvalidTaskError);
    await expect(queue.pushTask({ taskId: 'a\0b', type: 'echo' })).rejects.toThrow(/taskId must not contain a NUL/);
    await expect(queue.getTask('a\0b')).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(queue.setPublic('k\0', 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await queue.getPublic('k\0')).toBeNull();
    // a NUL inside a JSON string is data: stored and given back
    const id = await queue.pushTask({ type: 'echo', params: { value: 'a\0b' } });
    expect((await queue.getTask(id)).params).toEqual({ value: 'a\0b' });
  });

  it('case 9: schedulerTaskId is checked against its column instead of being cut by the database', async () => {
    await expect(queue.pushTask({ type: 'echo', schedulerTaskId: 'x'.repeat(37) })).rejects.toThrow(/schedulerTaskId must be a non-empty string of at most 36/);
  });

  // audit of 2026-12-06: MariaDB compared a number with the text id as numbers (getSchedule(2) found, and
  // deleteSchedule(2) deleted, the schedule whose uuid starts with '2'); PostgreSQL refused a NUL, TypeORM a null
  it('a schedule id no schedule can have finds nothing and acts on no other schedule', async () => {
    const scheduler = app.get(SchedulerService);
    const row = await scheduler.addSchedule({ name: 'victim', taskType: 'echo', scheduleType: 'interval', intervalSeconds: 3600, enabled: false });
    const asNumber = Number.parseFloat(row.taskId) || 0; // what MariaDB reads the uuid as, compared with a number
    const counts = await queue.countByStatus();
    try {
      for (const id of [asNumber, null, undefined, 'a\0b', '', Object.create(null), Symbol('id'), { toString: () => ({}) }]) {
        await expect(scheduler.getSchedule(id as never)).rejects.toBeInstanceOf(TaskNotFoundError);
        await expect(scheduler.pauseSchedule(id as never)).rejects.toBeInstanceOf(TaskNotFoundError);
        await expect(scheduler.runNow(id as never)).rejects.toBeInstanceOf(TaskNotFoundError);
        await expect(scheduler.deleteSchedule(id as never)).rejects.toBeInstanceOf(TaskNotFoundError);
      }
      expect((await scheduler.getSchedule(row.taskId)).name).toBe('victim');
      expect(await queue.countByStatus()).toEqual(counts); // runNow queued nothing
    } finally {
      await scheduler.deleteSchedule(row.taskId);
    }
  });

  it('a schedule the database could not store, or a null for a default, is an InvalidScheduleError naming the field; nothing changes', async () => {
    const scheduler = app.get(SchedulerService);
    const base = { name: 'edges', taskType: 'echo', scheduleType: 'cron' as const, cronExpression: '0 * * * *' };
    const sixty = Array.from({ length: 60 }, (_, i) => i).join(',');
    const longCron = `${sixty} ${sixty} ${Array.from({ length: 24 }, (_, i) => i).join(',')} * * *`; // valid, 400 characters
    const refused: Array<[Record<string, unknown>, string]> = [
      [{ cronExpression: longCron }, 'cronExpression'],
      [{ description: 'd'.repeat(70_000) }, 'description'],
      [{ params: new Date(0) }, 'params'],
      [{ params: { toJSON: () => [1] } }, 'params'],
      [{ maxRuns: null }, 'maxRuns'],
      [{ enabled: null }, 'enabled'],
      [{ timezone: null }, 'timezone'],
    ];
    for (const [fields, field] of refused) {
      await expect(scheduler.addSchedule({ ...base, ...fields } as never)).rejects.toMatchObject({ name: 'InvalidScheduleError', field });
    }
    expect(await scheduler.listSchedules()).toEqual([]);
    const row = await scheduler.addSchedule({ ...base, timezone: 'Asia/Tokyo', maxRuns: 5 });
    const paused = await scheduler.pauseSchedule(row.taskId);
    try {
      for (const [fields, field] of refused) {
        await expect(scheduler.updateSchedule(row.taskId, fields as never)).rejects.toMatchObject({ name: 'InvalidScheduleError', field });
      }
      for (const patch of [null, 'abc', [1]]) {
        await expect(scheduler.updateSchedule(row.taskId, patch as never)).rejects.toMatchObject({ name: 'InvalidScheduleError', field: 'schedule' });
      }
      // a null left the paused schedule resumed, in UTC, without its run limit
      const after = await scheduler.getSchedule(row.taskId);
      expect({ enabled: after.enabled, timezone: after.timezone, maxRuns: after.maxRuns, version: after.version }).toEqual({ enabled: false, timezone: 'Asia/Tokyo', maxRuns: 5, version: paused.version });
    } finally {
      await scheduler.deleteSchedule(row.taskId);
    }
  });
});

describe.each(DURABLE)('outcomes on %s are recorded task by task', (kind) => {
  const db = useTestDatabase(kind);
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('case 4: a NUL or a lone surrogate in one error message does not lose the outcome of a task failing beside it', async () => {
    ({ app } = await boot(kind, db, { workers: { concurrency: 4 } }));
    const queue = app.get(TaskQueue);
    const ids = await app!.get(DatabaseQueueService).pushTasks([
      { type: 'throws', params: { message: 'bad\0byte' } },
      { type: 'throws', params: { message: 'half <LONE> pair' } },
      { type: 'throws', params: { message: 'plain failure' } },
    ]);
    await waitFor(async () => (await Promise.all(ids.map((id) => queue.getTask(id)))).every((t) => t.status === 'dead'), 'all three dead', 20_000);
    const errors = await Promise.all(ids.map(async (id) => (await queue.getTask(id)).error));
    expect(errors).toEqual(['bad\uFFFDbyte', 'half \uFFFD pair', 'plain failure']);
  });

  it('case 7: a result over queue.maxResultBytes fails its try with ResultTooLargeError instead of being written', async () => {
    ({ app } = await boot(kind, db, { queue: { maxResultBytes: 1000 } }));
    const queue = app.get(TaskQueue);
    const big = await queue.pushTask({ type: 'echo', params: { size: 5000 } });
    const small = await queue.pushTask({ type: 'echo', params: { size: 10 } });
    await waitFor(async () => (await queue.getTask(big)).status === 'dead' && (await queue.getTask(small)).status === 'succeeded', 'outcomes');
    expect((await queue.getTask(big)).error).toMatch(/result is 50\d\d bytes as JSON, more than queue.maxResultBytes \(1000\)/);
    expect((await queue.getTask(small)).result).toBe('x'.repeat(10));
    expect(new ResultTooLargeError('result', 'x')).toBeInstanceOf(Error);
  });

  if (kind === 'mariadb' || kind === 'mariadb-mysql') {
    it('case 7: after the server drops a connection for a statement past max_allowed_packet, every later statement gets a live connection', async () => {
      // raised past the server's packet size on purpose: the write of this result is what makes MariaDB close the connection
      ({ app } = await boot(kind, db, { queue: { maxResultBytes: 64 << 20, leaseMs: 60_000 } }));
      const queue = app.get(TaskQueue);
      const ds = app.get(DataSource);
      const [{ packet }] = (await ds.query('SELECT @@max_allowed_packet AS packet')) as Array<{ packet: string }>;
      const huge = await queue.pushTask({ type: 'echo', params: { size: Number(packet) + 1024 } });
      await waitFor(async () => (await queue.getTask(huge)).status === 'running', 'huge result handled');
      // the failed write has come back by now or soon; whatever connection it left behind, statements still work
      for (let i = 0; i < 20; i++) {
        const id = await queue.pushTask({ type: 'echo', params: { value: i } });
        await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', `task ${i} after the dropped connection`);
      }
    });
  }
});

describe.each<Backend>(['memory', 'redis', ...DURABLE])('params and store values on %s are the same normalised JSON', (backend) => {
  const db = useTestDatabase(databaseFor(backend));
  let app: INestApplication;
  let prefix: string | undefined;
  db.beforeDrop(async () => {
    await app?.close();
    if (prefix) await dropPrefix(prefix);
  });

  beforeAll(async () => {
    ({ app, prefix } = await boot(backend, db.present ? db : undefined));
  });

  it('case 9: the handler gets the JSON round trip of the params, not live Dates, NaN or undefined keys', async () => {
    const queue = app.get(TaskQueue);
    const at = new Date('2026-12-03T10:00:00.000Z');
    const params = { value: { at, nan: NaN, inf: -Infinity, gone: undefined, list: [undefined, 1], zero: -0 } };
    const id = await queue.pushTask({ type: 'echo', params });
    params.value.list.push(2); // a change after the push reaches no backend's stored task
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'echo ran');
    const expected = { value: { at: '2026-12-03T10:00:00.000Z', nan: null, inf: null, list: [null, 1], zero: 0 } };
    expect(app.get(Handlers).seen.get(id)).toEqual(expected);
    expect(Object.is((app.get(Handlers).seen.get(id) as typeof expected).value.zero, 0)).toBe(true);
    expect((await queue.getTask(id)).result).toEqual(expected.value);
  });

  it('case 9: params nested 20,000 deep are an InvalidTaskError, not a RangeError', async () => {
    await expect(Promise.resolve().then(() => app.get(TaskQueue).pushTask({ type: 'echo', params: nested(20_000) }))).rejects.toBeInstanceOf(InvalidTaskError);
  });

  // audit of 2026-12-06: PostgreSQL refused a fraction of a ms (bigint), as an untyped QueryFailedError
  it('a fraction of a ms in delayMs or a store TTL is kept as whole ms, never earlier than asked', async () => {
    const queue = app.get(TaskQueue);
    const before = Date.now();
    const ids = [await queue.pushTask({ type: 'echo', delayMs: 60_000.5 }), await queue.pushTask({ type: 'echo', delayMs: 1.5, singletonKey: 'fraction', debounceMs: 60_000 })];
    for (const id of ids) {
      const { runAt } = await queue.getTask(id);
      expect(Number.isInteger(runAt.getTime())).toBe(true);
      expect(runAt.getTime()).toBeGreaterThanOrEqual(before + 60_001);
      await queue.cancelTask(id);
    }
    await queue.setPublic('fraction', 'kept', 60.0005);
    expect(await queue.getPublic('fraction')).toBe('kept');
  });

  it('a hole in a pushTasks array is refused as a missing task, naming its place; nothing is queued', async () => {
    const queue = app.get(TaskQueue);
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [, { taskId: 'after-hole', type: 'echo' }];
    await expect(Promise.resolve().then(() => queue.pushTasks(sparse as never))).rejects.toMatchObject({ name: 'InvalidTaskError', field: 'inputs[0].task' });
    await expect(Promise.resolve().then(() => queue.getTask('after-hole'))).rejects.toBeInstanceOf(TaskNotFoundError);
  });

  // audit of 2026-12-06: Redis sent a lone surrogate as U+FFFD and a number as its digits, so it found another task or key
  it('an id or store key no push could store finds nothing, and leaves the task or key it would be encoded as alone', async () => {
    const queue = app.get(TaskQueue);
    const ids = [await queue.pushTask({ taskId: 'alias-\uFFFD', type: 'echo', delayMs: 60_000 }), await queue.pushTask({ taskId: '2', type: 'echo', delayMs: 60_000 })];
    await queue.setPublic('alias-\uFFFD', 'kept');
    for (const id of ['alias-\uDC00', 2]) {
      await expect(Promise.resolve().then(() => queue.getTask(id as never))).rejects.toBeInstanceOf(TaskNotFoundError);
      for (const call of [() => queue.cancelTask(id as never), () => queue.deleteTask(id as never)]) {
        const outcome = await Promise.resolve().then(call).catch((err: unknown) => err);
        expect(outcome === false || outcome instanceof TaskNotFoundError).toBe(true);
      }
    }
    for (const id of ids) expect((await queue.getTask(id)).status).toBe('pending');
    expect(await queue.getPublic('alias-\uD800')).toBeNull();
    expect(await queue.deletePublic('alias-\uD800')).toBe(false);
    expect(await queue.getPublic('alias-\uFFFD')).toBe('kept');
    for (const id of ids) await queue.cancelTask(id);
  });

  it('case 9: store values are capped by store.maxValueBytes, BigInt is refused, and values come back normalised', async () => {
    const queue = app.get(TaskQueue);
    await expect(Promise.resolve().then(() => queue.setPublic('big', 'x'.repeat(2 << 20)))).rejects.toThrow(/value is \d+ bytes as JSON, more than store.maxValueBytes/);
    await expect(Promise.resolve().then(() => queue.setPublic('bigint', { n: 10n }))).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await queue.getPublic('big')).toBeNull();
    expect(await queue.getPublic('bigint')).toBeNull();
    await queue.setPublic('date', { at: new Date(0), nan: NaN });
    expect(await queue.getPublic('date')).toEqual({ at: '1970-01-01T00:00:00.000Z', nan: null });
  });
});
