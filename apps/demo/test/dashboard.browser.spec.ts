import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
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
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
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
const runsOf = (scheduleId: string) => page.locator(row(scheduleId)).getAttribute('data-runs').then(Number);

describe('dashboard', () => {
  let tickId: string;

  it('shows live counts, the schedules and an open event stream', async () => {
    const res = await demo.http().post('/api/schedules').send({
      name: 'browser test: convert every second',
      taskType: 'convert_format',
      scheduleType: 'interval',
      intervalSeconds: 1,
      params: { file: 'data/music/tick.wav', format: 'ogg', simulateMs: 50 },
    }).expect(201);
    tickId = res.body.taskId;

    await page.goto(demo.url);
    await page.waitForSelector('[data-testid="sse-status"][data-state="open"]', WAIT);
    await page.waitForSelector(row(tickId), WAIT);
    expect(await page.locator('[data-testid="schedule-row"]').count()).toBeGreaterThanOrEqual(4); // 3 seeded + ours
    await page.locator('[data-testid="stat-workers"]', { hasText: /^\d+ \/ 3$/ }).waitFor(WAIT);
  });

  it("sees an interval schedule's run count grow", async () => {
    const before = await runsOf(tickId);
    await waitFor(() => runsOf(tickId), (runs) => runs >= before + 2, 'two more runs shown on the page', WAIT.timeout);
    // The runs reach the task table and the chart too.
    await page.waitForSelector('[data-testid="task-row"][data-status="succeeded"]', WAIT);
    const chartTotal = () => page.locator('[data-testid="throughput-chart"]').getAttribute('data-total').then(Number);
    await waitFor(chartTotal, (total) => total > 0, 'the chart to show finished tries', WAIT.timeout);
  });

  it('pauses the schedule with its button', async () => {
    await page.locator(`${row(tickId)} [data-testid="schedule-pause"]`).click();
    await page.waitForSelector(`${row(tickId)}[data-state="paused"] [data-testid="schedule-resume"]`, WAIT);
    expect(await page.locator(`${row(tickId)} [data-testid="schedule-state"]`).textContent()).toBe('paused');
    expect(await page.locator(`${row(tickId)} [data-testid="schedule-next"]`).textContent()).toBe('—');
    const stored = await demo.http().get(`/api/schedules/${tickId}`).expect(200);
    expect(stored.body).toMatchObject({ enabled: false, nextRunAt: null });
  });

  it('pushes a task from the form and sees it succeed', async () => {
    await page.selectOption('[data-testid="push-type"]', 'download_audio');
    const params = { url: 'https://www.bilibili.com/audio/au2024', savePath: 'data/music/au2024.m4a', simulateMs: 400 };
    await page.fill('[data-testid="push-params"]', JSON.stringify(params));
    await page.click('[data-testid="push-submit"]');
    const result = page.locator('[data-testid="push-result"][data-task-id]');
    await result.waitFor(WAIT);
    const taskId = (await result.getAttribute('data-task-id'))!;
    const taskRow = `[data-testid="task-row"][data-task-id="${taskId}"]`;
    await page.waitForSelector(`${taskRow}[data-status="succeeded"]`, WAIT);
    expect(await page.locator(`${taskRow} [data-testid="task-duration"]`).textContent()).toMatch(/\d+(\.\d)? (ms|s)$/);
    expect(await page.locator(`${taskRow} [data-testid="task-error"]`).textContent()).toContain('au2024.m4a');
    const api = await demo.http().get(`/api/tasks/${taskId}`).expect(200);
    expect(api.body).toMatchObject({ status: 'succeeded', type: 'download_audio' });
  });

  it('shows a dead task with its error', async () => {
    const push = await demo.http().post('/api/tasks').send({ type: 'convert_format', params: { file: 'old.wma', format: 'wma', simulateMs: 0 }, maxRetries: 0 }).expect(202);
    const taskRow = `[data-testid="task-row"][data-task-id="${push.body.taskId}"]`;
    await page.waitForSelector(`${taskRow}[data-status="dead"]`, WAIT);
    expect(await page.locator(`${taskRow} [data-testid="task-error"]`).textContent()).toContain("unsupported format 'wma'");
  });

  it('saves a screenshot of the settled dashboard under docs/ and logged no console errors', async () => {
    // A few more finished tasks, so the chart in the screenshot has something to show.
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await demo.http().post('/api/tasks').send({ type: 'download_audio', params: { url: `https://www.bilibili.com/audio/au${i}`, savePath: `data/music/au${i}.m4a`, simulateMs: 200 } });
      ids.push(res.body.taskId);
    }
    await waitFor(() => Promise.all(ids.map((id) => demo.http().get(`/api/tasks/${id}`))), (all) => all.every((r) => r.body.status === 'succeeded'), 'the extra downloads');
    await page.waitForSelector(`[data-testid="task-row"][data-task-id="${ids[2]}"][data-status="succeeded"]`, WAIT);
    // A settled picture: the task the app pushes 5 s after boot is done, the counters caught up, the new-row highlight faded.
    await page.waitForSelector('[data-testid="task-row"][data-task-id="boot-convert"][data-status="succeeded"]', WAIT);
    await page.locator('[data-testid="stat-running"]', { hasText: /^0$/ }).waitFor(WAIT);
    // A string: evaluated in the page, and this file is type-checked without the DOM library.
    await page.waitForFunction('document.getAnimations().length === 0', null, WAIT);
    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    expect(consoleErrors).toEqual([]);
  });
});
