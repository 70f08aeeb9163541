// Cron expressions in plain words, for people reading the dashboard. Common shapes are put in words;
// anything else is described field by field, never guessed.

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAY_NAMES: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
const MONTH_NAMES: Record<string, number> = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 };

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0', '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *',
};

const isNumber = (f: string) => /^\d+$/.test(f);
const pad = (n: string | number) => String(n).padStart(2, '0');
const ordinal = (n: number) => `${n}${n % 100 >= 11 && n % 100 <= 13 ? 'th' : ['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`;

function list(items: string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function named(field: string, names: Record<string, number>, words: string[], offset: number): string | null {
  const parts = field.toLowerCase().split(',');
  const out: string[] = [];
  for (const part of parts) {
    const range = part.split('-').map((p) => (p in names ? names[p] : isNumber(p) ? Number(p) : NaN));
    if (range.some((n) => Number.isNaN(n)) || range.length > 2) return null;
    const word = (n: number) => words[(n - offset) % words.length];
    if (range.some((n) => word(n) === undefined)) return null;
    out.push(range.length === 2 ? `${word(range[0])} to ${word(range[1])}` : word(range[0]));
  }
  return list(out);
}

/** "every 5 minutes", "at minute 0, 30" … for one field of a unit. */
function field(value: string, unit: string): string | null {
  if (value === '*' || value === '?') return null;
  const step = /^(\*|\d+)\/(\d+)$/.exec(value);
  if (step) return `every ${step[2]} ${unit}s${step[1] === '*' ? '' : ` from ${unit} ${step[1]}`}`;
  if (/^[\d,-]+$/.test(value)) return `${unit} ${value.replace(/,/g, ', ')}`;
  return null;
}

/**
 * A 5- or 6-field cron expression (or a macro such as `@daily`) in plain
 * English, e.g. `0 2 * * 1-5` → "at 02:00, Monday to Friday". Falls back to
 * naming each field when the shape is unusual. Never throws.
 */
export function describeCron(expression: string): string {
  const raw = typeof expression === 'string' ? expression.trim() : '';
  const fields = (MACROS[raw.toLowerCase()] ?? raw).split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) return `cron '${raw}'`;
  const [second, minute, hour, dom, month, dow] = fields.length === 6 ? fields : ['0', ...fields];
  const when: string[] = [];
  if (isNumber(second) && isNumber(minute) && isNumber(hour)) {
    when.push(`at ${pad(hour)}:${pad(minute)}${second === '0' ? '' : `:${pad(second)}`}`);
  } else if (second === '0' && isNumber(minute) && hour === '*') {
    when.push(minute === '0' ? 'every hour, on the hour' : `every hour at minute ${Number(minute)}`);
  } else if (second === '0' && minute === '*' && hour === '*') {
    when.push('every minute');
  } else if (second === '0' && isNumber(minute) && /^(\*|\d+)\/\d+$/.test(hour)) {
    when.push(`${field(hour, 'hour')}, ${minute === '0' ? 'on the hour' : `at minute ${Number(minute)}`}`);
  } else if (second === '*' && minute === '*' && hour === '*') {
    when.push('every second');
  } else {
    const parts = [field(second === '0' ? '*' : second, 'second'), field(minute, 'minute'), field(hour, 'hour')];
    if (parts.some((p, i) => p === null && ![second === '0' ? '*' : second, minute, hour][i].match(/^[*?]$/))) return `cron '${raw}'`;
    when.push(parts.filter(Boolean).join(', ') || 'every second');
  }
  if (dom !== '*' && dom !== '?') {
    if (isNumber(dom)) when.push(`on the ${ordinal(Number(dom))} of the month`);
    else if (dom === 'L') when.push('on the last day of the month');
    else {
      const d = field(dom, 'day');
      if (!d) return `cron '${raw}'`;
      when.push(`on ${d} of the month`);
    }
  }
  if (month !== '*' && month !== '?') {
    const m = named(month, MONTH_NAMES, MONTHS, 1);
    if (!m) return `cron '${raw}'`;
    when.push(`in ${m}`);
  }
  if (dow !== '*' && dow !== '?') {
    // 7 is Sunday too
    const d = named(dow.replace(/\b7\b/g, '0'), DAY_NAMES, DAYS, 0);
    if (!d) return `cron '${raw}'`;
    when.push(dow === '1-5' ? 'on weekdays' : `on ${d}`);
  }
  return when.join(', ');
}
