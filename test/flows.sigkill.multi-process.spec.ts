/**
 * A flow's last child lost with its worker: process A runs it and is
 * SIGKILLed mid-try; process B re-runs it once its lease runs out (the default
 * maxLostTries, 1), and only then does the parent run, once. The proof is in
 * B's own lines (one clock: the child's `lossy-done` before the parent's
 * `slow-started`) and in the task records' tries.
 */
import type { INestApplication } from '@nestjs/common';
import { type FlowNode, TaskQueue, type TaskRecord } from 'nestjs-queue-scheduler';
import { type DatabaseKind, DATABASES, type TestDatabase, useTestDatabase } from './support/databases';
import { type Instance, startInstance, stopAll, waitReady } from './support/processes';
import { bootProducer } from './support/producer';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(120_000);

const LEASE_MS = 2000;
const SWEEP_MS = 250;
const POLL_MS = 100;
const TIMING = { pollIntervalMs: POLL_MS, leaseMs: LEASE_MS, sweepIntervalMs: SWEEP_MS };
/** Process A holds its `lossy` try until it is killed. */
const HOLD = { QS_HOLD_MS: '600000' };
const SIBLINGS = 4;

/** The database backend on each database; Redis with its processes' TypeORM connection on MariaDB, as the other Redis multi-process suites. */
const CASES: Array<[string, DatabaseKind, boolean]> = [...DATABASES.map((k): [string, DatabaseKind, boolean] => [k, k, false]), ['redis', 'mariadb', true]];

describe.each(CASES)('a flow whose last child is lost with its worker, %s', (_name, kind, redis) => {
  const base = useTestDatabase(kind);
  let db: TestDatabase;
  let producer: INestApplication;
  let queue: TaskQueue;
  let instances: Instance[] = [];
  let prefix = '';
  base.beforeDrop(async () => {
    await stopAll(instances, 'SIGKILL');
    await producer.close();
    if (prefix) await dropPrefix(prefix);
  });

  const queueOptions = () => (redis ? { backend: 'redis' as const, connection: REDIS, prefix, ...TIMING } : { backend: 'database' as const, ...TIMING });

  beforeAll(async () => {
    // several processes on one SQLite file need WAL, as the README sets it up
    db = kind === 'sqlite' ? ({ ...base, options: { ...base.options, enableWAL: true } } as TestDatabase) : base;
    if (redis) prefix = testPrefix();
    producer = await bootProducer(db, redis ? { backend: 'redis', connection: REDIS, prefix } : undefined);
    queue = producer.get(TaskQueue);
  });

  async function start(env: Record<string, string> = {}): Promise<Instance> {
    const instance = startInstance(db.options, { queue: queueOptions(), scheduler: { enabled: false }, workers: { concurrency: 4 } }, { env });
    instances.push(instance);
    await waitReady([instance]);
    return instance;
  }

  const linesOf = (event: string, id: string): Array<Record<string, unknown>> => instances.flatMap((i) => i.lines.filter((l) => l.event === event && l.id === id));
  const statuses = (node: FlowNode): string[] => [node.status, ...node.children.flatMap(statuses)];

  it('the parent runs once, after the lost child ran again on another process and succeeded', async () => {
    const a = await start(HOLD);
    // `tick` siblings end at once; the `lossy` child is the one the parent is left waiting for
    const ids = await queue.pushFlow({
      type: 'slow',
      params: { ms: 0 },
      children: [...Array.from({ length: SIBLINGS }, () => ({ type: 'tick' })), { type: 'lossy', params: { ms: 100 } }],
    });
    const siblings = ids.children.slice(0, SIBLINGS).map((c) => c.taskId);
    const last = ids.children[SIBLINGS]!.taskId;
    await waitFor(() => a.lines.some((l) => l.event === 'lossy-started' && l.id === last), 'A to start the last child', 20_000);
    await waitFor(async () => (await Promise.all(siblings.map((id) => queue.getTask(id)))).every((t) => t.status === 'succeeded'), 'the siblings to succeed', 20_000, 50);
    expect((await queue.getTask(ids.taskId)).status).toBe('waiting');

    // B is up before the kill: what it waits for is A's lease, not its own boot
    const b = await start();
    a.child.kill('SIGKILL');
    await a.exited;
    const killedAt = Date.now();

    let parent: TaskRecord | undefined;
    await waitFor(
      async () => {
        parent = await queue.getTask(ids.taskId);
        if (parent.status === 'dead' || parent.status === 'cancelled') throw new Error(`the parent ended ${parent.status}: ${JSON.stringify(parent)}`);
        return parent.status === 'succeeded';
      },
      'the parent to succeed',
      30_000,
      50,
    );

    // the child: one lost try (on A), then one that succeeded (on B)
    const child = await queue.getTask(last);
    // Redis: BullMQ counts the tries that ended, so a lost one uses no attempt there (README, Redis delivery table)
    expect({ status: child.status, result: child.result, attempts: child.attempts }).toEqual({ status: 'succeeded', result: `done by ${b.child.pid}`, attempts: redis ? 1 : 2 });
    expect(child.tries?.map((t) => t.outcome)).toEqual(['lost', 'succeeded']);
    expect(a.lines.some((l) => l.event === 'lossy-done')).toBe(false);
    const rerun = b.lines.find((l) => l.event === 'lossy-started' && l.id === last)!;
    // the lease (renewed every leaseMs/3, so it ends within leaseMs of the kill), a sweep and a poll: seconds, with slack for a loaded machine
    expect(Number(rerun.at) - killedAt).toBeLessThan(LEASE_MS + SWEEP_MS + POLL_MS + 8000);

    // the parent: one start in either process, on B, after the child's successful try ended
    const parentStarts = linesOf('slow-started', ids.taskId);
    expect(parentStarts.map((l) => ({ pid: l.pid, attempt: l.attempt }))).toEqual([{ pid: b.child.pid, attempt: 1 }]);
    const childDone = linesOf('lossy-done', last);
    expect(childDone).toHaveLength(1);
    expect(Number(parentStarts[0]!.at)).toBeGreaterThanOrEqual(Number(childDone[0]!.at));
    expect({ attempts: parent!.attempts, tries: parent!.tries?.map((t) => t.outcome), result: parent!.result }).toEqual({
      attempts: 1,
      tries: ['succeeded'],
      result: `done by ${b.child.pid}`,
    });
    expect(statuses(await queue.getFlow(ids.taskId))).toEqual(Array(SIBLINGS + 2).fill('succeeded'));

    await stopAll([b]);
    expect(b.stderr).toEqual([]);
  });
});
