import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { waitFor } from '../../support/wait-for';

const PG_BIN = '/usr/lib/postgresql/15/bin';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A database server of the test's own, in a temporary directory on a free
 * port, so the outage scenario can really stop and start it: the shared
 * servers on 3306/5432 serve the other suites running in parallel and are
 * never touched.
 */
export class PrivateServer {
  private mariadb?: ChildProcess;
  private constructor(
    readonly kind: 'mariadb' | 'postgres',
    private readonly dir: string,
    readonly port: number,
  ) {}

  static async create(kind: 'mariadb' | 'postgres'): Promise<PrivateServer> {
    const dir = mkdtempSync(join(tmpdir(), `qs-${kind}-`));
    const server = new PrivateServer(kind, dir, await freePort());
    if (kind === 'mariadb') {
      execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${dir}/data`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'ignore' });
    } else {
      // PostgreSQL refuses to run as root: its files and process belong to the postgres OS user
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
      chownSync(dir, uid, uid);
      execFileSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/initdb`, '-D', `${dir}/data`, '-A', 'trust', '-U', 'postgres', '--no-sync'], { stdio: 'ignore' });
    }
    await server.start();
    return server;
  }

  /** TypeORM options for `database` on this server. */
  options(database: string): DataSourceOptions {
    return this.kind === 'mariadb'
      ? { type: 'mariadb', host: '127.0.0.1', port: this.port, username: 'root', password: '', database }
      : { type: 'postgres', host: '127.0.0.1', port: this.port, username: 'postgres', database };
  }

  async createDatabase(name: string): Promise<void> {
    if (this.kind === 'mariadb') {
      const mysql = await import('mysql2/promise');
      const c = await mysql.createConnection({ host: '127.0.0.1', port: this.port, user: 'root', password: '' });
      await c.query(`CREATE DATABASE \`${name}\``);
      await c.end();
    } else {
      const { Client } = await import('pg');
      const c = new Client({ host: '127.0.0.1', port: this.port, user: 'postgres', database: 'postgres' });
      await c.connect();
      await c.query(`CREATE DATABASE "${name}"`);
      await c.end();
    }
  }

  async start(): Promise<void> {
    if (this.kind === 'mariadb') {
      this.mariadb = spawn('/usr/sbin/mariadbd', [
        '--no-defaults', `--datadir=${this.dir}/data`, `--port=${this.port}`, `--socket=${this.dir}/sock`, '--bind-address=127.0.0.1',
        '--user=root', '--skip-grant-tables', `--pid-file=${this.dir}/pid`, `--log-error=${this.dir}/err.log`, '--innodb-flush-log-at-trx-commit=2',
      ], { stdio: 'ignore' });
    } else {
      execFileSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', `${this.dir}/data`, '-l', `${this.dir}/log`, '-w',
        '-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'], { stdio: 'ignore' });
    }
    await waitFor(() => this.answers(), `the private ${this.kind} server on ${this.port}`, 30_000, 100);
  }

  /** Stops the server the way an operator or a crash would: every connection goes, new ones are refused. */
  async stop(): Promise<void> {
    if (this.kind === 'mariadb') {
      const child = this.mariadb;
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    } else {
      execFileSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', `${this.dir}/data`, '-m', 'fast', '-w', 'stop'], { stdio: 'ignore' });
    }
  }

  async destroy(): Promise<void> {
    await this.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async answers(): Promise<boolean> {
    try {
      if (this.kind === 'mariadb') {
        const mysql = await import('mysql2/promise');
        const c = await mysql.createConnection({ host: '127.0.0.1', port: this.port, user: 'root', password: '' });
        await c.end();
      } else {
        const { Client } = await import('pg');
        const c = new Client({ host: '127.0.0.1', port: this.port, user: 'postgres', database: 'postgres' });
        await c.connect();
        await c.end();
      }
      return true;
    } catch {
      return false;
    }
  }
}
