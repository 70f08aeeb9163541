import { BackendTimeoutError } from './errors/errors';

/**
 * A shutdown waits for writes and reads of the backend; one that is away does not answer them (ioredis holds
 * commands until Redis is back), and app.close() waited as long as the outage. How long a shutdown step waits for
 * such an answer before it leaves the rest to leases and the stalled check.
 */
export const UNREACHABLE_WAIT_MS = 5000;

/** Whether `p` settles (either way) within `ms`. */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return (await answerWithin(p.then(() => true, () => true), ms)) ?? false;
}

/** `p`'s value, or undefined if it fails or takes longer than `ms`. */
export function answerWithin<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  return Promise.race([p.catch(() => undefined), late]).finally(() => clearTimeout(timer));
}

/** `work()`, or a rejection after `ms` naming `what`: a hung connection cannot hold a probe or a scrape. */
export async function within<T>(ms: number, what: string, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BackendTimeoutError(what, ms)), ms);
  });
  try {
    // race() subscribes to work(): a late rejection after the timeout is handled, not an unhandled rejection
    return await Promise.race([work(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long a look at the backend goes unanswered before it is logged (see warnIfSlow). */
export const SLOW_ANSWER_MS = 10_000;

/**
 * Warns once if `p` has not settled after `ms`, and says when it then does. A network partition fails
 * nothing and answers nothing, so the loops that log a failure (claims, the scheduler's looks) said nothing.
 */
export function warnIfSlow(p: Promise<unknown>, what: string, logger: { warn(message: string): void; log(message: string): void }, ms = SLOW_ANSWER_MS): void {
  const started = Date.now();
  let slow = false;
  const timer = setTimeout(() => {
    slow = true;
    logger.warn(`${what} has had no answer for ${ms / 1000} s (is the backend reachable?)`);
  }, ms);
  timer.unref();
  const settled = (): void => {
    clearTimeout(timer);
    if (slow) logger.log(`${what} answered after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  };
  p.then(settled, settled);
}
