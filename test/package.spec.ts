import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installApp, INSTALL_TIMEOUT_MS, locked, npx, ok, packLibrary, ROOT, succeed } from './support/packed-app';

/**
 * The package as a user gets it: built and packed like a release, installed
 * from the tarball into a new app whose other dependencies come from the
 * registry, compiled by that app's own tsc and run on SQLite.
 */

jest.setTimeout(120_000);

// platform-express and prom-client: the prometheus entry point's scrape over HTTP
const REGISTRY_DEPENDENCIES = ['@nestjs/common', '@nestjs/core', '@nestjs/platform-express', '@nestjs/typeorm', 'typeorm', 'better-sqlite3', 'reflect-metadata', 'rxjs', 'prom-client', 'typescript', '@types/node'];

const MAIN_TS = `import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import {
  QUEUE_SCHEDULER_ENTITIES,
  QUEUE_SCHEDULER_MIGRATIONS,
  QueueSchedulerModule,
  SchedulerService,
  TaskHandler,
  TaskQueue,
  type TaskContext,
} from 'nestjs-queue-scheduler';

interface Greeting {
  to: string;
}

@Injectable()
class Greeter {
  readonly runs: Array<{ taskId: string; to: string; scheduleId: string | null }> = [];

  @TaskHandler('greet')
  greet(params: Greeting, ctx: TaskContext<Greeting>): void {
    this.runs.push({ taskId: ctx.taskId, to: params.to, scheduleId: ctx.task.schedulerTaskId ?? null });
  }
}

@Module({
  imports: [
    TypeOrmModule.forRoot({
      name: 'jobs',
      type: 'better-sqlite3',
      database: process.env.APP_DB!,
      entities: QUEUE_SCHEDULER_ENTITIES,
      migrations: QUEUE_SCHEDULER_MIGRATIONS,
      migrationsRun: true,
      synchronize: false,
    }),
    QueueSchedulerModule.forRoot({ dataSource: 'jobs' }),
  ],
  providers: [Greeter],
})
class AppModule {}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  const greeter = app.get(Greeter);
  const scheduler = app.get(SchedulerService);
  const taskId = await app.get(TaskQueue).pushTask<Greeting>({ type: 'greet', params: { to: 'task' } });
  const schedule = await scheduler.addSchedulerTask({
    name: 'greet once a second',
    taskType: 'greet',
    scheduleType: 'interval',
    intervalSeconds: 1,
    maxRuns: 1,
    params: { to: 'schedule' },
  });
  const done = await until(() => greeter.runs.length >= 2, 15_000);
  const stored = await scheduler.getTask(schedule.taskId);
  const applied = (await app.get<DataSource>(getDataSourceToken('jobs')).query('SELECT name FROM migrations ORDER BY id')) as Array<{ name: string }>;
  await app.close();
  console.log(JSON.stringify({
    done,
    taskId,
    scheduleId: schedule.taskId,
    runs: greeter.runs,
    schedule: { runCount: stored.runCount, enabled: stored.enabled },
    applied: applied.map((m) => m.name),
    shipped: QUEUE_SCHEDULER_MIGRATIONS.map((m) => new m().name),
  }));
  // no process.exit: the process ends only if close() left no timer or handle behind
  if (!done) process.exitCode = 1;
}

void main();
`;

/** The optional entry point `nestjs-queue-scheduler/prometheus` with prom-client from the registry: one scrape over HTTP. */
const PROMETHEUS_TS = `import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { QueueSchedulerMetrics, QueueSchedulerModule, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { OTHER_TYPE_LABEL, QueueSchedulerPrometheusModule } from 'nestjs-queue-scheduler/prometheus';
import { Registry } from 'prom-client';

@Injectable()
class Mailer {
  @TaskHandler('send_email')
  send(): void {}
}

@Module({
  imports: [
    QueueSchedulerModule.forRoot({ dataSource: false }),
    QueueSchedulerPrometheusModule.forRootAsync({ useFactory: () => ({ registry: new Registry() }) }),
  ],
  providers: [Mailer],
})
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const queue = app.get(TaskQueue);
  await queue.pushTask({ type: 'send_email' });
  await queue.pushTask({ type: 'no_such_handler' });
  const metrics = app.get(QueueSchedulerMetrics);
  const settled = async () => {
    const { events } = await metrics.snapshot();
    return events.succeeded + events.dead >= 2;
  };
  const deadline = Date.now() + 15_000;
  while (!(await settled()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const res = await fetch(\`http://127.0.0.1:\${(app.getHttpServer().address() as AddressInfo).port}/metrics\`);
  const text = await res.text();
  await app.close();
  console.log(JSON.stringify({ status: res.status, contentType: res.headers.get('content-type'), other: OTHER_TYPE_LABEL, text }));
}

void main();
`;

