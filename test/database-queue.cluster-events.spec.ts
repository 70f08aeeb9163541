/**
 * @shares-machine it waits on the readers' polls and the 2 s gap grace; its only upper bound (a NOTIFY wake within 1 s) allows several hundred ms
 */
import { Injectable } from '@nestjs/common';
import { type ClusterTaskEvent, DatabaseQueueService, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { Sql } from 'nestjs-queue-scheduler/database/sql';
import { useBackendApp } from './support/backend-app';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

@Injectable()
class Handlers {
  @TaskHandler('ok')
  ok(): void {}
}

/** An event row written by hand, as an outcome's transaction writes it. */
const row = (taskId: string, at = Date.now()): string => `INSERT INTO task_event (task_id, task_type, kind, attempt, recorded_at, error, duration_ms) VALUES ('${taskId}', 'ok', 'succeeded', 1, ${at}, NULL, NULL)`;

describe.each(['sqlite', 'mariadb', 'postgres'] as const)('task_event on %s', (kind) => {
  const backendApp = useBackendApp(kind);

  it('stays empty with queue.clusterEvents off: the outcomes write nothing more', async () => {
    const app = await backendApp.boot({ queue: { pollIntervalMs: 50 } }, [Handlers]);
    const queue = app.get(TaskQueue);
    const ids = await queue.pushTasks(Array.from({ length: 20 }, () => ({ type: 'ok' })));
    await Promise.all(ids.map((id) => queue.onTaskFinished(id, { timeoutMs: 10_000 })));
    expect(Number((await app.get(DataSource).query('SELECT COUNT(*) AS n FROM task_event'))[0].n)).toBe(0);
  });

  it('a lost lease inside a batch writes the events of the outcomes written, and only those', async () => {
    const app = await backendApp.boot({ queue: { clusterEvents: true }, workers: { enabled: false } }, []);
    const queue = app.get(DatabaseQueueService);
    const ds = app.get(DataSource);
    await queue.pushTasks(['a', 'b', 'c', 'd'].map((taskId) => ({ taskId, type: 'noop' })));
    const tasks = await queue.claim({ types: ['noop'], unknownTypes: false, handled: new Set(['noop']) }, 4);
    const p = kind === 'postgres' ? '$1' : '?';
    // b: its lease ran out and the sweep queued it again; d: another worker has claimed it since (on MySQL the batch is rolled back and written task by task)
    await ds.query(`UPDATE task_queue SET status = 'pending', lease_owner = NULL WHERE task_id = ${p}`, ['b']);
    await ds.query(`UPDATE task_queue SET attempts = attempts + 1 WHERE task_id = ${p}`, ['d']);
    const byId = new Map(tasks.map((t) => [t.taskId, t]));
    await Promise.all([queue.complete(byId.get('a')!, 'A', 5), queue.complete(byId.get('b')!, 'B', 5), queue.fail(byId.get('c')!, new Error('no'), null, 7), queue.fail(byId.get('d')!, new Error('late'), null, 5)]);
    const all = (await ds.query('SELECT task_id, task_type, kind, attempt, error, duration_ms FROM task_event ORDER BY id')) as Array<Record<string, unknown>>;
    // the push and the claim wrote their steps for all four, each in its own transaction
    expect(all.filter((r) => r.kind === 'queued').map((r) => r.task_id)).toEqual(['a', 'b', 'c', 'd']);
    expect(all.filter((r) => r.kind === 'started').map((r) => [r.task_id, Number(r.attempt)])).toEqual([['a', 1], ['b', 1], ['c', 1], ['d', 1]]);
    const rows = all.filter((r) => r.kind !== 'queued' && r.kind !== 'started');
    const normalised = rows.map((r): Record<string, unknown> => ({ ...r, attempt: Number(r.attempt), duration_ms: Number(r.duration_ms) }));
    expect(normalised.sort((x, y) => String(x.task_id).localeCompare(String(y.task_id)))).toEqual([
      { task_id: 'a', task_type: 'noop', kind: 'succeeded', attempt: 1, error: null, duration_ms: 5 },
      { task_id: 'c', task_type: 'noop', kind: 'dead', attempt: 1, error: 'no', duration_ms: 7 },
    ]);
  });

  it('keeps events for queue.clusterEventsRetentionMs: the sweep deletes older ones', async () => {
    const app = await backendApp.boot({ queue: { clusterEvents: true }, workers: { enabled: false } }, []);
    const ds = app.get(DataSource);
    for (let i = 0; i < 3; i++) await ds.query(row(`old-${i}`, Date.now() - 2 * 3_600_000));
    for (let i = 0; i < 2; i++) await ds.query(row(`new-${i}`));
    await app.get(DatabaseQueueService).sweep();
    expect((await ds.query('SELECT task_id FROM task_event ORDER BY id')).map((r: { task_id: string }) => r.task_id)).toEqual(['new-0', 'new-1']);
  });

  it('never deletes the newest event, however old: MAX(id) stays the newest id the table gave, to check an `after` against', async () => {
    const app = await backendApp.boot({ queue: { clusterEvents: true }, workers: { enabled: false } }, []);
    const ds = app.get(DataSource);
    for (let i = 0; i < 4; i++) await ds.query(row(`old-${i}`, Date.now() - 2 * 3_600_000));
    await app.get(DatabaseQueueService).sweep();
    const kept = (await ds.query('SELECT id, task_id FROM task_event ORDER BY id')) as Array<{ id: string | number; task_id: string }>;
    expect(kept.map((r) => r.task_id)).toEqual(['old-3']);
    // a subscriber that saw it resumes from it; one past it is refused
    const queue = app.get(TaskQueue);
    const resumed = await new Promise<unknown>((resolve) => {
      const sub = queue.clusterEvents$({ after: String(kept[0].id) }).subscribe({ error: resolve });
      setTimeout(() => (sub.unsubscribe(), resolve('reading')), 500);
    });
    expect(resumed).toBe('reading');
    const refused = await new Promise<unknown>((resolve) => queue.clusterEvents$({ after: String(Number(kept[0].id) + 1) }).subscribe({ error: resolve }));
    expect(refused).toMatchObject({ field: 'after' });
  });
});

// SQLite has one writer at a time, so its ids commit in order; these two do not
describe.each(['mariadb', 'postgres'] as const)('clusterEvents$ readers and ids that commit out of order on %s', (kind) => {
  const backendApp = useBackendApp(kind);

  async function subscribed() {
    const app = await backendApp.boot({ queue: { clusterEvents: true, clusterEventsPollMs: 50 }, workers: { enabled: false } }, []);
    const ds = app.get(DataSource);
    const events: ClusterTaskEvent[] = [];
    const sub = app.get(TaskQueue).clusterEvents$().subscribe((e) => events.push(e));
    // live once it reports a row committed after it started
    for (let n = 0; !events.length; n++) {
      await ds.query(row(`probe-${n}`));
      await waitFor(() => events.length > 0, 'the reader', 500).catch(() => undefined);
    }
    const held = ds.createQueryRunner();
    await held.connect();
    await held.startTransaction();
    return { ds, events, sub, held, ids: () => events.map((e) => e.taskId).filter((id) => !id.startsWith('probe-')) };
  }

  it('holds the reader below an uncommitted id, then delivers both in id order', async () => {
    const { ds, events, sub, held, ids } = await subscribed();
    await held.query(row('first'));
    await ds.query(row('second'));
    // several polls: the committed later id must wait for the earlier one
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(ids()).toEqual([]);
    await held.commitTransaction();
    await held.release();
    await waitFor(() => ids().length === 2, 'both events');
    sub.unsubscribe();
    expect(ids()).toEqual(['first', 'second']);
    expect(Number(events.at(-1)!.id)).toBe(Number(events.at(-2)!.id) + 1);
  });

  it('holds the reader past the grace period while the transaction holding the missing id is open (a large pushTasks), then delivers both', async () => {
    const { ds, events, sub, held, ids } = await subscribed();
    await held.query(row('long-transaction'));
    await ds.query(row('committed-meanwhile'));
    // past GAP_GRACE_MS (2 s): the open transaction's rows must not be taken for rolled back
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(ids()).toEqual([]);
    await held.query(row('long-transaction-2'));
    await held.commitTransaction();
    await held.release();
    await waitFor(() => ids().length === 3, 'all three events', 10_000);
    sub.unsubscribe();
    expect(ids()).toEqual(['long-transaction', 'committed-meanwhile', 'long-transaction-2']);
    const own = events.filter((e) => !e.taskId.startsWith('probe-')).map((e) => Number(e.id));
    expect(own).toEqual([...own].sort((a, b) => a - b));
  });

  it("skips a rolled-back id after the grace period while the app's own transaction on another table stays open", async () => {
    const { ds, sub, held, ids } = await subscribed();
    await ds.query('CREATE TABLE IF NOT EXISTS app_ledger (n int)');
    const app = ds.createQueryRunner();
    await app.connect();
    await app.startTransaction();
    try {
      // a long transaction of the app's, writing, open from before the gap until after the test
      await app.query('INSERT INTO app_ledger (n) VALUES (1)');
      await held.query(row('rolled-back'));
      const committed = Date.now();
      await ds.query(row('kept'));
      await held.rollbackTransaction();
      await held.release();
      await waitFor(() => ids().length === 1, 'the later event', 15_000);
      const waited = Date.now() - committed;
      expect(ids()).toEqual(['kept']);
      // the grace period, not the app's transaction: that one is still open
      expect(waited).toBeGreaterThanOrEqual(1500);
    } finally {
      sub.unsubscribe();
      await app.rollbackTransaction();
      await app.release();
    }
  });

  it("skips a rolled-back id after the grace period while the app holds a locking read of task_event's rows around it", async () => {
    const { ds, sub, held, ids, events } = await subscribed();
    // a gap of several ids: `id IN (…)` over a small table read the whole index, the app's locked rows included
    for (let n = 0; n < 3; n++) await held.query(row('rolled-back'));
    const committed = Date.now();
    await ds.query(row('kept'));
    await held.rollbackTransaction();
    await held.release();
    const reader = ds.createQueryRunner();
    await reader.connect();
    await reader.startTransaction();
    try {
      const last = Number(events.at(-1)!.id);
      // exclusive, as an app's FOR UPDATE: the reader's probe must not take the row past the gap for a writer
      await reader.query(`SELECT id FROM task_event WHERE id >= ${last} FOR UPDATE`);
      await waitFor(() => ids().length === 1, 'the later event', 15_000);
      expect(ids()).toEqual(['kept']);
      expect(Date.now() - committed).toBeGreaterThanOrEqual(1500);
    } finally {
      sub.unsubscribe();
      await reader.rollbackTransaction();
      await reader.release();
    }
  });

  it('skips an id whose transaction rolled back once the grace period has passed', async () => {
    const { ds, sub, held, ids } = await subscribed();
    await held.query(row('rolled-back'));
    const committed = Date.now();
    await ds.query(row('kept'));
    await held.rollbackTransaction();
    await held.release();
    await waitFor(() => ids().length === 1, 'the later event', 10_000);
    const waited = Date.now() - committed;
    sub.unsubscribe();
    expect(ids()).toEqual(['kept']);
    // GAP_GRACE_MS (2 s), counted from the first read that saw the gap
    expect(waited).toBeGreaterThanOrEqual(1500);
  });
});

describe.each(['sqlite', 'mariadb', 'postgres'] as const)('a fresh clusterEvents$ subscriber on %s', (kind) => {
  const backendApp = useBackendApp(kind);

  it('starts at its subscribe() call: a push awaited right after it is reported, even when its first read comes after that push', async () => {
    const app = await backendApp.boot({ queue: { clusterEvents: true, clusterEventsPollMs: 50 }, workers: { enabled: false } }, []);
    const queue = app.get(TaskQueue);
    await queue.pushTask({ type: 'ok' }); // an event from before, which the subscriber must not get
    const before = Date.now();
    await waitFor(() => Date.now() > before, 'the clock to pass the earlier event', 1000);
    // the subscriber's first read held back, as a new pooled connection holds it, until the push has committed
    let release!: () => void;
    const pushed = new Promise<void>((resolve) => (release = resolve));
    const rows = Sql.prototype.rows;
    const spy = jest.spyOn(Sql.prototype, 'rows').mockImplementation(async function (this: Sql, text: string, ...rest: unknown[]) {
      if (text.startsWith('SELECT MAX(') && text.includes('task_event')) await pushed;
      return rows.call(this, text, ...(rest as [])) as never;
    });
    const events: ClusterTaskEvent[] = [];
    const sub = queue.clusterEvents$().subscribe((e) => events.push(e));
    try {
      const id = await queue.pushTask({ type: 'ok' });
      release();
      await waitFor(() => events.some((e) => e.taskId === id), 'the push\'s queued event', 10_000);
      expect(events.map((e) => [e.taskId, e.kind])).toEqual([[id, 'queued']]);
    } finally {
      sub.unsubscribe();
      spy.mockRestore();
    }
  });
});

describe('clusterEvents$ on postgres when its LISTEN connection drops', () => {
  const backendApp = useBackendApp('postgres');

  it('opens another and goes on being woken', async () => {
    const app = await backendApp.boot({ queue: { clusterEvents: true, clusterEventsPollMs: 1000 }, workers: { enabled: false } }, []);
    const ds = app.get(DataSource);
    const listeners = async (): Promise<number[]> =>
      ((await ds.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN qs_task_event'")) as Array<{ pid: number }>).map((r) => r.pid);
    const events: ClusterTaskEvent[] = [];
    const sub = app.get(TaskQueue).clusterEvents$().subscribe((e) => events.push(e));
    await waitFor(async () => (await listeners()).length === 1, 'the LISTEN connection');
    const [first] = await listeners();
    await ds.query('SELECT pg_terminate_backend($1)', [first]);
    await waitFor(async () => (await listeners()).some((pid) => pid !== first), 'another LISTEN connection', 10_000);
    // polled only every 10 s now: an event within a second was woken by NOTIFY
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = events.length;
    const at = Date.now();
    // as the library's writers do: the row, then the wake-up (delivered at commit)
    await ds.query(row('after-reconnect'));
    await ds.query("SELECT pg_notify('qs_task_event', '')");
    await waitFor(() => events.some((e) => e.taskId === 'after-reconnect'), 'the event', 5000);
    sub.unsubscribe();
    expect(events.length).toBeGreaterThan(before);
    expect(Date.now() - at).toBeLessThan(1000);
  });
});
