import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueSchedulerModule, type QueueSchedulerModuleOptions } from 'nestjs-queue-scheduler';
import type { TestDatabase } from './databases';

/** A producer-only app (no workers, no scheduler) on `queue` (the database backend by default), to push from the test process. */
export async function bootProducer(db: TestDatabase, queue: QueueSchedulerModuleOptions['queue'] = { backend: 'database' }, synchronize = true): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize, logging: false }),
      QueueSchedulerModule.forRoot({ logLevel: 'fatal', workers: { enabled: false }, scheduler: { enabled: false }, queue }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}
