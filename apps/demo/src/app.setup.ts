import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';

/**
 * The dashboard's static files. They live in apps/demo/public, which is
 * `../public` from src/ (tests, ts-node) and `../../../apps/demo/public`
 * from dist/apps/demo/ (npm run demo): tsc does not copy non-TS files.
 */
export function publicDir(): string {
  const candidates = [join(__dirname, '..', 'public'), join(__dirname, '..', '..', '..', 'apps', 'demo', 'public')];
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')));
  if (!found) throw new Error(`dashboard files not found in ${candidates.join(' or ')}`);
  return found;
}

/** What main.ts and the e2e tests both apply to the app, so tests exercise the same HTTP surface. */
export function configureApp(app: NestExpressApplication): NestExpressApplication {
  // GET /metrics stays at the root, where Prometheus scrapes by default.
  app.setGlobalPrefix('api', { exclude: ['metrics'] });
  // Static files sit outside the /api prefix: GET / is the dashboard. no-cache: a rebuilt demo is seen at once.
  app.useStaticAssets(publicDir(), { index: 'index.html', maxAge: 0 });
  return app;
}
