import type { INestApplication } from '@nestjs/common';
import { TaskQueue, type TaskRecord } from 'nestjs-queue-scheduler';
import { useTestDatabase } from './support/databases';
import { type Instance, startInstance, stopAll, waitReady } from './support/processes';
import { bootProducer } from './support/producer';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(120_000);

/** Pushes of the key `shared` per process (see singletonPushes in app-process.ts), beside 30 other keys pushed twice each. */
const SHARED_PUSHES = 320;
const KEYS = ['shared', ...Array.from({ length: 20 }, (_, j) => `k-${j}`), ...[0, 1, 2, 3, 4].flatMap((j) => [`d-${j}`, `t-${j}`])];

type Server = 'mariadb' | 'postgres' | 'redis';

// Redis holds the tasks; TypeORM in the processes still needs a database, as apps on the redis backend have
describe.each<Server>(['mariadb', 'postgres', 'redis'])('singleton keys, three processes pushing at once on %s', (server) => {
  const db = useTestDatabase(server === 'redis' ? 'mariadb' : server);
  let producer: INestApplication;
  let instances: Instance[] = [];
  let prefix = '';
  db.beforeDrop(async () => {
    await stopAll(instances, 'SIGKILL');
    await producer.close();
    if (prefix) await dropPrefix(prefix);
  });

  const queueOptions = (): Record<string, unknown> => (server === 'redis' ? { backend: 'redis', connection: REDIS, prefix } : { backend: 'database' });

  beforeAll(async () => {
    if (server === 'redis') prefix = testPrefix();
    producer = await bootProducer(db, queueOptions() as never);
  });

  async function pendingTasks(queue: TaskQueue): Promise<TaskRecord[]> {
    const all: TaskRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await queue.listTasks({ status: 'pending', limit: 500, cursor });
      all.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return all;
  }

  it(`${SHARED_PUSHES} pushes per process with one key, and 30 keys more: exactly one pending task per key, and every push returned it`, async () => {
    instances = [0, 1, 2].map(() => startInstance(db.options, { queue: queueOptions() }, { app: 'singleton', env: { QS_SINGLETON_PUSHES: String(SHARED_PUSHES) } }));
    await waitReady(instances, 60_000);
    // one moment for all three: each pushes everything at once on its line
    for (const i of instances) i.child.stdin!.write('go\n');
    await waitFor(() => instances.every((i) => i.lines.some((l) => l.event === 'pushed' || l.event === 'push-failed')), 'every process pushed', 60_000, 20);
    for (const i of instances) expect({ failed: i.lines.filter((l) => l.event === 'push-failed'), stderr: i.stderr }).toEqual({ failed: [], stderr: [] });

    const pending = await pendingTasks(producer.get(TaskQueue));
    const byKey = new Map<string, string[]>();
    for (const t of pending) byKey.set(t.singletonKey ?? '', [...(byKey.get(t.singletonKey ?? '') ?? []), t.taskId]);
    expect([...byKey.keys()].sort()).toEqual([...KEYS].sort());
    for (const key of KEYS) expect({ key, tasks: byKey.get(key)!.length }).toEqual({ key, tasks: 1 });
    expect(pending).toHaveLength(KEYS.length);
    // every push of a key, in every process, returned the one task that stands
    for (const i of instances) {
      const pushed = i.lines.find((l) => l.event === 'pushed') as { count: number; byKey: Record<string, string[]> };
      expect(pushed.count).toBe(SHARED_PUSHES + 40);
      for (const key of KEYS) expect({ key, ids: pushed.byKey[key] }).toEqual({ key, ids: byKey.get(key) });
    }
    await stopAll(instances);
  });
});
