import type { INestApplication } from '@nestjs/common';
import { RedisQueueService, SchedulerService } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { useTestDatabase } from './support/databases';
import { type Instance, startInstance, stopAll, waitReady } from './support/processes';
import { bootProducer } from './support/producer';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(180_000);

// the ledger and the schedules live on MariaDB, shared by the processes (as the issue asks); the tasks live in Redis
const SERVER = 'mariadb';

describe('redis backend, several processes (ledger and schedules on MariaDB)', () => {
  const db = useTestDatabase(SERVER);
  let producer: INestApplication;
  let ds: DataSource;
  let prefix: string;
  let instances: Instance[] = [];
  const worker = () => ({ queue: { backend: 'redis', connection: REDIS, prefix, pollIntervalMs: 100 }, scheduler: { enabled: false }, workers: { concurrency: 8 } });

  beforeEach(async () => {
    prefix = testPrefix();
    producer = await bootProducer(db, { backend: 'redis', connection: REDIS, prefix });
    ds = producer.get(DataSource);
    await ds.query('CREATE TABLE IF NOT EXISTS ledger (task_id varchar(191) NOT NULL, attempt int NOT NULL, pid int NOT NULL)');
  });

  afterEach(async () => {
    await stopAll(instances, 'SIGKILL');
    instances = [];
    for (const table of ['ledger', 'scheduler_task']) await ds.query(`DELETE FROM ${table}`);
    await producer.close();
    await dropPrefix(prefix);
  });

  const count = async (sql: string): Promise<number> => Number((await ds.query(sql))[0].n);

  it('three worker processes drain 5,000 tasks from Redis: each succeeds exactly once, none lost', async () => {
    const queue = producer.get(RedisQueueService);
    for (let i = 0; i < 5000; i += 250) {
      await Promise.all(Array.from({ length: 250 }, (_, j) => queue.pushTask({ taskId: `t${i + j}`, type: 'ledger' })));
    }
    expect(await queue.getQueueSize()).toBe(5000);
    instances = [0, 1, 2].map(() => startInstance(db.options, worker()));
    await waitReady(instances);
    await waitFor(async () => (await queue.countByStatus()).succeeded === 5000, '5,000 succeeded', 120_000, 200);
    expect(await queue.countByStatus()).toEqual({ pending: 0, running: 0, succeeded: 5000, failed: 0, dead: 0, cancelled: 0, waiting: 0 });
    expect(await count('SELECT COUNT(*) AS n FROM ledger')).toBe(5000);
    expect(await count('SELECT COUNT(DISTINCT task_id) AS n FROM ledger')).toBe(5000);
    expect(await count('SELECT COUNT(DISTINCT pid) AS n FROM ledger')).toBe(3);
    expect(await count('SELECT COUNT(*) AS n FROM ledger WHERE attempt <> 1')).toBe(0);
    expect((await queue.getTask('t4999')).attempts).toBe(1);
    await stopAll(instances);
    for (const i of instances) expect(i.stderr).toEqual([]);
  });

  it('a worker killed with SIGKILL mid-task: another process runs it after the lock expires, the lost try using no attempt', async () => {
    const options = { ...worker(), queue: { ...worker().queue, leaseMs: 2000, sweepIntervalMs: 250 } };
    const [first] = (instances = [startInstance(db.options, options)]);
    await waitReady(instances);
    const queue = producer.get(RedisQueueService);
    const id = await queue.pushTask({ taskId: 'long-1', type: 'slow', params: { ms: 3000 } });
    await waitFor(() => first.lines.some((l) => l.event === 'slow-started' && l.id === id), 'the first try started', 20_000);
    expect((await queue.getTask(id)).status).toBe('running');
    first.child.kill('SIGKILL');
    await first.exited;
    const second = startInstance(db.options, options);
    instances.push(second);
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'completed by the second process', 30_000, 50);
    const record = await queue.getTask(id);
    expect(record.result).toBe(`done by ${second.child.pid}`);
    expect(record.attempts).toBe(1);
    expect(second.lines.filter((l) => l.event === 'slow-started').map((l) => l.attempt)).toEqual([1]);
  });

  it('a graceful shutdown gives a running task back without using an attempt', async () => {
    const options = { ...worker(), shutdownTimeoutMs: 200 };
    const [first] = (instances = [startInstance(db.options, options)]);
    await waitReady(instances);
    const queue = producer.get(RedisQueueService);
    const id = await queue.pushTask({ taskId: 'long-2', type: 'slow', params: { ms: 5000 } });
    await waitFor(() => first.lines.some((l) => l.event === 'slow-started' && l.id === id), 'the first try started', 20_000);
    await stopAll([first]);
    expect(await queue.getTask(id)).toMatchObject({ status: 'pending', attempts: 0 });
    const second = startInstance(db.options, { ...worker(), workers: { concurrency: 1 } });
    instances.push(second);
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'completed by the second process', 30_000, 50);
    expect(await queue.getTask(id)).toMatchObject({ attempts: 1, result: `done by ${second.child.pid}` });
  });

  it('the scheduler with three instances on the database and tasks in Redis enqueues each occurrence once', async () => {
    const scheduler = producer.get(SchedulerService);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push((await scheduler.addSchedulerTask({ name: `s${i}`, taskType: 'tick', scheduleType: 'cron', cronExpression: '* * * * * *', enabled: false })).taskId);
    }
    instances = [0, 1, 2].map(() => startInstance(db.options, { ...worker(), scheduler: { enabled: true } }));
    await waitReady(instances);
    // all ten become due at the same whole second, with every instance already polling
    const first = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    await ds.query('UPDATE scheduler_task SET enabled = 1, next_run_at = ?, version = version + 1', [first]);
    const queue = producer.get(RedisQueueService);
    // at least four occurrences of every schedule have run, and more than one instance has pushed some: which
    // instance claims a due row is a race, and on a loaded machine one can win several seconds in a row
    const pushed = () => new Set(instances.flatMap((i) => i.lines.filter((l) => l.event === 'queued').map((l) => l.pid))).size;
    await waitFor(async () => pushed() > 1 && (await queue.countByStatus()).succeeded >= 40 && (await Promise.all(ids.map((id) => scheduler.getTask(id)))).every((s) => s.runCount >= 4), 'four runs of each schedule, pushed by more than one instance', 60_000, 100);
    await stopAll(instances);
    const queued = instances.flatMap((i) => i.lines.filter((l) => l.event === 'queued'));
    const perOccurrence = new Map<string, number>();
    for (const l of queued) perOccurrence.set(`${l.s}:${l.scheduledAt}`, (perOccurrence.get(`${l.s}:${l.scheduledAt}`) ?? 0) + 1);
    expect([...perOccurrence.values()].filter((n) => n !== 1)).toEqual([]);
    // Redis holds one job per occurrence, under the deterministic id <scheduleId>:<scheduledAt>, each run once
    const counts = await queue.countByStatus();
    expect(counts.succeeded + counts.pending + counts.running).toBe(perOccurrence.size);
    const runs = (await Promise.all(ids.map((id) => scheduler.getTask(id)))).reduce((n, s) => n + s.runCount, 0);
    expect(runs).toBe(perOccurrence.size);
    for (const key of [...perOccurrence.keys()].slice(0, 20)) {
      const record = await queue.getTask(key);
      expect(record).toMatchObject({ taskId: key, type: 'tick', schedulerTaskId: key.split(':')[0] });
      expect(record.scheduledAt!.getTime()).toBe(Number(key.split(':')[1]));
    }
    const bySchedule = new Map<string, number[]>();
    for (const key of perOccurrence.keys()) bySchedule.set(key.split(':')[0], [...(bySchedule.get(key.split(':')[0]) ?? []), Number(key.split(':')[1])]);
    expect([...bySchedule.keys()].sort()).toEqual([...ids].sort());
    for (const times of bySchedule.values()) {
      times.sort((a, b) => a - b);
      expect(times.slice(1).map((t, i) => t - times[i])).toEqual(times.slice(1).map(() => 1000));
    }
    const pushers = new Set(queued.map((l) => l.pid));
    expect(pushers.size).toBeGreaterThan(1);
  });
});
