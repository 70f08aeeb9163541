export interface LockOptions {
  /** Give up waiting after this long. @default 300000 */
  timeoutMs?: number;
  /** A lock older than this is taken over even if its process still lives (a hung holder). @default 600000 */
  staleMs?: number;
}

/** Takes the lock at `lock` (a directory path) and resolves with its release function. */
export function acquireLock(lock: string, options?: LockOptions): Promise<() => void>;
