import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigurableModuleClass, type OPTIONS_TYPE } from './dashboard.module-definition';

/**
 * A web page and its JSON + live API for the queue, the task types and the
 * schedules, mounted at `path` in the app. Read-only unless the app passes
 * `guards` (or sets `readOnly: false`). Needs `QueueSchedulerModule` (global, as by default).
 *
 * @example
 * QueueSchedulerDashboardModule.forRoot({ path: '/queues', guards: [AdminGuard] })
 * @publicApi
 */
@Module({})
export class QueueSchedulerDashboardModule extends ConfigurableModuleClass {
  /** The builder's own forRoot requires an argument; every option has a default. */
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }
}
