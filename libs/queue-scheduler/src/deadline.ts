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
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    // race() subscribes to work(): a late rejection after the timeout is handled, not an unhandled rejection
    return await Promise.race([work(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
