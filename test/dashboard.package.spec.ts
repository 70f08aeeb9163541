import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { MARIADB } from './support/databases';
import { CLEAN_ENV, installApp, INSTALL_TIMEOUT_MS, npx, packLibrary, ROOT } from './support/packed-app';
import { dropPrefix, REDIS } from './support/redis';
import { waitFor } from './support/wait-for';

/**
 * The dashboard as a user mounts it from the packed tarball: a fresh Nest app
 * (registry dependencies only, compiled by its own tsc) mounts
 * `QueueSchedulerDashboardModule` behind its own guard, and Debian's Chromium
 * drives the page on the memory backend (scheduler on SQLite), the database
 * backend on MariaDB and the Redis backend. One install for the whole file.
 */

jest.setTimeout(60_000);

const REGISTRY_DEPENDENCIES = [
  '@nestjs/common', '@nestjs/core', '@nestjs/platform-express', '@nestjs/typeorm', 'typeorm', 'better-sqlite3', 'mysql2',
  'bullmq', 'ioredis', 'reflect-metadata', 'rxjs', 'typescript', '@types/node',
];

const TOKEN = 'letmein';
const MOUNT = '/ops/queues';
const TIMING = { scheduleType: 'cron', cronExpression: '30 2 * * *', timezone: 'Europe/Berlin' } as const;
/**
 * A few days before Berlin's spring-forward (2030-03-31) and fall-back (2030-10-27) nights: after the
 * schedule's next run, since a stored schedule lists nothing before it.
 */
const FROM_SPRING = '2030-03-28T12:00:00Z';
const FROM_FALL = '2030-10-24T12:00:00Z';

/** The app, as a user writes it; `/app/*` is its own test hook, how the spec pushes work and reads the package's answers. */
const OPS_TS = `import 'reflect-metadata';
import { type CanActivate, Controller, type ExecutionContext, Get, Injectable, Module, Param, Post, Query } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import {
  nextOccurrences,
  QUEUE_SCHEDULER_ENTITIES,
  QUEUE_SCHEDULER_MIGRATIONS,
  QueueSchedulerModule,
  type QueueSchedulerModuleOptions,
  SchedulerService,
  type ScheduleTiming,
  TaskHandler,
  TaskQueue,
} from 'nestjs-queue-scheduler';
import { QueueSchedulerDashboardModule } from 'nestjs-queue-scheduler/dashboard';

/** Lets a request act when it carries the ops token, in a header or a cookie. */
@Injectable()
export class HeaderGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>();
    const cookie = /(?:^|;\\s*)ops_token=([^;]*)/.exec(req.headers.cookie ?? '')?.[1];
    return req.headers['x-ops-token'] === '${TOKEN}' || cookie === '${TOKEN}';
  }
}

@Injectable()
export class Reports {
  reportServerUp = false;

  @TaskHandler('send_report', { retries: { attempts: 1 } })
  send(): string {
    if (!this.reportServerUp) throw new Error('the report server is down');
    return 'report sent';
  }

  @TaskHandler('nightly_cleanup')
  cleanup(): void {}
}

const TIMING = ${JSON.stringify(TIMING)} as const;
// the exported type a user writes a timing with
const timing: ScheduleTiming = TIMING;

@Controller('app')
export class TestHooks {
  constructor(private readonly queue: TaskQueue, private readonly scheduler: SchedulerService, private readonly reports: Reports) {}

  @Post('report')
  async report() {
    return { taskId: await this.queue.pushTask({ type: 'send_report' }) };
  }

  @Post('report-server-up')
  up() {
    this.reports.reportServerUp = true;
    return {};
  }

  @Post('schedule')
  async schedule() {
    const s = await this.scheduler.addSchedule({ name: 'nightly cleanup, Berlin', taskType: 'nightly_cleanup', ...TIMING });
    return { id: s.taskId, createdAt: s.createdAt };
  }

  @Get('next')
  next(@Query('from') from: string) {
    return nextOccurrences(timing, 5, new Date(from));
  }

  @Get('schedules/:id/next')
  stored(@Param('id') id: string) {
    return this.scheduler.nextOccurrences(id);
  }

  @Get('paused')
  paused() {
    return this.queue.listPausedTypes();
  }
}

function database(): TypeOrmModuleOptions {
  const common = { entities: QUEUE_SCHEDULER_ENTITIES, migrations: QUEUE_SCHEDULER_MIGRATIONS, migrationsRun: true, synchronize: false };
  if (process.env.BACKEND === 'mariadb') {
    return { ...common, type: 'mariadb', host: process.env.DB_HOST, port: Number(process.env.DB_PORT), username: 'root', password: '', database: process.env.DB_NAME };
  }
  return { ...common, type: 'better-sqlite3', database: process.env.DB_FILE! };
}

function queue(): QueueSchedulerModuleOptions['queue'] {
  if (process.env.BACKEND === 'redis') return { backend: 'redis', connection: { host: process.env.REDIS_HOST!, port: Number(process.env.REDIS_PORT) }, prefix: process.env.REDIS_PREFIX };
  return { backend: process.env.BACKEND === 'mariadb' ? 'database' : 'memory' };
}

@Module({
  imports: [
    TypeOrmModule.forRoot(database()),
    QueueSchedulerModule.forRoot({ queue: queue() }),
    QueueSchedulerDashboardModule.forRoot({ path: '${MOUNT}', guards: [HeaderGuard] }),
  ],
  controllers: [TestHooks],
  providers: [Reports, HeaderGuard],
})
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  console.log(JSON.stringify({ url: await app.getUrl() }));
}

void main();
`;

