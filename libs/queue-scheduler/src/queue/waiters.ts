import { MAX_TIMER_MS } from '../queue-scheduler.constants';

/**
 * Consumers sleeping until work arrives. One push wakes one sleeper (no
 * thundering herd); a Set keeps insertion order, so the longest sleeper goes first.
 */
export class Waiters {
  private readonly sleeping = new Set<() => void>();

  get size(): number {
    return this.sleeping.size;
  }

  wait(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', wake);
        this.sleeping.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, Math.min(timeoutMs, MAX_TIMER_MS)));
      timer.unref();
      signal?.addEventListener('abort', wake, { once: true });
      this.sleeping.add(wake);
    });
  }

  wakeOne(): void {
    // checked first: every push calls this, and an iterator is an allocation
    if (this.sleeping.size === 0) return;
    const first = this.sleeping.values().next();
    if (!first.done) first.value();
  }

  wake(count: number): void {
    for (let i = 0; i < count && this.sleeping.size > 0; i++) this.wakeOne();
  }

  wakeAll(): void {
    for (const wake of [...this.sleeping]) wake();
  }
}
