import { clock, duration, el, relative, setText, shortId, summary } from './dom.js';

/**
 * Rows are kept per id and updated in place: polling every second must not replace a button under the user's cursor.
 * A row already where the server's order puts it is not touched: moving it, even to the same place, between the
 * press and the release of a click makes the browser drop that click.
 */
function syncRows(tbody, cache, items, idOf, create, update) {
  const seen = new Set(items.map(idOf));
  for (const [id, row] of cache) {
    if (!seen.has(id)) {
      row.tr.remove();
      cache.delete(id);
    }
  }
  let next = tbody.firstElementChild;
  items.forEach((item) => {
    const id = idOf(item);
    let row = cache.get(id);
    if (!row) {
      row = create(item);
      cache.set(id, row);
    }
    update(row, item);
    if (row.tr === next) next = next.nextElementSibling;
    else tbody.insertBefore(row.tr, next); // rows follow the server's order
  });
}

/** Disables the button while its request runs, so a double click does not send it twice. */
export async function act(button, fn) {
  button.disabled = true;
  try {
    await fn();
  } finally {
    button.disabled = false;
  }
}

const button = (testid, text, title) => el('button', { type: 'button', class: 'secondary action', 'data-testid': testid, text, title });

// ---- schedules --------------------------------------------------------------

const scheduleRows = new Map();

/** `actions` has toggle(schedule), runNow(schedule) and open(schedule), all async. */
export function renderSchedules(tbody, schedules, actions) {
  syncRows(tbody, scheduleRows, schedules, (s) => s.taskId, (s) => {
    const cells = {
      name: el('td', { class: 'link', 'data-testid': 'schedule-name' }), when: el('td', { 'data-testid': 'schedule-when' }), type: el('td'),
      state: el('td', { 'data-testid': 'schedule-state' }),
      overlap: el('td', { 'data-testid': 'schedule-overlap' }),
      next: el('td', { 'data-testid': 'schedule-next' }),
      runs: el('td', { 'data-testid': 'schedule-runs' }),
    };
    const badge = el('span', { class: 'badge' });
    cells.state.append(badge);
    const toggle = button('schedule-pause', 'Pause');
    const run = button('schedule-run', 'Run now', 'push one extra occurrence now');
    const row = { tr: null, cells, badge, toggle, run, current: s };
    toggle.addEventListener('click', () => act(toggle, () => actions.toggle(row.current)));
    run.addEventListener('click', () => act(run, () => actions.runNow(row.current)));
    cells.name.addEventListener('click', () => actions.open(row.current));
    row.tr = el('tr', { 'data-testid': 'schedule-row', 'data-schedule-id': s.taskId },
      cells.name, cells.when, cells.type, cells.state, cells.overlap, cells.next, cells.runs, el('td', { class: 'actions' }, toggle, run));
    return row;
  }, (row, s) => {
    row.current = s;
    row.tr.dataset.name = s.name;
    row.tr.dataset.state = s.state;
    row.tr.dataset.runs = String(s.runCount);
    setText(row.cells.name, s.name, s.description ?? s.name);
    setText(row.cells.when, s.describedAs, s.cronExpression ? `cron ${s.cronExpression}` : s.describedAs);
    setText(row.cells.type, s.taskType);
    setText(row.badge, s.state);
    row.badge.className = `badge ${s.state}`;
    setText(row.cells.overlap, s.overlap);
    setText(row.cells.next, s.nextRunAt ? relative(s.nextRunAt) : '—', s.nextRunAt ?? 'no next run');
    setText(row.cells.runs, s.maxRuns > 0 ? `${s.runCount}/${s.maxRuns}` : String(s.runCount), s.lastRunAt ? `last run ${s.lastRunAt}` : 'never ran');
    const pause = s.state === 'active';
    setText(row.toggle, pause ? 'Pause' : 'Resume');
    row.toggle.dataset.testid = pause ? 'schedule-pause' : 'schedule-resume';
    row.toggle.disabled = s.state === 'finished';
  });
}

// ---- tasks ------------------------------------------------------------------

