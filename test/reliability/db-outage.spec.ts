/**
 * Scenario 2, database outage: a private MariaDB / PostgreSQL server (never
 * the shared one) is stopped for a while under a running instance that
 * pushes tasks, runs them and fires an every-second schedule, then started
 * again. The instance must not crash nor leak an unhandled rejection,
 * retry with a bounded backoff, keep every push it reported as done, and
 * resume the schedule by its misfire policy without firing an occurrence twice.
 */
import { SchedulerService } from 'nestjs-queue-scheduler';
import { DATABASES, type TestDatabase } from '../support/databases';
import { type Instance, startInstance, stopAll, waitReady } from '../support/processes';
import { waitFor } from '../support/wait-for';
import { Ledger } from './support/ledger';
import { PrivateServer } from './support/private-server';
import { PROFILE, report } from './support/profile';

const { outageMs: OUTAGE_MS, pushes: PUSHES } = PROFILE.outage;
const GRACE_S = 2;
/** The scheduler's own cap on its retry delay (schedule-loop's MAX_ERROR_BACKOFF_MS). */
const MAX_BACKOFF_MS = 30_000;
const OPTIONS = {
  queue: { backend: 'database', pollIntervalMs: 200, sweepIntervalMs: 500 },
  scheduler: { enabled: true, pollIntervalMs: 200, misfireGraceSeconds: GRACE_S },
  workers: { concurrency: 4 },
};

jest.setTimeout(OUTAGE_MS + 180_000);

const SERVERS = DATABASES.filter((k): k is 'mariadb' | 'postgres' => k !== 'sqlite');

