import type { TaskStatus } from '../../interfaces/task.interface';
import { Deque } from '../deque';

/** Slots per block. */
const BLOCK = 64;
/** The counts index of "any status". */
export const ANY_STATUS = 7;

/** A status's index in the per-block counts; -1 for a string that is no status. */
export function statusIndex(status: string): number {
  // a switch on interned strings is pointer compares: cheaper than a keyed lookup on every status change
  switch (status) {
    case 'pending': return 0;
    case 'running': return 1;
    case 'failed': return 2;
    case 'succeeded': return 3;
    case 'cancelled': return 4;
    case 'dead': return 5;
    case 'waiting': return 6;
    default: return -1;
  }
}

export interface LogBlock {
  readonly log: TaskLog<Logged>;
  readonly entries: Array<Logged | undefined>;
  /** Slots written so far; a block is filled once, in seq order, and never reused. */
  used: number;
  /** The seq of its first slot: blocks are in seq order, so a cursor finds its block by binary search. */
  readonly firstSeq: number;
  /** Entries in the block by statusIndex, and in all (ANY_STATUS). */
  readonly counts: number[];
}

/** What a log holds: where an entry sits is kept on the entry, one place per log it can be in. */
export interface Logged {
  seq: number;
  status: TaskStatus;
  allBlock: LogBlock | undefined;
  allSlot: number;
  typeBlock: LogBlock | undefined;
  typeSlot: number;
}

/**
 * An entry changed status: keeps the counts of the block it sits in (none:
 * not in that log). Twice per task on the drain's path (claimed, ended): the
 * log keeps no totals by status for it to move as well, which was a tenth of
 * the memory queue's claim + complete.
 */
export function moveStatus(block: LogBlock | undefined, from: number, to: number): void {
  if (block === undefined) return;
  const counts = block.counts;
  counts[from]--;
  counts[to]++;
}

/**
 * Entries in seq order (the order they were pushed or queued again), for
 * the status API's pages, newest first. Appending (a new seq is always the
 * highest) and removing (the entry knows its block and slot) are O(1); a
 * status change only moves two counts (moveStatus). Slots are grouped in
 * blocks of 64 that count their entries by status, so a page skips a block
 * with nothing it wants in one read:
 *
 * - a cursor (a seq, not an offset: a page stays put while tasks come and go
 *   above it) finds its block by binary search, O(log n), and reads at most
 *   the 63 slots of that block above it;
 * - no status wanted: O(limit) slots, plus holes left by removed entries,
 *   which empty blocks never cost (skipped; dropped from the front; the whole
 *   log rebuilt once it holds over twice the slots it has entries);
 * - a status wanted: O(limit) slots in at most limit + 1 blocks holding one,
 *   plus one read per block between them that holds none: a status rare among
 *   n entries costs up to n / 64 reads per page (15,625 for a million), never
 *   a read of the entries themselves (a page with fewer matches than its limit
 *   reads every block below its start: the log keeps no totals by status to
 *   stop at the last match, see moveStatus). A type wanted is a log of its own
 *   (MemoryTasks builds one on the first page filtered by that type).
 */
export class TaskLog<T extends Logged> {
  private blocks = new Deque<LogBlock>();
  private tail: LogBlock | undefined;
  /** Entries in the log. */
  private live = 0;
  /** Blocks and slots the last page read: what a page costs, for tests. */
  scanned = 0;

  constructor(private readonly place: 'all' | 'type') {}

  get size(): number {
    return this.live;
  }

  /** Entries with statusIndex `status` (ANY_STATUS: all): a read per block, for tests. */
  count(status: number): number {
    let n = 0;
    for (const block of this.blocks.values()) n += block.counts[status];
    return n;
  }

  /** Slots held, entries or holes: memory, for tests. */
  get slots(): number {
    return this.blocks.size * BLOCK;
  }

