import type { Task, TaskProgress, TaskRecord, TaskStatus } from '../../interfaces/task.interface';
import type { ChildFailurePolicy } from '../../interfaces/flow.interface';
import { EntryExtras, type Failures } from './memory-entry-extras';
import type { Indexed } from './task-index';
import type { LogBlock, Logged } from './task-log';
import type { NormalizedTask } from '../task-validation';

export type { Failures } from './memory-entry-extras';

/**
 * A flow task's links (see memory-flows.ts), in one object so a task outside
 * any flow carries a single undefined field.
 */
export interface FlowLinks {
  /** Undefined on the root, and once let go of (a flow occurrence's old children when a new tree takes its root's id). */
  parent: MemoryEntry | undefined;
  /** How the parent treats this task's failure. */
  readonly policy: ChildFailurePolicy;
  /** Its end was counted off the parent's `pending` (succeeded, or failed under 'ignore' / 'continue'). */
  counted: boolean;
  /** A parent's children in input order; undefined on a leaf. */
  readonly children: MemoryEntry[] | undefined;
  /** Children not counted yet. */
  pending: number;
  /** The child whose failure (under 'fail') made it dead: retrying that child re-arms it. */
  failedBy: MemoryEntry | undefined;
  /** Its finished children the history passed while it had not ended: kept until it is forgotten itself (see MemoryTasks.forget). */
  held?: MemoryEntry[];
}

/**
 * A task of the memory backend as it moves through the queue; the object a
 * handler gets as `ctx.task`. Times are kept as epoch ms, not Dates: a Date
 * is about 90 bytes, and every byte a queued task holds is copied by each
 * young-generation GC it survives, which made two Dates per push a large
 * part of the push's cost. `runAt` and `createdAt` are Dates made when read.
 * Every field is set in the constructor, so a million entries share one
 * shape and a later write never grows an entry.
 *
 * The four times are stored as ms since TIME_BASE, undefined while unset,
 * and read through the `*Ms` accessors as epoch ms (NaN while unset). An
 * epoch-ms number (or a NaN) in a field is a double, which V8 keeps in a heap
 * number of its own, four per entry: 64 of the entry's ~330 bytes, four more
 * objects per task for every GC to mark behind a backlog, and four
 * allocations per push. An offset within 24 days of the start is a small
 * integer kept in the field itself; any other value (a fake clock, a
 * fractional delay) is still stored exactly, only boxed as before.
 */
export class MemoryEntry implements Task, Indexed, Logged {
  readonly taskId: string;
  readonly type: string;
  /** Replaced by a debounced push while pending (see SingletonSlots). */
  params: unknown;
  readonly priority: number;
  private runAtOffset: number | undefined;
  attempts = 0;
  readonly maxRetries?: number;
  readonly schedulerTaskId?: string;
  readonly scheduledAt?: Date;
  private readonly createdAtOffset: number | undefined;
  status: TaskStatus = 'pending';
  /** Push order (a retry is queued again: a new seq); the status API lists newest first by it. */
  seq = -1;
  /** When it became ready: FIFO within a priority, across types. */
  order = 0;
  private startedAtOffset: number | undefined = undefined;
  private completedAtOffset: number | undefined = undefined;
  idSeq: number;
  /** The fields below `extras` stands for, made on the first write of a value other than the default. */
  private extras: EntryExtras<FlowLinks> | undefined = undefined;
  /** Where it sits in the delayed heap (-1: not delayed), so a cancel takes it out in O(log n). */
  heapIndex = -1;
  readonly traceContext: string | undefined;
  /** The queue that made it: a task given back to complete/fail/release is checked without a lookup. */
  readonly owner: object;

  /** A new entry of `owner` for a validated push; `idSeq` is the counter of an id the index made for it, or -1. */
  constructor(task: NormalizedTask, now: number, idSeq: number, owner: object) {
    this.taskId = task.taskId;
    this.type = task.type;
    this.params = task.params;
    this.priority = task.priority;
    this.runAtOffset = offset(task.runAtMs);
    this.maxRetries = task.maxRetries;
    this.schedulerTaskId = task.schedulerTaskId;
    this.scheduledAt = task.scheduledAt;
    if (task.singleton !== undefined) this.more().singletonKey = task.singleton.key;
    this.traceContext = task.traceContext;
    this.createdAtOffset = offset(now);
    this.idSeq = idSeq;
    this.owner = owner;
  }

  get allBlock(): LogBlock | undefined { return this.extras?.allBlock; }
  set allBlock(v: LogBlock | undefined) { if (v !== undefined || this.extras !== undefined) this.more().allBlock = v; }
  get allSlot(): number { return this.extras === undefined ? -1 : this.extras.allSlot; }
  set allSlot(v: number) { if (v !== -1 || this.extras !== undefined) this.more().allSlot = v; }
  get typeBlock(): LogBlock | undefined { return this.extras?.typeBlock; }
  set typeBlock(v: LogBlock | undefined) { if (v !== undefined || this.extras !== undefined) this.more().typeBlock = v; }
  get typeSlot(): number { return this.extras === undefined ? -1 : this.extras.typeSlot; }
  set typeSlot(v: number) { if (v !== -1 || this.extras !== undefined) this.more().typeSlot = v; }
  get error(): string | undefined { return this.extras?.error; }
  set error(v: string | undefined) { if (v !== undefined || this.extras !== undefined) this.more().error = v; }
  /** Undefined until a try fails (see Failures). */
  get failures(): Failures | undefined { return this.extras?.failures; }
  set failures(v: Failures | undefined) { if (v !== undefined || this.extras !== undefined) this.more().failures = v; }
  get result(): unknown { return this.extras?.result; }
  set result(v: unknown) { if (v !== undefined || this.extras !== undefined) this.more().result = v; }
  get progress(): TaskProgress | undefined { return this.extras?.progress; }
  set progress(v: TaskProgress | undefined) { if (v !== undefined || this.extras !== undefined) this.more().progress = v; }
  /** In a flow: its parent and children; undefined for every other task (the one check a task's end makes). */
  get flow(): FlowLinks | undefined { return this.extras?.flow; }
  set flow(v: FlowLinks | undefined) { if (v !== undefined || this.extras !== undefined) this.more().flow = v; }

