import { clock, duration, el, relative, setText, shortId, summary } from './dom.js';

/** Rows are kept per id and updated in place: polling every second must not replace a button under the user's cursor. */
function syncRows(tbody, cache, items, idOf, create, update) {
  const seen = new Set();
  items.forEach((item) => {
    const id = idOf(item);
    seen.add(id);
    let row = cache.get(id);
    if (!row) {
      row = create(item);
      cache.set(id, row);
    }
    update(row, item);
    tbody.append(row.tr); // append moves an existing node: rows follow the server's order
  });
  for (const [id, row] of cache) {
    if (!seen.has(id)) {
      row.tr.remove();
      cache.delete(id);
    }
  }
}

// ---- schedules --------------------------------------------------------------

const scheduleRows = new Map();

export function scheduleState(s) {
  if (s.enabled) return 'active';
  const finished = (s.maxRuns > 0 && s.runCount >= s.maxRuns) || (s.scheduleType === 'once' && s.runCount > 0);
  return finished ? 'finished' : 'paused';
}

function when(s) {
  if (s.scheduleType === 'interval') return `every ${s.intervalSeconds} s`;
  if (s.scheduleType === 'cron') return `cron ${s.cronExpression} (${s.timezone ?? 'UTC'})`;
  return `once at ${clock(s.executeAt)}`;
}

/** `actions` has toggle(schedule, state) and runNow(schedule), both async. */
export function renderSchedules(tbody, schedules, actions) {
  syncRows(tbody, scheduleRows, schedules, (s) => s.taskId, (s) => {
    const cells = {
      name: el('td'), when: el('td'), type: el('td'),
      state: el('td', { 'data-testid': 'schedule-state' }),
      next: el('td', { 'data-testid': 'schedule-next' }),
      runs: el('td', { 'data-testid': 'schedule-runs' }),
    };
    const badge = el('span', { class: 'badge' });
    cells.state.append(badge);
    const toggle = el('button', { type: 'button', class: 'secondary' });
    const run = el('button', { type: 'button', 'data-testid': 'schedule-run', text: 'Run now', title: 'push one extra occurrence now' });
    const row = { tr: null, cells, badge, toggle, run, current: s };
    toggle.addEventListener('click', () => act(toggle, () => actions.toggle(row.current, scheduleState(row.current))));
    run.addEventListener('click', () => act(run, () => actions.runNow(row.current)));
    row.tr = el('tr', { 'data-testid': 'schedule-row', 'data-schedule-id': s.taskId },
      cells.name, cells.when, cells.type, cells.state, cells.next, cells.runs, el('td', { class: 'actions' }, toggle, run));
    return row;
  }, (row, s) => {
    row.current = s;
    const state = scheduleState(s);
    row.tr.dataset.name = s.name;
    row.tr.dataset.state = state;
    setText(row.cells.name, s.name, s.description ?? s.name);
    setText(row.cells.when, when(s), when(s));
    setText(row.cells.type, s.taskType);
    setText(row.badge, state);
    row.badge.className = `badge ${state}`;
    setText(row.cells.next, s.nextRunAt ? relative(s.nextRunAt) : '—', s.nextRunAt ?? 'no next run');
    setText(row.cells.runs, s.maxRuns > 0 ? `${s.runCount}/${s.maxRuns}` : String(s.runCount), s.lastRunAt ? `last run ${s.lastRunAt}` : 'never ran');
    row.tr.dataset.runs = String(s.runCount);
    const pause = state === 'active';
    setText(row.toggle, pause ? 'Pause' : 'Resume');
    row.toggle.dataset.testid = pause ? 'schedule-pause' : 'schedule-resume';
    row.toggle.disabled = state === 'finished';
  });
}

/** Disables the button while its request runs, so a double click does not send it twice. */
async function act(button, fn) {
  button.disabled = true;
  try {
    await fn();
  } finally {
    button.disabled = false;
  }
}

// ---- tasks ------------------------------------------------------------------

const taskRows = new Map();
let tasksShown = false;

export function renderTasks(tbody, tasks, now = Date.now()) {
  syncRows(tbody, taskRows, tasks, (t) => t.taskId, (t) => {
    const cells = {
      id: el('td', { text: shortId(t.taskId), title: t.taskId }),
      type: el('td', { text: t.type }),
      status: el('td', { 'data-testid': 'task-status' }),
      tries: el('td', { 'data-testid': 'task-attempts' }),
      created: el('td', { text: clock(t.createdAt), title: t.createdAt }),
      duration: el('td', { 'data-testid': 'task-duration' }),
      outcome: el('td', { 'data-testid': 'task-error' }),
    };
    const badge = el('span', { class: 'badge' });
    cells.status.append(badge);
    // Only rows that appear after the first render flash, not the whole table on page load.
    const tr = el('tr', { 'data-testid': 'task-row', 'data-task-id': t.taskId, class: tasksShown ? 'fresh' : '' }, ...Object.values(cells));
    return { tr, cells, badge };
  }, (row, t) => {
    row.tr.dataset.status = t.status;
    setText(row.badge, t.status);
    row.badge.className = `badge ${t.status}`;
    setText(row.cells.tries, String(t.attempts));
    // A running task shows how long it has been running so far.
    const running = t.status === 'running' && t.startedAt ? `${duration(Math.max(0, now - new Date(t.startedAt).getTime()))}…` : duration(t.durationMs);
    setText(row.cells.duration, running);
    const outcome = t.error ?? (t.status === 'succeeded' ? summary(t.result) : t.status === 'pending' && new Date(t.runAt) > now ? `starts ${relative(t.runAt, now)}` : '');
    setText(row.cells.outcome, outcome, outcome);
    row.cells.outcome.className = t.error ? 'error' : '';
  });
  tasksShown = true;
}
