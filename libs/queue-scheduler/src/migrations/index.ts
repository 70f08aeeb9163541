import { CreateSchedulerTask1764300000000 } from './1764300000000-create-scheduler-task';
import { CreateTaskQueue1764400000000 } from './1764400000000-create-task-queue';
import { AddSchedulerTaskDeclaredHash1764500000000 } from './1764500000000-add-scheduler-task-declared-hash';
import { BinaryKeyCollations1764600000000 } from './1764600000000-binary-key-collations';
import { AddSchedulerTaskOverlap1764700000000 } from './1764700000000-add-scheduler-task-overlap';
import { AddTaskSingleton1764710000000 } from './1764710000000-add-task-singleton';
import { AddTaskQueueProgress1764720000000 } from './1764720000000-add-task-queue-progress';
import { CreateQueuePausedType1764730000000 } from './1764730000000-create-queue-paused-type';
import { AddTaskQueueCancelRequested1764740000000 } from './1764740000000-add-task-queue-cancel-requested';
import { CreateQueueRateWindow1764750000000 } from './1764750000000-create-queue-rate-window';
import { AddTaskQueueTraceContext1764760000000 } from './1764760000000-add-task-queue-trace-context';
import { AddTaskQueueTries1764770000000 } from './1764770000000-add-task-queue-tries';
import { CreateTaskEvent1764780000000 } from './1764780000000-create-task-event';
import { AddTaskQueueFlows1764790000000 } from './1764790000000-add-task-queue-flows';
import { AddSchedulerTaskFlow1764800000000 } from './1764800000000-add-scheduler-task-flow';
import { PartialTaskQueueIndexes1764810000000 } from './1764810000000-partial-task-queue-indexes';
import { Utf8mb4TextColumns1764820000000 } from './1764820000000-utf8mb4-text-columns';

export {
  CreateSchedulerTask1764300000000,
  CreateTaskQueue1764400000000,
  AddSchedulerTaskDeclaredHash1764500000000,
  BinaryKeyCollations1764600000000,
  AddSchedulerTaskOverlap1764700000000,
  AddTaskSingleton1764710000000,
  AddTaskQueueProgress1764720000000,
  CreateQueuePausedType1764730000000,
  AddTaskQueueCancelRequested1764740000000,
  CreateQueueRateWindow1764750000000,
  AddTaskQueueTraceContext1764760000000,
  AddTaskQueueTries1764770000000,
  CreateTaskEvent1764780000000,
  AddTaskQueueFlows1764790000000,
  AddSchedulerTaskFlow1764800000000,
  PartialTaskQueueIndexes1764810000000,
  Utf8mb4TextColumns1764820000000,
};

/**
 * The library's migrations, oldest first, for every supported database.
 * Add them to your DataSource's `migrations` (TypeORM CLI or `migrationsRun`).
 * @publicApi
 */
export const QUEUE_SCHEDULER_MIGRATIONS = [
  CreateSchedulerTask1764300000000,
  CreateTaskQueue1764400000000,
  AddSchedulerTaskDeclaredHash1764500000000,
  BinaryKeyCollations1764600000000,
  AddSchedulerTaskOverlap1764700000000,
  AddTaskSingleton1764710000000,
  AddTaskQueueProgress1764720000000,
  CreateQueuePausedType1764730000000,
  AddTaskQueueCancelRequested1764740000000,
  CreateQueueRateWindow1764750000000,
  AddTaskQueueTraceContext1764760000000,
  AddTaskQueueTries1764770000000,
  CreateTaskEvent1764780000000,
  AddTaskQueueFlows1764790000000,
  AddSchedulerTaskFlow1764800000000,
  PartialTaskQueueIndexes1764810000000,
  Utf8mb4TextColumns1764820000000,
];
