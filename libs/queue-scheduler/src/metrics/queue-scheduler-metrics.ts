import { Inject, Injectable, OnModuleDestroy, Optional } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { type Clock, QUEUE_SCHEDULER_CLOCK, systemClock } from '../clock';
import { within } from '../deadline';
import { TaskHandlerRegistry } from '../handlers/task-handler.registry';
import type { ScheduleEvent } from '../interfaces/schedule.interface';
import type { TaskEventKind } from '../interfaces/task.interface';
import { QueueConsumer, throwIfUnreachable } from '../queue/queue-consumer';
import { type StatusCounts, TaskQueue } from '../queue/task-queue';
import { SchedulerService } from '../scheduler/scheduler.service';
import { WorkerPoolService } from '../workers/worker-pool.service';
import { DURATION_BUCKETS_MS, FixedHistogram, type HistogramSnapshot, LAG_BUCKETS_MS } from './histogram';

/**
 * Task types without a registered handler tracked one by one; further ones are counted together
 * under OTHER_TYPES, so memory stays bounded. Types with a `@TaskHandler` are always tracked one by
 * one (the code fixes how many there are), so junk pushed first cannot crowd them out.
 */
export const MAX_TRACKED_TYPES = 100;
/** How long `snapshot()` waits for the queue's counts: under Prometheus's default scrape timeout (10 s). */
export const DEFAULT_SNAPSHOT_TIMEOUT_MS = 5000;
export const OTHER_TYPES = '(other)';

/** Task events by kind. @publicApi */
export type EventCounts = Record<TaskEventKind, number>;

/** @publicApi */
export interface TaskTypeMetrics {
  /** Events of this type seen by this process. */
  events: EventCounts;
  /** Handler run time of every finished try (succeeded, retrying, dead). */
  durationMs: HistogramSnapshot;
}

/**
 * What `QueueSchedulerMetrics.snapshot()` returns. Counters and histograms
 * count what this process saw since it started (`since`); `tasksByStatus` and
 * `queueDepth` are read from the queue (on the database backend, the whole table).
 * @publicApi
 */
export interface QueueSchedulerMetricsSnapshot {
  takenAt: Date;
  /** When counting started (module start-up). */
  since: Date;
  tasksByStatus: StatusCounts;
  /** Tasks waiting, ready or delayed (`getQueueSize()`). */
  queueDepth: number;
  workers: { running: boolean; busy: number; size: number };
  /** Task events by kind, all types together. */
  events: EventCounts;
  /** Failed tries that were queued again (`retrying` events). */
  retries: number;
  /** Tasks moved to the dead-letter list (`dead` events). */
  deadLettered: number;
  schedules: {
    /** Occurrences this instance fired. */
    fired: number;
    /** Occurrences missed while no instance ran (coalesced by `fire_once` or dropped by `skip`). */
    misfires: number;
    /** Occurrences of `overlap: 'skip'` schedules dropped because the previous run was still pending or running. */
    skipped: number;
    /** Occurrences of `overlap: 'wait'` schedules folded into one run after waiting for the previous one. */
    coalesced: number;
    /** Fire time − scheduled time of each fired occurrence. */
    lagMs: HistogramSnapshot;
  };
  /** Per task type: every type with a handler, at most MAX_TRACKED_TYPES others, then OTHER_TYPES. */
  types: Record<string, TaskTypeMetrics>;
}

interface TypeStats {
  events: EventCounts;
  duration: FixedHistogram;
}

const zeroCounts = (): EventCounts => ({ queued: 0, started: 0, progress: 0, succeeded: 0, retrying: 0, dead: 0, cancelled: 0 });

/** Counts one event: a switch on the kind, cheaper per task than a property looked up by a string variable. */
function bump(counts: EventCounts, kind: TaskEventKind): void {
  switch (kind) {
    case 'queued': counts.queued++; break;
    case 'started': counts.started++; break;
    case 'progress': counts.progress++; break;
    case 'succeeded': counts.succeeded++; break;
    case 'retrying': counts.retrying++; break;
    case 'dead': counts.dead++; break;
    case 'cancelled': counts.cancelled++; break;
  }
}

/**
 * Counters and fixed-bucket histograms fed by `TaskQueue.events$` and
 * `SchedulerService.events$`: cheap enough to leave on, bounded in memory.
 * Read it with `snapshot()`, expose it however you like (JSON, Prometheus).
 * @publicApi
 */