  get singletonKey(): string | undefined { return this.extras?.singletonKey; }
  get superseded(): boolean { return this.extras !== undefined && this.extras.superseded; }
  set superseded(v: boolean) { if (v || this.extras !== undefined) this.more().superseded = v; }

  private more(): EntryExtras<FlowLinks> {
    return (this.extras ??= new EntryExtras<FlowLinks>());
  }

  /** Not before this, epoch ms. */
  get runAtMs(): number {
    return epochMs(this.runAtOffset);
  }

  /**
   * The delayed heap's key, in runAtMs's order: the offset, a small integer. runAtMs is a double, and the
   * heap's loop boxed it on every read (a tenth of the garbage of 10,000 schedules a second).
   */
  get runAtKey(): number { return this.runAtOffset ?? NaN; }

  set runAtMs(ms: number) {
    this.runAtOffset = offset(ms);
  }

  get createdAtMs(): number {
    return epochMs(this.createdAtOffset);
  }

  /** NaN until claimed. */
  get startedAtMs(): number {
    return epochMs(this.startedAtOffset);
  }

  set startedAtMs(ms: number) {
    this.startedAtOffset = offset(ms);
  }

  /** NaN until finished; whole ms (it is read only as a Date, which drops the fraction a run's duration gives it). */
  get completedAtMs(): number {
    return epochMs(this.completedAtOffset);
  }

  set completedAtMs(ms: number) {
    this.completedAtOffset = offset(Math.trunc(ms));
  }

  get runAt(): Date { return new Date(this.runAtMs); }
  set runAt(at: Date) { this.runAtMs = at.getTime(); }

  get createdAt(): Date {
    return new Date(this.createdAtMs);
  }

  /** `Task.parentId`, read off the flow links: a handler's `ctx.task` names its parent on every backend. */
  get parentId(): string | undefined {
    return this.flow?.parent?.taskId;
  }

  /** What `JSON.stringify(ctx.task)` writes: the task, not the queue's bookkeeping (which refers back to it). */
  toJSON(): Task {
    return {
      taskId: this.taskId,
      type: this.type,
      params: this.params,
      priority: this.priority,
      runAt: this.runAt,
      attempts: this.attempts,
      maxRetries: this.maxRetries,
      schedulerTaskId: this.schedulerTaskId,
      scheduledAt: this.scheduledAt,
      createdAt: this.createdAt,
      traceContext: this.traceContext,
      parentId: this.parentId,
    };
  }
}

/**
 * Where MemoryEntry's times count from: this module's load, in whole ms, so
 * the offsets of the next 2^31 ms (24 days) are small integers.
 */
const TIME_BASE = Date.now();

/** Epoch ms as stored on an entry: undefined for NaN (unset). */
function offset(ms: number): number | undefined {
  return Number.isNaN(ms) ? undefined : ms - TIME_BASE;
}

function epochMs(offset: number | undefined): number {
  return offset === undefined ? NaN : offset + TIME_BASE;
}

/** Still holds its id: a push of the same id is not queued twice. */
export function isUnfinished(entry: MemoryEntry): boolean {
  return entry.status === 'pending' || entry.status === 'running' || entry.status === 'failed' || entry.status === 'waiting';
}

const date = (ms: number): Date | undefined => (Number.isNaN(ms) ? undefined : new Date(ms));

/** A JSON value the entry keeps, as a copy (the same a durable backend parses): a caller changing a record changes no task. */
const copy = <T>(value: T): T => (value === null || typeof value !== 'object' ? value : JSON.parse(JSON.stringify(value)));

export function toRecord(entry: MemoryEntry): TaskRecord {
  return {
    taskId: entry.taskId,
    type: entry.type,
    params: copy(entry.params),
    priority: entry.priority,
    runAt: new Date(entry.runAtMs),
    attempts: entry.attempts,
    maxRetries: entry.maxRetries,
    schedulerTaskId: entry.schedulerTaskId,
    scheduledAt: entry.scheduledAt,
    createdAt: new Date(entry.createdAtMs),
    status: entry.status,
    singletonKey: entry.singletonKey,
    startedAt: date(entry.startedAtMs),
    completedAt: date(entry.completedAtMs),
    error: entry.error,
    errorStack: entry.failures?.stack,
    result: copy(entry.result),
    progress: copy(entry.progress),
    traceContext: entry.traceContext,
    parentId: entry.flow?.parent?.taskId,
  };
}
