import { MAX_TIMER_MS } from '../queue-scheduler.constants';

let holds = 0;
let handle: NodeJS.Timeout | undefined;
const noop = (): void => undefined;

/**
 * Keeps the process alive while someone awaits a wait of the queue
 * (`onIdle`, `onTaskFinished`, the worker pool's wait for work on SQLite),
 * as a pending socket read would. The library's
 * own timers are unref'd so that an idle app can exit; without this, a
 * script that pushed a delayed or retried task on the memory backend and
 * awaited `onIdle()` exited at once, with the task never run and nothing
 * said. Returns the release, safe to call more than once.
 */
export function holdProcess(): () => void {
  if (holds++ === 0) handle = setInterval(noop, MAX_TIMER_MS);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holds === 0) {
      clearInterval(handle);
      handle = undefined;
    }
  };
}
