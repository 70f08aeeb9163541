import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/**
 * Runs a TypeScript script of test/support in a child process (through swc, as the suites' sources) and resolves with
 * the JSON of its last stdout line: what a process loaded shows in Node's require cache, which Jest's registry hides.
 * `hidden`: packages made unresolvable (test/support/hide-packages.js), as if not installed.
 */
export function runJsonChild<T>(script: string, hidden = ''): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', join(__dirname, 'hide-packages.js'), '-r', '@swc-node/register', join(__dirname, script)], {
      cwd: ROOT,
      env: { ...process.env, QS_HIDE_PACKAGES: hidden, SWC_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
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
      resolve(JSON.parse(line) as T);
    });
  });
}
