import type { INestApplication } from '@nestjs/common';
import { TaskQueue } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { type TestDatabase, useTestDatabase } from './support/databases';
import { type Instance, startInstance, stopAll, waitReady } from './support/processes';
import { bootProducer } from './support/producer';
import { waitFor } from './support/wait-for';

jest.setTimeout(120_000);

/**
 * Several worker processes on one SQLite file in WAL, as the README sets it
 * up. The tasks print their starts (the `lossy` handler) rather than write a
 * ledger row: a handler writing to the same file would measure its own lock
 * waits, not the queue's.
 */
const LEASE_MS = 60_000;
const WORKER = { queue: { backend: 'database', pollIntervalMs: 100, leaseMs: LEASE_MS }, scheduler: { enabled: false }, workers: { concurrency: 10 }, shutdownTimeoutMs: 200 };

describe('SQLite in WAL, two worker processes', () => {
  const sqlite = useTestDatabase('sqlite');
  let db: TestDatabase;
  let producer: INestApplication;
  let instances: Instance[] = [];
  sqlite.beforeDrop(async () => {
    await stopAll(instances, 'SIGKILL');
    await producer.close();
  });

  beforeAll(async () => {
    db = { ...sqlite, options: { ...sqlite.options, enableWAL: true } } as TestDatabase;
    producer = await bootProducer(db);
    expect(await producer.get(DataSource).query('PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }]);
  });

  afterEach(async () => {
    await stopAll(instances, 'SIGKILL');
    instances = [];
  });

  const startsOf = (instance: Instance): string[] => instance.lines.filter((l) => l.event === 'lossy-started').map((l) => String(l.id));

  it('tasks a stopping process releases are run by the other one, once, without using an attempt', async () => {
    const queue = producer.get(TaskQueue);
    // the first process holds whatever it takes until it is stopped
    const holder = startInstance(db.options, WORKER, { env: { QS_HOLD_MS: String(10 * 60_000) } });
    instances = [holder];
    await waitReady(instances);
    const ids = await queue.pushTasks(Array.from({ length: 10 }, (_, i) => ({ taskId: `held-${i}`, type: 'lossy', params: { ms: 0 } })));
    await waitFor(() => startsOf(holder).length === 10, 'the first process to hold all ten', 30_000);

    const other = startInstance(db.options, WORKER, { env: { QS_HOLD_MS: '0' } });
    instances.push(other);
    await waitReady([other]);
    expect(startsOf(other)).toEqual([]);
    // SIGTERM: the shutdown grace passes, the held tries are aborted and released to the table
    holder.child.kill('SIGTERM');
    await holder.exited;

    // well inside the lease: only a release, not an expired lease, can hand them over this soon
    await waitFor(async () => (await Promise.all(ids.map((id) => queue.getTask(id)))).every((t) => t.status === 'succeeded'), 'the other process to run all ten', LEASE_MS / 2, 50);
    // a child's stdout reaches this process after its commit can: the start lines may still be on their way
    await waitFor(() => startsOf(other).length >= ids.length, "the other process's ten start lines", 10_000);
    expect(startsOf(other).sort()).toEqual([...ids].sort());
    for (const id of ids) expect(await queue.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 1, result: `done by ${other.child.pid}` });
  });

  it('a retry that the process whose try failed has no worker for is run by the other one', async () => {
    const queue = producer.get(TaskQueue);
    const startsIn = (instance: Instance, event: string): Array<Record<string, unknown>> => instance.lines.filter((l) => l.event === event);
    // two workers: one holds a task throughout, the other runs the first try of `flaky`, then takes the second held task
    // 'failed' is a task waiting for its retry
    const busy = startInstance(db.options, { ...WORKER, workers: { concurrency: 2 } }, { env: { QS_HOLD_MS: String(10 * 60_000) } });
    instances = [busy];
    await waitReady(instances);
    await queue.pushTask({ taskId: 'held-a', type: 'lossy', params: { ms: 0 } });
    await waitFor(() => startsOf(busy).length === 1, 'the first held task to start', 30_000);
    const id = await queue.pushTask({ taskId: 'flaky', type: 'flaky' });
    await waitFor(() => startsIn(busy, 'flaky-started').length === 1, 'the first try to start', 30_000);
    await queue.pushTask({ taskId: 'held-b', type: 'lossy', params: { ms: 0 } });
    await waitFor(async () => startsOf(busy).length === 2 && (await queue.getTask(id)).status === 'failed', 'the first try to fail and both workers to be held', 30_000, 50);

    const other = startInstance(db.options, WORKER, { env: { QS_HOLD_MS: '0' } });
    instances.push(other);
    await waitReady([other]);
    // well inside the lease, which the held tasks keep renewing: only the released retry can be run this soon
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'the other process to run the retry', LEASE_MS / 2, 50);
    await waitFor(() => startsIn(other, 'flaky-started').length >= 1, "the other process's start line", 10_000);
    expect(startsIn(other, 'flaky-started').map((l) => [l.id, l.attempt])).toEqual([[id, 2]]);
    expect(await queue.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 2, result: `done by ${other.child.pid}` });
    expect(startsIn(busy, 'flaky-started')).toHaveLength(1);
  });

  it('two processes drain 2,000 tasks together: each runs once, both take part', async () => {
    const queue = producer.get(TaskQueue);
    instances = [0, 1].map(() => startInstance(db.options, WORKER, { env: { QS_HOLD_MS: '0' } }));
    await waitReady(instances);
    const ids: string[] = [];
    for (let i = 0; i < 2000; i += 500) ids.push(...(await queue.pushTasks(Array.from({ length: 500 }, (_, j) => ({ taskId: `d-${i + j}`, type: 'lossy', params: { ms: 0 } })))));
    await waitFor(async () => (await queue.countByStatus()).succeeded >= 2000, 'all 2,000 to succeed', 90_000, 100);
    await waitFor(() => instances.flatMap(startsOf).length >= 2000, 'the 2,000 start lines', 10_000);
    const starts = instances.flatMap(startsOf);
    expect(starts.length).toBe(2000);
    expect(new Set(starts).size).toBe(2000);
    for (const instance of instances) expect(startsOf(instance).length).toBeGreaterThan(0);
    await stopAll(instances);
    for (const instance of instances) expect(instance.stderr).toEqual([]);
  });
});
