import { QueueClosedError } from '../errors/errors';
import { holdProcess } from './keep-alive';
import type { TaskEventStream } from './task-events';

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * The `onIdle` waits of one queue. They end with QueueClosedError when the
 * queue closes (its events end on module destroy, before its connections
 * close), and so does a wait asked for after: before, a memory wait stayed
 * pending for good, and a durable one failed on its next poll with the
 * driver's "connection closed".
 */
export class IdleWaiters {
  private readonly waiters = new Set<Waiter>();
  private closed = false;

  constructor(events: TaskEventStream) {
    events.onComplete(() => this.close());
  }

  /** Someone waits: the memory backend counts its unfinished tasks only then. */
  get waiting(): boolean {
    return this.waiters.size > 0;
  }

  /** Resolved at once when `idleNow`, else when `idle()` is called (the memory backend, which sees every task end). */
  wait(idleNow: boolean): Promise<void> {
    if (this.closed) return Promise.reject(new QueueClosedError());
    if (idleNow) return Promise.resolve();
    const release = holdProcess();
    return new Promise<void>((resolve, reject) => void this.waiters.add({ resolve, reject })).finally(release);
  }

  /** Ends every wait: nothing is pending or running. */
  idle(): void {
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const w of waiting) w.resolve();
  }

  /**
   * A wait that asks `unfinished` every `pollMs` until it answers 0 (the durable backends: other instances finish
   * tasks too, so no local signal says when that is). A read failing after the queue closed ends it as closed.
   */
  poll(unfinished: () => Promise<number>, pollMs: number): Promise<void> {
    if (this.closed) return Promise.reject(new QueueClosedError());
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        resolve,
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const end = (settle: () => void): void => {
        // closed meanwhile: close() has rejected it, and a read under way must not arm another poll
        if (this.waiters.delete(waiter)) settle();
      };
      const check = (): void =>
        void unfinished().then(
          (n) => (n === 0 ? end(resolve) : this.waiters.has(waiter) && (timer = setTimeout(check, pollMs))),
          (err: unknown) => end(() => reject(err)),
        );
      this.waiters.add(waiter);
      check();
    });
  }

  private close(): void {
    this.closed = true;
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const w of waiting) w.reject(new QueueClosedError());
  }
}
