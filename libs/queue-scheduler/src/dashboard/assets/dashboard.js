import { api } from './api.js';
import { drawBars } from './chart.js';
import { clock, el, flash, setText } from './dom.js';
import { renderStore, showSchedule, showTask } from './panels.js';
import { renderSchedules, renderTasks, renderTypes } from './tables.js';

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const TASKS_SHOWN = 25;
const EVENTS_SHOWN = 40;
let config = { readOnly: true, schedules: false };
let typeCounts = new Map();

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
      failing.delete(fn);
    } catch (err) {
      console.warn(`refresh failed: ${err.message}`);
      failing.set(fn, err.message);
    }
    showFailing();
    timer = setTimeout(run, everyMs);
  };
  run();
  return run;
}

/** The refreshes whose last try failed, with why: while any does, the page says what it shows is stale. */
const failing = new Map();

function showFailing() {
  const node = $('backend-status');
  const reason = failing.values().next().value;
  node.hidden = reason === undefined;
  if (reason !== undefined) setText(node, 'not refreshing', `the server did not answer: ${reason}; the figures shown are the last ones read`);
}

/** Runs an action, reports its failure, then refreshes what it changed. */
async function mutate(work, ...refreshes) {
  try {
    return await work();
  } catch (err) {
    flash(err.message);
    // a session that ended, or a right taken away since the page loaded: stop offering what is refused
    if (err.status === 401 || err.status === 403) setReadOnly(`actions refused: ${err.message}`);
  } finally {
    // a refresh that fails here is reported by its own poll; it must not reject unhandled
    for (const refresh of refreshes) Promise.resolve().then(refresh).catch((err) => console.warn(`refresh failed: ${err.message}`));
  }
}

async function refreshStats() {
  const stats = await api('stats');
  for (const [key, value] of Object.entries(stats.byStatus)) {
    const node = $(`stat-${key}`);
    if (node) setText(node, String(value));
  }
  setText($('stat-workers'), `${stats.workers.busy} / ${stats.workers.size}`);
  showInstances(stats.instances);
  drawBars($('throughput-chart'), stats.throughput, 'succeeded', '#1f9d55');
  drawBars($('failure-chart'), stats.throughput, 'failed', '#d64545');
  typeCounts = new Map(stats.byType.map((t) => [t.type, t]));
}

/** Busy workers of every instance sharing the queue; this one with its pool size (the others' are not known here). */
function showInstances(instances) {
  const list = $('instances');
  const text = (i) => `${i.instance}${i.self ? ' (this one)' : ''} → ${i.running}${i.size !== undefined ? ` / ${i.size}` : ''} busy`;
  const shown = [...list.children].map((li) => li.textContent);
  if (shown.length === instances.length && instances.every((i, n) => shown[n] === text(i))) return;
  list.replaceChildren(...instances.map((i) => el('li', { 'data-testid': 'instance', 'data-self': String(i.self), text: text(i) })));
}

// ---- task types -------------------------------------------------------------

const typeActions = {
  toggle: (t) => mutate(() => api(`types/${encodeURIComponent(t.type)}/${t.paused ? 'resume' : 'pause'}`, { method: 'POST' }), refreshTypes),
};

async function refreshTypes() {
  const types = await api('types');
  renderTypes($('types-table').tBodies[0], types, typeCounts, typeActions);
  syncOptions($('filter-type'), types.map((t) => [t.type, t.type]));
}

/** Keeps a select's options in step with the server, leaving the first ("any") option and the selection alone. */
function syncOptions(select, pairs) {
  const wanted = JSON.stringify(pairs);
  if (select.dataset.options === wanted) return;
  select.dataset.options = wanted;
  const value = select.value;
  select.replaceChildren(select.options[0], ...pairs.map(([v, text]) => el('option', { value: v, text })));
  select.value = value;
}

// ---- schedules --------------------------------------------------------------

