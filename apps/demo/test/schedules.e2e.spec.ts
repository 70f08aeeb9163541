import { bootDemo, messageOf, waitFor, useDemoApp } from './support/demo-app';

jest.setTimeout(30_000);

const SEED_NAMES = [
  'download playlist every 15 s',
  'convert new downloads (cron, every 30 s)',
  'welcome download (once, 20 s after first start)',
];

const demo = useDemoApp();

const tick = (extra: Record<string, unknown> = {}) => ({
  name: `e2e interval ${Math.random().toString(36).slice(2, 8)}`,
  taskType: 'convert_format',
  scheduleType: 'interval',
  intervalSeconds: 1,
  params: { file: 'tick.wav', simulateMs: 0 },
  ...extra,
});

async function create(body: object) {
  return (await demo.http().post('/api/schedules').send(body).expect(201)).body;
}

describe('seed schedules', () => {
  it('creates the interval, cron and once jobs at first boot', async () => {
    const res = await demo.http().get('/api/schedules').expect(200);
    const seeded = res.body.filter((s: { name: string }) => SEED_NAMES.includes(s.name));
    expect(seeded.map((s: { scheduleType: string }) => s.scheduleType).sort()).toEqual(['cron', 'interval', 'once']);
    expect(seeded.find((s: { scheduleType: string }) => s.scheduleType === 'cron')).toMatchObject({ cronExpression: '*/30 * * * * *', timezone: 'Asia/Shanghai' });
  });

  it('does not create them again when the app restarts on the same database', async () => {
    const second = await bootDemo({ dbPath: demo.dbPath });
    try {
      const res = await second.http().get('/api/schedules').expect(200);
      for (const name of SEED_NAMES) expect(res.body.filter((s: { name: string }) => s.name === name)).toHaveLength(1);
    } finally {
      await second.close();
    }
  });
});

describe('CRUD and actions', () => {
  it('creates an interval schedule that fires every second', async () => {
    const row = await create(tick());
    expect(row).toMatchObject({ scheduleType: 'interval', intervalSeconds: 1, enabled: true, runCount: 0 });
    expect(new Date(row.nextRunAt).getTime()).toBeGreaterThan(Date.now() - 1000);
    const fired = await waitFor(() => demo.http().get(`/api/schedules/${row.taskId}`), (r) => r.body.runCount >= 2, 'two runs');
    expect(fired.body.lastRunAt).not.toBeNull();
    const tasks = await demo.http().get('/api/tasks').query({ type: 'convert_format' }).expect(200);
    expect(tasks.body.items.some((t: { schedulerTaskId?: string }) => t.schedulerTaskId === row.taskId)).toBe(true);
  });

  it('creates cron and once schedules', async () => {
    const cron = await create({ name: 'e2e cron', taskType: 'download_audio', scheduleType: 'cron', cronExpression: '0 2 * * *', timezone: 'Europe/Berlin' });
    expect(cron).toMatchObject({ cronExpression: '0 2 * * *', timezone: 'Europe/Berlin', enabled: true });
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const once = await create({ name: 'e2e once', taskType: 'download_audio', scheduleType: 'once', executeAt: at, maxRuns: 0, description: 'later' });
    expect(once).toMatchObject({ executeAt: at, nextRunAt: at, description: 'later' });
    const got = await demo.http().get(`/api/schedules/${once.taskId}`).expect(200);
    expect(got.body.name).toBe('e2e once');
  });

  it('updates only the fields sent', async () => {
    const row = await create(tick({ intervalSeconds: 3600 }));
    const renamed = await demo.http().patch(`/api/schedules/${row.taskId}`).send({ name: 'e2e renamed' }).expect(200);
    expect(renamed.body).toMatchObject({ name: 'e2e renamed', intervalSeconds: 3600, nextRunAt: row.nextRunAt });
    const faster = await demo.http().patch(`/api/schedules/${row.taskId}`).send({ intervalSeconds: 7200, params: { file: 'b.wav' } }).expect(200);
    expect(faster.body).toMatchObject({ intervalSeconds: 7200, params: { file: 'b.wav' } });
    expect(new Date(faster.body.nextRunAt).getTime()).toBeGreaterThan(Date.now() + 7_000_000);
  });

  it('pauses and resumes a schedule', async () => {
    const row = await create(tick({ intervalSeconds: 60 }));
    const paused = await demo.http().post(`/api/schedules/${row.taskId}/pause`).expect(200);
    expect(paused.body).toMatchObject({ enabled: false, nextRunAt: null });
    expect((await demo.http().get(`/api/schedules/${row.taskId}`)).body.enabled).toBe(false);
    const resumed = await demo.http().post(`/api/schedules/${row.taskId}/resume`).expect(200);
    expect(resumed.body.enabled).toBe(true);
    expect(new Date(resumed.body.nextRunAt).getTime()).toBeGreaterThan(Date.now());
  });

  it('runs a schedule now without changing its run count', async () => {
    const row = await create(tick({ intervalSeconds: 3600 }));
    const res = await demo.http().post(`/api/schedules/${row.taskId}/run`).expect(202);
    expect(res.body.taskId).toContain(row.taskId);
    await waitFor(() => demo.http().get(`/api/tasks/${encodeURIComponent(res.body.taskId)}`), (r) => r.body.status === 'succeeded', 'run-now task');
    expect((await demo.http().get(`/api/schedules/${row.taskId}`)).body.runCount).toBe(0);
  });

  it('refuses to resume a once schedule that has already fired (400 naming the field)', async () => {
    const executeAt = Date.now() + 200;
    const row = await create({ name: 'e2e soon', taskType: 'convert_format', scheduleType: 'once', executeAt, params: { file: 'x.wav', simulateMs: 0 } });
    // the run itself, not the claim: that comes up to scheduler.lookaheadMs before, and a resume then still takes the run back
    const occurrence = `${row.taskId}:${executeAt}`;
    await waitFor(() => demo.http().get(`/api/tasks/${encodeURIComponent(occurrence)}`), (r) => r.body.status === 'succeeded', 'the once schedule to fire');
    const res = await demo.http().post(`/api/schedules/${row.taskId}/resume`).expect(400);
    expect(res.body).toMatchObject({ field: 'enabled', code: 'InvalidScheduleError' });
  });

  it('deletes a schedule', async () => {
    const row = await create(tick({ intervalSeconds: 3600 }));
    await demo.http().delete(`/api/schedules/${row.taskId}`).expect(204);
    await demo.http().get(`/api/schedules/${row.taskId}`).expect(404);
  });

  it.each([
    ['GET', ''],
    ['PATCH', ''],
    ['DELETE', ''],
    ['POST', '/pause'],
    ['POST', '/resume'],
    ['POST', '/run'],
  ])('answers 404 to %s /api/schedules/:id%s for an unknown id', async (method, suffix) => {
    const path = `/api/schedules/00000000-0000-0000-0000-000000000000${suffix}`;
    const req = demo.http()[method.toLowerCase() as 'get' | 'patch' | 'delete' | 'post'](path);
    const res = await (method === 'PATCH' ? req.send({ name: 'x' }) : req).expect(404);
    expect(res.body).toMatchObject({ statusCode: 404, code: 'TaskNotFoundError' });
  });
});

