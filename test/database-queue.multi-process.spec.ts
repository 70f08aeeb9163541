import type { INestApplication } from '@nestjs/common';
import { DatabaseQueueService, SchedulerService, TaskQueue } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { DATABASES, useTestDatabase } from './support/databases';
import { type Instance, startInstance, stopAll, waitReady } from './support/processes';
import { bootProducer } from './support/producer';
import { waitFor } from './support/wait-for';

jest.setTimeout(180_000);

const SERVERS = DATABASES.filter((k) => k !== 'sqlite');
const WORKER = { queue: { backend: 'database', pollIntervalMs: 100 }, scheduler: { enabled: false }, workers: { concurrency: 8 } };

describe.each(SERVERS)('database backend, several processes on %s', (kind) => {
  const db = useTestDatabase(kind);
  let producer: INestApplication;
  let ds: DataSource;
  let instances: Instance[] = [];
  db.beforeDrop(() => producer.close());

  beforeAll(async () => {
    producer = await bootProducer(db);
    ds = producer.get(DataSource);
    await ds.query('CREATE TABLE ledger (task_id varchar(191) NOT NULL, attempt int NOT NULL, pid int NOT NULL)');
  });

  afterEach(async () => {
    await stopAll(instances, 'SIGKILL');
    instances = [];
    for (const table of ['ledger', 'task_queue', 'scheduler_task']) await ds.query(`DELETE FROM ${table}`);
  });

  const count = async (sql: string): Promise<number> => Number((await ds.query(sql))[0].n);

  it('three worker processes drain 5,000 tasks: each succeeds exactly once, none lost', async () => {
    const queue = producer.get(DatabaseQueueService);
    for (let i = 0; i < 5000; i += 500) {
      await queue.pushTasks(Array.from({ length: 500 }, (_, j) => ({ taskId: `t${i + j}`, type: 'ledger' })));
    }
    instances = [0, 1, 2].map(() => startInstance(db.options, WORKER));
    await waitReady(instances);
    await waitFor(async () => (await count("SELECT COUNT(*) AS n FROM task_queue WHERE status = 'succeeded'")) === 5000, '5,000 succeeded', 120_000, 200);
    expect(await count('SELECT COUNT(*) AS n FROM ledger')).toBe(5000);
    expect(await count('SELECT COUNT(DISTINCT task_id) AS n FROM ledger')).toBe(5000);
    expect(await count('SELECT COUNT(*) AS n FROM (SELECT task_id FROM ledger GROUP BY task_id HAVING COUNT(*) > 1) d')).toBe(0);
    expect(await count('SELECT COUNT(DISTINCT pid) AS n FROM ledger')).toBe(3);
    expect(await count('SELECT COUNT(*) AS n FROM task_queue WHERE attempts <> 1')).toBe(0);
    await stopAll(instances);
    for (const i of instances) expect(i.stderr).toEqual([]);
  });

  it('a worker killed with SIGKILL mid-task: another process completes it after the lease, with the retry in its attempts', async () => {
    const options = { ...WORKER, queue: { ...WORKER.queue, leaseMs: 2000, sweepIntervalMs: 250 } };
    const [first] = (instances = [startInstance(db.options, options)]);
    await waitReady(instances);
    const id = await producer.get(TaskQueue).pushTask({ taskId: 'long-1', type: 'slow', params: { ms: 3000 } });
    await waitFor(() => first.lines.some((l) => l.event === 'slow-started' && l.id === id), 'the first try started', 20_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const killedAt = Date.now();
    const second = startInstance(db.options, options);
    instances.push(second);
    await waitFor(async () => (await producer.get(TaskQueue).getTask(id)).status === 'succeeded', 'completed by the second process', 30_000, 50);
    const record = await producer.get(TaskQueue).getTask(id);
    expect(record.attempts).toBe(2);
    expect(record.result).toBe(`done by ${second.child.pid}`);
    const restartedAfter = Number(second.lines.find((l) => l.event === 'slow-started')?.at ?? Date.now()) - killedAt;
    expect(second.lines.filter((l) => l.event === 'slow-started').map((l) => l.attempt)).toEqual([2]);
    // picked up within lease + sweep + poll (+ boot time of the second process)
    expect(restartedAfter).toBeLessThan(2000 + 250 + 100 + 15_000);
  });

  it('the scheduler with three instances on the database backend makes one task_queue row per occurrence', async () => {
    const scheduler = await bootSchedulerApp();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push((await scheduler.get(SchedulerService).addSchedulerTask({ name: `s${i}`, taskType: 'tick', scheduleType: 'cron', cronExpression: '* * * * * *', enabled: false })).taskId);
    }
    await scheduler.close();
    instances = [0, 1, 2].map(() => startInstance(db.options, { ...WORKER, scheduler: { enabled: true } }));
    await waitReady(instances);
    // all ten become due at the same whole second, with every instance already polling
    const first = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    await ds.query(kind === 'postgres' ? 'UPDATE scheduler_task SET enabled = true, next_run_at = $1, version = version + 1' : 'UPDATE scheduler_task SET enabled = 1, next_run_at = ?, version = version + 1', [first]);
    await new Promise((r) => setTimeout(r, 6000));
    // each second's claim goes to whichever instance looks first: in a loaded run one instance can win a few in a row, so
    // the run goes on until a second instance has pushed one (failing after 20 s more): several instances share the pushes
    const pushers = (): Set<number> => new Set(instances.flatMap((i) => i.lines.filter((l) => l.event === 'queued').map((l) => l.pid as number)));
    await waitFor(() => pushers().size > 1, 'a second instance to push an occurrence', 20_000, 50);
    const stopping = Date.now();
    await stopAll(instances);
    const rows: Array<{ s: string; at: string; n: string | number }> = await ds.query(
      'SELECT scheduler_task_id AS s, scheduled_at AS at, COUNT(*) AS n FROM task_queue GROUP BY scheduler_task_id, scheduled_at',
    );
    expect(rows.filter((r) => Number(r.n) !== 1)).toEqual([]);
    const bySchedule = new Map<string, number[]>();
    for (const r of rows) bySchedule.set(r.s, [...(bySchedule.get(r.s) ?? []), Number(r.at)]);
    expect([...bySchedule.keys()].sort()).toEqual([...ids].sort());
    for (const times of bySchedule.values()) {
      times.sort((a, b) => a - b);
      expect(times.slice(1).map((t, i) => t - times[i])).toEqual(times.slice(1).map(() => 1000));
      expect(times.length).toBeGreaterThanOrEqual(4);
    }
    // each row is the occurrence's run history; what is still pending was queued ahead of its time (scheduler.lookaheadMs)
    // and waits in the table for the next instance
    const ran = await count("SELECT COUNT(*) AS n FROM task_queue WHERE status = 'succeeded' AND started_at >= scheduled_at");
    const ahead = await count(`SELECT COUNT(*) AS n FROM task_queue WHERE status = 'pending' AND scheduled_at > ${stopping - 250}`);
    expect(ran + ahead).toBe(rows.length);
  });

  async function bootSchedulerApp(): Promise<INestApplication> {
    const { Test } = await import('@nestjs/testing');
    const { TypeOrmModule } = await import('@nestjs/typeorm');
    const { QueueSchedulerModule } = await import('nestjs-queue-scheduler');
    const ref = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: false, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', workers: { enabled: false }, scheduler: { enabled: false }, queue: { backend: 'database' } }),
      ],
    }).compile();
    const app = ref.createNestApplication({ logger: false });
    await app.init();
    return app;
  }
});

