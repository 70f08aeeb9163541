import { isObservable, type Observable } from 'rxjs';

/**
 * Whether a handler returned an rxjs Observable, as Nest's controllers and
 * microservice handlers may: it is then run, not stored (an Observable is a
 * recipe; before, nothing subscribed to it, so its work never ran and the
 * try died as a result that is not JSON). Objects only: most handlers return
 * nothing or a scalar, and this runs once per task.
 */
export function isObservableOutcome(value: unknown): value is Observable<unknown> {
  return typeof value === 'object' && value !== null && isObservable(value);
}

/**
 * The Observable's last value once it completes (undefined if it emitted
 * none), as Nest's `lastValueFrom` reading of a handler's stream; its error
 * as the try's error. An abort of the try (timeout, cancel, shutdown)
 * unsubscribes, which tears the stream's work down as rxjs does, and
 * settles with the abort's reason.
 */
export function lastValueOf(source: Observable<unknown>, signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let last: unknown;
    const subscription = source.subscribe({ next: (value) => (last = value), error: reject, complete: () => resolve(last) });
    if (subscription.closed) return;
    // settled too, with the abort's reason: the try's slot is freed once the handler's outcome has come back
    const stop = (): void => {
      subscription.unsubscribe();
      reject(signal.reason);
    };
    if (signal.aborted) return stop();
    signal.addEventListener('abort', stop, { once: true });
    subscription.add(() => signal.removeEventListener('abort', stop));
  });
}
