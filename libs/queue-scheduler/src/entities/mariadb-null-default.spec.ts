import { Table, TableColumn } from 'typeorm';
import { installMariaDbNullDefaultFix } from './mariadb-null-default';

/** A stand-in for MysqlQueryRunner: loadTables returns what MariaDB's information_schema gives under type 'mysql'. */
function fakeRunnerClass() {
  class Runner {
    readonly queries: string[] = [];
    constructor(
      readonly driver: { options: { type: string } },
      private readonly version: string,
    ) {}

    async query(sql: string): Promise<Array<Record<string, unknown>>> {
      this.queries.push(sql);
      return [{ version: this.version }];
    }

    async loadTables(): Promise<Table[]> {
      const column = (name: string, isNullable: boolean, value: string | undefined) => new TableColumn({ name, type: 'varchar', isNullable, default: value });
      return [
        new Table({
          name: 't',
          columns: [
            column('no_default', true, "'NULL'"),
            column('not_null', false, "'NULL'"),
            column('string_null', true, "''NULL''"),
            column('other', true, "'x'"),
          ],
        }),
      ];
    }
  }
  return Runner;
}

async function defaults(runner: { loadTables(): Promise<Table[]> }): Promise<Record<string, unknown>> {
  const [table] = await runner.loadTables();
  return Object.fromEntries(table.columns.map((c) => [c.name, c.default]));
}

const AS_READ = { no_default: "'NULL'", not_null: "'NULL'", string_null: "''NULL''", other: "'x'" };

describe('the MariaDB NULL-default fix of MysqlQueryRunner.loadTables', () => {
  it("reads a nullable column's 'NULL' as no default under type 'mysql' on MariaDB, and nothing else", async () => {
    const Runner = fakeRunnerClass();
    installMariaDbNullDefaultFix(Runner.prototype);
    expect(await defaults(new Runner({ options: { type: 'mysql' } }, '10.11.9-MariaDB'))).toEqual({ ...AS_READ, no_default: undefined });
  });

  it('leaves the reading alone on a MySQL server and under type mariadb (which asks no server)', async () => {
    const Runner = fakeRunnerClass();
    installMariaDbNullDefaultFix(Runner.prototype);
    expect(await defaults(new Runner({ options: { type: 'mysql' } }, '8.0.36'))).toEqual(AS_READ);
    const mariadb = new Runner({ options: { type: 'mariadb' } }, '10.11.9-MariaDB');
    expect(await defaults(mariadb)).toEqual(AS_READ);
    expect(mariadb.queries).toEqual([]);
  });

  it('asks the server once per driver, and wraps once however often it is installed', async () => {
    const Runner = fakeRunnerClass();
    installMariaDbNullDefaultFix(Runner.prototype);
    const wrapped = Runner.prototype.loadTables;
    installMariaDbNullDefaultFix(Runner.prototype);
    expect(Runner.prototype.loadTables).toBe(wrapped);
    const driver = { options: { type: 'mysql' } };
    const first = new Runner(driver, '10.11.9-MariaDB');
    const second = new Runner(driver, '10.11.9-MariaDB');
    await defaults(first);
    await defaults(first);
    await defaults(second);
    expect([...first.queries, ...second.queries]).toEqual(['SELECT VERSION() AS version']);
  });

  it("is installed on TypeORM's MysqlQueryRunner when the entities load", async () => {
    await import('./index');
    const { MysqlQueryRunner } = await import('typeorm/driver/mysql/MysqlQueryRunner');
    const loadTables = (MysqlQueryRunner.prototype as unknown as Record<string, unknown>).loadTables as Record<symbol, unknown>;
    expect(loadTables[Symbol.for('nestjs-queue-scheduler.mariadb-null-default')]).toBe(true);
  });
});
