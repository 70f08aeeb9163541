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
