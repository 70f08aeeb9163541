/**
 * One running task's abort switch. The AbortController behind `ctx.signal`
 * is made only when the handler reads the signal: most handlers never do,
 * and a controller per task (with a listener added and removed on it) was a
 * sixth of the in-process cost per task (docs/benchmarks.md).
 */
export class TaskAbort {
  private controller?: AbortController;
  private rejectRace?: (reason: Error) => void;
  /** Why the task was aborted (timeout or shutdown); undefined while it runs. */
  reason?: Error;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller?.abort(reason);
    this.rejectRace?.(reason);
  }

  /**
   * The handler's outcome, or a rejection with the abort reason as soon as
   * `abort()` is called. A value that is not a promise is already the outcome.
   */
  race<T>(outcome: T | PromiseLike<T>): T | Promise<T> {
    if (this.reason) return Promise.reject(this.reason);
    if (!isThenable(outcome)) return outcome;
    return new Promise<T>((resolve, reject) => {
      this.rejectRace = reject;
      outcome.then(resolve, reject);
    });
  }
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === 'function';
}
