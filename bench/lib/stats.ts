/** Order statistics over raw samples; the benchmarks report medians and spreads, never means of noisy runs. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export function sortNumbers(values: readonly number[]): number[] {
  return Float64Array.from(values).sort() as unknown as number[];
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** (max - min) / median, as a share: how far repeats disagree. */
  spread: number;
  n: number;
}

export function summarize(values: readonly number[]): Summary {
  const s = Array.from(sortNumbers(values));
  const median = quantile(s, 0.5);
  return { median, min: s[0], max: s[s.length - 1], spread: median ? (s[s.length - 1] - s[0]) / median : 0, n: s.length };
}

export interface Latency {
  min: number;
  p50: number;
  p99: number;
  max: number;
  n: number;
}

export function latency(values: readonly number[]): Latency {
  const s = Array.from(sortNumbers(values));
  return { min: s[0], p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s[s.length - 1], n: s.length };
}

/** Runs `once` `repeats` times and summarises what it returns (e.g. tasks/s of one repeat). */
export async function repeat(repeats: number, once: (i: number) => Promise<number>): Promise<Summary & { samples: number[] }> {
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) samples.push(await once(i));
  return { ...summarize(samples), samples };
}

/** Busy-waits `ms` on the event loop: the stalls cron-precision injects. */
export function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

export const round = (x: number, digits = 3): number => (Number.isFinite(x) ? Number(x.toPrecision(digits)) : x);
