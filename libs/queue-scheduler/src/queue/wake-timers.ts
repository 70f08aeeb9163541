import { MAX_TIMER_MS } from '../queue-scheduler.constants';

/**
 * Timers that wake a local worker at given times, so that a delayed or
 * retried task of this instance starts on time rather than at the next
 * idle poll (database and redis backends).
 */
export class WakeTimers {
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly wake: () => void) {}

  at(at: Date): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        // Timers run on the monotonic clock in whole ms and fire up to ~1 ms before Date.now() reaches `at` (11 of
        // 300 did here). A claim then finds the task not yet due, and the next look is the idle poll, up to
        // queue.pollIntervalMs later (a task queued ahead started 506 ms late): wait out the rest instead.
        if (Date.now() < at.getTime()) return this.at(at);
        this.wake();
      },
      Math.max(0, Math.min(at.getTime() - Date.now(), MAX_TIMER_MS)),
    );
    timer.unref();
    this.timers.add(timer);
  }

  clear(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
