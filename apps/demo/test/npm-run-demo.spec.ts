import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { acquireBuildLock } from '../../../test/support/build-lock';

// `npm run demo` compiles the library and the app with tsc before it starts; on a busy CI runner that takes a while.
jest.setTimeout(120_000);

const ROOT = resolve(__dirname, '..', '..', '..');

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
    server.on('error', fail);
  });
}

/** Resolves with the output once `predicate` holds for it; rejects if the process exits first. */
function waitForOutput(child: ChildProcess, output: () => string, predicate: (out: string) => boolean): Promise<string> {
  return new Promise((done, fail) => {
    const check = () => {
      if (predicate(output())) {
        cleanup();
        done(output());
      }
    };
    const exited = (code: number | null) => {
      cleanup();
      fail(new Error(`npm run demo exited (${code}) before it was ready:\n${output()}`));
    };
    const cleanup = () => {
      child.stdout!.off('data', check);
      child.off('exit', exited);
    };
    child.stdout!.on('data', check);
    child.on('exit', exited);
    check();
  });
}

describe('npm run demo (the README command)', () => {
  let child: ChildProcess | undefined;

  afterEach(() => {
    // whatever of the group still runs (a test that failed early); none left is ESRCH
    if (child?.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    child = undefined;
  });

  it('builds, serves the dashboard on PORT with a fresh SQLite file, prints what it set up, and stops on SIGTERM', async () => {
    const port = await freePort();
    const dbPath = join(mkdtempSync(join(tmpdir(), 'demo-run-')), 'sub', 'demo.sqlite');
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), DEMO_DB_PATH: dbPath, NO_COLOR: '1', FORCE_COLOR: '0' };
    delete env.DATABASE_URL;
    delete env.DEMO_QUEUE_BACKEND;
    // `npm run demo` rebuilds libs/queue-scheduler/dist; test/package.spec.ts builds and packs it too, maybe at the same time
    const releaseBuildLock = await acquireBuildLock();
    const startedAt = Date.now();
    let out = '';
    let log: string;
    try {
      // its own process group, so SIGTERM reaches node as well as npm
      child = spawn('npm', ['run', 'demo'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      log = await waitForOutput(child, () => out, (o) => o.includes(`Dashboard: http://localhost:${port}/`));
    } finally {
      // served means built and loaded: a rebuild of dist from now on cannot affect the running demo
      releaseBuildLock();
    }
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('nestjs-queue-scheduler');
    // loopback only by default: the machine's other addresses are refused
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (outside) await expect(fetch(`http://${outside.address}:${port}/`)).rejects.toThrow();
    // the time a newcomer waits; the issue asks for under 20 s on a developer machine, reported here, not asserted
    process.stdout.write(`npm run demo served the dashboard after ${Date.now() - startedAt} ms\n`);

    expect(log).toContain(`Database: sqlite ${dbPath}`);
    for (const name of ['download playlist every 15 s', 'convert new downloads (cron, every 30 s)', 'welcome download (once, 20 s after first start)']) {
      expect(log).toContain(`created schedule '${name}'`);
    }
    const schedules = (await (await fetch(`http://127.0.0.1:${port}/api/schedules`)).json()) as Array<{ name: string; enabled: boolean }>;
    expect(schedules.map((s) => s.name).sort()).toEqual(['convert new downloads (cron, every 30 s)', 'download playlist every 15 s', 'welcome download (once, 20 s after first start)']);

    // to npm alone, as `kill <pid>` of the command sends it: npm passes it to its child, which must be node itself (a
    // shell in between died of it and left node running, orphaned, on the port). 'close', not 'exit': node holds the
    // output pipes until it ends
    const closed = new Promise<void>((done) => child!.on('close', () => done()));
    process.kill(child.pid!, 'SIGTERM');
    await closed; // the shutdown hooks ran and every process of the group ended (else the test times out)
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it('stops at once, naming the port, when PORT is taken: nothing is set up or started', async () => {
    // dist/apps/demo is built by the test above (this file's tests run in order)
    const held = createServer();
    const port = await new Promise<number>((done) => held.listen(0, '127.0.0.1', () => done((held.address() as { port: number }).port)));
    try {
      const dbPath = join(mkdtempSync(join(tmpdir(), 'demo-taken-')), 'demo.sqlite');
      const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), DEMO_DB_PATH: dbPath, DEMO_QUEUE_BACKEND: 'database', NO_COLOR: '1' };
      delete env.DATABASE_URL;
      const run = spawn('node', ['dist/apps/demo/main.js'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      run.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      run.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const code = await new Promise<number | null>((done) => run.on('close', done));
      expect(code).toBe(1);
      expect(out).toContain(`port ${port} on 127.0.0.1 is in use`);
      // it stopped before TypeORM opened the database: no schedule seeded, no task started under a lease nobody renews
      expect(existsSync(dbPath)).toBe(false);
    } finally {
      held.close();
    }
  });
});
