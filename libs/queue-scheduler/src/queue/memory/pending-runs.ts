/** Tasks one run holds at most: a lookup that makes a run's tasks makes at most this many. */
export const RUN_MAX = 1024;

/** Builds a run's task at an offset, and puts it where the run stood for it in the index. */
export type RunMaker<T> = (run: PendingRun<T>, offset: number) => T;

/**
 * Plain tasks pushed one after another (generated ids, ready at once, one
 * type and priority, no key, retry limit, schedule or trace), kept as columns
 * until claimed: no object per queued task. Every object a queued task keeps
 * is copied by each young-generation GC it survives, and a backlog's entries,
 * ids and params copies made that GC most of a push's cost (an entry of 20
 * fields, kept, cost several times what the push itself did). A run's tasks
 * have consecutive id counters, seqs and ready orders, so those are not kept
 * per task either, and the id string is made again when the task is.
 *
 * A task is made (a MemoryEntry) when it is claimed; anything else that needs
 * one of them as an object (a lookup by id, a walk of every task, a removal)
 * makes all the run's tasks left, at most RUN_MAX, each once, and from then on
 * the run hands those out: so a task is made at most once, and the index and
 * the lanes always agree on which object it is.
 */
export class PendingRun<T> {
  /** Tasks appended. */
  count = 1;
  /** Offset of the next task to hand out. */
  next = 0;
  /** Tasks neither handed out nor removed. */
  live = 1;
  /** False once its last task left its lane: a push then opens a new run. */
  inLane = true;
  readonly createdAt: number[];
  /** Each push's normalised params; undefined for a push that gave none (its `{}` is made with the task). */
  readonly params: unknown[];
  /** Once made, by offset: the task, or null when removed. */
  private made: Array<T | null> | undefined;

  constructor(
    readonly type: string,
    readonly priority: number,
    readonly firstIdSeq: number,
    readonly firstSeq: number,
    readonly firstOrder: number,
    createdAt: number,
    params: unknown,
    private readonly make: RunMaker<T>,
  ) {
    this.createdAt = [createdAt];
    this.params = [params];
  }

  /** Whether a push with these counters continues this run (nothing else was pushed or became ready since its last). */
  continues(type: string, priority: number, idSeq: number, seq: number, order: number): boolean {
    const n = this.count;
    return this.inLane && this.made === undefined && n < RUN_MAX && this.type === type && this.priority === priority && this.firstIdSeq + n === idSeq && this.firstSeq + n === seq && this.firstOrder + n === order;
  }

  append(createdAt: number, params: unknown): void {
    this.createdAt.push(createdAt);
    this.params.push(params);
    this.count++;
    this.live++;
  }

  /** The ready order of the next task it hands out. */
  get headOrder(): number {
    return this.firstOrder + this.next;
  }

  /** The next task, made now unless it was; undefined when none is left. */
  shift(): T | undefined {
    if (this.live === 0) return undefined;
    const at = this.next;
    let task: T;
    if (this.made === undefined) {
      task = this.make(this, at);
    } else {
      task = this.made[at] as T;
      // handed out: a run outliving its tasks (the open run of a quiet queue) keeps none of them
      this.made[at] = null;
    }
    // the made task holds its params now
    this.params[at] = undefined;
    this.live--;
    this.next++;
    this.skipRemoved();
    return task;
  }

  /** Makes every task left (see the class comment). */
  makeAll(): void {
    if (this.made !== undefined) return;
    const made = new Array<T | null>(this.count);
    for (let i = this.next; i < this.count; i++) made[i] = this.make(this, i);
    this.made = made;
  }

  /** The task of id counter `idSeq`, made if it was not; undefined if it left the run. */
  taskOf(idSeq: number): T | undefined {
    this.makeAll();
    const at = idSeq - this.firstIdSeq;
    return at >= this.next && at < this.count ? (this.made![at] ?? undefined) : undefined;
  }

  /**
   * Takes out the tasks left for which `drop` is true, in order. Only tasks
   * already made are asked about: a caller can only name a task by an object
   * it holds (cancel, retry now), and no one holds a task not made yet, so a
   * cancel does not make every run of the backlog.
   */
  removeWhere(drop: (task: T) => boolean): T[] {
    const made = this.made;
    if (made === undefined) return [];
    const removed: T[] = [];
    for (let i = this.next; i < this.count; i++) {
      const task = made[i];
      if (task === null || !drop(task)) continue;
      made[i] = null;
      this.params[i] = undefined;
      removed.push(task);
      this.live--;
    }
    this.skipRemoved();
    return removed;
  }

  private skipRemoved(): void {
    const made = this.made;
    if (made === undefined) return;
    while (this.next < this.count && made[this.next] === null) this.next++;
  }
}
