import type { INestApplication } from '@nestjs/common';
import { TaskQueue } from 'nestjs-queue-scheduler';
import { type DatabaseKind, useTestDatabase } from './support/databases';
import { type Instance, startInstance, stopAll, waitReady } from './support/processes';
import { bootProducer } from './support/producer';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(180_000);

const POLL_MS = 200;
const TASKS = 150;

/** Redis keeps the tasks; its producer's schedules table needs a database all the same (MariaDB, as the Redis multi-process suite). */
const SERVERS: Array<[string, DatabaseKind, boolean]> = [
  ['MariaDB', 'mariadb', false],
  ['PostgreSQL', 'postgres', false],
  ['Redis', 'mariadb', true],
];

describe.each(SERVERS)('queue control across three processes on %s', (_name, kind, redis) => {
  const db = useTestDatabase(kind);
  let producer: INestApplication;
  let instances: Instance[] = [];
  let prefix = '';

  const queueOptions = () => (redis ? { backend: 'redis' as const, connection: REDIS, prefix, pollIntervalMs: POLL_MS } : { backend: 'database' as const, pollIntervalMs: POLL_MS });

  beforeEach(async () => {
    if (redis) prefix = testPrefix();
    producer = await bootProducer(db, queueOptions());
  });

  afterEach(async () => {
    await stopAll(instances, 'SIGKILL');
    instances = [];
    await producer.close();
    if (redis) await dropPrefix(prefix);
  });

  const lines = (event: string) => instances.flatMap((i) => i.lines.filter((l) => l.event === event));

  it('a type paused from a fourth process stops starting on every instance within one poll, and runs again, once each, after resumeType', async () => {
    const queue = producer.get(TaskQueue);
    instances = [0, 1, 2].map(() => startInstance(db.options, { queue: queueOptions(), scheduler: { enabled: false }, workers: { concurrency: 4 } }));
    await waitReady(instances);
    const ids: string[] = [];
    // a steady stream, so every instance is claiming when the pause lands
    const pushing = (async () => {
      for (let i = 0; i < TASKS; i++) {
        ids.push(await queue.pushTask({ type: 'slow', params: { ms: 20 } }));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    await waitFor(() => new Set(lines('slow-started').map((l) => l.pid)).size === 3, 'every instance to run tasks of the type');
    await queue.pauseType('slow');
    const pausedAt = Date.now();
    await pushing;
    // watched for three polls: a start later than one poll after the pause would be an instance that missed it
    await waitFor(() => Date.now() > pausedAt + 3 * POLL_MS, 'three polls to pass');
    const starts = lines('slow-started').map((l) => Number(l.at));
    const lastStart = Math.max(...starts);
    console.log(`${_name}: last start ${lastStart - pausedAt} ms after pauseType (poll ${POLL_MS} ms); ${starts.length} of ${TASKS} started before`);
    expect(lastStart - pausedAt).toBeLessThanOrEqual(POLL_MS + 200);
    expect(starts.length).toBeLessThan(TASKS);
    expect(await queue.listPausedTypes()).toEqual(['slow']);

    await queue.resumeType('slow');
    await waitFor(async () => (await queue.countByStatus()).succeeded === TASKS, `${TASKS} succeeded after resumeType`, 60_000, 200);
    const done = lines('slow-done').map((l) => String(l.id));
    expect(done.length).toBe(TASKS);
    expect(new Set(done)).toEqual(new Set(ids));
    expect(lines('slow-started').filter((l) => Number(l.at) > pausedAt + POLL_MS + 200).length).toBe(TASKS - starts.length);
    await stopAll(instances);
    for (const i of instances) expect(i.stderr).toEqual([]);
  });

  it("cancelTask from a fourth process aborts the running handler's signal on whichever instance runs it, and the task ends cancelled", async () => {
    const queue = producer.get(TaskQueue);
    instances = [0, 1, 2].map(() => startInstance(db.options, { queue: queueOptions(), scheduler: { enabled: false }, workers: { concurrency: 2 } }));
    await waitReady(instances);
    const ids = await Promise.all(Array.from({ length: 6 }, () => queue.pushTask({ type: 'abortable', params: { ms: 60_000 } })));
    await waitFor(() => lines('abortable-started').length === ids.length, 'every task to start');
    expect(new Set(lines('abortable-started').map((l) => l.pid)).size).toBeGreaterThan(1);
    const askedAt = new Map<string, number>();
    for (const id of ids) {
      askedAt.set(id, Date.now());
      expect(await queue.cancelTask(id)).toBe(true);
    }
    await waitFor(() => lines('aborted').length === ids.length, 'every handler to see its abort');
    const delays = lines('aborted').map((l) => Number(l.at) - askedAt.get(String(l.id))!);
    const allowed = redis ? 200 : POLL_MS + 200;
    console.log(`${_name}: signal aborted ${Math.min(...delays)}–${Math.max(...delays)} ms after cancelTask in another process (allowed ${allowed} ms)`);
    expect(Math.max(...delays)).toBeLessThanOrEqual(allowed);
    expect(lines('aborted').map((l) => l.kind)).toEqual(ids.map(() => 'cancelled'));
    await waitFor(async () => (await queue.countByStatus()).cancelled === ids.length, 'every task to end cancelled');
    for (const id of ids) expect(await queue.getTask(id)).toMatchObject({ status: 'cancelled', attempts: 1 });
    // never retried: one start each
    expect(lines('abortable-started').length).toBe(ids.length);
    await stopAll(instances);
    for (const i of instances) expect(i.stderr).toEqual([]);
  });

  it('a rate limit of 10 per second holds across three competing processes, window by window, over 30 s', async () => {
    const queue = producer.get(TaskQueue);
    const total = 300;
    // the database is the describe's: the earlier tests' tasks are counted too
    const before = (await queue.countByStatus()).succeeded;
    instances = [0, 1, 2].map(() => startInstance(db.options, { queue: queueOptions(), scheduler: { enabled: false }, workers: { concurrency: 8 } }));
    await waitReady(instances);
    // a window's worth first: a cold process's first claim took over 50 ms from its permits to its start
    // (CI saw 8 then 12), which is the warm-up of the processes, not the limit
    await Promise.all(Array.from({ length: 10 }, (_, i) => queue.pushTask({ taskId: `warm-${i}`, type: 'limited' })));
    await waitFor(async () => (await queue.countByStatus()).succeeded === before + 10, 'the warm-up tasks', 30_000, 100);
    await Promise.all(Array.from({ length: total }, (_, i) => queue.pushTask({ taskId: `m-${i}`, type: 'limited' })));
    await waitFor(async () => (await queue.countByStatus()).succeeded === before + 10 + total, `${total} succeeded`, 90_000, 500);
    const starts = lines('limited-started').filter((l) => String(l.id).startsWith('m-')).map((l) => Number(l.at));
    expect(starts.length).toBe(total);
    const windows = new Map<number, number>();
    for (const at of starts) windows.set(Math.floor(at / 1000), (windows.get(Math.floor(at / 1000)) ?? 0) + 1);
    const counts = [...windows.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n);
    console.log(`${_name}: starts per 1 s window across 3 processes: ${counts.join(', ')} (pids ${new Set(lines('limited-started').map((l) => l.pid)).size})`);
    // within one of the limit, as the issue asks: a start is seen at the handler's first line, a few ms after its permit
    expect(Math.max(...counts)).toBeLessThanOrEqual(11);
    // the windows between the first and the last are used within one of the limit
    for (const n of counts.slice(1, -1)) expect(n).toBeGreaterThanOrEqual(9);
    await stopAll(instances);
    for (const i of instances) expect(i.stderr).toEqual([]);
  });
});
