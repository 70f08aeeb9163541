import { Controller, type MessageEvent, OnModuleDestroy, Sse } from '@nestjs/common';
import { interval, map, merge, type Observable, of, Subject, takeUntil } from 'rxjs';
import { type TaskEvent, TaskQueue } from 'nestjs-queue-scheduler';

/** Often enough that proxies with a 30-60 s idle timeout keep a quiet stream open. */
const HEARTBEAT_MS = 15_000;

/**
 * GET /api/events: the queue's `events$` as Server-Sent Events, one `task`
 * event per lifecycle change, after a `hello` that tells the client the
 * stream is open.
 */
@Controller('events')
export class EventsController implements OnModuleDestroy {
  /** Ends every open stream on shutdown, so app.close() does not wait on connected dashboards. */
  private readonly closing$ = new Subject<void>();

  constructor(private readonly queue: TaskQueue) {}

  @Sse()
  events(): Observable<MessageEvent> {
    const hello = of<MessageEvent>({ type: 'hello', data: { at: new Date().toISOString() } });
    const tasks = this.queue.events$.pipe(map((event): MessageEvent => ({ type: 'task', data: toJson(event) })));
    const heartbeat = interval(HEARTBEAT_MS).pipe(map((): MessageEvent => ({ comment: 'keep-alive' })));
    return merge(hello, tasks, heartbeat).pipe(takeUntil(this.closing$));
  }

  onModuleDestroy(): void {
    this.closing$.next();
    this.closing$.complete();
  }
}

/** Dates as ISO text and no undefined keys: what a browser's JSON.parse gets is what it shows. */
function toJson(event: TaskEvent): Record<string, unknown> {
  return {
    kind: event.kind,
    taskId: event.taskId,
    type: event.type,
    attempt: event.attempt,
    at: event.at.toISOString(),
    ...(event.durationMs !== undefined ? { durationMs: event.durationMs } : {}),
    ...(event.error !== undefined ? { error: event.error } : {}),
    ...(event.retryAt ? { retryAt: event.retryAt.toISOString() } : {}),
    ...(event.schedulerTaskId ? { schedulerTaskId: event.schedulerTaskId } : {}),
  };
}
