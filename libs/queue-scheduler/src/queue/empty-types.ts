/** How long a type a claim found nothing of is left out of the claims of a busy pool. */
export const RECHECK_MS = 50;

/**
 * The types a durable claim just found nothing of. Asking a type with
 * nothing queued is not free: on Redis a round trip per type and claim, and
 * for a rate-limited type on either durable backend a permit taken from the
 * shared store and given back unused (two writes). A type found empty is
 * asked again only after RECHECK_MS, or at once after news of it here: a
 * local push, a due wake-up, a flow child's end, or the pool going idle
 * (then every claim asks every type, as before). So a task pushed by
 * another instance waits at most RECHECK_MS more while this one is busy.
 *
 * A claim reads `version` as it starts and marks with it: a clear meanwhile
 * (a push it may not have seen) makes those marks void.
 */
export class EmptyTypes {
  private readonly since = new Map<string, number>();
  private clears = 0;

  /** What a claim starting now passes to `mark`. */
  get version(): number {
    return this.clears;
  }

  mark(type: string, version: number): void {
    if (version === this.clears) this.since.set(type, performance.now());
  }

  has(type: string): boolean {
    const at = this.since.get(type);
    if (at === undefined) return false;
    if (performance.now() - at < RECHECK_MS) return true;
    this.since.delete(type);
    return false;
  }

  clear(): void {
    this.clears++;
    if (this.since.size > 0) this.since.clear();
  }
}
