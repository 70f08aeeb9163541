import { Inject, Injectable, type MessageEvent, OnModuleDestroy, OnModuleInit, Optional, ServiceUnavailableException } from '@nestjs/common';
import { finalize, interval, map, merge, type Observable, of, Subject, takeUntil } from 'rxjs';
import type { TaskEvent, TaskEventKind } from '../interfaces/task.interface';
import type { ScheduleEvent } from '../interfaces/schedule.interface';
import { TaskQueue } from '../queue/task-queue';
import { SchedulerService } from '../scheduler/scheduler.service';
import type { ResolvedDashboardOptions } from './dashboard.options';
import { RESOLVED_DASHBOARD_OPTIONS } from './dashboard.tokens';

/** Often enough that proxies with a 30-60 s idle timeout keep a quiet stream open. */
const HEARTBEAT_MS = 15_000;
export const BUCKET_SECONDS = 10;
export const BUCKETS = 30;

export interface ThroughputBucket {
  /** Start of the bucket, epoch ms. */
  start: number;
  succeeded: number;
  /** Failed tries: retried or dead. */
  failed: number;
}

/**
 * The live side of the dashboard: finished tries per 10 s over the last five
 * minutes (counted from this process's task events since boot, so a page
 * opened later still sees the recent past), and the event streams, capped at
 * `maxClients` open at once.
 */
@Injectable()
export class DashboardStreams implements OnModuleInit, OnModuleDestroy {
  private readonly buckets = new Map<number, ThroughputBucket>();
  private readonly closing$ = new Subject<void>();
  private stopCounting?: () => void;
  private clients = 0;
  private closed = false;

  constructor(
    private readonly queue: TaskQueue,
    @Inject(RESOLVED_DASHBOARD_OPTIONS) private readonly options: ResolvedDashboardOptions,
    @Optional() private readonly scheduler?: SchedulerService,
  ) {}

  onModuleInit(): void {
    // the listener form builds no event object: counting costs the queue nothing while no page is open
    this.stopCounting = this.queue.onEvent((kind) => this.count(kind));
  }

  /**
   * Ends every open stream, so app.close() does not wait on connected pages; and refuses new ones from then on:
   * a page reconnects a few seconds after its stream ends, and while the rest of the shutdown lasts (a backend
   * that is away, tasks draining) the HTTP server still takes it, and a stream opened then was never ended.
   */
  onModuleDestroy(): void {
    this.closed = true;
    this.stopCounting?.();
    this.closing$.next();
    this.closing$.complete();
  }

  get openClients(): number {
    return this.clients;
  }

  /** Oldest first, with empty buckets filled in so a chart can plot them as they are. */
  throughput(): { bucketSeconds: number; buckets: ThroughputBucket[] } {
    const last = bucketStart(this.queue.now());
    this.prune(last);
    const buckets: ThroughputBucket[] = [];
    for (let i = BUCKETS - 1; i >= 0; i--) {
      const start = last - i * BUCKET_SECONDS * 1000;
      buckets.push({ ...(this.buckets.get(start) ?? { start, succeeded: 0, failed: 0 }) });
    }
    return { bucketSeconds: BUCKET_SECONDS, buckets };
  }

  /** A `hello`, then `task` and `schedule` events as they happen; 503 past `maxClients` open streams. */
  open(): Observable<MessageEvent> {
    if (this.closed) throw new ServiceUnavailableException('the app is shutting down');
    if (this.clients >= this.options.maxClients) {
      throw new ServiceUnavailableException(`too many live dashboard streams open (maxClients ${this.options.maxClients}); close a tab or raise maxClients`);
    }
    this.clients++;
    const hello = of<MessageEvent>({ type: 'hello', data: { at: new Date(this.queue.now()).toISOString() } });
    const tasks = this.queue.events$.pipe(map((e): MessageEvent => ({ type: 'task', data: taskEventJson(e) })));
    const schedules = this.scheduler ? this.scheduler.events$.pipe(map((e): MessageEvent => ({ type: 'schedule', data: scheduleEventJson(e) }))) : of<MessageEvent>();
    const heartbeat = interval(HEARTBEAT_MS).pipe(map((): MessageEvent => ({ type: 'ping', data: '' })));
    let released = false;
    return merge(hello, tasks, schedules, heartbeat).pipe(
      takeUntil(this.closing$),
      finalize(() => {
        if (!released) this.clients--;
        released = true;
      }),
    );
  }

  private count(kind: TaskEventKind): void {
    const finished = kind === 'succeeded' ? 'succeeded' : kind === 'retrying' || kind === 'dead' ? 'failed' : null;
    if (!finished) return;
    const start = bucketStart(this.queue.now());
    let bucket = this.buckets.get(start);
    if (!bucket) {
      bucket = { start, succeeded: 0, failed: 0 };
      this.buckets.set(start, bucket);
      this.prune(start);
    }
    bucket[finished]++;
  }

  private prune(latest: number): void {
    const oldest = latest - (BUCKETS - 1) * BUCKET_SECONDS * 1000;
    for (const start of this.buckets.keys()) if (start < oldest) this.buckets.delete(start);
  }
}

function bucketStart(ms: number): number {
  return ms - (ms % (BUCKET_SECONDS * 1000));
}

/** Dates as ISO text and no undefined keys: what the browser's JSON.parse gets is what it shows. */
function taskEventJson(e: TaskEvent): Record<string, unknown> {
  return {
    kind: e.kind,
    taskId: e.taskId,
    type: e.type,
    attempt: e.attempt,
    at: e.at.toISOString(),
    ...(e.durationMs !== undefined && { durationMs: e.durationMs }),
    ...(e.error !== undefined && { error: e.error }),
    ...(e.retryAt && { retryAt: e.retryAt.toISOString() }),
    ...(e.progress !== undefined && { progress: e.progress }),
    ...(e.schedulerTaskId && { schedulerTaskId: e.schedulerTaskId }),
    ...(e.scheduledAt && { scheduledAt: e.scheduledAt.toISOString() }),
  };
}

function scheduleEventJson(e: ScheduleEvent): Record<string, unknown> {
  return JSON.parse(JSON.stringify(e)) as Record<string, unknown>;
}
