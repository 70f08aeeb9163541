import { type CanActivate, Injectable, type INestApplication } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { QueueSchedulerModule, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { QueueSchedulerDashboardModule } from 'nestjs-queue-scheduler/dashboard';
import { waitFor } from './support/wait-for';

jest.setTimeout(30_000);

@Injectable()
class Handlers {
  static failing = true;

  @TaskHandler('flaky', { retries: { attempts: 1 } })
  flaky(): string {
    if (Handlers.failing) throw new Error('flaky failed on purpose');
    return 'recovered';
  }
}

@Injectable()
class AllowGuard implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

// a devDependency of this repository only: the dashboard itself needs neither Fastify's package nor Express's
describe('the dashboard on Fastify', () => {
  let app: INestApplication | undefined;
  let base = '';

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function boot(): Promise<TaskQueue> {
    const moduleRef = await Test.createTestingModule({
      imports: [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false }), QueueSchedulerDashboardModule.forRoot({ path: '/queues', guards: [AllowGuard] })],
      providers: [Handlers, AllowGuard],
    }).compile();
    app = moduleRef.createNestApplication(new FastifyAdapter(), { logger: false, forceCloseConnections: true });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    Handlers.failing = true;
    return app.get(TaskQueue);
  }

  it('serves the page with its headers, its files and its JSON API', async () => {
    await boot();
    const page = await fetch(`${base}/queues`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('<base href="/queues/">');
    const script = await fetch(`${base}/queues/assets/dashboard.js`);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${base}/queues/assets/index.html`)).status).toBe(404);
    const stats = (await (await fetch(`${base}/queues/api/stats`)).json()) as { instances: Array<{ self: boolean }> };
    expect(stats.instances.filter((i) => i.self)).toHaveLength(1);
    expect((await fetch(`${base}/queues/api/tasks?status=nonsense`)).status).toBe(400);
  });

  it('retries a dead task from the same origin and refuses a foreign one', async () => {
    const queue = await boot();
    const id = await queue.pushTask({ type: 'flaky' });
    await waitFor(async () => (await queue.getTask(id)).status === 'dead', 'the flaky task to die');
    const detail = (await (await fetch(`${base}/queues/api/tasks/${id}`)).json()) as { errorStack: string; tries: unknown[] };
    expect(detail.errorStack).toMatch(/^Error: flaky failed on purpose\n/);
    expect(detail.tries).toHaveLength(1);
    Handlers.failing = false;
    const foreign = await fetch(`${base}/queues/api/tasks/${id}/retry`, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/json' }, body: '{}' });
    expect(foreign.status).toBe(403);
    const retried = await fetch(`${base}/queues/api/tasks/${id}/retry`, { method: 'POST', headers: { origin: base, 'content-type': 'application/json' }, body: '{}' });
    expect(retried.status).toBe(200);
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'the retried task');
  });

  it('streams task events over SSE', async () => {
    const queue = await boot();
    const res = await fetch(`${base}/queues/api/events`);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const read = async () => (text += new TextDecoder().decode((await reader.read()).value));
    await read();
    expect(text).toContain('event: hello');
    Handlers.failing = false;
    const id = await queue.pushTask({ type: 'flaky' });
    while (!text.includes('"kind":"succeeded"')) await read();
    expect(text).toContain(`"taskId":"${id}"`);
    await reader.cancel();
  });
});
