/**
 * Issue 17 across processes: three app instances compete for one schedule
 * with `overlap: 'skip'` whose handler outlasts its interval. The ledger (one
 * row per start and per end, written by the handler in the child) shows no
 * two runs overlapping in time, and every occurrence was either run once or
 * skipped once, by one instance.
 */
import { SchedulerService } from 'nestjs-queue-scheduler';
import { DATABASES } from './support/databases';
import { type Instance, startInstance, stopAll, waitReady } from './support/processes';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';
import { useLedger } from './reliability/support/ledger';

jest.setTimeout(120_000);

/** The servers, and Redis with its schedules and ledger on MariaDB (as the redis multi-process suite does). */
const TARGETS = [...DATABASES.filter((k) => k !== 'sqlite'), ...(DATABASES.includes('mariadb') ? ['redis' as const] : [])];
const RUN_MS = 8000;
/** Longer than the 1 s between occurrences: every run is still going when the next one falls due. */
const HANDLER_MS = 1500;

describe.each(TARGETS)("overlap 'skip' with three app instances on %s", (target) => {
  const prefix = testPrefix();
  const queue = target === 'redis' ? { backend: 'redis' as const, connection: REDIS, prefix, pollIntervalMs: 100 } : { backend: 'database' as const, pollIntervalMs: 100 };
  let instances: Instance[] = [];
  const { db, ledger } = useLedger(target === 'redis' ? 'mariadb' : target, () => instances, () => queue);

  afterAll(async () => {
    if (target === 'redis') await dropPrefix(prefix);
  });

  it('runs never overlap in time, each occurrence is run or skipped exactly once, and the skipped ones are counted', async () => {
    const options = { queue, scheduler: { pollIntervalMs: 200 }, workers: { concurrency: 2 } };
    instances = [0, 1, 2].map(() => startInstance(db.options, options, { app: 'ledger', env: { QS_SCHEDULE_EVENTS: '1' } }));
    await waitReady(instances);
    const scheduler = ledger.producer.get(SchedulerService);
    const s = await scheduler.addSchedule({ name: 'slow', taskType: 'work', scheduleType: 'cron', cronExpression: '* * * * * *', overlap: 'skip', params: { sleepMs: HANDLER_MS } });
    const addedAt = Date.now();
    await waitFor(() => Date.now() - addedAt >= RUN_MS, `${RUN_MS} ms of occurrences`, RUN_MS + 1000, 100);
    await scheduler.pauseSchedule(s.taskId);
    // the last run ends, and no instance is between a claim and its push any more
    await waitFor(async () => (await ledger.count('SELECT COUNT(*) AS n FROM ledger_start')) === (await ledger.count('SELECT COUNT(*) AS n FROM ledger_done')), 'the last run done', 10_000, 50);
    await stopAll(instances);
    for (const i of instances) expect(i.stderr).toEqual([]);

    const runs = await ledger.query<{ task_id: string; pid: number; start: string; done: string }>(
      'SELECT s.task_id, s.pid, s.at AS start, d.at AS done FROM ledger_start s JOIN ledger_done d ON d.task_id = s.task_id ORDER BY s.at',
    );
    expect(await ledger.count('SELECT COUNT(*) AS n FROM ledger_start')).toBe(runs.length);
    expect(runs.length).toBeGreaterThanOrEqual(3);
    const overlapping = runs.slice(1).filter((r, i) => Number(r.start) < Number(runs[i].done));
    expect(overlapping).toEqual([]);

    const lines = instances.flatMap((i) => i.lines).filter((l) => l.s === s.taskId);
    const fired = lines.filter((l) => l.event === 'fired').map((l) => l.scheduledAt as number);
    const skipped = lines.filter((l) => l.event === 'skipped').flatMap((l) => l.scheduledAt as number[]);
    expect(lines.filter((l) => l.event === 'skipped').every((l) => l.overlap === 'skip')).toBe(true);
    // skipped occurrences were counted, each by one instance; none both run and skipped
    expect(skipped.length).toBeGreaterThanOrEqual(2);
    const all = [...fired, ...skipped].sort((a, b) => a - b);
    expect(new Set(all).size).toBe(all.length);
    expect(fired).toHaveLength(runs.length);
    // every second from the first occurrence to the last was accounted for, run or skipped: none lost
    expect(all.slice(1).map((t, i) => t - all[i])).toEqual(all.slice(1).map(() => 1000));
    expect(all.length).toBeGreaterThanOrEqual(RUN_MS / 1000 - 2);
  });
});
