import { Observable, Subject } from 'rxjs';
import { InvalidArgumentError } from '../../errors/errors';
import type { ClusterTaskEvent, TaskEvent } from '../../interfaces/task.interface';
import { type ClusterEventSource, isClusterKind } from '../cluster-events';
import type { TaskEventStream } from '../task-events';

/** However short the retention, a burst cannot make the log hold more than this. */
const MAX_KEPT = 100_000;

/**
 * The memory backend's cluster: this process. Its outcome events are numbered
 * and kept for `retentionMs` (at most MAX_KEPT), so a subscriber that
 * resumes with `after` gets what it missed, then the live ones.
 */
export class MemoryClusterEvents implements ClusterEventSource {
  private kept: ClusterTaskEvent[] = [];
  private head = 0;
  private seq = 0;
  private readonly live = new Subject<ClusterTaskEvent>();

  constructor(
    events: TaskEventStream,
    private readonly retentionMs: number,
    private readonly now: () => number,
  ) {
    events.record((e) => this.add(e));
    // the app closed: every subscriber's stream completes, as the durable backends' readers do
    events.onComplete(() => this.live.complete());
  }

  private add(e: TaskEvent): void {
    if (!isClusterKind(e.kind)) return;
    const event: ClusterTaskEvent = { id: String(++this.seq), kind: e.kind, taskId: e.taskId, type: e.type, attempt: e.attempt, at: e.at, durationMs: e.durationMs, error: e.error };
    this.kept.push(event);
    this.prune();
    this.live.next(event);
  }

  private prune(): void {
    const oldest = this.now() - this.retentionMs;
    while (this.head < this.kept.length && (this.kept.length - this.head > MAX_KEPT || this.kept[this.head].at.getTime() < oldest)) this.head++;
    // compact now and then rather than shift() per event
    if (this.head > 1024 && this.head * 2 > this.kept.length) {
      this.kept = this.kept.slice(this.head);
      this.head = 0;
    }
  }

  stream(after: string | undefined): Observable<ClusterTaskEvent> {
    if (after !== undefined && !/^\d{1,15}$/.test(after)) throw new InvalidArgumentError('after', `not an event id of this queue: ${JSON.stringify(after)}`);
    const from = after === undefined ? this.seq : Number(after);
    return new Observable<ClusterTaskEvent>((subscriber) => {
      // one thread: nothing is recorded between the replay and the live subscription
      this.prune();
      for (let i = this.head; i < this.kept.length; i++) if (Number(this.kept[i].id) > from) subscriber.next(this.kept[i]);
      return this.live.subscribe(subscriber);
    });
  }
}
