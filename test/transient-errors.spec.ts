import { DataSource, type DataSourceOptions } from 'typeorm';
import { dialectOfDataSource, isTransientDbError, Sql } from 'nestjs-queue-scheduler/database/sql';
import { DATABASES, useTestDatabase } from './support/databases';

jest.setTimeout(30_000);

// SQLite has one writer at a time and no row locks: it cannot deadlock this way
const SERVERS = DATABASES.filter((kind) => kind !== 'sqlite');

describe.each(SERVERS)('a real deadlock on %s', (kind) => {
  const db = useTestDatabase(kind);
  let ds: DataSource;
  let sql: Sql;
  db.beforeDrop(() => ds?.destroy());

  beforeAll(async () => {
    ds = await new DataSource(db.options as DataSourceOptions).initialize();
    sql = new Sql(ds, dialectOfDataSource(ds));
    await ds.query('CREATE TABLE pair (id INT PRIMARY KEY, v INT NOT NULL)');
  });
  beforeEach(() => ds.query('DELETE FROM pair').then(() => ds.query('INSERT INTO pair (id, v) VALUES (1, 0), (2, 0)')));

  /** Two transactions that lock the rows in opposite order: on their first try each waits for the other, so one must be the deadlock victim. */
  function crossed() {
    const tries = { a: 0, b: 0 };
    let locked = 0;
    const bothLocked = async () => {
      locked++;
      const until = Date.now() + 5000;
      while (locked < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    };
    const work = (name: 'a' | 'b', first: number, second: number) =>
      sql.transaction(async (runner) => {
        const firstTry = ++tries[name] === 1;
        await sql.affected('UPDATE pair SET v = v + 1 WHERE id = ?', [first], runner);
        if (firstTry) await bothLocked();
        await sql.affected('UPDATE pair SET v = v + 1 WHERE id = ?', [second], runner);
      });
    return { tries, run: () => Promise.all([work('a', 1, 2), work('b', 2, 1)]) };
  }

  it('the driver error is recognised as transient', async () => {
    const runner = ds.createQueryRunner();
    const other = ds.createQueryRunner();
    await runner.startTransaction();
    await other.startTransaction();
    try {
      await runner.query('UPDATE pair SET v = 1 WHERE id = 1');
      await other.query('UPDATE pair SET v = 1 WHERE id = 2');
      const results = await Promise.allSettled([runner.query('UPDATE pair SET v = 2 WHERE id = 2'), other.query('UPDATE pair SET v = 2 WHERE id = 1')]);
      const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
      expect(errors).toHaveLength(1);
      expect(isTransientDbError(errors[0])).toBe(true);
    } finally {
      for (const r of [runner, other]) {
        if (r.isTransactionActive) await r.rollbackTransaction().catch(() => undefined);
        await r.release();
      }
    }
  });

  it('transaction() runs the victim again, so both transactions commit', async () => {
    const { tries, run } = crossed();
    await run();
    expect(tries.a + tries.b).toBeGreaterThanOrEqual(3);
    const rows: Array<{ id: number; v: number | string }> = await ds.query('SELECT id, v FROM pair ORDER BY id');
    expect(rows.map((r) => Number(r.v))).toEqual([2, 2]);
  });
});

describe('isTransientDbError', () => {
  it('knows deadlocks and lock timeouts, not other failures', () => {
    expect(isTransientDbError({ code: 'ER_LOCK_DEADLOCK' })).toBe(true);
    expect(isTransientDbError({ driverError: { code: '40P01' } })).toBe(true);
    expect(isTransientDbError({ code: 'SQLITE_BUSY' })).toBe(true);
    expect(isTransientDbError({ code: 'ER_DUP_ENTRY' })).toBe(false);
    expect(isTransientDbError(new Error('boom'))).toBe(false);
    expect(isTransientDbError(null)).toBe(false);
  });
});
