import type { Task, TaskRecord, TaskStatus } from '../interfaces/task.interface';
import type { Indexed } from './task-index';
import type { Logged } from './task-log';
import type { NormalizedTask } from './task-validation';

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

export interface MemoryEntry extends Task, Indexed, Logged {
  readonly [OWNER]: object;
  status: TaskStatus;
  /** Push order (a retry is queued again: a new seq); the status API lists newest first by it. */
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

/** A new entry of `owner` for a validated push; `idSeq` is the counter of an id the index made for it, or -1. */
export function newEntry(task: NormalizedTask, now: number, idSeq: number, owner: object): MemoryEntry {
  return {
    taskId: task.taskId,
    type: task.type,
    params: task.params,
    priority: task.priority,
    runAt: task.runAt,
    runAtMs: task.runAt.getTime(),
    attempts: 0,
    maxRetries: task.maxRetries,
    schedulerTaskId: task.schedulerTaskId,
    scheduledAt: task.scheduledAt,
    createdAt: new Date(now),
    status: 'pending',
    seq: -1,
    order: 0,
    startedAtMs: NaN,
    completedAtMs: NaN,
    superseded: false,
    idSeq,
    allBlock: undefined,
    allSlot: -1,
    typeBlock: undefined,
    typeSlot: -1,
    // every field an entry will get is given here: one added later grows a property array per entry, kept alive by it
    result: undefined,
    error: undefined,
    [OWNER]: owner,
  };
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
 * Which finished tasks are remembered: the last `size` added, in a ring
 * buffer (grown as tasks finish, up to `size`), so finishing a task never
 * walks or re-allocates anything. `forget` is called with the one that falls
 * out, unless it was queued again since (a dead task retried: a new seq) and
 * so is no longer this ring's to forget.
 */
export class FinishedTasks {
  private readonly ring: MemoryEntry[] = [];
  /** The seq each entry had when added. */
  private readonly seqs: number[] = [];
  private next = 0;

  constructor(
    private readonly size: number,
    private readonly forget: (entry: MemoryEntry) => void,
  ) {}

  add(entry: MemoryEntry): void {
    if (this.ring.length < this.size) {
      this.ring.push(entry);
      this.seqs.push(entry.seq);
      return;
    }
    const oldest = this.ring[this.next];
    if (oldest.seq === this.seqs[this.next]) this.forget(oldest);
    this.ring[this.next] = entry;
    this.seqs[this.next] = entry.seq;
    this.next = this.next + 1 === this.size ? 0 : this.next + 1;
  }

  /** The entries added and not queued again since, oldest first. */
  *kept(): IterableIterator<MemoryEntry> {
    for (let i = 0; i < this.ring.length; i++) {
      const at = (this.next + i) % this.ring.length;
      if (this.ring[at].seq === this.seqs[at]) yield this.ring[at];
    }
  }
}
