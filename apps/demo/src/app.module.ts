import { Module } from '@nestjs/common';
import { QueueSchedulerModule } from 'nestjs-queue-scheduler';
import { AudioHandlers } from './audio.handlers';

@Module({
  imports: [QueueSchedulerModule.forRoot({ workers: { concurrency: 3 } })],
  providers: [AudioHandlers],
})
export class AppModule {}
