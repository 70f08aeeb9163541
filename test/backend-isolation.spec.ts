/**
 * Only the selected backend runs: the queue classes of the other two are
 * inactive stand-ins that were never constructed (no store, timer, pool or
 * connection of theirs exists) and refuse every call with a typed error.
 */
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  DatabaseQueueService,
  InvalidOptionsError,
  MemoryQueueService,
  QueueSchedulerModule,
  type QueueSchedulerModuleOptions,
  RedisQueueService,
  TaskQueue,
} from 'nestjs-queue-scheduler';
import { useTestDatabase } from './support/databases';
import { dropPrefix, REDIS, testPrefix } from './support/redis';

type Backend = 'memory' | 'database' | 'redis';
const CLASSES = { memory: MemoryQueueService, database: DatabaseQueueService, redis: RedisQueueService } as const;

describe.each<Backend>(['memory', 'database', 'redis'])('backend %s', (backend) => {
  // every app here has a database, so each of the three classes has a provider to look at
  const db = useTestDatabase('sqlite');
  let app: INestApplicationContext;
  const prefix = testPrefix();
  db.beforeDrop(() => app?.close());

  beforeAll(async () => {
    const queue: QueueSchedulerModuleOptions['queue'] =
      backend === 'redis' ? { backend, connection: REDIS, prefix } : { backend };
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', queue, scheduler: { enabled: false } }),
      ],
    }).compile();
    app = await moduleRef.init();
  });

  afterAll(async () => {
    if (backend === 'redis') await dropPrefix(prefix);
  });

  it('TaskQueue is the selected backend, built and working', async () => {
    const selected = app.get(CLASSES[backend]);
    expect(app.get(TaskQueue)).toBe(selected);
    expect(Object.getOwnPropertyNames(selected).length).toBeGreaterThan(0);
    const id = await app.get(TaskQueue).pushTask({ type: 'isolation' });
    // stored under its id (on memory, the sole consumer, a type with no handler is dead-lettered at once)
    expect(await app.get(TaskQueue).getTask(id)).toMatchObject({ taskId: id, type: 'isolation' });
  });

  it.each((['memory', 'database', 'redis'] as const).filter((other) => other !== backend))('%s is an inactive stand-in: never constructed, refusing every call', (other) => {
    const standIn = app.get<TaskQueue>(CLASSES[other]);
    expect(standIn).toBeInstanceOf(CLASSES[other]);
    // a constructed queue holds its store, structures, timers or connection in own fields; this one holds nothing
    expect(Object.getOwnPropertyNames(standIn)).toEqual([]);
    for (const call of [() => standIn.pushTask({ type: 'x' }), () => standIn.getPublic('k'), () => standIn.countByStatus(), () => standIn.events$]) {
      expect(call).toThrow(InvalidOptionsError);
      expect(call).toThrow(`queue.backend is '${backend}'`);
    }
    // Nest's lifecycle hooks do nothing on it: shutdown stops nothing it never started
    expect((standIn as unknown as { onModuleDestroy(): unknown }).onModuleDestroy()).toBeUndefined();
  });
});
