import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QueueSchedulerModule } from 'nestjs-queue-scheduler';
import { QueueSchedulerDashboardModule } from 'nestjs-queue-scheduler/dashboard';
import { type Browser, chromium, type Page } from 'playwright-core';
import { DemoSeedService } from '../src/seed/demo-seed.service';
import { type DemoApp, bootDemo, removeDb, waitFor } from './support/demo-app';

// Launching Chromium and waiting for real schedule runs takes a few seconds; every wait below is for a condition.
jest.setTimeout(90_000);

// The README shows this screenshot; each run of this test refreshes it.
const SCREENSHOT = resolve(__dirname, '..', '..', '..', 'docs', 'dashboard.png');
const WAIT = { timeout: 20_000 };

let demo: DemoApp;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

beforeAll(async () => {
  demo = await bootDemo({ listen: true });
  // Never a Playwright browser download: the system's Chromium, headless.
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
});

afterAll(async () => {
  // The browser first: its open event stream would otherwise see the server go away.
  await browser?.close();
  await demo?.close();
  if (demo) removeDb(demo.dbPath);
});

const row = (scheduleId: string) => `[data-testid="schedule-row"][data-schedule-id="${scheduleId}"]`;
const taskRow = (taskId: string) => `[data-testid="task-row"][data-task-id="${taskId}"]`;
const runsOf = (scheduleId: string) => page.locator(row(scheduleId)).getAttribute('data-runs').then(Number);
const push = async (body: Record<string, unknown>): Promise<string> => (await demo.http().post('/api/tasks').send(body).expect(202)).body.taskId;
/** The root (the convert) of the pipeline the app pushes at boot. */
const bootPipelineId = (): string => demo.app.get(DemoSeedService).bootPipeline!.taskId;