  /** Adds `entry` as the newest: its seq must be above every seq already added. */
  append(entry: T): void {
    let block = this.tail;
    if (block === undefined || block.used === BLOCK) {
      block = { log: this as TaskLog<Logged>, entries: new Array<Logged | undefined>(BLOCK), used: 0, firstSeq: entry.seq, counts: [0, 0, 0, 0, 0, 0, 0, 0] };
      this.blocks.push(block);
      this.tail = block;
    }
    const slot = block.used++;
    block.entries[slot] = entry;
    const status = statusIndex(entry.status);
    block.counts[status]++;
    block.counts[ANY_STATUS]++;
    this.live++;
    this.setPlace(entry, block, slot);
  }

  /** Takes `entry` out; nothing when it is not in this log. */
  remove(entry: T): void {
    // every forgotten task passes here (once per task finished past historySize): one branch on the place, not three
    let block: LogBlock | undefined;
    if (this.place === 'all') {
      block = entry.allBlock;
      if (block === undefined) return;
      block.entries[entry.allSlot] = undefined;
      entry.allBlock = undefined;
      entry.allSlot = -1;
    } else {
      block = entry.typeBlock;
      if (block === undefined) return;
      block.entries[entry.typeSlot] = undefined;
      entry.typeBlock = undefined;
      entry.typeSlot = -1;
    }
    const status = statusIndex(entry.status);
    const counts = block.counts;
    counts[status]--;
    this.live--;
    if (--counts[ANY_STATUS] === 0) {
      while (this.blocks.size > 0 && this.blocks.peek()!.counts[ANY_STATUS] === 0) this.blocks.shift();
      if (this.blocks.size === 0) this.tail = undefined;
    }
    // a long-lived entry keeps its block, and the blocks after it stay, empty or nearly: rebuild when they outweigh the
    // entries, so slots stay within about twice the entries (a rebuild is paid for by the removals or appends before it)
    if (this.blocks.size * BLOCK > 2 * this.live + 2 * BLOCK) this.rebuild();
  }

  /**
   * Appends to `out`, newest first, the entries with a seq below `before`
   * (Infinity: from the newest) and the status `status` (ANY_STATUS: any),
   * until `out` holds `limit`.
   */
  page(status: number, before: number, limit: number, out: T[]): void {
    this.scanned = 0;
    // on the first page every entry is below the start: stop at the last one rather than walk to the oldest block
    let left = before === Infinity && status === ANY_STATUS ? this.live : Infinity;
    for (let b = this.lastBlockBelow(before); b >= 0 && out.length < limit && left > 0; b--) {
      const block = this.blocks.at(b)!;
      this.scanned++;
      if (block.counts[status] === 0) continue;
      for (let i = block.used - 1; i >= 0 && out.length < limit; i--) {
        const entry = block.entries[i] as T | undefined;
        this.scanned++;
        if (entry === undefined || entry.seq >= before) continue;
        if (status === ANY_STATUS || statusIndex(entry.status) === status) {
          out.push(entry);
          left--;
        }
      }
    }
  }

  /** Every entry, oldest first. */
  *oldestFirst(): IterableIterator<T> {
    for (const block of this.blocks.values()) {
      for (let i = 0; i < block.used; i++) if (block.entries[i] !== undefined) yield block.entries[i] as T;
    }
  }

  /** The index of the last block whose first seq is below `before`; -1 when none is. */
  private lastBlockBelow(before: number): number {
    let lo = 0;
    let hi = this.blocks.size - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.blocks.at(mid)!.firstSeq < before) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi;
  }

  private setPlace(entry: T, block: LogBlock | undefined, slot: number): void {
    if (this.place === 'all') {
      entry.allBlock = block;
      entry.allSlot = slot;
    } else {
      entry.typeBlock = block;
      entry.typeSlot = slot;
    }
  }

  private rebuild(): void {
    const kept = [...this.oldestFirst()];
    this.blocks = new Deque<LogBlock>();
    this.tail = undefined;
    this.live = 0;
    for (const entry of kept) this.append(entry);
  }
}
