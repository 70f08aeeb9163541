import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QueueSchedulerModule, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { type TcpProxy, useProxiedApp } from './support/tcp-proxy';
import { waitFor } from './support/wait-for';
import { LogLines } from './support/log-lines';

/** Long enough that a job left to BullMQ's stalled check could not be back within the test's wait. */
const LEASE_MS = 30_000;


@Injectable()
class Work {
  readonly runs: Array<{ id: string; attempt: number; at: number }> = [];
  /** Set while the first task's handler waits to be let go. */
  release?: () => void;

  @TaskHandler('work')
  async work(params: { hold?: boolean }, ctx: { task: { taskId: string }; attempt: number }): Promise<string> {
    this.runs.push({ id: ctx.task.taskId, attempt: ctx.attempt, at: Date.now() });
    if (params.hold) await new Promise<void>((resolve) => (this.release = resolve));
    return 'done';
  }
}

/**
 * Redis ran a call, and its reply was lost with the connection; ioredis sends such a call again after the
 * reconnect. A completion also fetches the next job of its type (BullMQ's fetch-next), and a claim takes one:
 * the first send locked a job under the call's token, and the second send knew nothing of it (a completion
 * failed, its task no longer running; a claim took another job or none). That job was left to BullMQ's stalled
 * check: back after the lease (30 s by default), counted as a lost try, and dead without ever running under
 * `maxLostTries: 0`; the finished task was reported as a lost lease, its outcome "not recorded".
 */
describe('redis backend, a call whose reply is lost with the connection', () => {
  const proxied = useProxiedApp();
  const prefix = testPrefix();
  afterAll(() => dropPrefix(prefix));

  async function boot(): Promise<{ queue: TaskQueue; work: Work; logger: LogLines; proxy: TcpProxy }> {
    const proxy = await proxied.start(REDIS.host, REDIS.port);
    const logger = new LogLines();
    const moduleRef = await Test.createTestingModule({
      imports: [
        QueueSchedulerModule.forRoot({
          logLevel: 'log',
          dataSource: false,
          workers: { concurrency: 1 },
          queue: { backend: 'redis', connection: { host: '127.0.0.1', port: proxy.port }, prefix, leaseMs: LEASE_MS, sweepIntervalMs: 1000, maxLostTries: 0 },
        }),
      ],
      providers: [Work],
    })
      .setLogger(logger)
      .compile();
    const app: INestApplication = moduleRef.createNestApplication({ logger });
    proxied.app = app;
    await app.init();
    return { queue: app.get(TaskQueue), work: app.get(Work), logger, proxy };
  }

  /** Lines that say a try's outcome was lost or not recorded, or that a task was lost or died. */
  const lossLines = (logger: LogLines): string[] => logger.lines.filter((l) => /lease was lost|not recorded|stopped renewing the lock|is dead/.test(l));

  it('records the task it finished and runs the job it fetched at once, with no lost try', async () => {
    const { queue, work, logger, proxy } = await boot();
    const first = await queue.pushTask({ type: 'work', taskId: `first-${prefix}`, params: { hold: true } });
    await waitFor(() => work.release !== undefined, 'the first task running', 10_000);
    const next = await queue.pushTask({ type: 'work', taskId: `next-${prefix}`, params: {} });
    // the completion's call names the finished job; its reply carries the job it fetched
    proxy.dropReply(`%t${first}`, next);
    const releasedAt = Date.now();
    work.release!();

    await waitFor(() => work.runs.some((r) => r.id === next), `the fetched task running well within its ${LEASE_MS} ms lease`, 10_000, 20).catch((err: Error) => {
      throw new Error(`${err.message}\nlog:\n${logger.lines.join('\n')}`);
    });
    expect(work.runs.find((r) => r.id === next)!.at - releasedAt).toBeLessThan(10_000);
    await waitFor(async () => (await queue.getTask(next)).status === 'succeeded', 'the fetched task recorded', 10_000, 20);

    const firstRecord = await queue.getTask(first);
    expect(firstRecord.status).toBe('succeeded');
    expect(firstRecord.result).toBe('done');
    const nextRecord = await queue.getTask(next);
    expect(nextRecord.attempts).toBe(1);
    expect((nextRecord.tries ?? []).map((t) => t.outcome)).toEqual(['succeeded']);
    expect(work.runs.map((r) => r.id)).toEqual([first, next]);
    // the finished task's outcome was recorded by the first call: no warning says otherwise
    expect(lossLines(logger)).toEqual([]);
  }, 60_000);

  it('runs at once a job whose claim reply was lost: the claim sent again does not leave it locked to no one', async () => {
    const { queue, work, logger, proxy } = await boot();
    const taskId = `claimed-${prefix}`;
    // a claim's call (moveToActive) carries its lock settings; its reply carries the job it took
    proxy.dropReply('lockDuration', `"taskId":"${taskId}"`);
    const pushedAt = Date.now();
    await queue.pushTask({ type: 'work', taskId, params: {} });
    await waitFor(() => work.runs.some((r) => r.id === taskId), `the task running well within its ${LEASE_MS} ms lease`, 10_000, 20).catch((err: Error) => {
      throw new Error(`${err.message}\nlog:\n${logger.lines.join('\n')}`);
    });
    expect(work.runs.find((r) => r.id === taskId)!.at - pushedAt).toBeLessThan(10_000);
    await waitFor(async () => (await queue.getTask(taskId)).status === 'succeeded', 'the task recorded', 10_000, 20);
    const record = await queue.getTask(taskId);
    expect(record.attempts).toBe(1);
    expect((record.tries ?? []).map((t) => t.outcome)).toEqual(['succeeded']);
    expect(work.runs.map((r) => r.id)).toEqual([taskId]);
    expect(lossLines(logger)).toEqual([]);
  }, 60_000);

  it('reports the task as succeeded, not as a lost lease, when the first call fetched nothing along', async () => {
    const { queue, work, logger, proxy } = await boot();
    const only = await queue.pushTask({ type: 'work', taskId: `only-${prefix}`, params: { hold: true } });
    await waitFor(() => work.release !== undefined, 'the task running', 10_000);
    // moveToFinished answers 0 when it found no job to fetch
    proxy.dropReply(`%t${only}`, ':0\r\n');
    const events: string[] = [];
    const sub = queue.events$.subscribe((e) => e.taskId === only && events.push(e.kind));
    work.release!();
    try {
      await waitFor(() => events.includes('succeeded'), 'the succeeded event', 10_000, 20).catch((err: Error) => {
        throw new Error(`${err.message}\nlog:\n${logger.lines.join('\n')}`);
      });
    } finally {
      sub.unsubscribe();
    }
    expect((await queue.getTask(only)).status).toBe('succeeded');
    expect(work.runs.map((r) => r.id)).toEqual([only]);
    expect(lossLines(logger)).toEqual([]);
  }, 60_000);
});
