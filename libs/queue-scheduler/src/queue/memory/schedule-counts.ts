/** Keys at zero kept beyond twice the most schedules busy at once, before they are dropped. */
const KEPT_IDLE = 1024;

/**
 * Unfinished tasks per schedule (schedulerTaskId), kept on every status move
 * so an overlap check is one lookup. A schedule back at zero keeps its key:
 * deleting it when a run ended and adding it again when the next was queued
 * filled the Map's table with deleted slots, and at 10,000 schedules a second
 * V8 rebuilt the table every ~0.6 s, 1–4 ms inside one push. Keys at zero are
 * dropped once they pass twice the most schedules busy at once (plus
 * KEPT_IDLE): schedules that come and go (one-shot ids) cost O(1) each, amortized.
 */
export class ScheduleCounts {
  private readonly counts = new Map<string, number>();
  private busy = 0;
  private peakBusy = 0;

  /** Unfinished tasks of schedule `id`. */
  of(id: string): number {
    return this.counts.get(id) ?? 0;
  }

  /** Keys held, busy or not (tests). */
  get size(): number {
    return this.counts.size;
  }

  /** Tasks of schedule `id` became unfinished (delta > 0) or finished (delta < 0). */
  add(id: string, delta: number): void {
    const before = this.counts.get(id) ?? 0;
    const n = before + delta;
    this.counts.set(id, n);
    if (before === 0 && n > 0) {
      if (++this.busy > this.peakBusy) this.peakBusy = this.busy;
    } else if (before > 0 && n === 0) {
      this.busy--;
      if (this.counts.size > 2 * this.peakBusy + KEPT_IDLE) this.dropIdle();
    }
  }

  private dropIdle(): void {
    for (const [id, n] of this.counts) if (n === 0) this.counts.delete(id);
    this.peakBusy = this.busy;
  }
}
