import { svgEl } from './dom.js';

/** Rounds a maximum up to 1, 2 or 5 × 10^n so the scale label is a readable number. */
function niceMax(value) {
  if (value <= 1) return 1;
  const pow = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * pow).find((m) => m >= value);
}

/**
 * Stacked bars, one per bucket of /api/stats' throughput (oldest left):
 * succeeded at the bottom, failed tries on top. Drawn at the element's
 * pixel size so the labels are not stretched.
 */
export function drawThroughput(svg, throughput) {
  const width = Math.max(200, Math.round(svg.clientWidth || 420));
  const height = 110;
  const top = 12;
  const bottom = 14;
  const buckets = throughput.buckets;
  const max = niceMax(Math.max(0, ...buckets.map((b) => b.succeeded + b.failed)));
  const plot = height - top - bottom;
  const slot = width / buckets.length;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.replaceChildren();
  svg.append(svgEl('line', { x1: 0, x2: width, y1: top, y2: top, stroke: '#e3e6ec' }));
  svg.append(svgEl('line', { x1: 0, x2: width, y1: height - bottom, y2: height - bottom, stroke: '#c9ced8' }));
  let total = 0;
  buckets.forEach((b, i) => {
    total += b.succeeded + b.failed;
    const x = i * slot + 1;
    const w = Math.max(1, slot - 2);
    const hOk = (b.succeeded / max) * plot;
    const hBad = (b.failed / max) * plot;
    const title = `${new Date(b.start).toLocaleTimeString([], { hour12: false })}: ${b.succeeded} succeeded, ${b.failed} failed`;
    const ok = svgEl('rect', { x, width: w, y: height - bottom - hOk, height: hOk, fill: '#1f9d55' });
    const bad = svgEl('rect', { x, width: w, y: height - bottom - hOk - hBad, height: hBad, fill: '#d64545' });
    for (const rect of [ok, bad]) rect.append(Object.assign(svgEl('title'), { textContent: title }));
    svg.append(ok, bad);
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
