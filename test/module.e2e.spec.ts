import { Injectable, Module, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  DuplicateTaskHandlerError,
  InvalidOptionsError,
  InvalidTaskHandlerError,
  MemoryQueueService,
  QueueSchedulerModule,
  SchedulerService,
  TaskContext,
  TaskHandler,
  TaskQueue,
  WorkerPoolService,
} from 'nestjs-queue-scheduler';

@Injectable()
class Ledger {
  readonly runs: Array<{ taskId: string; params: unknown; attempt: number }> = [];
}

@Injectable()
class AudioHandlers {
  constructor(private readonly ledger: Ledger) {}

  @TaskHandler('download_audio', { concurrency: 2 })
  async download(params: { url: string }, ctx: TaskContext) {
    this.ledger.runs.push({ taskId: ctx.taskId, params, attempt: ctx.attempt });
    return { saved: params.url.split('/').pop() };
  }
}

@Injectable()
class OtherAudioHandlers {
  @TaskHandler('download_audio')
  async again() {}
}

@Injectable({ scope: Scope.REQUEST })
class RequestScopedHandlers {
  @TaskHandler('per_request')
  async run() {}
}

async function boot(providers: unknown[], options = {}) {
  const moduleRef = await Test.createTestingModule({
    imports: [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, ...options })],
    providers: [Ledger, ...(providers as never[])],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('QueueSchedulerModule in a Nest app', () => {
  it('discovers @TaskHandler methods and runs pushed tasks end to end', async () => {
    const app = await boot([AudioHandlers], { workers: { concurrency: 4 } });
    const queue = app.get(MemoryQueueService);
    expect(app.get(TaskQueue)).toBe(queue);
    const ids = Array.from({ length: 50 }, (_, i) => queue.pushTask({ type: 'download_audio', params: { url: `https://x/${i}.mp3` } }));
    await queue.onIdle();
    const ledger = app.get(Ledger);
    expect(ledger.runs.map((r) => r.taskId).sort()).toEqual([...ids].sort());
    expect(queue.getTask(ids[7])).toMatchObject({ status: 'succeeded', result: { saved: '7.mp3' } });
    expect(app.get(WorkerPoolService).size).toBe(4);
    await app.close();
    expect(app.get(WorkerPoolService).running).toBe(false);
  });

  it('forRootAsync takes options from a factory with injected dependencies', async () => {
    @Module({ providers: [{ provide: 'CONFIG', useValue: { workers: 2 } }], exports: ['CONFIG'] })
    class ConfigModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [
        QueueSchedulerModule.forRootAsync({
          dataSource: false,
          imports: [ConfigModule],
          inject: ['CONFIG'],
          useFactory: (config: { workers: number }) => ({ workers: { concurrency: config.workers }, logLevel: 'fatal' as const }),
        }),
      ],
      providers: [Ledger, AudioHandlers],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    expect(app.get(WorkerPoolService).size).toBe(2);
    app.get(MemoryQueueService).pushTask({ type: 'download_audio', params: { url: 'a/b.mp3' } });
    await app.get(MemoryQueueService).onIdle();
    expect(app.get(Ledger).runs).toHaveLength(1);
    await app.close();
  });

  it('forRoot() with no options at all boots on the default TypeORM connection with every default', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ type: 'better-sqlite3', database: ':memory:', autoLoadEntities: true, synchronize: true }),
        QueueSchedulerModule.forRoot(),
      ],
      providers: [Ledger, AudioHandlers],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    expect(app.get(WorkerPoolService).size).toBe(3);
    const schedule = await app.get(SchedulerService).addSchedulerTask({ name: 'n', taskType: 'download_audio', scheduleType: 'interval', intervalSeconds: 60 });
    expect(schedule.enabled).toBe(true);
    app.get(MemoryQueueService).pushTask({ type: 'download_audio', params: { url: 'a/c.mp3' } });
    await app.get(MemoryQueueService).onIdle();
    expect(app.get(Ledger).runs).toEqual([expect.objectContaining({ params: { url: 'a/c.mp3' }, attempt: 1 })]);
    await app.close();
  });

  it('workers.enabled false makes a producer-only instance', async () => {
    const app = await boot([AudioHandlers], { workers: { enabled: false } });
    const queue = app.get(MemoryQueueService);
    queue.pushTask({ type: 'download_audio', params: { url: 'a/b' } });
    await new Promise((r) => setTimeout(r, 30));
    expect(queue.getQueueSize()).toBe(1);
    expect(app.get(WorkerPoolService).running).toBe(false);
    const task = await queue.popTask(100);
    expect(task?.type).toBe('download_audio');
    await app.close();
  });

  it('two handlers for one type stop start-up naming both', async () => {
    const failure = boot([AudioHandlers, OtherAudioHandlers]);
    await expect(failure).rejects.toThrow(DuplicateTaskHandlerError);
    await expect(failure).rejects.toThrow(/AudioHandlers\.download and OtherAudioHandlers\.again|OtherAudioHandlers\.again and AudioHandlers\.download/);
  });

  it('a handler on a request-scoped provider is refused with a clear error', async () => {
    await expect(boot([RequestScopedHandlers])).rejects.toThrow(InvalidTaskHandlerError);
    await expect(boot([RequestScopedHandlers])).rejects.toThrow(/RequestScopedHandlers\.run .*request-scoped/);
  });

  it.each([
    [{ workers: { concurrency: -1 } }, 'workers.concurrency must be a positive integer, got -1'],
    [{ workers: { concurrency: 1.5 } }, 'workers.concurrency must be a positive integer, got 1.5'],
    [{ store: { cleanupIntervalSeconds: 0 } }, 'store.cleanupIntervalSeconds must be a positive integer, got 0'],
    [{ shutdownTimeoutMs: -5 }, 'shutdownTimeoutMs must be a finite number >= 0, got -5'],
    [{ retries: { attempts: 0 } }, 'retries.attempts must be a positive integer, got 0'],
    [{ logLevel: 'loud' }, "logLevel must be one of verbose, debug, log, warn, error, fatal, got 'loud'"],
    [{ scheduler: { defaultTimezone: 'Mars/Olympus' } }, "scheduler.defaultTimezone must be a known IANA time zone, got 'Mars/Olympus'"],
    [{ scheduler: { lookaheadMs: -1 } }, 'scheduler.lookaheadMs must be an integer from 0 to 3600000, got -1'],
    [{ scheduler: { lookaheadMs: 0.5 } }, 'scheduler.lookaheadMs must be an integer from 0 to 3600000, got 0.5'],
    [{ scheduler: { lookaheadMs: '1000' } }, "scheduler.lookaheadMs must be an integer from 0 to 3600000, got '1000'"],
    [{ scheduler: { lookaheadMs: 3_600_001 } }, 'scheduler.lookaheadMs must be an integer from 0 to 3600000, got 3600001'],
  ])('bad option %p stops start-up with a named error', async (options, message) => {
    const failure = Test.createTestingModule({ imports: [QueueSchedulerModule.forRoot({ dataSource: false, ...options } as never)] }).compile();
    await expect(failure).rejects.toThrow(InvalidOptionsError);
    await expect(
      Test.createTestingModule({ imports: [QueueSchedulerModule.forRoot({ dataSource: false, ...options } as never)] }).compile(),
    ).rejects.toThrow(message);
  });

  it('app.close() waits for an in-flight task before returning', async () => {
    let finished = false;
    let release!: () => void;
    @Injectable()
    class Slow {
      @TaskHandler('slow')
      async run() {
        await new Promise<void>((r) => (release = r));
        finished = true;
      }
    }
    const app = await boot([Slow], { shutdownTimeoutMs: 5000 });
    app.get(MemoryQueueService).pushTask({ type: 'slow' });
    while (!release) await new Promise((r) => setTimeout(r, 1));
    const closing = app.close();
    setTimeout(() => release(), 30);
    await closing;
    expect(finished).toBe(true);
  });
});
