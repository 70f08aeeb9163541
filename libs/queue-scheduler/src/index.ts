export { QueueSchedulerModule } from './queue-scheduler.module';
export { QUEUE_SCHEDULER_OPTIONS } from './queue-scheduler.module-definition';
export type { QueueSchedulerModuleExtras } from './queue-scheduler.module-definition';
export { MemoryQueueService } from './queue/memory/memory-queue.service';
export { DatabaseQueueService } from './queue/database/database-queue.service';
export { RedisQueueService } from './queue/redis/redis-queue.service';
export { TaskQueue } from './queue/task-queue';
export type { CancelTaskOptions, ListTasksFilter, StatusCounts, TaskPage } from './queue/task-queue';
export type { QueueCapabilities } from './queue/queue-consumer';
export { TaskHandler } from './handlers/task-handler.decorator';
export { TaskHandlerRegistry } from './handlers/task-handler.registry';
export { WorkerPoolService } from './workers/worker-pool.service';
export { SchedulerService } from './scheduler/scheduler.service';
export { nextOccurrences } from './scheduler/next-occurrences';
export type { ScheduleTiming, ScheduleTimingInput } from './scheduler/next-occurrences';
export { Scheduled } from './handlers/scheduled.decorator';
export type { ScheduledOptions } from './handlers/scheduled.decorator';
export { DeclaredSchedulesService } from './scheduler/declared-schedules.service';
export { SchedulerTask, QueuedTask, StoreEntry, TaskSingleton, PausedTaskType, RateWindow, RecordedTaskEvent, QUEUE_SCHEDULER_ENTITIES } from './entities';
export { QUEUE_SCHEDULER_MIGRATIONS } from './migrations';
export type { AddSchedulerTaskInput, UpdateSchedulerTaskInput, ListSchedulesFilter, MisfirePolicy, OverlapPolicy, ScheduleType, ScheduleEvent, ScheduleFlow } from './interfaces/schedule.interface';
export { QUEUE_SCHEDULER_CLOCK, systemClock } from './clock';
export type { Clock } from './clock';
export { QueueSchedulerMetrics } from './metrics/queue-scheduler-metrics';
export type { QueueSchedulerMetricsSnapshot, TaskTypeMetrics, EventCounts } from './metrics/queue-scheduler-metrics';
export type { HistogramSnapshot } from './metrics/histogram';
export { QueueSchedulerHealthService } from './health/queue-scheduler-health.service';
export type { QueueSchedulerHealthOptions, QueueSchedulerHealthReport, HealthCheckOutcome } from './health/queue-scheduler-health.service';
export {
  QueueSchedulerError,
  InvalidTaskError,
  InvalidScheduleError,
  InvalidOptionsError,
  InvalidArgumentError,
  InvalidTaskHandlerError,
  TaskNotFoundError,
  DuplicateTaskHandlerError,
  NoTaskHandlerError,
  TaskTimeoutError,
  InvalidResultError,
  ResultTooLargeError,
  InvalidProgressError,
  TaskCancelledError,
  RateLimitedError,
  TaskLostError,
  MissingPackageError,
  TaskWaitTimeoutError,
  QueueClosedError,
  NotSupportedError,
  BackendTimeoutError,
  SchemaNotReadyError,
} from './errors/errors';
export { ScheduleConflictError, TaskShutdownError } from './errors/conflict-errors';
export { MAX_FLOW_DEPTH, MAX_FLOW_NODES } from './interfaces/flow.interface';
export type { ChildFailurePolicy, ChildResult, FlowIds, FlowInput, FlowNode } from './interfaces/flow.interface';
export { MAX_PROGRESS_BYTES } from './workers/task-progress';
export { MAX_ERROR_STACK_CHARS, MAX_TRIES_KEPT } from './queue/task-tries';
export type {
  QueueSchedulerModuleOptions,
  RetryPolicy,
  WorkerOptions,
  StoreOptions,
  SchedulerOptions,
  QueueOptions,
  SqliteOptions,
  RedisConnectionOptions,
} from './interfaces/options.interface';
export type { TaskHandlerOptions, TaskHandlerFn, RateLimit } from './interfaces/task-handler.interface';
export type {
  Task,
  TaskRecord,
  TaskStatus,
  TaskContext,
  TaskEvent,
  TaskEventKind,
  ClusterTaskEvent,
  ClusterEventKind,
  ClusterEventsOptions,
  TaskFinishedOptions,
  TaskProgress,
  TaskTry,
  TaskTryOutcome,
  InstanceLoad,
  PushTaskInput,
  MaybePromise,
} from './interfaces/task.interface';
