import { Observable } from 'rxjs';
import type { ClusterEventKind, ClusterTaskEvent, TaskEventKind, TaskStatus } from '../interfaces/task.interface';
import type { LibraryLogger } from '../queue-scheduler.logger';

/** Where a backend's `clusterEvents$` comes from: events after `after` (undefined: from now), in order, then live. */
export interface ClusterEventSource {
  stream(after: string | undefined): Observable<ClusterTaskEvent>;
}

const CLUSTER_KINDS: ReadonlySet<string> = new Set<ClusterEventKind>(['queued', 'started', 'succeeded', 'retrying', 'dead', 'cancelled']);

export function isClusterKind(kind: TaskEventKind | string): kind is ClusterEventKind {
  return CLUSTER_KINDS.has(kind);
}

/** The statuses `onTaskFinished` waits for: nothing more happens to such a task unless someone retries it. */
export const FINISHED_STATUSES: ReadonlySet<TaskStatus> = new Set<TaskStatus>(['succeeded', 'dead', 'cancelled']);

/**
 * One subscriber's read loop as an Observable: `run` emits until its signal
 * aborts (the unsubscribe). A loop that throws ends the stream with the error.
 */
export function readLoop(run: (emit: (event: ClusterTaskEvent) => void, signal: AbortSignal) => Promise<void>): Observable<ClusterTaskEvent> {
  return new Observable<ClusterTaskEvent>((subscriber) => {
    const stop = new AbortController();
    run((event) => subscriber.next(event), stop.signal).then(
      () => subscriber.complete(),
      (err: unknown) => subscriber.error(err),
    );
    return () => stop.abort();
  });
}

/** Resolves after `ms`, at once when `signal` aborts, or when `wake` is called (returned through `onWake`). */
export function pause(ms: number, signal: AbortSignal, onWake?: (wake: () => void) => () => void): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    let unhook = (): void => undefined;
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      unhook();
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done);
    if (onWake) unhook = onWake(done);
  });
}

/** A failed read: logged once per outage, then the loop waits and reads again (the stream does not end). */
export class ReadFailures {
  private failing = false;

  constructor(
    private readonly logger: LibraryLogger,
    private readonly what: string,
  ) {}

  failed(err: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.logger.warn(`${this.what}: reading cluster events failed, retrying: ${(err as Error).message}`);
  }

  ok(): void {
    if (!this.failing) return;
    this.failing = false;
    this.logger.log(`${this.what}: reading cluster events again`);
  }
}
