import { QUEUE_SCHEDULER_ENTITIES, QUEUE_SCHEDULER_MIGRATIONS, SchedulerTask } from 'nestjs-queue-scheduler';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { DATABASES, type TestDatabase, useTestDatabase } from './support/databases';
import { type Instance, startInstance, stopAll, waitReady } from './support/processes';
import { waitFor } from './support/wait-for';

jest.setTimeout(120_000);

const SERVERS = DATABASES.filter((k) => k !== 'sqlite');
const INSTANCES = 3;
/** What support/app-process.ts (app scheduled) declares in variant 1, in key order. */
const BULK_KEYS = Array.from({ length: 20 }, (_, i) => `bulk-${String(i).padStart(2, '0')}`);
const KEYS = [...BULK_KEYS, 'report-a', 'report-b', 'sweep'];

/** Starts the instances and, once every one has loaded its code, lets them all boot at the same moment. */
async function bootTogether(db: TestDatabase, variant: '1' | '2'): Promise<Instance[]> {
  const instances = Array.from({ length: INSTANCES }, () => startInstance(db.options, {}, { app: 'scheduled', env: { QS_BOOT_ON_SIGUSR2: '1', QS_VARIANT: variant } }));
  await waitFor(() => {
    const dead = instances.find((i) => i.child.exitCode !== null);
    if (dead) throw new Error(`instance exited early: ${dead.stderr.join('\n')}`);
    return instances.every((i) => i.lines.some((l) => l.event === 'loaded'));
  }, 'instances loaded', 60_000);
  for (const i of instances) i.child.kill('SIGUSR2');
  await waitReady(instances, 30_000);
  return instances;
}

/** The library's log messages about declared schedules, from every instance. */
const messages = (instances: Instance[]): string[] => instances.flatMap((i) => i.lines.filter((l) => l.event === 'log').map((l) => String(l.message)));

describe.each(SERVERS)(`${INSTANCES} app instances booting together with the same @Scheduled declarations on %s`, (kind) => {
  const db = useTestDatabase(kind);
  let ds: DataSource;
  let instances: Instance[] = [];
  const rows = () => ds.getRepository(SchedulerTask).find({ order: { scheduleKey: 'ASC' } });

  db.beforeDrop(() => ds.destroy());

  beforeAll(async () => {
    ds = await new DataSource({ ...db.options, entities: QUEUE_SCHEDULER_ENTITIES, migrations: QUEUE_SCHEDULER_MIGRATIONS } as DataSourceOptions).initialize();
    await ds.runMigrations();
  });

  afterEach(async () => {
    await stopAll(instances, 'SIGKILL');
  });

  it('leave one row per key, each added by exactly one instance; a changed set is applied exactly once', async () => {
    instances = await bootTogether(db, '1');
    const first = await rows();
    expect(first.map((r) => r.scheduleKey)).toEqual(KEYS);
    expect(first.every((r) => r.version === 0 && r.enabled)).toBe(true);
    const added = messages(instances).filter((m) => / added from @Scheduled/.test(m));
    expect(added.map((m) => m.split("'")[1]).sort()).toEqual(KEYS);
    await stopAll(instances);
    for (const i of instances) expect(i.stderr).toEqual([]);

    // variant 2: report-a's cron and sweep's params changed, report-b removed
    instances = await bootTogether(db, '2');
    const second = await rows();
    expect(second.map((r) => r.taskId)).toEqual(first.map((r) => r.taskId));
    expect(second.map((r) => [r.scheduleKey, r.version, r.enabled])).toEqual([
      ...BULK_KEYS.map((k) => [k, 0, true]),
      ['report-a', 1, true],
      ['report-b', 1, false],
      ['sweep', 1, true],
    ]);
    const byKey = new Map(second.map((r) => [r.scheduleKey, r]));
    expect(byKey.get('report-a')!.cronExpression).toBe('0 3 * * *');
    expect(byKey.get('sweep')!.params).toEqual({ dir: '/tmp/b' });
    const written = messages(instances).filter((m) => / updated from | disabled: /.test(m));
    expect(written.map((m) => m.split("'")[1]).sort()).toEqual(['report-a', 'report-b', 'sweep']);
    await stopAll(instances);
    for (const i of instances) expect(i.stderr).toEqual([]);
  });
});
