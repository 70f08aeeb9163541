import { TaskQueue } from 'nestjs-queue-scheduler';
import { bootDemo, type DemoApp } from './support/demo-app';

/** The dashboard's actions in the demo: from this machine only, or with DEMO_TOKEN set, only with that token. */
describe('the demo dashboard with DEMO_TOKEN', () => {
  let demo: DemoApp;
  const TOKEN = 's3cret-demo-token';

  beforeAll(async () => {
    process.env.DEMO_TOKEN = TOKEN;
    demo = await bootDemo({ listen: true });
  });

  afterAll(async () => {
    await demo.close();
    delete process.env.DEMO_TOKEN;
  });

  /** An action sent as the page sends it (same origin), with `headers` added. */
  const pause = (headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${demo.url}/queues/api/types/download_audio/pause`, { method: 'POST', headers: { origin: demo.url, 'content-type': 'application/json', ...headers }, body: '{}' });

  it('refuses an action without the token, even from this machine', async () => {
    expect((await pause()).status).toBe(403);
    expect((await pause({ 'x-demo-token': 'wrong' })).status).toBe(403);
    expect(await demo.app.get(TaskQueue).listPausedTypes()).toEqual([]);
  });

  it('refuses a malformed token cookie with 403, not a 500', async () => {
    for (const cookie of ['demo_token=%', 'demo_token=abc%zz', 'demo_token=%E0%A4%A']) expect((await pause({ cookie })).status).toBe(403);
  });

  it("guards the REST API's writes by the same rule; its reads stay open", async () => {
    const push = (headers: Record<string, string> = {}): Promise<Response> =>
      fetch(`${demo.url}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ type: 'convert_format', params: {} }) });
    expect((await push()).status).toBe(403);
    expect((await fetch(`${demo.url}/api/schedules`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(403);
    const accepted = await push({ 'x-demo-token': TOKEN });
    expect(accepted.status).toBe(202);
    const { taskId } = (await accepted.json()) as { taskId: string };
    expect((await fetch(`${demo.url}/api/tasks/${encodeURIComponent(taskId)}`)).status).toBe(200);
    expect((await fetch(`${demo.url}/api/schedules`)).status).toBe(200);
  });

  it('lets an action through with the token in the x-demo-token header', async () => {
    expect((await pause({ 'x-demo-token': TOKEN })).status).toBe(200);
    expect(await demo.app.get(TaskQueue).listPausedTypes()).toEqual(['download_audio']);
    await demo.app.get(TaskQueue).resumeType('download_audio');
  });

  it('/api/session with the token sets an HttpOnly SameSite=Strict cookie that the actions accept; a wrong token sets none', async () => {
    const wrong = await fetch(`${demo.url}/api/session?token=nope`, { redirect: 'manual' });
    expect(wrong.status).toBe(403);
    expect(wrong.headers.get('set-cookie')).toBeNull();

    const right = await fetch(`${demo.url}/api/session?token=${TOKEN}`, { redirect: 'manual' });
    expect(right.status).toBe(302);
    expect(right.headers.get('location')).toBe('/queues/');
    const cookie = right.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect((await pause({ cookie: cookie.split(';')[0] })).status).toBe(200);
    expect(await demo.app.get(TaskQueue).listPausedTypes()).toEqual(['download_audio']);
  });
});
