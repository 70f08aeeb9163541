/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time per function, the
 * top frames quoted in docs/benchmarks.md. `node -r @swc-node/register bench/lib/profile.ts <file>`.
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export function topFrames(file: string, limit = 15): Array<{ frame: string; selfPct: number }> {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[] };
  const total = prof.samples.length || 1;
  const self = new Map<string, number>();
  for (const n of prof.nodes) {
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url ? `${url.replace(/^.*\/(node_modules|libs|bench)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + (n.hitCount ?? 0));
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([frame, hits]) => ({ frame, selfPct: Math.round((hits / total) * 1000) / 10 }));
}

if (require.main === module) {
  for (const { frame, selfPct } of topFrames(process.argv[2], Number(process.argv[3] ?? 20))) process.stdout.write(`${selfPct.toFixed(1).padStart(5)}%  ${frame}\n`);
}
