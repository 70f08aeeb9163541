/**
 * Scenario 7, event-loop stalls: a handler blocks its process's event loop
 * (a busy loop on its first try) while a second instance runs beside it and
 * both fire an every-second schedule. A stall shorter than the lease (less
 * one renewal period) keeps the lease; a longer one lets the other instance
 * reclaim the task, so it runs at most twice and the stalled try's late
 * outcome is logged as a lost lease. No occurrence is silently skipped.
 */
import { DatabaseQueueService, SchedulerService } from 'nestjs-queue-scheduler';
import { DATABASES } from '../support/databases';
import { type Instance, startInstance, stopAll, waitReady } from '../support/processes';
import { waitFor } from '../support/wait-for';
import { useLedger } from './support/ledger';
import { PROFILE, report } from './support/profile';

const { leaseMs: LEASE_MS, short: SHORT, long: LONG_STALLS } = PROFILE.stalls;
const OPTIONS = {
  queue: { backend: 'database', pollIntervalMs: 100, leaseMs: LEASE_MS, sweepIntervalMs: 250 },
  scheduler: { enabled: true, pollIntervalMs: 200 },
  workers: { concurrency: 4 },
};
const total = [...SHORT, ...LONG_STALLS].reduce((a, b) => a + b, 0);

jest.setTimeout(total * 3 + LEASE_MS * 4 + 120_000);

// several processes writing one SQLite file is not a deployment the library supports (as in test/database-queue.multi-process)
const SERVERS = DATABASES.filter((k) => k !== 'sqlite');

describe.each(SERVERS)('event-loop stalls inside a handler on %s', (kind) => {
  let instances: Instance[] = [];
  const { db, ledger } = useLedger(kind, () => instances);

  const starts = (id: string) => ledger.count('SELECT COUNT(*) AS n FROM ledger_start WHERE task_id = ?', [id]);
  const dones = (id: string) => ledger.count('SELECT COUNT(*) AS n FROM ledger_done WHERE task_id = ?', [id]);
  const lostLeaseLines = () => instances.flatMap((i) => i.lines).filter((l) => l.event === 'log' && String(l.message).includes('after its lease was lost')).map((l) => String(l.message));

  it(`stalls of ${SHORT.join(', ')} ms keep the lease (${LEASE_MS} ms); ${LONG_STALLS.join(', ')} ms give at most one logged duplicate; no occurrence skipped`, async () => {
    const queue = ledger.producer.get(DatabaseQueueService);
    instances = [0, 1].map(() => startInstance(db.options, OPTIONS, { app: 'ledger', env: { QS_RETRIES: JSON.stringify({ attempts: 3 }) } }));
    await waitReady(instances);
    const schedule = await ledger.producer.get(SchedulerService).addSchedulerTask({ name: 'heartbeat', taskType: 'occurrence', scheduleType: 'interval', intervalSeconds: 1 });

    const figures: Record<string, unknown> = {};
    for (const ms of SHORT) {
      const id = await queue.pushTask({ taskId: `short-${ms}`, type: 'work', params: { stallMs: ms } });
      await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', `the ${ms} ms stall finished`, ms + 30_000, 50);
      expect([await starts(id), await dones(id), (await queue.getTask(id)).attempts]).toEqual([1, 1, 1]);
      figures[`stall${ms}`] = { starts: 1, duplicates: 0 };
    }
    expect(lostLeaseLines()).toEqual([]);

    for (const ms of LONG_STALLS) {
      const id = await queue.pushTask({ taskId: `long-${ms}`, type: 'work', params: { stallMs: ms } });
      // the reclaimed try and, once its stall ends, the stalled one both reach the end of the handler
      await waitFor(async () => (await dones(id)) === 2, `both tries of the ${ms} ms stall ended`, ms + LEASE_MS + 60_000, 50);
      const tries = await ledger.query<{ attempt: number; pid: number }>('SELECT attempt, pid FROM ledger_start WHERE task_id = ? ORDER BY attempt', [id]);
      expect(tries.map((t) => Number(t.attempt))).toEqual([1, 2]);
      expect(new Set(tries.map((t) => Number(t.pid))).size).toBe(2);
      expect(await queue.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 2 });
      // the stalled try's outcome is not recorded over the other's, and it says so
      await waitFor(() => lostLeaseLines().some((m) => m.includes(`task ${id} (work)`)), 'the lost lease logged', 10_000);
      figures[`stall${ms}`] = { starts: 2, duplicates: 1, logged: 1 };
    }

    // stop the heartbeat and let what it pushed run
    const pausedAt = Date.now();
    await ledger.producer.get(SchedulerService).pauseTask(schedule.taskId);
    await waitFor(async () => (await ledger.count("SELECT COUNT(*) AS n FROM task_queue WHERE status IN ('pending', 'running')")) === 0, 'the queue drained', LEASE_MS + 60_000, 100);
    await stopAll(instances);

    // every task that ran twice is one a stalled process held past its lease, and each such duplicate was logged
    const twice = await ledger.query<{ task_id: string; n: string | number }>('SELECT task_id, COUNT(*) AS n FROM ledger_start GROUP BY task_id HAVING COUNT(*) > 1');
    expect(twice.filter((t) => Number(t.n) > 2)).toEqual([]);
    const logged = lostLeaseLines();
    expect(twice.filter((t) => !logged.some((m) => m.includes(`task ${t.task_id} (`)))).toEqual([]);
    // no silent skip: the every-second schedule's occurrences are contiguous, each ran
    // the pause cancels the occurrences queued ahead of their time (scheduler.lookaheadMs): they were never due, so not skipped
    const cancelled = (await ledger.query<{ at: string }>("SELECT scheduled_at AS at FROM task_queue WHERE scheduler_task_id = ? AND status = 'cancelled'", [schedule.taskId])).map((r) => Number(r.at));
    expect(cancelled.filter((t) => t <= pausedAt)).toEqual([]);
    const at = (await ledger.query<{ at: string }>("SELECT scheduled_at AS at FROM task_queue WHERE scheduler_task_id = ? AND status <> 'cancelled' ORDER BY scheduled_at", [schedule.taskId])).map((r) => Number(r.at));
    // every occurrence from the first to the pause (the last second may still have been in flight)
    const addedAt = schedule.createdAt.getTime();
    expect(at[0]).toBe(schedule.nextRunAt!.getTime());
    expect(at.length).toBeGreaterThanOrEqual(Math.floor((pausedAt - at[0]) / 1000));
    expect(at.slice(1).map((t, i) => t - at[i]).filter((d) => d !== 1000)).toEqual([]);
    expect(await ledger.count('SELECT COUNT(DISTINCT d.task_id) AS n FROM ledger_done d JOIN task_queue q ON q.task_id = d.task_id WHERE q.scheduler_task_id = ?', [schedule.taskId])).toBe(at.length);
    for (const i of instances) expect(i.lines.filter((l) => l.event === 'unhandledRejection' || l.event === 'uncaughtException')).toEqual([]);
    report(`stalls-${kind}`, { leaseMs: LEASE_MS, ...figures, occurrences: at.length, skipped: 0, tasksRunTwice: twice.length, loggedDuplicates: logged.length });
  });
});
