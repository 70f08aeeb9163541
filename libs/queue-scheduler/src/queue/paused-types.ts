import { describeValue, InvalidArgumentError } from '../errors/errors';
import type { ClaimFilter } from './queue-consumer';
import { keyProblem } from './json-value';
import { MAX_KEY_LENGTH } from './task-validation';

/** Checks a type given to pauseType / resumeType as pushTask checks one; nothing is written for a bad one. */
export function pausableType(type: unknown): string {
  const problem = keyProblem(type, MAX_KEY_LENGTH);
  if (problem) throw new InvalidArgumentError('type', `type ${problem}, got ${describeValue(type)}`);
  return type as string;
}

/**
 * The task types no worker of this queue may start, as this instance last
 * read them (every backend), and the claim filters with them taken out. A
 * durable backend keeps the set in its store and reads it again once it is
 * `refreshMs` old, on the next claim: every instance stops claiming a paused
 * type within one poll, with no timer and no query while the pool is busy
 * between refreshes.
 */
export class PausedTypes {
  private types = new Set<string>();
  private version = 0;
  /** Pauses and resumes made here; a read that saw the store before one of them is not applied (see refresh). */
  private edits = 0;
  private readAt = -Infinity;
  private reading?: Promise<void>;
  /** Filters are few and long-lived (the pool keeps one until its caps change): one derived filter each, per version. */
  private readonly derived = new WeakMap<ClaimFilter, { version: number; filter: ClaimFilter }>();

  constructor(
    private readonly load?: () => Promise<string[]>,
    private readonly refreshMs = Infinity,
    /** Told the types that became paused when a read finds new ones (Redis gives back the jobs it fetched ahead for them). */
    private readonly onPaused?: (types: ReadonlySet<string>) => void,
  ) {}

  get size(): number {
    return this.types.size;
  }

  has(type: string): boolean {
    return this.types.size > 0 && this.types.has(type);
  }

  list(): string[] {
    return [...this.types].sort();
  }

  add(type: string): void {
    this.edits++;
    if (this.types.has(type)) return;
    this.types.add(type);
    this.version++;
    this.onPaused?.(new Set([type]));
  }

  delete(type: string): void {
    this.edits++;
    if (this.types.delete(type)) this.version++;
  }

  /**
   * Reads the set from the store when it is older than refreshMs (always the first time); undefined when fresh. A read
   * under way while this instance paused or resumed a type may predate that write: it is dropped, and the next claim
   * reads again (it undid a pauseType made right after start-up, and the task pushed next started).
   */
  refresh(now = Date.now()): Promise<void> | undefined {
    if (!this.load || now - this.readAt < this.refreshMs) return undefined;
    const edits = this.edits;
    this.reading ??= this.load()
      .then((types) => {
        if (this.edits !== edits) return;
        this.readAt = Date.now();
        this.replace(types);
      })
      .finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** `filter` without the paused types; they count as handled, so a sole consumer does not dead-letter one with no handler. */
  apply(filter: ClaimFilter): ClaimFilter {
    if (this.types.size === 0) return filter;
    const cached = this.derived.get(filter);
    if (cached && cached.version === this.version) return cached.filter;
    const derived: ClaimFilter = {
      ...filter,
      types: filter.types.filter((t) => !this.types.has(t)),
      handled: new Set([...filter.handled, ...this.types]),
    };
    this.derived.set(filter, { version: this.version, filter: derived });
    return derived;
  }

  private replace(types: string[]): void {
    const next = new Set(types);
    const added = new Set([...next].filter((t) => !this.types.has(t)));
    if (added.size === 0 && next.size === this.types.size) return;
    this.types = next;
    this.version++;
    if (added.size > 0) this.onPaused?.(added);
  }
}