describe('dashboard (QueueSchedulerDashboardModule in the demo)', () => {
  let tickId: string;

  it('shows live counts, the schedules in words and an open event stream', async () => {
    const res = await demo.http().post('/api/schedules').send({
      name: 'browser test: convert every second',
      taskType: 'convert_format',
      scheduleType: 'interval',
      intervalSeconds: 1,
      params: { file: 'data/music/tick.wav', format: 'ogg', simulateMs: 50 },
    }).expect(201);
    tickId = res.body.taskId;

    await page.goto(demo.url); // / redirects to /queues/
    expect(new URL(page.url()).pathname).toBe('/queues/');
    await page.waitForSelector('[data-testid="sse-status"][data-state="open"]', WAIT);
    await page.waitForSelector(row(tickId), WAIT);
    expect(await page.locator('[data-testid="schedule-row"]').count()).toBeGreaterThanOrEqual(4); // 3 seeded + ours
    expect(await page.locator(`${row(tickId)} [data-testid="schedule-when"]`).textContent()).toBe('every 1 second');
    await page.locator('[data-testid="schedule-row"][data-name="convert new downloads (cron, every 30 s)"] [data-testid="schedule-when"]', { hasText: 'every 30 seconds (Asia/Shanghai)' }).waitFor(WAIT);
    await page.locator('[data-testid="stat-workers"]', { hasText: /^\d+ \/ 3$/ }).waitFor(WAIT);
    await page.locator('[data-testid="type-row"][data-type="download_audio"]').waitFor(WAIT);
  });

  it("sees an interval schedule's run count grow, and its next runs and last runs with their lag", async () => {
    const before = await runsOf(tickId);
    await waitFor(() => runsOf(tickId), (runs) => runs >= before + 2, 'two more runs shown on the page', WAIT.timeout);
    await page.waitForSelector('[data-testid="task-row"][data-status="succeeded"]', WAIT);
    const chartTotal = () => page.locator('[data-testid="throughput-chart"]').getAttribute('data-total').then(Number);
    await waitFor(chartTotal, (total) => total > 0, 'the chart to show finished tries', WAIT.timeout);

    // a run has a lag once it started: on a busy runner the recent ones may all still wait for one of the 3 workers
    const lastRuns = () => demo.http().get(`/queues/api/schedules/${tickId}`).expect(200).then((r) => r.body.lastRuns as Array<{ lagMs: number | null }>);
    await waitFor(lastRuns, (runs) => runs.some((r) => r.lagMs !== null), 'a run of the schedule to start', WAIT.timeout);
    await page.locator(`${row(tickId)} [data-testid="schedule-name"]`).click();
    const detail = page.locator(`[data-testid="schedule-detail"][data-schedule-id="${tickId}"]`);
    await detail.waitFor(WAIT);
    expect(await detail.locator('[data-testid="schedule-next-runs"] li').count()).toBe(5);
    expect(await detail.locator('[data-testid="schedule-last-runs"] tbody tr').count()).toBeGreaterThan(0);
    const lags = await detail.locator('[data-testid="schedule-last-runs"] tbody tr td:last-child').allTextContents();
    expect(lags.filter((lag) => /^-?\d+(\.\d)? (ms|s)$/.test(lag)).length).toBeGreaterThan(0);
    // the others are runs not started yet, shown without one
    expect(lags.filter((lag) => !/^-?\d+(\.\d)? (ms|s)$/.test(lag))).toEqual(lags.filter((lag) => lag === '—'));
  });

  it("keeps a click on a schedule's name when a refresh of the list lands between the press and the release", async () => {
    const other = page.locator('[data-testid="schedule-row"][data-name="convert new downloads (cron, every 30 s)"]');
    const otherId = (await other.getAttribute('data-schedule-id'))!;
    const name = other.locator('[data-testid="schedule-name"]');
    await name.scrollIntoViewIfNeeded();
    const box = (await name.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    // the list asks again a second after it drew the last answer: a second request sent after the press means one answer was drawn in between
    const listRequest = () => page.waitForRequest((req) => new URL(req.url()).pathname.endsWith('/api/schedules'), WAIT);
    await listRequest();
    await listRequest();
    await page.mouse.up();
    await page.locator(`[data-testid="schedule-detail"][data-schedule-id="${otherId}"]`).waitFor(WAIT);
  });

  it('pauses the schedule with its button', async () => {
    await page.locator(`${row(tickId)} [data-testid="schedule-pause"]`).click();
    await page.waitForSelector(`${row(tickId)}[data-state="paused"] [data-testid="schedule-resume"]`, WAIT);
    expect(await page.locator(`${row(tickId)} [data-testid="schedule-state"]`).textContent()).toBe('paused');
    expect(await page.locator(`${row(tickId)} [data-testid="schedule-next"]`).textContent()).toBe('—');
    const stored = await demo.http().get(`/api/schedules/${tickId}`).expect(200);
    expect(stored.body).toMatchObject({ enabled: false, nextRunAt: null });
  });

  it("edits the schedule's interval from its detail form", async () => {
    await page.locator(`${row(tickId)} [data-testid="schedule-name"]`).click();
    await page.locator('[data-testid="edit-intervalSeconds"]').fill('120');
    await page.locator('[data-testid="edit-save"]').click();
    await page.locator('[data-testid="edit-result"]', { hasText: 'saved' }).waitFor(WAIT);
    await page.locator(`${row(tickId)} [data-testid="schedule-when"]`, { hasText: 'every 2 minutes' }).waitFor(WAIT);
    expect((await demo.http().get(`/api/schedules/${tickId}`).expect(200)).body.intervalSeconds).toBe(120);
  });

  it("opens a task's detail: params, result, attempts; shown as text, never as HTML", async () => {
    const hostile = '<img src=x onerror=window.hacked=1>';
    const taskId = await push({ type: 'download_audio', params: { url: 'https://www.bilibili.com/audio/au2024', savePath: `data/music/${hostile}.m4a`, simulateMs: 200 } });
    await page.waitForSelector(`${taskRow(taskId)}[data-status="succeeded"]`, WAIT);
    expect(await page.locator(`${taskRow(taskId)} [data-testid="task-duration"]`).textContent()).toMatch(/\d+(\.\d)? (ms|s)$/);
    await page.locator(taskRow(taskId)).click();
    const detail = page.locator(`[data-testid="task-detail"][data-task-id="${taskId}"]`);
    await detail.waitFor(WAIT);
    expect(await detail.locator('[data-testid="detail-status"]').textContent()).toBe('succeeded');
    expect(await detail.locator('[data-testid="detail-params"]').textContent()).toContain(hostile);
    expect(await detail.locator('[data-testid="detail-result"]').textContent()).toContain('m4a');
    expect(await page.locator('[data-testid="task-detail"] img').count()).toBe(0);
    expect(await page.evaluate('window.hacked')).toBeUndefined();
  });

  it("shows a pipeline's downloads as a tree in its convert's detail, and the parent in a download's", async () => {
    const res = await demo.http().post('/api/pipelines').send({
      file: 'data/music/tree.m4a',
      simulateMs: 50,
      downloads: [1, 2].map((n) => ({ url: `https://www.bilibili.com/audio/au90${n}`, savePath: `data/music/tree-${n}.m4a`, simulateMs: 100 })),
    }).expect(202);
    const root: string = res.body.taskId;
    const children: string[] = res.body.children.map((c: { taskId: string }) => c.taskId);
    await page.waitForSelector(`${taskRow(root)}[data-status="succeeded"]`, WAIT);
    await page.locator(taskRow(root)).click();
    const detail = page.locator(`[data-testid="task-detail"][data-task-id="${root}"]`);
    await detail.waitFor(WAIT);
    const nodes = detail.locator('[data-testid="detail-flow"] > [data-testid="flow-node"]');
    expect(await nodes.evaluateAll((li) => li.map((n) => n.getAttribute('data-status')))).toEqual(['succeeded', 'succeeded']);
    for (const [i, id] of children.entries()) expect(await nodes.nth(i).textContent()).toBe(`download_audio · succeeded · ${id}`);

    await page.locator(taskRow(children[0])).click();
    const child = page.locator(`[data-testid="task-detail"][data-task-id="${children[0]}"]`);
    await child.waitFor(WAIT);
    expect(await child.locator('[data-testid="detail-parent"]').textContent()).toBe(root);
    expect(await child.locator('[data-testid="detail-flow"]').count()).toBe(0);
  });

  it('retries a dead task and cancels a pending one from the detail panel', async () => {
    const dead = await push({ type: 'convert_format', params: { file: 'old.wma', format: 'wma', simulateMs: 0 }, maxRetries: 0 });
    await page.waitForSelector(`${taskRow(dead)}[data-status="dead"]`, WAIT);
    expect(await page.locator(`${taskRow(dead)} [data-testid="task-error"]`).textContent()).toContain("unsupported format 'wma'");
    const firstEnd = (await demo.http().get(`/api/tasks/${dead}`).expect(200)).body.completedAt;
    await page.locator(taskRow(dead)).click();
    await page.locator(`[data-testid="task-detail"][data-task-id="${dead}"] [data-testid="task-retry"]`).click();
    // 'wma' fails every try: the retried task runs once more and is dead again, with a later end
    await waitFor(() => demo.http().get(`/api/tasks/${dead}`), (r) => r.body.status === 'dead' && r.body.completedAt !== firstEnd, 'the retried try to end', WAIT.timeout);

    const later = await push({ type: 'convert_format', params: { file: 'later.wav', simulateMs: 0 }, delayMs: 3_600_000 });
    await page.waitForSelector(`${taskRow(later)}[data-status="pending"]`, WAIT);
    await page.locator(taskRow(later)).click();
    await page.locator(`[data-testid="task-detail"][data-task-id="${later}"] [data-testid="task-cancel"]`).click();
    await page.waitForSelector(`${taskRow(later)}[data-status="cancelled"]`, WAIT);
  });

  it('deletes a finished task from its detail, and every dead task with "Delete all dead" once confirmed', async () => {
    const done = await push({ type: 'convert_format', params: { file: 'gone.wav', simulateMs: 0 } });
    await page.waitForSelector(`${taskRow(done)}[data-status="succeeded"]`, WAIT);
    await page.locator(taskRow(done)).click();
    await page.locator(`[data-testid="task-detail"][data-task-id="${done}"] [data-testid="task-delete"]`).click();
    await waitFor(() => demo.http().get(`/api/tasks/${done}`), (r) => r.status === 404, 'the task to be deleted', WAIT.timeout);

    const dead = await Promise.all([1, 2].map(() => push({ type: 'convert_format', params: { file: 'old.wma', format: 'wma', simulateMs: 0 }, maxRetries: 0 })));
    for (const id of dead) await page.waitForSelector(`${taskRow(id)}[data-status="dead"]`, WAIT);
    const asked: string[] = [];
    page.once('dialog', (dialog) => {
      asked.push(dialog.message());
      void dialog.accept();
    });
    await page.locator('[data-testid="delete-dead"]').click();
    await waitFor(() => demo.http().get('/api/tasks?status=dead'), (r) => r.body.items.length === 0, 'no dead task left', WAIT.timeout);
    expect(asked[0]).toMatch(/Delete every dead task/);
    for (const id of dead) await page.waitForSelector(taskRow(id), { state: 'detached', timeout: WAIT.timeout });
  });

  it('filters tasks by status and finds one by id', async () => {
    await page.selectOption('[data-testid="filter-status"]', 'cancelled');
    await waitFor(() => page.locator('[data-testid="task-row"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status'))), (s) => s.length > 0 && s.every((x) => x === 'cancelled'), 'only cancelled rows', WAIT.timeout);
    await page.selectOption('[data-testid="filter-status"]', '');
    await page.fill('[data-testid="filter-id"]', bootPipelineId());
    await waitFor(() => page.locator('[data-testid="task-row"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-task-id'))), (ids) => ids.length === 1 && ids[0] === bootPipelineId(), 'the one task', WAIT.timeout);
    await page.fill('[data-testid="filter-id"]', '');
  });

  it('pauses and resumes a task type', async () => {
    const type = '[data-testid="type-row"][data-type="convert_format"]';
    await page.locator(`${type} [data-testid="type-pause"]`).click();
    await page.waitForSelector(`${type}[data-state="paused"]`, WAIT);
    expect((await demo.http().get('/queues/api/types').expect(200)).body.find((t: { type: string }) => t.type === 'convert_format').paused).toBe(true);
    await page.locator(`${type} [data-testid="type-resume"]`).click();
    await page.waitForSelector(`${type}[data-state="active"]`, WAIT);
  });

  it('saves a screenshot of the settled dashboard under docs/ and logged no console errors', async () => {
    // A few more finished tasks, so the chart in the screenshot has something to show.
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await push({ type: 'download_audio', params: { url: `https://www.bilibili.com/audio/au${i}`, savePath: `data/music/au${i}.m4a`, simulateMs: 200 } }));
    await waitFor(() => Promise.all(ids.map((id) => demo.http().get(`/api/tasks/${id}`))), (all) => all.every((r) => r.body.status === 'succeeded'), 'the extra downloads');
    await page.waitForSelector(`${taskRow(ids[2])}[data-status="succeeded"]`, WAIT);
    // A settled picture: the pipeline the app pushes at boot is done, the counters caught up, the new-row highlight faded.
    await page.waitForSelector(`${taskRow(bootPipelineId())}[data-status="succeeded"]`, WAIT);
    await page.locator(`${taskRow(ids[2])}`).click();
    await page.locator('[data-testid="stat-running"]', { hasText: /^0$/ }).waitFor(WAIT);
    // Polled through page.evaluate: the page's CSP forbids the eval that waitForFunction uses. A string: this file is type-checked without the DOM library.
    await waitFor(() => page.evaluate('document.getAnimations().length'), (n) => n === 0, 'animations to end', WAIT.timeout);
    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  // after the screenshot's check: the browser logs each 503 below as a console error
  it('reports a failed action in its flash, and the refreshes after it reject nothing unhandled', async () => {
    const before = consoleErrors.length;
    const body = JSON.stringify({ statusCode: 503, message: "the queue's backend did not answer within 5 s" });
    await page.route('**/api/types**', (route) => route.fulfill({ status: 503, contentType: 'application/json', body }));
    const type = '[data-testid="type-row"][data-type="download_audio"]';
    await page.locator(`${type} [data-testid="type-pause"]`).click();
    await page.locator('[data-testid="flash"]', { hasText: 'did not answer within 5 s' }).waitFor(WAIT);
    await page.locator('[data-testid="backend-status"]').waitFor({ state: 'visible', ...WAIT });
    await page.unroute('**/api/types**');
    await page.locator('[data-testid="backend-status"]').waitFor({ state: 'hidden', ...WAIT });
    expect(consoleErrors.slice(before).filter((e) => !/status of 503/.test(e))).toEqual([]);
  });
});

