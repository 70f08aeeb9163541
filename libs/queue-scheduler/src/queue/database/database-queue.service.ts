import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { DataSource, QueryRunner } from 'typeorm';
import { InvalidArgumentError, TaskNotFoundError } from '../../errors/errors';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { PushTaskInput, Task, TaskEvent, TaskEventKind, TaskRecord } from '../../interfaces/task.interface';
import { MAX_TIMER_MS, RESOLVED_OPTIONS, SCHEDULER_DATA_SOURCE } from '../../queue-scheduler.constants';
import { LibraryLogger } from '../../queue-scheduler.logger';
import { DatabasePublicStore } from './database-public-store';
import { type ListTasksFilter, type StatusCounts, type TaskPage } from '../task-queue';
import { type ClaimFilter, type OccurrenceClaim, type QueueCapabilities, QueueConsumer } from '../queue-consumer';
import { DurableTaskQueue, lostLeaseWarning } from '../durable-queue';
import type { TaskEventSubject } from '../task-events';
import { type NormalizedTask, MAX_KEY_LENGTH, normalizeBatch, normalizePush } from '../task-validation';
import { keyProblem, storableText } from '../json-value';
import { IdlePoll } from '../idle-poll';
import { OutcomeBatch } from './outcome-batch';
import { dialectOfDataSource, Sql } from '../../database/sql';
import { Sequence, taskColumns, type TaskRow, toRecord } from './task-rows';
import { TaskStatusReads } from './task-status';
import { WakeTimers } from '../wake-timers';

const FINISHED = "('succeeded', 'dead', 'cancelled')";


/**
 * The durable backend: tasks are rows of `task_queue`, shared by every
 * instance on the database. Claims take a batch with FOR UPDATE SKIP LOCKED
 * (MySQL 8 / MariaDB 10.6+ / PostgreSQL) or one conditional UPDATE (SQLite);
 * a claimed task holds a lease that its worker renews, and a task whose
 * worker died is claimed again once the lease runs out (at-least-once).
 * @publicApi
 */
@Injectable()
export class DatabaseQueueService extends DurableTaskQueue implements QueueConsumer, OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown {
  readonly capabilities: QueueCapabilities = { durable: true, soleConsumer: false, claimsOverlapWrites: true };
  private readonly logger: LibraryLogger;
  private readonly sql: Sql;
  protected readonly store: DatabasePublicStore;
  private readonly status: TaskStatusReads;
  private readonly outcomes: OutcomeBatch;
  private readonly seq = new Sequence();
  private readonly leased = new Map<string, Task>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly wakeTimers = new WakeTimers(() => this.wakeLocal(1));
  private readonly idle: IdlePoll;
  /** The last claim filled its batch: more tasks are probably due than this instance can take. */
  private backlog = false;
  private destroyed = false;

  constructor(
    @Inject(SCHEDULER_DATA_SOURCE) dataSource: DataSource,
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
  ) {
    super();
    this.logger = new LibraryLogger(DatabaseQueueService.name, options.logLevel);
    this.sql = new Sql(dataSource, dialectOfDataSource(dataSource));
    this.store = new DatabasePublicStore(this.sql, options.store.maxValueBytes);
    this.status = new TaskStatusReads(this.sql);
    this.outcomes = new OutcomeBatch(this.sql);
    this.idle = new IdlePoll(options.queue.pollIntervalMs);
  }

  get active(): boolean {
    return this.options.queue.backend === 'database';
  }

  onApplicationBootstrap(): void {
    if (this.active && this.options.autoStart) this.startMaintenance();
  }

  onModuleDestroy(): void {
    this.destroyed = true;
    this.stopMaintenance();
    this.wakeTimers.clear();
    this.idle.wakeAll();
    this.taskEvents.complete();
  }

