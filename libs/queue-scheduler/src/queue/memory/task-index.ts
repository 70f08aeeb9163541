import { randomBytes, randomUUID } from 'node:crypto';
import { Deque } from '../deque';
import { PendingRun } from './pending-runs';

export interface Indexed {
  readonly taskId: string;
  /** The sequence number inside a generated id; -1 for an id the producer chose (or one moved to the map). */
  idSeq: number;
  /** A later entry of the same id replaced this one in the index. */
  superseded: boolean;
}

/** Generated ids count from here: 0x100000000000, the smallest 12-digit hex number. */
const ID_BASE = 2 ** 44;
/** Counters that fit 12 hex digits from ID_BASE. */
const ID_COUNT = 2 ** 48 - ID_BASE;
/** Ids per value of the counter's high six hex digits. */
const LOW_IDS = 2 ** 24;
/** '000' to 'fff', for newId. */
const HEX3 = Array.from({ length: 4096 }, (_, i) => i.toString(16).padStart(3, '0'));
/** Windows shorter than this are never compacted. */
const MIN_WINDOW = 1024;

/**
 * Tasks by id. Ids the producer chose live in a Map; ids this index made
 * (`newId`: a random per-queue prefix, then a counter, in the shape of a
 * UUID) live in a window of slots in counter order, found by parsing the
 * counter back out of the id: no hashing, and tasks pushed together sit
 * together in memory. A Map operation on a million string keys costs a
 * cache miss or two (hundreds of ns here); a slot costs a few.
 *
 * A long-lived task at the front of the window would hold every later slot;
 * when the window holds over four times more slots than tasks, the live
 * entries at its front move to the map (each at most once).
 */
export class TaskIndex<T extends Indexed> {
  private readonly byId = new Map<string, T>();
  /** A slot holds its task, or the run that keeps it until it is made (see PendingRun). */
  private readonly window = new Deque<T | PendingRun<T> | undefined>(MIN_WINDOW);
  /** The counter of the window's first slot. */
  private base = 0;
  private nextSeq = 0;
  /** The counter of the id `newId` made last. */
  lastSeq = -1;
  private inWindow = 0;
  private readonly prefix: string;
  /** The counter's digits but the last three, which `blockPrefix` ends with (see idAt). */
  private block = -1;
  private blockPrefix = '';

