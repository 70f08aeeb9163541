/**
 * `npm run bench` runs every benchmark, `npm run bench -- <name> …` some of
 * them; each in its own Node process. BENCH_CPU_PROF=1 also writes a
 * V8 CPU profile per benchmark to bench/results/<name>.cpuprofile.
 * Afterwards the tables and the plot of docs/benchmarks.md are regenerated
 * from every result file.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeReport } from './report';
import { RESULTS, ROOT } from './lib/result';

export const BENCHMARKS = ['inproc-drain', 'push-drain', 'enqueue-to-start', 'enqueue', 'durable-drain', 'contention', 'schedule-scale', 'cron-precision', 'memory', 'progress', 'rate-limit', 'flow'];

function main(): void {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = asked.filter((a) => !BENCHMARKS.includes(a));
  if (unknown.length) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHMARKS.join(', ')}\n`);
    process.exit(2);
  }
  const started = Date.now();
  const failed: string[] = [];
  for (const name of asked.length ? asked : BENCHMARKS) {
    process.stderr.write(`\n== ${name}\n`);
    const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', RESULTS, '--cpu-prof-name', `${name}.cpuprofile`] : [];
    const t0 = Date.now();
    const child = spawnSync(process.execPath, ['--expose-gc', ...prof, '-r', '@swc-node/register', join(__dirname, 'child.ts'), name], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, SWC_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
    });
    process.stderr.write(`== ${name}: ${child.status === 0 ? 'done' : `FAILED (${child.status ?? child.signal})`} in ${Math.round((Date.now() - t0) / 1000)} s\n`);
    if (child.status !== 0) failed.push(name);
  }
  process.stdout.write(writeReport());
  process.stderr.write(`\nall done in ${Math.round((Date.now() - started) / 1000)} s${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}\n`);
  process.exit(failed.length ? 1 : 0);
}

main();