const scheduleActions = {
  toggle: (s) => mutate(() => api(`schedules/${encodeURIComponent(s.taskId)}/${s.state === 'active' ? 'pause' : 'resume'}`, { method: 'POST' }), refreshSchedules, refreshOpenSchedule),
  runNow: (s) => mutate(() => api(`schedules/${encodeURIComponent(s.taskId)}/run`, { method: 'POST' }), refreshTasksNow, refreshSchedules),
  open: (s) => openSchedule(s.taskId).catch((err) => flash(err.message)),
};

async function refreshSchedules() {
  if (!config.schedules) return;
  const schedules = await api('schedules');
  renderSchedules($('schedules-table').tBodies[0], schedules, scheduleActions);
  syncOptions($('filter-schedule'), schedules.map((s) => [s.taskId, s.name]));
}

/** `from` (ISO 8601): list the next runs after that instant, to see how a schedule crosses a DST change, say. */
async function openSchedule(id, notice, from = '') {
  const s = await api(`schedules/${encodeURIComponent(id)}${from ? `?from=${encodeURIComponent(from)}` : ''}`);
  showSchedule($('schedule-detail'), s, {
    readOnly: config.readOnly,
    notice,
    from,
    preview: (schedule, at) => openSchedule(schedule.taskId, undefined, at),
    save: async (schedule, patch) => {
      await api(`schedules/${encodeURIComponent(schedule.taskId)}`, { method: 'PUT', body: patch });
      refreshSchedules();
      await openSchedule(schedule.taskId, 'saved');
    },
  });
}

function refreshOpenSchedule() {
  const panel = $('schedule-detail');
  if (!panel.hidden && panel.dataset.scheduleId) openSchedule(panel.dataset.scheduleId, undefined, panel.dataset.from).catch((err) => flash(err.message));
}

// ---- tasks ------------------------------------------------------------------

function taskQuery() {
  const form = $('task-filters');
  const query = new URLSearchParams({ limit: String(TASKS_SHOWN) });
  for (const name of ['status', 'type', 'schedule']) if (form.elements[name].value) query.set(name, form.elements[name].value);
  return query;
}

async function refreshTasks() {
  const id = $('filter-id').value.trim();
  let items;
  if (id) {
    // search by id: one exact task, or none
    items = await api(`tasks/${encodeURIComponent(id)}`).then((t) => [t], (err) => (err.status === 404 ? [] : Promise.reject(err)));
  } else {
    items = (await api(`tasks?${taskQuery()}`)).items;
  }
  renderTasks($('tasks-table').tBodies[0], items, (taskId) => openTask(taskId).catch((err) => flash(err.message)));
  const panel = $('task-detail');
  if (!panel.hidden && panel.dataset.taskId) {
    const shown = items.find((t) => t.taskId === panel.dataset.taskId);
    if (shown && shown.status !== panel.dataset.status) openTask(shown.taskId);
  }
}

async function openTask(id) {
  const t = await api(`tasks/${encodeURIComponent(id)}`);
  const panel = $('task-detail');
  showTask(panel, t, {
    readOnly: config.readOnly,
    retry: (task) => mutate(() => api(`tasks/${encodeURIComponent(task.taskId)}/retry`, { method: 'POST' }), refreshTasksNow, () => openTask(task.taskId)),
    cancel: (task) => mutate(() => api(`tasks/${encodeURIComponent(task.taskId)}/cancel`, { method: 'POST' }), refreshTasksNow, () => openTask(task.taskId)),
    remove: (task) => mutate(() => api(`tasks/${encodeURIComponent(task.taskId)}/delete`, { method: 'POST' }), refreshTasksNow, () => (panel.hidden = true)),
  });
  panel.dataset.status = t.status;
}

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

