import { Subject } from 'rxjs';
import type { TaskEvent, TaskEventKind, TaskProgress } from '../interfaces/task.interface';

/**
 * A cheap observer of task events: called with the bare facts, no event
 * object is built. `QueueSchedulerMetrics` counts through one, so leaving
 * metrics on costs a few counter increments per task.
 */
export type TaskEventListener = (kind: TaskEventKind, type: string, durationMs: number | undefined) => void;

/** What an event is about: a task, or the few fields a backend knows of it. */
export interface TaskEventSubject {
  readonly taskId: string;
  readonly type: string;
  readonly attempts?: number;
  readonly schedulerTaskId?: string;
  readonly scheduledAt?: Date;
}

/**
 * The task events of one queue, shared by every backend: listeners get
 * each event as arguments, and `events$` subscribers get a TaskEvent object,
 * built only while someone subscribes.
 */
export class TaskEventStream {
  private readonly subject = new Subject<TaskEvent>();
  readonly events$ = this.subject.asObservable();
  private listeners: TaskEventListener[] = [];
  /** Called with each event object (memory's cluster log): an event is built while one is set. */
  private recorder?: (event: TaskEvent) => void;
  private readonly completions: Array<() => void> = [];
  private completed = false;

  constructor(private readonly now: () => number) {}

  /** Calls `listener` on every event until the returned function is called. */
  listen(listener: TaskEventListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** Hands every later event object to `recorder` (one at a time: the memory queue's cluster log). */
  record(recorder: (event: TaskEvent) => void): void {
    this.recorder = recorder;
  }

  /** Whether an event object is wanted: by a subscriber of the stream or the cluster log. */
  get detailed(): boolean {
    return this.subject.observed || this.recorder !== undefined;
  }

  /** `emit` while no event object is wanted (not `detailed`): the listeners get what they take, no task needed. */
  counted(kind: TaskEventKind, type: string): void {
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) listeners[i](kind, type, undefined);
  }

  emit(kind: TaskEventKind, task: TaskEventSubject, durationMs?: number, error?: string, retryAt?: Date, progress?: TaskProgress): void {
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) listeners[i](kind, task.type, durationMs);
    if (!this.subject.observed && this.recorder === undefined) return;
    const event: TaskEvent = {
      kind,
      taskId: task.taskId,
      type: task.type,
      attempt: task.attempts ?? 0,
      at: new Date(this.now()),
      schedulerTaskId: task.schedulerTaskId,
      scheduledAt: task.scheduledAt,
    };
    if (durationMs !== undefined) Object.assign(event, { durationMs });
    if (error !== undefined) Object.assign(event, { error });
    if (retryAt !== undefined) Object.assign(event, { retryAt });
    if (progress !== undefined) Object.assign(event, { progress });
    this.recorder?.(event);
    this.subject.next(event);
  }

  /** Calls `fn` once, when the stream completes (module destroy), or at once if it has: the queue's one close signal. */
  onComplete(fn: () => void): void {
    if (this.completed) fn();
    else this.completions.push(fn);
  }

  complete(): void {
    this.completed = true;
    for (const fn of this.completions.splice(0)) fn();
    this.subject.complete();
    this.listeners = [];
    this.recorder = undefined;
  }
}
