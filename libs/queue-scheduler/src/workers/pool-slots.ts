import type { RegisteredHandler } from '../handlers/task-handler.registry';
import type { ClaimFilters } from './claim-filter';

/**
 * The worker pool's slots: handlers running, outcomes handed to the queue and
 * not written yet, and each capped type's count (kept by the claim filter).
 * `changed` is called whenever a slot or a write is freed.
 */
export class PoolSlots {
  /** Handlers running, the abandoned ones included. */
  busy = 0;
  /** Of `busy`: handlers still running whose try has ended (see `abandon`). */
  private abandoned = 0;
  /** Outcomes handed to the queue and not written yet. */
  recording = 0;
  private readonly recorded = (): void => {
    this.recording--;
    this.changed();
  };

  constructor(
    private readonly filters: ClaimFilters,
    /** The queue's capabilities.claimsOverlapWrites. */
    private readonly claimsOverlapWrites: boolean,
    private readonly changed: () => void,
  ) {}

  /** Nothing runs that a stop must wait for, and every outcome is written. */
  get idle(): boolean {
    return this.busy === this.abandoned && this.recording === 0;
  }

  take(handler: RegisteredHandler | undefined): void {
    this.busy++;
    if (handler && handler.concurrency !== Infinity) this.filters.track(handler, 1);
  }

  /**
   * A task's handler is over: its slot is free, while its outcome may still be being written (`recording`).
   * `returned`: the try was ended (timeout, shutdown) while its handler runs on (see `abandon`).
   */
  done(handler: RegisteredHandler | undefined, recording?: Promise<void>, returned?: Promise<void>): void {
    if (returned) return this.abandon(handler, recording, returned);
    if (recording && !this.claimsOverlapWrites) {
      // the slot stays taken until the write (which brings the next task) is over
      void recording.then(() => this.done(handler));
      return;
    }
    this.free(handler);
    if (recording) this.writing(recording);
    this.changed();
  }

  /**
   * A try its timeout or the shutdown ended while its handler runs on (it ignored its signal): the handler keeps its
   * slot and its type's count until it returns, or `concurrency` would not hold (a retry would run beside the try it
   * replaces); a stop waits for the outcome's write, not for the handler.
   */
  private abandon(handler: RegisteredHandler | undefined, recording: Promise<void> | undefined, returned: Promise<void>): void {
    this.abandoned++;
    if (recording) this.writing(recording);
    const slotFree = recording && !this.claimsOverlapWrites ? Promise.all([returned, recording]) : returned;
    void slotFree.then(() => {
      this.abandoned--;
      this.free(handler);
      this.changed();
    });
    this.changed();
  }

  private free(handler: RegisteredHandler | undefined): void {
    this.busy--;
    if (handler && handler.concurrency !== Infinity) this.filters.track(handler, -1);
  }

  private writing(recording: Promise<void>): void {
    this.recording++;
    void recording.then(this.recorded);
  }
}
