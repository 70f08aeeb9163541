import type { MemoryEntry } from './memory-entries';
import { TaskLog } from './task-log';

/** Type logs kept at once: a dashboard filters by a handful of types, not by thousands. */
const MAX_TYPE_LOGS = 32;

/**
 * MemoryTasks' entries for the status API's pages: in seq order, all of them
 * and per type, each log built when a page first asks for it and kept up to
 * date from then on.
 */
export class TaskListing {
  /**
   * Every entry in seq order, built on the first page asked for (from the
   * index, see allLog) and kept up to date from then on: an app that never
   * lists tasks never pays for it, and keeping it (append, a count moved on
   * each claim and end, a removal per task forgotten) was a sixth of the
   * memory queue's claim + complete.
   */
  private all: TaskLog<MemoryEntry> | undefined;
  /**
   * A log per type that a page filtered by type asked for, built then from
   * `all` (one walk) and kept up to date from then on: most apps never list
   * by type, and a second log kept for every task was a tenth of the drain's
   * cost. At most MAX_TYPE_LOGS types, the least recently asked dropped.
   */
  private readonly byType = new Map<string, TaskLog<MemoryEntry>>();

  /** `entries`: every entry the queue knows (the index), for the log of all when first built. */
  constructor(private readonly entries: () => Iterable<MemoryEntry>) {}

  /** The log a page reads: of `type`, or of every entry. */
  log(type: string | undefined): TaskLog<MemoryEntry> {
    return type ? this.typeLog(type) : this.allLog();
  }

  /** Whether the logs are kept (a page was asked for): every task is then listed as it is pushed. */
  get kept(): boolean {
    return this.all !== undefined;
  }

  /** Slots held by the logs: memory, for tests. */
  get slots(): number {
    return (this.all?.slots ?? 0) + [...this.byType.values()].reduce((n, log) => n + log.slots, 0);
  }

  list(entry: MemoryEntry): void {
    // no type log without the log of all: one check while nobody lists
    if (this.all === undefined) return;
    this.all.append(entry);
    if (this.byType.size === 0) return;
    this.byType.get(entry.type)?.append(entry);
  }

  unlist(entry: MemoryEntry): void {
    entry.allBlock?.log.remove(entry);
    entry.typeBlock?.log.remove(entry);
  }

  /** The log of `type`, built from `all` when first asked for; the most recently asked types stay at the map's end. */
  private typeLog(type: string): TaskLog<MemoryEntry> {
    let log = this.byType.get(type);
    if (log) {
      this.byType.delete(type);
    } else {
      log = new TaskLog<MemoryEntry>('type');
      for (const entry of this.allLog().oldestFirst()) if (entry.type === type) log.append(entry);
      if (this.byType.size >= MAX_TYPE_LOGS) this.dropTypeLog(this.byType.keys().next().value!);
    }
    this.byType.set(type, log);
    return log;
  }

  /**
   * The log of every entry, built when first asked for: the index holds
   * exactly the entries the log would (a superseded, removed or forgotten
   * one is in neither), mostly in seq order already (generated ids are in
   * push order), which the sort's runs take in about one pass.
   */
  private allLog(): TaskLog<MemoryEntry> {
    if (this.all !== undefined) return this.all;
    const entries = [...this.entries()].sort((a, b) => a.seq - b.seq);
    const log = new TaskLog<MemoryEntry>('all');
    for (const entry of entries) log.append(entry);
    return (this.all = log);
  }

  private dropTypeLog(type: string): void {
    const log = this.byType.get(type)!;
    this.byType.delete(type);
    for (const entry of log.oldestFirst()) {
      entry.typeBlock = undefined;
      entry.typeSlot = -1;
    }
  }
}
