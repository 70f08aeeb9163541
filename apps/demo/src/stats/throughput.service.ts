import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { type TaskEvent, TaskQueue } from 'nestjs-queue-scheduler';

export const BUCKET_SECONDS = 10;
export const BUCKETS = 30; // 5 minutes

export interface ThroughputBucket {
  /** Start of the bucket, epoch ms. */
  start: number;
  succeeded: number;
  /** Failed tries: retried or dead. */
  failed: number;
}

/**
 * Finished tries per 10-second bucket over the last five minutes, counted
 * from `events$` since boot. Kept on the server so a page opened later still
 * sees the recent past; events$ is per process, so with the database
 * backend this is this instance's share.
 */
@Injectable()
export class ThroughputService implements OnModuleInit, OnModuleDestroy {
  private readonly buckets = new Map<number, ThroughputBucket>();
  private subscription?: Subscription;

  constructor(private readonly queue: TaskQueue) {}

  onModuleInit(): void {
    this.subscription = this.queue.events$.subscribe((event) => this.record(event));
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }

  record(event: TaskEvent): void {
    const finished = event.kind === 'succeeded' ? 'succeeded' : event.kind === 'retrying' || event.kind === 'dead' ? 'failed' : null;
    if (!finished) return;
    const start = bucketStart(event.at.getTime());
    const bucket = this.buckets.get(start) ?? { start, succeeded: 0, failed: 0 };
    bucket[finished]++;
    this.buckets.set(start, bucket);
    this.prune(start);
  }

  /** Oldest first, with empty buckets filled in so a chart can plot them as they are. */
  snapshot(now = Date.now()): { bucketSeconds: number; buckets: ThroughputBucket[] } {
    const last = bucketStart(now);
    this.prune(last);
    const buckets: ThroughputBucket[] = [];
    for (let i = BUCKETS - 1; i >= 0; i--) {
      const start = last - i * BUCKET_SECONDS * 1000;
      buckets.push({ ...(this.buckets.get(start) ?? { start, succeeded: 0, failed: 0 }) });
    }
    return { bucketSeconds: BUCKET_SECONDS, buckets };
  }

  private prune(latest: number): void {
    const oldest = latest - (BUCKETS - 1) * BUCKET_SECONDS * 1000;
    for (const start of this.buckets.keys()) if (start < oldest) this.buckets.delete(start);
  }
}

function bucketStart(ms: number): number {
  return ms - (ms % (BUCKET_SECONDS * 1000));
}
