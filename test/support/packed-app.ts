import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { withBuildLock } from './build-lock';

/**
 * The package as a user gets it, shared by the suites that install it:
 * built and packed like a release, installed from the tarball into a new
 * app whose other dependencies come from the registry at the versions the
 * repo's lock file resolved, compiled by that app's own tsc.
 */

export const ROOT = resolve(__dirname, '..', '..');
/** The install compiles better-sqlite3 from source when no prebuilt binary fits (about 2 min here). */
export const INSTALL_TIMEOUT_MS = 480_000;

/** npm sets npm_config_* for scripts (`npm test`); the app's own npm must not inherit the repo's prefix or settings. */
export const CLEAN_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && key !== 'INIT_CWD' && key !== 'NODE_ENV'),
);

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<Result> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd, env: { ...CLEAN_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

/** Fails with the command's whole output, which is what one needs to see when it fails. */
export async function succeed(command: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv, timeoutMs?: number): Promise<Result> {
  const result = await run(command, args, cwd, env, timeoutMs);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.code ?? result.signal}) in ${cwd}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

export async function ok(command: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv, timeoutMs?: number): Promise<string> {
  return (await succeed(command, args, cwd, env, timeoutMs)).stdout;
}

/** A binary of the app's own node_modules; `--no` refuses to fetch one, `--` keeps npx from reading the binary's flags. */
export function npx(args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<string> {
  return ok('npx', ['--no', '--', ...args], cwd, env);
}

/** The version the repo's lock file resolved, so the app is built from what the repo is tested with. */
export function locked(name: string): string {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (!version) throw new Error(`${name} is not in package-lock.json`);
  return version;
}

export const APP_TSCONFIG = {
  compilerOptions: {
    // what `nest new` generates today; nodenext also honours the package's `exports` map
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'ES2022',
    lib: ['ES2023'],
    types: ['node'],
    rootDir: 'src',
    outDir: 'dist',
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    isolatedModules: true,
    strict: true,
    // our .d.ts files are type-checked as every consumer with the default setting sees them
    skipLibCheck: false,
  },
  include: ['src'],
};

export interface Packed {
  tarball: string;
  /** Paths inside the package, sorted. */
  files: string[];
}

/** `npm run build:lib` and `npm pack` under the build lock (another suite's build starts with `rm -rf dist`). */
export async function packLibrary(packDir: string): Promise<Packed> {
  mkdirSync(packDir, { recursive: true });
  const pack = await withBuildLock(async () => {
    await ok('npm', ['run', 'build:lib'], ROOT);
    return JSON.parse(await ok('npm', ['pack', './libs/queue-scheduler', '--pack-destination', packDir, '--json'], ROOT)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  });
  return { tarball: join(packDir, pack[0].filename), files: pack[0].files.map((f) => f.path).sort() };
}

/**
 * Hands better-sqlite3's own installer (prebuild-install) the addon the repo's
 * `npm ci` compiled from the same version, as a local prebuild, so the app's
 * install skips a two-minute compile. Its JavaScript and sources still come
 * from the registry; package.spec.ts proves the from-source build with QS_TEST_SQLITE_FROM_SOURCE=1.
 * Without a matching build here (another version, a non-glibc system) it
 * returns no setting and the install compiles as a user's would.
 */
async function localSqlitePrebuild(dir: string): Promise<NodeJS.ProcessEnv> {
  const source = join(ROOT, 'node_modules', 'better-sqlite3');
  const version = locked('better-sqlite3');
  const binary = join(source, 'build', 'Release', 'better_sqlite3.node');
  const built = existsSync(binary) && (JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')) as { version: string }).version === version;
  const glibc = process.platform === 'linux' && !!(process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
  if (!built || !glibc) return {};
  mkdirSync(dir, { recursive: true });
  // the name prebuild-install looks for: {name}-v{version}-{runtime}-v{abi}-{platform}{libc}-{arch}.tar.gz
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await ok('tar', ['-czf', join(dir, name), '-C', source, 'build/Release/better_sqlite3.node'], ROOT);
  return { npm_config_better_sqlite3_local_prebuilds: dir };
}

/**
 * Writes the app's package.json and tsconfig, and its `src` files, then one
 * `npm install` of the tarball and `dependencies` (names; versions from the lock file).
 * `prebuilds`: a folder for the local better-sqlite3 prebuild (see localSqlitePrebuild); none: compiled from source.
 */
export async function installApp(app: string, tarball: string, dependencies: string[], sources: Record<string, string> = {}, prebuilds?: string): Promise<void> {
  mkdirSync(join(app, 'src'), { recursive: true });
  writeFileSync(
    join(app, 'package.json'),
    // the repo's own install-script policy: better-sqlite3 must build its native addon
    JSON.stringify({ name: 'consumer-app', version: '0.0.0', private: true, allowScripts: { 'better-sqlite3': true, 'msgpackr-extract': false } }, null, 2),
  );
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(APP_TSCONFIG, null, 2));
  for (const [path, text] of Object.entries(sources)) {
    mkdirSync(join(app, path, '..'), { recursive: true });
    writeFileSync(join(app, path), text);
  }
  const specs = dependencies.map((name) => `${name}@${locked(name)}`);
  const env = prebuilds && dependencies.includes('better-sqlite3') ? await localSqlitePrebuild(prebuilds) : {};
  await ok('npm', ['install', '--no-audit', '--no-fund', tarball, ...specs], app, env, INSTALL_TIMEOUT_MS);
}