describe('dashboard in read-only mode (the default)', () => {
  let app: INestApplication;

  afterAll(async () => {
    await app?.close();
  });

  it('shows no action button at all', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false }), QueueSchedulerDashboardModule.forRoot()],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false, forceCloseConnections: true });
    await app.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/queues`;
    const ro = await browser.newPage();
    try {
      await ro.goto(url);
      await ro.waitForSelector('[data-testid="sse-status"][data-state="open"]', WAIT);
      await ro.waitForSelector('body[data-read-only="true"]', WAIT);
      expect(await ro.locator('[data-testid="mode"]').isVisible()).toBe(true);
      // no schedules without a database: the card is hidden rather than empty
      expect(await ro.locator('[data-testid="schedules-card"]').isVisible()).toBe(false);
      expect(await ro.locator('button.action:visible').count()).toBe(0);
    } finally {
      await ro.close();
    }
  });

  it('says the figures are stale while the server answers 503, and stops once it answers again', async () => {
    const ro = await browser.newPage();
    const errors: string[] = [];
    ro.on('pageerror', (err) => errors.push(err.message));
    try {
      await ro.goto(`http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/queues`);
      await ro.waitForSelector('[data-testid="sse-status"][data-state="open"]', WAIT);
      const stale = ro.locator('[data-testid="backend-status"]');
      expect(await stale.isVisible()).toBe(false);
      const answer = "the queue's backend did not answer within 5 s";
      await ro.route('**/api/stats', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ statusCode: 503, message: answer }) }));
      await stale.waitFor({ state: 'visible', ...WAIT });
      expect(await stale.textContent()).toBe('not refreshing');
      expect(await stale.getAttribute('title')).toContain(answer);
      await ro.unroute('**/api/stats');
      await stale.waitFor({ state: 'hidden', ...WAIT });
      expect(errors).toEqual([]);
    } finally {
      await ro.close();
    }
  });
});
