// loaded with the entities, so it is in place before any DataSource that lists them synchronizes
import './mariadb-null-default';
import './sqlite-bigint-increment';
import { QueuedTask } from './queued-task.entity';
import { SchedulerTask } from './scheduler-task.entity';
import { StoreEntry } from './store-entry.entity';
import { PausedTaskType } from './paused-task-type.entity';
import { TaskSingleton } from './task-singleton.entity';
import { RateWindow } from './rate-window.entity';
import { RecordedTaskEvent } from './task-event.entity';

export { QueuedTask, SchedulerTask, StoreEntry, TaskSingleton, PausedTaskType, RateWindow, RecordedTaskEvent };

/** Every entity the library needs; list them in a DataSource that does not use autoLoadEntities (e.g. for the TypeORM CLI). */
export const QUEUE_SCHEDULER_ENTITIES = [SchedulerTask, QueuedTask, StoreEntry, TaskSingleton, PausedTaskType, RateWindow, RecordedTaskEvent];