describe.each(SERVERS)('database outage on a private %s server', (kind) => {
  let server: PrivateServer;
  let ledger: Ledger;
  let instance: Instance | undefined;

  beforeAll(async () => {
    server = await PrivateServer.create(kind);
    await server.createDatabase('qs_outage');
    const db: TestDatabase = { kind, options: server.options('qs_outage'), drop: async () => undefined };
    ledger = await Ledger.create(db);
  });
  afterAll(async () => {
    if (instance) await stopAll([instance], 'SIGKILL');
    await ledger?.close().catch(() => undefined);
    await server?.destroy();
  });

  it(`stopped for ${OUTAGE_MS / 1000} s mid-run: no crash, bounded retries, every resolved push kept, the schedule resumes by fire_once`, async () => {
    const schedule = await ledger.producer.get(SchedulerService).addSchedulerTask({ name: 'heartbeat', taskType: 'occurrence', scheduleType: 'interval', intervalSeconds: 1, misfirePolicy: 'fire_once' });
    // a try the outage hits fails (its ledger write cannot reach the server) or loses its lease: retries run it to the end
    const retries = JSON.stringify({ attempts: 20, backoff: 'fixed', delayMs: 500 });
    instance = startInstance(server.options('qs_outage'), OPTIONS, { app: 'ledger', env: { QS_PRODUCE: String(PUSHES), QS_RETRIES: retries } });
    await waitReady([instance]);
    const lines = instance.lines;
    const pushed = () => lines.filter((l) => l.event === 'pushed');
    await waitFor(() => pushed().length >= 10, 'pushes before the outage', 30_000);
    await waitFor(async () => (await ledger.count('SELECT COUNT(*) AS n FROM ledger_done')) >= 3, 'work done before the outage', 30_000, 50);

    const downAt = Date.now();
    await server.stop();
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS)); // the outage itself is the scenario's input, not a wait for a result
    await server.start();
    const upAt = Date.now();

    await waitFor(() => lines.some((l) => l.event === 'produced'), 'the producer finished', PUSHES * 1000 + 60_000, 50);
    // the parent's own pool met the outage too: its first queries may still meet a dead connection
    await waitFor(async () => ledger.count('SELECT COUNT(*) AS n FROM task_queue').then(() => true, () => false), 'the parent reconnected', 30_000, 100);
    const resumed = async () => ledger.count('SELECT COUNT(*) AS n FROM task_queue WHERE scheduler_task_id = ? AND created_at > ?', [schedule.taskId, upAt]);
    await waitFor(async () => (await resumed()) >= 3, 'the schedule fired again', MAX_BACKOFF_MS + 30_000, 100);
    await waitFor(async () => (await ledger.count("SELECT COUNT(*) AS n FROM task_queue WHERE task_type = 'work' AND status <> 'succeeded'")) === 0, 'the pushed work ran', 60_000, 100);
    instance.child.kill('SIGTERM');
    await instance.exited;

    // no crash: it ran until told to stop, and nothing escaped
    expect(instance.child.signalCode).toBe('SIGTERM');
    expect(lines.filter((l) => l.event === 'unhandledRejection' || l.event === 'uncaughtException')).toEqual([]);
    // every push the instance saw resolve is in the table and ran; the outage was felt by the others
    const ok = pushed().map((l) => String(l.id));
    const failed = lines.filter((l) => l.event === 'push-failed').length;
    expect(ok.length + failed).toBe(PUSHES);
    expect(failed).toBeGreaterThan(0);
    const resolvedAfter = pushed().filter((l) => Number(l.at) > upAt).length;
    expect(resolvedAfter).toBeGreaterThan(0);
    const stored = new Set((await ledger.query<{ task_id: string }>("SELECT task_id FROM task_queue WHERE task_type = 'work'")).map((r) => r.task_id));
    expect(ok.filter((id) => !stored.has(id))).toEqual([]);
    expect(await ledger.count('SELECT COUNT(DISTINCT task_id) AS n FROM ledger_done WHERE task_id IN (SELECT task_id FROM task_queue WHERE task_type = ?)', ['work'])).toBe(stored.size);
    // retries were bounded: the scheduler backs off up to its cap, the workers retry every second
    const retryDelays = lines.filter((l) => l.event === 'log').map((l) => /retrying in (\d+) ms/.exec(String(l.message))).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
    expect(retryDelays.length).toBeGreaterThan(0);
    expect(Math.max(...retryDelays)).toBeLessThanOrEqual(MAX_BACKOFF_MS);
    // each occurrence once; before and after the outage every second; across it one coalesced run (fire_once)
    const rows = await ledger.query<{ at: string; n: string | number; created: string }>(
      'SELECT scheduled_at AS at, COUNT(*) AS n, MIN(created_at) AS created FROM task_queue WHERE scheduler_task_id = ? GROUP BY scheduled_at ORDER BY scheduled_at',
      [schedule.taskId],
    );
    expect(rows.filter((r) => Number(r.n) !== 1)).toEqual([]);
    const at = rows.map((r) => Number(r.at));
    const gaps = at.slice(1).map((t, i) => t - at[i]).filter((d) => d !== 1000);
    expect(gaps).toHaveLength(1);
    expect(gaps[0] % 1000).toBe(0);
    expect(gaps[0]).toBeGreaterThan(GRACE_S * 1000);
    expect(lines.some((l) => l.event === 'log' && /occurrence\(s\) missed, policy fire_once/.test(String(l.message)))).toBe(true);
    const firstAfter = rows.find((r) => Number(r.created) > upAt)!;
    const resumedAfterMs = Number(firstAfter.created) - upAt;
    expect(resumedAfterMs).toBeLessThanOrEqual(MAX_BACKOFF_MS + 2000);
    report(`outage-${kind}`, {
      outageMs: upAt - downAt, pushes: PUSHES, resolved: ok.length, resolvedAfterRestart: resolvedAfter, rejected: failed, lost: 0, occurrences: at.length, duplicates: 0,
      coalescedGapMs: gaps[0], maxRetryDelayMs: Math.max(...retryDelays), scheduleResumedAfterMs: resumedAfterMs,
    });
  });
});
