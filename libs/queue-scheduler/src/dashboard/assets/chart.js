import { svgEl } from './dom.js';

/** Rounds a maximum up to 1, 2 or 5 × 10^n so the scale label is a readable number. */
function niceMax(value) {
  if (value <= 1) return 1;
  const pow = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * pow).find((m) => m >= value);
}

/**
 * One bar per bucket of the stats' throughput (oldest left), for `key`
 * ('succeeded' or 'failed'). Drawn at the element's pixel size so the labels
 * are not stretched. `data-total` holds the sum, for tests and curious eyes.
 */
export function drawBars(svg, throughput, key, color) {
  const width = Math.max(200, Math.round(svg.clientWidth || 420));
  const height = 80;
  const top = 12;
  const bottom = 14;
  const buckets = throughput.buckets;
  const max = niceMax(Math.max(0, ...buckets.map((b) => b[key])));
  const plot = height - top - bottom;
  const slot = width / buckets.length;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.replaceChildren();
  svg.append(svgEl('line', { x1: 0, x2: width, y1: top, y2: top, stroke: '#e3e6ec' }));
  svg.append(svgEl('line', { x1: 0, x2: width, y1: height - bottom, y2: height - bottom, stroke: '#c9ced8' }));
  let total = 0;
  buckets.forEach((b, i) => {
    total += b[key];
    const h = (b[key] / max) * plot;
    const rect = svgEl('rect', { x: i * slot + 1, width: Math.max(1, slot - 2), y: height - bottom - h, height: h, fill: color });
    const title = svgEl('title');
    title.textContent = `${new Date(b.start).toLocaleTimeString([], { hour12: false })}: ${b[key]} ${key}`;
    rect.append(title);
    svg.append(rect);
  });
  const label = (x, y, text, anchor = 'start') => {
    const t = svgEl('text', { x, y, 'font-size': 10, fill: '#6b7385', 'text-anchor': anchor });
    t.textContent = text;
    svg.append(t);
  };
  label(2, top - 2, `${max}`);
  label(2, height - 2, `-${Math.round((buckets.length * throughput.bucketSeconds) / 60)} min`);
  label(width - 2, height - 2, 'now', 'end');
  svg.dataset.total = String(total);
}