/** Series name → type of the README's "Prometheus" table. */
function documentedSeries(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Prometheus');
  const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1));
  return new Map([...section.matchAll(/^\| `(queue_scheduler_\w+)` \| (\w+) \|/gm)].map((r) => [r[1], r[2]]));
}

/** The data source file the README tells users to give the TypeORM CLI. */
const DATA_SOURCE_JS = `const { DataSource } = require('typeorm');
const { QUEUE_SCHEDULER_ENTITIES, QUEUE_SCHEDULER_MIGRATIONS } = require('nestjs-queue-scheduler');

module.exports = new DataSource({
  type: 'better-sqlite3',
  database: process.env.CLI_DB,
  entities: [...QUEUE_SCHEDULER_ENTITIES],
  migrations: [...QUEUE_SCHEDULER_MIGRATIONS],
});
`;

/** The first ```ts block under `heading` in the README, verbatim: what a newcomer copies must compile (and run) as it is. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(heading));
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code) throw new Error(`README.md has no \`\`\`ts block under ${heading}`);
  return code;
}

/** Boots the Quick start's AppModule and prints the schedules it stored. */
const BOOT_QUICK_START_JS = `const { NestFactory } = require('@nestjs/core');
const { SchedulerService } = require('nestjs-queue-scheduler');
const { AppModule } = require('./dist/quick-start.js');

(async () => {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  const schedules = await app.get(SchedulerService).listTasks();
  await app.close();
  console.log(JSON.stringify(schedules.map((s) => ({ key: s.scheduleKey, type: s.taskType, cron: s.cronExpression, timezone: s.timezone, enabled: s.enabled, next: s.nextRunAt }))));
})();
`;

/**
 * What an app under `exactOptionalPropertyTypes` writes: an unset config value
 * (`string | undefined`) passed to an optional field, as the README's examples
 * do (the Redis password, the dashboard's title, a cluster-events checkpoint).
 */
const EXACT_OPTIONAL_TS = `import { Module } from '@nestjs/common';
import { MemoryQueueService, QueueSchedulerModule, SchedulerService } from 'nestjs-queue-scheduler';
import { QueueSchedulerDashboardModule } from 'nestjs-queue-scheduler/dashboard';

const unset = (name: string): string | undefined => process.env[name];

@Module({
  imports: [
    QueueSchedulerModule.forRoot({
      queue: { backend: 'redis', connection: { host: 'redis.internal', port: 6379, password: unset('REDIS_PASSWORD') }, prefix: unset('QUEUE_PREFIX') },
    }),
    QueueSchedulerDashboardModule.forRootAsync({ useFactory: () => ({ title: unset('APP_NAME'), maxClients: 50 }) }),
  ],
})
export class ExactOptionalModule {}

export function follow(queue: MemoryQueueService, lastId: string | undefined) {
  return queue.clusterEvents$({ after: lastId });
}

export async function pushAndSchedule(queue: MemoryQueueService, scheduler: SchedulerService): Promise<void> {
  await queue.pushTask({ type: 'report', taskId: unset('REPORT_ID'), priority: undefined, delayMs: undefined });
  await scheduler.addSchedule({ name: 'daily-report', taskType: 'report', scheduleType: 'cron', cronExpression: '0 8 * * *', timezone: unset('TZ'), params: undefined });
}
`;

/** The same app under the other module resolutions a user's tsconfig may name (noEmit: compiled only). */
const TSCONFIG_VARIANTS: Record<string, object> = {
  'tsconfig.bundler.json': { extends: './tsconfig.json', compilerOptions: { module: 'preserve', moduleResolution: 'bundler', noEmit: true, exactOptionalPropertyTypes: true } },
  'tsconfig.node10.json': { extends: './tsconfig.json', compilerOptions: { module: 'commonjs', moduleResolution: 'node10', noEmit: true, exactOptionalPropertyTypes: true } },
};

