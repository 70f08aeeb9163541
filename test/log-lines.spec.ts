import { Injectable, type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueSchedulerModule, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { SLOW_ANSWER_MS } from 'nestjs-queue-scheduler/deadline';
import type { DataSourceOptions } from 'typeorm';
import { DATABASES, type DatabaseKind, useTestDatabase } from './support/databases';
import { useProxiedApp } from './support/tcp-proxy';
import { waitFor } from './support/wait-for';

/** Every line the app logs, with the stack Nest passes beside an error. */
class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  readonly stacks: string[] = [];
  log(message: unknown): void {
    this.lines.push(String(message));
  }
  warn(message: unknown): void {
    this.lines.push(String(message));
  }
  error(message: unknown, stack?: unknown): void {
    this.lines.push(String(message));
    if (typeof stack === 'string') this.stacks.push(stack);
  }
  debug(message: unknown): void {
    this.lines.push(String(message));
  }
}

/** A forged second log line, a terminal escape (red text, clear screen), a carriage return and a Unicode line separator. */
const HOSTILE = '\n[Nest] 1  - 01/01/2026, 00:00:00   LOG [Auth] admin logged in\u001b[31m\u001b[2J\r\u2028';
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// eslint-disable-next-line no-control-regex
const RAW_CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

@Injectable()
class ThrowingHandlers {
  @TaskHandler('throws')
  throws(): never {
    throw new Error(`bad input${HOSTILE}`);
  }
}

describe('log lines about tasks', () => {
  let app: INestApplication | undefined;
  afterEach(() => app?.close());

  it('never carry a raw control character from a task type, id or error message; the text stays readable as escapes', async () => {
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({ imports: [QueueSchedulerModule.forRoot({ logLevel: 'debug', dataSource: false })], providers: [ThrowingHandlers] })
      .setLogger(logger)
      .compile();
    app = moduleRef.createNestApplication({ logger });
    await app.init();
    const queue = app.get(TaskQueue);

    const orphan = await queue.pushTask({ type: `no-handler${HOSTILE}`, taskId: `id${HOSTILE}` });
    const failing = await queue.pushTask({ type: 'throws' });
    await waitFor(async () => (await queue.getTask(orphan)).status === 'dead' && (await queue.getTask(failing)).status === 'dead', 'both tasks to die');
    await waitFor(() => logger.lines.some((l) => l.includes(failing)), 'the failure to be logged');

    const aboutOrphan = logger.lines.filter((l) => l.includes('no-handler'));
    const aboutFailing = logger.lines.filter((l) => l.includes(failing));
    expect(aboutOrphan.length).toBeGreaterThan(0);
    expect(aboutFailing.length).toBeGreaterThan(0);
    for (const line of logger.lines) expect(line).not.toMatch(RAW_CONTROL);
    // escaped, not dropped: an operator can still read what the producer sent
    expect(aboutOrphan.join('\n')).toContain('no-handler\\u000a[Nest] 1');
    expect(aboutFailing.join('\n')).toContain('\\u001b[31m');
    // a stack keeps its line breaks, and nothing else
    const stack = logger.stacks.find((s) => s.includes('bad input'));
    expect(stack).toBeDefined();
    expect(stack!.split('\n').length).toBeGreaterThan(2);
    expect(stack).not.toMatch(RAW_CONTROL_BUT_NEWLINE);
  });
});

// a partition fails nothing and answers nothing: without these lines the log said nothing at all
const serverKinds = DATABASES.filter((k): k is Exclude<DatabaseKind, 'sqlite'> => k !== 'sqlite');
(serverKinds.length ? describe.each(serverKinds) : describe.skip.each(['mariadb']))('log lines in a network partition, %s', (kind) => {
  const db = useTestDatabase(kind as DatabaseKind);
  const proxied = useProxiedApp();

  it('warns when a claim and a look for due schedules go unanswered, and says when they answer again', async () => {
    const target = db.options as { host: string; port: number };
    const proxy = await proxied.start(target.host, target.port);
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...({ ...db.options, host: '127.0.0.1', port: proxy.port } as DataSourceOptions), autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'log', queue: { backend: 'database', pollIntervalMs: 100 }, scheduler: { pollIntervalMs: 100 } }),
      ],
      providers: [ThrowingHandlers],
    })
      .setLogger(logger)
      .compile();
    const app = (proxied.app = moduleRef.createNestApplication({ logger }));
    await app.init();

    proxy.cut('hang');
    const cutAt = Date.now();
    const warned = (what: string) => logger.lines.some((l) => l === `${what} has had no answer for ${SLOW_ANSWER_MS / 1000} s (is the backend reachable?)`);
    await waitFor(() => warned('claiming tasks') && warned('scheduler: looking for due schedules'), 'both warnings', SLOW_ANSWER_MS + 5000);
    // a timer runs on the monotonic clock and Date.now() rounds to whole ms: the two can differ by 1 ms (CI read 9,999)
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(SLOW_ANSWER_MS - 1);

    proxy.restore(); // the hung connections are dropped: the waits end (with an error), and a new claim answers
    await waitFor(() => logger.lines.some((l) => /^claiming tasks answered after \d+\.\d s$/.test(l)), 'the claim to be said answered', 15_000);
  }, 60_000);
});
