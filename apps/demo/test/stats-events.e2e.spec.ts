import { get, type IncomingMessage } from 'node:http';
import { waitFor, useDemoApp } from './support/demo-app';

jest.setTimeout(30_000);

const demo = useDemoApp({ listen: true });

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Opens the dashboard's GET /queues/api/events and parses what arrives, as an EventSource would. */
function openEvents(url: string): Promise<{ res: IncomingMessage; events: SseEvent[]; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = get(`${url}/queues/api/events`, { headers: { accept: 'text/event-stream' } }, (res) => {
      const events: SseEvent[] = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const field = (name: string) => block.split('\n').find((l) => l.startsWith(`${name}:`))?.slice(name.length + 1).trim();
          const data = field('data');
          if (data) events.push({ event: field('event') ?? 'message', data: JSON.parse(data) });
        }
      });
      resolve({ res, events, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

// The dashboard (QueueSchedulerDashboardModule, mounted at /queues) serves what the page polls; the library's own
// test/dashboard.api.spec.ts covers it in depth, these check the demo mounts it as the README says.
describe('the dashboard API at /queues/api', () => {
  it('reports queue counts, workers and throughput', async () => {
    const res = await demo.http().get('/queues/api/stats').expect(200);
    for (const key of ['pending', 'running', 'succeeded', 'failed', 'dead', 'cancelled']) expect(res.body.byStatus[key]).toEqual(expect.any(Number));
    expect(res.body.workers).toEqual({ busy: expect.any(Number), size: 3, running: true });
    expect(res.body.throughput.bucketSeconds).toBe(10);
    expect(res.body.throughput.buckets).toHaveLength(30);
  });

  it('counts a finished task and its throughput', async () => {
    const before = (await demo.http().get('/queues/api/stats')).body;
    const total = (s: { throughput: { buckets: Array<{ succeeded: number }> } }) => s.throughput.buckets.reduce((n, b) => n + b.succeeded, 0);
    await demo.http().post('/api/tasks').send({ type: 'convert_format', params: { file: 'c.wav', simulateMs: 0 } }).expect(202);
    const after = await waitFor(() => demo.http().get('/queues/api/stats'), (r) => r.body.byStatus.succeeded > before.byStatus.succeeded, 'succeeded to grow');
    expect(total(after.body)).toBeGreaterThan(total(before));
  });

  it('lists the task types this instance runs', async () => {
    const res = await demo.http().get('/queues/api/types').expect(200);
    expect(res.body).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'download_audio', paused: false, concurrency: 2, timeoutMs: 60_000, maxAttempts: 3 }),
        expect.objectContaining({ type: 'convert_format', paused: false, concurrency: 1, timeoutMs: 300_000, maxAttempts: 2 }),
      ]),
    );
  });

  it('opens actions to this machine only (LocalOnlyGuard) and hides the store values', async () => {
    expect((await demo.http().get('/queues/api/config').expect(200)).body).toMatchObject({ readOnly: false, showStoreValues: false });
    const store = await demo.http().get('/queues/api/store').expect(200);
    expect(store.body.masked).toBe(true);
    expect(JSON.stringify(store.body)).not.toContain('SESSDATA');
  });
});

describe('dashboard files', () => {
  it('sends / to the dashboard page at /queues/, which loads its script from the package', async () => {
    await demo.http().get('/').expect(302).expect('location', '/queues/');
    const page = await demo.http().get('/queues/').expect(200).expect('content-type', /html/);
    expect(page.text).toContain('data-testid="schedules-table"');
    expect(page.text).toContain('<base href="/queues/">');
    await demo.http().get('/queues/assets/dashboard.js').expect(200).expect('content-type', /javascript/);
  });

  it('answers 404 for an unknown API route', async () => {
    await demo.http().get('/api/nothing-here').expect(404);
  });
});

describe('GET /queues/api/events (SSE)', () => {
  it("streams a pushed task's lifecycle", async () => {
    const stream = await openEvents(demo.url);
    try {
      expect(stream.res.headers['content-type']).toMatch(/text\/event-stream/);
      await waitFor(() => stream.events, (e) => e.some((x) => x.event === 'hello'), 'hello');
      const push = await demo.http().post('/api/tasks').send({ type: 'convert_format', params: { file: 'e.wav', simulateMs: 10 } }).expect(202);
      const mine = () => stream.events.filter((e) => e.event === 'task' && e.data.taskId === push.body.taskId);
      await waitFor(mine, (e) => e.some((x) => x.data.kind === 'succeeded'), 'succeeded event');
      const kinds = mine().map((e) => e.data.kind);
      // the handler reports its progress (ctx.progress) between its start and its end
      expect(kinds.filter((k) => k !== 'progress')).toEqual(['queued', 'started', 'succeeded']);
      expect(kinds.indexOf('progress')).toBeGreaterThan(kinds.indexOf('started'));
      expect(kinds.lastIndexOf('progress')).toBeLessThan(kinds.indexOf('succeeded'));
      expect(mine().find((e) => e.data.kind === 'succeeded')!.data).toMatchObject({ type: 'convert_format', attempt: 1, durationMs: expect.any(Number), at: expect.any(String) });
    } finally {
      stream.close();
    }
  });

  it('ends open streams when the app shuts down', async () => {
    const stream = await openEvents(demo.url);
    await waitFor(() => stream.events, (e) => e.length > 0, 'hello');
    const ended = new Promise<void>((resolve) => stream.res.on('close', () => resolve()));
    await demo.close();
    await ended;
  });
});
