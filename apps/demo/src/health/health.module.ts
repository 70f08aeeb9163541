import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { QueueSchedulerHealthIndicator } from 'nestjs-queue-scheduler/health';
import { HealthController } from './health.controller';

/** GET /api/health. The indicator needs terminus's HealthIndicatorService, so it is provided where TerminusModule is imported. */
@Module({
  imports: [TerminusModule],
  controllers: [HealthController],
  providers: [QueueSchedulerHealthIndicator],
})
export class HealthModule {}
