import { ConfigurableModuleBuilder, type DynamicModule, Logger } from '@nestjs/common';
import { createDashboardController } from './dashboard.controller';
import {
  DEFAULT_DASHBOARD_PATH,
  type QueueSchedulerDashboardExtras,
  type QueueSchedulerDashboardOptions,
  resolveDashboardOptions,
  type ResolvedDashboardOptions,
  validateDashboardExtras,
} from './dashboard.options';
import { DashboardService } from './dashboard.service';
import { DashboardStreams } from './dashboard-streams';
import { DashboardBackendInterceptor } from './dashboard-backend.interceptor';
import { DashboardWriteGuard } from './dashboard-write.guard';
import { RESOLVED_DASHBOARD_OPTIONS } from './dashboard.tokens';

/** Builds the controller at `path` with the app's guards: routes are fixed when the module is, so both are extras. */
function withRoutes(definition: DynamicModule, extras: QueueSchedulerDashboardExtras): DynamicModule {
  validateDashboardExtras(extras);
  const path = extras.path.length > 1 ? extras.path.replace(/\/+$/, '') : extras.path;
  const guarded = extras.guards.length > 0;
  return {
    ...definition,
    controllers: [...(definition.controllers ?? []), createDashboardController(path, extras.guards)],
    providers: [
      ...(definition.providers ?? []),
      {
        provide: RESOLVED_DASHBOARD_OPTIONS,
        useFactory: (options: QueueSchedulerDashboardOptions): ResolvedDashboardOptions => {
          const resolved = resolveDashboardOptions(options, guarded);
          if (!resolved.readOnly && !guarded) {
            new Logger('QueueSchedulerDashboard').warn(
              `the dashboard at ${path} accepts actions (retry, cancel, pause, run now, edit) with no guard: anyone who can reach it can change the queue. Pass guards, or leave readOnly on.`,
            );
          }
          return resolved;
        },
        inject: [DASHBOARD_OPTIONS],
      },
      DashboardService,
      DashboardStreams,
      DashboardBackendInterceptor,
      DashboardWriteGuard,
    ],
  };
}

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: DASHBOARD_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<QueueSchedulerDashboardOptions>({ moduleName: 'QueueSchedulerDashboard' })
  .setClassMethodName('forRoot')
  .setExtras<QueueSchedulerDashboardExtras>({ path: DEFAULT_DASHBOARD_PATH, guards: [] }, withRoutes)
  .build();
