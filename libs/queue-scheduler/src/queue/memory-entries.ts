import type { Task, TaskRecord, TaskStatus } from '../interfaces/task.interface';
import type { Indexed } from './task-index';

/**
 * A task of the memory backend as it moves through the queue. Times it gets
 * while running are kept as epoch ms, not Dates: a Date per start and per
 * finish was a measurable part of the per-task cost; `toRecord` makes them
 * Dates when the status API is asked. They are NaN until set, never
 * undefined: a field that starts as a number keeps its value in place, while
 * one that starts undefined gets a new heap number on every write, which a
 * million queued entries then keep alive through every young-generation GC.
 */
/** Marks an entry with the queue that made it: a task given back to complete/fail/release is checked without a lookup. */
export const OWNER = Symbol('owner');

export interface MemoryEntry extends Task, Indexed {
  readonly [OWNER]: object;
  status: TaskStatus;
  /** Push order: the status API lists newest first by it. */
  seq: number;
  /** When it became ready: FIFO within a priority, across types. */
  order: number;
  /** `runAt` as epoch ms, for the delayed heap. */
  runAtMs: number;
  /** NaN until claimed. */
  startedAtMs: number;
  /** NaN until finished. */
  completedAtMs: number;
  error?: string;
  result?: unknown;
}

const date = (ms: number): Date | undefined => (Number.isNaN(ms) ? undefined : new Date(ms));

export function toRecord(entry: MemoryEntry): TaskRecord {
  return {
    taskId: entry.taskId,
    type: entry.type,
    params: entry.params,
    priority: entry.priority,
    runAt: entry.runAt,
    attempts: entry.attempts,
    maxRetries: entry.maxRetries,
    schedulerTaskId: entry.schedulerTaskId,
    scheduledAt: entry.scheduledAt,
    createdAt: entry.createdAt,
    status: entry.status,
    startedAt: date(entry.startedAtMs),
    completedAt: date(entry.completedAtMs),
    error: entry.error,
    result: entry.result,
  };
}

/**
 * Which finished tasks are remembered: the last `size`, in a ring buffer, so
 * finishing a task never walks or re-allocates anything. `forget` is called
 * with the one that falls out.
 */
export class FinishedTasks {
  private readonly ring: Array<MemoryEntry | undefined>;
  private next = 0;

  constructor(
    size: number,
    private readonly forget: (entry: MemoryEntry) => void,
  ) {
    this.ring = new Array<MemoryEntry | undefined>(size);
  }

  add(entry: MemoryEntry): void {
    const oldest = this.ring[this.next];
    if (oldest) this.forget(oldest);
    this.ring[this.next] = entry;
    this.next = this.next + 1 === this.ring.length ? 0 : this.next + 1;
  }
}
