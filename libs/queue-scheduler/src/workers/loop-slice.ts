/**
 * Longest the pool runs tasks without letting the event loop turn: tasks
 * that finish synchronously or in a microtask would otherwise starve timers
 * and I/O (an HTTP server in the same process) for as long as the backlog lasts.
 */
const SLICE_MS = 10;
/** Launches between two looks at the clock for SLICE_MS. */
const CLOCK_EVERY = 64;

/** Tells the claim loop when it has held the event loop for a slice and should go on after a turn. */
export class LoopSlice {
  private launches = 0;
  /** Set while a setImmediate is pending: when it runs, the event loop has turned. */
  private turnPending = false;
  private turnAt = 0;
  private readonly onTurn = (): void => {
    this.turnPending = false;
  };

  /** Counts `n` launches; true once SLICE_MS have passed since the event loop last turned (looked at every CLOCK_EVERY). */
  spent(n: number): boolean {
    if ((this.launches += n) < CLOCK_EVERY) return false;
    this.launches = 0;
    const now = performance.now();
    if (!this.turnPending) {
      this.turnPending = true;
      this.turnAt = now;
      setImmediate(this.onTurn);
      return false;
    }
    return now - this.turnAt >= SLICE_MS;
  }
}
