import { Controller, Get } from '@nestjs/common';
import { type StatusCounts, TaskHandlerRegistry, TaskQueue, WorkerPoolService } from 'nestjs-queue-scheduler';
import { ThroughputService, type ThroughputBucket } from './throughput.service';

export interface StatsView extends StatusCounts {
  workers: { busy: number; size: number };
  throughput: { bucketSeconds: number; buckets: ThroughputBucket[] };
}

export interface HandlerView {
  type: string;
  /** null: no cap beyond the pool's size. */
  concurrency: number | null;
  timeoutMs: number | null;
  maxAttempts: number;
}

@Controller()
export class StatsController {
  constructor(
    private readonly queue: TaskQueue,
    private readonly workers: WorkerPoolService,
    private readonly registry: TaskHandlerRegistry,
    private readonly throughput: ThroughputService,
  ) {}

  /** Everything the dashboard's header and chart need, in one request per poll. */
  @Get('stats')
  async stats(): Promise<StatsView> {
    const counts = await this.queue.countByStatus();
    return {
      ...counts,
      workers: { busy: this.workers.busy, size: this.workers.size },
      throughput: this.throughput.snapshot(),
    };
  }

  /** The task types this instance can run (the dashboard's push form offers these). */
  @Get('handlers')
  handlers(): HandlerView[] {
    return this.registry.all().map((h) => ({
      type: h.type,
      // JSON has no Infinity: it would arrive as null anyway, say so on purpose.
      concurrency: Number.isFinite(h.concurrency) ? h.concurrency : null,
      timeoutMs: h.timeoutMs ?? null,
      maxAttempts: h.retries.attempts,
    }));
  }
}