const taskRows = new Map();
let tasksShown = false;

export function lag(ms) {
  return ms === null || ms === undefined ? '—' : duration(ms);
}

export function renderTasks(tbody, tasks, open, now = Date.now()) {
  syncRows(tbody, taskRows, tasks, (t) => t.taskId, (t) => {
    const cells = {
      id: el('td', { class: 'link', text: shortId(t.taskId), title: t.taskId }),
      type: el('td', { text: t.type }),
      status: el('td', { 'data-testid': 'task-status' }),
      tries: el('td', { 'data-testid': 'task-attempts' }),
      created: el('td', { text: clock(t.createdAt), title: t.createdAt }),
      duration: el('td', { 'data-testid': 'task-duration' }),
      lag: el('td', { 'data-testid': 'task-lag' }),
      outcome: el('td', { 'data-testid': 'task-error' }),
    };
    const badge = el('span', { class: 'badge' });
    cells.status.append(badge);
    // Only rows that appear after the first render flash, not the whole table on page load.
    const tr = el('tr', { 'data-testid': 'task-row', 'data-task-id': t.taskId, class: tasksShown ? 'fresh' : '' }, ...Object.values(cells));
    const row = { tr, cells, badge, current: t };
    tr.addEventListener('click', () => open(row.current.taskId));
    return row;
  }, (row, t) => {
    row.current = t;
    row.tr.dataset.status = t.status;
    setText(row.badge, t.status);
    row.badge.className = `badge ${t.status}`;
    setText(row.cells.tries, String(t.attempts));
    // A running task shows how long it has been running so far.
    const running = t.status === 'running' && t.startedAt ? `${duration(Math.max(0, now - new Date(t.startedAt).getTime()))}…` : duration(t.durationMs);
    setText(row.cells.duration, running);
    setText(row.cells.lag, lag(t.lagMs), 'start − scheduled time of a scheduled occurrence');
    const outcome = t.error ?? (t.status === 'succeeded' ? summary(t.result) : t.status === 'pending' && new Date(t.runAt) > now ? `starts ${relative(t.runAt, now)}` : '');
    setText(row.cells.outcome, outcome, outcome);
    row.cells.outcome.className = t.error ? 'error' : '';
  });
  tasksShown = true;
}

// ---- task types -------------------------------------------------------------

const typeRows = new Map();

/** `counts` maps a type to its events since boot; `actions.toggle(type)` pauses or resumes it. */
export function renderTypes(tbody, types, counts, actions) {
  syncRows(tbody, typeRows, types, (t) => t.type, (t) => {
    const cells = { type: el('td', { text: t.type, title: t.handler ?? 'no handler in this process' }), state: el('td'), limits: el('td'), done: el('td'), dead: el('td') };
    const badge = el('span', { class: 'badge' });
    cells.state.append(badge);
    const toggle = button('type-pause', 'Pause');
    const row = { tr: null, cells, badge, toggle, current: t };
    toggle.addEventListener('click', () => act(toggle, () => actions.toggle(row.current)));
    row.tr = el('tr', { 'data-testid': 'type-row', 'data-type': t.type }, ...Object.values(cells), el('td', { class: 'actions' }, toggle));
    return row;
  }, (row, t) => {
    row.current = t;
    const state = t.paused ? 'paused' : 'active';
    row.tr.dataset.state = state;
    setText(row.badge, state);
    row.badge.className = `badge ${state}`;
    const limits = [t.rateLimit ? `${t.rateLimit.max} per ${duration(t.rateLimit.perMs)}` : null, t.concurrency ? `${t.concurrency} at once` : null].filter(Boolean).join(', ');
    setText(row.cells.limits, limits || '—', limits || 'no rate limit, no concurrency cap');
    const c = counts.get(t.type);
    setText(row.cells.done, c ? String(c.succeeded) : '0');
    setText(row.cells.dead, c ? String(c.dead) : '0');
    setText(row.toggle, t.paused ? 'Resume' : 'Pause');
    row.toggle.dataset.testid = t.paused ? 'type-resume' : 'type-pause';
  });
}
