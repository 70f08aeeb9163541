/**
 * Why this patches TypeORM: `task_event.id` must be a 64-bit autoincrement on
 * every database (a 32-bit one runs out within weeks at a thousand events a
 * second). TypeORM writes `@PrimaryGeneratedColumn({ type: 'bigint' })` as
 * `bigint PRIMARY KEY AUTOINCREMENT` on SQLite, which SQLite refuses (only
 * `INTEGER PRIMARY KEY` may autoincrement, and SQLite's INTEGER is 64-bit
 * anyway), so synchronize failed. Entities cannot name a type per driver, so
 * the one method that names a column's type on SQLite says `integer` for that
 * case, the only one in which the original could never work.
 */

const WRAPPED = Symbol.for('nestjs-queue-scheduler.sqlite-bigint-increment');

interface ColumnLike {
  type?: unknown;
  isGenerated?: boolean;
  generationStrategy?: string;
}

interface NormalizeTypeHost {
  normalizeType(column: ColumnLike): string;
}

export function installSqliteBigintIncrementFix(prototype: NormalizeTypeHost): void {
  const original = prototype.normalizeType as NormalizeTypeHost['normalizeType'] & { [WRAPPED]?: true };
  if (typeof original !== 'function' || original[WRAPPED]) return;
  const wrapped = function normalizeType(this: unknown, column: ColumnLike): string {
    if (column.type === 'bigint' && column.isGenerated === true && column.generationStrategy === 'increment') return 'integer';
    return original.call(this, column);
  };
  Object.defineProperty(wrapped, WRAPPED, { value: true });
  prototype.normalizeType = wrapped;
}

function sqliteDriverPrototype(): NormalizeTypeHost | undefined {
  try {
    // allowed by the package's exports map in typeorm 0.3 and 1.x, as mariadb-null-default's path
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const module = require('typeorm/driver/sqlite-abstract/AbstractSqliteDriver') as { AbstractSqliteDriver?: { prototype: NormalizeTypeHost } };
    return module.AbstractSqliteDriver?.prototype;
  } catch {
    return undefined;
  }
}

const prototype = sqliteDriverPrototype();
if (prototype) installSqliteBigintIncrementFix(prototype);
