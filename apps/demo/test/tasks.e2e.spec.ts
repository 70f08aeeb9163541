import { messageOf, waitFor, useDemoApp } from './support/demo-app';

jest.setTimeout(30_000);

const demo = useDemoApp();

const download = (extra: Record<string, unknown> = {}) => ({
  type: 'download_audio',
  params: { url: 'https://www.bilibili.com/audio/au1', savePath: 'data/music/au1.m4a', simulateMs: 30, ...extra },
});

async function push(body: object): Promise<string> {
  const res = await demo.http().post('/api/tasks').send(body).expect(202);
  return res.body.taskId as string;
}

async function settled(taskId: string) {
  const res = await waitFor(
    () => demo.http().get(`/api/tasks/${encodeURIComponent(taskId)}`),
    (r) => r.status === 200 && ['succeeded', 'dead'].includes(r.body.status),
    `task ${taskId} to finish`,
  );
  return res.body;
}

describe('POST /api/tasks and GET /api/tasks/:id', () => {
  it('runs a pushed task and reports its status, result, duration and last progress', async () => {
    const taskId = await push(download());
    expect(taskId).toMatch(/^[0-9a-f-]{36}$/);
    const task = await settled(taskId);
    expect(task).toMatchObject({ taskId, type: 'download_audio', status: 'succeeded', attempts: 1 });
    expect(task.result).toMatchObject({ savedTo: 'data/music/au1.m4a', quality: expect.stringContaining('logged in') });
    expect(task.durationMs).toBeGreaterThanOrEqual(0);
    expect(task.progress).toMatchObject({ state: 'done', progress: 100 });
  });

  it('keeps a given task id and does not queue it twice while it is pending', async () => {
    const body = { ...download(), taskId: 'e2e-dedupe', delayMs: 60_000, priority: 5 };
    expect(await push(body)).toBe('e2e-dedupe');
    expect(await push(body)).toBe('e2e-dedupe');
    const res = await demo.http().get('/api/tasks').query({ status: 'pending', type: 'download_audio' }).expect(200);
    expect(res.body.items.filter((t: { taskId: string }) => t.taskId === 'e2e-dedupe')).toHaveLength(1);
    expect(res.body.items.find((t: { taskId: string }) => t.taskId === 'e2e-dedupe')).toMatchObject({ priority: 5, status: 'pending' });
  });

  it('retries a failed try and succeeds on the next one', async () => {
    const task = await settled(await push(download({ failAttempts: 1 })));
    expect(task).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('keeps a task whose tries all fail as dead, with its error', async () => {
    const taskId = await push({ type: 'convert_format', params: { file: 'a.wav', format: 'wav', simulateMs: 0 }, maxRetries: 0 });
    const task = await settled(taskId);
    expect(task).toMatchObject({ status: 'dead', attempts: 1, error: expect.stringContaining("unsupported format 'wav'") });
    expect(task.progress).toMatchObject({ state: 'failed' });
  });

  if (process.env.DEMO_QUEUE_BACKEND === 'database') {
    // Shared by instances: one with a handler for the type may yet start, so the task waits (README says "dead at once").
    it('keeps a task type that no instance handles yet pending', async () => {
      const orphan = await push({ type: 'no_such_type' });
      await settled(await push({ type: 'convert_format', params: { file: 'later.wav', simulateMs: 0 } }));
      expect((await demo.http().get(`/api/tasks/${orphan}`).expect(200)).body.status).toBe('pending');
    });
  } else {
    it('dead-letters a task type that has no handler', async () => {
      const task = await settled(await push({ type: 'no_such_type' }));
      expect(task).toMatchObject({ status: 'dead', error: "no @TaskHandler for type 'no_such_type'" });
    });
  }

  it('downloads at guest quality once the bilibili_cookie is gone from the public store', async () => {
    await demo.http().delete('/api/store/bilibili_cookie').expect(204);
    try {
      const task = await settled(await push(download()));
      expect(task.result.quality).toContain('guest');
    } finally {
      await demo.http().put('/api/store/bilibili_cookie').send({ value: 'SESSDATA=e2e', ttlSeconds: 3600 }).expect(200);
    }
  });

  it('answers 404 for an unknown task id', async () => {
    const res = await demo.http().get('/api/tasks/no-such-task').expect(404);
    expect(res.body).toMatchObject({ statusCode: 404, code: 'TaskNotFoundError', message: expect.stringContaining('no-such-task') });
  });

  it.each([
    ['no type', {}, 'type'],
    ['a numeric type', { type: 5 }, 'type'],
    ['an empty type', { type: '' }, 'type'],
    ['params as an array', { type: 'download_audio', params: [1] }, 'params'],
    ['params as a string', { type: 'download_audio', params: 'x' }, 'params'],
    ['a fractional priority', { type: 'download_audio', priority: 1.5 }, 'priority'],
    ['a negative delay', { type: 'download_audio', delayMs: -1 }, 'delayMs'],
    ['an empty task id', { type: 'download_audio', taskId: '' }, 'taskId'],
    ['a negative maxRetries', { type: 'download_audio', maxRetries: -1 }, 'maxRetries'],
    ['an unknown property', { type: 'download_audio', delay: 5 }, 'property delay should not exist'],
  ])('refuses a push with %s (400 naming the field)', async (_what, body, field) => {
    const res = await demo.http().post('/api/tasks').send(body).expect(400);
    expect(messageOf(res.body)).toContain(field);
  });

  it('refuses a body that is not JSON', async () => {
    await demo.http().post('/api/tasks').set('content-type', 'application/json').send('{"type":').expect(400);
  });
});

describe('GET /api/tasks', () => {
  it('lists the latest tasks newest first, filtered by status and type, with a limit and a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await push({ type: 'convert_format', params: { file: `f${i}.wav`, simulateMs: 0 } }));
    for (const id of ids) await settled(id);

    const page = await demo.http().get('/api/tasks').query({ type: 'convert_format', status: 'succeeded', limit: 2 }).expect(200);
    expect(page.body.items.map((t: { taskId: string }) => t.taskId)).toEqual([ids[2], ids[1]]);
    expect(page.body.items[0]).toMatchObject({ type: 'convert_format', status: 'succeeded', durationMs: expect.any(Number) });
    expect(page.body.nextCursor).toEqual(expect.any(String));

    const next = await demo.http().get('/api/tasks').query({ type: 'convert_format', status: 'succeeded', limit: 2, cursor: page.body.nextCursor }).expect(200);
    expect(next.body.items[0].taskId).toBe(ids[0]);

    const dead = await demo.http().get('/api/tasks').query({ status: 'dead' }).expect(200);
    expect(dead.body.items.length).toBeGreaterThan(0);
    expect(dead.body.items.every((t: { status: string }) => t.status === 'dead')).toBe(true);
  });

  it.each([
    ['limit=0', { limit: 0 }, 'limit'],
    ['limit=abc', { limit: 'abc' }, 'limit'],
    ['limit=501', { limit: 501 }, 'limit'],
    ['status=done', { status: 'done' }, 'status'],
    ['an unknown parameter', { sort: 'asc' }, 'property sort should not exist'],
  ])('refuses %s (400 naming the field)', async (_what, query, field) => {
    const res = await demo.http().get('/api/tasks').query(query).expect(400);
    expect(messageOf(res.body)).toContain(field);
  });

  it('refuses a cursor the queue did not issue (library error → 400 naming the field)', async () => {
    const res = await demo.http().get('/api/tasks').query({ cursor: 'bogus' }).expect(400);
    expect(res.body).toMatchObject({ field: 'cursor', code: 'InvalidArgumentError' });
  });
});
