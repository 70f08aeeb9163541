import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const LOCK = join(ROOT, '.tmp', 'build.lock');
const OWNER = join(LOCK, 'owner.json');

interface Owner {
  pid: number;
  token: string;
  at: number;
}

export interface BuildLockOptions {
  /** Give up waiting after this long. @default 300000 */
  timeoutMs?: number;
  /** A lock older than this is taken over even if its process still lives (a hung build). @default 600000 */
  staleMs?: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(): Owner | undefined {
  try {
    return JSON.parse(readFileSync(OWNER, 'utf8')) as Owner;
  } catch {
    return undefined;
  }
}

/** True when the current holder died (a killed Jest worker never releases) or held it for too long. */
function isStale(staleMs: number): boolean {
  const owner = readOwner();
  if (owner) return !alive(owner.pid) || Date.now() - owner.at > staleMs;
  // between another process's mkdir and its owner file: only stale if that state lasts
  try {
    return Date.now() - statSync(LOCK).mtimeMs > 10_000;
  } catch {
    return false;
  }
}

/**
 * Takes the repository-wide build lock and resolves with its release function.
 *
 * `npm run build:lib` starts with `rm -rf libs/queue-scheduler/dist`, and Jest
 * runs test files in parallel workers (separate processes), so two suites that
 * build or pack the library must not overlap: one would pack or start from a
 * half-deleted dist. `mkdir` is atomic across processes, which makes the lock.
 */
export async function acquireBuildLock(options: BuildLockOptions = {}): Promise<() => void> {
  const { timeoutMs = 300_000, staleMs = 600_000 } = options;
  const token = `${process.pid}-${Date.now()}-${Math.random()}`;
  const deadline = Date.now() + timeoutMs;
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(OWNER, JSON.stringify({ pid: process.pid, token, at: Date.now() } satisfies Owner));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (isStale(staleMs)) {
      // a rename is one step, so two waiters that both judged it stale cannot both delete it; what remains
      // (one of them moving a lock another just took) needs a holder that died, and costs only an overlap
      const aside = `${LOCK}.stale-${token}`;
      try {
        renameSync(LOCK, aside);
        rmSync(aside, { recursive: true, force: true });
      } catch {
        // another waiter got there first
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${LOCK} (held by ${JSON.stringify(readOwner())})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (readOwner()?.token === token) rmSync(LOCK, { recursive: true, force: true });
  };
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
