import { SchedulerTask } from './scheduler-task.entity';

export { SchedulerTask };

/** Every entity the library needs; list them in a DataSource that does not use autoLoadEntities (e.g. for the TypeORM CLI). */
export const QUEUE_SCHEDULER_ENTITIES = [SchedulerTask];
