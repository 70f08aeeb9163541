import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { QueueSchedulerHealthIndicator } from 'nestjs-queue-scheduler/health';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly queueScheduler: QueueSchedulerHealthIndicator,
  ) {}

  /**
   * 200 `{ status: 'ok', info }` or 503 `{ status: 'error', error }`: database
   * reachable, scheduler running, the oldest due schedule at most 60 s late, workers running.
   */
  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.queueScheduler.isHealthy('queue_scheduler', { timeoutMs: 1000, maxScheduleLagMs: 60_000 })]);
  }
}
