import { clock, duration, el, pretty } from './dom.js';
import { act, lag } from './tables.js';

const field = (label, value, testid) => [el('dt', { text: label }), el('dd', { text: value, 'data-testid': testid })];
const block = (label, value, testid) => [el('dt', { text: label }), el('dd', {}, el('pre', { text: pretty(value), 'data-testid': testid }))];
const iso = (d) => (d ? new Date(d).toISOString() : '—');
const closeButton = (panel) => el('button', { type: 'button', class: 'secondary close', text: 'Close', onclick: () => (panel.hidden = true) });

/** A task's whole record; retry, cancel and delete when actions are open. Everything shown is text. */
export function showTask(panel, t, { readOnly, retry, cancel, remove }) {
  const buttons = [];
  if (!readOnly && (t.status === 'dead' || t.status === 'failed')) {
    const b = el('button', { type: 'button', class: 'action', 'data-testid': 'task-retry', text: 'Retry' });
    b.addEventListener('click', () => act(b, () => retry(t)));
    buttons.push(b);
  }
  if (!readOnly && (t.status === 'pending' || t.status === 'waiting' || t.status === 'running')) {
    const b = el('button', { type: 'button', class: 'action', 'data-testid': 'task-cancel', text: t.status === 'running' ? 'Cancel (ask to stop)' : 'Cancel' });
    b.addEventListener('click', () => act(b, () => cancel(t)));
    buttons.push(b);
  }
  if (!readOnly && (t.status === 'succeeded' || t.status === 'cancelled' || t.status === 'dead')) {
    const b = el('button', { type: 'button', class: 'action secondary', 'data-testid': 'task-delete', text: 'Delete' });
    b.addEventListener('click', () => act(b, () => remove(t)));
    buttons.push(b);
  }
  panel.replaceChildren(
    el('div', { class: 'detail-head' }, el('h3', { text: `Task ${t.taskId}` }), ...buttons, closeButton(panel)),
    el('dl', {},
      ...field('type', t.type),
      ...field('status', t.status, 'detail-status'),
      ...field('attempts', `${t.attempts}${t.maxRetries !== undefined && t.maxRetries !== null ? ` (max retries ${t.maxRetries})` : ''}${lostTries(t) ? `, ${lostTries(t)} lost` : ''}`, 'detail-attempts'),
      ...field('created / runs at', `${iso(t.createdAt)} / ${iso(t.runAt)}`),
      ...field('started / ended', `${iso(t.startedAt)} / ${iso(t.completedAt)} (${duration(t.durationMs)})`),
      ...(t.parentId ? field('flow parent', t.parentId, 'detail-parent') : []),
      ...field('schedule', t.schedulerTaskId ? `${t.schedulerTaskId}${t.scheduledAt ? `, occurrence of ${iso(t.scheduledAt)}` : ', run now'}` : '—'),
      ...field('lag', lag(t.lagMs), 'detail-lag'),
      ...block('progress', t.progress, 'detail-progress'),
      ...block('params', t.params, 'detail-params'),
      ...block('result', t.result, 'detail-result'),
      ...block('error', t.error, 'detail-error'),
      ...block('stack', t.errorStack, 'detail-stack'),
    ),
    ...(t.tries?.length ? [el('h4', { text: 'Tries' }), timeline(t.tries)] : []),
    ...(t.flow ? [el('h4', { text: 'Children (flow)' }), flowTree(t.flow.children)] : []),
  );
  panel.dataset.taskId = t.taskId;
  panel.hidden = false;
}

/** A flow under a task: one item per child with its status, nested as pushed. Every value is text. */
function flowTree(children) {
  return el('ul', { class: 'flow', 'data-testid': 'detail-flow' },
    ...children.map((c) => el('li', { 'data-testid': 'flow-node', 'data-status': c.status },
      el('span', { text: `${c.type} · ${c.status} · ${c.taskId}${c.onChildFailure && c.onChildFailure !== 'fail' ? ` (on failure: ${c.onChildFailure})` : ''}` }),
      c.children.length ? flowTree(c.children) : null)));
}

/** One row per try, oldest first; a try's stack opens under it. Every value is text. */
function timeline(tries) {
  return el('ol', { class: 'tries', 'data-testid': 'detail-tries' },
    ...tries.map((t) => {
      const took = t.startedAt && t.finishedAt ? duration(new Date(t.finishedAt) - new Date(t.startedAt)) : '';
      const head = `#${t.attempt} ${t.outcome.replace('_', ' ')} · ${iso(t.startedAt)} → ${t.finishedAt ? iso(t.finishedAt) : '…'}${took ? ` (${took})` : ''}${t.instance ? ` · ${t.instance}` : ''}`;
      return el('li', { class: `try ${t.outcome}`, 'data-testid': 'detail-try', 'data-outcome': t.outcome },
        el('div', { text: head }),
        t.error ? el('div', { class: 'error', text: t.error }) : null,
        t.errorStack ? el('details', {}, el('summary', { text: 'stack' }), el('pre', { text: t.errorStack })) : null,
      );
    }),
  );
}

const EDITABLE = [
  ['name', 'text'], ['description', 'text'], ['cronExpression', 'text'], ['intervalSeconds', 'number'], ['timezone', 'text'],
  ['priority', 'number'], ['maxRuns', 'number'], ['overlap', ['allow', 'skip', 'wait']], ['misfirePolicy', ['fire_once', 'fire_all', 'skip']], ['params', 'json'],
];

