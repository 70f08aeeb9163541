import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');

interface Loaded {
  redisBackend: boolean;
  cronParser: boolean;
}

/** test/support/lazy-load-process.ts in a child process: Node's require cache is what shows what a process loaded. */
function runChild(): Promise<{ afterImport: Loaded; afterInterval: Loaded; afterCron: Loaded }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', join(__dirname, 'support', 'lazy-load-process.ts')], {
      cwd: ROOT,
      env: { ...process.env, SWC_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.trim().split('\n').at(-1);
      if (code !== 0 || !line) return reject(new Error(`child exited ${code}\n${stdout}\n${stderr}`));
      resolve(JSON.parse(line));
    });
  });
}

describe('what an app loads (memory footprint)', () => {
  it('an app on the embedded default loads neither the redis backend nor cron-parser until a cron expression needs it', async () => {
    const { afterImport, afterInterval, afterCron } = await runChild();
    expect(afterImport).toEqual({ redisBackend: false, cronParser: false });
    // an interval schedule's occurrence ran: the scheduler's whole path, still without either
    expect(afterInterval).toEqual({ redisBackend: false, cronParser: false });
    expect(afterCron).toEqual({ redisBackend: false, cronParser: true });
  }, 60_000);
});