type Backend = 'memory' | 'mariadb' | 'redis';

interface RunningApp {
  url: string;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts the compiled app and resolves once it prints where it listens. */
function startApp(dir: string, env: NodeJS.ProcessEnv): Promise<RunningApp> {
  const child: ChildProcess = spawn('node', ['dist/ops.js'], { cwd: dir, env: { ...CLEAN_ENV, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void stop().then(() => reject(new Error(`the app did not start within 30 s:\n${output}`))), 30_000);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = /^\{"url":"([^"]+)"\}$/m.exec(output);
      if (line) {
        clearTimeout(timer);
        resolve({ url: line[1].replace('[::1]', '127.0.0.1'), output: () => output, stop });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the app exited (${code}) before listening:\n${output}`));
    });
  });
}

async function createMariaDb(): Promise<{ name: string; drop: () => Promise<void> }> {
  const mysql = await import('mysql2/promise');
  const name = `qs_dash_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = await mysql.createConnection({ ...MARIADB });
  await admin.query(`CREATE DATABASE \`${name}\``);
  await admin.end();
  return {
    name,
    drop: async () => {
      const c = await mysql.createConnection({ ...MARIADB });
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}

let base: string;
let appDir: string;
let browser: Browser;

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'qs-dashboard-package-'));
  appDir = join(base, 'app');
  const { tarball } = await packLibrary(join(base, 'pack'));
  // the repo's better-sqlite3 build as a local prebuild: the native compile would take half of this file's time
  await installApp(appDir, tarball, REGISTRY_DEPENDENCIES, { 'src/ops.ts': OPS_TS }, join(base, 'prebuilds'));
  await npx(['tsc', '-p', '.'], appDir);
  // never a Playwright browser download: the system's Chromium, headless
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}, INSTALL_TIMEOUT_MS + 120_000);

afterAll(async () => {
  await browser?.close();
  if (base) rmSync(base, { recursive: true, force: true });
});

const WAIT = { timeout: 20_000 };

describe.each<Backend>(['memory', 'mariadb', 'redis'])('the packed dashboard behind the app guard, %s backend', (backend) => {
  let app: RunningApp;
  let cleanup: () => Promise<void> = async () => {};
  let contexts: BrowserContext[] = [];
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    const env: NodeJS.ProcessEnv = { BACKEND: backend, DB_FILE: join(base, `${backend}.sqlite`) };
    if (backend === 'mariadb') {
      const db = await createMariaDb();
      Object.assign(env, { DB_HOST: MARIADB.host, DB_PORT: String(MARIADB.port), DB_NAME: db.name });
      cleanup = db.drop;
    }
    if (backend === 'redis') {
      const prefix = `qs-dash-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
      Object.assign(env, { REDIS_HOST: REDIS.host, REDIS_PORT: String(REDIS.port), REDIS_PREFIX: prefix });
      cleanup = () => dropPrefix(prefix);
    }
    app = await startApp(appDir, env);
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    contexts = [];
    await app?.stop();
    await cleanup();
  });

  async function open(extraHTTPHeaders?: Record<string, string>): Promise<Page> {
    const anonymous = !extraHTTPHeaders;
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, extraHTTPHeaders });
    contexts.push(context);
    const page = await context.newPage();
    page.on('console', (msg) => {
      // the anonymous page's access probe is refused on purpose, and the browser logs that 403
      if (msg.type() === 'error' && !(anonymous && /status of 403/.test(msg.text()))) consoleErrors.push(`console: ${msg.text()}`);
    });
    page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
    await page.goto(`${app.url}${MOUNT}`);
    await page.waitForSelector('[data-testid="sse-status"][data-state="open"]', WAIT);
    return page;
  }

  const hook = async <T>(method: 'GET' | 'POST', path: string): Promise<T> => {
    const res = await fetch(`${app.url}/app/${path}`, { method });
    if (!res.ok) throw new Error(`${method} /app/${path}: ${res.status} ${await res.text()}\n${app.output()}`);
    return (await res.json()) as T;
  };
  const api = async <T>(path: string): Promise<T> => (await (await fetch(`${app.url}${MOUNT}/api/${path}`)).json()) as T;
  const typeRow = '[data-testid="type-row"][data-type="send_report"]';

  it('anonymous: an action answers 403 from the guard, and the page shows read-only with no action button', async () => {
    const page = await open();
    await page.waitForSelector('body[data-read-only="true"]', WAIT);
    await page.waitForSelector(typeRow, WAIT);
    expect(await page.locator('[data-testid="mode"]').isVisible()).toBe(true);
    expect(await page.locator('[data-testid="mode"]').getAttribute('data-reason')).toContain('actions refused');
    expect(await page.locator('button.action:visible').count()).toBe(0);
    // sent from the page itself, so it passes the same-origin check: what refuses it is the app's guard
    const status = await page.evaluate("fetch('api/types/send_report/pause', { method: 'POST' }).then((r) => r.status)");
    expect(status).toBe(403);
    expect(await hook<string[]>('GET', 'paused')).toEqual([]);
  });

  it('with the token: a dead task is retried from the page and then succeeds', async () => {
    const page = await open({ 'x-ops-token': TOKEN });
    await page.waitForSelector('body[data-read-only="false"]', WAIT);
    expect(await page.locator('[data-testid="mode"]').isVisible()).toBe(false);
    const { taskId } = await hook<{ taskId: string }>('POST', 'report');
    const row = `[data-testid="task-row"][data-task-id="${taskId}"]`;
    await page.waitForSelector(`${row}[data-status="dead"]`, WAIT);
    expect(await page.locator(`${row} [data-testid="task-error"]`).textContent()).toContain('the report server is down');
    await hook('POST', 'report-server-up');
    await page.locator(row).click();
    const detail = `[data-testid="task-detail"][data-task-id="${taskId}"]`;
    // the error with its stack, and the timeline of its tries, as text
    expect(await page.locator(`${detail} [data-testid="detail-stack"]`).textContent()).toMatch(/^Error: the report server is down\n\s+at /);
    expect(await page.locator(`${detail} [data-testid="detail-try"]`).evaluateAll((tries) => tries.map((t) => t.getAttribute('data-outcome')))).toEqual(['failed']);
    expect(await page.locator('[data-testid="instance"][data-self="true"]').textContent()).toContain('(this one)');
    await page.locator(`${detail} [data-testid="task-retry"]`).click();
    await page.waitForSelector(`${row}[data-status="succeeded"]`, WAIT);
    expect(await api(`tasks/${taskId}`)).toMatchObject({ status: 'succeeded', result: 'report sent' });

    // the detail once more: its timeline now ends with the try that succeeded; the README shows this picture
    await page.locator(row).click();
    await page.waitForSelector(`${detail} [data-testid="detail-try"][data-outcome="succeeded"]`, WAIT);
    expect(await page.locator(`${detail} [data-testid="detail-try"]`).evaluateAll((tries) => tries.map((t) => t.getAttribute('data-outcome')))).toEqual(['failed', 'succeeded']);
    await waitFor(async () => (await page.evaluate('document.getAnimations().length')) === 0, 'animations to end', WAIT.timeout, 50);
    const shot = join(ROOT, 'docs', `dashboard-ops-${backend}-task.png`);
    await page.locator(detail).screenshot({ path: shot });
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
  });

  it('with the token: a task type is paused and resumed from the page, and the paused list agrees', async () => {
    const page = await open({ 'x-ops-token': TOKEN });
    await page.locator(`${typeRow} [data-testid="type-pause"]`).click();
    await page.waitForSelector(`${typeRow}[data-state="paused"]`, WAIT);
    expect(await hook<string[]>('GET', 'paused')).toEqual(['send_report']);
    expect(await api<Array<{ type: string; paused: boolean }>>('types')).toContainEqual(expect.objectContaining({ type: 'send_report', paused: true }));
    await page.locator(`${typeRow} [data-testid="type-resume"]`).click();
    await page.waitForSelector(`${typeRow}[data-state="active"]`, WAIT);
    expect(await hook<string[]>('GET', 'paused')).toEqual([]);
  });

  it("with the token: a DST-crossing cron's next 5 runs on the page equal the package's nextOccurrences", async () => {
    const page = await open({ 'x-ops-token': TOKEN });
    const { id } = await hook<{ id: string }>('POST', 'schedule');
    await page.locator(`[data-testid="schedule-row"][data-schedule-id="${id}"] [data-testid="schedule-name"]`).click();
    const detail = page.locator(`[data-testid="schedule-detail"][data-schedule-id="${id}"]`);
    await detail.waitFor(WAIT);
    const shown = () => detail.locator('[data-testid="schedule-next-runs"] li').evaluateAll((items) => items.map((li) => li.getAttribute('data-at')));
    // from its stored next run: what the scheduler will fire
    expect(await shown()).toEqual(await hook<string[]>('GET', `schedules/${id}/next`));

    const cases: Array<[string, string]> = [
      [FROM_SPRING, '2030-03-31T01:00:00.000Z'], // 02:30 does not exist that night: once, at the jump (03:00 CEST)
      [FROM_FALL, '2030-10-27T00:30:00.000Z'], // 02:30 happens twice that night: once, on the first pass (CEST)
    ];
    for (const [from, night] of cases) {
      await detail.locator('[data-testid="schedule-from"]').fill(from);
      await detail.locator('[data-testid="schedule-from-show"]').click();
      await detail.locator('h4', { hasText: `Next 5 runs after ${from}` }).waitFor(WAIT);
      const runs = await shown();
      expect(runs).toEqual(await hook<string[]>('GET', `next?from=${from}`));
      expect(runs).toHaveLength(5);
      expect(runs).toContain(night);
    }

    // the picture the README shows: the schedule's DST preview open, the retried task in the list
    await waitFor(async () => (await page.evaluate('document.getAnimations().length')) === 0, 'animations to end', WAIT.timeout, 50);
    const shot = join(ROOT, 'docs', `dashboard-ops-${backend}.png`);
    mkdirSync(join(shot, '..'), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
    expect(consoleErrors).toEqual([]);
  });
});
