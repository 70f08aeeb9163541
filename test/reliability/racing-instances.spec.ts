/**
 * Scenario 3, racing instances: three scheduler processes on one database,
 * a burst of one-shot schedules all due in the same second plus schedules
 * firing every second. Exactly one task per (schedule, scheduledAt), which
 * a unique index enforces, and none missing against cron-parser's own list.
 */
import { CronExpressionParser } from 'cron-parser';
import { SchedulerService } from 'nestjs-queue-scheduler';
import { DATABASES } from '../support/databases';
import { type Instance, startInstance, stopAll, waitReady } from '../support/processes';
import { waitFor } from '../support/wait-for';
import { useLedger } from './support/ledger';
import { PROFILE, report } from './support/profile';

const { burst: BURST, everySecond: EVERY, seconds: SECONDS } = PROFILE.racing;
const OPTIONS = { queue: { backend: 'database', pollIntervalMs: 200 }, scheduler: { enabled: true, pollIntervalMs: 200 }, workers: { concurrency: 8 } };

jest.setTimeout(SECONDS * 1000 + 180_000);

// several processes writing one SQLite file is not a deployment the library supports (as in test/database-queue.multi-process)
const SERVERS = DATABASES.filter((k) => k !== 'sqlite');

describe.each(SERVERS)('racing scheduler instances on %s', (kind) => {
  let instances: Instance[] = [];
  const { db, ledger } = useLedger(kind, () => instances);

  it(`${BURST} one-shots due in the same second and ${EVERY} every-second schedules for ${SECONDS} s: one task per occurrence, none missing`, async () => {
    const scheduler = ledger.producer.get(SchedulerService);
    const farAway = Date.now() + 86_400_000;
    const onceIds: string[] = [];
    const cronIds: string[] = [];
    // stored paused, so no instance sees them before the moment they all become due together
    for (let i = 0; i < BURST; i++) {
      onceIds.push((await scheduler.addSchedulerTask({ name: `once-${i}`, taskType: 'occurrence', scheduleType: 'once', executeAt: farAway, enabled: false })).taskId);
    }
    for (let i = 0; i < EVERY; i++) {
      cronIds.push((await scheduler.addSchedulerTask({ name: `every-${i}`, taskType: 'occurrence', scheduleType: 'cron', cronExpression: '* * * * * *', maxRuns: SECONDS, enabled: false })).taskId);
    }
    instances = [0, 1, 2].map(() => startInstance(db.options, OPTIONS, { app: 'ledger' }));
    await waitReady(instances);

    const first = Math.ceil(Date.now() / 1000) * 1000 + 2000;
    const t = ledger.postgres ? 'true' : '1';
    await ledger.query("UPDATE scheduler_task SET execute_at = ? WHERE schedule_type = 'once'", [first]);
    await ledger.query(`UPDATE scheduler_task SET enabled = ${t}, next_run_at = ?, version = version + 1`, [first]);

    const expectedRows = BURST + EVERY * SECONDS;
    await waitFor(async () => (await ledger.count('SELECT COUNT(*) AS n FROM task_queue')) >= expectedRows, 'every occurrence enqueued', SECONDS * 1000 + 120_000, 250);
    await waitFor(async () => (await ledger.count("SELECT COUNT(*) AS n FROM task_queue WHERE status <> 'succeeded'")) === 0, 'every occurrence ran', 120_000, 250);
    await stopAll(instances);

    // figures first, so a failing run still reports how far behind the scheduler fell
    const lagPer10s: number[] = [];
    for (const r of await ledger.query<{ at: string; created: string }>('SELECT scheduled_at AS at, created_at AS created FROM task_queue')) {
      const slot = Math.floor((Number(r.at) - first) / 10_000);
      lagPer10s[slot] = Math.max(lagPer10s[slot] ?? 0, Number(r.created) - Number(r.at));
    }
    report(`racing-${kind}-lag`, { maxEnqueueLagMsPer10s: lagPer10s });
    const rows = await ledger.query<{ s: string; at: string; n: string | number }>(
      'SELECT scheduler_task_id AS s, scheduled_at AS at, COUNT(*) AS n FROM task_queue GROUP BY scheduler_task_id, scheduled_at',
    );
    expect(rows.filter((r) => Number(r.n) !== 1)).toEqual([]);
    expect(rows).toHaveLength(expectedRows);
    const bySchedule = new Map<string, number[]>();
    for (const r of rows) bySchedule.set(r.s, [...(bySchedule.get(r.s) ?? []), Number(r.at)]);
    for (const id of onceIds) expect(bySchedule.get(id)).toEqual([first]);
    // cron-parser's own list of the occurrences, from the moment they became due
    const cron = CronExpressionParser.parse('* * * * * *', { currentDate: new Date(first - 1), tz: 'UTC' });
    const expected = Array.from({ length: SECONDS }, () => cron.next().getTime());
    const wrong = cronIds.filter((id) => JSON.stringify([...(bySchedule.get(id) ?? [])].sort((a, b) => a - b)) !== JSON.stringify(expected));
    expect(wrong).toEqual([]);
    // every occurrence's handler ran once (nothing lost a lease here), and the work was shared
    expect(await ledger.count('SELECT COUNT(*) AS n FROM ledger_done')).toBe(expectedRows);
    expect(await ledger.count('SELECT COUNT(DISTINCT task_id) AS n FROM ledger_done')).toBe(expectedRows);
    expect(await ledger.count('SELECT COUNT(*) AS n FROM scheduler_task WHERE enabled = ' + (ledger.postgres ? 'true' : '1'))).toBe(0);
    const pushers = await ledger.count('SELECT COUNT(DISTINCT pid) AS n FROM ledger_done');
    expect(pushers).toBeGreaterThan(1);

    // the fence is the database's, not only the claim: a second row for an occurrence is refused
    const [one] = await ledger.query<{ s: string; at: string }>('SELECT scheduler_task_id AS s, scheduled_at AS at FROM task_queue LIMIT 1');
    await expect(
      ledger.query(
        "INSERT INTO task_queue (task_id, seq, task_type, params, status, priority, run_at, attempts, retry_count, scheduler_task_id, scheduled_at, created_at) VALUES ('dup', 1, 'occurrence', '{}', 'pending', 0, 0, 0, 0, ?, ?, 0)",
        [one.s, one.at],
      ),
    ).rejects.toThrow(/duplicate|unique/i);

    const maxLagMs = await ledger.count('SELECT MAX(started_at - scheduled_at) AS n FROM task_queue');
    const maxEnqueueLagMs = await ledger.count('SELECT MAX(created_at - scheduled_at) AS n FROM task_queue');
    for (const i of instances) expect(i.lines.filter((l) => l.event === 'unhandledRejection' || l.event === 'uncaughtException')).toEqual([]);
    report(`racing-${kind}`, { schedules: BURST + EVERY, occurrences: expectedRows, duplicates: 0, missing: 0, workersThatRan: pushers, maxEnqueueLagMs, maxStartLagMs: maxLagMs });
  });
});