@Injectable()
export class QueueSchedulerMetrics implements OnModuleDestroy {
  private readonly since: Date;
  private readonly events = zeroCounts();
  private readonly types = new Map<string, TypeStats>();
  /** How many entries of `types` are names without a handler (OTHER_TYPES included). */
  private unhandledTypes = 0;
  /** The type of the last event and its stats: events come in runs of one type, so most skip the map. */
  private lastType?: string;
  private lastStats?: TypeStats;
  private readonly lag = new FixedHistogram(LAG_BUCKETS_MS);
  private fired = 0;
  private misfires = 0;
  private skipped = 0;
  private coalesced = 0;
  private readonly subscriptions: Subscription[] = [];
  private readonly stopListening: () => void;
  /** The counts being read: a snapshot that times out leaves them running, and the next one waits for them rather than send more. */
  private counting?: Promise<[StatusCounts, number]>;

  constructor(
    private readonly queue: TaskQueue,
    private readonly workers: WorkerPoolService,
    private readonly handlers: TaskHandlerRegistry,
    @Optional() scheduler?: SchedulerService,
    @Optional() @Inject(QUEUE_SCHEDULER_CLOCK) private readonly clock: Clock = systemClock,
    @Optional() private readonly consumer?: QueueConsumer,
  ) {
    this.since = new Date(clock.now());
    // Subscribed at construction, before any lifecycle hook can push or fire, so no event is missed.
    // a listener, not events$: no event object is built per task for counters
    this.stopListening = queue.onEvent((kind, type, durationMs) => this.onTask(kind, type, durationMs));
    if (scheduler) this.subscriptions.push(scheduler.events$.subscribe((e) => this.onSchedule(e)));
  }

  onModuleDestroy(): void {
    this.stopListening();
    for (const s of this.subscriptions) s.unsubscribe();
  }

  /**
   * Counters, histograms and the queue's current counts, as plain data. Rejects when the queue cannot be
   * counted: at once while the Redis connection is lost, or after `timeoutMs` [5000] with no answer (a
   * database or Redis that stopped answering), so a scrape fails instead of hanging.
   */
  async snapshot(options: { timeoutMs?: number } = {}): Promise<QueueSchedulerMetricsSnapshot> {
    // checked by each snapshot, not only by the counts in flight it may join: those may wait for the reconnect
    throwIfUnreachable(this.consumer);
    const [tasksByStatus, queueDepth] = await within(options.timeoutMs ?? DEFAULT_SNAPSHOT_TIMEOUT_MS, "counting the queue's tasks", () => this.counts());
    const types: Record<string, TaskTypeMetrics> = {};
    for (const [type, stats] of this.types) types[type] = { events: { ...stats.events }, durationMs: stats.duration.snapshot() };
    return {
      takenAt: new Date(this.clock.now()),
      since: this.since,
      tasksByStatus,
      queueDepth,
      workers: { running: this.workers.running, busy: this.workers.busy, size: this.workers.size },
      events: { ...this.events },
      retries: this.events.retrying,
      deadLettered: this.events.dead,
      schedules: { fired: this.fired, misfires: this.misfires, skipped: this.skipped, coalesced: this.coalesced, lagMs: this.lag.snapshot() },
      types,
    };
  }

  private counts(): Promise<[StatusCounts, number]> {
    return (this.counting ??= Promise.all([this.queue.countByStatus(), this.queue.getQueueSize()]).finally(() => (this.counting = undefined)));
  }

  private onTask(kind: TaskEventKind, type: string, durationMs: number | undefined): void {
    bump(this.events, kind);
    // an event without a type (none is sent without one) would be counted in the totals only
    if (!type) return;
    let stats = this.lastStats;
    if (type !== this.lastType || !stats) {
      stats = this.lastStats = this.statsOf(type);
      // not cached when folded: a type seen before its handler registered (start-up) gets its own entry once it has one
      this.lastType = stats === this.types.get(type) ? type : undefined;
    }
    bump(stats.events, kind);
    if (durationMs !== undefined) stats.duration.observe(durationMs);
  }

  private onSchedule(e: ScheduleEvent): void {
    if (e.kind === 'missed') {
      this.misfires += e.missed;
      return;
    }
    if (e.kind === 'skipped') {
      if (e.overlap === 'skip') this.skipped += e.skipped;
      else this.coalesced += e.skipped;
      return;
    }
    this.fired++;
    this.lag.observe(e.at.getTime() - e.scheduledAt.getTime());
  }

  private statsOf(type: string): TypeStats {
    let stats = this.types.get(type);
    if (stats) return stats;
    const handled = this.handlers.get(type) !== undefined;
    const key = handled || this.unhandledTypes < MAX_TRACKED_TYPES ? type : OTHER_TYPES;
    stats = this.types.get(key);
    if (!stats) {
      stats = { events: zeroCounts(), duration: new FixedHistogram(DURATION_BUCKETS_MS) };
      this.types.set(key, stats);
      if (!handled) this.unhandledTypes++;
    }
    return stats;
  }
}
