import { Inject, Injectable, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { setImmediate as realSetImmediate } from 'node:timers';
import { isDeepStrictEqual } from 'node:util';
import type { Subscription } from 'rxjs';
import { QUEUE_SCHEDULER_CLOCK } from '../clock';
import type { TaskStatus } from '../interfaces/task.interface';
import { MemoryQueueService } from '../queue/memory/memory-queue.service';
import { SchedulerService } from '../scheduler/scheduler.service';
import { WorkerPoolService } from '../workers/worker-pool.service';
import { VirtualClock } from './virtual-clock';
import { describeValue, InvalidArgumentError, QueueClosedError, QueueSchedulerError } from '../errors/errors';

/** One try of a task, as the tester saw it. @publicApi */
export interface TaskRun {
  taskId: string;
  type: string;
  params: unknown;
  attempt: number;
  outcome: Extract<TaskStatus, 'succeeded' | 'failed' | 'dead'>;
  /** The virtual time the try ended. */
  at: Date;
  error?: string | undefined;
  result?: unknown | undefined;
  /** Set on a schedule's occurrences. */
  schedulerTaskId?: string | undefined;
  scheduledAt?: Date | undefined;
}

/** A guard against a drive that never settles (e.g. a handler that re-queues itself at the same instant forever). */
const MAX_STEPS = 1_000_000;

/**
 * Drives the module on the virtual clock and records every task try.
 * Get it from the testing module: `moduleRef.get(QueueSchedulerTester)`.
 * @publicApi
 */
@Injectable()
export class QueueSchedulerTester implements OnModuleInit, OnModuleDestroy {
  private readonly log: TaskRun[] = [];
  private subscription?: Subscription;

  constructor(
    @Inject(QUEUE_SCHEDULER_CLOCK) readonly clock: VirtualClock,
    private readonly queue: MemoryQueueService,
    private readonly workers: WorkerPoolService,
    @Optional() private readonly scheduler?: SchedulerService,
  ) {
    // before init the workers and the scheduler are not running: an advance would move time and silently run nothing
    clock.detach(() => new QueueSchedulerError('the testing module has not started: call moduleRef.init() (or app.init()) before moving its clock'));
  }

  onModuleInit(): void {
    this.clock.attach((target) => this.runUntil(target));
    this.subscription = this.queue.events$.subscribe((e) => {
      if (e.kind !== 'succeeded' && e.kind !== 'retrying' && e.kind !== 'dead') return;
      const record = this.queue.getTask(e.taskId);
      this.log.push({
        taskId: e.taskId,
        type: e.type,
        params: record.params,
        attempt: e.attempt,
        outcome: e.kind === 'retrying' ? 'failed' : e.kind,
        at: new Date(this.clock.now()),
        error: e.error,
        result: e.kind === 'succeeded' ? record.result : undefined,
        schedulerTaskId: e.schedulerTaskId,
        scheduledAt: e.scheduledAt,
      });
    });
  }

  onModuleDestroy(): void {
    this.clock.detach(() => new QueueClosedError(undefined, 'the testing module is closed: its clock cannot run anything after moduleRef.close()'));
    this.subscription?.unsubscribe();
  }

  /** `clock.advance(ms)`. */
  advance(ms: number): Promise<void> {
    return this.clock.advance(ms);
  }

  /** `clock.advanceTo(date)`. */
  advanceTo(to: Date | number): Promise<void> {
    return this.clock.advanceTo(to);
  }

  /** Runs every task that is due now (and what those push), without moving time. */
  drain(): Promise<void> {
    return this.clock.advance(0);
  }

  /** Every try so far, in the order they ended; with `type`, of that type only. */
  runs(type?: string): TaskRun[] {
    return type === undefined ? [...this.log] : this.log.filter((r) => r.type === type);
  }

  /** Successful runs of `type`, optionally only those whose params contain `params` (a deep partial match). */
  succeeded(type: string, params?: Record<string, unknown>): TaskRun[] {
    return this.log.filter((r) => r.type === type && r.outcome === 'succeeded' && (params === undefined || contains(r.params, params)));
  }

  /**
   * Throws unless a task of `type` succeeded with params containing `params`
   * (`times` of them when given). The message lists what did run.
   */
  expectRan(type: string, params?: Record<string, unknown>, times?: number): TaskRun[] {
    if (times !== undefined && !(Number.isSafeInteger(times) && times >= 0)) throw new InvalidArgumentError('times', `times must be a whole number >= 0, got ${describeValue(times)}`);
    const hits = this.succeeded(type, params);
    const ok = times === undefined ? hits.length > 0 : hits.length === times;
    if (!ok) {
      const want = `${times === undefined ? 'at least one' : times} successful run(s) of '${type}'${params ? ` with params containing ${JSON.stringify(params)}` : ''}`;
      const seen = this.log.map((r) => `  ${r.at.toISOString()} ${r.type} ${r.outcome} ${JSON.stringify(r.params)}`).join('\n') || '  (nothing ran)';
      throw new Error(`expected ${want}, found ${hits.length}. Tries so far:\n${seen}`);
    }
    return hits;
  }

  /** Forgets the recorded tries (the queue and schedules are untouched). */
  clearRuns(): void {
    this.log.length = 0;
  }

  /** Steps time to each due moment up to `target`: fire schedules, promote delayed tasks, run them. */
  private async runUntil(target: number): Promise<void> {
    for (let step = 0; step < MAX_STEPS; step++) {
      const nextSchedule = this.scheduler ? await this.scheduler.runDue() : null;
      this.queue.promoteDelayed();
      await this.settle();
      const nextTask = this.queue.nextDelayedAt();
      // ready tasks a rate limit holds back start when their window ends: a moment to step to, like a due task
      const windowEnd = this.workers.running ? this.queue.whenClaimable(this.workers.claimFilter) : Infinity;
      const candidates = [nextSchedule, nextTask, windowEnd > this.clock.now() && windowEnd !== Infinity ? windowEnd : null].filter((t): t is number => t !== null);
      const next = candidates.length ? Math.min(...candidates) : null;
      if (next === null || next > target) {
        if (this.clock.now() >= target) return;
        this.clock.set(target);
        continue; // fire what is due exactly at the target, then stop
      }
      if (next > this.clock.now()) this.clock.set(next);
    }
    throw new Error(`the virtual clock did not settle after ${MAX_STEPS} steps: something is due again at ${new Date(this.clock.now()).toISOString()} every time it runs`);
  }

  /**
   * Waits until no task is running and the workers can start no ready task now: one of a paused type, or held back by
   * its rate limit, waits (waiting for it to start hung the test). Node's own setImmediate, not the global: under
   * Jest's fake timers the global one never fired, and the first advance() hung.
   */
  private async settle(): Promise<void> {
    const canRun = this.workers.running;
    const startable = (): boolean => this.queue.getReadyCount() > 0 && this.queue.whenClaimable(this.workers.claimFilter) <= this.clock.now();
    while (this.queue.getRunningCount() > 0 || (canRun && startable())) {
      await new Promise((resolve) => realSetImmediate(resolve));
    }
  }
}

/** Deep partial match: every key of `expected` is in `actual` with an equal value (objects matched recursively). */
function contains(actual: unknown, expected: unknown): boolean {
  if (expected === null || typeof expected !== 'object' || Array.isArray(expected)) return isDeepStrictEqual(actual, expected);
  if (actual === null || typeof actual !== 'object') return false;
  return Object.entries(expected).every(([k, v]) => contains((actual as Record<string, unknown>)[k], v));
}
