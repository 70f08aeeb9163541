/** A horizontal bar chart in plain SVG (no dependency), on a log scale so ratios of 100× stay readable. */
export interface Bar {
  label: string;
  value: number;
  /** ours or a peer/floor: ours is drawn in the accent colour */
  ours: boolean;
}

export interface Panel {
  title: string;
  unit: string;
  bars: Bar[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function barChart(panels: Panel[], title: string): string {
  const width = 860;
  const labelW = 330;
  const barH = 18;
  const gap = 6;
  let y = 40;
  const parts: string[] = [`<text x="10" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`];
  for (const panel of panels) {
    const bars = panel.bars.filter((b) => Number.isFinite(b.value) && b.value > 0);
    if (!bars.length) continue;
    const lo = Math.floor(Math.log10(Math.min(...bars.map((b) => b.value))));
    const hi = Math.ceil(Math.log10(Math.max(...bars.map((b) => b.value)))) + (bars.length ? 0 : 1);
    const span = Math.max(1, hi - lo);
    const x = (v: number): number => labelW + ((Math.log10(v) - lo) / span) * (width - labelW - 90);
    y += 18;
    parts.push(`<text x="10" y="${y}" font-size="13" font-weight="bold">${esc(panel.title)} (${esc(panel.unit)}, log scale)</text>`);
    y += 8;
    for (let d = lo; d <= hi; d++) {
      parts.push(`<line x1="${x(10 ** d)}" y1="${y}" x2="${x(10 ** d)}" y2="${y + bars.length * (barH + gap)}" stroke="#ddd"/>`);
      parts.push(`<text x="${x(10 ** d)}" y="${y + bars.length * (barH + gap) + 12}" font-size="10" text-anchor="middle" fill="#666">${(10 ** d).toLocaleString('en-US')}</text>`);
    }
    for (const b of bars) {
      const w = Math.max(2, x(b.value) - labelW);
      parts.push(`<text x="${labelW - 8}" y="${y + barH - 5}" font-size="11" text-anchor="end">${esc(b.label)}</text>`);
      parts.push(`<rect x="${labelW}" y="${y}" width="${w}" height="${barH}" fill="${b.ours ? '#e0234e' : '#8a8f98'}"/>`);
      parts.push(`<text x="${labelW + w + 4}" y="${y + barH - 5}" font-size="11">${esc(fmtShort(b.value))}</text>`);
      y += barH + gap;
    }
    y += 24;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`;
}

function fmtShort(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (v >= 100) return Math.round(v).toLocaleString('en-US');
  return v.toPrecision(3);
}
