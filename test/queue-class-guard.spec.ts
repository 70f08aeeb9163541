import { Inject, Injectable, type INestApplication, type Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DatabaseQueueService, InvalidOptionsError, MemoryQueueService, QueueSchedulerModule, RedisQueueService, type QueueSchedulerModuleOptions, TaskContext, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { type DatabaseKind, useTestDatabase } from './support/databases';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

/** The mistake of case 10: on a durable backend, a push here sat in process memory and nothing ran it. */
@Injectable()
class MemoryProducer {
  constructor(readonly queue: MemoryQueueService) {}
}

@Injectable()
class PropertyProducer {
  @Inject(MemoryQueueService) queue!: MemoryQueueService;
}

@Injectable()
class TaskQueueProducer {
  readonly ran: string[] = [];
  constructor(readonly queue: TaskQueue) {}

  @TaskHandler('guarded')
  run(_params: unknown, ctx: TaskContext): void {
    this.ran.push(ctx.taskId);
  }
}

type Backend = { name: string; kind?: DatabaseKind; redis?: boolean };
const BACKENDS: Backend[] = [
  { name: "'database' on SQLite", kind: 'sqlite' },
  { name: "'database' on MariaDB", kind: 'mariadb' },
  { name: "'redis'", redis: true },
];

describe.each(BACKENDS)('queue.backend $name: MemoryQueueService refuses to take tasks no worker runs', ({ kind, redis }) => {
  const db = useTestDatabase(kind);
  let prefix = '';
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
    if (prefix) await dropPrefix(prefix);
  });

  /** Boots an app with `providers`; a failed start-up is closed (connections released) and rethrown. */
  async function boot(providers: Provider[]): Promise<INestApplication> {
    if (redis) prefix = testPrefix();
    const options: QueueSchedulerModuleOptions = redis
      ? { logLevel: 'fatal', queue: { backend: 'redis', connection: REDIS, prefix, pollIntervalMs: 100 } }
      : { logLevel: 'fatal', queue: { backend: 'database', pollIntervalMs: 100 } };
    const imports = db.present
      ? [TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }), QueueSchedulerModule.forRoot(options)]
      : [QueueSchedulerModule.forRoot({ ...options, dataSource: false })];
    const moduleRef = await Test.createTestingModule({ imports, providers }).compile();
    const booting = moduleRef.createNestApplication({ logger: false });
    try {
      await booting.init();
    } catch (err) {
      await booting.close().catch(() => undefined);
      throw err;
    }
    return booting;
  }

  async function refusal(providers: Provider[]): Promise<InvalidOptionsError> {
    const error = await boot(providers).then(
      (booted) => {
        app = booted;
        throw new Error('start-up succeeded');
      },
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as InvalidOptionsError).field).toBe('queue.backend');
    return error as InvalidOptionsError;
  }

  it('stops start-up when a provider injects MemoryQueueService, naming the class and TaskQueue', async () => {
    const error = await refusal([MemoryProducer]);
    expect(error.message).toMatch(/^MemoryProducer \(constructor parameter 0\) injects MemoryQueueService, but queue\.backend is '(database|redis)'/);
    expect(error.message).toContain('Inject TaskQueue instead');
  });

  it('stops start-up for a property injection, a factory and an alias, naming each', async () => {
    const factory: Provider = { provide: 'LEGACY_QUEUE', useFactory: (q: MemoryQueueService) => q, inject: [MemoryQueueService] };
    const alias: Provider = { provide: 'QUEUE_ALIAS', useExisting: MemoryQueueService };
    const error = await refusal([PropertyProducer, factory, alias]);
    expect(error.message).toContain('PropertyProducer (property queue)');
    expect(error.message).toContain('provider LEGACY_QUEUE (factory inject[0])');
    expect(error.message).toContain('provider QUEUE_ALIAS (useExisting)');
  });

  it('boots an app that injects TaskQueue; MemoryQueueService itself refuses every call', async () => {
    app = await boot([TaskQueueProducer]);
    const producer = app.get(TaskQueueProducer);
    expect(producer.queue).not.toBeInstanceOf(MemoryQueueService);
    const id = await producer.queue.pushTask({ type: 'guarded' });
    await waitFor(() => producer.ran.includes(id), 'the task pushed through TaskQueue to run', 20_000);

    const memory = app.get(MemoryQueueService);
    expect(memory).toBeInstanceOf(MemoryQueueService);
    expect(() => memory.pushTask({ type: 'guarded' })).toThrow(InvalidOptionsError);
    expect(() => memory.pushTask({ type: 'guarded' })).toThrow(/MemoryQueueService\.pushTask\(\) was called, but queue\.backend is '(database|redis)'.*Inject TaskQueue instead/);
    for (const call of [() => memory.pushTasks([]), () => memory.getQueueSize(), () => memory.setPublic('k', 1), () => memory.listTasks(), () => memory.onIdle(), () => memory.events$]) {
      expect(call).toThrow(InvalidOptionsError);
    }
  });
});

describe("queue.backend 'memory'", () => {
  it('boots with MemoryQueueService injected, and it runs what it takes', async () => {
    @Injectable()
    class Handlers {
      @TaskHandler('guarded')
      run(): string {
        return 'ran';
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false })],
      providers: [MemoryProducer, Handlers],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const queue = app.get(MemoryProducer).queue;
    const id = queue.pushTask({ type: 'guarded' });
    await queue.onIdle();
    expect(queue.getTask(id)).toMatchObject({ status: 'succeeded', result: 'ran' });
    await app.close();
  });
});

describe('the queue class of a backend that is not selected', () => {
  @Injectable()
  class DatabaseProducer {
    constructor(readonly queue: DatabaseQueueService) {}
  }

  @Injectable()
  class RedisProducer {
    constructor(readonly queue: RedisQueueService) {}
  }

  const db = useTestDatabase('sqlite');

  it.each([
    ['DatabaseQueueService', 'memory', DatabaseProducer],
    ['RedisQueueService', 'memory', RedisProducer],
    ['RedisQueueService', 'database', RedisProducer],
  ] as const)('stops start-up when a provider injects %s while queue.backend is %s', async (name, backend, producer) => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false } as never),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', queue: { backend } }),
      ],
      providers: [producer],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    const error = await app.init().then(() => undefined, (err: unknown) => err);
    await app.close().catch(() => undefined);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toContain(`${producer.name} (constructor parameter 0) injects ${name}`);
    expect((error as Error).message).toContain('Inject TaskQueue');
  });
});
