/** How long a type whose queue a fetch found empty is left out of the claims of a busy pool. */
const RECHECK_MS = 50;

/**
 * The types whose BullMQ queue a claim just found empty. Each claim of a
 * busy pool asked every handled type in turn, one round trip each, so an
 * instance handling several types paid a fetch per idle type for every
 * task it ran; a type found empty is asked again only after RECHECK_MS,
 * or at once after a local push, a due wake-up, or once the pool goes idle
 * (then every claim asks every type, as before). Jobs pushed by another
 * instance are seen within RECHECK_MS while this one is busy.
 */
export class EmptyTypes {
  private readonly since = new Map<string, number>();

  mark(type: string): void {
    this.since.set(type, performance.now());
  }

  has(type: string): boolean {
    const at = this.since.get(type);
    if (at === undefined) return false;
    if (performance.now() - at < RECHECK_MS) return true;
    this.since.delete(type);
    return false;
  }

  clear(): void {
    if (this.since.size > 0) this.since.clear();
  }
}
