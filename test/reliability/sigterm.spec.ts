/**
 * Scenario 8, SIGTERM with work in flight: the worker stops claiming at
 * once, in-flight tasks that end within the grace period finish, a task
 * that does not is interrupted and released without using an attempt, and
 * no lease is left behind, so a new instance resumes the work at once
 * instead of waiting for leases to expire.
 */
import { DatabaseQueueService } from 'nestjs-queue-scheduler';
import { DATABASES } from '../support/databases';
import { type Instance, startInstance, stopAll, waitReady } from '../support/processes';
import { waitFor } from '../support/wait-for';
import { useLedger } from './support/ledger';
import { report } from './support/profile';

jest.setTimeout(120_000);

const GRACE_MS = 3000;
// far longer than the test: a lease left behind would stall the restart visibly
const LEASE_MS = 60_000;
const OPTIONS = { shutdownTimeoutMs: GRACE_MS, queue: { backend: 'database', pollIntervalMs: 200, leaseMs: LEASE_MS }, scheduler: { enabled: false }, workers: { concurrency: 4 } };

// several processes writing one SQLite file is not a deployment the library supports (as in test/database-queue.multi-process)
const SERVERS = DATABASES.filter((k) => k !== 'sqlite');

describe.each(SERVERS)('SIGTERM with work in flight on %s', (kind) => {
  let instances: Instance[] = [];
  const { db, ledger } = useLedger(kind, () => instances);

  const start = (): Instance => startInstance(db.options, OPTIONS, { app: 'ledger', env: { QS_RETRIES: JSON.stringify({ attempts: 3 }) } });

  it('in-flight tasks finish within the grace period, nothing new is claimed, the interrupted task is released and resumes at once', async () => {
    const queue = ledger.producer.get(DatabaseQueueService);
    const first = start();
    instances = [first];
    await waitReady(instances);
    await queue.pushTasks([
      ...[1, 2, 3].map((i) => ({ taskId: `short-${i}`, type: 'work', params: { sleepMs: 1000 } })),
      { taskId: 'long', type: 'work', params: { sleepMs: 30_000 } },
    ]);
    await waitFor(async () => (await ledger.count('SELECT COUNT(*) AS n FROM ledger_start')) === 4, 'four tasks in flight', 20_000, 20);
    await queue.pushTasks(Array.from({ length: 20 }, (_, i) => ({ taskId: `later-${i}`, type: 'work', params: {} })));

    const termAt = Date.now();
    first.child.kill('SIGTERM');
    // Nest's shutdown hooks close the app, then re-raise the signal: a clean exit ends by SIGTERM, with nothing on stderr
    expect(await first.exited).toBeNull();
    expect(first.child.signalCode).toBe('SIGTERM');
    expect(first.stderr).toEqual([]);
    const exitedAfter = Date.now() - termAt;

    // the short ones finished within the grace period, nothing started after the signal
    const done = await ledger.query<{ task_id: string; at: string }>('SELECT task_id, at FROM ledger_done ORDER BY task_id');
    expect(done.map((d) => d.task_id)).toEqual(['short-1', 'short-2', 'short-3']);
    expect(done.filter((d) => Number(d.at) - termAt > GRACE_MS)).toEqual([]);
    expect(await ledger.count('SELECT COUNT(*) AS n FROM ledger_start WHERE at > ?', [termAt])).toBe(0);
    expect(exitedAfter).toBeLessThan(GRACE_MS + 5000);
    // the interrupted one is pending again with its attempt given back, and no lease is left anywhere
    expect(await queue.getTask('long')).toMatchObject({ status: 'pending', attempts: 0 });
    expect(await ledger.count('SELECT COUNT(*) AS n FROM task_queue WHERE lease_owner IS NOT NULL OR status = ?', ['running'])).toBe(0);
    expect(await ledger.count("SELECT COUNT(*) AS n FROM task_queue WHERE status = 'pending'")).toBe(21);
    expect(first.lines.filter((l) => l.event === 'log' && String(l.message).includes('task long (work) was interrupted by shutdown'))).toHaveLength(1);

    // a new instance takes the interrupted task on its first attempt at once, not after the 60 s lease
    const second = start();
    instances.push(second);
    await waitReady([second]);
    const readyAt = Number(second.lines.find((l) => l.event === 'ready')!.at);
    await waitFor(async () => (await ledger.count("SELECT COUNT(*) AS n FROM ledger_start WHERE task_id = 'long'")) === 2, 'the long task started again', 20_000, 20);
    const [restart] = await ledger.query<{ attempt: number; at: string }>("SELECT attempt, at FROM ledger_start WHERE task_id = 'long' AND pid = ?", [second.child.pid]);
    expect(Number(restart.attempt)).toBe(1);
    // the workers start during boot, so the claim can even come before the 'ready' line
    const resumedAfterMs = Math.max(0, Number(restart.at) - readyAt);
    expect(resumedAfterMs).toBeLessThan(LEASE_MS / 10);
    await waitFor(async () => (await ledger.count("SELECT COUNT(*) AS n FROM task_queue WHERE task_id LIKE 'later-%' AND status = 'succeeded'")) === 20, 'the waiting tasks ran', 30_000, 50);
    await stopAll([second], 'SIGKILL');
    for (const i of instances) expect(i.lines.filter((l) => l.event === 'unhandledRejection' || l.event === 'uncaughtException')).toEqual([]);
    report(`sigterm-${kind}`, { inFlight: 4, finishedInGrace: done.length, released: 1, newClaimsAfterSignal: 0, exitedAfterMs: exitedAfter, resumedAfterMs });
  });
});
