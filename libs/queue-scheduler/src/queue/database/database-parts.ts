/**
 * The database backend's code that DatabaseQueueService builds on, loaded by
 * its constructor (see `databaseParts` there): an app on another backend (the
 * memory queue, the default) never parses it.
 */
export { DatabasePublicStore } from './database-public-store';
export { Sequence } from './task-rows';
export { TaskStatusReads } from './task-status';
export { TaskInserts } from './task-inserts';
export { SingletonPushes } from './singleton-pushes';
export { DatabaseConsumer } from './database-consumer';
export { requestCancel, retryTask } from './statements/tasks';
export { DatabaseClusterEvents } from './database-cluster-events';
export { DatabaseFlows } from './database-flows';
export { databasePausedTypes } from './statements/paused-types';
export { databasePermits } from './statements/rate-windows';