  /**
   * The worker pool depends on this service, so Nest drains it first; what it
   * recorded is written here, before TypeORM closes the DataSource.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.outcomes.drain();
  }

  /** Lease renewal, reclaiming of expired leases, retention and store cleanup, on unref'd timers. */
  startMaintenance(): void {
    if (this.timers.length) return;
    const { leaseMs, sweepIntervalMs } = this.options.queue;
    const every = (ms: number, what: string, fn: () => Promise<unknown>): void => {
      const timer = setInterval(() => fn().catch((err: unknown) => this.logger.error(`${what} failed: ${(err as Error).message}`, err)), ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(Math.floor(leaseMs / 3), 'lease renewal', () => this.renewLeases());
    every(sweepIntervalMs, 'sweep', () => this.sweep());
    every(this.options.store.cleanupIntervalSeconds * 1000, 'store cleanup', () => this.store.cleanup());
  }

  stopMaintenance(): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
  }

  // ---- producers -------------------------------------------------------

  async pushTask<P>(input: PushTaskInput<P>): Promise<string> {
    const task = normalizePush(input, this.options.queue.maxPayloadBytes);
    this.announce(await this.insert([task]));
    return task.taskId;
  }

  /** Pushes several tasks in one statement; each keeps pushTask's dedupe rule. */
  async pushTasks<P>(inputs: PushTaskInput<P>[]): Promise<string[]> {
    const tasks = normalizeBatch(inputs, (input) => normalizePush(input, this.options.queue.maxPayloadBytes));
    const inserted = await this.insert(tasks);
    this.announce(inserted);
    return tasks.map((t) => t.taskId);
  }

  /** Runs the scheduler's claim and inserts its occurrences in the same transaction. */
  async pushClaimed(claim: OccurrenceClaim): Promise<string[] | null> {
    const result = await this.sql.transaction(async (runner) => {
      const inputs = await claim(runner.manager);
      if (!inputs) return null;
      const tasks = inputs.map((input) => normalizePush(input, this.options.queue.maxPayloadBytes));
      return { tasks, inserted: await this.insert(tasks, runner) };
    });
    if (!result) return null;
    this.announce(result.inserted);
    // occurrences claimed ahead each start at their own time, and announce() wakes a worker for the earliest only
    const now = Date.now();
    const later = [...new Set(result.inserted.map((t) => t.runAtMs).filter((t) => t > now))].sort((a, b) => a - b);
    for (const at of later.slice(1)) this.wakeAt(new Date(at));
    return result.tasks.map((t) => t.taskId);
  }

  getQueueSize(): Promise<number> {
    return this.status.queueSize();
  }

  protected unfinished(): Promise<number> {
    return this.status.unfinished();
  }

  getTask(taskId: string): Promise<TaskRecord> {
    // no stored id can hold what an id may not (PostgreSQL would refuse a NUL in the query itself)
    if (!storableId(taskId)) return Promise.reject(new TaskNotFoundError(String(taskId)));
    return this.status.get(taskId);
  }

  listTasks(filter: ListTasksFilter = {}): Promise<TaskPage> {
    return this.status.list(filter);
  }

  countByStatus(): Promise<StatusCounts> {
    return this.status.counts();
  }

  async retryTask(taskId: string): Promise<void> {
    if (!storableId(taskId)) throw new TaskNotFoundError(String(taskId));
    const now = Date.now();
    const n = await this.sql.affected(
      `UPDATE task_queue SET status = 'pending', attempts = 0, retry_count = 0, run_at = ?, seq = ?, error_message = NULL, completed_at = NULL, started_at = NULL, lease_owner = NULL, lease_expires_at = NULL
       WHERE task_id = ? AND (status = 'dead' OR (status = 'pending' AND retry_count > 0))`,
      [now, this.seq.next(), taskId],
    );
    if (n === 0) {
      const { status } = await this.getTask(taskId);
      throw new InvalidArgumentError('taskId', `task '${taskId}' is ${status}; only dead or failed tasks can be retried`);
    }
    this.wakeLocal(1);
  }

  async cancelTask(taskId: string): Promise<boolean> {
    if (!storableId(taskId)) throw new TaskNotFoundError(String(taskId));
    const n = await this.sql.affected("UPDATE task_queue SET status = 'cancelled', completed_at = ? WHERE task_id = ? AND status = 'pending'", [Date.now(), taskId]);
    if (n === 0) {
      await this.getTask(taskId);
      return false;
    }
    this.emit('cancelled', { taskId, type: '' });
    return true;
  }

  // ---- consumers -------------------------------------------------------

  async claim(filter: ClaimFilter, limit: number): Promise<Task[]> {
    this.idle.claiming();
    const types = filter.types;
    if (types.length === 0 || limit <= 0) return [];
    const now = Date.now();
    const lease = now + this.options.queue.leaseMs;
    const due = `FROM task_queue WHERE status = 'pending' AND run_at <= ? AND task_type IN (${this.sql.list(types.length)}) ORDER BY priority, run_at, seq LIMIT ${limit}`;
    const set = "SET status = 'running', attempts = attempts + 1, started_at = ?, lease_owner = ?, lease_expires_at = ?";
    let rows: TaskRow[];
    if (this.sql.dialect === 'mysql') {
      // Over a backlog, REPEATABLE READ: READ COMMITTED visits the row of every index entry that rows claimed moments
      // ago left behind for purge, so the locking read grew to 3x the cost on MariaDB. Its gap locks can deadlock two
      // claims that reach the end of the queue together, so it is kept for backlogs, and a retry falls back.
      const backlog = this.backlog;
      // MySQL has no UPDATE … RETURNING: the locked rows are read whole, and their running state is what the UPDATE writes
      rows = await this.sql.transaction(async (runner) => {
        const locked = await this.sql.rows<TaskRow>(`SELECT ${taskColumns(this.sql)} ${due} FOR UPDATE SKIP LOCKED`, [now, ...types], runner);
        if (!locked.length) return [];
        await this.sql.affected(`UPDATE task_queue ${set} WHERE task_id IN (${this.sql.list(locked.length)})`, [now, this.owner, lease, ...locked.map((r) => r.task_id)], runner);
        return locked.map((r) => ({ ...r, status: 'running', attempts: Number(r.attempts) + 1, started_at: now }));
      }, (attempt) => (backlog && attempt === 1 ? 'REPEATABLE READ' : 'READ COMMITTED'));
    } else if (this.sql.dialect === 'postgres') {
      // ANY(ARRAY(…)) rather than IN (…): once the planner knew a backlog, IN became a hash join over the whole table.
      const claim = `UPDATE task_queue ${set} WHERE task_id = ANY(ARRAY(SELECT task_id ${due} FOR UPDATE SKIP LOCKED)) RETURNING ${taskColumns(this.sql)}`;
      const params = [now, this.owner, lease, now, ...types];
      // Over a backlog, statistics from before it arrived (autovacuum analyzes a minute or more later) made the
      // planner expect a handful of pending rows and read and sort all of them for every claim (70 ms per claim of
      // 100 at 60,000 pending); without a sort to choose, it walks idx_task_queue_claim in order and stops at the
      // limit (2 ms). Two round trips more, so only while a backlog lasts: a few pending rows sort in no time.
      rows = this.backlog
        ? await this.sql.transaction(async (runner) => {
            await runner.query('SET LOCAL enable_sort = off');
            return this.sql.rows<TaskRow>(claim, params, runner);
          })
        : await this.sql.rows<TaskRow>(claim, params);
    } else {
      rows = await this.sql.rows<TaskRow>(`UPDATE task_queue ${set} WHERE task_id IN (SELECT task_id ${due}) RETURNING ${taskColumns(this.sql)}`, [
        now, this.owner, lease, now, ...types,
      ]);
    }
    this.backlog = rows.length >= limit;
    const tasks = rows.map(claimedTask).sort((a, b) => a.priority - b.priority || a.runAt.getTime() - b.runAt.getTime() || a.seq - b.seq);
    const claimed = await this.withinCaps(tasks, filter);
    this.idle.claimed(claimed.length);
    // with autoStart: false nothing started the lease renewal, and a task running past leaseMs was taken from its worker
    if (claimed.length && !this.timers.length && !this.destroyed) this.startMaintenance();
    for (const task of claimed) {
      this.leased.set(task.taskId, task);
      this.emit('started', task);
    }
    return claimed;
  }

  /** Sleeps until a local push, or the poll time: short right after work, doubling while empty, up to queue.pollIntervalMs. */
  waitForWork(_filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void> {
    // The waiters' timers are unref'd. On MySQL and PostgreSQL the pool's sockets keep a worker process alive
    // while its queue is empty; SQLite has none, and a worker-only process exited at its first idle poll. This
    // handle never fires (one firing before the waiter's own timer would leave nothing to wait for): the wait ends it.
    const keepAlive = setInterval(() => undefined, MAX_TIMER_MS);
    return this.idle.wait(timeoutMs, signal).finally(() => clearInterval(keepAlive));
  }

  /** Resolves once the outcome is committed, written together with the others finishing meanwhile (see OutcomeBatch). */
  async complete(task: Task, result: unknown, durationMs: number): Promise<void> {
    // the worker pool hands over the normalised result (see TaskRunner): plain JSON, within queue.maxResultBytes
    const json = result === undefined || result === null ? null : JSON.stringify(result);
    // the lease is renewed until the outcome is written; a failed write lets it lapse, so the task is run again
    const written = await this.outcomes.record({ kind: 'succeeded', task, result: json }).finally(() => this.leased.delete(task.taskId));
    if (!written) return this.lostLease(task, 'succeeded');
    this.emit('succeeded', task, { durationMs });
  }

  async fail(task: Task, error: Error, retryAt: Date | null, durationMs: number): Promise<void> {
    const message = storableText(error.message, 8000);
    const outcome = retryAt ? { kind: 'retrying' as const, task, error: message, retryAt: retryAt.getTime() } : { kind: 'dead' as const, task, error: message };
    const written = await this.outcomes.record(outcome).finally(() => this.leased.delete(task.taskId));
    if (!written) return this.lostLease(task, outcome.kind);
    this.emit(outcome.kind, task, { durationMs, error: error.message, retryAt: retryAt ?? undefined });
    if (retryAt) this.wakeAt(retryAt);
  }

  async release(task: Task): Promise<void> {
    this.leased.delete(task.taskId);
    await this.sql.affected(
      "UPDATE task_queue SET status = 'pending', attempts = attempts - 1, started_at = NULL, lease_owner = NULL, lease_expires_at = NULL WHERE task_id = ? AND status = 'running' AND attempts = ?",
      [task.taskId, task.attempts],
    );
  }

  /** Extends the leases of every task this instance runs, in one statement. */
  async renewLeases(): Promise<number> {
    if (this.leased.size === 0) return 0;
    return this.sql.rangeAffected("UPDATE task_queue SET lease_expires_at = ? WHERE lease_owner = ? AND status = 'running'", [
      Date.now() + this.options.queue.leaseMs,
      this.owner,
    ]);
  }

  /** Re-queues tasks whose lease ran out (their worker died or stalled) and purges rows past retention. */
  async sweep(): Promise<{ reclaimed: number; purged: number }> {
    const now = Date.now();
    const reclaimed = await this.sql.rangeAffected(
      "UPDATE task_queue SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL WHERE status = 'running' AND lease_expires_at < ?",
      [now],
    );
    if (reclaimed > 0) {
      this.logger.warn(`${reclaimed} task(s) whose worker stopped renewing its lease were queued again (a lost try; a task lost more than queue.maxLostTries times is dead)`);
      this.wakeLocal(reclaimed);
    }
    const days = this.options.queue.retentionDays;
    const purged = days > 0
      ? await this.sql.rangeAffected(`DELETE FROM task_queue WHERE status IN ${FINISHED} AND completed_at < ?`, [now - days * 86_400_000])
      : 0;
    return { reclaimed, purged };
  }

  // ---- internals -------------------------------------------------------

  /** Inserts the tasks whose id is not pending or running; a finished id is queued anew. Returns those inserted. */
  private async insert(tasks: NormalizedTask[], runner?: QueryRunner): Promise<NormalizedTask[]> {
    if (!tasks.length) return [];
    const inserted = this.sql.dialect === 'mysql' ? await this.insertMysql(tasks, runner) : await this.insertOnConflict(tasks, runner);
    if (inserted.length === tasks.length) return tasks;
    const taken = new Set(inserted);
    return [...inserted, ...(await this.requeueFinished(tasks.filter((t) => !taken.has(t)), runner))];
  }

  private insertStatement(tasks: NormalizedTask[], suffix: string): { text: string; params: unknown[] } {
    const now = Date.now();
    const params: unknown[] = [];
    for (const t of tasks) {
      params.push(t.taskId, this.seq.next(), t.type, JSON.stringify(t.params), 'pending', t.priority, t.runAtMs, t.maxRetries ?? null,
        t.schedulerTaskId ?? null, t.scheduledAt?.getTime() ?? null, now);
    }
    const values = tasks.map(() => `(${this.sql.list(11)})`).join(', ');
    const text = `INSERT INTO task_queue (task_id, seq, task_type, params, status, priority, run_at, max_retries, scheduler_task_id, scheduled_at, created_at) VALUES ${values}${suffix}`;
    return { text, params };
  }

  /** PostgreSQL and SQLite: ON CONFLICT DO NOTHING skips exactly the rows whose id or occurrence exists, nothing else. */
  private async insertOnConflict(tasks: NormalizedTask[], runner?: QueryRunner): Promise<NormalizedTask[]> {
    const { text, params } = this.insertStatement(tasks, ' ON CONFLICT DO NOTHING RETURNING task_id');
    const rows = await this.sql.rows<{ task_id: string }>(text, params, runner);
    if (rows.length === tasks.length) return tasks;
    const ids = new Set(rows.map((r) => r.task_id));
    return tasks.filter((t) => ids.has(t.taskId));
  }

  /**
   * MySQL/MariaDB: a plain INSERT, all or nothing. INSERT IGNORE also turned a
   * failed JSON check, a truncation or a bad string into a warning and dropped
   * or mangled that row while the push returned its id; a duplicate key is the
   * one error to skip, so a batch that meets one is inserted again row by row.
   */
  private async insertMysql(tasks: NormalizedTask[], runner?: QueryRunner): Promise<NormalizedTask[]> {
    try {
      const { text, params } = this.insertStatement(tasks, '');
      await this.sql.affected(text, params, runner);
      return tasks;
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    const inserted: NormalizedTask[] = [];
    for (const t of tasks) {
      try {
        const { text, params } = this.insertStatement([t], '');
        await this.sql.affected(text, params, runner);
        inserted.push(t);
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    }
    return inserted;
  }

  /** Some ids already existed: queue again those that had finished; leave pending/running ones alone. */
  private async requeueFinished(tasks: NormalizedTask[], runner?: QueryRunner): Promise<NormalizedTask[]> {
    const fresh: NormalizedTask[] = [];
    for (const t of tasks) {
      const n = await this.sql.affected(
        `UPDATE task_queue SET seq = ?, task_type = ?, params = ?, status = 'pending', priority = ?, run_at = ?, attempts = 0, retry_count = 0, max_retries = ?,
           error_message = NULL, result = NULL, started_at = NULL, completed_at = NULL, lease_owner = NULL, lease_expires_at = NULL, created_at = ?
         WHERE task_id = ? AND status IN ${FINISHED}`,
        [this.seq.next(), t.type, JSON.stringify(t.params), t.priority, t.runAtMs, t.maxRetries ?? null, Date.now(), t.taskId],
        runner,
      );
      if (n > 0) fresh.push(t);
    }
    return fresh;
  }

  /** A batch may hold more of a capped type than it has free slots; give the extra back. */
  private async withinCaps(tasks: Array<TaskRecord & { seq: number }>, filter: ClaimFilter): Promise<Task[]> {
    if (!filter.remaining?.size) return tasks;
    const left = new Map(filter.remaining);
    const kept: Task[] = [];
    for (const task of tasks) {
      const slots = left.get(task.type);
      if (slots === undefined || slots > 0) {
        if (slots !== undefined) left.set(task.type, slots - 1);
        kept.push(task);
      } else {
        await this.release(task);
      }
    }
    return kept;
  }

  private announce(tasks: NormalizedTask[]): void {
    if (!tasks.length) return;
    for (const t of tasks) this.emit('queued', t);
    const now = Date.now();
    const due = tasks.filter((t) => t.runAtMs <= now).length;
    this.wakeLocal(due);
    const later = tasks.filter((t) => t.runAtMs > now).sort((a, b) => a.runAtMs - b.runAtMs)[0];
    if (later) this.wakeAt(new Date(later.runAtMs));
  }

  private wakeLocal(n: number): void {
    this.idle.pushed(n);
  }

  /** A delayed or retried task of this instance starts on time rather than at the next poll. */
  private wakeAt(at: Date): void {
    this.wakeTimers.at(at);
  }

  private lostLease(task: Task, outcome: string): void {
    this.logger.warn(lostLeaseWarning(task, outcome));
  }

  private emit(kind: TaskEventKind, task: TaskEventSubject, extra?: Partial<TaskEvent>): void {
    this.taskEvents.emit(kind, task, extra?.durationMs, extra?.error, extra?.retryAt);
  }
}

/**
 * A claimed row as its worker gets it. `attempts` counts every try started and
 * `retry_count` the failed ones, so the tries before this one that neither
 * failed nor were given back were lost with their worker.
 */
function claimedTask(row: TaskRow): TaskRecord & { seq: number } {
  const task = toRecord(row);
  task.lostTries = Math.max(0, task.attempts - 1 - Number(row.retry_count));
  return task;
}

/** Whether an id could be stored at all: one that could not names no task (and PostgreSQL would refuse a NUL in the query). */
const storableId = (taskId: string): boolean => keyProblem(taskId, MAX_KEY_LENGTH) === null;

/** MySQL's ER_DUP_ENTRY: the id or the occurrence is there already. */
function isDuplicateKey(err: unknown): boolean {
  const e = err as { code?: unknown; errno?: unknown; driverError?: { code?: unknown; errno?: unknown } } | null;
  const code = e?.code ?? e?.driverError?.code;
  return code === 'ER_DUP_ENTRY' || (e?.errno ?? e?.driverError?.errno) === 1062;
}
