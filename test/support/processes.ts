import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { DataSourceOptions } from 'typeorm';
import { waitFor } from './wait-for';

export interface Instance {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  stderr: string[];
  exited: Promise<number | null>;
}

const ROOT = join(__dirname, '..', '..');

/** Starts `script` (a TypeScript file under test/support) as an app instance in its own Node process. */
export function startInstance(script: string, db: DataSourceOptions, options: object = {}, env: Record<string, string> = {}): Instance {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', join(__dirname, script)], {
    cwd: ROOT,
    env: { ...process.env, ...env, QS_DB: JSON.stringify(db), QS_OPTIONS: JSON.stringify(options), SWC_NODE_PROJECT: join(ROOT, 'tsconfig.json'), TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      stderr.push(line);
    }
  });
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, stderr, exited };
}

export async function waitReady(instances: Instance[], timeoutMs = 30_000): Promise<void> {
  await waitFor(() => {
    const dead = instances.find((i) => i.child.exitCode !== null);
    if (dead) throw new Error(`instance exited early: ${dead.stderr.join('\n')}`);
    return instances.every((i) => i.lines.some((l) => l.event === 'ready'));
  }, 'instances ready', timeoutMs);
}

export async function stopAll(instances: Instance[], signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  for (const i of instances) if (i.child.exitCode === null) i.child.kill(signal);
  await Promise.all(instances.map((i) => i.exited));
}