describe.each(DATABASES)('idle worker processes on %s', (kind) => {
  const db = useTestDatabase(kind);
  let producer: INestApplication;
  let instances: Instance[] = [];
  db.beforeDrop(async () => {
    await stopAll(instances, 'SIGKILL');
    await producer.close();
  });

  beforeAll(async () => {
    producer = await bootProducer(db);
    await producer.get(DataSource).query('CREATE TABLE ledger (task_id varchar(191) NOT NULL, attempt int NOT NULL, pid int NOT NULL)');
  });

  const count = async (sql: string): Promise<number> => Number((await producer.get(DataSource).query(sql))[0].n);

  it('stay up while the queue is empty and run the tasks another process pushed for later', async () => {
    instances = [0, 1].map(() => startInstance(db.options, WORKER));
    await waitReady(instances);
    // not due for a second: both workers find the queue empty first (on SQLite no socket keeps an idle process alive)
    await producer.get(DatabaseQueueService).pushTasks(Array.from({ length: 40 }, (_, i) => ({ taskId: `later-${i}`, type: 'ledger', delayMs: 1000 })));
    await waitFor(async () => (await count("SELECT COUNT(*) AS n FROM task_queue WHERE status = 'succeeded'")) === 40, '40 succeeded', 60_000, 100);
    expect(instances.map((i) => i.child.exitCode)).toEqual([null, null]);
    expect(await count('SELECT COUNT(DISTINCT task_id) AS n FROM ledger')).toBe(40);
    expect(await count('SELECT COUNT(*) AS n FROM ledger')).toBe(40);
    await stopAll(instances);
    for (const i of instances) expect(i.stderr).toEqual([]);
  });
});
