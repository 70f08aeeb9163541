import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QueueSchedulerModule, TaskQueue } from 'nestjs-queue-scheduler';
import { bootApp, RecordingHandlers } from './support/apps';
import { DATABASES, useTestDatabase } from './support/databases';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(30_000);

/** A poll far longer than the tolerance: a task it picks up is visibly late. */
const POLL_MS = 3000;
/** Late by more than this, the task was started by the idle poll, not by the wake at its run time. */
const START_TOLERANCE_MS = 250;
const DELAY_MS = 1500;

/**
 * A delayed task starts at its run time, through a local wake timer, not at
 * the next idle poll. Timers run on the monotonic clock, and Date.now() (the
 * queue's clock: the run time, and the claim's "due by now") may reach a
 * timer's target only after it fired. Here the wall clock runs 1% slow
 * against the timers, as it does for a moment whenever the two clocks part
 * (whole-ms rounding, NTP slewing): every wake fires early by Date.now().
 */
async function expectStartsOnTime(app: INestApplication): Promise<void> {
  const queue = app.get(TaskQueue);
  const handlers = app.get(RecordingHandlers);
  const wallAt0 = Date.now();
  const monoAt0 = performance.now();
  jest.spyOn(Date, 'now').mockImplementation(() => Math.floor(wallAt0 + (performance.now() - monoAt0) * 0.99));
  const pushedAt = Date.now();
  const taskId = await queue.pushTask({ type: 'report', delayMs: DELAY_MS });
  await waitFor(() => handlers.runs.some((r) => r.taskId === taskId), 'the delayed task to run', 10_000);
  const late = handlers.runs.find((r) => r.taskId === taskId)!.startedAt - (pushedAt + DELAY_MS);
  expect(late).toBeGreaterThanOrEqual(0);
  expect(late).toBeLessThan(START_TOLERANCE_MS);
}

describe.each(DATABASES)('database backend on %s: a delayed task starts at its run time when the wall clock lags the timers', (kind) => {
  const db = useTestDatabase(kind, { each: true });
  let app: INestApplication | undefined;

  db.beforeDrop(async () => {
    jest.restoreAllMocks();
    await app?.close();
    app = undefined;
  });

  it('is not left for the idle poll when its wake fires before Date.now() reaches its run time', async () => {
    app = await bootApp(db, { queue: { backend: 'database', pollIntervalMs: POLL_MS } });
    await expectStartsOnTime(app);
  });
});

describe('redis backend: a delayed task starts at its run time when the wall clock lags the timers', () => {
  let app: INestApplication | undefined;
  const prefix = testPrefix();

  afterEach(async () => {
    jest.restoreAllMocks();
    await app?.close();
    app = undefined;
    await dropPrefix(prefix);
  });

  it('is not left for the idle poll when its wake fires before Date.now() reaches its run time', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [QueueSchedulerModule.forRoot({ logLevel: 'error', dataSource: false, queue: { backend: 'redis', connection: REDIS, prefix, pollIntervalMs: POLL_MS } })],
      providers: [RecordingHandlers],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    await expectStartsOnTime(app);
  });
});
