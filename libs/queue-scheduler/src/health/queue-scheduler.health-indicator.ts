import { Injectable } from '@nestjs/common';
import { type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { type QueueSchedulerHealthOptions, QueueSchedulerHealthService } from './queue-scheduler-health.service';

/**
 * A `@nestjs/terminus` health indicator for the library: database reachable,
 * Redis reachable (Redis backend), scheduler running, oldest overdue occurrence lag, workers alive. Import it
 * from `nestjs-queue-scheduler/health` and list it in the providers of the
 * module that imports `TerminusModule`.
 *
 * @example
 * @Get('health')
 * @HealthCheck()
 * check() {
 *   return this.health.check([() => this.queueScheduler.isHealthy('queue_scheduler', { maxScheduleLagMs: 30_000 })]);
 * }
 * @publicApi
 */
@Injectable()
export class QueueSchedulerHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly checks: QueueSchedulerHealthService,
  ) {}

  /**
   * Up when every check is; the result lists each check (`database`, `queue`,
   * `scheduler`, `scheduleLag`, `workers`) with what it measured or its error.
   */
  async isHealthy<const Key extends string = 'queue_scheduler'>(
    key: Key = 'queue_scheduler' as Key,
    options: QueueSchedulerHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const session = this.indicators.check(key);
    const { healthy, ...checks } = await this.checks.check(options);
    return healthy ? session.up(checks) : session.down(checks);
  }
}
