import { api } from './api.js';
import { drawThroughput } from './chart.js';
import { clock, el, flash, setText } from './dom.js';
import { renderSchedules, renderTasks } from './tables.js';

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const TASKS_SHOWN = 20;
const EVENTS_SHOWN = 40;

/** Example params per task type, put in the form when the type changes. */
const EXAMPLES = {
  download_audio: { url: 'https://www.bilibili.com/audio/au42', savePath: 'data/music/au42.m4a', simulateMs: 2000 },
  convert_format: { file: 'data/music/au42.m4a', format: 'flac', simulateMs: 1500 },
};

// ---- polling ----------------------------------------------------------------

/**
 * Runs `fn` now and then `everyMs` after each run ends: a slow server never
 * gets overlapping requests. Returns a function that runs it again at once.
 */
function every(everyMs, fn) {
  let timer;
  const run = async () => {
    clearTimeout(timer);
    try {
      await fn();
    } catch (err) {
      console.warn(`refresh failed: ${err.message}`);
    }
    timer = setTimeout(run, everyMs);
  };
  run();
  return run;
}

async function refreshStats() {
  const stats = await api('/stats');
  for (const key of ['pending', 'running', 'succeeded', 'failed', 'dead', 'cancelled']) setText($(`stat-${key}`), String(stats[key]));
  setText($('stat-workers'), `${stats.workers.busy} / ${stats.workers.size}`);
  drawThroughput($('throughput-chart'), stats.throughput);
}

const scheduleActions = {
  async toggle(schedule, state) {
    await mutate(`/schedules/${encodeURIComponent(schedule.taskId)}/${state === 'active' ? 'pause' : 'resume'}`);
  },
  async runNow(schedule) {
    await mutate(`/schedules/${encodeURIComponent(schedule.taskId)}/run`);
    refreshTasksNow();
  },
};

async function mutate(path) {
  try {
    await api(path, { method: 'POST' });
  } catch (err) {
    flash(err.message);
  }
  await refreshSchedules();
}

async function refreshSchedules() {
  renderSchedules($('schedules-table').tBodies[0], await api('/schedules'), scheduleActions);
}

async function refreshTasks() {
  const page = await api(`/tasks?limit=${TASKS_SHOWN}`);
  renderTasks($('tasks-table').tBodies[0], page.items);
}

// ---- live events ------------------------------------------------------------

let refreshTasksNow = () => {};
let pendingRefresh;

/** Many events arrive in bursts; one task-list refresh per burst is enough. */
function refreshTasksSoon() {
  if (pendingRefresh) return;
  pendingRefresh = setTimeout(() => {
    pendingRefresh = undefined;
    refreshTasksNow();
  }, 250);
}

function connectEvents() {
  const status = $('sse-status');
  const source = new EventSource('/api/events');
  source.addEventListener('hello', () => {
    status.dataset.state = 'open';
    status.textContent = 'live';
  });
  source.addEventListener('task', (message) => {
    const e = JSON.parse(message.data);
    const log = $('events-log');
    const extra = e.error ? ` — ${e.error}` : e.durationMs !== undefined ? ` (${Math.round(e.durationMs)} ms)` : '';
    log.prepend(el('li', { class: `k-${e.kind}`, text: `${clock(e.at)} ${e.kind.padEnd(9)} ${e.type} ${e.taskId}${extra}` }));
    while (log.children.length > EVENTS_SHOWN) log.lastElementChild.remove();
    refreshTasksSoon();
  });
  // EventSource reconnects by itself; only say so.
  source.addEventListener('error', () => {
    status.dataset.state = 'error';
    status.textContent = 'reconnecting…';
  });
}

// ---- push form --------------------------------------------------------------

async function setUpPushForm() {
  const form = $('push-form');
  const select = $('push-type');
  const params = $('push-params');
  const result = $('push-result');
  const handlers = await api('/handlers');
  for (const h of handlers) select.append(el('option', { value: h.type, text: h.type }));
  let example = '';
  const fillExample = () => {
    // Keep what the user typed; only replace an untouched example.
    if (params.value.trim() !== '' && params.value !== example) return;
    example = JSON.stringify(EXAMPLES[select.value] ?? {}, null, 2);
    params.value = example;
  };
  select.addEventListener('change', fillExample);
  fillExample();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    result.className = 'result';
    let body;
    try {
      body = { type: select.value, params: params.value.trim() ? JSON.parse(params.value) : {} };
    } catch (err) {
      result.className = 'result error';
      result.textContent = `params is not valid JSON: ${err.message}`;
      return;
    }
    const priority = Number(form.elements.priority.value || 0);
    const delayMs = Number(form.elements.delayMs.value || 0);
    if (priority) body.priority = priority;
    if (delayMs) body.delayMs = delayMs;
    try {
      const { taskId } = await api('/tasks', { method: 'POST', body });
      result.dataset.taskId = taskId;
      result.textContent = `queued ${taskId}`;
      refreshTasksNow();
    } catch (err) {
      result.className = 'result error';
      result.textContent = err.message;
    }
  });
}

// ---- start ------------------------------------------------------------------

connectEvents();
every(1000, refreshStats);
every(1000, refreshSchedules);
refreshTasksNow = every(2000, refreshTasks);
setUpPushForm().catch((err) => flash(`could not load task types: ${err.message}`));
