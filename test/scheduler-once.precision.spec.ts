import type { INestApplication } from '@nestjs/common';
import { SchedulerService } from 'nestjs-queue-scheduler';
import { bootApp, RecordingHandlers } from './support/apps';
import { DATABASES, useTestDatabase } from './support/databases';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

// Apart from scheduler.e2e.spec.ts, which shares the machine: a start within 50 ms is only a fair
// measure while this file holds the machine lock (no @shares-machine here, on purpose).
describe.each(DATABASES)('a once schedule on %s', (kind) => {
  const db = useTestDatabase(kind);
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('fires once at executeAt (its handler starts within 50 ms of it), then is disabled', async () => {
    app = await bootApp(db);
    const scheduler = app.get(SchedulerService);
    const handlers = app.get(RecordingHandlers);
    const executeAt = new Date(Date.now() + 700);
    const s = await scheduler.addSchedule({ name: 'one shot', taskType: 'report', scheduleType: 'once', executeAt });
    await waitFor(() => handlers.of(s.taskId).length === 1, 'the run', 5000);
    await waitFor(async () => !(await scheduler.getSchedule(s.taskId)).enabled, 'disabled');
    const startedLateMs = handlers.of(s.taskId)[0].startedAt - executeAt.getTime();
    expect(startedLateMs).toBeGreaterThanOrEqual(0);
    expect(startedLateMs).toBeLessThan(50);
    expect(handlers.of(s.taskId)[0].scheduledAt).toBe(executeAt.getTime());
    expect(await scheduler.getSchedule(s.taskId)).toMatchObject({ runCount: 1, enabled: false, nextRunAt: null });
  });
});
