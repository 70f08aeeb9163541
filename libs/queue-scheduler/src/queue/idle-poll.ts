import { Waiters } from './waiters';

/** The first wait after a claim that found nothing; each further empty claim doubles it, up to the poll interval. */
const FIRST_WAIT_MS = 25;

/**
 * How a consumer that polls a shared queue (database, redis) sleeps between
 * claims: a push in this process wakes one sleeper at once, and a push made
 * while a claim ran ends the next wait before it starts (that claim may have
 * missed it). Otherwise the wait is short right after work and doubles while
 * claims come back empty, up to the poll interval, so a busy queue answers
 * fast and an idle one costs a read per `pollIntervalMs` per worker loop.
 */
export class IdlePoll {
  private readonly waiters = new Waiters();
  private pushes = 0;
  private pushesAtClaim = -1;
  private emptyClaims = 0;

  constructor(private readonly pollIntervalMs: number) {}

  /** A claim starts: a push from now on may not be in what it finds. */
  claiming(): void {
    this.pushesAtClaim = this.pushes;
  }

  /** A claim ended with `count` tasks. */
  claimed(count: number): void {
    this.emptyClaims = count ? 0 : this.emptyClaims + 1;
  }

  /** Work for up to `count` consumers was pushed in this process. */
  pushed(count: number): void {
    this.pushes++;
    this.waiters.wake(count);
  }

  /** Sleeps until a local push, the backoff, `timeoutMs` or `signal`, whichever comes first. */
  wait(timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.pushes !== this.pushesAtClaim) return Promise.resolve();
    const backoff = Math.min(this.pollIntervalMs, FIRST_WAIT_MS * 2 ** Math.min(this.emptyClaims, 10));
    return this.waiters.wait(Math.min(timeoutMs, backoff), signal);
  }

  /** Ends every wait (shutdown). */
  wakeAll(): void {
    this.waiters.wakeAll();
  }
}
