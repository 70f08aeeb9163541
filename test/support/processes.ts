import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TypeOrmModuleOptions } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import type { AppName } from './app-process';
import { waitFor } from './wait-for';

export interface Instance {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  stderr: string[];
  exited: Promise<number | null>;
}

const ROOT = join(__dirname, '..', '..');
const SCRIPT = join(__dirname, 'app-process.ts');
const BASELINE_SCRIPT = join(__dirname, 'baseline-process.ts');

export interface StartOptions {
  /** Which app of app-process.ts (QS_APP). @default 'workers' */
  app?: AppName;
  /** More of app-process.ts's environment (QS_RETRIES, QS_START_ON_STDIN, …). */
  env?: Record<string, string>;
  /**
   * Plain `node` on app-process.ts compiled once to JavaScript, against the
   * library's built dist (npm run build:lib), as an installed app runs: no
   * TypeScript compiler in the process (the benchmarks' CPU and RSS figures).
   * Otherwise the script and the library's sources run through swc.
   */
  compiled?: boolean;
  /**
   * baseline-process.ts instead: the same Nest + TypeORM app without the
   * library loaded at all (the benchmarks' baseline); `app` and the module
   * options do not apply.
   */
  baseline?: boolean;
}

const compiledScripts = new Map<string, string>();

/** A support script as CommonJS under .tmp/, where `nestjs-queue-scheduler` resolves to the package (its dist). */
function compile(script: string): string {
  const done = compiledScripts.get(script);
  if (done) return done;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only by the runs that ask for it
  const swc = require('@swc/core') as typeof import('@swc/core');
  const { code } = swc.transformFileSync(script, {
    swcrc: false,
    jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2022', keepClassNames: true },
    module: { type: 'commonjs' },
  });
  const dir = join(ROOT, '.tmp');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${basename(script, '.ts')}.${process.pid}.js`);
  writeFileSync(`${file}.part`, code);
  renameSync(`${file}.part`, file);
  process.once('exit', () => rmSync(file, { force: true }));
  compiledScripts.set(script, file);
  return file;
}

/**
 * Starts test/support/app-process.ts as an app instance in its own Node
 * process, on the database `db` (TypeORM options, `retryAttempts` and such
 * too) with the module `options`.
 */
export function startInstance(db: DataSourceOptions | TypeOrmModuleOptions, options: object = {}, { app = 'workers', env = {}, compiled = false, baseline = false }: StartOptions = {}): Instance {
  const script = baseline ? BASELINE_SCRIPT : SCRIPT;
  const args = compiled ? [compile(script)] : ['-r', '@swc-node/register', script];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, QS_APP: app, QS_DB: JSON.stringify(db), QS_OPTIONS: JSON.stringify(options), SWC_NODE_PROJECT: join(ROOT, 'tsconfig.json'), TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return instanceOf(child);
}

/** A started process read as an Instance: its stdout's JSON lines, the rest (and stderr) as text. */
export function instanceOf(child: ChildProcess): Instance {
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