/**
 * A user's install downloads better-sqlite3's prebuilt addon; this machine has no
 * network beyond the registry, so npm would compile it from source (about two
 * minutes). By default the app gets the addon the repo's own `npm ci` built, through
 * prebuild-install's local-prebuild setting; QS_TEST_SQLITE_FROM_SOURCE=1 proves
 * the from-source build a user without a prebuilt binary goes through.
 */
const FROM_SOURCE = process.env.QS_TEST_SQLITE_FROM_SOURCE === '1';

describe('the npm package, installed into a new Nest app', () => {
  let base: string;
  let app: string;
  let tarball: string;
  let packed: string[];

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'qs-package-'));
    app = join(base, 'app');
    ({ tarball, files: packed } = await packLibrary(join(base, 'pack')));
    await installApp(app, tarball, REGISTRY_DEPENDENCIES, {
      'src/main.ts': MAIN_TS,
      'src/quick-start.ts': readmeBlock('## Quick start'),
      // compiled only: under the tsconfig of `nest new` (isolatedModules), a type in a decorated signature must be imported as a type
      'src/install.ts': readmeBlock('## Install in your app'),
      'src/prometheus.ts': PROMETHEUS_TS,
      'src/exact-optional.ts': EXACT_OPTIONAL_TS,
      ...Object.fromEntries(Object.entries(TSCONFIG_VARIANTS).map(([name, config]) => [name, JSON.stringify(config, null, 2)])),
      'boot-quick-start.js': BOOT_QUICK_START_JS,
      'data-source.js': DATA_SOURCE_JS,
    }, FROM_SOURCE ? undefined : join(base, 'prebuilds'));
  }, INSTALL_TIMEOUT_MS + 120_000);

  afterAll(() => {
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('packs the compiled library, its types, README, the docs it links to, LICENSE (MIT) and CHANGELOG, and nothing else', async () => {
    expect(packed).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'README.md', 'LICENSE', 'CHANGELOG.md', 'package.json']));
    const outsideDist = packed.filter((p) => !p.startsWith('dist/'));
    // docs/: what the README links to (benchmarks, demo, reliability, the dashboard's pictures), so its links work in the installed package
    expect(outsideDist.filter((p) => !p.startsWith('docs/')).sort()).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json']);
    const notShipped = packed.filter((p) => /\.spec\.|(^|\/)tests?\/|(^|\/)apps\//.test(p) || (p.endsWith('.ts') && !p.endsWith('.d.ts')));
    expect(notShipped).toEqual([]);
    // besides code, only the dashboard's page: its HTML, CSS and browser scripts ship as they are
    const assets = packed.filter((p) => p.startsWith('dist/dashboard/assets/'));
    expect(assets).toEqual(expect.arrayContaining(['dist/dashboard/assets/index.html', 'dist/dashboard/assets/dashboard.css', 'dist/dashboard/assets/dashboard.js']));
    expect(packed.filter((p) => p.startsWith('dist/') && !p.endsWith('.js') && !p.endsWith('.d.ts') && !assets.includes(p))).toEqual([]);

    const unpacked = join(base, 'unpacked');
    mkdirSync(unpacked);
    await ok('tar', ['-xzf', tarball, '-C', unpacked], base);
    const read = (path: string) => readFileSync(join(unpacked, 'package', path), 'utf8');
    // every relative link of the README (and of the docs it links to) names a file of the package
    const linked = (file: string): string[] =>
      [...read(file).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]).filter((target) => !/^[a-z]+:/i.test(target)).map((target) => join(file, '..', target));
    const readmeLinks = linked('README.md');
    expect(readmeLinks).toEqual(expect.arrayContaining(['docs/benchmarks.md', 'docs/demo.md', 'docs/reliability.md', 'docs/dashboard.png']));
    const links = [...readmeLinks, ...readmeLinks.filter((p) => p.endsWith('.md') && packed.includes(p)).flatMap(linked)];
    expect(links.filter((p) => !packed.includes(p))).toEqual([]);
    // and docs/ holds nothing else
    expect(packed.filter((p) => p.startsWith('docs/') && !links.includes(p))).toEqual([]);
    expect(read('LICENSE')).toMatch(/^MIT License\n/);
    expect(read('LICENSE')).toContain('Permission is hereby granted, free of charge');

    // a map the tarball lacks makes source-map-loader, Vite and --enable-source-maps warn in the user's build
    const danglingMaps = packed
      .filter((p) => p.endsWith('.js'))
      .flatMap((p) => [...read(p).matchAll(/^\/\/# sourceMappingURL=(.+)$/gm)].map((m) => join(p, '..', m[1])))
      .filter((map) => !packed.includes(map));
    expect(danglingMaps).toEqual([]);

    // every entry point the manifest names must be in the tarball, or an import fails only at the user's
    const manifest = JSON.parse(read('package.json')) as {
      license: string;
      main: string;
      types: string;
      exports: Record<string, string | Record<string, string>>;
    };
    expect(manifest.license).toBe('MIT');
    const targets = [manifest.main, manifest.types, ...Object.values(manifest.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)))];
    const missing = targets.map((t) => t.replace(/^\.\//, '')).filter((t) => !packed.includes(t));
    expect(missing).toEqual([]);
  });

  it('took the tarball for the library and the registry for everything else, with a working better-sqlite3 build', async () => {
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; resolved?: string; link?: boolean }>;
    };
    const local = Object.entries(lock.packages).filter(([path, p]) => path !== '' && (p.link || p.resolved?.startsWith('file:')));
    expect(local.map(([path]) => path)).toEqual(['node_modules/nestjs-queue-scheduler']);
    expect(realpathSync(join(app, 'node_modules', 'nestjs-queue-scheduler'))).toBe(join(realpathSync(app), 'node_modules', 'nestjs-queue-scheduler'));
    for (const name of REGISTRY_DEPENDENCIES) expect(`${name}@${lock.packages[`node_modules/${name}`]?.version}`).toBe(`${name}@${locked(name)}`);

    const sqlite = await ok('node', ['-e', "const D = require('better-sqlite3'); console.log(new D(':memory:').prepare('SELECT sqlite_version() AS v').get().v)"], app);
    expect(sqlite.trim()).toMatch(/^3\.\d+\.\d+$/);
  });

  it("compiles an app against the shipped .d.ts with the app's own tsc (strict, skipLibCheck off)", async () => {
    expect((await npx(['tsc', '--version'], app)).trim()).toBe(`Version ${locked('typescript')}`);
    await npx(['tsc', '-p', '.'], app);
    expect(readFileSync(join(app, 'dist', 'main.js'), 'utf8')).toContain("require(\"nestjs-queue-scheduler\")");
    expect(readFileSync(join(app, 'dist', 'quick-start.js'), 'utf8')).toContain("require(\"nestjs-queue-scheduler\")");
    expect(readFileSync(join(app, 'dist', 'prometheus.js'), 'utf8')).toContain("require(\"nestjs-queue-scheduler/prometheus\")");
  });

  it.each(Object.keys(TSCONFIG_VARIANTS))("type-checks the same app under %s (moduleResolution bundler / node10, exactOptionalPropertyTypes)", async (config) => {
    await npx(['tsc', '-p', config], app);
  });

  it('nestjs-queue-scheduler/prometheus with prom-client from the registry serves the documented series at GET /metrics', async () => {
    const result = await succeed('node', ['dist/prometheus.js'], app, { NO_COLOR: '1' }, 60_000);
    // the one error logged is the dead letter of the type without a handler, on purpose
    const logged = `${result.stdout}\n${result.stderr}`.split('\n').filter((line) => /\b(ERROR|WARN)\b/.test(line));
    expect(logged).toEqual([expect.stringContaining("(no_such_handler) is dead: no @TaskHandler for type 'no_such_handler'")]);
    const out = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { status: number; contentType: string; other: string; text: string };
    expect(out.status).toBe(200);
    expect(out.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const documented = documentedSeries();
    expect(documented.size).toBeGreaterThanOrEqual(14);
    const served = new Map([...out.text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    expect(served).toEqual(documented);
    expect(out.text).toContain('queue_scheduler_task_events_total{type="send_email",kind="succeeded"} 1\n');
    // a type without a handler is reported under the one shared label value
    expect(out.other).toBe('(other)');
    expect(out.text).toContain('queue_scheduler_task_events_total{type="(other)",kind="dead"} 1\n');
    expect(out.text).not.toContain('no_such_handler');
    expect(out.text).toContain('queue_scheduler_handler_duration_seconds_count{type="send_email"} 1\n');
  });

  it("the README's Quick start boots as written and stores its @Scheduled job", async () => {
    const result = await succeed('node', ['boot-quick-start.js'], app, { NO_COLOR: '1' }, 60_000);
    expect(`${result.stdout}\n${result.stderr}`).not.toMatch(/\b(ERROR|WARN)\b/);
    const schedules = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Array<Record<string, unknown>>;
    expect(schedules).toEqual([
      { key: 'morning-hello', type: 'say_hello', cron: '0 9 * * *', timezone: 'Europe/Berlin', enabled: true, next: expect.stringMatching(/T0[78]:00:00\.000Z$/) },
    ]);
  });

  it('boots on SQLite with a named DataSource and migrationsRun, runs a task and a schedule, and exits after app.close()', async () => {
    // exit code 0 within the time limit: main() neither threw nor left a handle open after close()
    const result = await succeed('node', ['dist/main.js'], app, { APP_DB: join(base, 'app.sqlite'), NO_COLOR: '1' }, 60_000);
    expect(`${result.stdout}\n${result.stderr}`).not.toMatch(/\b(ERROR|WARN)\b/);

    const out = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as {
      done: boolean;
      taskId: string;
      scheduleId: string;
      runs: Array<{ taskId: string; to: string; scheduleId: string | null }>;
      schedule: { runCount: number; enabled: boolean };
      applied: string[];
      shipped: string[];
    };
    expect(out.done).toBe(true);
    expect(out.runs).toHaveLength(2);
    expect(out.runs).toContainEqual({ taskId: out.taskId, to: 'task', scheduleId: null });
    expect(out.runs).toContainEqual({ taskId: expect.any(String), to: 'schedule', scheduleId: out.scheduleId });
    // maxRuns 1: the schedule disabled itself after its run
    expect(out.schedule).toEqual({ runCount: 1, enabled: false });
    expect(out.shipped).toEqual(expect.arrayContaining([expect.stringMatching(/^CreateSchedulerTask\d+$/), expect.stringMatching(/^CreateTaskQueue\d+$/)]));
    expect(out.applied).toEqual(out.shipped);
  });

  it('migrates a database with the TypeORM CLI: migration:run creates the tables, migration:show lists them applied', async () => {
    const env = { CLI_DB: join(base, 'cli.sqlite') };
    const shipped = JSON.parse(
      await ok('node', ['-p', "JSON.stringify(require('nestjs-queue-scheduler').QUEUE_SCHEDULER_MIGRATIONS.map((M) => new M().name))"], app),
    ) as string[];
    expect(shipped.length).toBeGreaterThanOrEqual(2);

    const before = await npx(['typeorm', 'migration:show', '-d', 'data-source.js'], app, env);
    for (const name of shipped) expect(before).toContain(`[ ] ${name}`);

    await npx(['typeorm', 'migration:run', '-d', 'data-source.js'], app, env);
    const tables = JSON.parse(
      await ok(
        'node',
        ['-p', "JSON.stringify(new (require('better-sqlite3'))(process.env.CLI_DB, { readonly: true }).prepare(\"SELECT name FROM sqlite_master WHERE type = 'table'\").all().map((t) => t.name))"],
        app,
        env,
      ),
    ) as string[];
    expect(tables).toEqual(expect.arrayContaining(['scheduler_task', 'task_queue', 'queue_store']));

    const after = await npx(['typeorm', 'migration:show', '-d', 'data-source.js'], app, env);
    shipped.forEach((name, i) => expect(after).toContain(`[X] ${i + 1} ${name}`));
    expect(after).not.toContain('[ ]');
    // the migrated schema is exactly what the shipped entities describe
    expect(await npx(['typeorm', 'schema:log', '-d', 'data-source.js'], app, env)).toContain('Your schema is up to date');
  });
});
