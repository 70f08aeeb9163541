import type { INestApplication } from '@nestjs/common';
import { TaskQueue } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { DATABASES, useTestDatabase } from './support/databases';
import { type Instance, startInstance, stopAll, waitReady } from './support/processes';
import { bootProducer } from './support/producer';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { ORDERED_LEDGER, useLedgerCluster } from './support/ordered-ledger';
import { waitFor } from './support/wait-for';

jest.setTimeout(120_000);

const WORKER = { queue: { backend: 'database', pollIntervalMs: 100 }, scheduler: { enabled: false }, workers: { concurrency: 8 } };
const CHILDREN = 1000;

describe.each(DATABASES)('a flow shared by three processes on %s', (kind) => {
  const cluster = useLedgerCluster(kind as Exclude<typeof kind, 'mariadb-mysql'>);

  const count = async (sql: string): Promise<number> => Number((await cluster.ds.query(sql))[0].n);

  it(`${CHILDREN} children run once each across the processes, and the parent once, after all of them`, async () => {
    const queue = cluster.producer.get(TaskQueue);
    // every process polls before the flow exists: one that came up first (seconds apart on a loaded runner) must
    // not have drained the children alone before the others started, which proves nothing about sharing
    const instances = await cluster.start(3, WORKER);
    const ids = await queue.pushFlow({ type: 'ledger', children: Array.from({ length: CHILDREN }, () => ({ type: 'ledger' })) });
    expect((await queue.getTask(ids.taskId)).status).toBe('waiting');
    await waitFor(async () => (await queue.getTask(ids.taskId)).status === 'succeeded', 'the parent to succeed', 90_000, 200);

    expect(await count('SELECT COUNT(*) AS n FROM ledger')).toBe(CHILDREN + 1);
    expect(await count('SELECT COUNT(DISTINCT task_id) AS n FROM ledger')).toBe(CHILDREN + 1);
    expect(await count("SELECT COUNT(*) AS n FROM task_queue WHERE status = 'succeeded' AND attempts = 1")).toBe(CHILDREN + 1);
    const parentRow = (await cluster.ds.query(`SELECT id FROM ledger WHERE task_id = '${ids.taskId}'`))[0].id;
    expect(await count(`SELECT MAX(id) AS n FROM ledger WHERE task_id <> '${ids.taskId}'`)).toBeLessThan(Number(parentRow));
    // the children really were shared: more than one process ran them
    expect(await count('SELECT COUNT(DISTINCT pid) AS n FROM ledger')).toBeGreaterThan(1);
    await stopAll(instances);
    for (const i of instances) expect(i.stderr).toEqual([]);
  });
});

// the tasks live in Redis; the ledger on MariaDB, shared by the processes (as the Redis multi-process suite keeps it)
describe('a flow shared by three processes on redis (ledger on MariaDB)', () => {
  const db = useTestDatabase('mariadb');
  const prefix = testPrefix();
  let producer: INestApplication;
  let ds: DataSource;
  let instances: Instance[] = [];
  db.beforeDrop(async () => {
    await stopAll(instances, 'SIGKILL');
    await producer.close();
    await dropPrefix(prefix);
  });

  beforeAll(async () => {
    producer = await bootProducer(db, { backend: 'redis', connection: REDIS, prefix });
    ds = producer.get(DataSource);
    await ds.query(ORDERED_LEDGER.mariadb);
  });

  const count = async (sql: string): Promise<number> => Number((await ds.query(sql))[0].n);

  it(`${CHILDREN} children run once each across the processes, and the parent once, after all of them`, async () => {
    const queue = producer.get(TaskQueue);
    // the processes first, as on the databases: one that came up alone must not drain the flow before the others
    const worker = { ...WORKER, queue: { backend: 'redis', connection: REDIS, prefix, pollIntervalMs: 100 } };
    instances = [0, 1, 2].map(() => startInstance(db.options, worker));
    await waitReady(instances);
    const ids = await queue.pushFlow({ type: 'ledger', children: Array.from({ length: CHILDREN }, () => ({ type: 'ledger' })) });
    expect((await queue.getTask(ids.taskId)).status).toBe('waiting');
    await waitFor(async () => (await queue.getTask(ids.taskId)).status === 'succeeded', 'the parent to succeed', 90_000, 200);

    expect(await queue.countByStatus()).toEqual({ pending: 0, running: 0, succeeded: CHILDREN + 1, failed: 0, dead: 0, cancelled: 0, waiting: 0 });
    expect(await count('SELECT COUNT(*) AS n FROM ledger')).toBe(CHILDREN + 1);
    expect(await count('SELECT COUNT(DISTINCT task_id) AS n FROM ledger')).toBe(CHILDREN + 1);
    expect(await count('SELECT COUNT(*) AS n FROM ledger WHERE attempt <> 1')).toBe(0);
    const parentRow = (await ds.query(`SELECT id FROM ledger WHERE task_id = '${ids.taskId}'`))[0].id;
    expect(await count(`SELECT MAX(id) AS n FROM ledger WHERE task_id <> '${ids.taskId}'`)).toBeLessThan(Number(parentRow));
    expect(await count('SELECT COUNT(DISTINCT pid) AS n FROM ledger')).toBeGreaterThan(1);
    await stopAll(instances);
    for (const i of instances) expect(i.stderr).toEqual([]);
  });
});
