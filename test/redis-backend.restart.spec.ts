import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QueueSchedulerModule, TaskContext, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { freePort, PrivateRedis } from './support/redis-server';
import { waitFor } from './support/wait-for';

jest.setTimeout(120_000);

@Injectable()
class Recorder {
  readonly runs = new Map<string, number>();

  @TaskHandler('record', { concurrency: 4 })
  record(_params: unknown, ctx: TaskContext): void {
    this.runs.set(ctx.taskId, (this.runs.get(ctx.taskId) ?? 0) + 1);
  }
}

describe('redis backend when Redis restarts mid-run', () => {
  let redis: PrivateRedis;
  let app: INestApplication | undefined;

  beforeAll(async () => {
    redis = new PrivateRedis(await freePort());
    await redis.start();
  });

  afterAll(async () => {
    await app?.close();
    await redis.destroy();
  });

  it('loses no acknowledged push, and the app recovers without a restart', async () => {
    const ref = await Test.createTestingModule({
      imports: [
        QueueSchedulerModule.forRoot({
          logLevel: 'fatal',
          dataSource: false,
          // a short lock, so a job whose fetch reply was lost with the connection comes back quickly (at-least-once)
          queue: { backend: 'redis', connection: { host: '127.0.0.1', port: redis.port }, prefix: 'restart', pollIntervalMs: 100, leaseMs: 2000, sweepIntervalMs: 500 },
        }),
      ],
      providers: [Recorder],
    }).compile();
    app = ref.createNestApplication({ logger: false });
    await app.init();
    const queue = app.get(TaskQueue);
    const recorder = app.get(Recorder);

    // a producer pushing without pause; an id counts as acknowledged once pushTask resolved
    const acknowledged: string[] = [];
    let stopPushing = false;
    const producing = (async () => {
      for (let i = 0; !stopPushing; i++) {
        acknowledged.push(await queue.pushTask({ taskId: `r${i}`, type: 'record' }));
      }
    })();

    await waitFor(() => acknowledged.length >= 300 && recorder.runs.size >= 100, 'work flowing before the restart', 30_000);
    await redis.stop();
    const atStop = acknowledged.length;
    await redis.start();
    await waitFor(() => acknowledged.length >= atStop + 300, 'pushes acknowledged again after the restart', 30_000);
    stopPushing = true;
    await producing;

    await waitFor(() => acknowledged.every((id) => recorder.runs.has(id)), 'every acknowledged task ran', 60_000, 50);
    await waitFor(async () => (await queue.countByStatus()).succeeded === acknowledged.length, 'every acknowledged task recorded as succeeded', 30_000, 50);
    const counts = await queue.countByStatus();
    expect(counts.succeeded).toBe(acknowledged.length);
    expect(counts).toMatchObject({ pending: 0, running: 0, dead: 0 });
    for (const id of [acknowledged[0], acknowledged[atStop - 1], acknowledged[acknowledged.length - 1]]) {
      expect((await queue.getTask(id)).status).toBe('succeeded');
    }
    // the store works on the same connection after the restart
    await queue.setPublic('after', 'restart');
    expect(await queue.getPublic('after')).toBe('restart');
  });
});
