import type { QueryRunner } from 'typeorm';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { Task, TaskProgress, TaskRecord } from '../../interfaces/task.interface';
import type { LibraryLogger } from '../../queue-scheduler.logger';
import type { Sql } from '../../database/sql';
import type { ClaimFilter } from '../queue-consumer';
import { lostLeaseWarning } from '../durable-queue';
import type { TaskEventStream } from '../task-events';
import { storableText } from '../json-value';
import { stackOf } from '../task-tries';
import { IdlePoll } from '../idle-poll';
import { WakeTimers } from '../wake-timers';
import { holdProcess } from '../keep-alive';
import { OutcomeBatch } from './outcome-batch';
import { emitDied } from './settle-parents';
import { cancelWithEvent, writeStarted } from './event-log';
import { type TaskRow, toRecord } from './task-rows';
import { claimRows } from './claim-rows';
import { capsOf } from './statements/claim';
import { EmptyTypes } from '../empty-types';
import { releaseClaim, setLeasesOf } from './statements/leases';
import { sweepOnce } from './lease-sweep';
import { writeProgress } from './statements/outcomes';
import { cancelRequests, recordCancelled } from './statements/tasks';

/**
 * The consumer half of the database backend: claims, the outcomes of tries,
 * the leases of the tasks this instance runs and the sweep that queues again
 * the tasks of a worker that died, with the timers that renew and sweep.
 * DatabaseQueueService is its facade for the worker pool.
 */
export class DatabaseConsumer {
  private readonly outcomes: OutcomeBatch;
  private readonly leased = new Map<string, Task>();
  /** Tries whose outcome write failed, by task id: their leases are ended at the next sweep that reaches the database. */
  private readonly unwrittenTries = new Map<string, Task>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly wakeTimers = new WakeTimers(() => this.wakeLocal(1));
  private readonly idle: IdlePoll;
  readonly emptyTypes = new EmptyTypes();
  /** The last claim filled its batch: more tasks are probably due than this instance can take. */
  private backlog = false;
  private destroyed = false;
  cancelListener?: (taskId: string) => boolean;
  /** Requests already handed to the pool, so a try is told once. */
  private readonly cancelsTold = new Set<string>();

  constructor(
    private readonly owner: string,
    private readonly sql: Sql,
    private readonly options: ResolvedOptions,
    private readonly logger: LibraryLogger,
    private readonly events: TaskEventStream,
    /** Store cleanup runs on the maintenance timers too. */
    private readonly cleanupStore: () => Promise<number>,
  ) {
    this.outcomes = new OutcomeBatch(sql, options.queue.clusterEvents, (died) => emitDied(events, died));
    this.idle = new IdlePoll(options.queue.pollIntervalMs);
  }

  /** Module destroy: no more timers, and every waiter wakes. */
  stop(): void {
    this.destroyed = true;
    this.stopMaintenance();
    this.wakeTimers.clear();
    this.idle.wakeAll();
  }

  /** Resolves once every outcome recorded so far is written. */
  drain(): Promise<void> {
    return this.outcomes.drain();
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
    every(this.options.queue.pollIntervalMs, 'cancel check', () => this.checkCancels());
    every(this.options.store.cleanupIntervalSeconds * 1000, 'store cleanup', () => this.cleanupStore());
  }

