import type { MemoryEntry } from './memory-entries';

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