/** A run's time on the schedule's own wall clock, with its zone's abbreviation (CET, CEST): a DST change shows. */
function wallClock(d, timezone) {
  if (!timezone) return `${clock(d)} local`;
  try {
    return new Date(d).toLocaleString('en-GB', { timeZone: timezone, hour12: false, weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' });
  } catch {
    return `${clock(d)} local`; // a zone this browser does not know
  }
}

/** Next runs, last runs with their lag, and (actions open) a form that sends only the fields changed. */
export function showSchedule(panel, s, { readOnly, save, notice, from = '', preview }) {
  const next = el('ol', { class: 'runs', 'data-testid': 'schedule-next-runs' }, ...s.nextRuns.map((d) => el('li', { 'data-at': iso(d), text: `${iso(d)} (${wallClock(d, s.timezone)})` })));
  const last = el('table', { class: 'runs', 'data-testid': 'schedule-last-runs' },
    el('thead', {}, el('tr', {}, ...['task', 'status', 'scheduled', 'started', 'lag'].map((h) => el('th', { text: h })))),
    el('tbody', {}, ...s.lastRuns.map((r) => el('tr', {}, el('td', { text: r.taskId, title: r.taskId }), el('td', { text: r.status }), el('td', { text: iso(r.scheduledAt) }), el('td', { text: iso(r.startedAt) }), el('td', { text: lag(r.lagMs) })))),
  );
  const parts = [
    el('div', { class: 'detail-head' }, el('h3', { text: `Schedule ${s.name}` }), closeButton(panel)),
    el('p', { class: 'muted', text: `${s.describedAs}; overlap ${s.overlap}; misfire ${s.misfirePolicy}; ${s.state}` }),
    el('h4', { text: `${s.nextRuns.length ? `Next ${s.nextRuns.length} runs` : 'No next run'}${from ? ` after ${from}` : ''}` }), next, ...(s.state === 'active' ? [previewForm(s, from, preview)] : []),
    el('h4', { text: s.lastRuns.length ? 'Last runs' : 'No run found in the recent tasks' }), ...(s.lastRuns.length ? [last] : []),
  ];
  if (!readOnly) parts.push(editForm(s, save, notice));
  panel.replaceChildren(...parts);
  panel.dataset.scheduleId = s.taskId;
  panel.dataset.from = from;
  panel.hidden = false;
}

/** A read, open in read-only mode too: the next runs after an instant of the user's choice (empty: from the next run). Active schedules only: a paused one has none. */
function previewForm(s, from, preview) {
  const input = el('input', { type: 'text', name: 'from', value: from, placeholder: '2026-10-22T12:00:00Z', spellcheck: 'false', 'data-testid': 'schedule-from' });
  const form = el('form', { class: 'preview', autocomplete: 'off' }, el('label', { text: 'next runs after' }, input),
    el('button', { type: 'submit', class: 'secondary', 'data-testid': 'schedule-from-show', text: 'Show' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    preview(s, input.value.trim()).catch((err) => {
      input.setCustomValidity(err.message);
      input.reportValidity();
      input.setCustomValidity('');
    });
  });
  return form;
}

function editForm(s, save, notice = '') {
  const inputs = new Map();
  const rows = EDITABLE.filter(([name]) => name !== 'cronExpression' || s.scheduleType === 'cron').filter(([name]) => name !== 'intervalSeconds' || s.scheduleType === 'interval').map(([name, kind]) => {
    const current = name === 'params' ? JSON.stringify(s.params ?? {}) : s[name] ?? '';
    const input = Array.isArray(kind)
      ? el('select', { name }, ...kind.map((v) => el('option', { value: v, text: v })))
      : el('input', { name, type: kind === 'number' ? 'number' : 'text', spellcheck: 'false' });
    input.value = String(current);
    input.dataset.testid = `edit-${name}`;
    inputs.set(name, { input, kind, initial: input.value });
    return el('label', { text: name }, input);
  });
  const result = el('span', { class: 'result', 'data-testid': 'edit-result', text: notice });
  const submit = el('button', { type: 'submit', class: 'action', 'data-testid': 'edit-save', text: 'Save changes' });
  const form = el('form', { class: 'edit', 'data-testid': 'schedule-edit', autocomplete: 'off' }, el('h4', { text: 'Edit' }), el('div', { class: 'grid' }, ...rows), el('div', { class: 'row' }, submit, result));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const patch = {};
    try {
      for (const [name, { input, kind, initial }] of inputs) {
        if (input.value === initial) continue;
        patch[name] = kind === 'number' ? Number(input.value) : kind === 'json' ? JSON.parse(input.value) : input.value === '' && name === 'description' ? null : input.value;
      }
    } catch (err) {
      result.textContent = `params is not valid JSON: ${err.message}`;
      return;
    }
    if (Object.keys(patch).length === 0) {
      result.textContent = 'nothing changed';
      return;
    }
    // on success the panel is drawn again from the saved row, saying so
    act(submit, () => save(s, patch).catch((err) => (result.textContent = err.message)));
  });
  return form;
}

/** Keys always; values only when the server sends them (showStoreValues). */
export function renderStore(list, caption, store) {
  caption.textContent = store.masked ? `${store.entries.length} key(s), values hidden (showStoreValues: false)` : `${store.entries.length} key(s)`;
  list.replaceChildren(...store.entries.map((e) => el('li', { 'data-testid': 'store-entry', 'data-key': e.key },
    el('b', { text: e.key }), el('span', { class: store.masked ? 'muted' : '', text: store.masked ? '••••••' : pretty(e.value) }))));
}

/** The tries lost with their worker: a record lists them in `tries` (database, Redis); `lostTries` is the running task's count. */
function lostTries(t) {
  return t.tries ? t.tries.filter((x) => x.outcome === 'lost').length : (t.lostTries ?? 0);
}
