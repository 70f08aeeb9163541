import { randomBytes } from 'node:crypto';
import { Observable, Subject } from 'rxjs';
import { describeValue, InvalidArgumentError } from '../../errors/errors';
import type { ClusterTaskEvent, TaskEvent } from '../../interfaces/task.interface';
import { type ClusterEventSource, isClusterKind } from '../cluster-events';
import type { TaskEventStream } from '../task-events';

/** However short the retention, a burst cannot make the log hold more than this. */
const MAX_KEPT = 100_000;

/**
 * The memory backend's cluster: this process. Its outcome events are numbered
 * and kept for `retentionMs` (at most MAX_KEPT), so a subscriber that
 * resumes with `after` gets what it missed, then the live ones. An id is
 * `<this log's token>-<number>`: the numbers start at 1 in every process, so
 * a checkpoint saved by an earlier process would otherwise read as one of
 * ours and silently skip that many events.
 */
export class MemoryClusterEvents implements ClusterEventSource {
  private kept: ClusterTaskEvent[] = [];
  private head = 0;
  private seq = 0;
  private readonly token = randomBytes(6).toString('base64url');
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
    const event: ClusterTaskEvent = { id: `${this.token}-${++this.seq}`, kind: e.kind, taskId: e.taskId, type: e.type, attempt: e.attempt, at: e.at, durationMs: e.durationMs, error: e.error };
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
    let from: number | undefined;
    if (after !== undefined) {
      const match = /^([\w-]{8})-([1-9]\d{0,14})$/.exec(after);
      from = match && match[1] === this.token ? Number(match[2]) : undefined;
      if (from === undefined || from > this.seq) throw new InvalidArgumentError('after', `not an event id of this queue (this process's memory backend): ${describeValue(after)}`);
    }
    return new Observable<ClusterTaskEvent>((subscriber) => {
      // "from now" is the subscription, as on the other backends (an Observable does nothing before it)
      let next = (from ?? this.seq) + 1;
      this.prune();
      // by number, not by index: a subscriber that pushes while it is replayed prunes and compacts the log under the loop.
      // One thread: what it adds meanwhile is replayed too, and nothing is recorded between the replay and the live subscription
      for (; next <= this.seq && !subscriber.closed; next++) {
        // the kept events are numbered without a gap, up to seq
        const oldest = this.seq - (this.kept.length - this.head) + 1;
        if (next < oldest) next = oldest;
        if (next > this.seq) break;
        subscriber.next(this.kept[this.head + next - oldest]);
      }
      return this.live.subscribe(subscriber);
    });
  }
}
