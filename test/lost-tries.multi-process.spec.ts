/**
 * Lost tries with the DEFAULT retry policy (attempts: 1) and the default
 * queue.maxLostTries (1): a try lost with its worker (the process SIGKILLed
 * mid-task) is not a failed try. The task runs again on another instance once
 * the lease runs out, and succeeds; only a task lost more often than
 * maxLostTries is dead, with an error saying it was lost with its worker.
 * Database backend on MariaDB and PostgreSQL, and the Redis backend.
 */
import type { INestApplication } from '@nestjs/common';
import { type ClusterTaskEvent, TaskQueue, type TaskRecord } from 'nestjs-queue-scheduler';
import { useTestDatabase } from './support/databases';
import { type Instance, startInstance, stopAll, waitReady } from './support/processes';
import { bootProducer } from './support/producer';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(120_000);

type Backend = 'mariadb' | 'postgres' | 'redis';
const BACKENDS: Backend[] = ['mariadb', 'postgres', 'redis'];

const LEASE_MS = 2000;
const SWEEP_MS = 250;
const POLL_MS = 100;
/** A process given this holds its `lossy` task until it is killed. */
const HOLD = { QS_HOLD_MS: '600000' };

describe.each(BACKENDS)('lost tries with the default retry policy, %s', (backend) => {
  // the Redis instances keep their TypeORM connection on MariaDB (test/support/app-process.ts always has one)
  const db = useTestDatabase(backend === 'postgres' ? 'postgres' : 'mariadb');
  let producer: INestApplication;
  let queue: TaskQueue;
  let prefix = '';
  let instances: Instance[] = [];
  db.beforeDrop(() => producer?.close());

  /** Worker options: the default retry policy and maxLostTries, a short lease. */
  const workerOptions = () => ({
    queue:
      backend === 'redis'
        ? { backend: 'redis', connection: REDIS, prefix, pollIntervalMs: POLL_MS, leaseMs: LEASE_MS, sweepIntervalMs: SWEEP_MS, clusterEvents: true }
        : { backend: 'database', pollIntervalMs: POLL_MS, leaseMs: LEASE_MS, sweepIntervalMs: SWEEP_MS, clusterEvents: true },
    scheduler: { enabled: false },
    workers: { concurrency: 2 },
  });

  beforeAll(async () => {
    if (backend === 'redis') prefix = testPrefix();
    producer = await bootProducer(db, backend === 'redis' ? { backend: 'redis', connection: REDIS, prefix, clusterEvents: true } : { backend: 'database', clusterEvents: true });
    queue = producer.get(TaskQueue);
  });

  afterEach(async () => {
    await stopAll(instances, 'SIGKILL');
    instances = [];
  });

  afterAll(async () => {
    if (prefix) await dropPrefix(prefix);
  });

  async function start(env: Record<string, string> = {}): Promise<Instance> {
    const instance = startInstance(db.options, workerOptions(), { env });
    instances.push(instance);
    await waitReady([instance]);
    return instance;
  }

  const startedOn = (i: Instance, id: string): boolean => i.lines.some((l) => l.event === 'lossy-started' && l.id === id);

  async function kill(i: Instance): Promise<number> {
    i.child.kill('SIGKILL');
    await i.exited;
    return Date.now();
  }

  /** Waits until the task is neither pending nor running, and returns it. */
  async function outcome(id: string, timeoutMs: number): Promise<TaskRecord> {
    let record: TaskRecord | undefined;
    await waitFor(
      async () => {
        record = await queue.getTask(id);
        return record.status !== 'pending' && record.status !== 'running';
      },
      `an outcome of ${id}`,
      timeoutMs,
      50,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; the task is ${JSON.stringify(record)}`);
    });
    return record!;
  }

  it('a task whose worker is SIGKILLed mid-task runs again on another instance after the lease, and succeeds', async () => {
    const first = await start(HOLD);
    const id = await queue.pushTask({ taskId: `lost-once-${backend}`, type: 'lossy', params: { ms: 200 } });
    await waitFor(() => startedOn(first, id), 'the first try started', 20_000);
    // the second instance is up before the kill: what it waits for is the lease, not its own boot
    const second = await start();
    expect(startedOn(second, id)).toBe(false);
    const killedAt = await kill(first);

    const record = await outcome(id, 30_000);
    expect({ status: record.status, error: record.error, result: record.result }).toEqual({ status: 'succeeded', error: undefined, result: `done by ${second.child.pid}` });
    expect(first.lines.some((l) => l.event === 'lossy-done')).toBe(false);
    const rerun = second.lines.find((l) => l.event === 'lossy-started' && l.id === id)!;
    // once the 2 s lease ran out (renewed every leaseMs/3, so it ends within leaseMs of the kill) and a sweep saw it: seconds, with slack for a loaded machine
    expect(Number(rerun.at) - killedAt).toBeLessThan(LEASE_MS + SWEEP_MS + POLL_MS + 8000);
  });

  it('a task lost twice (its worker killed twice) with maxLostTries 1 is dead, with an error saying it was lost with its worker', async () => {
    const first = await start(HOLD);
    const id = await queue.pushTask({ taskId: `lost-twice-${backend}`, type: 'lossy', params: { ms: 200 } });
    await waitFor(() => startedOn(first, id), 'the first try started', 20_000);
    const second = await start(HOLD);
    await kill(first);
    // the one lost try allowed: the task runs again, on the second instance (not ended for good meanwhile)
    await waitFor(
      async () => {
        if (startedOn(second, id)) return true;
        const record = await queue.getTask(id);
        if (record.status === 'dead' || record.status === 'succeeded') {
          throw new Error(`after one lost try (maxLostTries 1) the task should run again, but it is ${record.status}: ${JSON.stringify(record)}`);
        }
        return false;
      },
      'the second try started on the second instance',
      20_000,
      50,
    );
    // a third instance, ready before the second loss: it must not run the task, only see it dead
    const third = await start();
    await kill(second);

    const record = await outcome(id, 30_000);
    expect(record.status).toBe('dead');
    expect(record.error).toMatch(/lost/i);
    expect(record.error).toMatch(/worker/i);
    expect(startedOn(third, id)).toBe(false);
    // the two tries its error counts, and no third for the claim that found it dead without running it
    expect(record.tries?.map((t) => t.outcome)).toEqual(['lost', 'lost']);
    // retried by hand: that claim is still no try (the retry stored it as a third lost one)
    await queue.retryTask(id);
    const retried = await outcome(id, 30_000);
    expect(retried.status).toBe('succeeded');
    expect(retried.tries?.map((t) => t.outcome)).toEqual(['lost', 'lost', 'succeeded']);
  });

  it('lists both lost tries when the instance that found the first lost took the task and died of it at once', async () => {
    // on Redis the instance whose stalled check gives a task back stores its lost try in a write of its own; this one
    // takes the task again and dies as it starts, before that write (the audit's handler that kills its process)
    const first = await start(HOLD);
    const id = await queue.pushTask({ taskId: `lost-at-once-${backend}`, type: 'lossy', params: { ms: 200 } });
    await waitFor(() => startedOn(first, id), 'the first try started', 20_000);
    await kill(first);
    // started once the first is dead, as a restarted instance is: it finds the task lost as it boots
    const second = startInstance(db.options, workerOptions(), { env: { QS_KILL_ON_START: '1' } });
    instances.push(second);
    await second.exited;
    expect(startedOn(second, id)).toBe(true);
    const deaths: ClusterTaskEvent[] = [];
    const watching = queue.clusterEvents$().subscribe((e) => e.taskId === id && e.kind === 'dead' && deaths.push(e));
    const third = await start();
    const record = await outcome(id, 30_000);
    expect(startedOn(third, id)).toBe(false);
    // found dead, it ran no handler: its dead event has no duration (the metrics counted a 0 s handler run)
    await waitFor(() => deaths.length === 1, 'the dead event', 20_000).finally(() => watching.unsubscribe());
    expect(deaths[0]).not.toHaveProperty('durationMs');
    expect({ status: record.status, error: record.error }).toMatchObject({ status: 'dead', error: expect.stringMatching(/^2 tries were lost/) });
    expect(record.tries?.map((t) => t.outcome)).toEqual(['lost', 'lost']);
    // a lost try uses no attempt on Redis (the databases count it): each lists the attempt of the try after it
    expect(record.tries?.map((t) => t.attempt)).toEqual(backend === 'redis' ? [1, 1] : [1, 2]);
  });

  it('lists a lost try before the failed tries the instance that found it ran next, with its start', async () => {
    const first = await start({ QS_KILL_ON_START: '1' });
    // one retry of its own: the instance that finds it lost runs it twice, failing both times
    const id = await queue.pushTask({ taskId: `lost-then-failed-${backend}`, type: 'lossy', params: { ms: 200 }, maxRetries: 1 });
    await first.exited;
    const second = startInstance(db.options, workerOptions(), { env: { QS_LOSSY_FAIL: '1' } });
    instances.push(second);
    await waitFor(async () => (await queue.getTask(id)).status === 'dead', 'its second failed try', 30_000, 50);
    const record = await queue.getTask(id);
    expect(record.error).toBe(`lossy fails on ${second.child.pid}`);
    // Redis wrote the failed try back over the lost one stored meanwhile, and listed the lost one last, without times
    expect(record.tries?.map((t) => t.outcome)).toEqual(['lost', 'failed', 'failed']);
    expect(record.tries?.[0].startedAt).toBeInstanceOf(Date);
    expect(record.tries![0].startedAt!.getTime()).toBeLessThanOrEqual(record.tries![1].startedAt!.getTime());
  });
});
