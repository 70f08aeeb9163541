import { emptyObject } from '../json-value';
import { MemoryEntry } from './memory-entries';
import type { MemoryTasks } from './memory-tasks';
import { PendingRun, type RunMaker } from './pending-runs';
import type { TaskEventStream } from '../task-events';
import { type NormalizedTask, normalizePush } from '../task-validation';
import type { WaitingTasks } from './waiting-tasks';

/** A validated plain push of a batch, kept until every input of the batch is valid (see pushTasks). */
export class PlainPush {
  constructor(
    readonly taskId: string,
    readonly type: string,
    readonly params: unknown,
    readonly priority: number,
    readonly idSeq: number,
  ) {}
}

/**
 * Whether a validated push is plain as far as its own fields go: an id made
 * for it (counter `idSeq`), ready at once, no key, retry limit, schedule or
 * trace. Those go in runs (see PendingRun); the queue's tracing is the
 * caller's to check.
 */
export function isPlain(task: NormalizedTask, now: number, idSeq: number): boolean {
  return (
    idSeq >= 0 &&
    task.runAtMs === now &&
    task.singleton === undefined &&
    task.maxRetries === undefined &&
    task.schedulerTaskId === undefined &&
    task.scheduledAt === undefined &&
    task.traceContext === undefined
  );
}

/** What a run keeps of a plain push's params: undefined for none given, whose `{}` is made with the task. */
export function plainParams(task: NormalizedTask): unknown {
  return task.noParams ? undefined : task.params;
}

/**
 * The memory queue's plain pushes: appended to the open run while each
 * continues it, or a new run. While the task event stream has a subscriber
 * (each push is an event object naming the task), the status API's logs
 * are kept or a consumer sleeps for work, a plain push is queued as an
 * entry, as every other push is.
 */
export class PlainPushes {
  private open: PendingRun<MemoryEntry> | undefined;
  /** What a run's task is made from: not the queue's push scratch, which a lookup during a push may need made. */
  private readonly scratch = normalizePush({ type: 'scratch' }, Infinity, 0, () => 'scratch');
  private readonly make: RunMaker<MemoryEntry> = (run, at) => this.made(run, at);

  constructor(
    private readonly tasks: MemoryTasks,
    private readonly waiting: WaitingTasks,
    private readonly events: TaskEventStream,
    private readonly owner: object,
    /** Queues an entry of a made id the usual way. */
    private readonly queueEntry: (entry: MemoryEntry, now: number) => void,
  ) {}

  /**
   * Queues a plain push (`isPlain`) and returns its id. `params` is the
   * normalised params, or undefined for a push that gave none: its `{}` is
   * made with the task, so a backlog of such pushes holds no object per task
   * (each would be one more object for every full GC to mark).
   */
  push(taskId: string, type: string, params: unknown, priority: number, idSeq: number, now: number): string {
    // a sleeping consumer takes this task next: a run made for it alone would be made into its entry at once
    if (this.events.detailed || this.waiting.sleepers || !this.tasks.runnable(idSeq)) {
      this.queueEntry(new MemoryEntry(this.fill(taskId, type, params === undefined ? emptyObject() : params, priority, now), now, idSeq, this.owner), now);
      return taskId;
    }
    const seq = this.tasks.nextSeq;
    const order = this.waiting.nextOrder;
    let run = this.open;
    const fresh = run === undefined || !run.continues(type, priority, idSeq, seq, order);
    if (fresh) run = this.open = new PendingRun(type, priority, idSeq, seq, order, now, params, this.make);
    else run!.append(now, params);
    this.tasks.addToRun(run!, idSeq);
    this.events.counted('queued', type);
    this.waiting.addToRun(run!, fresh);
    return taskId;
  }

  /** The task at `at` of `run` as the entry a push would have made, in its index slot from now on. */
  private made(run: PendingRun<MemoryEntry>, at: number): MemoryEntry {
    const idSeq = run.firstIdSeq + at;
    const createdAt = run.createdAt[at];
    const params = run.params[at];
    const entry = new MemoryEntry(this.fill(this.tasks.idAt(idSeq), run.type, params === undefined ? emptyObject() : params, run.priority, createdAt), createdAt, idSeq, this.owner);
    entry.seq = run.firstSeq + at;
    entry.order = run.firstOrder + at;
    this.tasks.place(entry);
    return entry;
  }

  private fill(taskId: string, type: string, params: unknown, priority: number, now: number): NormalizedTask {
    const s = this.scratch;
    s.taskId = taskId;
    s.generatedId = true;
    s.type = type;
    s.params = params;
    s.priority = priority;
    s.runAtMs = now;
    return s;
  }
}
