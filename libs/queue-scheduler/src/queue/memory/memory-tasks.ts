import { pageOf, pageRequest } from '../task-pages';
import type { TaskStatus } from '../../interfaces/task.interface';
import { FinishedTasks } from './finished-tasks';
import type { PendingRun } from './pending-runs';
import { type MemoryEntry, toRecord } from './memory-entries';
import { ScheduleCounts } from './schedule-counts';
import { TaskIndex } from './task-index';
import { TaskListing } from './task-listing';
import { ANY_STATUS, moveStatus, statusIndex } from './task-log';
import type { ListTasksFilter, StatusCounts, TaskPage } from '../task-queue';

const PENDING = statusIndex('pending');
const RUNNING = statusIndex('running');
const FAILED = statusIndex('failed');
const SUCCEEDED = statusIndex('succeeded');
const CANCELLED = statusIndex('cancelled');
const DEAD = statusIndex('dead');
const WAITING = statusIndex('waiting');
const UNFINISHED = new Set([PENDING, RUNNING, FAILED, WAITING]);

/**
 * Every task the memory queue still knows, for the status API: by id, in
 * push order once a page asks (TaskListing), counted by status. Unfinished tasks stay
 * until they finish; of the finished, the last `historySize` succeeded or
 * cancelled ones stay, and apart from them the last `historySize` dead ones
 * (so a burst of successes never pushes out the dead ones an operator wants
 * to look at). A task forgotten is in no structure here: memory stays
 * bounded by the unfinished tasks plus twice `historySize`.
 */
export class MemoryTasks {
  private readonly byId = new TaskIndex<MemoryEntry>();
  /** The status API's logs (built when first asked for). */
  private readonly listing = new TaskListing(() => this.byId.values());
  private readonly finished: FinishedTasks;
  private readonly dead: FinishedTasks;
  /**
   * By statusIndex. pending, running and failed count the tasks in that
   * status now. succeeded and cancelled count every task that ended so in
   * this process, kept or forgotten; dead counts the tasks that ran out of
   * attempts and were not retried or pushed again while still kept.
   */
  private readonly counts = [0, 0, 0, 0, 0, 0, 0];
  private readonly unfinishedBySchedule = new ScheduleCounts();
  private seq = 0;
  /** Blocks and slots the last page read: its cost, for tests. */
  lastPageCost = 0;

  constructor(historySize: number) {
    const forget = (entry: MemoryEntry): void => this.forget(entry);
    this.finished = new FinishedTasks(historySize, forget);
    this.dead = new FinishedTasks(historySize, forget);
  }

  /** Pending, running, failed (waiting for a retry) and waiting (for their children) tasks. */
  get unfinished(): number {
    return this.counts[PENDING] + this.counts[RUNNING] + this.counts[FAILED] + this.counts[WAITING];
  }

  /** Pending, running and failed tasks pushed by schedule `scheduleId`. */
  unfinishedOf(scheduleId: string): number {
    return this.unfinishedBySchedule.of(scheduleId);
  }

  get running(): number {
    return this.counts[RUNNING];
  }

  /** A new id (see TaskIndex.newId); its counter is `lastIdSeq` until the next call. */
  newId(): string {
    return this.byId.newId();
  }

  get lastIdSeq(): number {
    return this.byId.lastSeq;
  }

  get(taskId: string): MemoryEntry | undefined {
    return this.byId.get(taskId);
  }

  /** A new entry (status pending): gets its seq, and is indexed, listed and counted. */
  add(entry: MemoryEntry): void {
    entry.seq = this.seq++;
    this.byId.set(entry);
    this.listing.list(entry);
    this.counts[statusIndex(entry.status)]++;
    this.countSchedule(entry, -1, statusIndex(entry.status));
  }

  /** The seq the next task added gets. */
  get nextSeq(): number {
    return this.seq;
  }

  /**
   * Whether a push of generated counter `idSeq` may wait in a run (see
   * PendingRun): not once the status API's logs are kept, which hold every
   * task as an object.
   */
  runnable(idSeq: number): boolean {
    return !this.listing.kept && this.byId.canHoldRun(idSeq);
  }

  /** `add` for a task appended to `run` (`runnable`), with seq `nextSeq`. */
  addToRun(run: PendingRun<MemoryEntry>, idSeq: number): void {
    this.seq++;
    this.byId.setRun(run, idSeq);
    this.counts[PENDING]++;
  }

  /** The id a run's task of counter `idSeq` was pushed with. */
  idAt(idSeq: number): string {
    return this.byId.idAt(idSeq);
  }

  /** A run's task, made: the index holds it from now on. */
  place(entry: MemoryEntry): void {
    this.byId.place(entry);
  }

  /** A finished entry whose id was pushed again: the new entry takes its place in every list. */
  supersede(entry: MemoryEntry): void {
    entry.superseded = true;
    this.listing.unlist(entry);
    if (entry.status === 'dead') this.counts[DEAD]--;
  }

  /** A finished entry deleted through the status API: out of the index and the lists now; its history ring drops it in turn. */
  remove(entry: MemoryEntry): void {
    // before supersede: a superseded entry is no longer the index's to delete
    this.byId.delete(entry);
    this.supersede(entry);
    this.forgetHeld(entry);
  }