  stopMaintenance(): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
  }

  async claim(filter: ClaimFilter, limit: number): Promise<Task[]> {
    this.idle.claiming();
    const types = filter.types;
    if (types.length === 0 || limit <= 0) return [];
    const version = this.emptyTypes.version;
    const now = Date.now();
    const rows = await claimRows(this.sql, this.owner, now, now + this.options.queue.leaseMs, types, limit, this.backlog, capsOf(types, filter.remaining, limit));
    this.backlog = rows.length >= limit;
    if (filter.rateLimits) this.markEmpty(filter, rows, version);
    const claimed = rows.map(claimedTask).sort((a, b) => a.priority - b.priority || a.runAt.getTime() - b.runAt.getTime() || a.seq - b.seq);
    if (this.options.queue.clusterEvents && claimed.length) await writeStarted(this.sql, claimed);
    this.idle.claimed(claimed.length);
    // with autoStart: false nothing started the lease renewal, and a task running past leaseMs was taken from its worker
    if (claimed.length && !this.timers.length && !this.destroyed) this.startMaintenance();
    for (const task of claimed) {
      this.leased.set(task.taskId, task);
      this.events.emit('started', task);
    }
    return claimed;
  }

  /** Sleeps until a local push, or the poll time: short right after work, doubling while empty, up to queue.pollIntervalMs. */
  waitForWork(_filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void> {
    // The waiters' timers are unref'd. On MySQL and PostgreSQL the pool's sockets keep a worker process alive
    // while its queue is empty; SQLite has none, and a worker-only process exited at its first idle poll. This
    // wait holds the process (holdProcess: a ref'd handle that never fires) until it ends.
    return this.idle.wait(timeoutMs, signal).finally(holdProcess());
  }

  /** Resolves once the outcome is committed, written together with the others finishing meanwhile (see OutcomeBatch). */
  async complete(task: Task, result: unknown, durationMs: number): Promise<void> {
    // the worker pool hands over the normalised result (see TaskRunner): plain JSON, within queue.maxResultBytes
    const json = result === undefined || result === null ? null : JSON.stringify(result);
    // the lease is renewed until the outcome is written; a failed write lets it lapse, so the task is run again
    const written = await this.outcomes.record({ kind: 'succeeded', task, result: json, durationMs }).catch(this.unwritten(task)).finally(() => this.leased.delete(task.taskId));
    if (!written) return this.lostLease(task, 'succeeded');
    this.events.emit('succeeded', task, durationMs);
  }

  async fail(task: Task, error: Error, retryAt: Date | null, durationMs: number | undefined): Promise<void> {
    const [message, stack] = [storableText(error.message, 8000), stackOf(error)];
    const outcome = retryAt ? { kind: 'retrying' as const, task, error: message, stack, retryAt: retryAt.getTime(), durationMs } : { kind: 'dead' as const, task, error: message, stack, durationMs };
    const written = await this.outcomes.record(outcome).catch(this.unwritten(task)).finally(() => this.leased.delete(task.taskId));
    if (!written) return this.lostLease(task, outcome.kind);
    this.events.emit(outcome.kind, task, durationMs, error.message, retryAt ?? undefined);
    if (retryAt) this.wakeAt(retryAt);
  }

  async release(task: Task, runAt?: Date): Promise<void> {
    this.leased.delete(task.taskId);
    const { text, params } = releaseClaim(task, runAt);
    await this.sql.affected(text, params);
    if (runAt) this.wakeAt(runAt);
  }

  async progress(task: Task, value: TaskProgress): Promise<void> {
    const { text, params } = writeProgress(task, JSON.stringify(value));
    // 0 rows: the try is over or its lease was lost; its report is of no use to anyone
    if ((await this.sql.affected(text, params)) === 0) return;
    this.events.emit('progress', task, undefined, undefined, undefined, value);
  }

  /** Hands the pool the cancel requests for tries running here (a query only while some run). */
  async checkCancels(): Promise<void> {
    for (const id of this.cancelsTold) if (!this.leased.has(id)) this.cancelsTold.delete(id);
    if (this.leased.size === 0 || !this.cancelListener) return;
    const { text, params } = cancelRequests(this.owner);
    for (const { task_id: id } of await this.sql.rows<{ task_id: string }>(text, params)) {
      if (!this.leased.has(id) || this.cancelsTold.has(id)) continue;
      this.cancelsTold.add(id);
      this.cancelListener(id);
    }
  }

  /** `then`: more writes of the cancel's transaction (its flow parent's settle). */
  async cancelled(task: Task, durationMs: number, then?: (runner: QueryRunner) => Promise<void>): Promise<void> {
    this.leased.delete(task.taskId);
    this.cancelsTold.delete(task.taskId);
    if ((await cancelWithEvent(this.sql, recordCancelled(task, Date.now()), task.taskId, this.options.queue.clusterEvents, then)) === 0) return this.lostLease(task, 'cancelled');
    this.events.emit('cancelled', task, durationMs);
  }

  /** Extends the leases of the tasks this instance runs. */
  async renewLeases(): Promise<number> {
    return setLeasesOf(this.sql, this.owner, [...this.leased.keys()], Date.now() + this.options.queue.leaseMs);
  }

  /** Re-queues tasks whose lease ran out (their worker died or stalled) and purges rows past retention (see sweepOnce). */
  async sweep(): Promise<{ reclaimed: number; purged: number }> {
    await this.endUnwrittenLeases();
    const swept = await sweepOnce(this.sql, this.options, this.logger, Date.now());
    if (swept.reclaimed > 0) this.wakeLocal(swept.reclaimed);
    return swept;
  }

  /** Wakes up to `n` local waiters: tasks were pushed or queued again here. */
  wakeLocal(n: number): void {
    this.emptyTypes.clear();
    this.idle.pushed(n);
  }

  /** An outcome write failed (the database is away): its try's lease is ended once it is back, and the task runs again. */
  private unwritten(task: Task): (err: unknown) => never {
    return (err: unknown) => {
      this.unwrittenTries.set(task.taskId, task);
      throw err;
    };
  }

  /** Ends the leases of tries whose outcome could not be written, so that this sweep queues them again (as lost tries). */
  private async endUnwrittenLeases(): Promise<void> {
    if (this.unwrittenTries.size === 0) return;
    // one running here again (claimed anew by this instance) is not this try's to end
    const ids = [...this.unwrittenTries.keys()].filter((id) => !this.leased.has(id));
    await setLeasesOf(this.sql, this.owner, ids, Date.now() - 1);
    for (const id of ids) this.unwrittenTries.delete(id);
  }

  /** A delayed or retried task of this instance starts on time rather than at the next poll. */
  wakeAt(at: Date): void {
    this.wakeTimers.at(at);
  }

  /**
   * The rate-limited types this claim asked for and got none of, left out of
   * the next claims for a while (see EmptyTypes): each asks for a permit. A
   * full batch may have left some behind; they wait at most RECHECK_MS more.
   */
  private markEmpty(filter: ClaimFilter, rows: readonly TaskRow[], version: number): void {
    for (const type of filter.types) if (filter.rateLimits!.has(type) && !rows.some((r) => r.task_type === type)) this.emptyTypes.mark(type, version);
  }

  private lostLease(task: Task, outcome: string): void {
    this.logger.warn(lostLeaseWarning(task, outcome));
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
