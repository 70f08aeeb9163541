export { QueueSchedulerTestingModule, TESTING_DATA_SOURCE } from './queue-scheduler-testing.module';
export type { QueueSchedulerTestingOptions } from './queue-scheduler-testing.module';
export { QueueSchedulerTester } from './queue-scheduler.tester';
export type { TaskRun } from './queue-scheduler.tester';
export { VirtualClock } from './virtual-clock';
