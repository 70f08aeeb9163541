import { messageOf, waitFor, useDemoApp } from './support/demo-app';

jest.setTimeout(30_000);

const demo = useDemoApp();

describe('public store', () => {
  it('holds the bilibili_cookie the app sets at boot', async () => {
    const list = await demo.http().get('/api/store').expect(200);
    expect(list.body.keys).toContain('bilibili_cookie');
    const cookie = await demo.http().get('/api/store/bilibili_cookie').expect(200);
    expect(cookie.body).toEqual({ key: 'bilibili_cookie', value: expect.stringContaining('SESSDATA=') });
  });

  it('sets, reads, lists and deletes a key holding any JSON value', async () => {
    const value = { quality: 'flac', tags: ['a', 'b'], nested: { n: 1 } };
    const put = await demo.http().put('/api/store/e2e_key').send({ value }).expect(200);
    expect(put.body).toEqual({ key: 'e2e_key', value, ttlSeconds: null });
    expect((await demo.http().get('/api/store/e2e_key').expect(200)).body.value).toEqual(value);
    expect((await demo.http().get('/api/store').expect(200)).body.keys).toContain('e2e_key');
    await demo.http().put('/api/store/e2e_key').send({ value: 'replaced' }).expect(200);
    expect((await demo.http().get('/api/store/e2e_key').expect(200)).body.value).toBe('replaced');
    await demo.http().delete('/api/store/e2e_key').expect(204);
    await demo.http().get('/api/store/e2e_key').expect(404);
    await demo.http().delete('/api/store/e2e_key').expect(404);
  });

  it('forgets a key once its TTL has passed', async () => {
    await demo.http().put('/api/store/e2e_ttl').send({ value: 1, ttlSeconds: 0.3 }).expect(200);
    await demo.http().get('/api/store/e2e_ttl').expect(200);
    await waitFor(() => demo.http().get('/api/store/e2e_ttl'), (r) => r.status === 404, 'the key to expire', 5000);
    expect((await demo.http().get('/api/store').expect(200)).body.keys).not.toContain('e2e_ttl');
  });

  it("shows a task's last ctx.progress() report on its record, written before its outcome", async () => {
    const push = await demo.http().post('/api/tasks').send({ type: 'convert_format', params: { file: 's.wav', format: 'ogg', simulateMs: 20 } }).expect(202);
    const res = await waitFor(() => demo.http().get(`/api/tasks/${push.body.taskId}`), (r) => r.status === 200 && r.body.status === 'succeeded', 'the task to succeed');
    expect(res.body.progress).toEqual({ state: 'done', progress: 100, attempt: 1, detail: 'wrote s.ogg' });
  });

  it('answers 404 for a key that was never set', async () => {
    const res = await demo.http().get('/api/store/never_set').expect(404);
    expect(res.body.message).toContain('never_set');
  });

  it.each([
    ['no value', { ttlSeconds: 5 }, 'value'],
    ['a null value', { value: null }, 'value'],
    ['a zero TTL', { value: 1, ttlSeconds: 0 }, 'ttlSeconds'],
    ['a negative TTL', { value: 1, ttlSeconds: -5 }, 'ttlSeconds'],
    ['a TTL as text', { value: 1, ttlSeconds: '60' }, 'ttlSeconds'],
    ['an unknown property', { value: 1, ttl: 60 }, 'property ttl should not exist'],
  ])('refuses a PUT with %s (400 naming the field)', async (_what, body, field) => {
    const res = await demo.http().put('/api/store/e2e_bad').send(body).expect(400);
    expect(messageOf(res.body)).toContain(field);
  });

  it('refuses a key longer than the store allows (library error → 400 naming the field)', async () => {
    const res = await demo.http().put(`/api/store/${'k'.repeat(192)}`).send({ value: 1 }).expect(400);
    expect(res.body).toMatchObject({ field: 'key', code: 'InvalidArgumentError' });
  });
});
