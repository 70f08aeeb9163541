import { Inject, Injectable, type INestApplication, Module, Scope } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, MetadataScanner, REQUEST } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { QUEUE_SCHEDULER_ENTITIES, SchedulerTask } from '../entities';
import { InvalidOptionsError, InvalidTaskHandlerError } from '../errors/errors';
import { RESOLVED_OPTIONS } from '../queue-scheduler.constants';
import { QueueSchedulerModule } from '../queue-scheduler.module';
import { resolveOptions } from '../queue-scheduler.options';
import { DeclaredSchedulesService } from '../scheduler/declared-schedules.service';
import { Scheduled } from './scheduled.decorator';
import { QUEUE_CLASSES } from './queue-class-guard';
import { QueueSchedulerExplorer } from './queue-scheduler.explorer';
import { TaskHandler } from './task-handler.decorator';
import { TaskHandlerRegistry } from './task-handler.registry';

@Injectable()
class Jobs {
  @Scheduled({ key: 'nightly', cron: '0 2 * * *' })
  @TaskHandler('nightly_report')
  report(): string {
    return 'report';
  }

  @TaskHandler('send_email')
  send(): void {}
}

@Injectable({ scope: Scope.REQUEST })
class RequestHandlers {
  @TaskHandler('per_request')
  run(): void {}
}

@Injectable({ scope: Scope.REQUEST })
class RequestSchedules {
  @Scheduled({ key: 'per-request', interval: 60 })
  tick(): void {}
}

@Injectable({ scope: Scope.REQUEST })
class RequestBoth {
  @Scheduled({ key: 'per-request', interval: 60 })
  @TaskHandler('per_request')
  tick(): void {}
}

@Injectable({ scope: Scope.TRANSIENT })
class TransientHandlers {
  private readonly greeting = 'hello';

  @TaskHandler('per_consumer')
  run(): string {
    return this.greeting;
  }
}

@Injectable()
class TransientFree {
  @TaskHandler('plain_job')
  run(): void {}
}

/** Request-scoped only through what it injects. */
@Injectable()
class DependsOnRequest {
  constructor(@Inject(REQUEST) readonly request: unknown) {}

  @TaskHandler('per_request')
  run(): void {}
}

async function failure(boot: Promise<unknown>): Promise<Error> {
  return boot.then(
    () => {
      throw new Error('start-up succeeded');
    },
    (err: unknown) => err as Error,
  );
}

/** The library in a test module with `providers`, on the SQLite file `database` or, without one, with dataSource: false. */
function compile(providers: unknown[], database?: string): Promise<TestingModule> {
  const imports = database
    ? [
        TypeOrmModule.forRoot({ type: 'better-sqlite3', database, entities: QUEUE_SCHEDULER_ENTITIES, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', autoStart: false }),
      ]
    : [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, autoStart: false })];
  return Test.createTestingModule({ imports, providers: providers as never[] }).compile();
}

/** Inits the app; a failed start-up is closed (connections released) and rethrown. */
async function start(moduleRef: TestingModule): Promise<INestApplication> {
  const app = moduleRef.createNestApplication({ logger: false });
  try {
    await app.init();
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
  return app;
}

describe('QueueSchedulerExplorer on a SQLite file database', () => {
  let dir: string;
  let app: INestApplication | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'qs-explorer-'));
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    jest.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  it('walks the providers once and finds @TaskHandler and @Scheduled on the same provider', async () => {
    const moduleRef = await compile([Jobs], join(dir, 'explorer.sqlite'));
    // counted from init on: compiling lists every class's methods too (Nest's scanner looks for guards and pipes)
    const getProviders = jest.spyOn(DiscoveryService.prototype, 'getProviders');
    const getControllers = jest.spyOn(DiscoveryService.prototype, 'getControllers');
    const getAllMethodNames = jest.spyOn(MetadataScanner.prototype, 'getAllMethodNames');
    app = await start(moduleRef);

    // one walk: the provider list read once, the class's methods listed once
    expect(getProviders).toHaveBeenCalledTimes(1);
    expect(getControllers).toHaveBeenCalledTimes(1);
    expect(getAllMethodNames.mock.calls.filter(([prototype]) => prototype === Jobs.prototype)).toHaveLength(1);

    const registry = app.get(TaskHandlerRegistry);
    expect(registry.get('nightly_report')?.name).toBe('Jobs.report');
    expect(registry.get('send_email')?.name).toBe('Jobs.send');
    expect(await registry.get('nightly_report')!.fn({}, {} as never)).toBe('report');

    // the declaration reached DeclaredSchedulesService at module init: sync writes it
    await app.get(DeclaredSchedulesService).sync();
    const rows = await app.get<DataSource>(getDataSourceToken()).getRepository(SchedulerTask).findBy({ scheduleKey: 'nightly' });
    expect(rows).toEqual([expect.objectContaining({ taskType: 'nightly_report', cronExpression: '0 2 * * *', enabled: true })]);
  });

  it('refuses @Scheduled on a request-scoped provider with a database too', async () => {
    const error = await failure(compile([RequestBoth], join(dir, 'explorer.sqlite')).then(start));
    expect(error).toBeInstanceOf(InvalidTaskHandlerError);
    expect(error.message).toMatch(/^@TaskHandler and @Scheduled on RequestBoth\.tick is not supported: the provider is request-scoped/);
  });
});