  setStatus(entry: MemoryEntry, status: TaskStatus): void {
    const from = statusIndex(entry.status);
    const to = statusIndex(status);
    entry.status = status;
    this.counts[from]--;
    this.counts[to]++;
    this.countSchedule(entry, from, to);
    moveStatus(entry.allBlock, from, to);
    moveStatus(entry.typeBlock, from, to);
  }

  /** Queues `entry` again (a retry) with `status`: a new seq, so it lists as the newest. */
  requeue(entry: MemoryEntry, status: 'pending' | 'failed' | 'waiting'): void {
    this.listing.unlist(entry);
    this.counts[statusIndex(entry.status)]--;
    this.counts[statusIndex(status)]++;
    this.countSchedule(entry, statusIndex(entry.status), statusIndex(status));
    entry.status = status;
    entry.seq = this.seq++;
    this.listing.list(entry);
  }

  /** Ends `entry`, and unless told not to (`remember` it later) adds it to its history ring. */
  finish(entry: MemoryEntry, status: 'succeeded' | 'cancelled' | 'dead', remember = true): void {
    if (status === 'succeeded' && entry.status === 'running') return this.succeed(entry);
    this.setStatus(entry, status);
    if (remember) this.remember(entry);
  }

  /** Adds a finished entry to its history ring; what falls out of the ring is forgotten. */
  remember(entry: MemoryEntry): void {
    (entry.status === 'dead' ? this.dead : this.finished).add(entry);
  }

  /**
   * `setStatus(entry, 'running')` for a claimed task: the drain's path, with
   * the target's index known and no per-schedule count to move unless the
   * task came from a schedule.
   */
  start(entry: MemoryEntry): void {
    const from = statusIndex(entry.status);
    entry.status = 'running';
    this.counts[from]--;
    this.counts[RUNNING]++;
    if (entry.schedulerTaskId !== undefined) this.countSchedule(entry, from, RUNNING);
    moveStatus(entry.allBlock, from, RUNNING);
    moveStatus(entry.typeBlock, from, RUNNING);
  }

  /** `finish(entry, 'succeeded')` of a running task, the drain's path: both indexes known. */
  private succeed(entry: MemoryEntry): void {
    entry.status = 'succeeded';
    this.counts[RUNNING]--;
    this.counts[SUCCEEDED]++;
    if (entry.schedulerTaskId !== undefined) this.countSchedule(entry, RUNNING, SUCCEEDED);
    moveStatus(entry.allBlock, RUNNING, SUCCEEDED);
    moveStatus(entry.typeBlock, RUNNING, SUCCEEDED);
    this.finished.add(entry);
  }

  /** Newest first; the cursor is the seq of the last item, and the next page lists what is older. */
  page(filter: ListTasksFilter): TaskPage {
    const { limit, before = Infinity } = pageRequest(filter);
    const status = filter.status ? statusIndex(filter.status) : ANY_STATUS;
    const log = this.listing.log(filter.type);
    const found: MemoryEntry[] = [];
    this.lastPageCost = 0;
    // one more than the page: whether there is a next page is known without a second walk
    if (status >= 0) {
      log.page(status, before, limit + 1, found);
      this.lastPageCost = log.scanned;
    }
    return pageOf(found, limit, toRecord);
  }

  /** The dead tasks still kept, oldest death first. */
  deadTasks(): MemoryEntry[] {
    const dead: MemoryEntry[] = [];
    for (const entry of this.dead.kept()) if (entry.status === 'dead' && !entry.superseded) dead.push(entry);
    return dead;
  }

  statusCounts(): StatusCounts {
    const c = this.counts;
    return { pending: c[PENDING], running: c[RUNNING], failed: c[FAILED], succeeded: c[SUCCEEDED], cancelled: c[CANCELLED], dead: c[DEAD], waiting: c[WAITING] };
  }

  /** Entries indexed, and slots held by the logs: what memory holds, for tests. */
  get retained(): { entries: number; slots: number } {
    let entries = 0;
    for (const _ of this.byId.values()) entries++;
    return { entries, slots: this.listing.slots };
  }

  /** Moves `entry`'s count of its schedule's unfinished tasks from status `from` (-1: new) to `to`; the id is read first, most tasks have none. */
  private countSchedule(entry: MemoryEntry, from: number, to: number): void {
    const id = entry.schedulerTaskId;
    if (id === undefined) return;
    const delta = (UNFINISHED.has(to) ? 1 : 0) - (UNFINISHED.has(from) ? 1 : 0);
    if (delta === 0) return;
    this.unfinishedBySchedule.add(id, delta);
  }

  private forget(entry: MemoryEntry): void {
    // a flow child's result is its parent's input: kept past historySize for as long as its parent is known (a parent
    // of 20,000 children saw the last 1,000 in childResults(), getFlow listed as many), and forgotten with it
    const parent = entry.flow?.parent;
    if (parent !== undefined && this.byId.get(parent.taskId) === parent && this.byId.get(entry.taskId) === entry) {
      (parent.flow!.held ??= []).push(entry);
      return;
    }
    this.byId.delete(entry);
    this.listing.unlist(entry);
    this.forgetHeld(entry);
  }

  /** The children `entry` held, forgotten with it; one queued again since (a retried child) is the history's again. */
  private forgetHeld(entry: MemoryEntry): void {
    const held = entry.flow?.held;
    if (held === undefined) return;
    entry.flow!.held = undefined;
    for (const child of held) if (!UNFINISHED.has(statusIndex(child.status)) && this.byId.get(child.taskId) === child) this.forget(child);
  }
}
