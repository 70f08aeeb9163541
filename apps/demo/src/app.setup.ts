import type { NestExpressApplication } from '@nestjs/platform-express';

/** Where QueueSchedulerDashboardModule is mounted (app.module.ts). */
export const DASHBOARD_PATH = '/queues';

/** What main.ts and the e2e tests both apply to the app, so tests exercise the same HTTP surface. */
export function configureApp(app: NestExpressApplication): NestExpressApplication {
  // GET /metrics stays at the root, where Prometheus scrapes by default; the dashboard keeps its own path.
  app.setGlobalPrefix('api', { exclude: ['metrics', 'queues', 'queues/{*path}'] });
  // The demo's home page is the dashboard.
  app.getHttpAdapter().get('/', (_req: unknown, res: { redirect(status: number, url: string): void }) => res.redirect(302, `${DASHBOARD_PATH}/`));
  return app;
}