describe('QueueSchedulerExplorer: one request-scoped rule for both decorators', () => {
  it.each([
    ['@TaskHandler', RequestHandlers, 'RequestHandlers.run'],
    ['@Scheduled', RequestSchedules, 'RequestSchedules.tick'],
    ['@TaskHandler and @Scheduled', RequestBoth, 'RequestBoth.tick'],
    ['@TaskHandler', DependsOnRequest, 'DependsOnRequest.run'],
  ] as const)('refuses %s on %p, naming Class.method', async (decorators, provider, source) => {
    const error = await failure(compile([provider]).then(start));
    expect(error).toBeInstanceOf(InvalidTaskHandlerError);
    expect(error.message).toBe(
      `${decorators} on ${source} is not supported: the provider is request-scoped (or depends on one). ` +
        'Workers and schedules run outside any request; make the provider a singleton.',
    );
  });

  it('refuses @TaskHandler on a transient provider, whose wrapper holds an instance no constructor ran on', async () => {
    // before, it registered and every task failed, `this.greeting` (an injected service, in the audit) undefined
    const error = await failure(compile([TransientHandlers]).then(start));
    expect(error).toBeInstanceOf(InvalidTaskHandlerError);
    expect(error.message).toBe(
      '@TaskHandler on TransientHandlers.run is not supported: the provider is transient. Workers and schedules call one instance for the whole app; make the provider a singleton.',
    );
  });

  it('refuses a getter, a setter, a property or a static method as the class is defined, naming it', () => {
    const define = (decorate: () => void): unknown => {
      try {
        decorate();
        return undefined;
      } catch (err) {
        return err;
      }
    };
    const cases: Array<[() => void, RegExp]> = [
      [
        () => {
          class Getter {
            @TaskHandler('t')
            get run(): () => void {
              return () => undefined;
            }
          }
          return Getter;
        },
        /^@TaskHandler\('t'\) on Getter\.run: only a method can carry it, not a getter or setter$/,
      ],
      [
        () => {
          class Static {
            @TaskHandler('t')
            static run(): void {}
          }
          return Static;
        },
        /^@TaskHandler\('t'\) on Static\.run: a static method is not supported/,
      ],
      [
        () => {
          class ScheduledGetter {
            @Scheduled({ key: 'k', interval: 60 })
            get tick(): () => void {
              return () => undefined;
            }
          }
          return ScheduledGetter;
        },
        /^@Scheduled\(\{ key: 'k' \}\) on ScheduledGetter\.tick: only a method can carry it/,
      ],
      // what a build without type checks (swc, babel) lets through: the decorator called on a property
      [() => TaskHandler('t')(class Arrow {}.prototype, 'run', undefined as never), /^@TaskHandler\('t'\) on Arrow\.run: only a method can carry it, not a property$/],
    ];
    for (const [decorate, message] of cases) {
      const error = define(decorate);
      expect(error).toBeInstanceOf(InvalidTaskHandlerError);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('refuses a second import of the module with a message that says so', async () => {
    // before: an InvalidOptionsError about queue.backend ("injects DatabaseQueueService … Inject TaskQueue instead"), which the user never got wrong
    @Module({ imports: [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, autoStart: false })] })
    class Billing {}
    @Module({ imports: [QueueSchedulerModule.forRootAsync({ dataSource: false, useFactory: () => ({ logLevel: 'fatal' as const, autoStart: false }) })] })
    class Mail {}
    const moduleRef = await Test.createTestingModule({ imports: [Billing, Mail], providers: [TransientFree] }).compile();
    const error = await failure(start(moduleRef));
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error).toMatchObject({ field: 'QueueSchedulerModule' });
    expect(error.message).toMatch(/^QueueSchedulerModule is imported 2 times in this app .*import it once, in the root module/);
  });

  it('still refuses @Scheduled without a database (dataSource: false)', async () => {
    const error = await failure(compile([Jobs]).then(start));
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.message).toContain('@Scheduled on Jobs.report needs a database');
  });
});

describe('QueueSchedulerExplorer without DeclaredSchedulesService', () => {
  @Injectable()
  class Handlers {
    @TaskHandler('plain')
    run(): string {
      return 'ran';
    }
  }

  const boot = (providers: unknown[]) =>
    Test.createTestingModule({
      imports: [DiscoveryModule],
      providers: [
        { provide: RESOLVED_OPTIONS, useValue: resolveOptions({ logLevel: 'fatal' }) },
        { provide: QUEUE_CLASSES, useValue: new Map() },
        TaskHandlerRegistry,
        QueueSchedulerExplorer,
        ...(providers as never[]),
      ],
    })
      .compile()
      .then((moduleRef) => moduleRef.init());

  it('registers handlers', async () => {
    const moduleRef = await boot([Handlers]);
    expect(moduleRef.get(TaskHandlerRegistry).get('plain')?.name).toBe('Handlers.run');
    await moduleRef.close();
  });

  it('refuses @Scheduled it has no one to hand to', async () => {
    const error = await failure(boot([Jobs]));
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.message).toContain('@Scheduled on Jobs.report needs DeclaredSchedulesService');
  });
});
