import type { INestApplication } from '@nestjs/common';
import { TaskQueue } from 'nestjs-queue-scheduler';
import { bootApp, RecordingHandlers } from './support/apps';
import { createTestDatabase, DATABASES, type TestDatabase } from './support/databases';
import { waitFor } from './support/wait-for';

jest.setTimeout(30_000);

/** Late by more than this, the task was started by the idle poll, not by the wake at its run time. */
const START_TOLERANCE_MS = 250;

/**
 * A delayed task on the database backend starts at its run time, through a
 * local wake timer, not at the next idle poll. Timers run on the monotonic
 * clock, and Date.now() (the queue's clock: run_at, and the claim's "due
 * by now") may reach a timer's target only after it fired. Here the wall
 * clock runs 1% slow against the timers, as it does for a moment whenever
 * the two clocks part (whole-ms rounding, NTP slewing): every wake fires
 * early by Date.now(), by ~1% of the delay.
 */
describe.each(DATABASES)('database backend on %s: a delayed task starts at its run time when the wall clock lags the timers', (kind) => {
  let db: TestDatabase;
  let app: INestApplication | undefined;

  beforeEach(async () => {
    db = await createTestDatabase(kind);
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await app?.close();
    app = undefined;
    await db.drop();
  });

  it('is not left for the idle poll when its wake fires before Date.now() reaches its run time', async () => {
    // a poll far longer than the tolerance: a task it picks up is visibly late
    app = await bootApp(db, { queue: { backend: 'database', pollIntervalMs: 3000 } });
    const queue = app.get(TaskQueue);
    const handlers = app.get(RecordingHandlers);
    const wallAt0 = Date.now();
    const monoAt0 = performance.now();
    jest.spyOn(Date, 'now').mockImplementation(() => Math.floor(wallAt0 + (performance.now() - monoAt0) * 0.99));

    const pushedAt = Date.now();
    const taskId = await queue.pushTask({ type: 'report', delayMs: 1500 });
    await waitFor(() => handlers.runs.some((r) => r.taskId === taskId), 'the delayed task to run', 10_000);
    const run = handlers.runs.find((r) => r.taskId === taskId)!;
    expect(run.startedAt - (pushedAt + 1500)).toBeGreaterThanOrEqual(0);
    expect(run.startedAt - (pushedAt + 1500)).toBeLessThan(START_TOLERANCE_MS);
  });
});
