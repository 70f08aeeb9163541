import { performance } from 'node:perf_hooks';
import { describeValue, InvalidProgressError } from '../errors/errors';
import type { MaybePromise, TaskProgress } from '../interfaces/task.interface';
import { normalizeJson } from '../queue/json-value';

/** Largest progress object, as JSON: progress is written often and shown in lists; results are the place for data. */
export const MAX_PROGRESS_BYTES = 4096;

const refuse = (field: string, message: string): Error => new InvalidProgressError(field, message);

/**
 * The value every backend stores for `ctx.progress(value)`: a percentage
 * from 0 to 100, or a plain object normalised as params are (a JSON round
 * trip) within MAX_PROGRESS_BYTES.
 */
export function normalizeProgress(value: unknown): TaskProgress {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0 && value <= 100) return value + 0;
    throw refuse('progress', `progress must be a number from 0 to 100 or a plain object, got ${describeValue(value)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Date) {
    throw refuse('progress', `progress must be a number from 0 to 100 or a plain object, got ${describeValue(value)}`);
  }
  return normalizeJson(value, 'progress', MAX_PROGRESS_BYTES, 'the progress limit', refuse) as TaskProgress;
}

/** No value waiting to be written. */
const NONE = Symbol('none');

/**
 * The progress reports of one try, throttled: the first report of a window
 * is written at once, later ones only remember their value, and the last of
 * them is written when the window closes (a timer) or when the try ends
 * (`end`), so a handler that reports in a tight loop costs one write per
 * `intervalMs` and its final value is still stored. Writes of one try are
 * chained: on a database a later value never lands before an earlier one.
 */
export class ProgressReports {
  private lastWriteAt = -Infinity;
  private waiting: TaskProgress | typeof NONE = NONE;
  private timer?: NodeJS.Timeout;
  /** The chain of asynchronous writes still under way; undefined once they are all done. */
  private writing?: Promise<void>;
  private ended = false;

  constructor(
    private readonly write: (value: TaskProgress) => MaybePromise<void>,
    private readonly intervalMs: number,
  ) {}

  /**
   * `deferTimer`: the handler's synchronous part is running, and may end the
   * try before any timer is needed (most handlers report and return): the
   * caller arms it with `continued()` if the try goes on.
   */
  report(value: TaskProgress, deferTimer = false): void {
    // a window already waits for its end: only the value changes, not even the clock is read
    if (this.timer !== undefined || this.waiting !== NONE) {
      this.waiting = value;
      return;
    }
    const now = performance.now();
    if (now - this.lastWriteAt >= this.intervalMs) {
      this.lastWriteAt = now;
      this.send(value);
      return;
    }
    this.waiting = value;
    if (!deferTimer) this.continued();
  }

  /** The try goes on past its synchronous part: the value waiting (if any) gets its timer. */
  continued(): void {
    if (this.ended || this.waiting === NONE || this.timer !== undefined) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, this.lastWriteAt + this.intervalMs - performance.now()));
    this.timer.unref();
  }

  /** The try ended: writes the value still waiting; resolves once every write is done (undefined: nothing under way). */
  end(): Promise<void> | undefined {
    this.ended = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.waiting !== NONE) {
      const value = this.waiting;
      this.waiting = NONE;
      this.send(value);
    }
    return this.writing;
  }

  private flush(): void {
    this.timer = undefined;
    if (this.waiting === NONE) return;
    const value = this.waiting;
    this.waiting = NONE;
    this.lastWriteAt = performance.now();
    this.send(value);
  }

  private send(value: TaskProgress): void {
    if (this.writing) {
      this.track(this.writing.then(() => this.write(value)));
      return;
    }
    const written = this.write(value);
    if (written instanceof Promise) this.track(written);
  }

  private track(write: Promise<void>): void {
    const chained: Promise<void> = write.finally(() => {
      if (this.writing === chained) this.writing = undefined;
    });
    this.writing = chained;
  }
}
