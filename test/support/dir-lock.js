// A lock across processes: a directory (mkdir is atomic) holding its owner's
// pid. Plain CommonJS, because Jest loads the test environment
// (machine-environment.js) without transforming it; build-lock.ts uses it too.
const { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else
    return err.code === 'EPERM';
  }
}

function readOwner(lock) {
  try {
    return JSON.parse(readFileSync(join(lock, 'owner.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** True when the current holder died (a killed Jest worker never releases) or held it for too long. */
function isStale(lock, staleMs) {
  const owner = readOwner(lock);
  if (owner) return !alive(owner.pid) || Date.now() - owner.at > staleMs;
  // between another process's mkdir and its owner file: only stale if that state lasts
  try {
    return Date.now() - statSync(lock).mtimeMs > 10_000;
  } catch {
    return false;
  }
}

/** Takes the lock at `lock` (a directory path) and resolves with its release function. */
async function acquireLock(lock, options = {}) {
  const { timeoutMs = 300_000, staleMs = 600_000 } = options;
  const token = `${process.pid}-${Date.now()}-${Math.random()}`;
  const deadline = Date.now() + timeoutMs;
  mkdirSync(dirname(lock), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'owner.json'), JSON.stringify({ pid: process.pid, token, at: Date.now() }));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    if (isStale(lock, staleMs)) {
      // a rename is one step, so two waiters that both judged it stale cannot both delete it; what remains
      // (one of them moving a lock another just took) needs a holder that died, and costs only an overlap
      const aside = `${lock}.stale-${token}`;
      try {
        renameSync(lock, aside);
        rmSync(aside, { recursive: true, force: true });
      } catch {
        // another waiter got there first
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${lock} (held by ${JSON.stringify(readOwner(lock))})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (readOwner(lock)?.token === token) rmSync(lock, { recursive: true, force: true });
  };
}

module.exports = { acquireLock };
