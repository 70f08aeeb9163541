import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { type QueueSchedulerModuleOptions, RedisQueueService } from 'nestjs-queue-scheduler';
import { dropPrefix } from '../../test/support/redis';
import { type Instance, startInstance, stopAll, waitReady } from '../../test/support/processes';
import { waitFor } from '../../test/support/wait-for';
import { boot } from './app';
import { middleRate, middleWindow, type DrainOutcome } from './durable';
import { createTestDatabase, REDIS, uniqueName, type TestDatabase } from './servers';

export { dropPrefix };

/** Our redis backend's options for a benchmark app on the local Redis, under `prefix`. */
export function redisBackend(prefix: string, extra: Record<string, unknown> = {}): QueueSchedulerModuleOptions['queue'] {
  return { backend: 'redis', connection: { host: REDIS.host, port: REDIS.port }, prefix, ...extra } as QueueSchedulerModuleOptions['queue'];
}

/**
 * Pushes `n` tasks of `type` through the public API. The redis backend has no
 * bulk push: 500 pushes in flight at a time keep ioredis pipelining them.
 */
export async function pushMany(queue: RedisQueueService, type: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, n - i) }, () => queue.pushTask({ type })));
  }
}

/**
 * Durable drains of our redis backend: a producer app (no workers) preloads
 * the tasks into the type's BullMQ queue while it is paused, the worker
 * processes (test/support/app-process.ts on backend 'redis') start, and the
 * queue is resumed once every one of them is up, so all see the tasks at
 * once as on the database rig. Completion times are BullMQ's `finishedOn`
 * (the score of the completed set), kept because retentionDays keeps jobs.
 */
export class RedisRig {
  private constructor(
    /** app-process.ts always opens a TypeORM data source (schedules stay in SQL); the tasks never touch it. */
    private readonly db: TestDatabase,
    private readonly client: IORedis,
  ) {}

  static async open(): Promise<RedisRig> {
    return new RedisRig(await createTestDatabase('sqlite'), new IORedis({ ...REDIS }));
  }

  async close(): Promise<void> {
    this.client.disconnect();
    await this.db.drop();
  }

  async drain(n: number, processes: number, concurrency: number): Promise<DrainOutcome> {
    const prefix = uniqueName('redis-durable');
    const type = 'tick';
    const bull = new Queue(`task.${type}`, { connection: REDIS, prefix });
    // on the rig's database, whose tables (synchronized here) the instances read at boot
    const producer = await boot({ db: this.db.options, options: { queue: redisBackend(prefix), workers: { enabled: false }, scheduler: { enabled: false } } });
    let instances: Instance[] = [];
    try {
      await bull.pause();
      await pushMany(producer.get(RedisQueueService), type, n);
      const options = { queue: redisBackend(prefix, { pollIntervalMs: 100 }), scheduler: { enabled: false }, workers: { concurrency } };
      instances = Array.from({ length: processes }, () => startInstance(this.db.options, options));
      await waitReady(instances, 60_000);
      await bull.resume();
      const completed = `${prefix}:task.${type}:completed`;
      await waitFor(async () => (await this.client.zcard(completed)) === n, `${n} redis tasks completed`, 600_000, 200);
      await stopAll(instances);
      instances = [];
      const flat = await this.client.zrange(completed, 0, -1, 'WITHSCORES');
      const ids: string[] = [];
      const finishedAt: number[] = [];
      for (let i = 0; i < flat.length; i += 2) {
        ids.push(flat[i]);
        finishedAt.push(Number(flat[i + 1]));
      }
      // BullMQ's attemptsStarted ('ats'): above 1 means a second worker fetched the job (a stall or a double claim)
      const pipe = this.client.pipeline();
      for (const id of ids) pipe.hget(`${prefix}:task.${type}:${id}`, 'ats');
      const started = ((await pipe.exec()) ?? []).map(([, v]) => Number(v ?? 1));
      return { rate: middleRate(finishedAt), window: middleWindow(finishedAt), reclaimed: started.filter((s) => s > 1).length };
    } finally {
      await stopAll(instances);
      await producer.close();
      await bull.close();
      await dropPrefix(prefix, REDIS);
    }
  }
}
