import { join } from 'node:path';
import { acquireLock, type LockOptions } from './dir-lock';

const LOCK = join(__dirname, '..', '..', '.tmp', 'build.lock');

export type BuildLockOptions = LockOptions;

/**
 * Takes the repository-wide build lock and resolves with its release function.
 *
 * `npm run build:lib` starts with `rm -rf libs/queue-scheduler/dist`, and Jest
 * runs test files in parallel workers (separate processes), so two suites that
 * build or pack the library must not overlap: one would pack or start from a
 * half-deleted dist.
 */
export function acquireBuildLock(options: BuildLockOptions = {}): Promise<() => void> {
  return acquireLock(LOCK, options);
}

/** Runs `fn` while holding the build lock. */
export async function withBuildLock<T>(fn: () => Promise<T>, options?: BuildLockOptions): Promise<T> {
  const release = await acquireBuildLock(options);
  try {
    return await fn();
  } finally {
    release();
  }
}
