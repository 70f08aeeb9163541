import type { Redis } from 'ioredis';
import { settledWithin } from '../../deadline';

/** How long a close waits for a connection's handshake; against a reachable Redis it takes milliseconds. */
const HANDSHAKE_WAIT_MS = 1000;
const SETTLED = ['ready', 'close', 'end'] as const;
/** How long QUIT may take before the socket is simply closed (a server that went away mid-close). */
const QUIT_WAIT_MS = 1000;

/**
 * Closes an ioredis connection without leaving a timer behind. Closed while
 * its handshake (the ready check) is under way, ioredis fails the check, calls
 * its own disconnect on the socket it has just closed, and arms a 2 s timer to
 * destroy it that nothing clears: an app closed right after it started (a
 * failed start-up, a short test) stayed up 2 s longer. So a connection still
 * connecting finishes first, for at most HANDSHAKE_WAIT_MS.
 */
export async function closeRedis(client: Redis, how: 'quit' | 'disconnect'): Promise<void> {
  if (client.status === 'connecting' || client.status === 'connect') {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        for (const event of SETTLED) client.off(event, done);
        resolve();
      };
      const timer = setTimeout(done, HANDSHAKE_WAIT_MS);
      for (const event of SETTLED) client.once(event, done);
    });
  }
  // QUIT waits in the offline queue for a server that is away (an outage): app.close() waited for Redis to come back
  if (how === 'disconnect' || client.status !== 'ready') return client.disconnect();
  await settledWithin(client.quit(), QUIT_WAIT_MS);
  if ((client.status as string) !== 'end') client.disconnect();
}