describe('bad input', () => {
  const base = { name: 'bad', taskType: 'convert_format', scheduleType: 'interval', intervalSeconds: 10 };
  it.each([
    ['no name', { ...base, name: undefined }, 'name'],
    ['an unknown schedule type', { ...base, scheduleType: 'weekly' }, 'scheduleType'],
    ['a zero interval', { ...base, intervalSeconds: 0 }, 'intervalSeconds'],
    ['an interval without intervalSeconds', { ...base, intervalSeconds: undefined }, 'intervalSeconds'],
    ['an invalid cron expression', { ...base, scheduleType: 'cron', cronExpression: '61 * * * *' }, 'cronExpression'],
    ['a cron without expression', { ...base, scheduleType: 'cron' }, 'cronExpression'],
    ['an unknown time zone', { ...base, timezone: 'Mars/Olympus_Mons' }, 'timezone'],
    ['a once without executeAt', { ...base, scheduleType: 'once' }, 'executeAt'],
    ['a once in the past', { ...base, scheduleType: 'once', executeAt: '2020-01-01T00:00:00Z' }, 'executeAt'],
    ['an executeAt that is no date', { ...base, scheduleType: 'once', executeAt: 'tomorrow-ish' }, 'executeAt'],
    ['params as an array', { ...base, params: [] }, 'params'],
    ['a negative maxRuns', { ...base, maxRuns: -1 }, 'maxRuns'],
    ['an unknown misfire policy', { ...base, misfirePolicy: 'sometimes' }, 'misfirePolicy'],
    ['enabled as a string', { ...base, enabled: 'yes' }, 'enabled'],
    ['an unknown property', { ...base, every: '5m' }, 'property every should not exist'],
  ])('refuses a schedule with %s (400 naming the field)', async (_what, body, field) => {
    const res = await demo.http().post('/api/schedules').send(body).expect(400);
    expect(`${messageOf(res.body)} ${res.body.field ?? ''}`).toContain(field);
  });

  it.each([
    ['a negative interval', { intervalSeconds: -5 }, 'intervalSeconds'],
    ['a switch to cron without an expression', { scheduleType: 'cron' }, 'cronExpression'],
    ['an unknown property', { color: 'red' }, 'property color should not exist'],
  ])('refuses an update with %s (400 naming the field)', async (_what, body, field) => {
    const row = await create(tick({ intervalSeconds: 3600 }));
    const res = await demo.http().patch(`/api/schedules/${row.taskId}`).send(body).expect(400);
    expect(`${messageOf(res.body)} ${res.body.field ?? ''}`).toContain(field);
  });
});