  constructor() {
    const hex = randomBytes(10).toString('hex');
    // version nibble 8 (custom) and variant bits 10xx, so the ids parse as RFC 9562 UUIDs
    this.prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(12, 15)}-${((parseInt(hex[15], 16) & 3) | 8).toString(16)}${hex.slice(16, 19)}-`;
  }

  /** A new id, unique to this index; its `idSeq` is `lastSeq` until the next call (or `seqOf(id)`). */
  newId(): string {
    this.lastSeq = this.nextSeq++;
    if (this.lastSeq < ID_COUNT) return this.idAt(this.lastSeq);
    // 2^48 - 2^44 ids later (eight years at a million a second): ids the index cannot parse, kept in the map
    this.lastSeq = -1;
    return randomUUID();
  }

  /** The id `newId` made for counter `seq` (0 ≤ seq < ID_COUNT): a run's task gets it again when it is made. */
  idAt(seq: number): string {
    // the counter from ID_BASE is 12 hex digits: all but the last three change once per 4,096 ids and are kept with
    // the prefix, so an id is one concatenation of a table string (one allocation). Number#toString(16) of a value
    // past 2^31 (not a small integer) took ~0.5 µs, a third of a push, and padStart made a string more per id.
    const value = seq + ID_BASE;
    const block = Math.floor(value / 4096);
    if (block !== this.block) {
      this.block = block;
      const high = Math.floor(value / LOW_IDS);
      this.blockPrefix = this.prefix + HEX3[high >>> 12] + HEX3[high & 4095] + HEX3[block & 4095];
      // flattened once here rather than by the first lookup of each id made from it
      this.blockPrefix.charCodeAt(0);
    }
    return this.blockPrefix + HEX3[value & 4095];
  }

  get(taskId: string): T | undefined {
    const seq = this.seqOf(taskId);
    if (seq >= 0) {
      const slot = this.window.at(seq - this.base);
      const entry = slot instanceof PendingRun ? slot.taskOf(seq) : slot;
      if (entry && entry.taskId === taskId && !entry.superseded) return entry;
    }
    return this.byId.get(taskId);
  }

  /** Adds an entry; one of a generated id must come after every earlier generated one (ids are made in order). */
  set(entry: T): void {
    if (entry.idSeq < 0 || entry.idSeq < this.base) {
      entry.idSeq = -1;
      this.byId.set(entry.taskId, entry);
      return;
    }
    while (this.base + this.window.size < entry.idSeq) this.window.push(undefined);
    if (this.base + this.window.size === entry.idSeq) this.window.push(entry);
    else this.window.setAt(entry.idSeq - this.base, entry);
    this.inWindow++;
    if (this.window.size > MIN_WINDOW && this.window.size > 4 * this.inWindow) this.compact();
  }

  /** Whether a run can stand for the task of generated counter `idSeq` here (see setRun). */
  canHoldRun(idSeq: number): boolean {
    return idSeq >= this.base;
  }

  /** Adds the task of counter `idSeq` (canHoldRun), kept by `run` until it is made; `place` then puts it in the slot. */
  setRun(run: PendingRun<T>, idSeq: number): void {
    while (this.base + this.window.size < idSeq) this.window.push(undefined);
    if (this.base + this.window.size === idSeq) this.window.push(run);
    else this.window.setAt(idSeq - this.base, run);
    this.inWindow++;
    if (this.window.size > MIN_WINDOW && this.window.size > 4 * this.inWindow) this.compact();
  }

  /** A run's task, made: it takes the run's place in its slot. */
  place(entry: T): void {
    const i = entry.idSeq - this.base;
    if (this.window.at(i) instanceof PendingRun) this.window.setAt(i, entry);
  }

  /** Removes `entry` (not another entry of the same id). */
  delete(entry: T): void {
    if (entry.idSeq < 0) {
      // superseded: a later entry of its id is in the map; otherwise this one is, no need to look
      if (!entry.superseded) this.byId.delete(entry.taskId);
      return;
    }
    const i = entry.idSeq - this.base;
    if (this.window.at(i) !== entry) return;
    this.window.setAt(i, undefined);
    this.inWindow--;
    while (this.window.size > 0 && this.window.peek() === undefined) {
      this.window.shift();
      this.base++;
    }
  }

  *values(): IterableIterator<T> {
    for (let i = 0; i < this.window.size; i++) {
      let slot = this.window.at(i);
      if (slot instanceof PendingRun) {
        slot.makeAll();
        slot = this.window.at(i);
      }
      if (slot && !(slot instanceof PendingRun) && !slot.superseded) yield slot;
    }
    yield* this.byId.values();
  }

  /** The counter inside an id this index made; -1 for any other id. */
  seqOf(taskId: string): number {
    if (taskId.length !== 36 || !taskId.startsWith(this.prefix)) return -1;
    const seq = parseInt(taskId.slice(24), 16) - ID_BASE;
    return Number.isSafeInteger(seq) && seq >= 0 ? seq : -1;
  }

  private compact(): void {
    while (this.window.size > 2 * this.inWindow) {
      const head = this.window.peek();
      // its tasks made first, each into its slot: a slot moved to the map holds a task
      if (head instanceof PendingRun) head.makeAll();
      const entry = this.window.shift() as T | undefined;
      this.base++;
      if (!entry) continue;
      this.inWindow--;
      entry.idSeq = -1;
      if (!entry.superseded) this.byId.set(entry.taskId, entry);
    }
  }
}