function setUpFilters() {
  const form = $('task-filters');
  form.addEventListener('change', () => refreshTasksNow());
  form.addEventListener('submit', (event) => event.preventDefault());
  $('filter-id').addEventListener('input', () => refreshTasksSoon());
  const retryDead = $('retry-dead');
  retryDead.addEventListener('click', () => mutate(async () => {
    const type = form.elements.type.value || undefined;
    const { retried, errors } = await api('dead-tasks/retry', { method: 'POST', body: { type } });
    flash(`${retried} dead task(s) queued again${errors.length ? `; ${errors.length} failed: ${errors[0]}` : ''}`);
  }, refreshTasksNow));
  $('delete-dead').addEventListener('click', () => {
    const type = form.elements.type.value || undefined;
    // the one action that cannot be undone asks first
    if (!window.confirm(`Delete every dead task${type ? ` of type ${type}` : ''}? Their records and errors are gone for good.`)) return;
    mutate(async () => {
      const { deleted, errors } = await api('dead-tasks/delete', { method: 'POST', body: { type } });
      flash(`${deleted} dead task(s) deleted${errors.length ? `; ${errors.length} failed: ${errors[0]}` : ''}`);
    }, refreshTasksNow);
  });
}

// ---- live events ------------------------------------------------------------

function connectEvents() {
  const status = $('sse-status');
  const source = new EventSource('api/events');
  const log = (cls, text) => {
    const list = $('events-log');
    list.prepend(el('li', { class: cls, text }));
    while (list.children.length > EVENTS_SHOWN) list.lastElementChild.remove();
  };
  source.addEventListener('hello', () => {
    status.dataset.state = 'open';
    status.textContent = 'live';
  });
  source.addEventListener('task', (message) => {
    const e = JSON.parse(message.data);
    if (e.kind === 'progress') return;
    const extra = e.error ? ` — ${e.error}` : e.durationMs !== undefined ? ` (${Math.round(e.durationMs)} ms)` : '';
    log(`k-${e.kind}`, `${clock(e.at)} ${e.kind.padEnd(9)} ${e.type} ${e.taskId}${extra}`);
    refreshTasksSoon();
  });
  source.addEventListener('schedule', (message) => {
    const e = JSON.parse(message.data);
    log(`k-schedule`, `${clock(e.at)} ${e.kind.padEnd(9)} schedule '${e.name}'${e.missed ? ` (${e.missed} missed)` : ''}`);
    refreshSchedules();
  });
  // EventSource reconnects by itself after a dropped stream, but gives up on an error answer
  // (503: too many pages open): then try again a little later, with the polling still running.
  source.addEventListener('error', () => {
    status.dataset.state = 'error';
    status.textContent = 'reconnecting…';
    if (source.readyState === EventSource.CLOSED) setTimeout(connectEvents, 5000);
  });
}

// ---- start ------------------------------------------------------------------

/** Read-only: no action button at all, not merely disabled ones (the server refuses them anyway). */
function setReadOnly(reason) {
  config.readOnly = true;
  document.body.dataset.readOnly = 'true';
  const mode = $('mode');
  mode.hidden = false;
  mode.title = reason;
  mode.dataset.reason = reason;
  $('retry-dead').hidden = true;
  $('delete-dead').hidden = true;
}

/**
 * Whether this user may act: the server's read-only mode is in the config,
 * but only the app's own guards know who may act, so the page asks them with
 * a POST that changes nothing and is guarded like every action.
 */
async function accessRefusal() {
  if (config.readOnly) return 'the dashboard is read-only (no guards, or readOnly: true)';
  try {
    await api('access', { method: 'POST' });
    return null;
  } catch (err) {
    return `actions refused: ${err.message}`;
  }
}

async function start() {
  config = await api('config');
  const refusal = await accessRefusal();
  if (refusal) {
    setReadOnly(refusal);
  } else {
    document.body.dataset.readOnly = 'false';
    $('retry-dead').hidden = false;
    $('delete-dead').hidden = false;
  }
  if (!config.schedules) $('schedules-card').hidden = true;
  connectEvents();
  setUpFilters();
  every(1000, refreshStats);
  every(2000, refreshTypes);
  every(1000, refreshSchedules);
  every(5000, async () => renderStore($('store-list'), $('store-caption'), await api('store')));
  refreshTasksNow = every(2000, refreshTasks);
}

start().catch((err) => flash(`could not load the dashboard: ${err.message}`));
